"""The roll of grid workers, kept (issue #21): `grid_worker_roll`; and event by township and
month (`ix_event_township_received`).

Every assessment view read the roll of grid workers (gridmap.events.stats.field's
`ROSTER_SQL`: each grid worker once, with the area chain of the grid or dedicated grid its
team is on duty for — of several, the first by code; a team on none: its county only)
computed over the whole database (~18 ms on the bench: member, team, duty and area three
times, a DISTINCT ON) and only then filtered by the caller's jurisdiction, the filter
being on the derived chain. `grid_worker_roll` holds exactly what that query yields, one
row a grid worker, indexed for the jurisdiction filters (`Jurisdiction.field_sql`: county,
township, community, grid codes and team).

Kept by statement-level triggers on every table it reads — `member`, `team`, `duty` and
`area` — in the same transaction as the write:

- every statement on them first takes one transaction-level advisory lock (a BEFORE
  statement trigger), so the roll's writers run one at a time, each until its commit.
  Under READ COMMITTED every statement of the trigger functions below then sees what a
  writer that held the lock before committed: the rows a transaction recomputes are
  computed from all the others' committed writes, and two writers cannot both insert a
  member's row. Taken before the statement writes its rows, so a writer never holds a row
  of these tables while it waits for the lock (which another transaction's later statement
  could then wait for: a deadlock);
- a statement on `member`, `team` or `duty` recomputes the rows of the grid workers it can
  change, from its transition tables: the members it inserted, deleted or whose id, team or
  role it changed (grid workers before or after); the grid workers of teams it inserted,
  deleted or whose id or county it changed; the grid workers of teams whose duties for a
  grid or dedicated grid it added, removed or changed. A statement that changes nothing the
  roll reads (a phone number, `member.user_id`, a team's name, a duty for a community)
  writes nothing. Recomputing per member, not the whole roll per statement, because
  the project's roster imports write row by row (gridmap.teams.replace_members and
  set_duties are executemany: one statement a row under psycopg 3; a county's
  directory is ~22,000 members, ~4,000 duties);
- a statement on `area` writing a grid, dedicated grid or community (a publication:
  gridmap.boundaries.activation retires rows with an UPDATE of `valid_to` and inserts the
  new ones, two statements for a whole version) and a TRUNCATE of any of the four
  recompute the whole roll: boundaries change rarely and move many workers at once.

The migration fills the table at the end (`FILL`). `FILL_SELECT` is `ROSTER_SQL`'s text
as of this revision, copied, not imported: a migration keeps the meaning it had when it
ran (a later change of the roster's rule is a new migration refilling the table). The
tests and the bench compare the kept table with it.

`ix_event_township_received` (township_code, received_at) replaces `ix_event_township`
(township_code): a township's month of events was read by `ix_event_received` over the
whole county's month and filtered by township; the composite serves every equality
lookup on the township the old index served.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "member_id, team_id, county_code, township_code, community_code, grid_code"

# gridmap.events.stats.field.ROSTER_SQL as of this revision, frozen here (see above).
FILL_SELECT = """
    SELECT DISTINCT ON (m.id) m.id AS member_id, m.team_id,
           coalesce(gr.county_code, tm.county_code) AS county_code,
           cm.parent_code AS township_code, cm.code AS community_code, gr.code AS grid_code
    FROM member m
    JOIN team tm ON tm.id = m.team_id
    LEFT JOIN duty d ON d.team_id = m.team_id AND d.layer IN ('grid', 'dedicated_grid')
    LEFT JOIN area gr ON gr.layer = d.layer AND gr.code = d.area_code AND gr.valid_to IS NULL
    LEFT JOIN area up ON up.code = gr.parent_code AND up.valid_to IS NULL
                     AND up.layer IN ('grid', 'community')
    LEFT JOIN area cm ON cm.layer = 'community' AND cm.valid_to IS NULL
                     AND cm.code = CASE WHEN up.layer = 'grid' THEN up.parent_code ELSE up.code END
    WHERE m.role = 'grid_worker'
    ORDER BY m.id, gr.code NULLS LAST
"""
FILL = f"INSERT INTO grid_worker_roll ({COLUMNS}) {FILL_SELECT}"

# The roll's writers' lock (one for the whole database: the four tables change rarely).
LOCK_KEY = 20231

# The layers of `area` the roll reads (grids and dedicated grids, their parents).
_AREA_LAYERS = "('grid', 'dedicated_grid', 'community')"

TABLES = ("member", "team", "duty", "area")

FUNCTIONS = [
    f"""
CREATE FUNCTION grid_worker_roll_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
    RETURN NULL;
END
$$
""",
    # The rows of these members again (DISTINCT ON's key: the filter is pushed into it).
    f"""
