"""The batch ingest's one statement (`BATCH_SQL`): a run of new events inserted, placed on
their timelines, announced and audited in one round trip, the side effects compiled from the
same builders the workflow runs (gridmap.events.steps, notify, access.audit). Built once, at
import; `gridmap.events.ingest.take_in_batch` executes it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Float,
    Select,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    union_all,
)
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg as psycopg_dialect

from gridmap import notify
from gridmap.access import audit
from gridmap.events import record, steps
from gridmap.events import workflow as wf
from gridmap.models import Event

# The batch's rows travel as one JSON array (`ingest._batch_params`), typed here by the event
# table's columns (base types: a VARCHAR(n) here would truncate silently, where the
# INSERT's own assignment refuses a value too long) and by the statement's own inputs.
_BASE_TYPES = {str: "text", int: "int8", float: "float8", bool: "bool", dt.datetime: "timestamptz"}
_ROW_TYPES = {
    "ord": "int4",
    **{c: _BASE_TYPES[Event.__table__.c[c].type.python_type] for c in record.INSERTED_COLUMNS},
    "routing": "jsonb",
    "plon": "float8",
    "plat": "float8",
    "now": "timestamptz",
    "response_s": "float8",
    "dept_county": "text",
    "dept_code": "text",
    "unplaced": "bool",
    "actor": "text",
    "metres": "float8",
    "window_s": "float8",
    "audit_actor": "text",
    "audit_addr": "text",
    "audit_details": "jsonb",
    "announcement": "jsonb",
}

# Taking a batch of new events in, as one statement (one round trip, one plan, one parse
# in the driver's cache), for events that cannot see each other (`independent_runs`):
#   r          the rows, each with its WGS84 point;
#   l          each row with its department's duty team (`ho`), when the county took the
#              category back, and its original (`orig`): the nearest open event of the same
#              category within the distance and time window. Only originals are candidates
#              (not events already linked as duplicates), so a burst of reports of one
#              pothole all link to the first. The bounding-box test (`&&`, in degrees,
#              widened for the latitude) lets the GiST index on event.point pick the few
#              nearby events before the exact distance on the spheroid. The batch's own rows
#              are not in this statement's snapshot, so none finds itself or a neighbour;
#   n          the rows inserted, in input order (ids follow it); ON CONFLICT DO NOTHING
#              makes a known (source, external_id) insert nothing (and so log, announce and
#              audit nothing): the caller then reads that one;
#   j          each new row beside its input;
# and their side effects, built over `j` by the definitions a workflow step uses
# (`gridmap.events.steps`; `side_effects`), compiled once into this text:
#   steps      the timeline: `report`, and `possible_duplicate` when an original was found;
#   held, msg  the `event.created` announcements, taking gridmap.notify's shared advisory
#              lock before the first message takes its id (see notify's docstring);
#   audit      the API's audit entry (gridmap.access.audit's table), for rows that carry one.
_VALUE_SQL = {
    "team_id": "coalesce(ho, team_id)",
    "escalation_level": "CASE WHEN ho IS NOT NULL THEN 'county' ELSE escalation_level END",
}

# The batch's new rows beside their input (`j` below): the row source of their side effects.
_J = table(
    "j",
    *(column(name) for name in ("id", "county_code", "township_code", "status", "actor")),
    *(column(name) for name in ("team_id", "duplicate_of", "received_at", "unplaced", "ord")),
    column("metres", Float),
    column("window_s", Float),
    *(column(name) for name in ("announcement", "audit_actor", "audit_addr", "audit_details")),
)


def _timeline(k: int, where: ColumnElement[bool] | None = None, **step: Any) -> Select[Any]:
    """One kind of step for every new row (`k` orders them within an event)."""
    row = select(
        *steps.timeline_row(_J.c, at=_J.c.received_at, **step),
        _J.c.ord,
        literal_column(str(k)).label("k"),
    )
    return row if where is None else row.where(where)


def side_effects() -> dict[str, ClauseElement]:
    """The steps, announcements and audit entries of a batch's new rows, built by the
    same definitions as a workflow step's (`gridmap.events.steps`)."""
    timeline = union_all(
        # The report: who sent it, and whether it landed on the map.
        _timeline(
            0,
            actor=_J.c.actor,
            action="report",
            from_status=None,
            data=func.jsonb_build_object("unplaced", _J.c.unplaced, "team_id", _J.c.team_id),
        ),
        # The possible duplicate: the original found near in place and time.
        _timeline(
            1,
            _J.c.duplicate_of.is_not(None),
            actor=wf.SYSTEM_ACTOR,
            action="possible_duplicate",
            from_status=_J.c.status,
            data=func.jsonb_build_object(
                "duplicate_of",
                _J.c.duplicate_of,
                "note_code",
                "possible_duplicate",
                "note_params",
                func.jsonb_build_object(
                    "event_id",
                    _J.c.duplicate_of,
                    "metres",
                    _J.c.metres,
                    "minutes",
                    func.round(_J.c.window_s / literal_column("60")),
                ),
            ),
        ),
    ).subquery("s")
    pairs: list[ColumnElement[Any]] = []
    for key, sql in record.DECIDED_BY_INGEST.items():
        pairs += [literal(key), literal_column(sql)]
    decided = func.jsonb_build_object(*pairs)
    return {
        "_STEPS": steps.timeline_insert(
            select(*(timeline.c[name] for name in steps.STEP_COLUMNS)).order_by(
                timeline.c.ord, timeline.c.k
            )
        ),
        "_HELD": notify.announce_lock(after=table("n")),
        "_MSG": notify.message_insert(
            table("held"),
            **steps.event_message(
                _J.c,
                kind="event.created",
                payload=_J.c.announcement.op("||")(decided),
            ),
            source=_J,
            order_by=[_J.c.ord],
        ),
        "_AUDIT": audit.entry_insert(
            actor=_J.c.audit_actor,
            action="event.ingest",
            target_type="event",
            target_id=_J.c.id,
            details=_J.c.audit_details,
            source_addr=_J.c.audit_addr,
            source=_J,
            where=_J.c.audit_actor.is_not(None),
            order_by=[_J.c.ord],
        ),
    }


