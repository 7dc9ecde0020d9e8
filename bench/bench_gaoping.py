"""Benchmark: how long the Gaoping demo synthesis takes, and what its graph search buys.

Prints (1) the median time of `synthesise_gaoping()` and of `teams_for_grids` over ~4,000
grids; (2) for the same fine cells, the multi-source Dijkstra over the cell graph that
`geodata.gaoping` uses against the obvious alternative, assigning each cell to the nearest
centre in a straight line (a plain Voronoi of the centres): time, and how many townships
and communities come out in more than one piece. Run: `.venv/bin/python bench/bench_gaoping.py`.
"""

from __future__ import annotations

import statistics
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata import gaoping
from geodata.gaoping import read_divisions, synthesise_gaoping, teams_for_grids

RUNS = 3


def timed(fn, runs: int = RUNS) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    """Median seconds of CPU time of this process (steadier than wall time on a busy
    machine; the work is single-threaded, so on an idle machine the two agree)."""
    times, result = [], None
    for _ in range(runs):
        start = time.process_time()
        result = fn()
        times.append(time.process_time() - start)
    return statistics.median(times), result


def pieces(cells: np.ndarray, label: np.ndarray, count: int) -> int:
    """How many regions are in more than one piece."""
    return sum(
        int(shapely.get_num_geometries(shapely.coverage_union_all(cells[label == i]))) > 1
        for i in range(count)
    )


def main() -> None:
    seconds, data = timed(synthesise_gaoping)
    assert isinstance(data, gaoping.GaopingData)
    print(
        f"synthesise_gaoping: {seconds:.2f} s CPU, median of {RUNS} "
        f"({len(data.buildings):,} buildings, {int(data.buildings['households'].sum()):,} "
        "households, 15 townships, 338 communities)"
    )

    communities = [d for d in read_divisions() if d.level == "community"]
    rows = [(f"{c.code}{i:03d}", c.code) for c in communities for i in range(1, 13)]
    grids = gpd.GeoDataFrame(pd.DataFrame(rows, columns=["code", "parent_code"]))
    seconds, _ = timed(lambda: teams_for_grids(grids))
    print(f"teams_for_grids: {seconds:.2f} s CPU, median, for {len(grids):,} grids")

    rng = np.random.default_rng(gaoping.DEFAULT_SEED)
    divisions = read_divisions()
    townships = [d for d in divisions if d.level == "township"]
    start = time.perf_counter()
    cells, points, sources = gaoping._fine_cells(gaoping.county_outline(), townships, rng)
    elapsed = time.perf_counter() - start
    print(f"fine cells: {len(cells):,} clipped Voronoi cells in {elapsed:.2f} s")

    start = time.perf_counter()
    graph = gaoping._Graph.of(cells, points)
    built = time.perf_counter() - start
    graph_s, by_graph = timed(lambda: graph.nearest_source(sources))
    straight_s, by_line = timed(
        lambda: np.argmin(((points[:, None, :] - points[sources][None]) ** 2).sum(axis=2), axis=1)
    )
    assert isinstance(by_graph, np.ndarray) and isinstance(by_line, np.ndarray)
    print(f"cell graph built in {built:.2f} s ({len(graph.heads) // 2:,} shared edges)")
    print(
        f"townships by graph Dijkstra: {graph_s * 1000:.0f} ms, "
        f"{pieces(cells, by_graph, 15)} of 15 in several pieces"
    )
    print(
        f"townships by straight-line nearest centre: {straight_s * 1000:.0f} ms, "
        f"{pieces(cells, by_line, 15)} of 15 in several pieces"
    )


if __name__ == "__main__":
    main()
