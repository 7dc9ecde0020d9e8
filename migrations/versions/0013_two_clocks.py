"""Two clocks (issue #18 item 3): the response deadline counts from receipt.

Before, both deadlines were set at registration (立案), so an event never registered had
no response deadline and was never overdue. Now the response deadline is due the
response time after `received_at` (set at ingest, never reset by registering) and the
handling deadline the handling time after the first assignment. This gives every stored
event its response deadline from receipt, with the responsibility rule it would get now
(the most specific one: grid, community, township, else county-wide) and its priority's
cap, and adds `handled_at` (the lead's last report back, where the handling clock stops),
filled from the timeline. Handling deadlines already set are left as they were: they
were promised to the teams.

Revision ID: 0013
Revises: 0016
Create Date: 2026-12-03 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gridmap.events.deadlines import response_limit

revision: str = "0013"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RULES = """
SELECT e.id, e.priority, e.received_at, r.response_minutes, r.time_limit_hours
FROM event e
LEFT JOIN LATERAL (
    SELECT rr.response_minutes, rr.time_limit_hours
    FROM responsibility_rule rr
    WHERE rr.category_code = e.category_code
      AND (e.county_code IS NULL OR rr.county_code = e.county_code)
      AND (rr.area_code IS NULL
           OR rr.area_code IN (e.grid_code, e.community_code, e.township_code))
    ORDER BY CASE rr.area_code WHEN e.grid_code THEN 0 WHEN e.community_code THEN 1
                               WHEN e.township_code THEN 2 ELSE 3 END, rr.id
    LIMIT 1
) r ON TRUE
"""


def upgrade() -> None:
    op.add_column("event", sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        """
        UPDATE event e SET handled_at = l.at
        FROM (SELECT event_id, max(at) AS at FROM event_log
              WHERE action = 'report_back' GROUP BY event_id) l
        WHERE l.event_id = e.id AND e.status IN ('reported_back', 'closed', 'archived')
        """
    )
    conn = op.get_bind()
    updates = [
        {
            "id": row.id,
            "due": row.received_at
            + response_limit(
                priority=row.priority,
                rule_response_minutes=row.response_minutes,
                rule_time_limit_hours=row.time_limit_hours,
            ),
        }
        for row in conn.execute(sa.text(_RULES))
    ]
    if updates:
        conn.execute(sa.text("UPDATE event SET response_due_at = :due WHERE id = :id"), updates)


def downgrade() -> None:
    # The response deadlines stay (from receipt): the old ones cannot be told back.
    op.drop_column("event", "handled_at")