def compiled(statement: ClauseElement) -> str:
    """A statement as the batch's SQL text: constants inline, for psycopg's parameters."""
    return str(statement.compile(dialect=psycopg_dialect(), compile_kwargs={"literal_binds": True}))


SIDE_EFFECTS = {name: compiled(stmt) for name, stmt in side_effects().items()}
_STEPS, _HELD, _MSG, _AUDIT = (SIDE_EFFECTS[n] for n in ("_STEPS", "_HELD", "_MSG", "_AUDIT"))
BATCH_SQL = " ".join(
    f"""
    WITH r AS (SELECT x.*, ST_SetSRID(ST_MakePoint(x.plon, x.plat), 4326) AS pt
               FROM jsonb_to_recordset(%(rows)s::jsonb)
               AS x({", ".join(f"{c} {t}" for c, t in _ROW_TYPES.items())})),
    l AS (SELECT r.*,
        (SELECT t.id FROM team t JOIN department d ON d.id = t.department_id
         WHERE d.county_code = r.dept_county AND d.code = r.dept_code
           AND t.county_code = r.dept_county AND t.active ORDER BY t.id LIMIT 1) AS ho,
        (SELECT e.id FROM event e
         WHERE r.pt IS NOT NULL AND e.category_code = r.category_code
           AND e.status = ANY(%(open)s) AND e.duplicate_of IS NULL
           AND e.reported_at BETWEEN r.reported_at - make_interval(secs => r.window_s)
                                 AND r.reported_at + make_interval(secs => r.window_s)
           AND e.point && ST_Expand(r.pt,
                 r.metres / 110000.0 / greatest(cos(radians(r.plat)), 0.01))
           AND ST_DWithin(e.point::geography, r.pt::geography, r.metres)
         ORDER BY ST_Distance(e.point::geography, r.pt::geography), e.id LIMIT 1) AS orig
        FROM r),
    n AS (
        INSERT INTO event ({", ".join(record.INSERTED_COLUMNS)},
                           point, routing, received_at, updated_at, duplicate_of,
                           response_due_at)
        SELECT {", ".join(_VALUE_SQL.get(c, c) for c in record.INSERTED_COLUMNS)},
               pt, routing, coalesce(now, now()), coalesce(now, now()), orig,
               coalesce(now, now()) + make_interval(secs => response_s)
        FROM l ORDER BY ord
        ON CONFLICT ON CONSTRAINT uq_event_source_external_id DO NOTHING
        RETURNING id, source, external_id, reported_at, received_at, team_id,
                  escalation_level, duplicate_of, response_due_at, assess_flags,
                  response_seconds, handling_seconds
    ),
    j AS (SELECT n.*, l.ord, l.county_code, l.township_code, l.status, l.actor, l.unplaced,
                 l.metres, l.window_s, l.announcement, l.audit_actor, l.audit_addr,
                 l.audit_details
          FROM n JOIN l ON l.source = n.source AND l.external_id = n.external_id),
    steps AS ({_STEPS}),
    held AS ({_HELD}),
    msg AS ({_MSG}),
    audit AS ({_AUDIT})
    SELECT j.ord, j.id, j.reported_at, j.received_at, j.team_id, j.escalation_level,
           j.duplicate_of, j.response_due_at, j.assess_flags, j.response_seconds,
           j.handling_seconds,
           t.code AS team_code, t.name AS team_name, t.level AS team_level
    FROM j LEFT JOIN team t ON t.id = j.team_id
    """.split()
)
