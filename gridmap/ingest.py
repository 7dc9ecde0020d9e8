"""Taking events in exactly once: the one ingest statement, alone or many to a transaction.

A new event costs one statement (`_INGEST_SQL`): the duplicate search, the department
hand-over, the event row, its timeline, its announcement and its audit entry together.
Several events go to one transaction as pipelined statements (`take_in_batch`): one round
trip and one commit for all of them, each statement seeing the rows the earlier ones wrote,
so duplicates link and repeats are known exactly as if they had come one by one.

Functions take a Session, flush and never commit: the caller commits, and only then
answers the sender.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Engine, select, text
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.orm import Session, make_transient_to_detached

from gridmap import notify
from gridmap import workflow as wf
from gridmap.categories import category_exists
from gridmap.errors import Conflict, UnknownCategory
from gridmap.event_input import EventInput, EventPolicy, check_event_input
from gridmap.event_routing import route_columns
from gridmap.models import Event
from gridmap.routing_types import Router, TeamRef


@dataclass(frozen=True, slots=True)
class Ingested:
    """What taking one event in gave: the known event, or the new one's columns and team."""

    created: bool
    # The event already known under (source, external_id), when `created` is False.
    existing: Event | None = None
    # A new event's columns as stored (every column of `event`), its WGS84 point and its
    # team: enough to answer the sender without building an ORM object (`as_event` does).
    columns: dict[str, Any] = field(default_factory=dict)
    lonlat: tuple[float, float] | None = None
    team: TeamRef | None = None


