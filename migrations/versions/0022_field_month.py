"""The field work's monthly rollup (issue #21): `field_month`, kept by triggers on `field_day`.

A county month's assessment first sums its ~165,000 `field_day` rows (migration 0021) per
unit-chain and team (~3,900 groups): a quarter of the 300 ms the month view may take.
`field_month` holds that sum once per

    (county, local calendar month, township, community, grid, team)

— `month` the first local day of the month of `field_day.day` — with `patrols`,
`distance_m` and `visits` summed, and `met`: the number of the key's `field_day` rows of
the month with `alone AND patrols >= 2` on a working day (ISO day of week < 6), the
worker-days met that the daily aggregate's reader counts for whole (not split) days
(gridmap.events.stats.field). A period's whole months are read from here, its other days
from `field_day` (gridmap.events.stats.field_sums).

Kept by statement-level triggers with transition tables on `field_day` (which only its own
triggers on `patrol` and `visit` write), in the same transaction as the write: each
statement's rows become signed deltas per key (an insert +, a delete −, an update old −
and new +) upserted in the unique key's order, `+=` under ON CONFLICT (two transactions
adding to one key wait for each other's row lock, and neither's delta is lost); a key
whose counts are brought to zero is deleted. Before it, a statement takes a
transaction-level advisory lock per bucket of its teams (team id mod 64, in order): the
ordered upsert of each statement is not enough against deadlocks between transactions of
several statements (`_lock`). `field_day`'s own upsert
(INSERT … ON CONFLICT DO UPDATE) fires the INSERT trigger for the rows it inserted and the
UPDATE trigger for those it updated; its recomputation of `alone` for the walker-days a
write touched is an UPDATE too: a day becoming split (or whole again) moves `met` of rows
whose counts did not change. TRUNCATE of `field_day` empties the rollup. Codes may be
NULL, so the key is a unique index with NULLS NOT DISTINCT (PostgreSQL 15).

The migration fills it from `field_day` with the same grouping (`FILL`; `FILL_SELECT` is
what the tests and the bench compare the kept table to).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The key, in the unique index's order: a county's (or a township's) period is a range of
# months.
KEY = "county_code, month, township_code, community_code, grid_code, team_id"

# A `field_day` row's worker-day met when whole: gridmap.patrols.DAILY_PATROLS (2) patrols
# on a working day. Written as a literal: a migration keeps the meaning it had when it ran
# (a later change of the rule is a new migration refilling the table).
_MET = "alone AND patrols >= 2 AND extract(isodow FROM day) < 6"

# A `field_day` row as (key…, patrols, distance_m, visits, met) of one sign.
_ROW = (
    "county_code, date_trunc('month', day)::date AS month, township_code, community_code, "
    "grid_code, team_id, {s} * patrols AS p, {s} * distance_m AS m, {s} * visits AS v, "
    f"{{s}} * ({_MET})::int AS t"
)

# The rollup of the `field_day` rows there are (also what the tests and the bench check
# the kept table against).
FILL_SELECT = f"""
SELECT {KEY}, sum(patrols)::int AS patrols, sum(distance_m)::float8 AS distance_m,
       sum(visits)::int AS visits, count(*) FILTER (WHERE {_MET})::int AS met
