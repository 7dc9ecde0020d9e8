"""Photos get a stage: 'report' (taken when the problem was reported) or 'after' (处置后,
taken by the handler), so an event's panel can show before and after apart (issue #20).

Existing photos: 'after' when the photo's timeline step comes after the event's first
`start` step (the handling had begun when it was uploaded), else 'report'. The timeline's
step ids are compared rather than timestamps: steps of one transaction share `now()`, and
the ids keep the order they were written in.

Revision ID: 0019
Revises: 0014
Create Date: 2026-12-03 23:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "photo",
        sa.Column("stage", sa.String(length=10), server_default="report", nullable=False),
    )
    op.create_check_constraint("ck_photo_stage", "photo", "stage IN ('report', 'after')")
    op.execute(
        """
        UPDATE photo p SET stage = 'after'
        FROM (
            SELECT event_id, min(id) AS start_id FROM event_log
            WHERE action = 'start' GROUP BY event_id
        ) s
        WHERE s.event_id = p.event_id
          AND EXISTS (
            SELECT 1 FROM event_log l
            WHERE l.event_id = p.event_id AND l.action = 'photo'
              AND l.data->>'photo_id' = p.id::text AND l.id > s.start_id
          )
        """
    )


def downgrade() -> None:
    op.drop_constraint("ck_photo_stage", "photo", type_="check")
    op.drop_column("photo", "stage")
