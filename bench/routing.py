"""Routing benchmark: PolygonIndex vs geopandas sjoin, shapely STRtree and PostGIS.

Run: .venv/bin/python bench/routing.py [--grids 200000] [--points 1000000] [--skip-gaoping]
     [--skip-postgis]

For each dataset (the synthetic megacity; the Gaoping demo when geodata.demo can load it)
it prints batch points/s for every method, single-point p50/p99, the index build time and
memory, and fails if any method disagrees with PolygonIndex. Every method answers the
same question: the smallest id among polygons covering the point (point-in-polygon
"intersects" = PostGIS ST_Covers), or -1.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import psycopg
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from megacity import make_megacity  # noqa: E402

from gridmap.routing.spatial_index import PolygonIndex  # noqa: E402

NO_ID = np.iinfo(np.int64).max


@dataclass
class Result:
    name: str
    n_grids: int
    n_points: int
    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, value: str) -> None:
        self.rows.append((what, value))
        print(f"  {what:<48} {value}", flush=True)


# --- helpers ---------------------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores (nproc), {model}, Python {platform.python_version()}"


def best_of(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def percentiles_us(samples_ns: Sequence[int]) -> str:
    a = np.asarray(samples_ns) / 1000.0
    return f"p50 {np.percentile(a, 50):.1f} µs, p99 {np.percentile(a, 99):.1f} µs"


def min_id_per_point(n: int, point_idx: np.ndarray, ids: np.ndarray) -> np.ndarray:
    out = np.full(n, NO_ID, dtype=np.int64)
    np.minimum.at(out, point_idx, ids)
    out[out == NO_ID] = -1
    return out


def draw_points(geoms: np.ndarray, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
    """90 % uniform over the bounding box, 10 % exactly on vertices or edge midpoints."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    n_edge = n // 10
    parts = np.asarray(shapely.get_parts(geoms))  # MultiPolygons have no exterior ring
    rings = shapely.get_exterior_ring(parts[rng.integers(0, len(parts), n_edge)])
    coords, which = shapely.get_coordinates(rings, return_index=True)
    starts = np.r_[0, np.flatnonzero(np.diff(which)) + 1]
    lengths = np.diff(np.r_[starts, len(coords)]) - 1  # edges per ring
    k = starts + (rng.random(n_edge) * lengths).astype(np.int64)
    on_vertex = rng.random(n_edge) < 0.5
    edge_pts = np.where(on_vertex[:, None], coords[k], (coords[k] + coords[k + 1]) / 2)
    xs = np.concatenate([rng.uniform(minx, maxx, n - n_edge), edge_pts[:, 0]])
    ys = np.concatenate([rng.uniform(miny, maxy, n - n_edge), edge_pts[:, 1]])
    return xs, ys, n_edge


# --- the methods -----------------------------------------------------------------------


