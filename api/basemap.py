"""The county's basemap over HTTP: `GET /tiles/basemap/{z}/{x}/{y}.pbf` (one MVT holding
every basemap layer), `GET /tiles/basemap/labels.json` (names to write in a view) and
`GET /tiles/basemap/sources.json` (each county's basemap: extent and attribution line)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from api.auth import PrincipalDep
from api.deps import ReadSessionDep, SessionDep
from api.errors import request_language
from gridmap.access import scope as area_scope
from gridmap.boundaries import basemap
from gridmap.boundaries import versions as boundaries
from gridmap.errors import InvalidInput

router = APIRouter(tags=["basemap"])

MVT = "application/vnd.mapbox-vector-tile"
# With ?r= (the basemap revision) a tile never changes; without, revalidate (ETag).
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, no-cache"


@router.get(
    "/tiles/basemap/{z}/{x}/{y}.pbf",
    summary="A basemap vector tile (roads, water, land use, buildings, names)",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 304: {"description": "not modified"}},
)
def get_basemap_tile(
    z: int,
    x: int,
    y: int,
    read: ReadSessionDep,
    session: SessionDep,
    principal: PrincipalDep,
    r: Annotated[int | None, Query(description="a basemap revision (default: current)")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    # The basemap is a map of the ground, the same for every viewer (gridmap.boundaries.basemap).
    del principal
    # Read on the replica when there is one (api/deps.py); a tile made there is kept
    # through the primary's session. A revision the replica has not replayed yet is read
    # on the primary.
    if read.get_bind() is session.get_bind():
        read = session  # no replica in use: one session, one connection
    current = basemap.revision(read) or 0
    if r is not None and r > current and read is not session:
        read = session
        current = basemap.revision(read) or 0
    rev = r if r is not None and r == current else current
    etag = f'"b{rev}-{z}-{x}-{y}-{basemap.RECIPE}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE if r == current else REVALIDATE}
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    data = basemap.tile(read, z=z, x=x, y=y, rev=rev or None, store_session=session)
    session.commit()  # a tile made here is kept in the shared store, on the primary
    return Response(content=data, media_type=MVT, headers=headers)


@router.get("/tiles/basemap/labels.json", summary="Names to write on the map in a view")
def basemap_labels(
    session: SessionDep,
    principal: PrincipalDep,
    bbox: Annotated[str, Query(description="west,south,east,north (WGS84)")],
    z: Annotated[int, Query(ge=0, le=22, description="the map's zoom")],
) -> dict[str, Any]:
    try:
        w, s, e, n = (float(v) for v in bbox.split(","))
    except ValueError as exc:
        raise InvalidInput(
            "bbox must be four numbers: west,south,east,north", details={"bbox": bbox}
        ) from exc
    active = boundaries.active_version(session)
    scope = (
        area_scope.scope_for(session, jurisdiction=principal.jurisdiction, version_id=active.id)
        if active is not None
        else area_scope.EVERYWHERE
    )
    found = basemap.labels(
        session,
        bbox=(w, s, e, n),
        z=z,
        scope=scope,
        version_id=active.id if active is not None else None,
    )
    return {"revision": basemap.revision(session), "labels": found}


@router.get(
    "/tiles/basemap/sources.json",
    summary="Each county's basemap: revision, extent, synthetic or not, attribution line",
)
def basemap_sources(
    request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    # The attribution is said in the caller's language (?lang=, else Accept-Language):
    # a synthetic basemap is labelled so; real data carries its source's line.
    del principal
    return {"sources": basemap.sources(session, lang=request_language(request))}
