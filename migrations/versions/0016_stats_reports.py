"""Reports the service produces on its own, kept for download (issue #21).

`stats_report` holds the daily (日报) and weekly (周报) assessment reports of each county
and each of its townships, rendered once by the service's periodic report job
(`api.reports`) as printable HTML; `/api/reports` lists and serves them in the caller's
jurisdiction.

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-03 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("area_layer", sa.String(length=20), nullable=False),
        sa.Column("area_code", sa.String(length=40), nullable=False),
        sa.Column("area_name", sa.String(length=200), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("html", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "area_code", "period_from", name="uq_stats_report"),
    )
    op.create_index("ix_stats_report_county", "stats_report", ["county_code", "period_from"])


def downgrade() -> None:
    op.drop_index("ix_stats_report_county", table_name="stats_report")
    op.drop_table("stats_report")
