"""GET/POST /api/locate: route one point or many (see docs/api.md for the answer's shape)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import ContextDep
from gridmap.errors import InvalidInput, NotFound, PayloadTooLarge
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


@router.get("/locate", summary="Route one point: grid, chain, team, decision and flags")
def locate_one(
    ctx: ContextDep,
    lon: Annotated[float, Query(description="longitude (or x in a projected EPSG system)")],
    lat: Annotated[float, Query(description="latitude (or y)")],
    crs: Annotated[str, Query(description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:nnnn")] = (
        "wgs84"
    ),
    category: Annotated[str | None, Query(description="a code from /api/categories")] = None,
    at: Annotated[dt.datetime | None, Query(description="answer as of this moment")] = None,
) -> dict[str, Any]:
    if at is not None and at.tzinfo is None:
        raise InvalidInput("at: give a time zone, e.g. 2026-03-01T09:00:00+08:00")
    return _router(ctx).route(lon, lat, crs=crs, category=category, at=at).to_dict()


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
async def locate_many(ctx: ContextDep, request: Request) -> dict[str, Any]:
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
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body is not JSON: {exc}") from exc
    lons, lats, crs, category = _parse_batch(body)
    router = _router(ctx)

    def work() -> list[dict[str, Any]]:
        # Checks the category once, up front, with the single-point rules.
        if category is not None and lons:
            router.route(lons[0], lats[0], crs=crs, category=category)
        batch = router.route_many(lons, lats, crs=crs)
        return [
            router.result_at(
                batch, i, input_lon=lons[i], input_lat=lats[i], crs=crs, category=category
            ).to_dict()
            for i in range(len(batch))
        ]

    return {"results": await run_in_threadpool(work)}
