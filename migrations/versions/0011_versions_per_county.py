"""Boundary versions belong to one county: one active version per county.

A version used to be database-wide, so a restore of a version made before a second
county was loaded removed that county. Now each version names its county, activation,
restore and diff act on that county alone, and each county has its own active version
(the unique index moves from `status` to `county_code`).

Existing data is kept as it is: a version without a county gets the county of the area
rows it introduced or retired (or staged); when it touched several counties, the one with
the most rows. A version with no rows at all gets the only county of the database, if
there is exactly one. Then in each county the latest published version is the active
one and its earlier published versions are retired. Area rows are not touched: their
`[valid_from, valid_to)` ranges mean the same as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        UPDATE boundary_version v SET county_code = s.county_code
        FROM (
            SELECT DISTINCT ON (version_id) version_id, county_code
            FROM (
                SELECT valid_from AS version_id, county_code FROM area
                UNION ALL
                SELECT valid_to, county_code FROM area WHERE valid_to IS NOT NULL
                UNION ALL
                SELECT version_id, county_code FROM draft_area
            ) r
            GROUP BY version_id, county_code
            ORDER BY version_id, count(*) DESC, county_code
        ) s
        WHERE v.id = s.version_id AND v.county_code IS NULL
        """
    )
    op.execute(
        """
        UPDATE boundary_version SET county_code = (SELECT min(county_code) FROM area)
        WHERE county_code IS NULL
          AND (SELECT count(DISTINCT county_code) FROM area) = 1
        """
    )
    op.drop_index("uq_boundary_version_one_active", table_name="boundary_version")
    op.execute(
        """
        UPDATE boundary_version v SET status = CASE
            WHEN v.id = (SELECT max(w.id) FROM boundary_version w
                         WHERE w.county_code = v.county_code AND w.activated_at IS NOT NULL)
            THEN 'active' ELSE 'retired' END
        WHERE v.activated_at IS NOT NULL AND v.status IN ('active', 'retired')
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_boundary_version_active_per_county "
        "ON boundary_version (county_code) WHERE status = 'active'"
    )
    op.create_index("ix_boundary_version_county", "boundary_version", ["county_code", "id"])


def downgrade() -> None:
    op.drop_index("ix_boundary_version_county", table_name="boundary_version")
    op.drop_index("uq_boundary_version_active_per_county", table_name="boundary_version")
    op.execute(
        """
        UPDATE boundary_version SET status = 'retired'
        WHERE status = 'active'
          AND id <> (SELECT max(id) FROM boundary_version WHERE status = 'active')
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_boundary_version_one_active "
        "ON boundary_version (status) WHERE status = 'active'"
    )
