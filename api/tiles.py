"""Vector tiles over HTTP: `GET /tiles/{layer}/{z}/{x}/{y}.pbf`, the layer's TileJSON, and
the worker's background pre-rendering of costly tiles."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.orm import Session

from api.auth import PrincipalDep
from api.context import AppContext
from api.deps import ReadSessionDep, SessionDep
from api.listener import StreamListener
from gridmap.access import scope as area_scope
from gridmap.boundaries import features, tile_cache, tiles
from gridmap.boundaries import versions as boundaries
from gridmap.db import make_engine
from gridmap.errors import NotFound

router = APIRouter(tags=["vector tiles"])

MVT = "application/vnd.mapbox-vector-tile"
# A published version never changes: its tiles may be kept for good.
IMMUTABLE = "public, max-age=31536000, immutable"
# Without ?v= the tile is the active version's: ask again each time (the ETag makes that a
# 304), so a map never shows the old boundaries after a new version is published.
REVALIDATE = "public, no-cache"
# A tile cut to a user's jurisdiction is that user's: never from a shared cache to another.
PRIVATE_IMMUTABLE = "private, max-age=31536000, immutable"
PRIVATE_REVALIDATE = "private, no-cache"
# Who asks decides what a tile holds, so a browser's own cache keys on the login too.
VARY = "Cookie, Authorization"
WORLD = [-180.0, -85.0511, 180.0, 85.0511]


def _active(session: Session) -> int:
    active = boundaries.active_version(session)
    if active is None:
        raise NotFound("no boundary version is active yet")
    return active.id


def _published_on(read: Session, primary: Session, version: int | None) -> tuple[Session, int]:
    """The session to read a version's tiles in, and the version (default: the active one).

    `read` may be the read replica's (api/deps.py): a version published on the primary
    and not yet replayed there is read on the primary instead of answered 404. Without
    ?v= the replica's active version is answered, as stale as its lag (bounded).
    """
    if read.get_bind() is primary.get_bind():
        # No replica in use: one session, one connection, reading and keeping alike.
        read = primary
    resolved = version if version is not None else _active(read)
    try:
        tile_cache.require_published(read, version_id=resolved)
    except NotFound:
        if read is primary:
            raise
        tile_cache.require_published(primary, version_id=resolved)
        return primary, resolved
    return read, resolved


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.pbf",
    summary="A Mapbox Vector Tile of a layer",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 304: {"description": "not modified"}},
)
def get_tile(
    layer: str,
    z: int,
    x: int,
    y: int,
    read: ReadSessionDep,
    session: SessionDep,
    principal: PrincipalDep,
    v: Annotated[
        int | None, Query(description="a published boundary version (default: the active one)")
    ] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    tiles.check_layer(layer)
    tiles.check_tile(z, x, y)
    # Read on the replica when there is one; a tile made on a miss is kept through the
    # primary's session (a standby cannot be written), which opens no connection otherwise.
    read, version = _published_on(read, session, v)
    scope = area_scope.scope_for(read, jurisdiction=principal.jurisdiction, version_id=version)
    shared = tile_cache.tile_scope(read, scope=scope, version_id=version)
    etag = f'"v{version}-{shared.key}-{layer}-{z}-{x}-{y}-{tiles.RECIPE}"'
    # Even a county-wide user's tile is private: a shared cache that ignored `Vary` would
    # otherwise hand it to a township user asking for the same address.
    if scope.everywhere:
        cache_control = IMMUTABLE if v is not None else REVALIDATE
    else:
        cache_control = PRIVATE_IMMUTABLE if v is not None else PRIVATE_REVALIDATE
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": VARY}
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    data = tile_cache.tile(
        read, layer=layer, z=z, x=x, y=y, version_id=version, scope=scope, store_session=session
    )
    session.commit()  # a tile made here is kept in the shared store, on the primary
    return Response(content=data, media_type=MVT, headers=headers)


@router.get("/tiles/{layer}.json", summary="TileJSON 3.0 of a layer")
def tilejson(
    layer: str,
    request: Request,
    read: ReadSessionDep,
    session: SessionDep,
    v: Annotated[int | None, Query(description="a published boundary version")] = None,
) -> Response:
    tiles.check_layer(layer)
    read, version = _published_on(read, session, v)
    bounds = features.layer_extent(read, layer=layer, version_id=version)
    base = str(request.base_url).rstrip("/")
    minzoom = tiles.MIN_ZOOM[layer]
    maxzoom = max(minzoom, tiles.MAX_NATIVE_ZOOM)
    body: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": f"gridmap {layer}",
        "scheme": "xyz",
        # The version is in the tile URL, so a tile is cacheable for good; a client that
        # hears `boundaries.published` fetches this document again.
        "tiles": [f"{base}/tiles/{layer}/{{z}}/{{x}}/{{y}}.pbf?v={version}"],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": list(bounds) if bounds else WORLD,
        "vector_layers": [
            {
                "id": layer,
                "fields": tiles.FIELDS,
                "minzoom": minzoom,
                "maxzoom": maxzoom,
            }
        ],
        "version": "1.0.0",
        "gridmap_version": version,
    }
    if bounds:
        body["center"] = [
            (bounds[0] + bounds[2]) / 2,
            (bounds[1] + bounds[3]) / 2,
            max(minzoom, 10),
        ]
    return Response(
        content=json.dumps(body, ensure_ascii=False),
        media_type="application/json",
        headers={"Cache-Control": REVALIDATE},
    )


def start_prerendering(ctx: AppContext, listener: StreamListener) -> tile_cache.Prerenderer:
    """Pre-render the active version's costly tiles now (those missing) and after every
    publication, in this worker's background thread; stop it with `.stop()`."""
    # Its own one-connection engine: rendering, or waiting while another worker renders,
    # never takes a connection the requests' pool counts on.
    engine = make_engine(ctx.database_url, pool_size=1, max_overflow=0)
    renderer = tile_cache.Prerenderer(engine, dispose_engine=True)
    listener.on_boundaries(renderer.wake)
    renderer.wake()
    return renderer
