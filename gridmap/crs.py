"""Coordinate systems at the edge: names, and conversion of points and geometries to WGS84.

Storage is EPSG:4326. CGCS2000 (EPSG:4490) differs from WGS84 by centimetres and is taken as
equal, as the national standard allows for this scale of mapping. GCJ-02 (Amap, Tencent) and
BD-09 (Baidu) are obfuscated systems pyproj does not know: they are implemented here with the
published formulas, and their inverses are iterative so a round trip is exact to millimetres
(the common single-step inverse is off by up to ~4 m, enough to move a point across a grid edge).

Outside China (the standard `out_of_china` box: lon 72.004–137.8347, lat 0.8293–55.8271) the
GCJ-02 offset is not applied, exactly as the Chinese web maps do: there GCJ-02 equals WGS84.
BD-09's own small shift on top of GCJ-02 is applied everywhere, as Baidu does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyproj
import shapely

from gridmap.errors import InvalidCoordinates, UnknownCRS

ArrayLike = npt.ArrayLike
Floats = npt.NDArray[np.float64]
G = TypeVar("G")

WGS84 = "wgs84"
CGCS2000 = "cgcs2000"
GCJ02 = "gcj02"
BD09 = "bd09"
NAMED_CRS = (WGS84, CGCS2000, GCJ02, BD09)
CRS_OPTIONS = "wgs84, cgcs2000 (EPSG:4490), gcj02, bd09, or EPSG:<code>"

# Aliases after lower-casing and removing spaces, '-' and '_'.
_ALIASES = {
    "wgs84": WGS84,
    "epsg:4326": WGS84,
    "4326": WGS84,
    "crs84": WGS84,
    "ogc:crs84": WGS84,
    "urn:ogc:def:crs:ogc:1.3:crs84": WGS84,
    "urn:ogc:def:crs:epsg::4326": WGS84,
    "cgcs2000": CGCS2000,
    "epsg:4490": CGCS2000,
    "4490": CGCS2000,
    "urn:ogc:def:crs:epsg::4490": CGCS2000,
    "gcj02": GCJ02,
    "gcj": GCJ02,
    "bd09": BD09,
    "bd09ll": BD09,
}

# GCJ-02 constants: the Krasovsky 1940 ellipsoid the published formula uses.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
# Scalar-path constants and local names: module globals are faster than `math.` look-ups.
_PI = math.pi
_DEG = math.pi / 180.0
_TWO_THIRDS = 2.0 / 3.0
_TWO_THIRDS_20 = 20.0 * 2.0 / 3.0
_K_LAT = 180.0 / (_A * (1.0 - _EE) * math.pi)
_K_LON = 180.0 / (_A * math.pi)
_sin = math.sin
_cos = math.cos
_sqrt = math.sqrt

# Iterative inverses stop once a step is below _TOL_DEG degrees (~1 cm) or after _MAX_ITER
# steps. The forward shift varies slowly (its derivative is below ~0.003), so each step
# shrinks the error at least ~300-fold: after a 1e-7 degree step the error left is below
# 1e-9 degrees (0.1 mm). From the usual start, two steps suffice inside China.
_TOL_DEG = 1e-7
_MAX_ITER = 30

# The longest segment left after densifying, in metres. GCJ-02's shift bends a straight edge
# by well under a millimetre over 20 m (its second derivative is below ~4e-7 per metre), so the
# converted edges follow the true image of the original ones far within the 1 cm the
# validator calls rounding.
MAX_SEGMENT_M = 20.0
# A vertex this close (in degrees, about 1 cm) to another polygon's edge lies on that edge.
NODE_TOLERANCE_DEG = 1e-7
# Degrees to metres for choosing how many pieces a segment needs (not for measuring).
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0


# --- names ------------------------------------------------------------------------------


def parse_crs(value: str | None) -> str:
    """Canonical CRS name: "wgs84" | "cgcs2000" | "gcj02" | "bd09" | "EPSG:<n>".

    None means WGS84 (the default of every door that takes points). Any other EPSG code is
    checked against the PROJ database so a typo fails here, not at conversion time.
    """
    if value is None:
        return WGS84
    key = str(value).strip().lower().replace(" ", "").replace("-", "").replace("_", "")
    if key in _ALIASES:
        return _ALIASES[key]
    code = key.removeprefix("urn:ogc:def:crs:epsg::").removeprefix("epsg:")
    # ASCII digits only: str.isdigit() is true of "²" and "٤", which int() refuses or
    # reads as another number; EPSG codes have at most 6 digits.
    if code.isascii() and code.isdigit() and len(code) <= 9:
        if _epsg_exists(int(code)):
            return f"EPSG:{int(code)}"
        raise UnknownCRS(
            f"Unknown coordinate system {value!r}: EPSG:{int(code)} is not in the EPSG "
            f"database. Use one of: {CRS_OPTIONS}.",
            details={"crs": value, "options": CRS_OPTIONS},
        )
    raise UnknownCRS(
        f"Unknown coordinate system {value!r}. Use one of: {CRS_OPTIONS}.",
        details={"crs": value, "options": CRS_OPTIONS},
    )


@lru_cache(maxsize=256)
def _epsg_exists(code: int) -> bool:
    try:
        pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError:
        return False
    return True


@lru_cache(maxsize=64)
def _transformer(crs: str, to_wgs84: bool) -> pyproj.Transformer:
    if to_wgs84:
        return pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


# --- GCJ-02 and BD-09, vectorised -------------------------------------------------------


def _as_floats(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    if x.shape != y.shape:
        raise InvalidCoordinates(
            f"lon and lat have different shapes: {x.shape} and {y.shape}",
            details={"lon_shape": list(x.shape), "lat_shape": list(y.shape)},
        )
    return x, y


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> npt.NDArray[np.bool_]:
    """True where the point is outside the box in which GCJ-02 applies its offset."""
    x, y = _as_floats(lon, lat)
    return (x < 72.004) | (x > 137.8347) | (y < 0.8293) | (y > 55.8271)


def _gcj_offset(x: Floats, y: Floats) -> tuple[Floats, Floats]:
    """The published GCJ-02 offset in degrees at WGS84 (x, y)."""
    dx = x - 105.0
    dy = y - 35.0
    sq = np.sqrt(np.abs(dx))
    t_lat = (
        -100.0 + 2.0 * dx + 3.0 * dy + 0.2 * dy * dy + 0.1 * dx * dy + 0.2 * sq
        + (20.0 * np.sin(6.0 * dx * np.pi) + 20.0 * np.sin(2.0 * dx * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(dy * np.pi) + 40.0 * np.sin(dy / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(dy / 12.0 * np.pi) + 320.0 * np.sin(dy * np.pi / 30.0)) * 2.0 / 3.0
    )  # fmt: skip
    t_lon = (
        300.0 + dx + 2.0 * dy + 0.1 * dx * dx + 0.1 * dx * dy + 0.1 * sq
        + (20.0 * np.sin(6.0 * dx * np.pi) + 20.0 * np.sin(2.0 * dx * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(dx * np.pi) + 40.0 * np.sin(dx / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(dx / 12.0 * np.pi) + 300.0 * np.sin(dx / 30.0 * np.pi)) * 2.0 / 3.0
    )  # fmt: skip
    rad = y / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (t_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (t_lon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """WGS84 → GCJ-02 (the published forward formula; identity outside China)."""
    x, y = _as_floats(lon, lat)
    d_lon, d_lat = _gcj_offset(x, y)
    outside = out_of_china(x, y)
    return np.where(outside, x, x + d_lon), np.where(outside, y, y + d_lat)


def _invert(
    forward: Callable[[Floats, Floats], tuple[Floats, Floats]],
    x: Floats,
    y: Floats,
    start: tuple[Floats, Floats],
) -> tuple[Floats, Floats]:
    """Solve forward(u, v) = (x, y) by fixed-point steps: the forward transform is the
    identity plus a slowly varying shift, so each step shrinks the error ~300-fold. Only
    points not yet converged take another step (after the first, ~2% of them)."""
    shape = x.shape
    xf, yf = x.reshape(-1), y.reshape(-1)
    u = np.array(start[0], dtype=np.float64).reshape(-1)
    v = np.array(start[1], dtype=np.float64).reshape(-1)
    todo = np.arange(xf.size)
    for _ in range(_MAX_ITER):
        fx, fy = forward(u[todo], v[todo])
        ex = xf[todo] - fx
        ey = yf[todo] - fy
        u[todo] += ex
        v[todo] += ey
        todo = todo[(np.abs(ex) >= _TOL_DEG) | (np.abs(ey) >= _TOL_DEG)]
        if not todo.size:
            break
    return u.reshape(shape), v.reshape(shape)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """GCJ-02 → WGS84, exact to well under a millimetre (iterative inverse)."""
    x, y = _as_floats(lon, lat)
    d_lon, d_lat = _gcj_offset(x, y)
    u, v = _invert(wgs84_to_gcj02, x, y, (x - d_lon, y - d_lat))
    outside = out_of_china(x, y)
    return np.where(outside, x, u), np.where(outside, y, v)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """GCJ-02 → BD-09 (Baidu's published formula)."""
    x, y = _as_floats(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """BD-09 → GCJ-02: the closed form is only approximate (it evaluates the sin/cos terms at
    the BD-09 point), so it is the starting point of an iterative inverse."""
    x, y = _as_floats(lon, lat)
    bx = x - 0.0065
    by = y - 0.006
    z = np.sqrt(bx * bx + by * by) - 0.00002 * np.sin(by * _X_PI)
    theta = np.arctan2(by, bx) - 0.000003 * np.cos(bx * _X_PI)
    return _invert(gcj02_to_bd09, x, y, (z * np.cos(theta), z * np.sin(theta)))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """WGS84 → BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """BD-09 → WGS84 (through GCJ-02, both steps exact)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


# --- any CRS, vectorised ----------------------------------------------------------------


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[Floats, Floats]:
    """Coordinates in `crs` (any name parse_crs accepts) → WGS84 lon/lat, float64 arrays.

    For an EPSG code, `lon`/`lat` are the CRS's x/y (easting/northing for a projected CRS).
    """
    name = parse_crs(crs)
    x, y = _as_floats(lon, lat)
    if name in (WGS84, CGCS2000):
        return x.copy(), y.copy()
    if name == GCJ02:
        return gcj02_to_wgs84(x, y)
    if name == BD09:
        return bd09_to_wgs84(x, y)
    ox, oy = _transformer(name, True).transform(x, y)
    return np.asarray(ox, dtype=np.float64), np.asarray(oy, dtype=np.float64)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[Floats, Floats]:
    """WGS84 lon/lat → coordinates in `crs`, float64 arrays (the inverse of to_wgs84)."""
    name = parse_crs(crs)
    x, y = _as_floats(lon, lat)
    if name in (WGS84, CGCS2000):
        return x.copy(), y.copy()
    if name == GCJ02:
        return wgs84_to_gcj02(x, y)
    if name == BD09:
        return wgs84_to_bd09(x, y)
    ox, oy = _transformer(name, False).transform(x, y)
    return np.asarray(ox, dtype=np.float64), np.asarray(oy, dtype=np.float64)


def geometry_to_wgs84(geom: G, crs: str, *, max_segment_m: float | None = MAX_SEGMENT_M) -> G:
    """Any shapely geometry (or array of geometries) in `crs` → the same in WGS84.

    GCJ-02 and BD-09 are not projections but a position-dependent shift, so straight edges
    do not stay straight and a vertex lying on a neighbour's edge (a T-junction) would not
    stay on it if each vertex were simply moved. Their polygons are therefore first noded
    and densified together (`node_and_densify`): every vertex that lies on another polygon's
    edge becomes a vertex of that edge, and no segment is longer than `max_segment_m`.
    Shared boundaries are then shared vertex for vertex, and every distinct input
    coordinate converts to one output coordinate, so a coverage stays a coverage; the
    converted edges follow the true image of the original edges to well under a centimetre
    (docs/boundary-data.md). `max_segment_m=None` nodes without densifying. Z values, if
    any, are carried through unchanged. WGS84 and CGCS2000 input is returned as is.
    """
    name = parse_crs(crs)
    if name in (WGS84, CGCS2000):
        return geom

    source: Any = geom
    if name in (GCJ02, BD09):
        single = isinstance(geom, shapely.Geometry)
        arr = np.array([geom], dtype=object) if single else np.asarray(geom, dtype=object)
        noded = node_and_densify(arr, max_segment_m=max_segment_m)
        source = noded[0] if single else noded

    def convert(coords: Floats) -> Floats:
        # Each distinct coordinate is converted once, so equal input gives bit-equal output
        # wherever it occurs (vectorised maths may round a value differently by position).
        out = coords.copy()
        xy, inverse = np.unique(coords[:, :2], axis=0, return_inverse=True)
        x, y = to_wgs84(xy[:, 0], xy[:, 1], name)
        out[:, 0], out[:, 1] = x[inverse.reshape(-1)], y[inverse.reshape(-1)]
        return out

    result: Any = shapely.transform(source, convert, include_z=True)
    return result  # type: ignore[no-any-return]


# --- noding and densifying a coverage before a non-linear transform ---------------------------


def node_and_densify(
    geoms: npt.NDArray[Any],
    *,
    max_segment_m: float | None = MAX_SEGMENT_M,
    tolerance_deg: float = NODE_TOLERANCE_DEG,
) -> npt.NDArray[Any]:
    """Node the polygons of `geoms` against each other, then densify their edges.

    Every vertex of any polygon lying within `tolerance_deg` of another polygon's edge (a
    T-junction) is inserted into that edge, and every segment longer than `max_segment_m`
    (lon/lat degrees, metres approximated locally) is cut into equal pieces. Shared edges
    end up with the same vertices on both sides: the points a segment gets are computed
    from its lexicographically smaller end, so both polygons that share it get bit-equal
    points. Non-polygonal, empty and missing geometries are returned unchanged; the shapes
    themselves do not change (each inserted point lies on its edge, or within the
    tolerance of it). Vectorised: one STRtree query, no Python loop over features.
    """
    out = np.array(geoms, dtype=object, copy=True)
    types = shapely.get_type_id(out)
    polygonal = np.isin(types, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON])
    polygonal &= ~shapely.is_empty(out)
    idx = np.flatnonzero(polygonal)
    if not len(idx):
        return out
    gtype, coords, offsets = shapely.to_ragged_array(out[idx])
    ring_off = np.asarray(offsets[0], dtype=np.int64)
    coords, ring_off = _insert_t_junctions(coords, ring_off, tolerance_deg)
    if max_segment_m is not None:
        coords, ring_off = _densify(coords, ring_off, max_segment_m)
    new_offsets: list[Any] = [ring_off, *offsets[1:]]
    rebuilt = shapely.from_ragged_array(gtype, coords, tuple(new_offsets))
    was_polygon = types[idx] == shapely.GeometryType.POLYGON
    if gtype == shapely.GeometryType.MULTIPOLYGON and was_polygon.any():
        rebuilt[was_polygon] = shapely.get_geometry(rebuilt[was_polygon], 0)
    out[idx] = rebuilt
    return out


def _segment_starts(n: int, ring_off: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Index of the first vertex of every segment (every vertex but each ring's last)."""
    last = np.zeros(n, dtype=bool)
    last[ring_off[1:] - 1] = True
    return np.flatnonzero(~last)


def _insert(
    coords: Floats,
    ring_off: npt.NDArray[np.int64],
    after: npt.NDArray[np.int64],
    t: Floats,
    points: Floats,
) -> tuple[Floats, npt.NDArray[np.int64]]:
    """Insert `points` into the segments starting at vertex `after`, ordered by `t` (0..1)
    along each segment; ring offsets move by the number inserted before each ring."""
    if not len(after):
        return coords, ring_off
    n = len(coords)
    keys_vertex = np.concatenate([np.arange(n, dtype=np.int64), after])
    keys_t = np.concatenate([np.zeros(n), t])
    order = np.lexsort((keys_t, keys_vertex))
    merged = np.concatenate([coords, points])[order]
    inserted_before = np.searchsorted(np.sort(after), ring_off, side="left")
    return merged, ring_off + inserted_before


def _insert_t_junctions(
    coords: Floats, ring_off: npt.NDArray[np.int64], tol: float
) -> tuple[Floats, npt.NDArray[np.int64]]:
    seg = _segment_starts(len(coords), ring_off)
    a, b = coords[seg, :2], coords[seg + 1, :2]
    vertices, first = np.unique(coords[:, :2], axis=0, return_index=True)
    points_all: Any = shapely.points(vertices)
    tree = shapely.STRtree(points_all)
    lines = shapely.linestrings(np.stack([a, b], axis=1))
    si, pi = tree.query(lines, predicate="dwithin", distance=tol)
    if not len(si):
        return coords, ring_off
    p, sa, sb = vertices[pi], a[si], b[si]
    d = sb - sa
    length2 = (d * d).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ((p - sa) * d).sum(axis=1) / length2
    near_a = np.hypot(*(p - sa).T) <= tol
    near_b = np.hypot(*(p - sb).T) <= tol
    keep = (length2 > 0) & (t > 0) & (t < 1) & ~near_a & ~near_b
    if not keep.any():
        return coords, ring_off
    # The inserted point is the vertex itself (with its Z, if any), so both sides agree.
    points = coords[first[pi[keep]]]
    return _insert(coords, ring_off, seg[si[keep]], t[keep], points)


def _densify(
    coords: Floats, ring_off: npt.NDArray[np.int64], max_m: float
) -> tuple[Floats, npt.NDArray[np.int64]]:
    seg = _segment_starts(len(coords), ring_off)
    a, b = coords[seg], coords[seg + 1]
    # Work from each segment's lexicographically smaller end so that the two polygons
    # sharing a segment (traversing it in opposite directions) compute the same points.
    flip = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    lo = np.where(flip[:, None], b, a)
    hi = np.where(flip[:, None], a, b)
    d = hi - lo
    mid_lat = np.radians((lo[:, 1] + hi[:, 1]) / 2.0)
    metres = np.hypot(d[:, 0] * _M_PER_DEG_LON * np.cos(mid_lat), d[:, 1] * _M_PER_DEG_LAT)
    pieces = np.maximum(np.ceil(metres / max_m), 1).astype(np.int64)
    extra = pieces - 1
    if not extra.sum():
        return coords, ring_off
    owner = np.repeat(np.arange(len(seg)), extra)
    # k = 1..pieces-1 within each segment
    k = np.arange(len(owner)) - np.repeat(np.cumsum(extra) - extra, extra) + 1
    frac = k / pieces[owner]
    points = lo[owner] + frac[:, None] * d[owner]
    t = np.where(flip[owner], 1.0 - frac, frac)
    return _insert(coords, ring_off, seg[owner], t, points)


# --- one point, the routing hot path ------------------------------------------------------


def _check_lon_lat(lon: float, lat: float, crs: str) -> None:
    # Chained comparisons are also False for NaN, so this rejects NaN too.
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise InvalidCoordinates(
            f"Coordinates ({lon}, {lat}) in {crs} are not a longitude/latitude "
            "(longitude must be within -180..180 and latitude within -90..90).",
            details={"lon": lon, "lat": lat, "crs": crs},
        )


def _gcj_offset_scalar(x: float, y: float) -> tuple[float, float]:
    # The same formula as _gcj_offset, rearranged for fewer Python operations: this runs
    # three times per routed GCJ-02 point.
    dx = x - 105.0
    dy = y - 35.0
    px = dx * _PI
    py = dy * _PI
    common = (_sin(6.0 * px) + _sin(2.0 * px)) * _TWO_THIRDS_20
    t_lat = (
        -100.0 + 2.0 * dx + 3.0 * dy + 0.2 * dy * dy + 0.1 * dx * dy + 0.2 * _sqrt(abs(dx))
        + common
        + (20.0 * _sin(py) + 40.0 * _sin(py / 3.0) + 160.0 * _sin(py / 12.0)
           + 320.0 * _sin(py / 30.0)) * _TWO_THIRDS
    )  # fmt: skip
    t_lon = (
        300.0 + dx + 2.0 * dy + 0.1 * dx * dx + 0.1 * dx * dy + 0.1 * _sqrt(abs(dx))
        + common
        + (20.0 * _sin(px) + 40.0 * _sin(px / 3.0) + 150.0 * _sin(px / 12.0)
           + 300.0 * _sin(px / 30.0)) * _TWO_THIRDS
    )  # fmt: skip
    rad = y * _DEG
    s = _sin(rad)
    magic = 1.0 - _EE * s * s
    sqrt_magic = _sqrt(magic)
    return (
        t_lon * sqrt_magic / _cos(rad) * _K_LON,
        t_lat * magic * sqrt_magic * _K_LAT,
    )


def _out_of_china_scalar(x: float, y: float) -> bool:
    return x < 72.004 or x > 137.8347 or y < 0.8293 or y > 55.8271


def _gcj02_to_wgs84_scalar(x: float, y: float) -> tuple[float, float]:
    if _out_of_china_scalar(x, y):
        return x, y
    d_lon, d_lat = _gcj_offset_scalar(x, y)
    u, v = x - d_lon, y - d_lat
    for _ in range(_MAX_ITER):
        if _out_of_china_scalar(u, v):
            fx, fy = u, v
        else:
            d_lon, d_lat = _gcj_offset_scalar(u, v)
            fx, fy = u + d_lon, v + d_lat
        ex, ey = x - fx, y - fy
        u += ex
        v += ey
        if abs(ex) < _TOL_DEG and abs(ey) < _TOL_DEG:
            break
    return u, v


def _bd09_to_gcj02_scalar(x: float, y: float) -> tuple[float, float]:
    bx, by = x - 0.0065, y - 0.006
    z = math.sqrt(bx * bx + by * by) - 0.00002 * math.sin(by * _X_PI)
    theta = math.atan2(by, bx) - 0.000003 * math.cos(bx * _X_PI)
    u, v = z * math.cos(theta), z * math.sin(theta)
    for _ in range(_MAX_ITER):
        z = math.sqrt(u * u + v * v) + 0.00002 * math.sin(v * _X_PI)
        theta = math.atan2(v, u) + 0.000003 * math.cos(u * _X_PI)
        ex = x - (z * math.cos(theta) + 0.0065)
        ey = y - (z * math.sin(theta) + 0.006)
        u += ex
        v += ey
        if abs(ex) < _TOL_DEG and abs(ey) < _TOL_DEG:
            break
    return u, v


def point_to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """One point in `crs` → WGS84 (lon, lat), in plain Python floats.

    The fast path for every routed event: WGS84/CGCS2000 cost a range check, GCJ-02/BD-09 use
    `math` (no numpy call overhead). Raises InvalidCoordinates for values that are not a
    longitude/latitude (NaN included) when the CRS is geographic.
    """
    if crs in (WGS84, CGCS2000):
        _check_lon_lat(lon, lat, crs)
        return float(lon), float(lat)
    if crs == GCJ02:
        _check_lon_lat(lon, lat, crs)
        return _gcj02_to_wgs84_scalar(float(lon), float(lat))
    if crs == BD09:
        _check_lon_lat(lon, lat, crs)
        return _gcj02_to_wgs84_scalar(*_bd09_to_gcj02_scalar(float(lon), float(lat)))
    name = parse_crs(crs)
    if name != crs:  # a non-canonical spelling, e.g. "WGS-84": take the path above
        return point_to_wgs84(lon, lat, name)
    x, y = _transformer(name, True).transform(float(lon), float(lat))
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidCoordinates(
            f"Coordinates ({lon}, {lat}) cannot be converted from {name} to WGS84.",
            details={"lon": lon, "lat": lat, "crs": name},
        )
    return float(x), float(y)
