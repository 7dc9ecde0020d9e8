"""Benchmark: geodata.gridgen.generate_grids over the Gaoping demo county (338 communities).

Uses the real demo data (geodata.gaoping.synthesise_gaoping: ~90,000 buildings, ~160,000
households) and prints wall and CPU time (the machine is shared, so CPU time is the fairer
figure), the load average, the flags, how many grids are in pieces, and why the grids out
of range are left so. For comparison, the obvious alternative in the same run: walk the
buildings along a Hilbert curve and cut a grid every 40 households (a fixed-count split
like fmtm-splitter's, no polygons). Run: `.venv/bin/python bench/bench_gridgen.py`.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.gaoping import synthesise_gaoping
from geodata.gridgen import generate_grids


def hilbert_fill(buildings: gpd.GeoDataFrame, target: int = 40) -> np.ndarray:
    order = np.argsort(buildings.geometry.hilbert_distance().to_numpy(), kind="stable")
    cum = np.cumsum(buildings["households"].to_numpy()[order])
    groups = np.minimum(cum // target, max(cum[-1] // target - 1, 0))
    return np.bincount(groups, weights=buildings["households"].to_numpy()[order])


def main() -> None:
    data = synthesise_gaoping()
    by_community = dict(tuple(data.buildings.groupby("community_code", sort=False)))
    jobs = [
        (c.code, c.geometry, by_community.get(c.code, data.buildings.iloc[0:0]))
        for c in data.communities.itertuples()
    ]
    print(
        f"{len(jobs)} communities, {len(data.buildings)} buildings, "
        f"{int(data.buildings['households'].sum())} households; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )

    start, cpu = time.perf_counter(), time.process_time()
    results = [generate_grids(area, b, code_prefix=code) for code, area, b in jobs]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    grids = pd.concat([r.grids for r in results], ignore_index=True)
    regular = grids[grids["flag"] != "high_rise"]
    pieces = shapely.get_num_geometries(np.asarray(grids.geometry.values))
    print(
        f"generate_grids: {elapsed:.2f} s wall, {cpu:.2f} s CPU "
        f"(load average after: {os.getloadavg()[0]:.1f}), {len(grids)} grids, "
        f"flags {dict(Counter(grids['flag'].dropna()))}, "
        f"{regular['households'].between(30, 50).mean():.2%} of the others in 30-50, "
        f"{int((pieces > 1).sum())} grid(s) in more than one piece"
    )
    print(f"  {len(pieces)} grids, {int(pieces.sum())} pieces")

    valid = sum(
        bool(shapely.coverage_is_valid(np.asarray(r.grids.geometry.values))) for r in results
    )
    print(f"  coverage valid in {valid} of {len(results)} communities")

    start, cpu = time.perf_counter(), time.process_time()
    sizes = np.concatenate([hilbert_fill(b) for _, _, b in jobs if len(b)])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    in_range = ((sizes >= 30) & (sizes <= 50)).mean()
    print(
        f"Hilbert fill of 40 (no polygons): {elapsed:.2f} s wall, {cpu:.2f} s CPU, "
        f"{len(sizes)} groups, {in_range:.1%} in 30-50"
    )


if __name__ == "__main__":
    main()
