"""The official division list of each county (`division`), for onboarding a county from
its own files: `gridmap county divisions` stores it, the later steps name and code the
county's areas after it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "division",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("county_code", sa.String(12), nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("parent_code", sa.String(12)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.UniqueConstraint("county_code", "code", name="uq_division_code"),
    )


def downgrade() -> None:
    op.drop_table("division")
