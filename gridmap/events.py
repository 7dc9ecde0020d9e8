"""Events in the closed loop: taking them in once, acting on them, deadlines, duplicates.

Every function takes a Session, flushes and never commits: the caller (an API route, a
CLI command) commits, and only then answers the sender. Each change writes the
append-only `event_log` and announces itself on the live stream in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import Engine, case, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, make_transient_to_detached

from gridmap import notify, teams
from gridmap import workflow as wf
from gridmap.categories import category_exists
from gridmap.crs import parse_crs, point_to_wgs84
from gridmap.deadlines import compute_deadlines, missed_deadline
from gridmap.errors import (
    Conflict,
    GridmapError,
    InvalidInput,
    NotFound,
    OutsideCoverage,
    UnknownCategory,
    VersionConflict,
)
from gridmap.event_input import EventInput, EventPolicy, check_event_input, invalid_field
from gridmap.models import (
    PRIORITIES,
    Event,
    EventCoHandler,
    EventLog,
    ResponsibilityRule,
    Team,
)
from gridmap.routing_types import Router, RoutingResult, TeamRef

log = logging.getLogger("gridmap.events")

SYSTEM_ACTOR = "system"


# --- routing into columns ---------------------------------------------------------------


def routing_columns(result: RoutingResult) -> dict[str, Any]:
    """The event columns a routing result fills."""
    team_level = result.team.level if result.team else None
    return {
        "county_code": result.county.code if result.county else None,
        "point": from_shape(Point(result.lon, result.lat), srid=4326),
        "version_id": result.version,
        "grid_area_id": result.grid.id if result.grid else None,
        "grid_code": result.grid.code if result.grid else None,
        "community_code": result.community.code if result.community else None,
        "township_code": result.township.code if result.township else None,
        "zone_code": result.enforcement_zone.code if result.enforcement_zone else None,
        "dedicated_code": result.dedicated_grid.code if result.dedicated_grid else None,
        "on_boundary": result.flags.on_boundary,
        "outside_coverage": result.flags.outside_coverage or not result.assigned,
        "routing": result.to_dict(),
        "handling_mode": result.decision.mode if result.decision else None,
        "department_code": (
            result.decision.department.code
            if result.decision and result.decision.department
            else None
        ),
        "team_id": result.team.id if result.team else None,
        "escalation_level": _level_of(team_level),
    }


def _level_of(team_level: str | None) -> str:
    # Department and enforcement teams are county units: nothing above them to escalate to.
    if team_level in wf.LEVELS:
        return team_level
    return "county" if team_level in ("department", "enforcement") else "grid"


def _unplaced_columns(
    lon: float | None, lat: float | None, crs: str, reason: str
) -> tuple[dict[str, Any], tuple[float, float] | None]:
    """Columns of an event that could not be routed: kept, unassigned, in the triage queue."""
    lonlat = None if lon is None or lat is None else point_to_wgs84(lon, lat, crs)
    columns = {
        "point": None if lonlat is None else from_shape(Point(*lonlat), srid=4326),
        "outside_coverage": True,
        "routing": {"unplaced": True, "reason": reason},
        "escalation_level": "grid",
    }
    return columns, lonlat


def _route(
    router: Router | None, *, lon: float | None, lat: float | None, crs: str, category: str
) -> tuple[dict[str, Any], tuple[float, float] | None]:
    """The event's routing columns and its WGS84 point (None when it has no coordinates)."""
    if lon is None or lat is None:
        return _unplaced_columns(None, None, crs, "no coordinates: place it on the map")
    if router is None:
        return _unplaced_columns(lon, lat, crs, "no active boundary version to route by")
    try:
        result = router.route(lon, lat, crs=crs, category=category)
    except (OutsideCoverage, NotFound) as exc:
        # NotFound: no boundary version is active yet. Either way the report is kept.
        return _unplaced_columns(lon, lat, crs, exc.message)
    columns = routing_columns(result)
    if not result.assigned:
        columns["routing"]["unplaced"] = True
    return columns, (result.lon, result.lat)


# --- taking an event in -----------------------------------------------------------------


def get_event(session: Session, *, event_id: int, for_update: bool = False) -> Event:
    stmt = select(Event).where(Event.id == event_id)
    if for_update:
        stmt = stmt.with_for_update()
    event = session.scalars(stmt.execution_options(populate_existing=True)).one_or_none()
    if event is None:
        raise NotFound(f"event {event_id} does not exist", details={"event_id": event_id})
    return event


