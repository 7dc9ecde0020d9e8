"""Indexes for walking down the area hierarchy and for searching areas by name.

`ix_area_parent`: a jurisdiction's scope (gridmap.access.scope) walks from the named areas
down by `parent_code`; without an index every step read the whole table (a township of
the 200,000-grid megacity: 767 ms, with it 75 ms).

`ix_area_name_trgm`: the command view's search finds areas by any part of their name
(`ILIKE '%…%'`), which only a trigram index can serve: a rare name over the megacity took
288 ms as a scan and 0.3 ms with it. `pg_trgm` ships with PostgreSQL and is a trusted
extension, so the database owner may create it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 01:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("ix_area_parent", "area", ["parent_code"])
    op.create_index(
        "ix_area_name_trgm",
        "area",
        ["name"],
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_area_name_trgm", table_name="area")
    op.drop_index("ix_area_parent", table_name="area")
    # The extension stays: other databases' objects on this server may use it.
