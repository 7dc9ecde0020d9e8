"""The field work's daily aggregate (issue #21 item 4): `field_day`, kept by triggers.

The assessment's field figures (patrols, worker-days met, km, household visits) are
counts and sums over the grid workers' `patrol` and `visit` rows; a county month holds
fifteen times as many of them as events, and grouping them every time was most of the
county view's time (docs/performance.md). `field_day` holds them summed once per

    (county, township, community, grid, team, walker, local day (UTC+8))

— the unit chain a patrol or visit is counted in, the walker's team, the logged-in walker
(`user_id`) and the local day it started or was made — with `patrols` (started that day),
`distance_m` (their `patrol.distance_m`, summed) and `visits`, and `alone`: the walker
patrolled in no other unit-chain that day (at most one of its rows of that day has
patrols), so whether the day meets the twice-a-day rule (一日双巡) in any unit holding
the row is the row's own count. Every figure read from it is the one read from the raw
rows (docs/assessment.md, "The daily aggregate"): the day is the finest unit a period is
cut at, and a walker's day per unit is what the rule counts.

Kept by statement-level triggers with transition tables on `patrol` and `visit`, in the
same transaction as every write: nothing that writes the rows (the phone's routes through
gridmap.patrols and gridmap.visits, the bench's bulk INSERT … SELECT, a hand-made SQL fix)
can forget it, and a bulk insert costs one grouped upsert, not one per row. Each
statement's rows are summed per key into signed deltas (an insert +, a delete −, an
update old − and new +; an update that changes no counted column — the end, the last fix —
gives no delta and writes nothing) and upserted; a key brought to zero patrols and zero
visits is deleted; then `alone` is recomputed for the walker-days the statement touched.
So that this sees every committed row of the walker, a statement first takes a
transaction-level advisory lock per bucket of its walkers (user id mod 64, in order):
two transactions writing the same walker's field work wait for each other. TRUNCATE of
either table clears its part. Codes may be NULL (a
patrol with no grid), so the key is a unique index with NULLS NOT DISTINCT
(PostgreSQL 15).

The migration fills it from the rows already there, with the same grouping the triggers
use (`FILL`).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 11:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "county_code, township_code, community_code, grid_code, team_id, user_id, day"
# The index's column order: a county's (or a township's) period is a range of days.
UNIQUE = "county_code, day, township_code, community_code, grid_code, team_id, user_id"

# Each source table's row as (key…, patrols, distance_m, visits) of one sign.
_ROW = {
    "patrol": (
        "county_code, township_code, community_code, grid_code, team_id, user_id, "
        "(started_at AT TIME ZONE 'Asia/Shanghai')::date AS day, "
        "{s} AS p, {s} * distance_m AS m, 0 AS v"
    ),
    "visit": (
        "county_code, township_code, community_code, grid_code, team_id, user_id, "
        "(visited_at AT TIME ZONE 'Asia/Shanghai')::date AS day, "
        "0 AS p, 0::float8 AS m, {s} AS v"
    ),
}

# The aggregate of the rows there are (also what bench/stats.py checks the table against).
FILL_SELECT = f"""
SELECT {KEY}, sum(p)::int AS patrols, sum(m)::float8 AS distance_m, sum(v)::int AS visits
FROM (
    SELECT {_ROW["patrol"].format(s=1)} FROM patrol
    UNION ALL
    SELECT {_ROW["visit"].format(s=1)} FROM visit
) x
GROUP BY {KEY}
"""
# `alone`: the walker patrolled in no other unit-chain that day (see the docstring).
FILL = f"""
INSERT INTO field_day ({KEY}, patrols, distance_m, visits, alone)
SELECT {KEY}, patrols, distance_m, visits,
       count(*) FILTER (WHERE patrols > 0) OVER (PARTITION BY user_id, day) <= 1