def bench_index(
    res: Result, ids: np.ndarray, geoms: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> tuple[PolygonIndex, np.ndarray]:
    started = time.perf_counter()
    PolygonIndex.build(np.array([1]), [shapely.box(0, 0, 1, 1)]).locate_many_with_near(
        np.zeros(1), np.zeros(1)
    )
    res.add("numba JIT load/compile (once per process)", f"{time.perf_counter() - started:.2f} s")
    gc.collect()
    before = rss_mb()
    index = PolygonIndex.build(ids, geoms)
    res.add("PolygonIndex build", f"{index.build_seconds:.2f} s")
    res.add(
        "PolygonIndex memory (arrays / RSS growth)",
        f"{index.nbytes / 1e6:.0f} MB / {rss_mb() - before:.0f} MB",
    )
    rows, cols = index.raster_shape
    res.add("raster", f"{rows} × {cols} cells")
    index.locate_many(xs[:1000], ys[:1000])
    seconds, found = best_of(lambda: index.locate_many(xs, ys))
    res.add("PolygonIndex.locate_many", f"{len(xs) / seconds:,.0f} points/s")
    seconds, _ = best_of(lambda: index.locate_many_with_near(xs, ys))
    res.add("PolygonIndex.locate_many_with_near", f"{len(xs) / seconds:,.0f} points/s")

    sample = np.random.default_rng(5).choice(len(xs), min(20_000, len(xs)), replace=False)
    pts = list(zip(xs[sample].tolist(), ys[sample].tolist(), strict=True))
    for label, fn in (
        ("PolygonIndex.locate single", index.locate),
        ("PolygonIndex.locate_with_near single", index.locate_with_near),
    ):
        times = []
        for x, y in pts:
            t0 = time.perf_counter_ns()
            fn(x, y)
            times.append(time.perf_counter_ns() - t0)
        res.add(label, percentiles_us(times))
    return index, found


def bench_sjoin(
    res: Result, ids: np.ndarray, geoms: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> np.ndarray:
    grids = gpd.GeoDataFrame({"gid": ids}, geometry=geoms, crs="EPSG:4326")
    points = gpd.GeoDataFrame(geometry=shapely.points(xs, ys), crs="EPSG:4326")
    _ = grids.sindex  # warm: the index is built before timing

    def run() -> np.ndarray:
        joined = gpd.sjoin(points, grids, how="inner", predicate="intersects")
        return min_id_per_point(len(xs), joined.index.to_numpy(), joined["gid"].to_numpy())

    seconds, found = best_of(run, repeat=1)
    res.add("geopandas sjoin (warm index) + min id", f"{len(xs) / seconds:,.0f} points/s")
    return found  # type: ignore[no-any-return]


def bench_strtree(
    res: Result, ids: np.ndarray, geoms: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> np.ndarray:
    tree = shapely.STRtree(geoms)
    points = shapely.points(xs, ys)

    def run() -> np.ndarray:
        pi, gi = tree.query(points, predicate="intersects")
        return min_id_per_point(len(xs), pi, ids[gi])

    seconds, found = best_of(run, repeat=1)
    res.add("shapely STRtree query + min id", f"{len(xs) / seconds:,.0f} points/s")
    times = []
    for x, y in zip(xs[:5000].tolist(), ys[:5000].tolist(), strict=True):
        t0 = time.perf_counter_ns()
        hits = tree.query(shapely.Point(x, y), predicate="intersects")
        _ = ids[hits].min() if len(hits) else -1
        times.append(time.perf_counter_ns() - t0)
    res.add("shapely STRtree single", percentiles_us(times))
    return found  # type: ignore[no-any-return]


def bench_postgis(
    res: Result,
    conninfo: str,
    part_sql: str,
    xs: np.ndarray,
    ys: np.ndarray,
) -> np.ndarray:
    """`part_sql` selects (id, geom) of the subdivided polygons with a GiST index."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_pt")
        conn.execute("CREATE UNLOGGED TABLE bench_pt (n int, geom geometry(Point, 4326))")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_pt (n, geom) FROM STDIN") as copy:
            buf = io.StringIO()
            for n, (x, y) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True)):
                buf.write(f"{n}\tSRID=4326;POINT({x!r} {y!r})\n")
                if n % 100_000 == 99_999:
                    copy.write(buf.getvalue())
                    buf = io.StringIO()
            copy.write(buf.getvalue())
        conn.execute("ANALYZE bench_pt")
        res.add(
            "PostGIS: COPY points in (not in the rate)", f"{time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        rows = conn.execute(
            f"SELECT p.n, min(g.id) FROM bench_pt p JOIN ({part_sql}) g "
            "ON ST_Covers(g.geom, p.geom) GROUP BY p.n"
        ).fetchall()
        seconds = time.perf_counter() - started
        res.add(
            "PostGIS batch join (ST_Covers, subdivided, GiST)", f"{len(xs) / seconds:,.0f} points/s"
        )
        found = np.full(len(xs), -1, dtype=np.int64)
        if rows:
            arr = np.asarray(rows, dtype=np.int64)
            found[arr[:, 0]] = arr[:, 1]

        query = (
            f"SELECT min(g.id) FROM ({part_sql}) g "
            "WHERE ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
        )
        times = []
        with conn.cursor() as cur:
            for x, y in zip(xs[:3000].tolist(), ys[:3000].tolist(), strict=True):
                t0 = time.perf_counter_ns()
                cur.execute(query, (x, y), prepare=True)
                cur.fetchone()
                times.append(time.perf_counter_ns() - t0)
        res.add("PostGIS single-point query (prepared)", percentiles_us(times[100:]))
        conn.execute("DROP TABLE bench_pt")
    return found


def bench_route_single(
    router: Any, lons: np.ndarray, lats: np.ndarray, category: str | None
) -> str:
    """Time the full `route()` (index + team + responsibility rule) one point at a time."""
    for x, y in zip(lons[:200].tolist(), lats[:200].tolist(), strict=True):
        router.route(x, y, category=category)  # warm caches
    times = []
    for x, y in zip(lons.tolist(), lats.tolist(), strict=True):
        t0 = time.perf_counter_ns()
        router.route(x, y, category=category)
        times.append(time.perf_counter_ns() - t0)
    return percentiles_us(times)


# Within this distance of a boundary (1e-9 degree ≈ 0.1 mm) an answer is a rounding
# question, not a routing one: PostGIS's cached point-in-polygon path (used by batch joins)
# computes orientation in plain double arithmetic, so for points within ~1e-15 degree of an
# edge it can miss the covering polygon, where GEOS and PolygonIndex decide exactly.
BOUNDARY_TOLERANCE_DEG = 1e-9


def check_agreement(
    res: Result,
    reference: np.ndarray,
    others: dict[str, np.ndarray],
    ids: np.ndarray,
    geoms: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
) -> bool:
    """Fail on any disagreement except points within BOUNDARY_TOLERANCE_DEG of an edge."""
    by_id = dict(zip(ids.tolist(), geoms, strict=True))
    ok = True
    for name, found in others.items():
        bad = np.flatnonzero(found != reference)
        on_edge = 0
        real = []
        for i in bad:
            pid = int(reference[i]) if reference[i] >= 0 else int(found[i])
            d = shapely.distance(shapely.boundary(by_id[pid]), shapely.Point(xs[i], ys[i]))
            if d <= BOUNDARY_TOLERANCE_DEG:
                on_edge += 1
            else:
                real.append(int(i))
        if on_edge:
            res.add(
                f"{name}: differs on points ≤ 1e-9° from an edge",
                f"{on_edge} of {len(xs):,} (boundary rounding, tolerated)",
            )
        if real:
            ok = False
            res.add(f"DISAGREE {name}", f"{len(real)} points, e.g. {real[:5]}")
    if ok:
        res.add("all methods agree", f"yes ({', '.join(others)})")
    return ok


# --- datasets --------------------------------------------------------------------------


def admin_url(cluster_url: str, db: str) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(cluster_url)
        .set(database=db, drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def scratch_db(cluster_url: str, name: str) -> str:
    with psycopg.connect(admin_url(cluster_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url(cluster_url, name)


def run_megacity(args: argparse.Namespace, cluster_url: str | None) -> tuple[Result, bool]:
    started = time.perf_counter()
    city = make_megacity(args.grids)
    res = Result("megacity", len(city), args.points)
    print(f"\n== synthetic megacity: {len(city):,} grids, {args.points:,} points ==")
    res.add("make_megacity", f"{time.perf_counter() - started:.1f} s")
    ids = np.arange(1, len(city) + 1, dtype=np.int64)
    geoms = np.asarray(city.geometry.values)
    xs, ys, n_edge = draw_points(geoms, args.points)
    res.add("points on vertices / edge midpoints", f"{n_edge:,}")
    _, found = bench_index(res, ids, geoms, xs, ys)
    others = {
        "sjoin": bench_sjoin(res, ids, geoms, xs, ys),
        "STRtree": bench_strtree(res, ids, geoms, xs, ys),
    }
    if cluster_url is not None:
        conninfo = scratch_db(cluster_url, "bench_megacity")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            conn.execute("CREATE TABLE grid (id bigint, geom geometry(Polygon, 4326))")
            with conn.cursor() as cur, cur.copy("COPY grid (id, geom) FROM STDIN") as copy:
                wkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
                copy.write("".join(f"{i}\t{w}\n" for i, w in zip(ids.tolist(), wkb, strict=True)))
            conn.execute(
                "CREATE TABLE grid_part AS SELECT id, ST_Subdivide(geom) AS geom FROM grid"
            )
            conn.execute("CREATE INDEX ON grid_part USING gist (geom)")
            conn.execute("ANALYZE grid_part")
        others["PostGIS"] = bench_postgis(res, conninfo, "SELECT id, geom FROM grid_part", xs, ys)
    ok = check_agreement(res, found, others, ids, geoms, xs, ys)
    return res, ok


def run_gaoping(args: argparse.Namespace, cluster_url: str) -> tuple[Result | None, bool]:
    try:
        from geodata.demo import load_gaoping
        from gridmap.db import make_engine, migrate, session_factory
        from gridmap.routing.router import Router
        from gridmap.settings import Settings
    except ImportError as exc:
        print(f"\n== Gaoping: skipped, the demo loader is not available ({exc}) ==")
        return None, True
    print("\n== Gaoping demo (synthetic geometry inside the real outline) ==")
    url = scratch_db(cluster_url, "bench_gaoping")
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    migrate(sa_url)
    engine = make_engine(sa_url)
    sessions = session_factory(engine)
    started = time.perf_counter()
    try:
        with sessions() as session:
            load_gaoping(session)
            session.commit()
    except Exception as exc:  # someone else's loader: report and go on with the figures
        print(f"  Gaoping: skipped, load_gaoping failed: {type(exc).__name__}: {exc}"[:400])
        engine.dispose()
        return None, True
    load_s = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id, ST_AsBinary(geom) FROM area WHERE layer = 'grid' AND valid_to IS NULL"
        ).fetchall()
        cat = conn.execute("SELECT code FROM category ORDER BY id LIMIT 1").fetchone()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    geoms = np.asarray(shapely.from_wkb([bytes(r[1]) for r in rows]))
    res = Result("gaoping", len(ids), args.points)
    vertices = int(shapely.get_num_coordinates(geoms).sum())
    res.add("grids / vertices", f"{len(ids):,} / {vertices:,}")
    res.add("load_gaoping (synthesise, grid, import)", f"{load_s:.1f} s")
    xs, ys, n_edge = draw_points(geoms, args.points)
    res.add("points on vertices / edge midpoints", f"{n_edge:,}")
    _, found = bench_index(res, ids, geoms, xs, ys)
    others = {
        "sjoin": bench_sjoin(res, ids, geoms, xs, ys),
        "STRtree": bench_strtree(res, ids, geoms, xs, ys),
        "PostGIS": bench_postgis(
            res,
            url,
            "SELECT area_id AS id, geom FROM area_part WHERE layer = 'grid' AND valid_to IS NULL",
            xs,
            ys,
        ),
    }
    router = Router(sessions, Settings(database_url=sa_url))
    router.reload()
    inside = found >= 0
    sample = np.flatnonzero(inside)[:20_000]
    category = cat[0] if cat else None
    res.add(
        f"route() single, category={category}",
        bench_route_single(router, xs[sample], ys[sample], category),
    )
    ok = check_agreement(res, found, others, ids, geoms, xs, ys)
    engine.dispose()
    return res, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--grids", type=int, default=200_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--skip-gaoping", action="store_true")
    parser.add_argument("--skip-postgis", action="store_true")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"load average at start: {os.getloadavg()}")
    cluster_url = None
    if not args.skip_postgis:
        from gridmap.embedded_db import EmbeddedCluster

        cluster_url = EmbeddedCluster(ROOT / ".gridmap-bench").start().url
    ok = True
    _, good = run_megacity(args, cluster_url)
    ok &= good
    if args.skip_gaoping:
        print("\n== Gaoping: skipped (--skip-gaoping) ==")
    elif cluster_url is None:
        print("\n== Gaoping: skipped (it needs PostGIS; --skip-postgis was given) ==")
    else:
        _, good = run_gaoping(args, cluster_url)
        ok &= good
    print(f"\nload average at end: {os.getloadavg()}")
    if not ok:
        print("FAILED: methods disagree")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
