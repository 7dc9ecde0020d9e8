"""Grid workers' patrols (巡查) and household visits (走访), recorded from the phone (/m).

A patrol is one walk of one worker: its track as a PostGIS LineString (WGS84), its length
in metres, the last fix (where the worker was last seen, and when), and the area chain
where it started (county, township, community, grid), which the jurisdiction rules read
as they read an event's. Points arrive in numbered batches (`last_seq`), so a batch sent
twice after a lost answer adds nothing. A visit is one call at a building with its kind
and a note. `client_id` is minted on the phone: a resend is the same row.

Revision ID: 0014
Revises: 0015
Create Date: 2026-12-03 22:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0014"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _chain() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("county_code", sa.String(12)),
        sa.Column("township_code", sa.String(40)),
        sa.Column("community_code", sa.String(40)),
        sa.Column("grid_code", sa.String(40)),
    ]


def upgrade() -> None:
    op.create_table(
        "patrol",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("team_id", sa.Integer, sa.ForeignKey("team.id")),
        *_chain(),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("track", Geometry("LINESTRING", srid=4326, spatial_index=False)),
        sa.Column("last_point", Geometry("POINT", srid=4326, spatial_index=False)),
        sa.Column("last_fix_at", sa.DateTime(timezone=True)),
        sa.Column("last_accuracy_m", sa.Float),
        sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("points", sa.Integer, nullable=False, server_default="0"),
        sa.Column("distance_m", sa.Float, nullable=False, server_default="0"),
        sa.UniqueConstraint("user_id", "client_id", name="uq_patrol_client"),
    )
    op.create_index("ix_patrol_county_started", "patrol", ["county_code", "started_at"])
    op.create_index("ix_patrol_user_started", "patrol", ["user_id", "started_at"])
    op.create_index(
        "ix_patrol_open", "patrol", ["county_code"], postgresql_where=sa.text("ended_at IS NULL")
    )
    op.create_table(
        "visit",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("team_id", sa.Integer, sa.ForeignKey("team.id")),
        *_chain(),
        sa.Column("building_code", sa.String(60)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("point", Geometry("POINT", srid=4326, spatial_index=False)),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('routine', 'special_care', 'dispute')", name="ck_visit_kind"),
        sa.UniqueConstraint("user_id", "client_id", name="uq_visit_client"),
    )
    op.create_index("ix_visit_county_at", "visit", ["county_code", "visited_at"])
    op.create_index("ix_visit_grid_at", "visit", ["grid_code", "visited_at"])


def downgrade() -> None:
    op.drop_table("visit")
    op.drop_table("patrol")
