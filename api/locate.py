"""GET/POST /api/locate: route one point or many (see docs/api.md for the answer's shape).

A caller with a jurisdiction is answered only for points inside its areas: elsewhere
`GET` answers 403 and a batch carries an error in that point's place (docs/security.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.auth import PrincipalDep
from api.deps import ContextDep
from gridmap.access import AreaScope, Principal
from gridmap.access import scope as area_scope
from gridmap.errors import InvalidInput, NotFound, PayloadTooLarge, PermissionDenied
from gridmap.events import ZonedTime, load_json
from gridmap.routing import Router

router = APIRouter(prefix="/api", tags=["routing"])

# A batch answer carries ~600 bytes a point: past this, use `gridmap route FILE`.
MAX_BATCH_POINTS = 100_000
MAX_BATCH_BYTES = 16 * 1024 * 1024


def _router(ctx: ContextDep) -> Router:
    if ctx.router is None:
        raise NotFound("routing is not ready: no boundary version is active")
    router: Router = ctx.router
    return router


def _scope(ctx: ContextDep, principal: Principal, version: int | None) -> AreaScope | None:
    """The caller's areas in the version a point was routed under; None when unscoped."""
    if principal.jurisdiction.everywhere:
        return None
    if version is None:
        return AreaScope(everywhere=False)  # nothing was placed: nothing is in scope
    with ctx.sessions() as session:
        return area_scope.scope_for(
            session, jurisdiction=principal.jurisdiction, version_id=version
        )


def _refusal(lon: float, lat: float) -> str:
    return (
        f"the point ({lon}, {lat}) lies outside your areas: only the county command "
        "center may say who answers for it"
    )


@router.get("/locate", summary="Route one point: grid, chain, team, decision and flags")
def locate_one(
    ctx: ContextDep,
    principal: PrincipalDep,
    lon: Annotated[float, Query(description="longitude (or x in a projected EPSG system)")],
    lat: Annotated[float, Query(description="latitude (or y)")],
    crs: Annotated[str, Query(description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:nnnn")] = (
        "wgs84"
    ),
    category: Annotated[str | None, Query(description="a code from /api/categories")] = None,
    at: Annotated[
        ZonedTime | None, Query(description="answer as of this moment (with a time zone)")
    ] = None,
) -> dict[str, Any]:
    if at is not None and at.tzinfo is None:
        raise InvalidInput("at: give a time zone, e.g. 2026-03-01T09:00:00+08:00")
    result = _router(ctx).route(lon, lat, crs=crs, category=category, at=at)
    if not area_scope.routed_inside(_scope(ctx, principal, result.version), result):
        raise PermissionDenied(_refusal(lon, lat), details={"lon": lon, "lat": lat, "crs": crs})
    return result.to_dict()


def _parse_batch(body: Any) -> tuple[list[float], list[float], str, str | None]:
    """Accept {"crs", "category", "points": [[lon, lat], …]} or a FeatureCollection."""
    if not isinstance(body, dict):
        raise InvalidInput("body: expected a JSON object")
    crs = body.get("crs") or "wgs84"
    category = body.get("category")
    points: list[Any]
    if body.get("type") == "FeatureCollection":
        points = []
        for i, feature in enumerate(body.get("features") or []):
            geometry = (feature or {}).get("geometry") or {}
            if geometry.get("type") != "Point":
                raise InvalidInput(
                    f"features[{i}]: expected a Point geometry, got {geometry.get('type')!r}",
                    details={"index": i},
                )
            points.append(geometry.get("coordinates"))
    else:
        raw_points = body.get("points")
        if not isinstance(raw_points, list):
            raise InvalidInput('body: expected "points": [[lon, lat], …] or a FeatureCollection')
        points = raw_points
    if len(points) > MAX_BATCH_POINTS:
        raise PayloadTooLarge(
            f"{len(points)} points in one request; at most {MAX_BATCH_POINTS} "
            "(use `gridmap route FILE` for more)",
            details={"points": len(points), "max": MAX_BATCH_POINTS},
        )
    lons, lats = [], []
    for i, p in enumerate(points):
        if (
            not isinstance(p, list | tuple)
            or len(p) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in p[:2])
        ):
            raise InvalidInput(
                f"points[{i}]: expected [lon, lat] numbers, got {p!r}"[:200], details={"index": i}
            )
        lons.append(float(p[0]))
        lats.append(float(p[1]))
    return lons, lats, crs, category


@router.post("/locate", summary="Route many points; results in input order")
async def locate_many(ctx: ContextDep, principal: PrincipalDep, request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
        raise PayloadTooLarge(
            f"request body of {int(declared)} bytes; at most {MAX_BATCH_BYTES}",
            details={"max_bytes": MAX_BATCH_BYTES},
        )
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BATCH_BYTES:
            raise PayloadTooLarge(f"request body over {MAX_BATCH_BYTES} bytes")
    body = load_json(raw)
    lons, lats, crs, category = _parse_batch(body)
    router = _router(ctx)

    def work() -> list[dict[str, Any]]:
        # Checks the category once, up front, with the single-point rules.
        if category is not None and lons:
            router.route(lons[0], lats[0], crs=crs, category=category)
        batch = router.route_many(lons, lats, crs=crs)
        results = [
            router.result_at(
                batch, i, input_lon=lons[i], input_lat=lats[i], crs=crs, category=category
            )
            for i in range(len(batch))
        ]
        scopes: dict[int | None, AreaScope | None] = {}
        out: list[dict[str, Any]] = []
        for i, result in enumerate(results):
            if result.version not in scopes:
                scopes[result.version] = _scope(ctx, principal, result.version)
            if area_scope.routed_inside(scopes[result.version], result):
                out.append(result.to_dict())
            else:
                # One refused point must not cost the caller the rest of its batch.
                out.append(
                    {
                        "input": {"lon": lons[i], "lat": lats[i], "crs": crs},
                        "error": {
                            "code": PermissionDenied.code,
                            "message": _refusal(lons[i], lats[i]),
                            "details": {"index": i},
                        },
                    }
                )
        return out

    return {"results": await run_in_threadpool(work)}
