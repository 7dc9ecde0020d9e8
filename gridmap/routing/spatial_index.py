"""An immutable in-memory point-in-polygon index with PostGIS `ST_Covers` semantics.

Design (measured in bench/routing.py): a uniform raster over the polygons' bounding box.
Each cell holds either one polygon (the closed cell lies entirely inside it), "empty", or a
pointer into a candidate list (cells a boundary passes through, or where polygons
overlap). Most points are answered by one array read; the rest by an exact
point-in-polygon test of the few candidates, in ascending id order, so the first hit is
the smallest id. A second raster marks cells within `near_m` of any boundary: outside
them no other polygon can be within `near_m`, which keeps the on-boundary check cheap.

Exactness: the orientation test is Shewchuk's adaptive predicate (a floating-point filter,
then an exact expansion sum), so points exactly on an edge or a vertex are found on the
boundary however the coordinates round. Raster cell classification uses a small margin
(`raster_kernels._EPS_CELLS`), so rounding there can only add candidates, never drop one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gridmap.errors import InvalidCoordinates, InvalidInput
from gridmap.routing.raster_kernels import (
    EMPTY,
    MIN_M_PER_DEG_LAT,
    build_raster,
    locate_idx,
    locate_many_kernel,
    locate_near_one,
    metres_per_degree,
    near_list,
)

_CELLS_PER_POLYGON = 64  # raster resolution: ~64 cells per polygon on average
_MAX_CELLS = 48_000_000  # keeps the raster (5 bytes a cell) under ~250 MB


class PolygonIndex:
    """Which polygon covers a point: `locate` answers like PostGIS `ST_Covers`.

    A point on a boundary is covered; when several polygons cover a point (a shared edge
    or vertex, or overlapping polygons) the answer is the smallest id. -1 means none.
    Immutable once built; safe to share between threads.
    """

    def __init__(
        self,
        *,
        ids: np.ndarray,
        ring_off: np.ndarray,
        vert_off: np.ndarray,
        vx: np.ndarray,
        vy: np.ndarray,
        pbox: np.ndarray,
        grid: tuple[float, float, float, float, int, int],
        owner: np.ndarray,
        near: np.ndarray,
        cand_off: np.ndarray,
        cand: np.ndarray,
        near_m: float,
        build_seconds: float,
    ) -> None:
        self.ids = ids
        self.near_m = near_m
        self.build_seconds = build_seconds
        self._poly = (ring_off, vert_off, vx, vy, pbox)
        self._grid = grid
        self._owner = owner
        self._near = near
        self._cand = (cand_off, cand)
        # memoryviews read single cells ~10x faster than numpy scalar indexing
        self._owner_mv = owner.data
        self._near_mv = near.data
        self._ids_mv = ids.data
        for a in (ids, ring_off, vert_off, vx, vy, pbox, owner, near, cand_off, cand):
            a.setflags(write=False)

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        geoms: Sequence[BaseGeometry] | np.ndarray,
        *,
        near_m: float = 5.0,
    ) -> PolygonIndex:
        """Index polygons (EPSG:4326 lon/lat) by id; `near_m` is the on-boundary distance."""
        started = time.perf_counter()
        if not (near_m >= 0.0 and math.isfinite(near_m)):
            raise InvalidInput(f"near_m must be a non-negative distance in metres, got {near_m}")
        id_arr, geom_arr = _checked_input(ids, geoms)
        order = np.argsort(id_arr, kind="stable")
        id_arr, geom_arr = id_arr[order], geom_arr[order]
        ring_off, vert_off, vx, vy, pbox = _flatten(geom_arr)
        grid = _choose_grid(pbox)
        x0, y0, inv_cw, inv_ch, nx, ny = grid
        lat_extreme = 0.0
        if len(id_arr):
            lat_extreme = max(abs(float(pbox[:, 1].min())), abs(float(pbox[:, 3].max())))
        m_lon_min, _ = metres_per_degree(min(89.9, lat_extreme))
        owner, near, keys, _ = build_raster(
            ring_off, vert_off, vx, vy, pbox, x0, y0, inv_cw, inv_ch, nx, ny,
            near_m / m_lon_min * inv_cw, near_m / MIN_M_PER_DEG_LAT * inv_ch,
        )  # fmt: skip
        n = max(len(id_arr), 1)
        keys = _sorted_unique(keys)
        cells = keys // n
        cand = (keys % n).astype(np.int32)
        first = np.r_[True, cells[1:] != cells[:-1]] if len(cells) else np.zeros(0, bool)
        starts = np.flatnonzero(first)
        cand_cells = cells[starts]
        cand_off = np.append(starts, len(cand)).astype(np.int64)
        owner[cand_cells] = -2 - np.arange(len(cand_cells), dtype=np.int32)
        near[cand_cells] = 1
        return cls(
            ids=id_arr,
            ring_off=ring_off,
            vert_off=vert_off,
            vx=vx,
            vy=vy,
            pbox=pbox,
            grid=grid,
            owner=owner,
            near=near,
            cand_off=cand_off,
            cand=cand,
            near_m=float(near_m),
            build_seconds=time.perf_counter() - started,
        )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays."""
        arrays = (self.ids, *self._poly, self._owner, self._near, *self._cand)
        return int(sum(a.nbytes for a in arrays))

    @property
    def raster_shape(self) -> tuple[int, int]:
        """(rows, columns) of the look-up raster."""
        return self._grid[5], self._grid[4]

    def locate(self, lon: float, lat: float) -> int:
        """Id of the polygon covering (lon, lat) — the smallest on a shared boundary — or -1."""
        x0, y0, inv_cw, inv_ch, nx, ny = self._grid
        u = (lon - x0) * inv_cw
        v = (lat - y0) * inv_ch
        if not (u >= 0.0 and u < nx and v >= 0.0 and v < ny):
            _check_finite(lon, lat)
            return -1
        val = self._owner_mv[int(v) * nx + int(u)]
        if val >= 0:
            return int(self._ids_mv[val])
        if val == EMPTY:
            return -1
        p = locate_idx(lon, lat, *self._grid, self._owner, *self._cand, *self._poly)
        return int(self._ids_mv[p]) if p >= 0 else -1

    def centre(self) -> tuple[float, float]:
        """The middle of the indexed area (a point the look-ups can be warmed up on)."""
        x0, y0, inv_cw, inv_ch, nx, ny = self._grid
        return x0 + nx / 2 / inv_cw, y0 + ny / 2 / inv_ch

    def locate_with_near(self, lon: float, lat: float) -> tuple[int, bool]:
        """(id as `locate`, whether another polygon lies within `near_m` metres)."""
        x0, y0, inv_cw, inv_ch, nx, ny = self._grid
        u = (lon - x0) * inv_cw
        v = (lat - y0) * inv_ch
        if u >= 0.0 and u < nx and v >= 0.0 and v < ny:
            cell = int(v) * nx + int(u)
            val = self._owner_mv[cell]
            if val >= -1 and not self._near_mv[cell]:
                return (int(self._ids_mv[val]) if val >= 0 else -1), False
        else:
            _check_finite(lon, lat)
        p, flag = locate_near_one(
            lon, lat, self.near_m, *self._grid, self._owner, self._near, *self._cand, *self._poly
        )
        return (int(self._ids_mv[p]) if p >= 0 else -1), bool(flag)

    def is_near_edge(self, lon: float, lat: float) -> bool:
        """Whether a polygon other than the covering one lies within `near_m` metres."""
        return self.locate_with_near(lon, lat)[1]

    def locate_many(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """`locate` for arrays of points, in parallel; int64 ids, -1 where none covers."""
        xs, ys = _checked_points(lons, lats)
        out, _ = locate_many_kernel(
            xs, ys, self.ids, False, self.near_m, *self._grid, self._owner, self._near,
            *self._cand, *self._poly,
        )  # fmt: skip
        return out

    def locate_many_with_near(
        self, lons: np.ndarray, lats: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids as `locate_many`, bool flags as `locate_with_near`)."""
        xs, ys = _checked_points(lons, lats)
        return locate_many_kernel(  # type: ignore[no-any-return]
            xs, ys, self.ids, True, self.near_m, *self._grid, self._owner, self._near,
            *self._cand, *self._poly,
        )  # fmt: skip

    def near(self, lon: float, lat: float, distance_m: float) -> list[tuple[int, float]]:
        """Polygons within `distance_m` metres of the point: (id, metres), nearest first.

        A covering polygon has distance 0.0. Ties are ordered by id.
        """
        _check_finite(lon, lat)
        if not (distance_m >= 0.0 and math.isfinite(distance_m)):
            raise InvalidInput(f"distance_m must be a non-negative distance, got {distance_m}")
        idx, dist = near_list(
            float(lon), float(lat), float(distance_m), *self._grid, self._owner, *self._cand,
            *self._poly,
        )  # fmt: skip
        found = [(int(self.ids[i]), float(d)) for i, d in zip(idx, dist, strict=True)]
        found.sort(key=lambda t: (t[1], t[0]))
        return found


# --- building helpers -----------------------------------------------------------------


def _check_finite(lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidCoordinates(
            f"coordinates must be finite numbers, got lon={lon}, lat={lat}",
            details={"lon": str(lon), "lat": str(lat)},
        )


def _checked_points(lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xs = np.ascontiguousarray(lons, dtype=np.float64)
    ys = np.ascontiguousarray(lats, dtype=np.float64)
    if xs.ndim != 1 or xs.shape != ys.shape:
        raise InvalidCoordinates(
            f"lons and lats must be 1-D arrays of one length, got {xs.shape} and {ys.shape}"
        )
    bad = ~(np.isfinite(xs) & np.isfinite(ys))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InvalidCoordinates(
            f"point {first} is not finite: lon={xs[first]}, lat={ys[first]}",
            details={"index": first},
        )
    return xs, ys


def _checked_input(
    ids: np.ndarray, geoms: Sequence[BaseGeometry] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    id_arr = np.asarray(ids, dtype=np.int64)
    geom_arr = np.empty(len(geoms), dtype=object)
    geom_arr[:] = list(geoms)
    if id_arr.ndim != 1 or len(id_arr) != len(geom_arr):
        raise InvalidInput(
            f"PolygonIndex needs one id per geometry: {len(id_arr)} ids, {len(geom_arr)} geometries"
        )
    sorted_ids = np.sort(id_arr)
    repeats = sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]]
    if len(repeats):
        dup = int(repeats[0])
        raise InvalidInput(
            f"PolygonIndex ids must be unique: id {dup} repeats", details={"id": dup}
        )
    if (id_arr < 0).any():
        raise InvalidInput("PolygonIndex ids must be non-negative (-1 means 'no polygon')")
    try:
        kinds = shapely.get_type_id(geom_arr)
    except TypeError:
        kinds = np.array(
            [shapely.get_type_id(g) if isinstance(g, BaseGeometry) else -2 for g in geom_arr]
        )
    # 3 = Polygon, 6 = MultiPolygon; -1 = None, -2 = not a geometry at all
    bad = np.flatnonzero((kinds != 3) & (kinds != 6))
    if len(bad):
        geom = geom_arr[bad[0]]
        kind = getattr(geom, "geom_type", type(geom).__name__)
        i = int(id_arr[bad[0]])
        raise InvalidInput(
            f"polygon id {i}: expected a Polygon or MultiPolygon, got {kind}", details={"id": i}
        )
    empty = np.flatnonzero(shapely.is_empty(geom_arr))
    if len(empty):
        i = int(id_arr[empty[0]])
        raise InvalidInput(f"polygon id {i}: empty geometry", details={"id": i})
    coords, owner = shapely.get_coordinates(geom_arr, return_index=True)
    finite = np.isfinite(coords).all(axis=1)
    if not finite.all():
        culprit = int(id_arr[owner[np.flatnonzero(~finite)[0]]])
        raise InvalidInput(f"polygon id {culprit}: non-finite coordinates", details={"id": culprit})
    return id_arr, geom_arr


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy 2.4's np.unique was 50x slower on 1.5M int64 here)."""
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a


def _flatten(
    geoms: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rings of every polygon as flat arrays: polygon → rings → closed vertex runs."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of_part = shapely.get_rings(parts, return_index=True)
    ring_poly = part_of[ring_of_part]
    coords, vert_ring = shapely.get_coordinates(rings, return_index=True)
    n = len(geoms)
    ring_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(ring_poly, minlength=n), out=ring_off[1:])
    vert_off = np.zeros(len(rings) + 1, dtype=np.int64)
    np.cumsum(np.bincount(vert_ring, minlength=len(rings)), out=vert_off[1:])
    pbox = np.ascontiguousarray(shapely.bounds(geoms).reshape(n, 4), dtype=np.float64)
    return (
        ring_off,
        vert_off,
        np.ascontiguousarray(coords[:, 0]),
        np.ascontiguousarray(coords[:, 1]),
        pbox,
    )


def _choose_grid(pbox: np.ndarray) -> tuple[float, float, float, float, int, int]:
    """Square-ish cells in metres, about _CELLS_PER_POLYGON per polygon, one cell of margin."""
    n = len(pbox)
    if n == 0:
        return 0.0, 0.0, 1.0, 1.0, 1, 1
    minx, miny = float(pbox[:, 0].min()), float(pbox[:, 1].min())
    maxx, maxy = float(pbox[:, 2].max()), float(pbox[:, 3].max())
    m_lon, m_lat = metres_per_degree((miny + maxy) / 2)
    w_m = max((maxx - minx) * m_lon, 1e-3)
    h_m = max((maxy - miny) * m_lat, 1e-3)
    target = min(max(_CELLS_PER_POLYGON * n, 4096), _MAX_CELLS)
    side_m = math.sqrt(w_m * h_m / target)
    cw, ch = side_m / m_lon, side_m / m_lat
    nx = math.ceil((maxx - minx) / cw) + 2
    ny = math.ceil((maxy - miny) / ch) + 2
    return minx - cw, miny - ch, 1.0 / cw, 1.0 / ch, nx, ny
