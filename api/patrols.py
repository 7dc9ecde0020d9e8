"""Patrols (巡查) and household visits (走访) from the grid worker's phone, and the workers on
patrol for the command view's "网格员" layer.

A patrol or a visit is a person's: recorded under the logged-in user, never a token. The
phone mints each one's `client_id`, so a request sent twice (an outbox after a lost
answer) is the same patrol, batch or visit.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import PrincipalDep, audit_write
from api.deps import ContextDep, SessionDep
from gridmap import patrols, visits
from gridmap.access import Principal
from gridmap.errors import InvalidInput
from gridmap.events import ZonedTime
from gridmap.patrols import Chain, Fix

router = APIRouter(prefix="/api", tags=["patrols"])

Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
ClientId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


class PatrolStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: ClientId
    started_at: ZonedTime | None = None
    lon: Lon | None = None
    lat: Lat | None = None


class FixIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lon: Lon
    lat: Lat
    at: ZonedTime
    accuracy: float | None = Field(default=None, ge=0, le=100_000)


class PointsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=1, le=2**31 - 1)
    points: list[FixIn] = Field(max_length=patrols.MAX_BATCH_POINTS)


class PatrolEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ended_at: ZonedTime | None = None


class VisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: ClientId
    kind: str = Field(max_length=20)
    note: str = Field(default="", max_length=visits.MAX_NOTE)
    building_code: str | None = Field(default=None, max_length=60)
    lon: Lon | None = None
    lat: Lat | None = None
    visited_at: ZonedTime | None = None


def _person(principal: Principal) -> int:
    if principal.kind != "user" or principal.id is None:
        raise InvalidInput(
            "patrols and visits are recorded by a logged-in person, not a token",
            details={"field": "principal"},
        )
    return principal.id


def _routed(ctx: ContextDep, lon: float | None, lat: float | None) -> Chain | None:
    """Where a point is, routed like an event there (None: no point)."""
    if lon is None or lat is None or ctx.router is None:
        return None
    r = ctx.router.route(lon, lat)
    code = lambda a: a.code if a is not None else None  # noqa: E731
    return Chain(
        county_code=code(r.county),
        township_code=code(r.township),
        community_code=code(r.community),
        grid_code=code(r.grid) or code(r.dedicated_grid),
    )


def _own(principal: Principal) -> Chain:
    """The worker's own grid (when it has exactly one) in its county."""
    grids = sorted(principal.jurisdiction.grid_codes)
    counties = sorted(principal.jurisdiction.home_counties)
    return Chain(
        county_code=counties[0] if len(counties) == 1 else None,
        grid_code=grids[0] if len(grids) == 1 else None,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@router.post("/patrols", status_code=201, summary="Start a patrol (or the same one again)")
def start_patrol(
    body: PatrolStart,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    user_id = _person(principal)
    out = patrols.start_patrol(
        session,
        user_id=user_id,
        username=principal.name,
        team_id=principal.team_id,
        client_id=body.client_id,
        chain=patrols.patrol_chain(
            principal.jurisdiction, at=_routed(ctx, body.lon, body.lat), own=_own(principal)
        ),
        started_at=body.started_at or _now(),
    )
    audit_write(
        session,
        request,
        principal,
        action="patrol.start",
        target_type="patrol",
        target_id=out["id"],
    )
    session.commit()
    return out


@router.post("/patrols/{client_id}/points", summary="Add a numbered batch of track points")
def add_points(
    client_id: str, body: PointsIn, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    # Not audited per batch: the track is the record, and the start and end are audited.
    out = patrols.add_points(
        session,
        user_id=_person(principal),
        client_id=client_id,
        seq=body.seq,
        fixes=[Fix(lon=p.lon, lat=p.lat, at=p.at, accuracy_m=p.accuracy) for p in body.points],
    )
    session.commit()
    return out


@router.post("/patrols/{client_id}/end", summary="End a patrol")
def end_patrol(
    client_id: str, body: PatrolEnd, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    out = patrols.end_patrol(
        session, user_id=_person(principal), client_id=client_id, ended_at=body.ended_at or _now()
    )
    audit_write(
        session,
        request,
        principal,
        action="patrol.end",
        target_type="patrol",
        target_id=out["id"],
        details={"distance_m": out["distance_m"], "points": out["points"]},
    )
    session.commit()
    return out


@router.get("/patrols/mine", summary="My patrols today, with their tracks")
def my_patrols(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    if principal.kind != "user" or principal.id is None:
        return {"patrols": [], **_summary_none()}
    return {
        "patrols": patrols.my_patrols_today(session, user_id=principal.id),
        **patrols.day_summary(session, user_id=principal.id),
    }


def _summary_none() -> dict[str, Any]:
    return {"patrols_required": patrols.DAILY_PATROLS}


@router.get("/patrols/live", summary="Workers on patrol now: last position and its time")
def live(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    rows = patrols.live_patrols(session, jurisdiction=principal.jurisdiction)
    now = _now()
    workers = []
    for p in rows:
        last = p["last"]
        if last is None or last["at"] is None:
            continue
        age = (now - dt.datetime.fromisoformat(last["at"])).total_seconds()
        workers.append(
            {
                "username": p["username"],
                "patrol_id": p["id"],
                "grid_code": p["grid_code"],
                "lon": last["lon"],
                "lat": last["lat"],
                "at": last["at"],
                "age_s": max(0, round(age)),
                "distance_m": p["distance_m"],
                "started_at": p["started_at"],
            }
        )
    return {"workers": workers}


@router.get("/patrols", summary="Patrols in your areas since a time, with tracks")
def list_patrols(
    session: SessionDep,
    principal: PrincipalDep,
    since: Annotated[ZonedTime | None, Query(description="default: 24 hours ago")] = None,
) -> dict[str, Any]:
    start = since or _now() - dt.timedelta(days=1)
    return {
        "patrols": patrols.patrols_in(session, jurisdiction=principal.jurisdiction, since=start)
    }


@router.post("/visits", status_code=201, summary="Record a household visit (走访)")
def record_visit(
    body: VisitIn,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    out = visits.record_visit(
        session,
        user_id=_person(principal),
        username=principal.name,
        team_id=principal.team_id,
        client_id=body.client_id,
        chain=_routed(ctx, body.lon, body.lat) or _own(principal),
        building_code=body.building_code,
        kind=body.kind,
        note=body.note,
        lon=body.lon,
        lat=body.lat,
        visited_at=body.visited_at or _now(),
        jurisdiction=principal.jurisdiction,
    )
    audit_write(
        session,
        request,
        principal,
        action="visit.record",
        target_type="visit",
        target_id=out["id"],
        details={"kind": out["kind"], "building": out["building_code"]},
    )
    session.commit()
    return out


@router.get("/visits", summary="Visits in your areas since a time, and counts per grid and worker")
def list_visits(
    session: SessionDep,
    principal: PrincipalDep,
    since: Annotated[ZonedTime | None, Query(description="default: 24 hours ago")] = None,
) -> dict[str, Any]:
    start = since or _now() - dt.timedelta(days=1)
    return {
        "visits": visits.visits_in(session, jurisdiction=principal.jurisdiction, since=start),
        "counts": visits.counts(session, jurisdiction=principal.jurisdiction, since=start),
    }
