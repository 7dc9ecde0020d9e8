"""Reading events: filtered lists for the map and queues, the triage queue, timelines and
co-handlers. Every list takes the caller's jurisdiction and applies it in the query."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from sqlalchemy import RowMapping, func, or_, select, text, true
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.events import stats
from gridmap.events import workflow as wf
from gridmap.events.input import invalid_field
from gridmap.events.lifecycle import PLACEABLE_STATES, get_event
from gridmap.models import Area, Event, EventCoHandler, EventLog, Team


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


def events_with_team_names(
    session: Session, *, ids: Sequence[int]
) -> list[tuple[Event, str | None]]:
    """The events of `ids` (newest first), each with its team's name."""
    rows = session.execute(
        select(Event, Team.name)
        .outerjoin(Team, Team.id == Event.team_id)
        .where(Event.id.in_(ids))
        .order_by(Event.id.desc())
    ).all()
    return [(e, name) for e, name in rows]


def oldest_open(
    session: Session, *, area: str | None, scope: Jurisdiction | None, limit: int = 10
) -> list[RowMapping]:
    """The open events waiting longest in `area` and `scope` (the weekly report's list):
    id, received_at, category (its name), place (the grid's name, else the address),
    team (its name), status, overdue."""
    where, params = stats.event_filter(
        period=stats.Period("all", None, None), area=area, scope=scope
    )
    return list(
        session.execute(
            text(
                f"""
                SELECT e.id, e.received_at, coalesce(c.name, e.category_code) AS category,
                       coalesce(g.name, e.grid_code, e.address) AS place, t.name AS team,
                       e.status, e.overdue
                FROM event e
                LEFT JOIN category c
                  ON c.county_code = e.county_code AND c.code = e.category_code
                LEFT JOIN area g
                  ON g.layer = 'grid' AND g.code = e.grid_code AND g.valid_to IS NULL
                LEFT JOIN team t ON t.id = e.team_id
                WHERE {where} AND e.status = ANY(:open_states)
                ORDER BY e.received_at, e.id LIMIT :limit
                """
            ),
            {**params, "open_states": sorted(wf.OPEN_STATES), "limit": limit},
        )
        .mappings()
        .all()
    )


def current_area_name(session: Session, *, code: str) -> str | None:
    """The name of the current area of that code (any layer), None when there is none."""
    return session.scalars(
        select(Area.name).where(Area.code == code, Area.valid_to.is_(None)).limit(1)
    ).first()


def in_scope(session: Session, *, event_id: int, jurisdiction: Jurisdiction) -> bool | None:
    """Whether event `event_id` lies in `jurisdiction` (its one rule, in the database like
    the lists); None when there is no such event."""
    if session.scalar(select(Event.id).where(Event.id == event_id)) is None:
        return None
    inside = session.scalar(
        select(Event.id).where(Event.id == event_id, jurisdiction.event_clause())
    )
    return inside is not None


def teams_of(
    session: Session, *, events: Sequence[Event]
) -> tuple[dict[int, Team], dict[int, list[tuple[Team, EventCoHandler]]]]:
    """For a list of events, in two queries (not two per event): their teams by id, and
    each event's co-handling teams with their part (by event id, teams by code)."""
    team_ids = {e.team_id for e in events if e.team_id is not None}
    teams = (
        {t.id: t for t in session.scalars(select(Team).where(Team.id.in_(team_ids)))}
        if team_ids
        else {}
    )
    co: dict[int, list[tuple[Team, EventCoHandler]]] = {}
    if events:
        for t, c in session.execute(
            select(Team, EventCoHandler)
            .join(EventCoHandler, EventCoHandler.team_id == Team.id)
            .where(EventCoHandler.event_id.in_([e.id for e in events]))
            .order_by(EventCoHandler.event_id, Team.code)
        ).all():
            co.setdefault(c.event_id, []).append((t, c))
    return teams, co
