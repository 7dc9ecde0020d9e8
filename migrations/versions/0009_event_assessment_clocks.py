"""The moments and counts the assessment needs, kept on the event itself.

`assigned_at` (the first time it entered the state assigned, 任务指派: the handling
clock starts), `responded_at` (first start
of handling, 调查落实: the response clock stops), `returned_count` and `reopened_count`
(how often a team returned it, 退回, and a closed case was reopened). They were only in
the append-only timeline (`event_log`); reading them from there for every event of a
month made the county's assessment join millions of timeline rows. `gridmap.events.lifecycle.act`
keeps them from now on; this migration fills them from the timeline.

`ix_event_county_received`: the assessment reads a county's events of a period.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("event", sa.Column("assigned_at", sa.DateTime(timezone=True)))
    op.add_column("event", sa.Column("responded_at", sa.DateTime(timezone=True)))
    op.add_column(
        "event", sa.Column("returned_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "event", sa.Column("reopened_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.execute(
        """
        UPDATE event e SET
            assigned_at = l.assigned_at,
            responded_at = l.responded_at,
            returned_count = l.returned,
            reopened_count = l.reopened
        FROM (
            SELECT event_id,
                   min(at) FILTER (WHERE to_status = 'assigned') AS assigned_at,
                   min(at) FILTER (WHERE action = 'start') AS responded_at,
                   count(*) FILTER (WHERE action = 'return') AS returned,
                   count(*) FILTER (WHERE action = 'reopen') AS reopened
            FROM event_log GROUP BY event_id
        ) l
        WHERE l.event_id = e.id
        """
    )
    op.create_index("ix_event_county_received", "event", ["county_code", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_event_county_received", table_name="event")
    for column in ("reopened_count", "returned_count", "responded_at", "assigned_at"):
        op.drop_column("event", column)
