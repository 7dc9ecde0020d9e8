"""Events stored without a place get the county they belong to (issue #16 item 6).

Before, an event that could not be routed (only an address, a point outside every grid,
no active boundary version) was stored without a county and so lay in no one's
jurisdiction. New ones get the sender's county at ingest; this gives the ones already
stored the county of whoever sent them (the `event.ingest` audit entry's token or user,
when its areas lie in one county), else the only county loaded. Their timeline rows are
append-only and keep what they said. Events whose county cannot be told stay as they were.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 18:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        WITH sender AS (
            SELECT DISTINCT ON (e.id) e.id, a.actor
            FROM event e
            JOIN audit_log a ON a.action = 'event.ingest' AND a.target_type = 'event'
                            AND a.target_id = e.id::text
            WHERE e.county_code IS NULL
            ORDER BY e.id, a.id
        ),
        sender_counties AS (
            SELECT s.id, x->>'county_code' AS county
            FROM sender s
            JOIN api_token t ON s.actor = 'token:' || t.name
            CROSS JOIN LATERAL jsonb_array_elements(t.area_codes->'areas') x
            UNION
            SELECT s.id, ua.county_code
            FROM sender s
            JOIN app_user u ON s.actor = 'user:' || u.username
            JOIN user_area ua ON ua.user_id = u.id
        ),
        by_sender AS (
            SELECT id, min(county) AS county FROM sender_counties
            GROUP BY id HAVING count(DISTINCT county) = 1
        ),
        only_county AS (
            SELECT min(county_code) AS county FROM area
            WHERE layer = 'county' AND valid_to IS NULL
            HAVING count(DISTINCT county_code) = 1
        )
        UPDATE event e
        SET county_code = coalesce(b.county, (SELECT county FROM only_county))
        FROM event e2 LEFT JOIN by_sender b ON b.id = e2.id
        WHERE e.id = e2.id AND e.county_code IS NULL
          AND coalesce(b.county, (SELECT county FROM only_county)) IS NOT NULL
        """
    )


def downgrade() -> None:
    # The counties given are true either way; nothing to undo.
    pass
