"""Mapbox Vector Tiles of the area layers, made by PostGIS, with zoom rules and a tile cache.

A tile shows one layer of one published boundary version. What a zoom shows is decided here
(`MIN_ZOOM`): grids only when zoomed in, communities from zoom 10, townships, the county and
enforcement zones always; below a layer's minimum zoom its tile is empty and costs nothing.
Geometry comes from `area_tile` (migration 0004), kept in step with `area` by triggers:
already in Web Mercator and simplified per zoom band (`DETAIL_ZOOMS`), so a request only
selects, clips and encodes. A published version never changes, so an encoded tile is cached
in process under (database, version, layer, z, x, y) and a new version is a new key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

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


@dataclass(frozen=True, slots=True)
class TileKey:
    database: str
    version_id: int
    layer: str
    z: int
    x: int
    y: int


class TileCache:
    """A thread-safe LRU of encoded tiles, bounded by total bytes.

    Also remembers which versions are published: that never changes once true, so a warm
    tile is answered without touching the database.
    """

    def __init__(self, *, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._tiles: OrderedDict[TileKey, bytes] = OrderedDict()
        self._size = 0
        self._published: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: TileKey) -> bytes | None:
        with self._lock:
            data = self._tiles.get(key)
            if data is None:
                self.misses += 1
                return None
            self._tiles.move_to_end(key)
            self.hits += 1
            return data

    def put(self, key: TileKey, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._tiles.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._tiles[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, evicted = self._tiles.popitem(last=False)
                self._size -= len(evicted)

    def is_published(self, database: str, version_id: int) -> bool:
        with self._lock:
            return (database, version_id) in self._published

    def mark_published(self, database: str, version_id: int) -> None:
        with self._lock:
            self._published.add((database, version_id))

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()
            self._published.clear()
            self._size = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._tiles)

    @property
    def size_bytes(self) -> int:
        return self._size


# The process's cache; `tile(cache=None)` bypasses it.
CACHE = TileCache()


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


def _tile_sql(layer: str, detail: int) -> str:
    # Layer and detail are literals (both checked against fixed lists above), so the planner
    # matches the layer's partial spatial index even in a generic, prepared plan.
    return f"""
        SELECT ST_AsMVT(t, '{layer}', {EXTENT}, 'geom', 'id') FROM (
            SELECT a.area_id AS id, a.code, a.name, a.households, a.layer, a.parent_code,
                   ST_AsMVTGeom(a.geom, ST_TileEnvelope(:z, :x, :y), {EXTENT}, {BUFFER}, true)
                     AS geom
            FROM area_tile a
            WHERE a.layer = '{layer}' AND a.detail = {detail}
              AND a.geom && ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT})
              AND a.valid_from <= :version AND (a.valid_to IS NULL OR a.valid_to > :version)
        ) t
        WHERE t.geom IS NOT NULL
    """


def _database(session: Session) -> str:
    """Which database a session reads: version ids are only unique within one."""
    return session.get_bind().engine.url.render_as_string(hide_password=True)


def require_published(
    session: Session, *, version_id: int, cache: TileCache | None = CACHE
) -> None:
    """Tiles show published versions only: a draft's id would show the active areas today
    and its own after activation, under one cache key."""
    database = _database(session)
    if cache is not None and cache.is_published(database, version_id):
        return
    activated = session.execute(
        text("SELECT activated_at IS NOT NULL FROM boundary_version WHERE id = :v"),
        {"v": version_id},
    ).scalar_one_or_none()
    if activated is None:
        raise NotFound(f"boundary version {version_id} does not exist")
    if not activated:
        raise NotFound(
            f"boundary version {version_id} is not published: tiles show published versions"
        )
    if cache is not None:
        cache.mark_published(database, version_id)


def tile(
    session: Session,
    *,
    layer: str,
    z: int,
    x: int,
    y: int,
    version_id: int,
    cache: TileCache | None = CACHE,
) -> bytes:
    """The encoded MVT of one layer of a published version (b"" when nothing is shown)."""
    check_layer(layer)
    check_tile(z, x, y)
    require_published(session, version_id=version_id, cache=cache)
    if not shown(layer, z):
        return b""
    key = TileKey(_database(session), version_id, layer, z, x, y)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    data = session.execute(
        text(_tile_sql(layer, detail_for(layer, z))),
        {"z": z, "x": x, "y": y, "version": version_id},
    ).scalar_one()
    encoded = bytes(data or b"")
    if cache is not None:
        cache.put(key, encoded)
    return encoded