def _by_external_id(session: Session, *, source: str, external_id: str) -> Event | None:
    return session.scalars(
        select(Event)
        .where(Event.source == source, Event.external_id == external_id)
        .execution_options(populate_existing=True)
    ).one_or_none()


# Category codes known to exist, per database (engine). The responsibility list upserts
# categories and nothing deletes them, so a code once seen stays valid; an unseen code is
# asked of the database (a category added since is found), so the cache is never wrong.
_known_categories: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()


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
    would, in the same statement).

    A new event costs one statement (`_INGEST_SQL`): the duplicate search, the department
    hand-over, the event row, its timeline and its announcement together; the caller's
    commit is the only other round trip. A known (source, external_id) is read once.
    """
    policy = policy or EventPolicy()
    payload = check_event_input(payload, policy=policy)
    if not _category_known(session, payload.category):
        # A resend of a ticket taken in earlier is answered with it, whatever it says now.
        existing = _by_external_id(session, source=payload.source, external_id=payload.external_id)
        if existing is not None:
            return Ingested(False, existing)
        raise UnknownCategory(
            f"category: {payload.category!r} is not in the responsibility list "
            "(GET /api/categories lists them)",
            details={"field": "category", "value": payload.category},
        )
    columns, lonlat = _route(
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
    row = session.execute(
        _INGEST_SQL,
        {
            **{name: values[name] for name in _INSERTED_COLUMNS},
            "routing": json.dumps(values["routing"], ensure_ascii=False),
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
            "audit_details": json.dumps(audit.details if audit else {}, ensure_ascii=False),
            "announcement": notify.encode_payload(
                _created_announcement(values, lonlat), kind="event.created"
            ),
        },
    ).one_or_none()
    if row is None:  # known already, or a concurrent sender won the race (committed now)
        existing = _by_external_id(session, source=payload.source, external_id=payload.external_id)
        if existing is None:
            raise Conflict("the event was taken in concurrently and then rolled back; retry")
        return Ingested(False, existing)
    values.update(
        id=row.id,
        reported_at=row.reported_at,  # in the database's time zone, as a reload gives it
        received_at=row.received_at,
        updated_at=row.received_at,
        team_id=row.team_id,
        escalation_level=row.escalation_level,
        duplicate_of=row.duplicate_of,
        response_due_at=None,
        due_at=None,
        closed_at=None,
        satisfaction=None,
    )
    team = (
        TeamRef(id=row.team_id, code=row.team_code, name=row.team_name, level=row.team_level)
        if row.team_id is not None
        else None
    )
    return Ingested(True, columns=values, lonlat=lonlat, team=team)


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
        SELECT id, :county_code, received_at, '{SYSTEM_ACTOR}', 'possible_duplicate', :status,
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


def place_event(
    session: Session,
    *,
    router: Router,
    event_id: int,
    lon: float,
    lat: float,
    crs: str,
    actor: str,
) -> Event:
    """An operator places an unassigned event on the map (the triage queue): route it now."""
    event = get_event(session, event_id=event_id, for_update=True)
    if event.status not in (wf.REPORTED, wf.REGISTERED, wf.RETURNED):
        raise Conflict(
            f"event {event_id} is {event.status}; only a reported, registered or returned "
            "event can be placed",
            details={"current_state": event.status},
        )
    name = parse_crs(crs)
    result = router.route(lon, lat, crs=name, category=event.category_code)
    if not result.assigned:
        raise OutsideCoverage(
            f"({lon}, {lat}) in {name} is outside every grid; place the event inside the county",
            details={"lon": lon, "lat": lat, "crs": name},
        )
    before = {"grid_code": event.grid_code, "team_id": event.team_id}
    for key, value in routing_columns(result).items():
        setattr(event, key, value)
    event.input_lon, event.input_lat, event.input_crs = lon, lat, name
    touch(event)
    log_step(
        session,
        event,
        actor=actor,
        action="place",
        from_status=event.status,
        team_id=event.team_id,
        data={"before": before, "grid_code": event.grid_code},
    )
    session.flush()
    announce_event(session, "event.changed", event)
    return event


# --- acting on an event -----------------------------------------------------------------


def act(
    session: Session,
    *,
    event_id: int,
    action: str,
    actor: str,
    team_code: str | None = None,
    co_team_codes: Sequence[str] = (),
    reason: str | None = None,
    note: str | None = None,
    target_id: int | None = None,
    satisfaction: int | None = None,
    priority: str | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Event:
    """Take one workflow action; refuse it (409) if the current state does not allow it."""
    now = now or dt.datetime.now(dt.UTC)
    wf.rule_for(action)  # an unknown action fails before the row is locked
    event = get_event(session, event_id=event_id, for_update=True)
    if expected_version is not None and event.row_version != expected_version:
        raise VersionConflict(
            f"event {event_id} changed (version {event.row_version}, you saw "
            f"{expected_version}); reload it",
            details={"row_version": event.row_version},
        )
    team = _team(session, event, team_code) if team_code else None

    if action == "report_back" and team is not None and team.id != event.team_id:
        return _co_handler_report(session, event, team=team, actor=actor, note=note, now=now)

    given: set[str] = set()
    if team is not None or (action == "assign" and event.team_id is not None):
        given.add(wf.TEAM)
    if reason and reason.strip():
        given.add(wf.REASON)
    if note and note.strip():
        given.add(wf.NOTE)
    if co_team_codes:
        given.add(wf.CO_TEAMS)
    if target_id is not None or (action == "merge" and event.duplicate_of is not None):
        given.add(wf.TARGET)
    if satisfaction is not None:
        given.add(wf.SATISFACTION)
    from_status = event.status
    to_status = wf.transition(from_status, action, given=given)
    data: dict[str, Any] = {}

    if action == "register":
        _register(session, event, priority=priority, now=now, data=data)
    elif action == "assign":
        event.team_id = team.id if team else event.team_id
        if team is not None and team.level in wf.LEVELS:
            event.escalation_level = team.level
    elif action == "close":
        _check_co_handlers_done(session, event)
        event.closed_at = now
    elif action == "return":
        data["returned_by_team_id"] = event.team_id
        event.team_id = None  # whoever assigns it next picks the right team
    elif action == "reopen":
        event.closed_at = None
    elif action == "escalate":
        team = _escalate(session, event, data=data)
    elif action == "joint_dispatch":
        assert team is not None
        data["co_teams"] = _joint_dispatch(session, event, lead=team, co_codes=co_team_codes)
        event.team_id = team.id
    elif action == "merge":
        _merge(
            session,
            event,
            target_id=target_id or event.duplicate_of,
            actor=actor,
            data=data,
            now=now,
        )
    elif action == "visit":
        if satisfaction is None or not 1 <= satisfaction <= 5:
            raise invalid_field(
                "satisfaction", "must be 1 (very dissatisfied) to 5 (very satisfied)", satisfaction
            )
        event.satisfaction = satisfaction
        data["satisfaction"] = satisfaction

    event.status = to_status
    touch(event, now)
    log_step(
        session,
        event,
        actor=actor,
        action=action,
        from_status=from_status,
        team_id=team.id if team else event.team_id,
        note=note,
        reason=reason,
        data=data,
        at=now,
    )
    session.flush()
    announce_event(session, "event.changed", event)
    return event


def _team(session: Session, event: Event, code: str) -> Team:
    stmt = select(Team).where(Team.code == code)
    if event.county_code:
        stmt = stmt.where(Team.county_code == event.county_code)
    found = session.scalars(stmt.limit(2)).all()
    if len(found) != 1:
        raise invalid_field(
            "team",
            f"no team with code {code!r}" + (" in this county" if event.county_code else ""),
            code,
        )
    if not found[0].active:
        raise invalid_field("team", f"team {code!r} is inactive", code)
    return found[0]


def _register(
    session: Session, event: Event, *, priority: str | None, now: dt.datetime, data: dict[str, Any]
) -> None:
    if priority is not None:
        if priority not in PRIORITIES:
            raise invalid_field("priority", f"must be one of {', '.join(PRIORITIES)}", priority)
        event.priority = priority
    rule = _rule_for(session, event)
    deadlines = compute_deadlines(
        start=now,
        priority=event.priority,
        rule_response_minutes=rule.response_minutes if rule else None,
        rule_time_limit_hours=rule.time_limit_hours if rule else None,
    )
    event.response_due_at = deadlines.response_due_at
    event.due_at = deadlines.due_at
    data.update(
        priority=event.priority,
        response_due_at=deadlines.response_due_at.isoformat(),
        due_at=deadlines.due_at.isoformat(),
        rule_id=rule.id if rule else None,
    )


def _rule_for(session: Session, event: Event) -> ResponsibilityRule | None:
    """The most specific rule: this grid's, community's, township's, else the county-wide one."""
    areas = [c for c in (event.grid_code, event.community_code, event.township_code) if c]
    specificity = case(
        *[(ResponsibilityRule.area_code == code, n) for n, code in enumerate(areas)],
        else_=len(areas),
    )
    stmt = select(ResponsibilityRule).where(
        ResponsibilityRule.category_code == event.category_code,
        or_(ResponsibilityRule.area_code.is_(None), ResponsibilityRule.area_code.in_(areas)),
    )
    if event.county_code:
        stmt = stmt.where(ResponsibilityRule.county_code == event.county_code)
    return session.scalars(stmt.order_by(specificity, ResponsibilityRule.id).limit(1)).first()


