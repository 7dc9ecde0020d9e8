"""Addresses over HTTP: `GET /api/geocode` (candidates for a written address) and
`POST /api/events/{event_id}/place/candidate/{index}` (place an address-only event on one
of its geocoding candidates: the operator's one click in triage)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import PrincipalDep, check_event_scope
from api.deps import ContextDep, SessionDep
from api.events import place_and_answer
from gridmap.errors import InvalidInput
from gridmap.events import EventOut, address_events
from gridmap.events import lifecycle as ev
from gridmap.routing import geocode

router = APIRouter(prefix="/api", tags=["addresses"])


@router.get("/geocode", summary="Candidates for a written address, best first")
def get_geocode(
    session: SessionDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(min_length=1, max_length=300, description="the address")],
    county: Annotated[str | None, Query(description="the county (default: the caller's)")] = None,
) -> dict[str, Any]:
    county_code = principal.jurisdiction.unplaced_county(county)
    if county_code is None:
        raise InvalidInput("name the county to look in (?county=…)", details={"field": "county"})
    found = geocode.geocode(session, q, county_code=county_code)
    return {
        "text": q,
        "county": county_code,
        "form": found.parsed.form,
        "placeable": found.placeable,
        "threshold": geocode.AUTO_PLACE_CONFIDENCE,
        "candidates": [c.to_dict() for c in found.candidates],
    }


class CandidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: str = Field(default="operator", min_length=1, max_length=100)


@router.post(
    "/events/{event_id}/place/candidate/{index}",
    response_model=EventOut,
    summary="Place an address-only event on one of its geocoding candidates and route it",
)
def post_place_candidate(
    event_id: int,
    index: int,
    ctx: ContextDep,
    session: SessionDep,
    request: Request,
    principal: PrincipalDep,
    body: CandidateIn | None = None,
) -> EventOut:
    check_event_scope(session, principal, event_id, acting=True)
    event = ev.get_event(session, event_id=event_id)
    lon, lat = address_events.candidate_point(event.routing, index)
    return place_and_answer(
        ctx,
        session,
        request,
        principal,
        event_id=event_id,
        point=(lon, lat, "wgs84"),
        actor=(body or CandidateIn()).actor,
        audit={"candidate": index},
    )
