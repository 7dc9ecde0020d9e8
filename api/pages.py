"""The map pages and their self-hosted assets: `GET /` (the command view), `GET /editor`
(the boundary editor) and `GET /static/...`."""

from __future__ import annotations

import logging
import re
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from api.auth import PrincipalDep, me_of, route_action
from api.context import AppContext
from api.deps import ContextDep, SessionDep
from gridmap.access import WORKFLOW_ACTIONS, Principal
from gridmap.access import scope as area_scope
from gridmap.boundaries import features
from gridmap.boundaries import versions as boundaries
from gridmap.errors import NotFound
from gridmap.events import list_categories
from gridmap.models import BoundaryVersion
from web_map.assets import static_file, vendor_missing
from web_map.command_view import build_command_view
from web_map.editor import build_editor
from web_map.page_assets import page_asset

log = logging.getLogger("gridmap.api")
router = APIRouter(tags=["pages"])

# Which route (method, path template) gives the page which feature.
_FEATURE_ROUTES: dict[str, tuple[str, str]] = {
    "ogc": ("GET", "/ogc/collections/{layer}/items"),
    "tiles": ("GET", "/tiles/{layer}/{z}/{x}/{y}.pbf"),
    "basemap": ("GET", "/tiles/basemap/{z}/{x}/{y}.pbf"),
    "patrols": ("GET", "/api/patrols/live"),
    "locate": ("GET", "/api/locate"),
    "categories": ("GET", "/api/categories"),
    "events": ("GET", "/api/events"),
    "event": ("GET", "/api/events/{event_id}"),
    "event_log": ("GET", "/api/events/{event_id}/log"),
    "event_actions": ("POST", "/api/events/{event_id}/actions/{action}"),
    "place": ("POST", "/api/events/{event_id}/place"),
    "triage": ("GET", "/api/events/triage"),
    "photos": ("GET", "/api/events/{event_id}/photos"),
    "stream": ("GET", "/api/stream"),
    "stats": ("GET", "/api/stats"),
    "queues": ("GET", "/api/queues"),
    "acknowledge": ("POST", "/api/events/{event_id}/acknowledge"),
    "me": ("GET", "/api/auth/me"),
    "logout": ("POST", "/api/auth/logout"),
    # The event panel: the reporter's number for a return call, the team picker.
    "reporter": ("GET", "/api/events/{event_id}/reporter"),
    "team_candidates": ("GET", "/api/events/{event_id}/team-candidates"),
}
_PARAM = re.compile(r"\{[^}]*\}")


def api_features(app: FastAPI) -> list[str]:
    """The page features whose endpoints this app serves (the page calls no missing one).

    Read from the OpenAPI description: FastAPI no longer flattens included routers into
    `app.routes`, and the schema is the public list of what the service answers.
    """
    served: set[tuple[str, str]] = set()
    for path, operations in app.openapi().get("paths", {}).items():
        blank = _PARAM.sub("{}", path)
        served.update((method.upper(), blank) for method in operations)
    # Plain routes outside the schema (a hidden endpoint still serves the page).
    for route in app.routes:
        if isinstance(route, Route) and route.include_in_schema is False:
            served.update((m, _PARAM.sub("{}", route.path)) for m in route.methods or ())
    return [
        name
        for name, (method, path) in _FEATURE_ROUTES.items()
        if (method, _PARAM.sub("{}", path)) in served
    ]


def features_for(principal: Principal, served: list[str]) -> list[str]:
    """The served features this caller's role may use: a grid worker's page does not ask
    for statistics only to be refused (a 403 is a console error on the wall screen)."""
    allowed = []
    for name in served:
        method, path = _FEATURE_ROUTES[name]
        action = route_action(method, path, {})
        if action is not None and principal.may(action):
            allowed.append(name)
    return allowed