CREATE FUNCTION grid_worker_roll_refresh(ids int[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(ids) > 0 THEN
        DELETE FROM grid_worker_roll WHERE member_id = ANY(ids);
        INSERT INTO grid_worker_roll ({COLUMNS})
        SELECT {COLUMNS} FROM ({FILL_SELECT}) r WHERE r.member_id = ANY(ids);
    END IF;
END
$$
""",
    f"""
CREATE FUNCTION grid_worker_roll_refill() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM grid_worker_roll;
    {FILL};
END
$$
""",
    # The grid workers of these teams, now or on the roll.
    """
CREATE FUNCTION grid_worker_roll_teams(teams int[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(teams) > 0 THEN
        PERFORM grid_worker_roll_refresh(ARRAY(
            SELECT id FROM member WHERE team_id = ANY(teams) AND role = 'grid_worker'
            UNION SELECT member_id FROM grid_worker_roll WHERE team_id = ANY(teams)));
    END IF;
END
$$
""",
    # A member's row reads its id, team and role.
    """
CREATE FUNCTION grid_worker_roll_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM grid_worker_roll_refill();
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM grid_worker_roll_refresh(ARRAY(
            SELECT id FROM new_rows WHERE role = 'grid_worker'));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM grid_worker_roll_refresh(ARRAY(
            SELECT id FROM old_rows WHERE role = 'grid_worker'));
    ELSE
        PERFORM grid_worker_roll_refresh(ARRAY(
            SELECT id FROM (
                (SELECT id, team_id, role FROM old_rows
                 EXCEPT SELECT id, team_id, role FROM new_rows)
                UNION
                (SELECT id, team_id, role FROM new_rows
                 EXCEPT SELECT id, team_id, role FROM old_rows)) c
            WHERE role = 'grid_worker'));
    END IF;
    RETURN NULL;
END
$$
""",
    # A team's part of a row: its id (the members') and county (a team on no duty).
    """
CREATE FUNCTION grid_worker_roll_team() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM grid_worker_roll_refill();
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM grid_worker_roll_teams(ARRAY(SELECT id FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM grid_worker_roll_teams(ARRAY(SELECT id FROM old_rows));
    ELSE
        PERFORM grid_worker_roll_teams(ARRAY(
            SELECT id FROM (
                (SELECT id, county_code FROM old_rows
                 EXCEPT SELECT id, county_code FROM new_rows)
                UNION
                (SELECT id, county_code FROM new_rows
                 EXCEPT SELECT id, county_code FROM old_rows)) c));
    END IF;
    RETURN NULL;
END
$$
""",
    # A duty's part: a team on duty for a grid or dedicated grid.
    """
CREATE FUNCTION grid_worker_roll_duty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM grid_worker_roll_refill();
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM grid_worker_roll_teams(ARRAY(
            SELECT team_id FROM new_rows WHERE layer IN ('grid', 'dedicated_grid')));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM grid_worker_roll_teams(ARRAY(
            SELECT team_id FROM old_rows WHERE layer IN ('grid', 'dedicated_grid')));
    ELSE
        PERFORM grid_worker_roll_teams(ARRAY(
            SELECT team_id FROM (
                (SELECT team_id, layer, area_code FROM old_rows
                 EXCEPT SELECT team_id, layer, area_code FROM new_rows)
                UNION
                (SELECT team_id, layer, area_code FROM new_rows
                 EXCEPT SELECT team_id, layer, area_code FROM old_rows)) c
            WHERE layer IN ('grid', 'dedicated_grid')));
    END IF;
    RETURN NULL;
END
$$
""",
    # Areas: the whole roll, when the statement wrote a layer it reads.
    f"""
CREATE FUNCTION grid_worker_roll_area() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    relevant boolean := TG_OP = 'TRUNCATE';
BEGIN
    -- Each query names only the transition tables its statement has.
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        relevant := EXISTS (SELECT 1 FROM new_rows WHERE layer IN {_AREA_LAYERS});
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') AND NOT relevant THEN
        relevant := EXISTS (SELECT 1 FROM old_rows WHERE layer IN {_AREA_LAYERS});
    END IF;
    IF relevant THEN
        PERFORM grid_worker_roll_refill();
    END IF;
    RETURN NULL;
END
$$""",
]

FUNCTION_NAMES = (
    "grid_worker_roll_member()",
    "grid_worker_roll_team()",
    "grid_worker_roll_duty()",
    "grid_worker_roll_area()",
    "grid_worker_roll_teams(int[])",
    "grid_worker_roll_refill()",
    "grid_worker_roll_refresh(int[])",
    "grid_worker_roll_lock()",
)

_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
    "truncate": "",
}

INDEXES = {
    "ix_grid_worker_roll_county": "county_code",
    "ix_grid_worker_roll_township": "township_code",
    "ix_grid_worker_roll_community": "community_code",
    "ix_grid_worker_roll_grid": "grid_code",
    "ix_grid_worker_roll_team": "team_id",
}


def upgrade() -> None:
    op.create_table(
        "grid_worker_roll",
        sa.Column("member_id", sa.Integer, primary_key=True),
        sa.Column("team_id", sa.Integer),
        sa.Column("county_code", sa.String(12)),
        sa.Column("township_code", sa.String(40)),
        sa.Column("community_code", sa.String(40)),
        sa.Column("grid_code", sa.String(40)),
    )
    for name, column in INDEXES.items():
        op.create_index(name, "grid_worker_roll", [column])
    for function in FUNCTIONS:
        op.execute(function)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER grid_worker_roll_{table}_lock "
            f"BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION grid_worker_roll_lock()"
        )
        # One trigger per event: a trigger with transition tables may have only one.
        for event, refs in _REFERENCING.items():
            op.execute(
                f"CREATE TRIGGER grid_worker_roll_{table}_{event} AFTER {event.upper()} "
                f"ON {table} {refs} FOR EACH STATEMENT EXECUTE FUNCTION grid_worker_roll_{table}()"
            )
    op.create_index("ix_event_township_received", "event", ["township_code", "received_at"])
    op.drop_index("ix_event_township", table_name="event")
    op.execute(FILL)


def downgrade() -> None:
    op.create_index("ix_event_township", "event", ["township_code"])
    op.drop_index("ix_event_township_received", table_name="event")
    for table in TABLES:
        for event in ("lock", *_REFERENCING):
            op.execute(f"DROP TRIGGER grid_worker_roll_{table}_{event} ON {table}")
    for name in FUNCTION_NAMES:
        op.execute(f"DROP FUNCTION {name}")
    op.drop_table("grid_worker_roll")
