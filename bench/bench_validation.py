"""Benchmark: validate_areas on synthetic counties of 4,000 and 200,000 grids.

Each community is a 0.004-degree square tiled by 8 x 5 quadrilateral grids whose inner
corners are jittered (shared exactly between neighbours, as a real coverage is); one grid in
a thousand is enlarged by 5% and one shrunk by 5%, so there are overlaps, gaps and grids
outside their community to find. Compares the coverage-screened overlap check with the obvious
alternative (intersect every pair of touching grids) in the same run.
Prints figures; asserts nothing.
Run: .venv/bin/python bench/bench_validation.py [4000 200000]
"""

from __future__ import annotations

import sys
import time
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from geodata.validation import validate_areas

COLS, ROWS, SIDE = 8, 5, 0.004


def synthetic(n_grids: int, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    per = COLS * ROWS
    n_comm = max(1, n_grids // per)
    across = int(np.ceil(np.sqrt(n_comm)))
    nx, ny = across * COLS, int(np.ceil(n_comm / across)) * ROWS
    dx, dy = SIDE / COLS, SIDE / ROWS
    gx, gy = np.meshgrid(np.arange(nx + 1) * dx, np.arange(ny + 1) * dy, indexing="ij")
    inner = (np.arange(nx + 1) % COLS != 0)[:, None] & (np.arange(ny + 1) % ROWS != 0)[None, :]
    gx = gx + np.where(inner, rng.uniform(-0.2, 0.2, gx.shape) * dx, 0.0) + 112.5
    gy = gy + np.where(inner, rng.uniform(-0.2, 0.2, gy.shape) * dy, 0.0) + 35.5

    codes: list[str] = []
    parents: list[str | None] = []
    layers: list[str] = []
    geoms: list[Any] = []
    households: list[int | None] = []
    for c in range(n_comm):
        ci, cj = c % across, c // across
        x0, y0 = ci * COLS, cj * ROWS
        community = f"C{c:06d}"
        codes.append(community)
        parents.append(None)
        layers.append("community")
        geoms.append(shapely.box(gx[x0, y0], gy[x0, y0], gx[x0 + COLS, y0], gy[x0, y0 + ROWS]))
        households.append(None)
        i = np.repeat(np.arange(x0, x0 + COLS), ROWS)
        j = np.tile(np.arange(y0, y0 + ROWS), COLS)
        ring = np.stack(
            [
                np.stack([gx[i, j], gy[i, j]], -1),
                np.stack([gx[i + 1, j], gy[i + 1, j]], -1),
                np.stack([gx[i + 1, j + 1], gy[i + 1, j + 1]], -1),
                np.stack([gx[i, j + 1], gy[i, j + 1]], -1),
                np.stack([gx[i, j], gy[i, j]], -1),
            ],
            axis=1,
        )
        cells = shapely.polygons(ring)
        codes.extend(f"{community}G{k:02d}" for k in range(per))
        parents.extend([community] * per)
        layers.extend(["grid"] * per)
        geoms.extend(np.asarray(cells).tolist())
        households.extend(rng.integers(30, 51, per).tolist())
    gdf = gpd.GeoDataFrame(
        {
            "code": codes,
            "name": codes,
            "layer": layers,
            "parent_code": parents,
            "households": households,
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    grids = np.flatnonzero(gdf["layer"].to_numpy() == "grid")
    broken = rng.choice(grids, size=max(2, len(grids) // 500), replace=False)
    grown, shrunk = broken[::2], broken[1::2]
    gdf.loc[grown, "geometry"] = gdf.geometry.iloc[grown].scale(1.05, 1.05).to_numpy()
    gdf.loc[shrunk, "geometry"] = gdf.geometry.iloc[shrunk].scale(0.95, 0.95).to_numpy()
    gdf.geometry = shapely.multipolygons(gdf.geometry.to_numpy()[:, None])
    return gdf


def all_pairs_overlaps(gdf: gpd.GeoDataFrame) -> tuple[int, float]:
    """The obvious alternative: intersect every pair of grids whose boxes meet, and keep
    overlaps of 1 m² or more (validate_areas's default), measured in the same projection."""
    t0 = time.perf_counter()
    geoms = gdf.geometry.to_numpy()[gdf["layer"].to_numpy() == "grid"]
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    shared = shapely.intersection(geoms[a[keep]], geoms[b[keep]])
    x1, y1, x2, y2 = shapely.total_bounds(geoms)
    aeqd = pyproj.Transformer.from_crs(
        "EPSG:4326",
        f"+proj=aeqd +lat_0={(y1 + y2) / 2} +lon_0={(x1 + x2) / 2} +datum=WGS84 +units=m",
        always_xy=True,
    )
    metres = shapely.transform(shared, lambda c: np.column_stack(aeqd.transform(*c.T)))
    return int((shapely.area(metres) >= 1.0).sum()), time.perf_counter() - t0


def main(sizes: list[int]) -> None:
    for n in sizes:
        gdf = synthetic(n)
        t0 = time.perf_counter()
        report = validate_areas(gdf)
        dt = time.perf_counter() - t0
        grids = int((gdf["layer"] == "grid").sum())
        print(
            f"{grids:>7} grids, {len(gdf) - grids:>5} communities: validate_areas {dt:6.2f} s "
            f"({grids / dt:,.0f} grids/s); problems {report.counts()}"
        )
        if grids <= 50_000:
            found, alt = all_pairs_overlaps(gdf)
            print(
                f"        overlap step alone, intersecting every touching pair: {alt:6.2f} s "
                f"({found} overlapping pairs of 1 m² or more)"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [4000, 200_000])
