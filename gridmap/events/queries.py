"""Reading events: filtered lists for the map and queues, the triage queue, timelines and
co-handlers. Every list takes the caller's jurisdiction and applies it in the query."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.events import workflow as wf
from gridmap.events.input import invalid_field
from gridmap.events.lifecycle import PLACEABLE_STATES, get_event
from gridmap.models import Event, EventCoHandler, EventLog, Team


def list_events(
    session: Session,
    *,
    status: Sequence[str] = (),
    priority: Sequence[str] = (),
    category: Sequence[str] = (),
    area: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    since: dt.datetime | None = None,
    unassigned: bool | None = None,
    overdue: bool | None = None,
    limit: int = 100,
    cursor: int | None = None,
    scope: Jurisdiction | None = None,
) -> list[Event]:
    """Newest first; `cursor` is the last id of the previous page; `scope` keeps only the
    events of a caller's jurisdiction (in the query)."""
    if not 1 <= limit <= 1000:
        raise invalid_field("limit", "must be 1 to 1000", limit)
    stmt = select(Event)
    if scope is not None:
        stmt = stmt.where(scope.event_clause())
    if status:
        unknown = sorted(set(status) - set(wf.STATES))
        if unknown:
            raise invalid_field("status", f"unknown: {', '.join(unknown)}", unknown)
        stmt = stmt.where(Event.status.in_(status))
    if priority:
        stmt = stmt.where(Event.priority.in_(priority))
    if category:
        stmt = stmt.where(Event.category_code.in_(category))
    if area:
        stmt = stmt.where(
            or_(
                Event.grid_code == area,
                Event.community_code == area,
                Event.township_code == area,
                Event.county_code == area,
                Event.zone_code == area,
                Event.dedicated_code == area,
            )
        )
    if bbox is not None:
        west, south, east, north = bbox
        if not all(math.isfinite(v) for v in bbox) or west > east or south > north:
            raise invalid_field(
                "bbox", "must be west,south,east,north with west<=east, south<=north", bbox
            )
        stmt = stmt.where(
            func.ST_Intersects(Event.point, func.ST_MakeEnvelope(west, south, east, north, 4326))
        )
    if since is not None:
        stmt = stmt.where(Event.received_at >= since)
    if unassigned is not None:
        stmt = stmt.where(Event.team_id.is_(None) if unassigned else Event.team_id.is_not(None))
        if unassigned:
            stmt = stmt.where(Event.status.in_(wf.OPEN_STATES))
    if overdue is not None:
        stmt = stmt.where(Event.overdue.is_(overdue))
    if cursor is not None:
        stmt = stmt.where(Event.id < cursor)
    return list(session.scalars(stmt.order_by(Event.id.desc()).limit(limit)))


def triage_queue(
    session: Session, *, limit: int = 100, scope: Jurisdiction | None = None
) -> list[Event]:
    """Events no one could place: outside every grid or only an address (operators route
    them). Each stays here until it is placed, whatever step it has reached meanwhile
    (the states `gridmap.events.lifecycle.place_event` places from)."""
    return list(
        session.scalars(
            select(Event)
            .where(
                Event.status.in_(PLACEABLE_STATES),
                Event.grid_code.is_(None),
                Event.dedicated_code.is_(None),
                scope.event_clause() if scope is not None else true(),
            )
            .order_by(Event.id)
            .limit(limit)
        )
    )


def event_log(session: Session, *, event_id: int) -> list[EventLog]:
    get_event(session, event_id=event_id)
    return list(
        session.scalars(select(EventLog).where(EventLog.event_id == event_id).order_by(EventLog.id))
    )


def co_handlers(session: Session, *, event_id: int) -> list[tuple[Team, EventCoHandler]]:
    rows = session.execute(
        select(Team, EventCoHandler)
        .join(EventCoHandler, EventCoHandler.team_id == Team.id)
        .where(EventCoHandler.event_id == event_id)
        .order_by(Team.code)
    ).all()
    return [(t, c) for t, c in rows]
