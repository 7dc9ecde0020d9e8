"""Keeping encoded tiles: the in-process cache, the shared store, and pre-rendering.

A published version never changes, so an encoded tile (`gridmap.boundaries.tiles`) is kept
at two levels: in process (`TileCache`, an LRU) and, up to `STORE_MAX_ZOOM`, in PostgreSQL
(`tile_store`, shared by every worker and surviving restarts). `tile` reads through both.
When a version is published, `prerender` fills the store with the version's costly
unscoped tiles (a zoom-13 tile over a dense core holds ~4,000 grids), one process at a
time, so a map rarely meets a cold costly tile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gridmap.access.scope import EVERYWHERE, AreaScope
from gridmap.boundaries import tiles
from gridmap.boundaries.tiles import check_layer, check_tile, detail_for, render_tile, shown
from gridmap.errors import NotFound
from gridmap.models import LAYERS

log = logging.getLogger("gridmap.tiles")

# Tiles up to this zoom go to `tile_store`: above it a county has tens of thousands of
# tiles per layer, each cheap (a zoom-15 tile over the megacity's core: 28 ms p99 cold).
STORE_MAX_ZOOM = 14
# `prerender` makes the tiles whose features hold at least this many vertices: encoding
# costs about 4–8 µs a vertex (bench/tiles.py), so these are the tiles above ~10 ms cold.
PRERENDER_MIN_POINTS = 2000
# Half the side of the Web Mercator square, metres.
ORIGIN = 20037508.342789244


@dataclass(frozen=True, slots=True)
class TileKey:
    database: str
    version_id: int
    layer: str
    z: int
    x: int
    y: int
    scope: str = "all"  # `AreaScope.key`


class TileCache:
    """A thread-safe LRU of encoded tiles, bounded by total bytes.

    Also remembers which versions are published, and the counties each holds: neither
    changes once published, so a warm tile is answered without touching the database.
    """

    def __init__(self, *, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._tiles: OrderedDict[TileKey, bytes] = OrderedDict()
        self._size = 0
        self._published: set[tuple[str, int]] = set()
        self._counties: dict[tuple[str, int], frozenset[str]] = {}
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

    def counties(self, database: str, version_id: int) -> frozenset[str] | None:
        with self._lock:
            return self._counties.get((database, version_id))

    def set_counties(self, database: str, version_id: int, counties: frozenset[str]) -> None:
        with self._lock:
            self._counties[(database, version_id)] = counties

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()
            self._published.clear()
            self._counties.clear()
            self._size = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._tiles)

    @property
    def size_bytes(self) -> int:
        return self._size


# The process's cache; `tile(cache=None)` bypasses it.
CACHE = TileCache()


def stored(z: int) -> bool:
    """Whether tiles of zoom z are kept in `tile_store`."""
    return z <= STORE_MAX_ZOOM


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


def tile_scope(
    session: Session, *, scope: AreaScope, version_id: int, cache: TileCache | None = CACHE
) -> AreaScope:
    """The scope a tile is made and kept under: a jurisdiction over every county the
    (published) version holds sees what the unscoped tile shows, so it shares that tile,
    pre-rendered, instead of a copy of its own (a county's command centre is such a user)."""
    if scope.everywhere or not scope.county_codes:
        return scope
    database = _database(session)
    counties = cache.counties(database, version_id) if cache is not None else None
    if counties is None:
        counties = frozenset(
            session.scalars(
                text(
                    "SELECT DISTINCT county_code FROM area "
                    "WHERE valid_from <= :v AND (valid_to IS NULL OR valid_to > :v)"
                ),
                {"v": version_id},
            )
        )
        if cache is not None:
            cache.set_counties(database, version_id, counties)
    return EVERYWHERE if counties <= scope.county_codes else scope


def _stored_key(address: TileAddress, version_id: int, scope_key: str) -> dict[str, Any]:
    """The bound parameters that name a tile in `tile_store`, made by this recipe."""
    return {
        "v": version_id,
        "r": tiles.RECIPE,
        "s": scope_key,
        "layer": address.layer,
        "z": address.z,
        "x": address.x,
        "y": address.y,
    }


def read_stored_tile(
    session: Session, *, layer: str, z: int, x: int, y: int, version_id: int, scope_key: str
) -> bytes | None:
    """The stored tile made by this recipe, or None."""
    data = session.execute(
        text(
            "SELECT data FROM tile_store WHERE version_id = :v AND recipe = :r AND scope = :s "
            "AND layer = :layer AND z = :z AND x = :x AND y = :y"
        ),
        _stored_key(TileAddress(layer, z, x, y), version_id, scope_key),
    ).scalar_one_or_none()
    return None if data is None else bytes(data)


def store_tile(
    session: Session,
    *,
    layer: str,
    z: int,
    x: int,
    y: int,
    version_id: int,
    scope_key: str,
    data: bytes,
    render_ms: float,
) -> None:
    """Keep a tile in `tile_store` (flushed, not committed). Two workers making the same
    tile at once write the same bytes: the second is ignored.

    The caller's transaction then commits without waiting for the disk: a stored tile is
    a copy, one lost in a crash is made again, and the wait (an fsync) would cost a first
    visit more than making a cheap tile does.
    """
    session.execute(text("SET LOCAL synchronous_commit = off"))
    session.execute(
        text(
            "INSERT INTO tile_store (version_id, recipe, scope, layer, z, x, y, data, render_ms) "
            "VALUES (:v, :r, :s, :layer, :z, :x, :y, :data, :ms) ON CONFLICT DO NOTHING"
        ),
        {
            **_stored_key(TileAddress(layer, z, x, y), version_id, scope_key),
            "data": data,
            "ms": render_ms,
        },
    )


def _make_tile(
    session: Session,
    address: TileAddress,
    *,
    version_id: int,
    scope: AreaScope,
    keep_in: Session | None,
    keep_empty: bool,
) -> bytes:
    """Encode a tile in `session` and, with `keep_in`, keep it in `tile_store` there with
    the time it took to make (an empty tile only with `keep_empty`)."""
    start = time.perf_counter()
    data = render_tile(
        session,
        layer=address.layer,
        z=address.z,
        x=address.x,
        y=address.y,
        version_id=version_id,
        scope=scope,
    )
    if keep_in is not None and (data or keep_empty):
        store_tile(
            keep_in,
            layer=address.layer,
            z=address.z,
            x=address.x,
            y=address.y,
            version_id=version_id,
            scope_key=scope.key,
            data=data,
            render_ms=(time.perf_counter() - start) * 1000,
        )
    return data


def tile(
    session: Session,
    *,
    layer: str,
    z: int,
    x: int,
    y: int,
    version_id: int,
    scope: AreaScope = EVERYWHERE,
    cache: TileCache | None = CACHE,
    store: bool = True,
    store_session: Session | None = None,
) -> bytes:
    """The encoded MVT of one layer of a published version, as far as `scope` reaches
    (b"" when nothing is shown).

    Read through the in-process `cache`, then (with `store`, up to `STORE_MAX_ZOOM`) the
    shared `tile_store`; a tile made here is written to both. Writing to the store is
    flushed in `store_session`'s transaction (default: `session`), which the caller
    commits (without waiting for the disk: see `store_tile`). `session` may be a read
    replica's, which cannot be written: then `store_session` is the primary's.
    """
    check_layer(layer)
    check_tile(z, x, y)
    require_published(session, version_id=version_id, cache=cache)
    if not shown(layer, z):
        return b""
    keeper = store_session if store_session is not None else session
    scope = tile_scope(session, scope=scope, version_id=version_id, cache=cache)
    # Keyed by the database the tile is kept in: a replica is a copy of it, so a tile read
    # there and one read on the primary are the same tile, cached once.
    key = TileKey(_database(keeper), version_id, layer, z, x, y, scope.key)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    use_store = store and stored(z)
    encoded = None
    if use_store:
        encoded = read_stored_tile(
            session, layer=layer, z=z, x=x, y=y, version_id=version_id, scope_key=scope.key
        )
    if encoded is None:
        # An empty tile is not worth a write: making it again is one index probe.
        encoded = _make_tile(
            session,
            TileAddress(layer, z, x, y),
            version_id=version_id,
            scope=scope,
            keep_in=keeper if use_store else None,
            keep_empty=False,
        )
    if cache is not None:
        cache.put(key, encoded)
    return encoded


# --- pre-rendering ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TileAddress:
    layer: str
    z: int
    x: int
    y: int


# Per zoom, the vertices of the layer's features whose bounding box touches each tile:
# what encoding the tile costs, estimated in one pass over the layer instead of by making
# every tile of the county.
_COST_SQL = text(
    """
    SELECT x, y, sum(points)::bigint AS points
    FROM (
        SELECT ST_NPoints(a.geom) AS points,
               floor((ST_XMin(a.geom) + :origin) / :size)::int AS x0,
               floor((ST_XMax(a.geom) + :origin) / :size)::int AS x1,
               floor((:origin - ST_YMax(a.geom)) / :size)::int AS y0,
               floor((:origin - ST_YMin(a.geom)) / :size)::int AS y1
        FROM area_tile a
        WHERE a.layer = :layer AND a.detail = :detail
          AND a.valid_from <= :version AND (a.valid_to IS NULL OR a.valid_to > :version)
    ) f
    CROSS JOIN LATERAL generate_series(greatest(f.x0, 0), least(f.x1, :last)) AS x
    CROSS JOIN LATERAL generate_series(greatest(f.y0, 0), least(f.y1, :last)) AS y
    GROUP BY x, y
    HAVING sum(points) >= :min_points
    """
)


def costly_tiles(
    session: Session,
    *,
    version_id: int,
    min_points: int = PRERENDER_MIN_POINTS,
    max_zoom: int = STORE_MAX_ZOOM,
) -> list[TileAddress]:
    """The tiles of a version, up to `max_zoom`, whose features hold at least `min_points`
    vertices (with 1, every tile that has a feature), costliest zooms last. Turns JIT off
    for the rest of the caller's transaction."""
    # The planner takes each generate_series for 1,000 rows, prices the query above
    # `jit_above_cost` and spends ~130 ms compiling it, 100× the query's own time.
    session.execute(text("SET LOCAL jit = off"))
    found: list[TileAddress] = []
    for z in range(max_zoom + 1):
        side = 1 << z
        for layer in LAYERS:
            if not shown(layer, z):
                continue
            rows = session.execute(
                _COST_SQL,
                {
                    "origin": ORIGIN,
                    "size": 2 * ORIGIN / side,
                    "last": side - 1,
                    "layer": layer,
                    "detail": detail_for(layer, z),
                    "version": version_id,
                    "min_points": min_points,
                },
            ).all()
            found.extend(TileAddress(layer, z, x, y) for x, y, _ in sorted(rows))
    return found


@dataclass(frozen=True, slots=True)
class PrerenderReport:
    version_id: int | None  # None: no version is active
    planned: int  # costly tiles of the version
    rendered: int  # made by this call (the rest were in the store already)
    seconds: float
    stopped: bool = False  # asked to stop before it finished (or before it got the lock)


# One process renders at a time, database-wide.
PRERENDER_LOCK = "gridmap.tiles.prerender"


def prerender(
    engine: Engine,
    *,
    version_id: int | None = None,
    min_points: int = PRERENDER_MIN_POINTS,
    stop: threading.Event | None = None,
    lock_poll_seconds: float = 1.0,
) -> PrerenderReport:
    """Put the costly unscoped tiles of a published version (default: the active one)
    into `tile_store`, those not there already, committing each tile.

    Takes a database-wide advisory lock first, waiting while another process holds it
    (that process renders; once it is done, this call finds the tiles present), so any
    number of workers may call this at start and on every publication.
    """
    start = time.perf_counter()
    stop = stop or threading.Event()
    with engine.connect() as conn:
        # A session-level lock lives on this one connection, kept for the whole call.
        while not conn.execute(
            text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": PRERENDER_LOCK}
        ).scalar_one():
            conn.commit()
            if stop.wait(lock_poll_seconds):
                return PrerenderReport(version_id, 0, 0, time.perf_counter() - start, True)
        conn.commit()
        try:
            with Session(bind=conn) as session:
                return _prerender_locked(session, version_id, min_points, stop, start)
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": PRERENDER_LOCK})
            conn.commit()


def _prerender_locked(
    session: Session,
    version_id: int | None,
    min_points: int,
    stop: threading.Event,
    start: float,
) -> PrerenderReport:
    if version_id is None:
        version_id = session.execute(
            # The latest active version: "valid in" it is every county's active version.
            text("SELECT max(id) FROM boundary_version WHERE status = 'active'")
        ).scalar_one_or_none()
        if version_id is None:
            return PrerenderReport(None, 0, 0, time.perf_counter() - start)
    require_published(session, version_id=version_id, cache=None)
    # Tiles made by earlier rules are never read again (`tiles.RECIPE`).
    session.execute(text("DELETE FROM tile_store WHERE recipe <> :r"), {"r": tiles.RECIPE})
    session.commit()
    plan = costly_tiles(session, version_id=version_id, min_points=min_points)
    present = {
        TileAddress(*row)
        for row in session.execute(
            text(
                "SELECT layer, z, x, y FROM tile_store "
                "WHERE version_id = :v AND recipe = :r AND scope = 'all'"
            ),
            {"v": version_id, "r": tiles.RECIPE},
        ).all()
    }
    session.commit()
    rendered = 0
    for address in plan:
        if address in present:
            continue
        if stop.is_set():
            return PrerenderReport(
                version_id, len(plan), rendered, time.perf_counter() - start, True
            )
        # Stored even when empty (a feature's box touched the tile, its shape did not), so
        # the next call finds the plan complete.
        _make_tile(
            session,
            address,
            version_id=version_id,
            scope=EVERYWHERE,
            keep_in=session,
            keep_empty=True,
        )
        session.commit()
        rendered += 1
    return PrerenderReport(version_id, len(plan), rendered, time.perf_counter() - start)


class Prerenderer:
    """A process's background renderer: `wake()` at start and whenever boundaries are
    published; one thread renders the active version's costly tiles (`prerender`)."""

    def __init__(
        self,
        engine: Engine,
        *,
        min_points: int = PRERENDER_MIN_POINTS,
        dispose_engine: bool = False,
    ) -> None:
        self._engine = engine
        self._dispose_engine = dispose_engine  # the engine is this renderer's own
        self._min_points = min_points
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.reports: list[PrerenderReport] = []

    def wake(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self._wanted.set()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="gridmap-tile-prerender", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stop.set()
            self._wanted.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        if self._dispose_engine:
            self._engine.dispose()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._stop.is_set():
                return
            self._wanted.clear()
            try:
                report = prerender(self._engine, min_points=self._min_points, stop=self._stop)
            except Exception:
                # A failed pre-render costs only speed: tiles are still made on demand.
                log.exception("pre-rendering tiles failed")
                continue
            self.reports.append(report)
            if report.rendered:
                log.info(
                    "pre-rendered %d of %d costly tiles of version %s in %.1f s",
                    report.rendered,
                    report.planned,
                    report.version_id,
                    report.seconds,
                )
