"""Create the boundary, team, responsibility-list, event and user tables.

Event and audit logs are append-only: a trigger refuses UPDATE and DELETE on them.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 21:58:01.854184
"""

from __future__ import annotations

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY = """
CREATE OR REPLACE FUNCTION gridmap_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("area_codes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("source_addr", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=80), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_target", "audit_log", ["target_type", "target_id"], unique=False)
    op.create_table(
        "boundary_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=True),
        sa.Column("county_code", sa.String(length=12), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_by", sa.String(length=100), nullable=True),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'staged', 'active', 'retired', 'discarded')",
            name="ck_boundary_version_status",
        ),
        sa.ForeignKeyConstraint(
            ["base_version_id"],
            ["boundary_version.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_boundary_version_one_active",
        "boundary_version",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "building",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "point",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "footprint",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_building_county_code", "building", ["county_code", "code"], unique=True)
    op.create_index(
        "ix_building_point", "building", ["point"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "category",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("group", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("county_code", "code", name="uq_category_code"),
    )
    op.create_table(
        "department",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("county_code", "code", name="uq_department_code"),
    )
    op.create_table(
        "responsibility_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("category_code", sa.String(length=40), nullable=False),
        sa.Column("area_code", sa.String(length=40), nullable=True),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("department_code", sa.String(length=40), nullable=True),
        sa.Column("default_priority", sa.String(length=16), nullable=False),
        sa.Column("response_minutes", sa.Integer(), nullable=True),
        sa.Column("time_limit_hours", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "default_priority IN ('emergency', 'key', 'routine', 'coordination')",
            name="ck_rule_priority",
        ),
        sa.CheckConstraint("mode IN ('self', 'cooperate', 'department')", name="ck_rule_mode"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_rule_category_area",
        "responsibility_rule",
        ["county_code", "category_code", sa.literal_column("coalesce(area_code, '')")],
        unique=True,
    )
    op.create_table(
        "stream_message",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=True),
        sa.Column("township_code", sa.String(length=40), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stream_message_at", "stream_message", ["at"], unique=False)
    op.create_table(
        "area",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("layer", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_code", sa.String(length=40), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "layer IN ('county', 'township', 'community', 'grid', 'micro_grid', 'enforcement_zone', 'dedicated_grid')",
            name="ck_area_layer",
        ),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="ck_area_range"),
        sa.ForeignKeyConstraint(
            ["valid_from"],
            ["boundary_version.id"],
        ),
        sa.ForeignKeyConstraint(
            ["valid_to"],
            ["boundary_version.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_area_geom", "area", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(
        "ix_area_lookup", "area", ["county_code", "layer", "code", "valid_from"], unique=False
    )
    op.create_index(
        "uq_area_current_code",
        "area",
        ["county_code", "layer", "code"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "draft_area",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("layer", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_code", sa.String(length=40), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.CheckConstraint("action IN ('upsert', 'delete')", name="ck_draft_area_action"),
        sa.CheckConstraint(
            "layer IN ('county', 'township', 'community', 'grid', 'micro_grid', 'enforcement_zone', 'dedicated_grid')",
            name="ck_draft_area_layer",
        ),
        sa.ForeignKeyConstraint(["version_id"], ["boundary_version.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "version_id", "county_code", "layer", "code", name="uq_draft_area_code"
        ),
    )
    op.create_index(
        "ix_draft_area_geom", "draft_area", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("county_code", "code", name="uq_team_code"),
    )
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "area_part",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("layer", sa.String(length=20), nullable=False),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_area_part_area", "area_part", ["area_id"], unique=False)
    op.create_index(
        "ix_area_part_geom", "area_part", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "duty",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("layer", sa.String(length=20), nullable=False),
        sa.Column("area_code", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("county_code", "layer", "area_code", "team_id", name="uq_duty"),
    )
    op.create_index("ix_duty_area", "duty", ["county_code", "layer", "area_code"], unique=False)
    op.create_table(
        "event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("category_code", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("reporter_name", sa.String(length=100), nullable=True),
        sa.Column("reporter_phone", sa.String(length=40), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("input_lon", sa.Float(), nullable=True),
        sa.Column("input_lat", sa.Float(), nullable=True),
        sa.Column("input_crs", sa.String(length=20), nullable=True),
        sa.Column(
            "point",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("grid_area_id", sa.BigInteger(), nullable=True),
        sa.Column("grid_code", sa.String(length=40), nullable=True),
        sa.Column("community_code", sa.String(length=40), nullable=True),
        sa.Column("township_code", sa.String(length=40), nullable=True),
        sa.Column("zone_code", sa.String(length=40), nullable=True),
        sa.Column("dedicated_code", sa.String(length=40), nullable=True),
        sa.Column("on_boundary", sa.Boolean(), nullable=False),
        sa.Column("outside_coverage", sa.Boolean(), nullable=False),
        sa.Column("routing", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("handling_mode", sa.String(length=12), nullable=True),
        sa.Column("department_code", sa.String(length=40), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("escalation_level", sa.String(length=12), nullable=False),
        sa.Column("duplicate_of", sa.BigInteger(), nullable=True),
        sa.Column("response_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "priority IN ('emergency', 'key', 'routine', 'coordination')", name="ck_event_priority"
        ),
        sa.CheckConstraint(
            "status IN ('reported', 'registered', 'assigned', 'in_progress', 'reported_back', 'closed', 'archived', 'returned', 'merged')",
            name="ck_event_status",
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of"],
            ["event.id"],
        ),
        sa.ForeignKeyConstraint(
            ["grid_area_id"],
            ["area.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["boundary_version.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "external_id", name="uq_event_source_external_id"),
    )
    op.create_index("ix_event_county_status", "event", ["county_code", "status"], unique=False)
    op.create_index("ix_event_grid", "event", ["grid_code"], unique=False)
    op.create_index("ix_event_point", "event", ["point"], unique=False, postgresql_using="gist")
    op.create_index("ix_event_received", "event", ["received_at"], unique=False)
    op.create_index(op.f("ix_event_team_id"), "event", ["team_id"], unique=False)
    op.create_index("ix_event_township", "event", ["township_code"], unique=False)
    op.create_table(
        "member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_member_team_id"), "member", ["team_id"], unique=False)
    op.create_table(
        "event_co_handler",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("reported_back_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "team_id", name="uq_event_co_handler"),
    )
    op.create_table(
        "event_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_log_event", "event_log", ["event_id", "id"], unique=False)
    op.create_table(
        "photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_photo_event_id"), "photo", ["event_id"], unique=False)
    op.create_table(
        "user_area",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("layer", sa.String(length=20), nullable=False),
        sa.Column("area_code", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "area_code", name="uq_user_area"),
    )
    op.execute(APPEND_ONLY)
    for table in ("event_log", "audit_log"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION gridmap_refuse_change()"
        )


def downgrade() -> None:
    op.drop_table("user_area")
    op.drop_index(op.f("ix_photo_event_id"), table_name="photo")
    op.drop_table("photo")
    op.drop_index("ix_event_log_event", table_name="event_log")
    op.drop_table("event_log")
    op.drop_table("event_co_handler")
    op.drop_index(op.f("ix_member_team_id"), table_name="member")
    op.drop_table("member")
    op.drop_index("ix_event_township", table_name="event")
    op.drop_index(op.f("ix_event_team_id"), table_name="event")
    op.drop_index("ix_event_received", table_name="event")
    op.drop_index("ix_event_point", table_name="event", postgresql_using="gist")
    op.drop_index("ix_event_grid", table_name="event")
    op.drop_index("ix_event_county_status", table_name="event")
    op.drop_table("event")
    op.drop_index("ix_duty_area", table_name="duty")
    op.drop_table("duty")
    op.drop_index("ix_area_part_geom", table_name="area_part", postgresql_using="gist")
    op.drop_index("ix_area_part_area", table_name="area_part")
    op.drop_table("area_part")
    op.drop_table("app_user")
    op.drop_table("team")
    op.drop_index("ix_draft_area_geom", table_name="draft_area", postgresql_using="gist")
    op.drop_table("draft_area")
    op.drop_index(
        "uq_area_current_code", table_name="area", postgresql_where=sa.text("valid_to IS NULL")
    )
    op.drop_index("ix_area_lookup", table_name="area")
    op.drop_index("ix_area_geom", table_name="area", postgresql_using="gist")
    op.drop_table("area")
    op.drop_index("ix_stream_message_at", table_name="stream_message")
    op.drop_table("stream_message")
    op.drop_index("uq_rule_category_area", table_name="responsibility_rule")
    op.drop_table("responsibility_rule")
    op.drop_table("department")
    op.drop_table("category")
    op.drop_index("ix_building_point", table_name="building", postgresql_using="gist")
    op.drop_index("ix_building_county_code", table_name="building")
    op.drop_table("building")
    op.drop_index(
        "uq_boundary_version_one_active",
        table_name="boundary_version",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_table("boundary_version")
    op.drop_index("ix_audit_target", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_token")
    op.execute("DROP FUNCTION IF EXISTS gridmap_refuse_change()")
