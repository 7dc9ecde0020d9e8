"""A synthetic megacity of irregular Voronoi grids (30–50 households) for routing benchmarks."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely

COUNTY_CODE = "110199"  # a made-up county code: the geometry is synthetic
GRIDS_PER_COMMUNITY = 75  # ≈ 3,000 households at 40 per grid, the community guideline
# Share of grids in the dense core; the rest spread evenly (suburbs and villages).
CORE_SHARE = 0.85


def make_megacity(
    n_grids: int = 200_000,
    *,
    seed: int = 0,
    center: tuple[float, float] = (116.40, 39.90),
) -> gpd.GeoDataFrame:
    """Deterministic Voronoi grids around `center` (EPSG:4326) with a dense core.

    Density falls off exponentially from the centre (core grids about 60 m across, outer
    grids about 600 m), inside an irregular outline. Columns: code (15-digit
    county+township+community+grid), township_code, community_code, households, geometry.
    """
    rng = np.random.default_rng(seed)
    # Radial scale chosen so that the core holds CORE_SHARE of the grids at about one grid
    # per 3,600 m² (~10,000 households/km²), a dense Chinese urban district.
    r0 = math.sqrt(CORE_SHARE * n_grids * 3600.0 / (2 * math.pi))
    outer = 6.0 * r0
    # Draw 10 % extra seeds: some fall outside the wobbly outline; keep exactly n_grids.
    n_draw = int(n_grids * 1.1) + 10
    n_core = round(CORE_SHARE * n_draw)
    n_rest = n_draw - n_core
    # 2-D density ∝ exp(-r/r0) has radius ~ Gamma(2, r0).
    r_core = np.minimum(rng.gamma(2.0, r0, n_core), outer * 0.97)
    r_rest = outer * np.sqrt(rng.random(n_rest))
    r = np.concatenate([r_core, r_rest])
    theta = rng.random(n_draw) * 2 * math.pi
    r, theta = _shuffled(rng, r, theta)

    lon0, lat0 = center
    m_lon = 111_320.0 * math.cos(math.radians(lat0))
    m_lat = 110_950.0
    x = lon0 + r * np.cos(theta) / m_lon
    y = lat0 + r * np.sin(theta) / m_lat

    # An irregular outline: the outer circle wobbled by a few harmonics.
    angles = np.linspace(0, 2 * math.pi, 721)[:-1]
    wobble = 1.0 + 0.04 * np.sin(3 * angles + 1.0) + 0.03 * np.sin(7 * angles + 2.0)
    outline = shapely.Polygon(
        np.column_stack(
            [
                lon0 + outer * wobble * np.cos(angles) / m_lon,
                lat0 + outer * wobble * np.sin(angles) / m_lat,
            ]
        )
    )
    inside = np.flatnonzero(shapely.contains_xy(outline, x, y))[:n_grids]
    x, y = x[inside], y[inside]

    cells = shapely.voronoi_polygons(
        shapely.multipoints(np.column_stack([x, y])), extend_to=outline, ordered=True
    )
    polys = np.asarray(shapely.get_parts(cells))
    polys = np.asarray(shapely.intersection(polys, outline))
    polys = _largest_part(polys)
    keep = ~shapely.is_empty(polys)
    polys, x, y = polys[keep], x[keep], y[keep]

    township, community = _group(x, y, lon0, lat0, m_lon, m_lat)
    order = np.lexsort((_morton(x, y), community, township))
    polys, township, community = polys[order], township[order], community[order]
    grid_seq = _sequence_within(township * 10_000 + community)
    codes = [
        f"{COUNTY_CODE}{t:03d}{c:03d}{g:03d}"
        for t, c, g in zip(township + 1, community + 1, grid_seq + 1, strict=True)
    ]
    return gpd.GeoDataFrame(
        {
            "code": codes,
            "township_code": [c[:9] for c in codes],
            "community_code": [c[:12] for c in codes],
            "households": rng.integers(30, 51, len(codes)),
        },
        geometry=polys,
        crs="EPSG:4326",
    )


def _shuffled(
    rng: np.random.Generator, r: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mix core and outer seeds so that truncating to n_grids keeps the core share."""
    order = rng.permutation(len(r))
    return r[order], theta[order]


def _largest_part(polys: np.ndarray) -> np.ndarray:
    """Clipping at a concave outline can split a cell; keep one Polygon per grid."""
    multi = shapely.get_type_id(polys) == 6
    for i in np.flatnonzero(multi):
        parts = shapely.get_parts(polys[i])
        polys[i] = parts[np.argmax(shapely.area(parts))]
    return polys


def _group(
    x: np.ndarray, y: np.ndarray, lon0: float, lat0: float, m_lon: float, m_lat: float
) -> tuple[np.ndarray, np.ndarray]:
    """Townships: 8 sectors × 3 rings of equal grid count; communities: compact chunks."""
    dx, dy = (x - lon0) * m_lon, (y - lat0) * m_lat
    sector = ((np.arctan2(dy, dx) + math.pi) / (2 * math.pi) * 8).astype(np.int64) % 8
    dist = np.hypot(dx, dy)
    township = np.empty(len(x), dtype=np.int64)
    community = np.empty(len(x), dtype=np.int64)
    for s in range(8):
        members = np.flatnonzero(sector == s)
        ring = np.searchsorted(
            np.quantile(dist[members], [1 / 3, 2 / 3]), dist[members], side="right"
        )
        township[members] = s * 3 + ring
    for t in np.unique(township):
        members = np.flatnonzero(township == t)
        members = members[np.argsort(_morton(x[members], y[members]), kind="stable")]
        community[members] = np.arange(len(members)) // GRIDS_PER_COMMUNITY
    return township, community


def _morton(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Z-order key, so consecutive grids are near each other."""

    def scaled(v: np.ndarray) -> np.ndarray:
        span = float(v.max() - v.min()) or 1.0
        return ((v - v.min()) / span * 65535).astype(np.uint64)

    key = np.zeros(len(x), dtype=np.uint64)
    xi, yi = scaled(x), scaled(y)
    for bit in range(16):
        b = np.uint64(bit)
        key |= ((xi >> b) & np.uint64(1)) << np.uint64(2 * bit)
        key |= ((yi >> b) & np.uint64(1)) << np.uint64(2 * bit + 1)
    return key


def _sequence_within(group: np.ndarray) -> np.ndarray:
    """0, 1, 2, … within each run of equal (sorted) group keys."""
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    seq = np.arange(len(group))
    return seq - np.repeat(starts, np.diff(np.r_[starts, len(group)]))


if __name__ == "__main__":
    import sys
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    t0 = time.perf_counter()
    city = make_megacity(n)
    print(f"{len(city)} grids in {time.perf_counter() - t0:.1f} s; bounds {city.total_bounds}")
    print(city.head())
