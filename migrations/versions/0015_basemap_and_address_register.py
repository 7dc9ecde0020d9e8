"""A basemap and an address register (门牌地址库) per county (issue #19).

`basemap_feature` holds what a county's own map data shows under the grids: roads,
railways, water, land use, buildings, place names and points of interest, in WGS84 and,
once transformed, in Web Mercator for vector tiles (`geom_3857`, so a tile request only
selects, clips and encodes). `min_zoom` is the zoom from which a feature is drawn, decided
at import by the layer rules of `gridmap.boundaries.basemap` (a footpath from zoom 15, a trunk road
from zoom 8), so a low-zoom tile never reads thousands of buildings.

`address_entry` is the register the geocoder matches against: building addresses (road +
number, community + building number, village + group), POIs and named roads (their
line geometry, for intersections and offsets).

`basemap_import` records each import (the source, counts, whether it is synthetic); the
latest id is the basemap's revision, which keys `basemap_tile`, the store of encoded
basemap tiles (pre-rendered at import; a new import is a new revision, so old bytes are
never served).

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-03 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "basemap_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "imported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "basemap_feature",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("layer", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("source_id", sa.String(length=60), nullable=True),
        sa.Column("min_zoom", sa.SmallInteger(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column(
            "geom_3857",
            geoalchemy2.types.Geometry(srid=3857, spatial_index=False),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_basemap_feature_county", "basemap_feature", ["county_code", "layer"])
    # A low-zoom tile covers the whole county: its few features (trunk roads, rivers) are
    # found by their zoom rule, not by scanning every building the box holds.
    op.create_index("ix_basemap_feature_zoom", "basemap_feature", ["layer", "min_zoom"])
    op.create_index(
        "ix_basemap_feature_geom_3857",
        "basemap_feature",
        ["geom_3857"],
        postgresql_using="gist",
    )
    op.create_index("ix_basemap_feature_geom", "basemap_feature", ["geom"], postgresql_using="gist")
    op.create_table(
        "address_entry",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("full_text", sa.String(length=300), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("township", sa.String(length=100), nullable=True),
        sa.Column("community", sa.String(length=100), nullable=True),
        sa.Column("road", sa.String(length=100), nullable=True),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("building_no", sa.String(length=20), nullable=True),
        sa.Column("village_group", sa.String(length=20), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_address_entry_county", "address_entry", ["county_code", "kind"])
    op.create_index("ix_address_entry_geom", "address_entry", ["geom"], postgresql_using="gist")
    op.create_table(
        "basemap_tile",
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("recipe", sa.String(length=16), nullable=False),
        sa.Column("z", sa.SmallInteger(), nullable=False),
        sa.Column("x", sa.Integer(), nullable=False),
        sa.Column("y", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("render_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("revision", "recipe", "z", "x", "y"),
    )


def downgrade() -> None:
    op.drop_table("basemap_tile")
    op.drop_index("ix_address_entry_geom", table_name="address_entry", postgresql_using="gist")
    op.drop_index("ix_address_entry_county", table_name="address_entry")
    op.drop_table("address_entry")
    op.drop_index("ix_basemap_feature_geom", table_name="basemap_feature", postgresql_using="gist")
    op.drop_index(
        "ix_basemap_feature_geom_3857", table_name="basemap_feature", postgresql_using="gist"
    )
    op.drop_index("ix_basemap_feature_zoom", table_name="basemap_feature")
    op.drop_index("ix_basemap_feature_county", table_name="basemap_feature")
    op.drop_table("basemap_feature")
    op.drop_table("basemap_import")
