"""Taking events in exactly once: one set-based statement for a batch of new events.

The statement (`ingest_statement.BATCH_SQL`) does, for every event of a batch at once, the duplicate
search, the department hand-over, the event row, its timeline, its announcement and its
audit entry: one round trip, one executor run and one commit for all of them. The last
three are written by the same definitions as a workflow step's (`gridmap.events.steps`). Events of a
batch that could see each other (a repeated (source, external_id), a report near an earlier
one) go in consecutive statements of the same transaction (`independent_runs`), so
duplicates link and repeats are known exactly as if they had come one by one.

Functions take a Session, flush and never commit: the caller commits, and only then
answers the sender.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import (
    Engine,
    select,
)
from sqlalchemy.orm import Session, make_transient_to_detached

from gridmap.errors import Conflict, InvalidInput, UnknownCategory
from gridmap.events import record
from gridmap.events import workflow as wf
from gridmap.events.categories import category_exists
from gridmap.events.deadlines import response_limit
from gridmap.events.ingest_statement import BATCH_SQL
from gridmap.events.input import EventInput, EventPolicy, check_event_input
from gridmap.events.placement import route_columns
from gridmap.models import Event
from gridmap.routing.types import PointRouter, TeamRef


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
    """The audit entry (gridmap.access.audit) of an ingest through the API: who, from where,
    what."""

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
    router: PointRouter | None,
    payload: EventInput,
    actor: str,
    policy: EventPolicy | None = None,
    now: dt.datetime | None = None,
    county_code: str | None = None,
) -> tuple[Event, bool]:
    """Take one event in exactly once: (the event, True) when new, (it, False) when known.

    Idempotent under concurrency: the unique (source, external_id) with ON CONFLICT DO
    NOTHING lets exactly one of two simultaneous senders insert; the other waits for it
    to commit and then reads the same row. `now` (default: the database's clock) is when
    it was received; the demo's history passes a past time. `county_code` is the county
    the event belongs to if it cannot be placed on the map (`prepare_event`).
    """
    policy = policy or EventPolicy()
    taken = take_in_event(
        session,
        router=router,
        payload=check_event_input(payload, policy=policy, now=now),
        actor=actor,
        policy=policy,
        now=now,
        county_code=county_code,
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
    router: PointRouter | None,
    payload: EventInput,
    actor: str,
    policy: EventPolicy | None = None,
    now: dt.datetime | None = None,
    audit: IngestAudit | None = None,
    county_code: str | None = None,
) -> Ingested:
    """`ingest_event` for a caller that answers from the columns (the HTTP route): a new
    event comes back as its stored columns and team, with no ORM object built. `audit`
    is the `event.ingest` audit entry, written with a new event (as `gridmap.access.audit.record`
    would, in the same statement). A known (source, external_id) is read once.

    `payload` is checked already (`check_event_input`, by the caller that received it:
    input is checked once).
    """
    policy = policy or EventPolicy()
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
    # An address without a location is geocoded first (issue #19; gridmap.events.address_events).
    from gridmap.events.address_events import note_geocode, prepare_by_address

    new, geocoded = prepare_by_address(
        session,
        router=router,
        payload=payload,
        actor=actor,
        policy=policy,
        now=now,
        audit=audit,
        county_code=county_code,
    )
    taken = take_in_batch(session, [new])[0]
    if geocoded is not None:
        note_geocode(session, taken, geocoded)
    return taken


def prepare_event(
    *,
    router: PointRouter | None,
    payload: EventInput,
    actor: str,
    policy: EventPolicy,
    now: dt.datetime | None = None,
    audit: IngestAudit | None = None,
    county_code: str | None = None,
) -> NewEvent:
    """Route a checked `payload` (`check_event_input`) and fill the statement's parameters.

    No database: the category must already be known to exist (`category_seen`).
    `county_code` is the county an event that lands in no county belongs to (only an
    address, a point outside coverage): the sender's (`Jurisdiction.unplaced_county`), so
    that county's operators find it in their triage queue.
    """
    columns, lonlat = route_columns(
        router, lon=payload.lon, lat=payload.lat, crs=payload.crs, category=payload.category
    )
    if columns.get("county_code") is None and county_code is not None:
        columns["county_code"] = county_code
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
        **{name: values[name] for name in record.INSERTED_COLUMNS},
        "routing": values["routing"],
        "plon": lonlat[0] if lonlat else None,
        "plat": lonlat[1] if lonlat else None,
        "now": now,
        "dept_county": values["county_code"] if hand_over else None,
        "dept_code": values["department_code"] if hand_over else None,
        "unplaced": bool(values["routing"].get("unplaced")),
        "actor": actor,
        # The response clock runs from receipt (gridmap.events.deadlines): due this long after
        # the statement's received_at.
        "response_s": response_limit(
            priority=values["priority"],
            rule_response_minutes=decided_priority.get("response_minutes"),
            rule_time_limit_hours=decided_priority.get("time_limit_hours"),
        ).total_seconds(),
        "metres": policy.duplicate_distance_m,
        "window_s": policy.duplicate_window_minutes * 60.0,
        "audit_actor": audit.actor if audit else None,
        "audit_addr": audit.source_addr if audit else None,
        "audit_details": audit.details if audit else {},
        # What the statement decides (id, team, duplicate) it sets in the SQL.
        "announcement": record.announcement(values, lonlat),
    }
    return NewEvent(payload.source, payload.external_id, values, lonlat, params)


def take_in_batch(session: Session, events: Sequence[NewEvent]) -> list[Ingested]:
    """Take prepared events in, in order, in the session's transaction.

    As if one by one (`independent_runs`): a repeat of a (source, external_id) earlier in
    the batch is known, a report near an earlier one of the batch links to it as its
    possible duplicate. Any statement failing fails the whole transaction (the caller
    rolls back).
    """
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # the psycopg dialect (gridmap.db)
    rows: dict[int, Any] = {}
    with driver.cursor(row_factory=namedtuple_row) as cursor:
        for run in independent_runs(events):
            cursor.execute(BATCH_SQL, _batch_params(events, run))
            found: list[Any] = cursor.fetchall()
            rows.update((row.ord, row) for row in found)
    taken = []
    for i, new in enumerate(events):
        if i in rows:
            taken.append(taken_from_row(new, rows[i]))
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
    """`take_in_batch` on an autocommit asyncio connection, committed when it returns: a
    new event's Ingested, or None for a (source, external_id) known already (the caller
    reads that one afterwards).

    A batch of one run is one statement, its own transaction: the server answers it only
    after the commit, so there is no BEGIN and COMMIT to wait for. Several runs share one.
    """
    if not connection.autocommit:
        raise InvalidInput("take_in_rows commits by itself: it needs an autocommit connection")
    runs = independent_runs(events)
    rows: dict[int, Any] = {}
    together = connection.transaction() if len(runs) > 1 else contextlib.nullcontext()
    async with together, connection.cursor(row_factory=namedtuple_row) as cursor:
        for run in runs:
            await cursor.execute(BATCH_SQL, _batch_params(events, run))
            found: list[Any] = await cursor.fetchall()
            rows.update((row.ord, row) for row in found)
    return [taken_from_row(new, rows[i]) if i in rows else None for i, new in enumerate(events)]


def independent_runs(events: Sequence[NewEvent]) -> list[range]:
    """The batch cut, in order, into runs whose events cannot see each other.

    One statement takes a run in, and its rows are not in its own snapshot, so an event
    must not meet an earlier one of its run: a repeat of its (source, external_id), or a
    possible original (same category, near in place and time: `_may_link`). Such an
    event starts the next run, which does see the earlier runs' rows (same transaction).
    So the outcome is the same as one by one; in a storm of reports of one flood the runs
    get short, and in the usual mix a batch is one run.
    """
    runs: list[range] = []
    start = 0
    keys: set[tuple[str, str]] = set()
    by_category: dict[str, list[NewEvent]] = {}
    for i, new in enumerate(events):
        category = new.values["category_code"]
        key = (new.source, new.external_id)
        if key in keys or any(_may_link(new, other) for other in by_category.get(category, ())):
            runs.append(range(start, i))
            start, keys, by_category = i, set(), {}
        keys.add(key)
        by_category.setdefault(category, []).append(new)
    if start < len(events):
        runs.append(range(start, len(events)))
    return runs


def _may_link(new: NewEvent, earlier: NewEvent) -> bool:
    """Whether `earlier` (same category) could be `new`'s original: near in time and, by
    a generous flat-earth distance (half as far again as the window), in place."""
    if new.lonlat is None or earlier.lonlat is None:
        return False  # an event without a point neither links nor is linked to
    window = dt.timedelta(seconds=new.params["window_s"])
    if abs(new.params["reported_at"] - earlier.params["reported_at"]) > window:
        return False
    (lon1, lat1), (lon2, lat2) = new.lonlat, earlier.lonlat
    dx = (lon1 - lon2) * 111_320.0 * math.cos(math.radians((lat1 + lat2) / 2))
    dy = (lat1 - lat2) * 110_574.0
    return math.hypot(dx, dy) <= 1.5 * new.params["metres"] + 1.0


def _batch_params(events: Sequence[NewEvent], run: range) -> dict[str, Any]:
    rows = [{**events[i].params, "ord": i} for i in run]
    # orjson: the stdlib's encoder with ensure_ascii=False was ~10 % of a worker's time at
    # 500 events/s. Same JSON: UTF-8 as is, shortest floats, datetimes in ISO 8601.
    # Routed points may be numpy floats.
    data = orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return {"rows": data, "open": list(wf.OPEN_STATES)}


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
        "response_due_at": row.response_due_at,
        "due_at": None,
        "closed_at": None,
        "satisfaction": None,
        # The assessment clocks (gridmap.events.stats) start at the workflow's later steps.
        "assigned_at": None,
        "responded_at": None,
        "handled_at": None,
        "returned_count": 0,
        "reopened_count": 0,
        # The assessment's facts, as PostgreSQL computed them (migration 0024).
        "assess_flags": row.assess_flags,
        "response_seconds": row.response_seconds,
        "handling_seconds": row.handling_seconds,
    }
    team = (
        TeamRef(id=row.team_id, code=row.team_code, name=row.team_name, level=row.team_level)
        if row.team_id is not None
        else None
    )
    return Ingested(True, columns=values, lonlat=new.lonlat, team=team)