@dataclass(frozen=True, slots=True)
class IngestAudit:
    """The audit entry (gridmap.audit) of an ingest through the API: who, from where, what."""

    actor: str
    source_addr: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One checked and routed event, ready for the ingest statement (`prepare_event`)."""

    source: str
    external_id: str
    # The columns it will be stored with, less what the statement decides.
    values: dict[str, Any]
    lonlat: tuple[float, float] | None
    params: dict[str, Any]


def by_external_id(session: Session, *, source: str, external_id: str) -> Event | None:
    return session.scalars(
        select(Event)
        .where(Event.source == source, Event.external_id == external_id)
        .execution_options(populate_existing=True)
    ).one_or_none()


# Category codes known to exist, per database (engine). The responsibility list upserts
# categories and nothing deletes them, so a code once seen stays valid; an unseen code is
# asked of the database (a category added since is found), so the cache is never wrong.
_known_categories: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()


def category_seen(engine: Engine, code: str) -> bool:
    """True when `code` is known to exist without asking the database (False: ask it)."""
    return code in _known_categories.get(engine, ())


def _category_known(session: Session, code: str) -> bool:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    known = _known_categories.setdefault(engine, set())
    if code in known:
        return True
    if category_exists(session, code=code):
        known.add(code)
        return True
    return False


def ingest_event(
    session: Session,
    *,
    router: Router | None,
    payload: EventInput,
    actor: str,
    policy: EventPolicy | None = None,
    now: dt.datetime | None = None,
) -> tuple[Event, bool]:
    """Take one event in exactly once: (the event, True) when new, (it, False) when known.

    Idempotent under concurrency: the unique (source, external_id) with ON CONFLICT DO
    NOTHING lets exactly one of two simultaneous senders insert; the other waits for it
    to commit and then reads the same row. `now` (default: the database's clock) is when
    it was received; the demo's history passes a past time.
    """
    taken = take_in_event(
        session, router=router, payload=payload, actor=actor, policy=policy, now=now
    )
    if taken.existing is not None:
        return taken.existing, False
    return as_event(session, taken.columns), True


def as_event(session: Session, columns: dict[str, Any]) -> Event:
    """The new event as a persistent ORM object, as if just loaded, without reading it back."""
    event = Event(**columns)
    make_transient_to_detached(event)  # every column is set, so nothing is left to load
    session.add(event)
    return event


def take_in_event(
    session: Session,
    *,
    router: Router | None,
    payload: EventInput,
    actor: str,
    policy: EventPolicy | None = None,
    now: dt.datetime | None = None,
    audit: IngestAudit | None = None,
) -> Ingested:
    """`ingest_event` for a caller that answers from the columns (the HTTP route): a new
    event comes back as its stored columns and team, with no ORM object built. `audit`
    is the `event.ingest` audit entry, written with a new event (as `gridmap.audit.record`
    would, in the same statement). A known (source, external_id) is read once.
    """
    policy = policy or EventPolicy()
    payload = check_event_input(payload, policy=policy)
    if not _category_known(session, payload.category):
        # A resend of a ticket taken in earlier is answered with it, whatever it says now.
        existing = by_external_id(session, source=payload.source, external_id=payload.external_id)
        if existing is not None:
            return Ingested(False, existing)
        raise UnknownCategory(
            f"category: {payload.category!r} is not in the responsibility list "
            "(GET /api/categories lists them)",
            details={"field": "category", "value": payload.category},
        )
    new = prepare_event(
        router=router, payload=payload, actor=actor, policy=policy, now=now, audit=audit
    )
    return take_in_batch(session, [new])[0]


def prepare_event(
    *,
    router: Router | None,
    payload: EventInput,
    actor: str,
    policy: EventPolicy,
    now: dt.datetime | None = None,
    audit: IngestAudit | None = None,
) -> NewEvent:
    """Route a checked `payload` (`check_event_input`) and fill the statement's parameters.

    No database: the category must already be known to exist (`category_seen`).
    """
    columns, lonlat = route_columns(
        router, lon=payload.lon, lat=payload.lat, crs=payload.crs, category=payload.category
    )
    decided_priority = (columns.get("routing") or {}).get("decision") or {}
    values: dict[str, Any] = {
        "county_code": None,
        "version_id": None,
        "grid_area_id": None,
        "grid_code": None,
        "community_code": None,
        "township_code": None,
        "zone_code": None,
        "dedicated_code": None,
        "on_boundary": False,
        "handling_mode": None,
        "department_code": None,
        "team_id": None,
        **columns,
        "source": payload.source,
        "external_id": payload.external_id,
        "category_code": payload.category,
        "priority": payload.priority or decided_priority.get("priority") or "routine",
        "status": wf.REPORTED,
        "description": payload.description,
        "address": payload.address,
        "reporter_name": payload.reporter_name,
        "reporter_phone": payload.reporter_phone,
        "reported_at": payload.reported_at,
        "input_lon": payload.lon,
        "input_lat": payload.lat,
        "input_crs": payload.crs if payload.lon is not None else None,
        "overdue": False,
        "row_version": 1,
    }
    # A category the county took back (上级收回) goes to that department's duty team.
    hand_over = values["handling_mode"] == "department"
    params = {
        **{name: values[name] for name in _INSERTED_COLUMNS},
        "routing": _json(values["routing"]),
        "plon": lonlat[0] if lonlat else None,
        "plat": lonlat[1] if lonlat else None,
        "now": now,
        "dept_county": values["county_code"] if hand_over else None,
        "dept_code": values["department_code"] if hand_over else None,
        "unplaced": bool(values["routing"].get("unplaced")),
        "actor": actor,
        "duplicate_note": f"same category within {policy.duplicate_distance_m:g} m and "
        f"{policy.duplicate_window_minutes} min of event ",
        "metres": policy.duplicate_distance_m,
        "window": dt.timedelta(minutes=policy.duplicate_window_minutes),
        "open": list(wf.OPEN_STATES),
        "audit_actor": audit.actor if audit else None,
        "audit_addr": audit.source_addr if audit else None,
        "audit_details": _json(audit.details if audit else {}),
        "announcement": _json(_created_announcement(values, lonlat)),
    }
    return NewEvent(payload.source, payload.external_id, values, lonlat, params)


def take_in_batch(session: Session, events: Sequence[NewEvent]) -> list[Ingested]:
    """Take prepared events in, in order, in the session's transaction: one round trip.

    The statements are pipelined (psycopg's executemany), each seeing what the earlier
    ones wrote: a repeat of a (source, external_id) earlier in the same batch is known, a
    report near an earlier one of the batch links to it as its possible duplicate. Any
    statement failing fails the whole transaction (the caller rolls back).
    """
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # the psycopg dialect (gridmap.db)
    rows: list[Any] = []
    with driver.cursor(row_factory=namedtuple_row) as cursor:
        cursor.executemany(_INGEST_DRIVER_SQL, [e.params for e in events], returning=True)
        while True:
            rows.append(cursor.fetchone())
            if not cursor.nextset():
                break
    taken = []
    for new, row in zip(events, rows, strict=True):
        if row is not None:
            taken.append(taken_from_row(new, row))
            continue
        # Known already, or a concurrent sender won the race (committed by now).
        existing = by_external_id(session, source=new.source, external_id=new.external_id)
        if existing is None:
            raise Conflict("the event was taken in concurrently and then rolled back; retry")
        taken.append(Ingested(False, existing))
    return taken


async def take_in_rows(
    connection: psycopg.AsyncConnection[Any], events: Sequence[NewEvent]
) -> list[Ingested | None]:
    """`take_in_batch` on an asyncio connection, in the transaction the caller holds: a
    new event's Ingested, or None for a (source, external_id) known already (the caller
    reads that one once its transaction is over)."""
    rows: list[Any] = []
    async with connection.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.executemany(_INGEST_DRIVER_SQL, [e.params for e in events], returning=True)
        while True:
            rows.append(await cursor.fetchone())
            if not cursor.nextset():
                break
    return [
        None if row is None else taken_from_row(new, row)
        for new, row in zip(events, rows, strict=True)
    ]


def taken_from_row(new: NewEvent, row: Any) -> Ingested:
    """A new event as stored: its prepared columns and what the statement returned."""
    values = {
        **new.values,
        "id": row.id,
        "reported_at": row.reported_at,  # in the database's time zone, as a reload gives it
        "received_at": row.received_at,
        "updated_at": row.received_at,
        "team_id": row.team_id,
        "escalation_level": row.escalation_level,
        "duplicate_of": row.duplicate_of,
        "response_due_at": None,
        "due_at": None,
        "closed_at": None,
        "satisfaction": None,
    }
    team = (
        TeamRef(id=row.team_id, code=row.team_code, name=row.team_name, level=row.team_level)
        if row.team_id is not None
        else None
    )
    return Ingested(True, columns=values, lonlat=new.lonlat, team=team)


def _json(value: dict[str, Any]) -> str:
    # orjson: the stdlib's encoder with ensure_ascii=False was ~10 % of a worker's time
    # at 500 events/s (three documents per event). Same JSON: UTF-8 as is, shortest floats.
    return orjson.dumps(value).decode()


def _created_announcement(
    values: dict[str, Any], lonlat: tuple[float, float] | None
) -> dict[str, Any]:
    """`announcement()` of a new event, less what the statement decides (id, team, duplicate)."""
    return {
        "status": values["status"],
        "priority": values["priority"],
        "category": values["category_code"],
        "grid_code": values["grid_code"],
        "community_code": values["community_code"],
        "township_code": values["township_code"],
        "lon": lonlat[0] if lonlat else None,
        "lat": lonlat[1] if lonlat else None,
        "overdue": values["overdue"],
    }


_INSERTED_COLUMNS = (
    "county_code",
    "source",
    "external_id",
    "category_code",
    "priority",
    "status",
    "description",
    "address",
    "reporter_name",
    "reporter_phone",
    "reported_at",
    "input_lon",
    "input_lat",
    "input_crs",
    "version_id",
    "grid_area_id",
    "grid_code",
    "community_code",
    "township_code",
    "zone_code",
    "dedicated_code",
    "on_boundary",
    "outside_coverage",
    "handling_mode",
    "department_code",
    "team_id",
    "escalation_level",
    "overdue",
    "row_version",
)

# Taking a new event in, as one statement (one round trip; parsed once per connection):
#   hand_over  the department's duty team, when the county took the category back;
#   original   the nearest open event of the same category within the distance and time
#              window; only originals are candidates (not events already linked as
#              duplicates), so a burst of reports of one pothole all link to the first.
#              The bounding-box test (`&&`, in degrees, widened for the latitude) lets the
#              GiST index on event.point pick the few nearby events before the exact
#              distance on the spheroid. The new row is not in this statement's snapshot,
#              so it cannot find itself;
#   new_event  the row; ON CONFLICT DO NOTHING makes a known (source, external_id) insert
#              nothing (and so log and announce nothing): the caller then reads that one;
#   steps      the timeline: `report`, and `possible_duplicate` when an original was found;
#   held, message  the `event.created` announcement, taking gridmap.notify's shared
#              advisory lock before the message takes its id (see notify's docstring);
#   audit      the API's audit entry (gridmap.audit's table), when one is given.
_POINT_SQL = "ST_SetSRID(ST_MakePoint(CAST(:plon AS float8), CAST(:plat AS float8)), 4326)"
# Each column's value in the INSERT; a plain parameter unless the statement decides it.
_VALUE_SQL = {
    "team_id": "coalesce((SELECT id FROM hand_over), CAST(:team_id AS integer))",
    "escalation_level": "CASE WHEN EXISTS (SELECT 1 FROM hand_over) THEN 'county' "
    "ELSE :escalation_level END",
}
# Whitespace squeezed: psycopg caches its parse of a query only up to 4,096 characters.
_INGEST_SQL = text(
    " ".join(
        f"""
    WITH hand_over AS (
        SELECT t.id FROM team t JOIN department d ON d.id = t.department_id
        WHERE d.county_code = :dept_county AND d.code = :dept_code
          AND t.county_code = :dept_county AND t.active
        ORDER BY t.id LIMIT 1
    ),
    original AS (
        SELECT e.id FROM event e
        WHERE CAST(:plon AS float8) IS NOT NULL AND e.category_code = :category_code
          AND e.status = ANY(:open) AND e.duplicate_of IS NULL
          AND e.reported_at BETWEEN CAST(:reported_at AS timestamptz) - :window
                                AND CAST(:reported_at AS timestamptz) + :window
          AND e.point && ST_Expand({_POINT_SQL},
                :metres / 110000.0 / greatest(cos(radians(CAST(:plat AS float8))), 0.01))
          AND ST_DWithin(e.point::geography, ({_POINT_SQL})::geography, :metres)
        ORDER BY ST_Distance(e.point::geography, ({_POINT_SQL})::geography), e.id
        LIMIT 1
    ),
    new_event AS (
        INSERT INTO event ({", ".join(_INSERTED_COLUMNS)},
                           point, routing, received_at, updated_at, duplicate_of)
        VALUES ({", ".join(_VALUE_SQL.get(c, f":{c}") for c in _INSERTED_COLUMNS)},
                {_POINT_SQL}, CAST(:routing AS jsonb),
                coalesce(CAST(:now AS timestamptz), now()),
                coalesce(CAST(:now AS timestamptz), now()),
                (SELECT id FROM original))
        ON CONFLICT ON CONSTRAINT uq_event_source_external_id DO NOTHING
        RETURNING id, reported_at, received_at, team_id, escalation_level, duplicate_of
    ),
    steps AS (
        INSERT INTO event_log (event_id, county_code, at, actor, action, from_status, to_status,
                               team_id, note, data)
        SELECT id, :county_code, received_at, :actor, 'report', NULL, :status,
               CAST(NULL AS integer), NULL,
               jsonb_build_object('unplaced', CAST(:unplaced AS boolean), 'team_id', team_id)
        FROM new_event
        UNION ALL
        SELECT id, :county_code, received_at, '{wf.SYSTEM_ACTOR}', 'possible_duplicate', :status,
               :status, NULL, :duplicate_note || duplicate_of,
               jsonb_build_object('duplicate_of', duplicate_of)
        FROM new_event WHERE duplicate_of IS NOT NULL
    ),
    held AS (
        SELECT pg_advisory_xact_lock_shared({notify.ANNOUNCE_LOCK[0]}, {notify.ANNOUNCE_LOCK[1]})
        FROM new_event
    ),
    message AS (
        INSERT INTO stream_message (kind, county_code, township_code, payload)
        SELECT 'event.created', :county_code, :township_code,
               CAST(:announcement AS jsonb) || jsonb_build_object(
                   'id', id, 'team_id', team_id, 'escalation_level', escalation_level,
                   'duplicate_of', duplicate_of, 'unassigned', team_id IS NULL)
        FROM new_event, held
    ),
    audit AS (
        INSERT INTO audit_log (actor, source_addr, action, target_type, target_id, details)
        SELECT CAST(:audit_actor AS text), :audit_addr, 'event.ingest', 'event', CAST(id AS text),
               CAST(:audit_details AS jsonb)
        FROM new_event WHERE CAST(:audit_actor AS text) IS NOT NULL
    )
    SELECT n.id, n.reported_at, n.received_at, n.team_id, n.escalation_level, n.duplicate_of,
           t.code AS team_code, t.name AS team_name, t.level AS team_level
    FROM new_event n LEFT JOIN team t ON t.id = n.team_id
    """.split()
    )
)
# The same statement in the driver's own placeholders, for pipelining on its cursor.
_INGEST_DRIVER_SQL = str(_INGEST_SQL.compile(dialect=psycopg_dialect.dialect()))
