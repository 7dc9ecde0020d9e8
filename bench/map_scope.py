"""Benchmark: a township operator's OGC grid layer on the 200,000-grid megacity, filtered
inside the query (gridmap.boundaries.features with an AreaScope) against the obvious alternative,
fetching the whole layer and keeping the rows in scope in Python, in the same run.

Also: computing the township's scope once (the recursive query; later calls hit the
cache), and the version export's rows (`boundaries.areas_in_version`) for the township against
the whole county.

Reuses the scratch database `bench/tiles.py` builds under `.gridmap-bench/` (building it
takes minutes; this script builds it when missing). Prints figures; asserts nothing.
Run: `.venv/bin/python bench/map_scope.py`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from megacity_db import DEFAULT_GRIDS, TOWNSHIP, megacity_database_url
from tiles import machine

from gridmap.access import scope as area_scope
from gridmap.access.permissions import Jurisdiction
from gridmap.access.scope import EVERYWHERE, AreaScope
from gridmap.boundaries import features
from gridmap.boundaries import versions as boundaries
from gridmap.db import make_engine, session_factory


def timed(fn: Callable[[], int], repeat: int) -> tuple[list[float], int]:
    fn()  # warm the buffers and the plan cache outside the timings
    times, found = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        found = fn()
        times.append((time.perf_counter() - start) * 1000)
    return times, found


def line(label: str, times: list[float], found: int) -> str:
    return (
        f"{label:58} median {statistics.median(times):9.1f} ms   max {max(times):9.1f} ms"
        f"   ({found:,} features, {len(times)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=DEFAULT_GRIDS)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    engine = make_engine(megacity_database_url(args.grids))
    load_before = os.getloadavg()
    out: list[str] = []
    with session_factory(engine)() as session:
        active = boundaries.active_version(session)
        assert active is not None
        version = active.id
        n_grids = session.execute(
            text(f"SELECT count(*) FROM area WHERE layer = 'grid' AND {boundaries.VALID_IN}"),
            {"version": version},
        ).scalar_one()
        jurisdiction = Jurisdiction(township_codes=frozenset({TOWNSHIP}))

        area_scope.CACHE.clear()
        start = time.perf_counter()
        scope = area_scope.scope_for(session, jurisdiction=jurisdiction, version_id=version)
        first = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        area_scope.scope_for(session, jurisdiction=jurisdiction, version_id=version)
        cached = (time.perf_counter() - start) * 1000
        out.append(
            f"scope of township {TOWNSHIP}: {len(scope.codes):,} codes; first "
            f"{first:.1f} ms (recursive query), then {cached:.3f} ms (cache)"
        )

        def in_query() -> int:
            feats, matched = features.layer_features(
                session, layer="grid", version_id=version, limit=10_000, scope=scope
            )
            assert matched == len(feats)
            return len(feats)

        def after_query(kept_scope: AreaScope = scope) -> int:
            feats, _ = features.layer_features(
                session, layer="grid", version_id=version, limit=n_grids + 1
            )
            kept = [
                f
                for f in feats
                if kept_scope.covers(
                    county_code=f["properties"]["county_code"],
                    code=f["properties"]["code"],
                    parent_code=f["properties"]["parent_code"],
                )
            ]
            return len(kept)

        t_in, n_in = timed(in_query, args.repeat)
        t_after, n_after = timed(after_query, max(1, args.repeat // 2))
        assert n_in == n_after, (n_in, n_after)
        out.append(f"OGC grid items of one township, {n_grids:,} grids in the county:")
        out.append(line("  scope in the SQL WHERE (gridmap)", t_in, n_in))
        out.append(line("  whole layer fetched, filtered in Python", t_after, n_after))

        def export(s: AreaScope) -> Callable[[], int]:
            return lambda: len(boundaries.areas_in_version(session, version_id=version, scope=s))

        t_town, n_town = timed(export(scope), args.repeat)
        t_all, n_all = timed(export(EVERYWHERE), max(1, args.repeat // 2))
        out.append("version export rows (areas_in_version, every layer):")
        out.append(line("  one township's operator", t_town, n_town))
        out.append(line("  the county (no scope)", t_all, n_all))
    engine.dispose()
    load_after = os.getloadavg()
    print(f"machine: {machine()}")
    before, after = (" ".join(f"{v:.1f}" for v in load) for load in (load_before, load_after))
    print(f"load average (1, 5, 15 min) before: {before}; after: {after}")
    for text_line in out:
        print(text_line)


if __name__ == "__main__":
    main()