def _escalate(session: Session, event: Event, *, data: dict[str, Any]) -> Team:
    """Hand the event to the duty team one level up the four-level cycle (四级循环)."""
    up = wf.next_level(event.escalation_level)
    if up is None:
        raise Conflict(
            f"event {event.id} is already with the county, the top of the four-level cycle",
            details={"current_state": event.status, "escalation_level": event.escalation_level},
        )
    area_code = {
        "community": event.community_code,
        "township": event.township_code,
        "county": event.county_code,
    }[up]
    team = (
        teams.responsible_team(
            session, county_code=event.county_code, layer=up, area_code=area_code
        )
        if area_code and event.county_code
        else None
    )
    if team is None:
        raise Conflict(
            f"no duty team answers for the {up} of event {event.id} ({area_code or 'unknown'})",
            details={"level": up, "area_code": area_code},
        )
    data.update(from_level=event.escalation_level, to_level=up, area_code=area_code)
    event.escalation_level = up
    event.team_id = team.id
    return team


def _joint_dispatch(
    session: Session, event: Event, *, lead: Team, co_codes: Sequence[str]
) -> list[str]:
    """Lead team plus co-handlers (联合哨); each co-handler reports back on its part."""
    codes = [c for c in dict.fromkeys(co_codes) if c != lead.code]
    if not codes:
        raise invalid_field(
            "co_teams", "name at least one co-handling team other than the lead", list(co_codes)
        )
    for code in codes:
        co = _team(session, event, code)
        session.execute(
            pg_insert(EventCoHandler)
            .values(event_id=event.id, team_id=co.id)
            .on_conflict_do_nothing(constraint="uq_event_co_handler")
        )
    return codes


