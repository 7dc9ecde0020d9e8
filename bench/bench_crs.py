"""Benchmark: coordinate conversion cost per routed point, and accuracy of the GCJ-02 inverse.

Prints figures; asserts nothing. Run: .venv/bin/python bench/bench_crs.py
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import pyproj

from gridmap.crs import gcj02_to_wgs84, point_to_wgs84, to_wgs84, wgs84_to_bd09, wgs84_to_gcj02

GEOD = pyproj.Geod(ellps="WGS84")


def per_call_us(fn: Any, points: list[tuple[float, float]]) -> tuple[float, float]:
    """p50 and p99 of single timed calls, in microseconds (robust to a busy machine)."""
    for lon, lat in points[:1000]:  # warm caches
        fn(lon, lat)
    samples = []
    clock = time.perf_counter_ns
    for lon, lat in points:
        t0 = clock()
        fn(lon, lat)
        samples.append((clock() - t0) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def main() -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.0, 135.0, 1_000_000)
    lat = rng.uniform(3.9, 53.5, 1_000_000)
    gx, gy = wgs84_to_gcj02(lon, lat)
    bx, by = wgs84_to_bd09(lon, lat)

    print("== one point (the routing hot path), microseconds per call (timer overhead included)")
    pts = list(zip(lon[:50_000].tolist(), lat[:50_000].tolist(), strict=True))
    gpts = list(zip(gx[:50_000].tolist(), gy[:50_000].tolist(), strict=True))
    bpts = list(zip(bx[:50_000].tolist(), by[:50_000].tolist(), strict=True))
    for label, fn, data in [
        ("timer and call overhead alone", lambda x, y: None, pts),
        ("point_to_wgs84 wgs84", lambda x, y: point_to_wgs84(x, y, "wgs84"), pts),
        ("point_to_wgs84 cgcs2000", lambda x, y: point_to_wgs84(x, y, "cgcs2000"), pts),
        ("point_to_wgs84 gcj02 (math)", lambda x, y: point_to_wgs84(x, y, "gcj02"), gpts),
        ("point_to_wgs84 bd09 (math)", lambda x, y: point_to_wgs84(x, y, "bd09"), bpts),
        ("to_wgs84 gcj02, one point (numpy)", lambda x, y: to_wgs84(x, y, "gcj02"), gpts[:5000]),
        ("to_wgs84 bd09, one point (numpy)", lambda x, y: to_wgs84(x, y, "bd09"), bpts[:5000]),
    ]:
        p50, p99 = per_call_us(fn, data)
        print(f"{label:40} p50 {p50:8.2f} us   p99 {p99:8.2f} us")

    print("== arrays of 1,000,000 points, points per second")
    for label, run in [
        ("gcj02_to_wgs84 (iterative)", lambda: gcj02_to_wgs84(gx, gy)),
        ("to_wgs84 bd09 (iterative, both steps)", lambda: to_wgs84(bx, by, "bd09")),
        ("single-step GCJ-02 inverse (for comparison)", lambda: single_step(gx, gy)),
    ]:
        t0 = time.perf_counter()
        run()
        dt = time.perf_counter() - t0
        print(f"{label:45} {1e6 / dt / 1e6:6.2f} M points/s  ({dt:.2f} s)")

    print("== accuracy of the GCJ-02 inverse over 1,000,000 points in China, metres")
    for label, (x, y) in [
        ("iterative (gridmap.crs)", gcj02_to_wgs84(gx, gy)),
        ("single-step (common)", single_step(gx, gy)),
    ]:
        d = np.asarray(GEOD.inv(lon, lat, x, y)[2])
        print(f"{label:25} max {d.max():.6f}  p99 {np.quantile(d, 0.99):.6f}  mean {d.mean():.6f}")


def single_step(gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fx, fy = wgs84_to_gcj02(gx, gy)
    return gx - (fx - gx), gy - (fy - gy)


if __name__ == "__main__":
    main()
