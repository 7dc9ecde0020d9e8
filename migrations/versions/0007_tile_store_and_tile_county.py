"""A persistent store of encoded vector tiles, and the county of every tile geometry row.

`tile_store` keeps encoded Mapbox Vector Tiles of published versions, keyed by version,
the recipe that made them (a hash of gridmap.boundaries.tiles' rules and SQL: a new recipe is a new
key, so old bytes are never served after an upgrade), the jurisdiction scope (`all` for
the unscoped tile) and the tile address. Every worker process reads it, so a tile costly
to make (a zoom-13 tile over a dense core holds ~4,000 grids) is made once per version,
not once per process and restart. Rows go with their version (ON DELETE CASCADE).

`area_tile.county_code` lets a tile filter by jurisdiction (gridmap.access.scope) in the
tile query itself: it is backfilled from `area` and filled by the trigger function from
now on.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 00:50:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0004's function with the county carried over; the bands and zooms stay as frozen there.
ADD_ROWS = """
CREATE OR REPLACE FUNCTION gridmap_area_tile_add(ids bigint[]) RETURNS void AS $$
    INSERT INTO area_tile (area_id, county_code, layer, valid_from, valid_to, detail, code,
                           name, parent_code, households, geom)
    SELECT a.id, a.county_code, a.layer, a.valid_from, a.valid_to, b.detail, a.code, a.name,
           a.parent_code, a.households,
           CASE WHEN b.detail = 32 THEN m.geom
                -- half a pixel of a 256-pixel tile at the band's highest zoom, in metres
                ELSE ST_SimplifyPreserveTopology(m.geom, 40075016.686 / 2 ^ b.detail / 512)
           END
    FROM area a
    CROSS JOIN LATERAL (SELECT ST_Transform(a.geom, 3857) AS geom) m
    JOIN (VALUES ('county', 0), ('township', 0), ('enforcement_zone', 0), ('community', 10),
                 ('grid', 13), ('dedicated_grid', 13), ('micro_grid', 15))
         AS shown(layer, min_zoom) ON shown.layer = a.layer
    -- a band serves the zooms up to its own: only those where the layer is drawn
    JOIN (VALUES (5), (8), (10), (11), (12), (32)) AS b(detail)
      ON b.detail = 32 OR b.detail >= shown.min_zoom
    WHERE a.id = ANY(ids)
$$ LANGUAGE sql
"""


def _revision_0004_add_rows() -> str:
    """0004's own function text, for the downgrade (a module name cannot start with a digit,
    so it is loaded from its file)."""
    path = next(Path(__file__).parent.glob("0004_*.py"))
    spec = importlib.util.spec_from_file_location("gridmap_migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.ADD_ROWS)


def upgrade() -> None:
    op.add_column("area_tile", sa.Column("county_code", sa.String(length=12), nullable=True))
    op.execute(
        "UPDATE area_tile t SET county_code = a.county_code FROM area a WHERE a.id = t.area_id"
    )
    op.alter_column("area_tile", "county_code", nullable=False)
    op.execute(ADD_ROWS)
    op.create_table(
        "tile_store",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("recipe", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("layer", sa.String(length=20), nullable=False),
        sa.Column("z", sa.SmallInteger(), nullable=False),
        sa.Column("x", sa.Integer(), nullable=False),
        sa.Column("y", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("render_ms", sa.Float(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["version_id"], ["boundary_version.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id", "recipe", "scope", "layer", "z", "x", "y"),
    )


def downgrade() -> None:
    op.drop_table("tile_store")
    op.execute(_revision_0004_add_rows())
    op.drop_column("area_tile", "county_code")
