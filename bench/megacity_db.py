"""The megacity scratch database the read-only benchmarks share, found or built on demand."""

from __future__ import annotations

import psycopg
from megacity import COUNTY_CODE
from sqlalchemy.engine import make_url
from tiles import BENCH_HOME, build_database

from gridmap.embedded_db import EmbeddedCluster

DEFAULT_GRIDS = 200_000
# The megacity's first township: about 8,000 grids, what one township operator sees.
TOWNSHIP = f"{COUNTY_CODE}001"


def database_name(n_grids: int) -> str:
    """The scratch database of an `n_grids` megacity (the same names bench/tiles.py uses)."""
    if n_grids == DEFAULT_GRIDS:
        return "gridmap_bench_tiles"
    return f"gridmap_bench_tiles_{n_grids}"


def megacity_database_url(n_grids: int = DEFAULT_GRIDS) -> str:
    """A URL of the `n_grids` megacity on the cluster under `.gridmap-bench/` (started if
    needed); bench/tiles.py builds the database when it is missing, which takes minutes.

    A finished database is used as it stands, not migrated: the callers only read tables
    that recent migrations leave alone. If a migration changes what a caller reads, run
    `bench/tiles.py` first (it migrates the database it reuses).
    """
    server_url = EmbeddedCluster(BENCH_HOME).start().url
    name = database_name(n_grids)
    admin = make_url(server_url).set(database="postgres", drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        ready = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if ready and ready[0] == "ready":
        return make_url(server_url).set(database=name).render_as_string(hide_password=False)
    return build_database(server_url, name, n_grids, rebuild=False)