def _co_handler_report(
    session: Session, event: Event, *, team: Team, actor: str, note: str | None, now: dt.datetime
) -> Event:
    co = session.scalars(
        select(EventCoHandler).where(
            EventCoHandler.event_id == event.id, EventCoHandler.team_id == team.id
        )
    ).one_or_none()
    if co is None:
        raise invalid_field(
            "team",
            f"team {team.code!r} is neither the lead nor a co-handler of event {event.id}",
            team.code,
        )
    wf.check_co_handler_report(event.status)
    if not note or not note.strip():
        raise InvalidInput(
            "report_back needs note", details={"action": "report_back", "missing": ["note"]}
        )
    co.reported_back_at = now
    co.note = note
    touch(event, now)
    log_step(
        session,
        event,
        actor=actor,
        action="co_report_back",
        from_status=event.status,
        team_id=team.id,
        note=note,
        at=now,
    )
    session.flush()
    announce_event(session, "event.changed", event)
    return event


def _check_co_handlers_done(session: Session, event: Event) -> None:
    waiting = session.scalars(
        select(Team.code)
        .join(EventCoHandler, EventCoHandler.team_id == Team.id)
        .where(EventCoHandler.event_id == event.id, EventCoHandler.reported_back_at.is_(None))
        .order_by(Team.code)
    ).all()
    if waiting:
        raise Conflict(
            f"event {event.id} cannot close: co-handlers have not reported back: "
            + ", ".join(waiting),
            details={"current_state": event.status, "waiting_for": list(waiting)},
        )


def _merge(
    session: Session,
    event: Event,
    *,
    target_id: int | None,
    actor: str,
    data: dict[str, Any],
    now: dt.datetime,
) -> None:
    if target_id is None or target_id == event.id:
        raise invalid_field("target", "name another event to merge this one into", target_id)
    target = get_event(session, event_id=target_id, for_update=True)
    if target.status == wf.MERGED:
        raise Conflict(
            f"event {target_id} is itself merged into {target.duplicate_of}; merge into that",
            details={"current_state": target.status, "target": target_id},
        )
    event.duplicate_of = target.id
    data["merged_into"] = target.id
    log_step(
        session,
        target,
        actor=actor,
        action="merged_in",
        from_status=target.status,
        data={"event_id": event.id},
        note=f"event {event.id} merged in as a duplicate",
        at=now,
    )