def _coverage_bounds(
    session: SessionDep, principal: Principal, active: BoundaryVersion | None
) -> tuple[float, float, float, float] | None:
    """Where the caller's areas of the active version are, so the page opens on them (a
    township operator's map on the township; the page fitting itself after its layers
    arrive raced Leaflet's own first view and sometimes lost)."""
    if active is None:
        return None
    scope = area_scope.scope_for(session, jurisdiction=principal.jurisdiction, version_id=active.id)
    # The widest layer the caller sees: a county user's county, a township operator's
    # township (the county outline is outside its scope), a community's or grid's grids.
    for layer in ("county", "township", "grid"):
        extent = features.layer_extent(session, layer=layer, version_id=active.id, scope=scope)
        if extent is not None:
            return extent
    return None


@router.get("/", response_class=HTMLResponse, summary="The command view (一张图)")
def command_view(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    lang: Annotated[str | None, Query(description="zh (default) or en")] = None,
    q: Annotated[str, Query(max_length=200, description="pre-filled search")] = "",
) -> HTMLResponse:
    missing = vendor_missing()
    if missing:
        log.warning("map assets missing (run `npm ci` in web_map/static): %s", missing)
    active = boundaries.active_version(session)
    features = features_for(principal, api_features(request.app))
    page = build_command_view(
        lang=lang or ctx.settings.default_lang,
        tile_url=ctx.settings.tile_url,
        bounds=_coverage_bounds(session, principal, active),
        api_features=features,
        query=q,
        version=active.id if active else None,
        may_act=[a for a in WORKFLOW_ACTIONS if principal.may(f"event.{a}")],
        # What the page would ask for first (as GET /api/categories and /api/auth/me do).
        categories=list_categories(session, county_code=None) if "categories" in features else None,
        me=me_of(session, principal) if "me" in features else None,
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


@router.get("/editor", response_class=HTMLResponse, summary="The boundary editor (网格边界编辑)")
def editor(
    ctx: ContextDep,
    lang: Annotated[str | None, Query(description="zh (default) or en")] = None,
    scope: Annotated[
        str, Query(max_length=40, description="community or township code to open")
    ] = "",
) -> HTMLResponse:
    missing = vendor_missing()
    if missing:
        log.warning("map assets missing (run `npm ci` in web_map/static): %s", missing)
    page = build_editor(
        lang=lang or ctx.settings.default_lang,
        tile_url=ctx.settings.tile_url,
        households_min=ctx.settings.households_min,
        households_max=ctx.settings.households_max,
        scope=scope,
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


# The settings this process has rendered the pages for, to make their files.
_rendered_for: set[tuple[object, ...]] = set()


def _page_asset(ctx: AppContext, name: str) -> Response:
    """A page's set-up script or style, moved out of the page (web_map/page_assets.py)."""
    asset = page_asset(name)
    s = ctx.settings
    key = (s.default_lang, s.tile_url, s.households_min, s.households_max)
    if asset is None and key not in _rendered_for:
        # Made when a page is rendered; this worker may not have rendered one yet (the
        # page came from another worker). The files are the same for every caller, so
        # rendering the pages here makes the same names. Once per process and settings:
        # an unknown name asked again is a 404 without rendering anything.
        _rendered_for.add(key)
        build_command_view(lang=s.default_lang, tile_url=s.tile_url)
        build_editor(
            lang=s.default_lang,
            tile_url=s.tile_url,
            households_min=s.households_min,
            households_max=s.households_max,
        )
        asset = page_asset(name)
    if asset is None:
        raise NotFound(f"no static file {'page/' + name!r}", details={"path": "page/" + name})
    # The name is the content's hash: a changed page asks for another name.
    return Response(
        asset.body,
        media_type=asset.media_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


@router.get("/static/{path:path}", include_in_schema=False)
def static(path: str, ctx: ContextDep) -> Response:
    """Our js/css/img, the pages' moved-out scripts and styles, and the plugins' dist
    folders only; never a listing of node_modules."""
    if path.startswith("page/"):
        return _page_asset(ctx, path.removeprefix("page/"))
    found = static_file(path)
    if found is None:
        raise NotFound(f"no static file {path!r}", details={"path": path})
    # Vendor files are pinned by package-lock.json: a day's caching is safe; ours change
    # with each deploy, so the browser revalidates them (ETag / Last-Modified).
    cache = "public, max-age=86400" if path.startswith("vendor/") else "no-cache"
    return FileResponse(found, headers={"Cache-Control": cache})
