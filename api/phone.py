"""The grid worker's phone (`/m`): the page, its web app manifest and service worker, and
the two reads only the phone makes (my grid, my team's tasks).

Reports go through the one ingest (`POST /api/events`), task actions through the one
workflow route and photos through the one photo route: the phone adds no second way to
write an event.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.auth import PrincipalDep
from api.deps import ContextDep, SessionDep
from api.events import event_out
from gridmap import patrols, phone_grid, visits
from gridmap.access import scope as area_scope
from gridmap.boundaries import versions as boundaries
from gridmap.errors import NotFound
from web_map.assets import STATIC_DIR
from web_map.phone_page import build_phone_page, manifest

router = APIRouter(tags=["phone"])

SW_FILE = STATIC_DIR / "js" / "phone_sw.js"


@router.get("/m", response_class=HTMLResponse, summary="The grid worker's phone page (网格员)")
def phone_page(
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    lang: Annotated[str | None, Query(description="zh (default) or en")] = None,
) -> HTMLResponse:
    counties = sorted(principal.jurisdiction.home_counties)
    page = build_phone_page(
        lang=lang or ctx.settings.default_lang,
        tile_url=ctx.settings.tile_url,
        may={
            "report": principal.may("events.ingest"),
            "start": principal.may("event.start"),
            "report_back": principal.may("event.report_back"),
            "return": principal.may("event.return"),
            "photo": principal.may("events.photo"),
            "reporter": principal.may("events.reporter"),
            "patrol": principal.may("patrols.record") and principal.kind == "user",
        },
        user=principal.name,
        county=counties[0] if len(counties) == 1 else None,
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


@router.get("/m/manifest.webmanifest", include_in_schema=False)
def phone_manifest(lang: str = "zh") -> Response:
    return Response(
        json.dumps(manifest(lang), ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/m/sw.js", include_in_schema=False)
def phone_service_worker() -> FileResponse:
    # Served under /m/ so its scope can be the page itself ("/m", allowed by the header);
    # never cached by HTTP, so a new version reaches the phone at its next visit.
    return FileResponse(
        SW_FILE,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/m"},
    )


@router.get("/api/phone/grid", summary="My grid: my grids, their buildings, neighbours' edges")
def my_grid(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    active = boundaries.active_version(session)
    if active is None:
        raise NotFound("no boundary version is active")
    scope = area_scope.scope_for(session, jurisdiction=principal.jurisdiction, version_id=active.id)
    return {"version": active.id, **phone_grid.my_grid(session, version_id=active.id, scope=scope)}


@router.get("/api/phone/tasks", summary="My team's tasks (待办), nearest deadline first")
def my_tasks(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    rows = phone_grid.team_tasks(
        session, jurisdiction=principal.jurisdiction, team_id=principal.team_id
    )
    return {"events": [event_out(session, e).model_dump(mode="json") for e in rows]}


@router.get("/api/phone/today", summary="My day (今日): reports, tasks started and handled")
def my_day(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    counts: dict[str, Any] = phone_grid.today_counts(session, actor=principal.actor)
    if principal.kind == "user" and principal.id is not None:
        day = patrols.day_summary(session, user_id=principal.id)
        counts["patrols"] = f"{day['patrols_done']}/{day['patrols_required']}"
        counts["patrol_distance_m"] = day["patrol_distance_m"]
        counts["patrol_minutes"] = day["patrol_minutes"]
        counts["visits"] = visits.visits_today(session, user_id=principal.id)
    return {"counts": counts}
