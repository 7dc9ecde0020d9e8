"""Benchmark: ~5,000 grids for a county the size of Gaoping (338 communities, ~200,000 households).

Prints the time of geodata.gridgen.generate_grids over all communities and, for comparison,
the obvious alternative: walk the buildings along a Hilbert curve and cut a grid every time
40 households are reached (a fixed-count split like fmtm-splitter's). Run:
`.venv/bin/python bench/bench_gridgen.py`.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import box

from geodata.gridgen import generate_grids

COMMUNITIES = 338
SEED = 140581


def synthetic_county() -> tuple[np.ndarray, list[gpd.GeoDataFrame]]:
    rng = np.random.default_rng(SEED)
    frame = box(112.75, 35.65, 113.10, 35.95)
    seeds = shapely.multipoints(rng.uniform([112.75, 35.65], [113.10, 35.95], (COMMUNITIES, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))
    communities = shapely.intersection(cells, frame)
    per_community = []
    for i, area in enumerate(communities):
        urban = i % 10 == 0  # one in ten is a dense urban community
        n = int(rng.integers(60, 120)) if urban else int(rng.integers(350, 600))
        minx, miny, maxx, maxy = area.bounds
        xy = rng.uniform([minx, miny], [maxx, maxy], (n * 3, 2))
        xy = xy[shapely.contains_xy(area, xy[:, 0], xy[:, 1])][:n]
        if urban:
            hh = rng.integers(6, 40, len(xy))
            hh[rng.random(len(xy)) < 0.05] = rng.integers(60, 200)
        else:
            hh = np.where(rng.random(len(xy)) < 0.02, 0, 1)
        per_community.append(
            gpd.GeoDataFrame(
                {"households": hh}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=4326
            )
        )
    return communities, per_community


def hilbert_fill(buildings: gpd.GeoDataFrame, target: int = 40) -> np.ndarray:
    order = np.argsort(buildings.geometry.hilbert_distance().to_numpy(), kind="stable")
    cum = np.cumsum(buildings["households"].to_numpy()[order])
    groups = np.minimum(cum // target, max(cum[-1] // target - 1, 0))
    return np.bincount(groups, weights=buildings["households"].to_numpy()[order])


def main() -> None:
    communities, buildings = synthetic_county()
    total = sum(int(b["households"].sum()) for b in buildings)
    print(f"{COMMUNITIES} communities, {sum(map(len, buildings))} buildings, {total} households")

    start, cpu = time.perf_counter(), time.process_time()
    results = [
        generate_grids(area, b, code_prefix=f"{i:012d}")
        for i, (area, b) in enumerate(zip(communities, buildings, strict=True))
    ]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    grids = gpd.pd.concat([r.grids for r in results])
    regular = grids[grids["flag"] != "high_rise"]
    in_range = regular["households"].between(30, 50).mean()
    print(
        f"generate_grids: {elapsed:.2f} s wall, {cpu:.2f} s CPU, {len(grids)} grids "
        f"({(grids['flag'] == 'high_rise').sum()} high-rise), "
        f"{in_range:.1%} of the others in 30-50, polygons included"
    )

    start = time.perf_counter()
    sizes = np.concatenate([hilbert_fill(b) for b in buildings])
    elapsed = time.perf_counter() - start
    in_range = ((sizes >= 30) & (sizes <= 50)).mean()
    print(
        f"Hilbert fill of 40 (no polygons): {elapsed:.2f} s, {len(sizes)} groups, "
        f"{in_range:.1%} in 30-50"
    )


if __name__ == "__main__":
    main()