FROM ({FILL_SELECT}) g
"""


def _apply(table: str, parts: list[tuple[str, int]]) -> str:
    """The trigger body's statement: the transition tables' rows as signed deltas per
    key, upserted; the ids (ctid) of keys left empty into `empties`."""
    rows = " UNION ALL ".join(
        f"SELECT {_ROW[table].format(s=sign)} FROM {source}" for source, sign in parts
    )
    return f"""
        WITH d AS (
            SELECT {KEY}, sum(p)::int AS p, sum(m)::float8 AS m, sum(v)::int AS v
            FROM ({rows}) x
            GROUP BY {KEY}
            HAVING sum(p) <> 0 OR sum(m) <> 0 OR sum(v) <> 0
        ), up AS (
            INSERT INTO field_day AS f ({KEY}, patrols, distance_m, visits)
            SELECT {KEY}, p, m, v FROM d ORDER BY {UNIQUE}
            ON CONFLICT ({UNIQUE}) DO UPDATE SET
                patrols = f.patrols + EXCLUDED.patrols,
                distance_m = f.distance_m + EXCLUDED.distance_m,
                visits = f.visits + EXCLUDED.visits
            RETURNING f.ctid AS rid, f.patrols, f.visits, f.user_id, f.day
        )
        SELECT array_agg(rid) FILTER (WHERE patrols = 0 AND visits = 0),
               array_agg(user_id), array_agg(day)
        INTO empties, users, days FROM up;
    """


def _lock(parts: list[tuple[str, int]]) -> str:
    """Serialise the walkers' writes (by 64 buckets of user ids, in order: no deadlock)
    until commit, so `alone` is computed after any other transaction's rows of the same
    walker are committed (READ COMMITTED: each statement sees what was committed)."""
    users = " UNION ".join(f"SELECT user_id FROM {source}" for source, _ in parts)
    return (
        "PERFORM pg_advisory_xact_lock(20211, b) FROM ("
        f"SELECT DISTINCT user_id % 64 AS b FROM ({users}) u ORDER BY 1) l;"
    )


def _function(table: str) -> str:
    counted = "patrols = 0, distance_m = 0" if table == "patrol" else "visits = 0"
    return f"""
    CREATE FUNCTION field_day_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        empties tid[];
        users int[];
        days date[];
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            UPDATE field_day SET {counted};
            DELETE FROM field_day WHERE patrols = 0 AND visits = 0;
            UPDATE field_day f SET alone = s.n <= 1 FROM (
                SELECT user_id, day, count(*) FILTER (WHERE patrols > 0) AS n
                FROM field_day GROUP BY 1, 2
            ) s WHERE f.user_id = s.user_id AND f.day = s.day AND f.alone <> (s.n <= 1);
            RETURN NULL;
        ELSIF TG_OP = 'INSERT' THEN
            {_lock([("new_rows", 1)])}
            {_apply(table, [("new_rows", 1)])}
        ELSIF TG_OP = 'DELETE' THEN
            {_lock([("old_rows", -1)])}
            {_apply(table, [("old_rows", -1)])}
        ELSE
            {_lock([("old_rows", -1), ("new_rows", 1)])}
            {_apply(table, [("old_rows", -1), ("new_rows", 1)])}
        END IF;
        IF empties IS NOT NULL THEN
            DELETE FROM field_day WHERE ctid = ANY(empties) AND patrols = 0 AND visits = 0;
        END IF;
        IF users IS NOT NULL THEN
            UPDATE field_day f SET alone = s.n <= 1 FROM (
                SELECT x.user_id, x.day, count(*) FILTER (WHERE x.patrols > 0) AS n
                FROM field_day x
                WHERE (x.user_id, x.day) IN (SELECT u, d FROM unnest(users, days) AS t(u, d))
                GROUP BY 1, 2
            ) s WHERE f.user_id = s.user_id AND f.day = s.day AND f.alone <> (s.n <= 1);
        END IF;
        RETURN NULL;
    END
    $$
    """


def upgrade() -> None:
    op.create_table(
        "field_day",
        sa.Column("county_code", sa.String(12)),
        sa.Column("township_code", sa.String(40)),
        sa.Column("community_code", sa.String(40)),
        sa.Column("grid_code", sa.String(40)),
        sa.Column("team_id", sa.Integer),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("patrols", sa.Integer, nullable=False, server_default="0"),
        sa.Column("distance_m", sa.Float, nullable=False, server_default="0"),
        sa.Column("visits", sa.Integer, nullable=False, server_default="0"),
        sa.Column("alone", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.create_index(
        "uq_field_day",
        "field_day",
        UNIQUE.split(", "),
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_index("ix_field_day_township", "field_day", ["township_code", "day"])
    op.create_index("ix_field_day_user", "field_day", ["user_id", "day"])
    op.create_index(
        "ix_field_day_split",
        "field_day",
        ["county_code", "day"],
        postgresql_where=sa.text("NOT alone"),
    )
    for table in ("patrol", "visit"):
        op.execute(_function(table))
        for event, refs in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            op.execute(
                f"CREATE TRIGGER {table}_field_day_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION field_day_{table}()"
            )
        op.execute(
            f"CREATE TRIGGER {table}_field_day_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION field_day_{table}()"
        )
    op.execute(FILL)


def downgrade() -> None:
    for table in ("patrol", "visit"):
        for event in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER {table}_field_day_{event} ON {table}")
        op.execute(f"DROP FUNCTION field_day_{table}()")
    op.drop_table("field_day")
