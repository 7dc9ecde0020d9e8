"""An event as the API answers it (`EventOut`), built once from the stored row or from a
new event's columns: the record's public shape, beside its columns (`gridmap.events.record`).

Adding a field to an event touches its column (`gridmap.models`, a migration), the shape
here, and the page that shows it.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from gridmap.events import workflow as wf
from gridmap.events.deadlines import event_clocks
from gridmap.events.ingest import Ingested
from gridmap.events.input import mask_name, mask_phone
from gridmap.events.queries import co_handlers, teams_of
from gridmap.events.steps import event_lonlat
from gridmap.models import Event, EventCoHandler, Team


class TeamOut(BaseModel):
    id: int
    code: str
    name: str
    level: str


class EventOut(BaseModel):
    id: int
    source: str
    external_id: str
    category: str
    priority: str
    status: str
    description: str
    address: str | None
    reporter: dict[str, str | None]
    reported_at: dt.datetime
    received_at: dt.datetime
    updated_at: dt.datetime
    location: dict[str, float] | None
    input: dict[str, Any] | None
    county_code: str | None
    grid_code: str | None
    community_code: str | None
    township_code: str | None
    zone_code: str | None
    dedicated_code: str | None
    on_boundary: bool
    outside_coverage: bool
    unassigned: bool
    team: TeamOut | None
    handling_mode: str | None
    department_code: str | None
    escalation_level: str
    duplicate_of: int | None
    response_due_at: dt.datetime | None
    due_at: dt.datetime | None
    overdue: bool
    closed_at: dt.datetime | None
    satisfaction: int | None
    clocks: dict[str, dict[str, Any]] = Field(
        description="the response clock (from receipt until a team starts) and the handling "
        "clock (from the first assignment until the lead reports back): state running, met, "
        "missed or not_started; the seconds taken once stopped"
    )
    row_version: int
    co_handlers: list[dict[str, Any]] = Field(
        description="a joint dispatch's co-handling teams: team, name, reported_back_at, note"
    )
    allowed_actions: list[str]
    routing: dict[str, Any]


class EventAck(BaseModel):
    """The answer to a sender whose areas do not hold the event: taken in (or known), and
    nothing about where it lies or who handles it (as `/api/locate` would refuse to say)."""

    id: int
    status: str


def event_out(session: Session, event: Event) -> EventOut:
    team = session.get(Team, event.team_id) if event.team_id else None
    return public_event(
        event,
        lonlat=event_lonlat(event),
        team=TeamOut(id=team.id, code=team.code, name=team.name, level=team.level)
        if team
        else None,
        co_handlers=[co_handler_out(t, c) for t, c in co_handlers(session, event_id=event.id)],
    )


def events_out(session: Session, events: list[Event]) -> list[EventOut]:
    """`event_out` for a list: the teams and co-handlers of every event in two queries,
    not two per event (the map's open events, the lists)."""
    if not events:
        return []
    teams_by_id, co = teams_of(session, events=events)
    out = []
    for event in events:
        team = teams_by_id.get(event.team_id) if event.team_id is not None else None
        out.append(
            public_event(
                event,
                lonlat=event_lonlat(event),
                team=TeamOut(id=team.id, code=team.code, name=team.name, level=team.level)
                if team
                else None,
                co_handlers=[co_handler_out(t, c) for t, c in co.get(event.id, [])],
            )
        )
    return out


def co_handler_out(team: Team, part: EventCoHandler) -> dict[str, Any]:
    return {
        "team": team.code,
        "name": team.name,
        "reported_back_at": part.reported_back_at,
        "note": part.note,
    }


def public_event(
    event: Event | SimpleNamespace,
    *,
    lonlat: tuple[float, float] | None,
    team: TeamOut | None,
    co_handlers: list[dict[str, Any]],
) -> EventOut:
    """The answer for an event: an ORM object, or a new event's columns as attributes."""
    return EventOut(
        id=event.id,
        source=event.source,
        external_id=event.external_id,
        category=event.category_code,
        priority=event.priority,
        status=event.status,
        description=event.description,
        address=event.address,
        # The map and the lists show a masked phone; the full number stays in the database.
        # GET /api/events/{id}/reporter gives the full contact to those who call back, logged.
        reporter={
            "name": mask_name(event.reporter_name),
            "phone": mask_phone(event.reporter_phone),
        },
        reported_at=event.reported_at,
        received_at=event.received_at,
        updated_at=event.updated_at,
        location={"lon": lonlat[0], "lat": lonlat[1]} if lonlat else None,
        input=(
            {"lon": event.input_lon, "lat": event.input_lat, "crs": event.input_crs}
            if event.input_lon is not None
            else None
        ),
        county_code=event.county_code,
        grid_code=event.grid_code,
        community_code=event.community_code,
        township_code=event.township_code,
        zone_code=event.zone_code,
        dedicated_code=event.dedicated_code,
        on_boundary=event.on_boundary,
        outside_coverage=event.outside_coverage,
        unassigned=event.team_id is None,
        team=team,
        handling_mode=event.handling_mode,
        department_code=event.department_code,
        escalation_level=event.escalation_level,
        duplicate_of=event.duplicate_of,
        response_due_at=event.response_due_at,
        due_at=event.due_at,
        overdue=event.overdue,
        closed_at=event.closed_at,
        satisfaction=event.satisfaction,
        clocks={
            name: c.to_dict()
            for name, c in event_clocks(event, now=dt.datetime.now(dt.UTC)).items()
        },
        row_version=event.row_version,
        co_handlers=co_handlers,
        # A co-handler's report is offered only while one is awaited.
        allowed_actions=[
            a
            for a in wf.allowed_actions(event.status)
            if a != "co_report_back" or any(c["reported_back_at"] is None for c in co_handlers)
        ],
        routing=event.routing,
    )


def new_event_out(taken: Ingested) -> EventOut:
    # A new event answers from the columns it was stored with: no reload, no ORM object;
    # it has no co-handlers yet.
    return public_event(
        SimpleNamespace(**taken.columns),
        lonlat=taken.lonlat,
        team=TeamOut(**taken.team.to_dict()) if taken.team else None,
        co_handlers=[],
    )
