"""The event table partitioned by county, on a synthetic table: does it pay, at what size?

Builds two tables of the same synthetic events in a throw-away database on the test
cluster: `ev_plain` (one table, an index on (county_code, received_at)) and `ev_part`
(`PARTITION BY LIST (county_code)`, one partition per county, an index on received_at in
each). Prints, for each: load and index time, table size, a county's open events of the
last 30 days (median of `--repeat` runs), and removing one county's events (DELETE
against DETACH + DROP of its partition).

    .venv/bin/python bench/partition.py --counties 50 --per-county 40000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridmap.db import libpq_conninfo  # noqa: E402
from gridmap.embedded_db import EmbeddedCluster  # noqa: E402
from tests.conftest import TEST_HOME, create_database, drop_database  # noqa: E402

COLUMNS = """
    id bigint NOT NULL,
    county_code text NOT NULL,
    status text NOT NULL,
    category text NOT NULL,
    received_at timestamptz NOT NULL,
    lon float8 NOT NULL,
    lat float8 NOT NULL
"""
FILL = """
    INSERT INTO {table}
    SELECT g, lpad((140000 + g %% %(counties)s)::text, 6, '0'),
           (ARRAY['reported','assigned','handling','closed','closed','closed'])[1 + g %% 6],
           (ARRAY['ROAD','LIGHT','WASTE','NOISE'])[1 + g %% 4],
           now() - ((g * 7919) %% (365 * 86400)) * interval '1 second',
           112.9 + (g %% 1000) / 10000.0, 35.8 + (g %% 997) / 10000.0
    FROM generate_series(1::bigint, %(rows)s::bigint) AS g
"""
QUERY = """
    SELECT count(*) FROM {table}
    WHERE county_code = %(county)s AND status <> 'closed'
      AND received_at > now() - interval '30 days'
"""


def timed(conn: psycopg.Connection, sql: str, params: dict[str, object] | None = None) -> float:
    t0 = time.perf_counter()
    conn.execute(sql, params)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counties", type=int, default=50)
    parser.add_argument("--per-county", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rows = args.counties * args.per_county
    server = EmbeddedCluster(TEST_HOME).start().url
    name = "gridmap_bench_partition"
    url = create_database(server, name)
    county = f"{140000 + 7:06d}"
    params = {"counties": args.counties, "rows": rows}
    try:
        with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
            conn.execute(f"CREATE TABLE ev_plain ({COLUMNS})")
            conn.execute(f"CREATE TABLE ev_part ({COLUMNS}) PARTITION BY LIST (county_code)")
            for c in range(args.counties):
                code = f"{140000 + c:06d}"
                conn.execute(
                    f"CREATE TABLE ev_part_{code} PARTITION OF ev_part FOR VALUES IN ('{code}')"
                )
            print(f"{rows:,} synthetic events, {args.counties} counties", flush=True)
            for table, index in [
                ("ev_plain", "CREATE INDEX ON ev_plain (county_code, received_at)"),
                ("ev_part", "CREATE INDEX ON ev_part (received_at)"),
            ]:
                load = timed(conn, FILL.format(table=table), params)
                build = timed(conn, index)
                conn.execute(f"VACUUM ANALYZE {table}")
                size = conn.execute(
                    "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
                    "WHERE c.relname = %s OR c.relname LIKE %s",
                    (table, f"{table}\\_%"),
                ).fetchone()
                runs = [
                    timed(conn, QUERY.format(table=table), {"county": county})
                    for _ in range(args.repeat)
                ]
                median_ms = 1000 * statistics.median(runs)
                print(
                    f"{table}: load {load:.1f} s, index {build:.1f} s, "
                    f"size {size[0] if size else '?'}, a county's open events of 30 days: "
                    f"median {median_ms:.2f} ms",
                    flush=True,
                )
            delete = timed(conn, "DELETE FROM ev_plain WHERE county_code = %(c)s", {"c": county})
            detach = timed(conn, f"ALTER TABLE ev_part DETACH PARTITION ev_part_{county}")
            drop = timed(conn, f"DROP TABLE ev_part_{county}")
            print(
                f"removing one county's {args.per_county:,} events: DELETE {1000 * delete:.0f} ms "
                f"(and the dead rows left to vacuum); DETACH + DROP {1000 * (detach + drop):.0f} ms"
            )
    finally:
        drop_database(server, name)


if __name__ == "__main__":
    main()
