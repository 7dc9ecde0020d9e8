"""A basemap import says whose data it is (issue #19 item 2); the address register says
which import brought each entry (item 3).

`basemap_import.attribution` is the line a map writes under a county's basemap: the
data's source and licence for real data ("© OpenStreetMap contributors" for an OSM
extract: the ODbL requires it), NULL when the import named none. Whether the basemap is
synthetic was already stored (`synthetic`); a synthetic basemap's line is said by the
map in its reader's language ("示意底图（合成数据）"), not stored. `bbox` is the extent
of the import's features (west, south, east, north in WGS84), so a map can tell which
county's basemap — and so which attribution — its view shows without scanning features.

`address_entry.origin` is what brought an entry: 'basemap' (`gridmap basemap import`,
the demos) or 'buildings' (`gridmap county buildings`, from a buildings file's address
columns). Each import replaces only its own entries, so a basemap re-import keeps the
addresses the county's buildings file gave, and the other way round. An index on
(county_code, id) answers the register's newest id per county at once: the geocoder's
in-process register is rebuilt when it changes.

Imports made before this migration are filled in: `bbox` from the county's features, and
an import read from an OpenStreetMap file (.osm.pbf, .pbf, .osm: the rule
`geodata.basemap.default_attribution` applies at import) gets OSM's attribution.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 07:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("basemap_import", sa.Column("attribution", sa.String(length=300)))
    op.add_column("basemap_import", sa.Column("bbox", postgresql.JSONB(astext_type=sa.Text())))
    op.add_column(
        "address_entry",
        sa.Column("origin", sa.String(length=20), nullable=False, server_default="basemap"),
    )
    op.create_index("ix_address_entry_county_id", "address_entry", ["county_code", "id"])
    op.execute(
        """
        UPDATE basemap_import i SET bbox = jsonb_build_array(
            ST_XMin(e.box), ST_YMin(e.box), ST_XMax(e.box), ST_YMax(e.box))
        FROM (SELECT county_code, ST_Extent(geom) AS box FROM basemap_feature
              GROUP BY county_code) e
        WHERE e.county_code = i.county_code
        """
    )
    op.execute(
        """
        UPDATE basemap_import SET attribution = '© OpenStreetMap contributors'
        WHERE NOT synthetic AND lower(source) ~ '\\.(osm\\.pbf|pbf|osm)$'
        """
    )


def downgrade() -> None:
    op.drop_index("ix_address_entry_county_id", table_name="address_entry")
    op.drop_column("address_entry", "origin")
    op.drop_column("basemap_import", "bbox")
    op.drop_column("basemap_import", "attribution")