FROM (SELECT *, date_trunc('month', day)::date AS month FROM field_day) x
GROUP BY {KEY}
"""
FILL = f"INSERT INTO field_month ({KEY}, patrols, distance_m, visits, met) {FILL_SELECT}"


# A key is empty when its counts are: its distance is then the sum of no patrol, zero but
# for the float rounding of the deltas that brought it there (as `field_day` deletes a key
# of zero patrols and visits whatever float dust its distance holds).
_EMPTY = "patrols = 0 AND visits = 0 AND met = 0"


def _apply(parts: list[tuple[str, int]]) -> str:
    """The trigger body's statement: the transition tables' rows as signed deltas per
    key, upserted in the key's order; the ids (ctid) of keys left empty into `empties`."""
    rows = " UNION ALL ".join(
        f"SELECT {_ROW.format(s=sign)} FROM {source}" for source, sign in parts
    )
    return f"""
        WITH d AS (
            SELECT {KEY}, sum(p)::int AS p, sum(m)::float8 AS m, sum(v)::int AS v,
                   sum(t)::int AS t
            FROM ({rows}) x
            GROUP BY {KEY}
            HAVING sum(p) <> 0 OR sum(m) <> 0 OR sum(v) <> 0 OR sum(t) <> 0
        ), up AS (
            INSERT INTO field_month AS f ({KEY}, patrols, distance_m, visits, met)
            SELECT {KEY}, p, m, v, t FROM d ORDER BY {KEY}
            ON CONFLICT ({KEY}) DO UPDATE SET
                patrols = f.patrols + EXCLUDED.patrols,
                distance_m = f.distance_m + EXCLUDED.distance_m,
                visits = f.visits + EXCLUDED.visits,
                met = f.met + EXCLUDED.met
            RETURNING f.ctid AS rid, f.patrols, f.visits, f.met
        )
        SELECT array_agg(rid) FILTER (WHERE {_EMPTY})
        INTO empties FROM up;
    """


def _lock(parts: list[tuple[str, int]]) -> str:
    """Serialise the writers of one team's rows (by 64 buckets of team ids, in order) until
    commit. The keys' row locks alone could deadlock: a transaction's statements each
    upsert in the key's order, but not all of them together (a patrol's write is several
    `field_day` statements — upsert, deletion, `alone` — and a transaction may hold
    several patrols), so two walkers of one team writing two of its unit-chains in
    opposite orders would each hold one key and wait for the other's. Every key holds one
    team, so its writers hold that team's lock before touching it; a transaction writing
    one team's field work (every one the phone makes: one walker, one team) never waits
    for a lock while holding one another transaction waits for. Taken after `field_day`'s
    walker lock, always in that order."""
    teams = " UNION ".join(f"SELECT team_id FROM {source}" for source, _ in parts)
    return (
        "PERFORM pg_advisory_xact_lock(20221, b) FROM ("
        f"SELECT DISTINCT coalesce(team_id, 0) % 64 AS b FROM ({teams}) u ORDER BY 1) l;"
    )


FUNCTION = f"""
CREATE FUNCTION field_month_day() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    empties tid[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM field_month;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        {_lock([("new_rows", 1)])}
        {_apply([("new_rows", 1)])}
    ELSIF TG_OP = 'DELETE' THEN
        {_lock([("old_rows", -1)])}
        {_apply([("old_rows", -1)])}
    ELSE
        {_lock([("old_rows", -1), ("new_rows", 1)])}
        {_apply([("old_rows", -1), ("new_rows", 1)])}
    END IF;
    IF empties IS NOT NULL THEN
        -- The ids are of the row versions this statement wrote, locked by it until commit.
        DELETE FROM field_month WHERE ctid = ANY(empties) AND {_EMPTY};
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "field_month",
        sa.Column("county_code", sa.String(12)),
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("township_code", sa.String(40)),
        sa.Column("community_code", sa.String(40)),
        sa.Column("grid_code", sa.String(40)),
        sa.Column("team_id", sa.Integer),
        sa.Column("patrols", sa.Integer, nullable=False, server_default="0"),
        sa.Column("distance_m", sa.Float, nullable=False, server_default="0"),
        sa.Column("visits", sa.Integer, nullable=False, server_default="0"),
        sa.Column("met", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index(
        "uq_field_month",
        "field_month",
        KEY.split(", "),
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_index("ix_field_month_township", "field_month", ["township_code", "month"])
    op.execute(FUNCTION)
    for event, refs in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        # One trigger per event: a trigger with transition tables may have only one.
        op.execute(
            f"CREATE TRIGGER field_day_field_month_{event.lower()} AFTER {event} ON field_day "
            f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION field_month_day()"
        )
    op.execute(
        "CREATE TRIGGER field_day_field_month_truncate AFTER TRUNCATE ON field_day "
        "FOR EACH STATEMENT EXECUTE FUNCTION field_month_day()"
    )
    op.execute(FILL)


def downgrade() -> None:
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER field_day_field_month_{event} ON field_day")
    op.execute("DROP FUNCTION field_month_day()")
    op.drop_table("field_month")
