"""Mapbox Vector Tiles of the area layers, made by PostGIS: the zoom rules and the tile statement.

A tile shows one layer of one published boundary version, as far as the asker's
jurisdiction reaches (`gridmap.access.scope`; filtered in the tile query). What a zoom shows
is decided here (`MIN_ZOOM`): grids only when zoomed in, communities from zoom 10,
townships, the county and enforcement zones always; below a layer's minimum zoom its tile
is empty and costs nothing. Geometry comes from `area_tile` (migrations 0004, 0007), kept
in step with `area` by triggers: already in Web Mercator and simplified per zoom band
(`DETAIL_ZOOMS`), so a request only selects, clips and encodes.

Keeping encoded tiles (in process and in `tile_store`), reading through both and
pre-rendering the costly ones is `gridmap.boundaries.tile_cache`; `RECIPE` here names
everything that decides a tile's bytes, so a stored tile made by other rules is never served.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.scope import EVERYWHERE, AreaScope
from gridmap.errors import InvalidInput, NotFound
from gridmap.models import LAYERS

MAX_ZOOM = 22
# The zoom above which clients overzoom the tiles of this one (TileJSON maxzoom).
MAX_NATIVE_ZOOM = 16
# Below this zoom a layer's tile is empty: 200,000 grids at zoom 11 are a grey smear that
# costs 40 ms median and 400 ms p99 to encode (the design field notes).
MIN_ZOOM: dict[str, int] = {
    "county": 0,
    "township": 0,
    "enforcement_zone": 0,
    "community": 10,
    "grid": 13,
    "dedicated_grid": 13,
    "micro_grid": 15,
}
# Zoom bands with a simplified copy in `area_tile`: a tile at zoom z reads the first band
# >= z, above the last band the unsimplified copy; a layer only has the bands of zooms it
# is drawn at. Frozen, with MIN_ZOOM, in migration 0004.
DETAIL_ZOOMS = (5, 8, 10, 11, 12)
FULL_DETAIL = 32
EXTENT = 4096  # MVT units per tile side
BUFFER = 64  # units of geometry kept beyond the tile edge, so strokes join across tiles
# The attributes a tile carries; the area id is the MVT feature id.
FIELDS: dict[str, str] = {
    "code": "String",
    "name": "String",
    "households": "Number",
    "layer": "String",
    "parent_code": "String",
}


# --- rules (pure) -----------------------------------------------------------------------


def check_layer(layer: str) -> str:
    if layer not in LAYERS:
        raise NotFound(f"no tile layer {layer!r}; layers: {', '.join(LAYERS)}")
    return layer


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse a tile address outside the zoom range or the tile matrix of its zoom."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"tile z={z}: zoom must be 0–{MAX_ZOOM}", details={"z": z})
    side = 1 << z
    if not (0 <= x < side and 0 <= y < side):
        raise InvalidInput(
            f"tile {z}/{x}/{y}: at zoom {z}, x and y must be 0–{side - 1}",
            details={"z": z, "x": x, "y": y},
        )


def shown(layer: str, z: int) -> bool:
    """Whether a layer's tile at zoom z has features at all."""
    return z >= MIN_ZOOM[layer]


def detail_for(layer: str, z: int) -> int:
    """Which simplified copy (`area_tile.detail`) a tile of this layer at zoom z reads."""
    return next((d for d in DETAIL_ZOOMS if z <= d), FULL_DETAIL)


# --- queries ----------------------------------------------------------------------------


def _tile_sql(layer: str, detail: int, where: str = "TRUE") -> str:
    # Layer and detail are literals (both checked against fixed lists above), so the planner
    # matches the layer's partial spatial index even in a generic, prepared plan. `where`
    # is the jurisdiction's fragment (`AreaScope.sql`), with bound parameters.
    return f"""
        SELECT ST_AsMVT(t, '{layer}', {EXTENT}, 'geom', 'id') FROM (
            SELECT a.area_id AS id, a.code, a.name, a.households, a.layer, a.parent_code,
                   ST_AsMVTGeom(a.geom, ST_TileEnvelope(:z, :x, :y), {EXTENT}, {BUFFER}, true)
                     AS geom
            FROM area_tile a
            WHERE a.layer = '{layer}' AND a.detail = {detail}
              AND a.geom && ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT})
              AND a.valid_from <= :version AND (a.valid_to IS NULL OR a.valid_to > :version)
              AND {where}
        ) t
        WHERE t.geom IS NOT NULL
    """


def _recipe() -> str:
    """A name for everything that decides a tile's bytes: a stored tile made by other rules
    or another query is never served (a new recipe is a new key)."""
    sample_scope = AreaScope(everywhere=False, county_codes=frozenset("C"), codes=frozenset("A"))
    parts = (
        MIN_ZOOM,
        DETAIL_ZOOMS,
        FULL_DETAIL,
        FIELDS,
        _tile_sql("LAYER", 0, "WHERE"),
        sample_scope.sql("a"),  # the jurisdiction rule, which `AreaScope.key` does not name
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


RECIPE = _recipe()


def render_tile(
    session: Session,
    *,
    layer: str,
    z: int,
    x: int,
    y: int,
    version_id: int,
    scope: AreaScope = EVERYWHERE,
) -> bytes:
    """Encode one tile in PostGIS, without any cache (checked arguments assumed)."""
    where, params = scope.sql("a")
    data = session.execute(
        text(_tile_sql(layer, detail_for(layer, z), where)),
        {"z": z, "x": x, "y": y, "version": version_id, **params},
    ).scalar_one()
    return bytes(data or b"")
