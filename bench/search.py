"""Benchmark: the command view's area search on the 200,000-grid megacity, gridmap.search
against the obvious single query, in the same run on the same database.

- gridmap: `gridmap.search.search_areas`: code prefixes as ranges on the existing
  `ix_area_lookup` (county_code, layer, code, …), one LIMITed branch per layer; names by
  one scan that stops at the first `limit` matches; bounding boxes for the hits only;
- plain: one query over every match (`code ILIKE 'q%' OR name ILIKE '%q%'`), ordered
  exact-first and cut to the same limit, bounding boxes in the same select.

No index serves a name substring (that needs pg_trgm, i.e. a migration): the figures say
whether one is needed. Each query runs for the whole county (a county operator) and for one
township (a township operator, the scope added in SQL).

Reuses the scratch database `bench/tiles.py` builds under `.gridmap-bench/` (building it
takes minutes; this script builds it when missing). Run: `.venv/bin/python bench/search.py`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from megacity import COUNTY_CODE
from megacity_db import DEFAULT_GRIDS, TOWNSHIP, megacity_database_url
from tiles import machine

from gridmap import search
from gridmap.access import scope as area_scope
from gridmap.access.permissions import EVERYWHERE, Jurisdiction
from gridmap.access.scope import AreaScope
from gridmap.boundaries import versions as boundaries
from gridmap.db import make_engine, session_factory

REPEAT = 20
LIMIT = 10
# (what the operator types, what it stands for)
QUERIES = [
    (COUNTY_CODE, "code prefix: the county (every area matches)"),
    (TOWNSHIP, "code prefix: a township (~8,000 matches)"),
    (f"{TOWNSHIP}001", "code prefix: a community (~75 matches)"),
    (f"{TOWNSHIP}001007", "exact grid code"),
    ("网格", "name substring: every grid"),
    ("网格001", "name substring: ~1 grid in 1,000"),
    ("街道003", "name substring: one township"),
    ("不存在的名字", "no match at all (a full scan)"),
]

PLAIN = """
SELECT a.id, a.code, a.name, a.layer, a.parent_code, a.households, a.county_code,
       ST_XMin(a.geom), ST_YMin(a.geom), ST_XMax(a.geom), ST_YMax(a.geom)
FROM area a
WHERE a.valid_from <= :version AND (a.valid_to IS NULL OR a.valid_to > :version)
  AND {scope}
  AND (a.code ILIKE :prefix ESCAPE '\\' OR a.name ILIKE :substring ESCAPE '\\')
ORDER BY lower(a.code) = lower(:q) DESC, a.code ILIKE :prefix ESCAPE '\\' DESC,
         CASE a.layer WHEN 'county' THEN 0 WHEN 'township' THEN 1 WHEN 'community' THEN 2
                      WHEN 'enforcement_zone' THEN 3 ELSE 4 END,
         length(a.code), a.code
LIMIT :limit
"""


def plain_search(session: Session, q: str, version_id: int, scope: AreaScope) -> int:
    where, params = scope.sql("a")
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = session.execute(
        text(PLAIN.format(scope=where)),
        {
            **params,
            "version": version_id,
            "q": q,
            "prefix": escaped + "%",
            "substring": "%" + escaped + "%",
            "limit": LIMIT,
        },
    ).all()
    return len(rows)


def gridmap_search(session: Session, q: str, version_id: int, scope: AreaScope) -> int:
    return len(
        search.search_areas(session, query=q, version_id=version_id, scope=scope, limit=LIMIT)
    )


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered) + 0.5) - 1)]


def timed(fn: Callable[[], int]) -> tuple[list[float], int]:
    fn()  # warm the buffers and the plan cache outside the timings
    times, found = [], 0
    for _ in range(REPEAT):
        start = time.perf_counter()
        found = fn()
        times.append((time.perf_counter() - start) * 1000)
    return times, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=DEFAULT_GRIDS)
    args = parser.parse_args()
    engine = make_engine(megacity_database_url(args.grids))
    with session_factory(engine)() as session:
        active = boundaries.active_version(session)
        assert active is not None
        n_areas = session.execute(
            text(f"SELECT count(*) FROM area WHERE {boundaries.VALID_IN}"), {"version": active.id}
        ).scalar_one()
        scopes = {
            "county": EVERYWHERE,
            "township": Jurisdiction(township_codes=frozenset({TOWNSHIP})),
        }
        print(f"machine: {machine()}")
        print(f"{n_areas:,} areas in the active version; {REPEAT} runs per query, limit {LIMIT}")
        print()
        print(
            "| scope | query | what | plain p50 / p99 ms | gridmap p50 / p99 ms "
            "| hits (plain, gridmap) |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for scope_name, jurisdiction in scopes.items():
            scope = area_scope.scope_for(session, jurisdiction=jurisdiction, version_id=active.id)
            for q, what in QUERIES:
                plain, n_plain = timed(partial(plain_search, session, q, active.id, scope))
                mine, n_mine = timed(partial(gridmap_search, session, q, active.id, scope))
                print(
                    f"| {scope_name} | `{q}` | {what} "
                    f"| {statistics.median(plain):.1f} / {p99(plain):.1f} "
                    f"| {statistics.median(mine):.1f} / {p99(mine):.1f} "
                    f"| {n_plain}, {n_mine} |"
                )
    engine.dispose()


if __name__ == "__main__":
    main()