def touch(event: Event, now: dt.datetime | None = None) -> None:
    event.updated_at = now or dt.datetime.now(dt.UTC)
    event.row_version = (event.row_version or 0) + 1


def log_step(
    session: Session,
    event: Event,
    *,
    actor: str,
    action: str,
    from_status: str | None,
    team_id: int | None = None,
    note: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Append one step to the event's timeline; `at` defaults to the database's now()."""
    payload = dict(data or {})
    if reason:
        payload["reason"] = reason
    session.add(
        EventLog(
            event_id=event.id,
            county_code=event.county_code,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=event.status,
            team_id=team_id,
            note=note,
            data=payload,
            **({"at": at} if at is not None else {}),
        )
    )


def log_photo(session: Session, *, event: Event, actor: str, photo_id: int, sha256: str) -> None:
    """A photo joins the timeline like any other step."""
    log_step(
        session,
        event,
        actor=actor,
        action="photo",
        from_status=event.status,
        data={"photo_id": photo_id, "sha256": sha256},
    )
    touch(event)
    session.flush()
    announce_event(session, "event.changed", event)


# --- deadlines --------------------------------------------------------------------------

_DEADLINE_STATES = (wf.REGISTERED, wf.ASSIGNED, wf.IN_PROGRESS, wf.RETURNED)


def check_overdue(session: Session, *, now: dt.datetime) -> list[int]:
    """Mark events that passed a deadline, log and announce it, and escalate them one level.

    An event is marked once; it then stays marked (the statistics count it) and goes up
    one level automatically; further escalation is a person's decision.
    """
    candidates = session.scalars(
        select(Event)
        .where(
            Event.status.in_(_DEADLINE_STATES),
            Event.overdue.is_(False),
            or_(Event.due_at < now, Event.response_due_at < now),
        )
        .order_by(Event.id)
        .with_for_update(skip_locked=True)
    ).all()
    marked: list[int] = []
    for event in candidates:
        which = missed_deadline(
            now=now,
            responded=event.status not in wf.AWAITING_RESPONSE,
            response_due_at=event.response_due_at,
            due_at=event.due_at,
        )
        if which is None:
            continue
        event.overdue = True
        touch(event, now)
        log_step(
            session,
            event,
            actor=SYSTEM_ACTOR,
            action="overdue",
            from_status=event.status,
            team_id=event.team_id,
            data={"deadline": which},
            at=now,
        )
        log.warning("event %s is overdue (%s deadline); alerting", event.id, which)
        session.flush()
        announce_event(session, "event.overdue", event)
        _auto_escalate(session, event, which=which, now=now)
        marked.append(event.id)
    session.flush()
    return marked


def _auto_escalate(session: Session, event: Event, *, which: str, now: dt.datetime) -> None:
    if wf.next_level(event.escalation_level) is None:
        return
    # A savepoint: a missing duty team must not undo the overdue mark itself.
    try:
        with session.begin_nested():
            act(
                session,
                event_id=event.id,
                action="escalate",
                actor=SYSTEM_ACTOR,
                reason=f"overdue: the {which} deadline passed",
                now=now,
            )
    except GridmapError as exc:
        log.warning("event %s could not be escalated automatically: %s", event.id, exc.message)


def event_lonlat(event: Event) -> tuple[float, float] | None:
    if event.point is None:
        return None
    p = to_shape(event.point)
    assert isinstance(p, Point)
    return (float(p.x), float(p.y))


def announcement(event: Event) -> dict[str, Any]:
    """What the live stream says about an event (the command view's marker)."""
    lonlat = event_lonlat(event)
    return {
        "id": event.id,
        "status": event.status,
        "priority": event.priority,
        "category": event.category_code,
        "grid_code": event.grid_code,
        "community_code": event.community_code,
        "township_code": event.township_code,
        "team_id": event.team_id,
        "lon": lonlat[0] if lonlat else None,
        "lat": lonlat[1] if lonlat else None,
        "overdue": event.overdue,
        "escalation_level": event.escalation_level,
        "duplicate_of": event.duplicate_of,
        "unassigned": event.team_id is None,
    }


def announce_event(session: Session, kind: str, event: Event) -> None:
    notify.announce(
        session,
        kind=kind,
        payload=announcement(event),
        county_code=event.county_code,
        township_code=event.township_code,
    )
