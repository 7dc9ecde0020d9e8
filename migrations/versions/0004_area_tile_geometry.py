"""Keep a vector-tile copy of every area: in Web Mercator, simplified per zoom band.

`area_tile` holds, for each `area` row, its geometry transformed to EPSG:3857 once and
simplified for the zoom bands `gridmap.boundaries.tiles.DETAIL_ZOOMS` (5, 8, 10, 11, 12; tolerance half
a 256-pixel tile pixel at the band's highest zoom), plus an unsimplified copy (detail 32),
with the few attributes a map tile carries. Statement-level triggers keep it in step with
`area` whoever writes it (activation, restore, tests): new rows get their copies, and a
retired row's `valid_to` is copied over, so a tile of any published version reads one
indexed table and never transforms or simplifies at request time. A layer keeps only the
bands of zooms it is drawn at (`gridmap.boundaries.tiles.MIN_ZOOM`): grids, drawn from zoom 13, keep
only the full copy.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-21 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LAYERS = (
    "county",
    "township",
    "community",
    "grid",
    "micro_grid",
    "enforcement_zone",
    "dedicated_grid",
)

# Frozen copies of gridmap.boundaries.tiles.MIN_ZOOM, DETAIL_ZOOMS and FULL_DETAIL as of this revision:
# changing them means a new migration that rebuilds the table.
ADD_ROWS = """
CREATE OR REPLACE FUNCTION gridmap_area_tile_add(ids bigint[]) RETURNS void AS $$
    INSERT INTO area_tile (area_id, layer, valid_from, valid_to, detail, code, name,
                           parent_code, households, geom)
    SELECT a.id, a.layer, a.valid_from, a.valid_to, b.detail, a.code, a.name,
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

ON_INSERT = """
CREATE OR REPLACE FUNCTION gridmap_area_tile_on_insert() RETURNS trigger AS $$
BEGIN
    PERFORM gridmap_area_tile_add(ARRAY(SELECT id FROM added));
    RETURN NULL;
END $$ LANGUAGE plpgsql
"""

# Published rows change only in valid_to (models.py); should anything else change in place,
# the copies of those rows are made again rather than left stale.
ON_UPDATE = """
CREATE OR REPLACE FUNCTION gridmap_area_tile_on_update() RETURNS trigger AS $$
DECLARE
    reshaped bigint[];
BEGIN
    UPDATE area_tile t SET valid_to = n.valid_to
    FROM changed n
    WHERE t.area_id = n.id AND t.valid_to IS DISTINCT FROM n.valid_to;
    reshaped := ARRAY(
        SELECT n.id FROM changed n JOIN before o ON o.id = n.id
        WHERE ST_AsBinary(n.geom) <> ST_AsBinary(o.geom)
           OR n.layer IS DISTINCT FROM o.layer OR n.code IS DISTINCT FROM o.code
           OR n.name IS DISTINCT FROM o.name OR n.parent_code IS DISTINCT FROM o.parent_code
           OR n.households IS DISTINCT FROM o.households
           OR n.valid_from IS DISTINCT FROM o.valid_from);
    IF cardinality(reshaped) > 0 THEN
        DELETE FROM area_tile WHERE area_id = ANY(reshaped);
        PERFORM gridmap_area_tile_add(reshaped);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "area_tile",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("layer", sa.String(length=20), nullable=False),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.Column("detail", sa.SmallInteger(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_code", sa.String(length=40), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                srid=3857, spatial_index=False, from_text="ST_GeomFromEWKT", name="geometry"
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_area_tile_area", "area_tile", ["area_id"], unique=False)
    # One spatial index per layer: a tile reads one layer, and a township tile at zoom 10
    # must not wade through 200,000 grids in a shared index.
    for layer in LAYERS:
        op.create_index(
            f"ix_area_tile_geom_{layer}",
            "area_tile",
            ["geom"],
            unique=False,
            postgresql_using="gist",
            postgresql_where=sa.text(f"layer = '{layer}'"),
        )
    op.execute(ADD_ROWS)
    op.execute(ON_INSERT)
    op.execute(ON_UPDATE)
    op.execute(
        "CREATE TRIGGER area_tile_insert AFTER INSERT ON area REFERENCING NEW TABLE AS added "
        "FOR EACH STATEMENT EXECUTE FUNCTION gridmap_area_tile_on_insert()"
    )
    op.execute(
        "CREATE TRIGGER area_tile_update AFTER UPDATE ON area "
        "REFERENCING OLD TABLE AS before NEW TABLE AS changed "
        "FOR EACH STATEMENT EXECUTE FUNCTION gridmap_area_tile_on_update()"
    )
    # Areas published before this revision.
    op.execute("SELECT gridmap_area_tile_add(ARRAY(SELECT id FROM area))")
    op.execute("ANALYZE area_tile")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS area_tile_update ON area")
    op.execute("DROP TRIGGER IF EXISTS area_tile_insert ON area")
    op.execute("DROP FUNCTION IF EXISTS gridmap_area_tile_on_update()")
    op.execute("DROP FUNCTION IF EXISTS gridmap_area_tile_on_insert()")
    op.execute("DROP FUNCTION IF EXISTS gridmap_area_tile_add(bigint[])")
    for layer in LAYERS:
        op.drop_index(f"ix_area_tile_geom_{layer}", table_name="area_tile")
    op.drop_index("ix_area_tile_area", table_name="area_tile")
    op.drop_table("area_tile")
