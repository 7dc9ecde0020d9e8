"""The boundary editor's undo/redo stack: one row per edit applied to a draft.

Each row keeps the draft's staged rows of the grids the edit touched, as they were before
and after it (`before` / `after`: lists of staged rows, JSON with hex WKB geometry; a code
absent from a list had no staged row). Undo writes `before` back, redo writes `after`.
`undone` marks the rows above the current position; a new edit deletes them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 00:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "draft_edit",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey("boundary_version.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=20), nullable=False),
        sa.Column("params", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("keys", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("before", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("after", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("undone", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.UniqueConstraint("version_id", "seq", name="uq_draft_edit_seq"),
    )


def downgrade() -> None:
    op.drop_table("draft_edit")
