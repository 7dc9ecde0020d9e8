"""Benchmark: vector tiles of the 200,000-grid megacity, plain ST_AsMVT against
gridmap.boundaries.tiles and tile_cache.

Builds the synthetic megacity (`bench/megacity.py`) with communities, townships, the county
and four enforcement zones into a scratch database on the embedded cluster under
`.gridmap-bench/`, through the real schema and activation path (`gridmap.db.migrate`,
`gridmap.boundaries.versions`, `.activation`), then times, in the same run and on the same
tiles, the tiles the map asks for at z10–z16 around the centre:

- plain: one `ST_AsMVT` over `area` for the layer, transformed and clipped per tile, every
  feature at every zoom (the obvious query);
- gridmap, nothing cached: `gridmap.boundaries.tile_cache.tile` with no cache and no store
  (zoom rules, pre-transformed and pre-simplified geometry);
- gridmap, township scope, nothing cached: the same for the operator of the central
  township (the jurisdiction filter in the tile query; scoped tiles are not pre-rendered);
- gridmap, first visit after pre-render: the tile store emptied and
  `gridmap.boundaries.tile_cache.prerender` run as on publication (timed and described) before any
  timing; then each tile once without the in-process cache: the costly ones come from
  the store, the rest are made (and stored up to `STORE_MAX_ZOOM`);
- gridmap, from the store: the same again (another worker, or a restart);
- gridmap, in-process cache: the same tiles from the process's LRU.

Each tile is timed by every method in turn, so a shared machine's changing load weighs on
all methods alike.

Run: `.venv/bin/python bench/tiles.py` (add `--rebuild` to rebuild the scratch database,
`--grids N` for a smaller city). The database is kept between runs: building it takes minutes.

`--basemap URL` times the basemap tiles instead (gridmap.boundaries.basemap), on a database holding
a
basemap (the Gaoping demo's: `gridmap demo gaoping`), over a 1920×1080 view at the city
centre at z8–z16, each tile by every method in turn:

- plain: every basemap feature at every zoom, transformed and clipped per tile (no zoom
  rules, no Web Mercator copy: the obvious query);
- gridmap, nothing cached: `gridmap.boundaries.basemap.tile` with no cache and no store (zoom rules
  per layer, pre-transformed geometry);
- gridmap, from the store: after `gridmap.boundaries.basemap.prerender` (z8–z14, as at import).

`--skip-plain` leaves the plain query out: on two shared cores its 1–2 s tiles at z8–z10
(every building of the county, decoded per request) push the next method's timing of the
same tile behind the other processes the scheduler now favours.

Beside the wall-clock time, each timing is split by the kernel's scheduler statistics
(`/proc/<pid>/schedstat`: time on a CPU, time runnable but waiting for one) of the client
thread and the database backend serving it, when the database runs on this machine: the
"work" table is the CPU time a tile took (client + backend), the "waiting" column the time
both spent ready to run while other processes held the CPUs. On a shared machine the
wall-clock p99 is mostly the latter.

`--passes N` (default 1) times the view's tiles N times over (each pass every tile by every
method in turn), so a zoom's p99 is taken over 80 × N timings rather than being the one
slowest of 80: on a shared machine a single tile that waited for a CPU otherwise is the p99.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from megacity import COUNTY_CODE, make_megacity

from gridmap.access import scope as area_scope
from gridmap.access.permissions import Jurisdiction
from gridmap.access.scope import AreaScope
from gridmap.boundaries import activation, tile_cache
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.versions import AreaRow
from gridmap.db import make_engine, migrate, session_factory
from gridmap.embedded_db import EmbeddedCluster

ROOT = Path(__file__).resolve().parent.parent
BENCH_HOME = ROOT / ".gridmap-bench"
CENTER = (116.40, 39.90)
ZOOMS = range(10, 17)
# A wall-screen viewport (1920 × 1080 px) is 8 × 5 tiles of 256 px, plus the ring of tiles
# Leaflet loads around it: 10 × 7 tiles per view.
VIEW_TILES = (10, 7)
PANS_PER_ZOOM = 3  # the view at the centre and after panning twice
TILE_LAYERS = ("grid", "community", "township")


# --- building the city ------------------------------------------------------------------


def _union(geoms: np.ndarray) -> BaseGeometry:
    merged: BaseGeometry = shapely.union_all(geoms)
    return merged


def megacity_rows(n_grids: int) -> list[AreaRow]:
    """Grids from the generator; communities, townships, county and zones as their unions."""
    city = make_megacity(n_grids, seed=0, center=CENTER)
    geoms = np.asarray(city.geometry.values)
    rows: list[AreaRow] = []
    for code, community, households, geom in zip(
        city["code"], city["community_code"], city["households"], geoms, strict=True
    ):
        rows.append(
            AreaRow(
                COUNTY_CODE,
                "grid",
                code,
                f"网格{code[-6:]}",
                geom,
                community,
                households=int(households),
            )
        )
    communities = city.groupby("community_code")
    community_geom: dict[str, BaseGeometry] = {}
    for code, members in communities:
        community_geom[str(code)] = _union(np.asarray(members.geometry.values))
        rows.append(
            AreaRow(
                COUNTY_CODE,
                "community",
                str(code),
                f"社区{str(code)[-6:]}",
                community_geom[str(code)],
                str(code)[:9],
                households=int(members["households"].sum()),
            )
        )
    township_geom: dict[str, BaseGeometry] = {}
    for code in sorted({c[:9] for c in community_geom}):
        parts = np.asarray([g for c, g in community_geom.items() if c[:9] == code])
        township_geom[code] = _union(parts)
        rows.append(
            AreaRow(
                COUNTY_CODE, "township", code, f"街道{code[-3:]}", township_geom[code], COUNTY_CODE
            )
        )
    county = _union(np.asarray(list(township_geom.values())))
    rows.append(AreaRow(COUNTY_CODE, "county", COUNTY_CODE, "巨城市", county))
    # Four joint-enforcement zones of six townships each (township numbers 1–24 run by
    # sector, three rings per sector).
    for z in range(4):
        members = [g for c, g in township_geom.items() if (int(c[-3:]) - 1) // 6 == z]
        rows.append(
            AreaRow(
                COUNTY_CODE,
                "enforcement_zone",
                f"{COUNTY_CODE}Z{z + 1:02d}",
                f"执法片区{z + 1}",
                _union(np.asarray(members)),
                COUNTY_CODE,
            )
        )
    return [r if r.geom.geom_type in ("Polygon", "MultiPolygon") else _polygonal(r) for r in rows]


def _polygonal(row: AreaRow) -> AreaRow:
    """A union can return a collection with stray lines; keep its polygons."""
    polys = [g for g in shapely.get_parts(row.geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    geom = shapely.union_all(polys)
    return AreaRow(
        row.county_code, row.layer, row.code, row.name, geom, row.parent_code, row.households
    )


def build_database(server_url: str, name: str, n_grids: int, *, rebuild: bool) -> str:
    admin = make_url(server_url).set(database="postgres", drivername="postgresql")
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        ready = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
        if ready and ready[0] == "ready" and not rebuild:
            print(f"reusing scratch database {name} (--rebuild to build it again)")
            migrate(url)  # a newer migration may have arrived since
            return url
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(url)
    start = time.perf_counter()
    rows = megacity_rows(n_grids)
    print(f"megacity: {len(rows):,} areas made in {time.perf_counter() - start:.0f} s")
    engine = make_engine(url)
    with session_factory(engine)() as session:
        start = time.perf_counter()
        version = boundaries.create_version(
            session, name="megacity", created_by="bench", county_code=COUNTY_CODE
        )
        boundaries.stage_areas(session, version_id=version.id, rows=rows)
        session.commit()
        staged = time.perf_counter() - start
        # As in a real import, the planner knows the staged rows before activation: without
        # statistics it plans the activation's anti-join as a nested loop over the whole
        # `area` index, which grows quadratically (68 s for 10,000 areas, measured).
        session.execute(text("ANALYZE draft_area"))
        start = time.perf_counter()
        activation.activate_version(session, version_id=version.id, activated_by="bench")
        session.commit()
        print(
            f"staged in {staged:.0f} s, activated in {time.perf_counter() - start:.0f} s "
            "(activation includes the tile geometry it prepares)"
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS 'ready'")
    return url


# --- the tiles the map asks for ---------------------------------------------------------


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def view_tiles(z: int) -> list[tuple[int, int]]:
    """The tiles of a wall-screen view at the centre and after two pans of a few km."""
    out: set[tuple[int, int]] = set()
    w, h = VIEW_TILES
    for dlon, dlat in [(0.0, 0.0), (0.035, 0.018), (-0.03, -0.02)][:PANS_PER_ZOOM]:
        cx, cy = tile_xy(CENTER[0] + dlon, CENTER[1] + dlat, z)
        out.update(
            (cx + i, cy + j) for i in range(-w // 2, w - w // 2) for j in range(-h // 2, h - h // 2)
        )
    return sorted(out)


# The obvious query: every feature of the layer, transformed and clipped per tile.
PLAIN = f"""
SELECT ST_AsMVT(t, :layer, 4096, 'geom', 'id') FROM (
    SELECT id, code, name, households, layer, parent_code,
           ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true)
             AS geom
    FROM area
    WHERE layer = :layer AND {boundaries.VALID_IN}
      AND geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 64.0 / 4096), 4326)
) t WHERE t.geom IS NOT NULL
"""


def plain_tile(session: Session, layer: str, z: int, x: int, y: int, version_id: int) -> bytes:
    data = session.execute(
        text(PLAIN), {"layer": layer, "z": z, "x": x, "y": y, "version": version_id}
    ).scalar_one()
    return bytes(data or b"")


@dataclass
class Timings:
    ms: dict[tuple[str, int, str], list[float]]  # (method, z, layer) -> times
    size: dict[tuple[str, int, str], int]
    notes: list[str] = field(default_factory=list)


# The methods, in the order the report shows them.
METHODS = (
    "plain ST_AsMVT",
    "gridmap, nothing cached",
    "gridmap, township scope, nothing cached",
    "gridmap, first visit after pre-render",
    "gridmap, from the store",
    "gridmap, in-process cache",
)


def prerender_fresh(engine: Engine, session: Session, version_id: int) -> list[str]:
    """Empty the tile store, pre-render the version as a newly published one, and describe
    what that made."""
    session.execute(text("DELETE FROM tile_store WHERE version_id = :v"), {"v": version_id})
    session.commit()
    report = tile_cache.prerender(engine, version_id=version_id)
    rows = session.execute(
        text(
            "SELECT z, count(*), sum(length(data)), max(render_ms) FROM tile_store "
            "WHERE version_id = :v GROUP BY z ORDER BY z"
        ),
        {"v": version_id},
    ).all()
    session.commit()
    lines = [
        f"pre-render: {report.rendered:,} costly tiles (features with >= "
        f"{tile_cache.PRERENDER_MIN_POINTS:,} vertices, z <= {tile_cache.STORE_MAX_ZOOM}) in "
        f"{report.seconds:.0f} s, {sum(r[2] for r in rows) / 1e6:.1f} MB stored",
        "",
        "| zoom | tiles pre-rendered | MB | slowest to make, ms |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {z} | {n:,} | {b / 1e6:.1f} | {ms:.0f} |" for z, n, b, ms in rows]
    return lines


def run(engine: Engine, session: Session, version_id: int, township: AreaScope) -> Timings:
    def gridmap(**options: Any) -> Callable[[str, int, int, int], bytes]:
        def fn(layer: str, z: int, x: int, y: int) -> bytes:
            data = tile_cache.tile(
                session, layer=layer, z=z, x=x, y=y, version_id=version_id, **options
            )
            session.commit()  # as the route does: a tile made on demand is stored
            return data

        return fn

    methods: dict[str, Callable[[str, int, int, int], bytes]] = {
        "plain ST_AsMVT": lambda layer, z, x, y: plain_tile(session, layer, z, x, y, version_id),
        "gridmap, nothing cached": gridmap(cache=None, store=False),
        "gridmap, township scope, nothing cached": gridmap(cache=None, store=False, scope=township),
        # A worker meets the tiles for the first time after the version's costly ones were
        # pre-rendered: those come from the store, the rest are made (and stored).
        "gridmap, first visit after pre-render": gridmap(cache=None),
        # Another worker, or this one after a restart: every tile up to the store zoom is
        # in the store now.
        "gridmap, from the store": gridmap(cache=None),
        "gridmap, in-process cache": gridmap(),
    }
    # Warm PostgreSQL's buffers for both tables on the centre view, outside the timings.
    for z in ZOOMS:
        cx, cy = tile_xy(*CENTER, z)
        for layer in TILE_LAYERS:
            plain_tile(session, layer, z, cx, cy, version_id)
            gridmap(cache=None, store=False)(layer, z, cx, cy)
    tile_cache.CACHE.clear()
    out = Timings({}, {}, prerender_fresh(engine, session, version_id))
    # Tile by tile, every method in turn: the load of a shared machine changes by the
    # minute, and this way it weighs on all methods alike.
    for z in ZOOMS:
        for layer in TILE_LAYERS:
            for method in methods:
                out.ms[(method, z, layer)] = []
                out.size[(method, z, layer)] = 0
            for x, y in view_tiles(z):
                for method, fn in methods.items():
                    if method == "gridmap, in-process cache":
                        fn(layer, z, x, y)  # into the cache, outside the timings
                    start = time.perf_counter()
                    data = fn(layer, z, x, y)
                    out.ms[(method, z, layer)].append((time.perf_counter() - start) * 1000)
                    out.size[(method, z, layer)] += len(data)
        print(f"  timed zoom {z}", flush=True)
    return out


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def report(t: Timings, n_areas: int) -> list[str]:
    methods = sorted({m for m, _, _ in t.ms}, key=METHODS.index)
    lines = [
        f"{n_areas:,} areas; {len(list(ZOOMS))} zooms × {len(TILE_LAYERS)} layers "
        f"({', '.join(TILE_LAYERS)}); per zoom the tiles of a 1920×1080 view "
        f"({VIEW_TILES[0]}×{VIEW_TILES[1]} tiles) at the centre and after two pans",
        "",
        "| zoom | tiles | " + " | ".join(f"{m} median / p99 / max ms" for m in methods) + " |",
        "| --- | --- | " + " | ".join("---" for _ in methods) + " |",
    ]
    for z in ZOOMS:
        cells = []
        count = 0
        for m in methods:
            pooled = [v for layer in TILE_LAYERS for v in t.ms[(m, z, layer)]]
            count = len(pooled)
            cells.append(f"{statistics.median(pooled):.2f} / {p99(pooled):.1f} / {max(pooled):.1f}")
        lines.append(f"| {z} | {count} | " + " | ".join(cells) + " |")
    lines += ["", "Per layer (median / p99 ms; tile bytes in total):", ""]
    lines.append("| zoom | layer | " + " | ".join(methods) + " |")
    lines.append("| --- | --- | " + " | ".join("---" for _ in methods) + " |")
    for z in ZOOMS:
        for layer in TILE_LAYERS:
            cells = [
                f"{statistics.median(t.ms[(m, z, layer)]):.2f} / {p99(t.ms[(m, z, layer)]):.1f}"
                f" ({t.size[(m, z, layer)] / 1e6:.2f} MB)"
                for m in methods
            ]
            lines.append(f"| {z} | {layer} | " + " | ".join(cells) + " |")
    return lines


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs (nproc), {model}, {platform.system()} {platform.release()}"


def central_township(session: Session, version_id: int) -> AreaScope:
    """The jurisdiction of the operator of the township at the centre (the dense core)."""
    code = session.execute(
        text(
            f"SELECT code FROM area WHERE layer = 'township' AND {boundaries.VALID_IN} "
            "AND ST_Covers(geom, ST_SetSRID(ST_Point(:lon, :lat), 4326))"
        ),
        {"version": version_id, "lon": CENTER[0], "lat": CENTER[1]},
    ).scalar_one()
    return area_scope.scope_for(
        session, jurisdiction=Jurisdiction(township_codes=frozenset({code})), version_id=version_id
    )


BASEMAP_PLAIN = """
SELECT COALESCE((SELECT ST_AsMVT(t, 'basemap', 4096, 'geom') FROM (
    SELECT layer, kind, name,
           ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true)
             AS geom
    FROM basemap_feature
    WHERE geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 64.0 / 4096), 4326)
) t WHERE t.geom IS NOT NULL), ''::bytea)
"""
BASEMAP_CENTER = (112.925, 35.795)  # the Gaoping demo's city centre


def basemap_main(url: str, passes: int = 1, skip_plain: bool = False) -> None:
    """Time basemap tiles (see the module's docstring) and print the figures."""
    from gridmap.boundaries import basemap

    engine = make_engine(url)
    load_before = os.getloadavg()
    ms: dict[tuple[str, int], list[float]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    wait: dict[tuple[str, int], list[float]] = {}
    costly: dict[tuple[str, int], list[tuple[float, int, int]]] = {}
    methods = ("plain", "gridmap, nothing cached", "gridmap, from the store")
    if skip_plain:
        methods = methods[1:]
    with session_factory(engine)() as session:
        county = session.execute(
            text("SELECT county_code FROM basemap_import ORDER BY id DESC LIMIT 1")
        ).scalar_one()
        counts = dict(
            session.execute(
                text("SELECT layer, count(*) FROM basemap_feature GROUP BY layer")
            ).all()
        )
        backend = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        stats = [Path("/proc/thread-self/schedstat"), Path(f"/proc/{backend}/schedstat")]
        local = all(p.exists() for p in stats) and _same_host(url)
        session.execute(text("DELETE FROM basemap_tile"))
        session.commit()
        started = time.perf_counter()
        made = basemap.prerender(session, county_code=county)
        prerender_s = time.perf_counter() - started
        for z in range(8, 17):
            cx, cy = tile_xy(*BASEMAP_CENTER, z)
            w, h = VIEW_TILES
            addresses = [
                (cx + i, cy + j)
                for i in range(-w // 2, w - w // 2)
                for j in range(-h // 2, h - h // 2)
            ]
            for x, y in addresses * passes:
                for method in methods:
                    before_stats = _schedstat(stats) if local else (0, 0)
                    t0 = time.perf_counter()
                    if method == "plain":
                        session.execute(text(BASEMAP_PLAIN), {"z": z, "x": x, "y": y}).scalar_one()
                    elif method == "gridmap, nothing cached":
                        basemap.tile(session, z=z, x=x, y=y, cache=None, store=False)
                    else:
                        basemap.tile(session, z=z, x=x, y=y, cache=None)
                    ms.setdefault((method, z), []).append((time.perf_counter() - t0) * 1000)
                    if local:
                        after_stats = _schedstat(stats)
                        cpu.setdefault((method, z), []).append(
                            (after_stats[0] - before_stats[0]) / 1e6
                        )
                        costly.setdefault((method, z), []).append(
                            ((after_stats[0] - before_stats[0]) / 1e6, x, y)
                        )
                        wait.setdefault((method, z), []).append(
                            (after_stats[1] - before_stats[1]) / 1e6
                        )
                session.commit()
    engine.dispose()
    load_after = os.getloadavg()
    print(f"machine: {machine()}")
    before, after = (" ".join(f"{v:.1f}" for v in load) for load in (load_before, load_after))
    print(f"load average (1, 5, 15 min) before: {before}; after: {after}")
    print(f"basemap of {county}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    print(f"prerender (z8–z14 over the county): {made} tiles in {prerender_s:.1f} s")
    print(f"passes over the view: {passes} (the tiles column counts timings per method)")
    print()
    print("| zoom | tiles | " + " | ".join(f"{m} median / p99 / max ms" for m in methods) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in methods) + " |")
    worst = 0.0
    for z in range(8, 17):
        cells = []
        for m in methods:
            v = ms[(m, z)]
            cells.append(f"{statistics.median(v):.2f} / {p99(v):.1f} / {max(v):.1f}")
            if m != "plain":
                worst = max(worst, p99(v))
        print(f"| {z} | {len(ms[(methods[0], z)])} | " + " | ".join(cells) + " |")
    print()
    print(f"worst gridmap p99: {worst:.1f} ms (target: under 50 ms)")
    if not local:
        print("(the database is not on this machine: no CPU/wait split)")
        return
    print()
    print("Work and waiting: CPU time of the client thread and the database backend per")
    print("tile, and the time both were runnable but waiting for a CPU (schedstat).")
    print()
    print(
        "| zoom | "
        + " | ".join(f"{m}: CPU median / p99 / max ms, waiting p99 ms" for m in methods)
        + " |"
    )
    print("| --- | " + " | ".join("---" for _ in methods) + " |")
    worst_cpu = 0.0
    for z in range(8, 17):
        cells = []
        for m in methods:
            c, wt = cpu[(m, z)], wait[(m, z)]
            cells.append(f"{statistics.median(c):.2f} / {p99(c):.1f} / {max(c):.1f}, {p99(wt):.1f}")
            if m != "plain":
                worst_cpu = max(worst_cpu, p99(c))
        print(f"| {z} | " + " | ".join(cells) + " |")
    print()
    print(f"worst gridmap CPU p99: {worst_cpu:.1f} ms (target: under 50 ms)")
    print()
    for z in range(8, 17):
        top = sorted(costly[(methods[-2], z)], reverse=True)[:3]
        worst_tiles = ", ".join(f"{x}/{y} {c:.1f} ms" for c, x, y in top)
        print(f"z{z} costliest ({methods[-2]}): {worst_tiles}")


def _same_host(url: str) -> bool:
    host = make_url(url).host or "localhost"
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("/")


def _schedstat(paths: list[Path]) -> tuple[int, int]:
    """Summed (ns on a CPU, ns runnable but waiting) of these threads/processes."""
    on_cpu = waiting = 0
    for path in paths:
        fields = path.read_text().split()
        on_cpu += int(fields[0])
        waiting += int(fields[1])
    return on_cpu, waiting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=200_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--basemap", metavar="URL", help="time basemap tiles on this database")
    parser.add_argument(
        "--passes", type=int, default=1, help="--basemap: times each tile is timed per method"
    )
    parser.add_argument(
        "--skip-plain", action="store_true", help="--basemap: time gridmap's methods only"
    )
    args = parser.parse_args()
    if args.basemap:
        basemap_main(args.basemap, passes=max(1, args.passes), skip_plain=args.skip_plain)
        return
    info = EmbeddedCluster(BENCH_HOME).start()
    name = "gridmap_bench_tiles" if args.grids == 200_000 else f"gridmap_bench_tiles_{args.grids}"
    url = build_database(info.url, name, args.grids, rebuild=args.rebuild)
    engine = make_engine(url)
    load_before = os.getloadavg()
    with session_factory(engine)() as session:
        active = boundaries.active_version(session)
        assert active is not None
        n_areas = session.execute(
            text(f"SELECT count(*) FROM area WHERE {boundaries.VALID_IN}"), {"version": active.id}
        ).scalar_one()
        township = central_township(session, active.id)
        timings = run(engine, session, active.id, township)
    engine.dispose()
    load_after = os.getloadavg()
    print(f"machine: {machine()}")
    before, after = (" ".join(f"{v:.1f}" for v in load) for load in (load_before, load_after))
    print(f"load average (1, 5, 15 min) before: {before}; after: {after}")
    for line in report(timings, int(n_areas)):
        print(line)
    print()
    for line in timings.notes:
        print(line)


if __name__ == "__main__":
    main()
