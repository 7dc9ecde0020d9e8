"""Benchmark: topology-preserving GCJ-02 → WGS84 conversion of a county's boundaries.

Takes bench_validation's synthetic county (communities as four-corner squares tiled by
quadrilateral grids, so every grid corner on a community edge is a T-junction), reads its
coordinates as GCJ-02, and times `geometry_to_wgs84` (node, densify to MAX_SEGMENT_M,
convert) against a plain vertex-by-vertex conversion. Prints figures; asserts nothing.
Run: .venv/bin/python bench/bench_crs_topology.py [4000 20000]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_validation import synthetic

from gridmap.crs import MAX_SEGMENT_M, gcj02_to_wgs84, geometry_to_wgs84


def main(sizes: list[int]) -> None:
    for n in sizes:
        gdf = synthetic(n)
        geoms = gdf.geometry.to_numpy()
        before = len(shapely.get_coordinates(geoms))
        best = naive = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            out = geometry_to_wgs84(geoms, "gcj02")
            best = min(best, time.perf_counter() - t0)
            t0 = time.perf_counter()
            shapely.transform(geoms, lambda c: np.column_stack(gcj02_to_wgs84(c[:, 0], c[:, 1])))
            naive = min(naive, time.perf_counter() - t0)
        after = len(shapely.get_coordinates(out))
        print(
            f"{len(geoms):>6} polygons, {before:>8} vertices → {after:>8} after noding and "
            f"densifying to {MAX_SEGMENT_M:g} m: {best:6.2f} s "
            f"(vertex by vertex: {naive:5.2f} s, best of 3)"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [4000, 20000])
