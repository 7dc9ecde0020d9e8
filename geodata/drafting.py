"""The editor's draft work that needs the data tools: grids generated afresh for a community,
a file of grids read into a draft, and the state an edit answers with (the problems the
publish check finds and the diff against the active version).

`gridmap.boundaries.drafts` keeps drafts and applies edits but does not import geodata (the
domain never reads files or runs the generator); this module joins the two, so the HTTP
editor (api/drafts.py) and any command line use the same steps.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
from sqlalchemy.orm import Session

from geodata.gridgen import generate_grids, grid_attributes
from geodata.normalize import normalise
from geodata.publish_check import publish_validator
from geodata.readers import read_layer
from gridmap.access import Jurisdiction, boundary_access
from gridmap.boundaries import AreaRow, Grid, as_multipolygon, diffs, drafts
from gridmap.errors import GridmapError, hide_path
from gridmap.settings import Settings


def draft_state(
    session: Session, *, settings: Settings, draft_id: int, author: str
) -> dict[str, Any]:
    """Problems with their locations and the diff summary: what every edit answers with."""
    problems = drafts.validate_draft(
        session, draft_id=draft_id, author=author, validator=publish_validator(settings)
    )
    diff = diffs.diff_version(session, version_id=draft_id).to_dict()
    return {"problems": problems, "diff": diff}


def regenerate(
    session: Session,
    *,
    draft_id: int,
    author: str,
    community: str,
    settings: Settings,
    jurisdiction: Jurisdiction,
) -> drafts.Regenerate:
    """The edit that replaces a community's grids by the generator's, from the draft's
    community outline and buildings. The community must lie in `jurisdiction`: checked
    before the generator reads its buildings."""
    draft = drafts.get_draft(session, draft_id=draft_id, author=author, jurisdiction=jurisdiction)
    boundary_access.require_within(
        session,
        jurisdiction=jurisdiction,
        county_code=draft.county_code or "",
        areas=[boundary_access.AreaKey("community", community, None)],
        what=f"an edit of draft {draft_id}",
    )
    cov = drafts.load_coverage(session, draft=draft, community=community)
    b = cov.buildings
    buildings = gpd.GeoDataFrame(
        {"households": b.households}, geometry=gpd.points_from_xy(b.lons, b.lats), crs=4326
    )
    result = generate_grids(
        as_multipolygon(cov.parent_geom),
        buildings,
        code_prefix=community,
        min_households=settings.households_min,
        max_households=settings.households_max,
    )
    # A flagged grid (a high-rise, one the buildings cannot bring into range) keeps the
    # generator's accepted exception and reason, as the demo and `gridmap county grids`.
    attributes = grid_attributes(result.grids)
    grids = tuple(
        Grid(str(r.code), str(r.name), r.geometry, None, "community", dict(a))
        for r, a in zip(result.grids.itertuples(), attributes, strict=True)
    )
    return drafts.Regenerate(community, grids)


def upload(data: bytes, *, name: str, crs: str | None, county_code: str) -> drafts.Upload:
    """The edit that puts a file's grids into a draft (the import core's reader and
    normaliser; the file named `name` by its sender): errors name the sender's file, never
    the server's temporary path."""
    suffix = Path(name).suffix or ".geojson"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            gdf = normalise(read_layer(path, crs=crs)).gdf
        except GridmapError as exc:
            raise hide_path(exc, str(path), name) from None
    return drafts.Upload(
        tuple(
            AreaRow(
                county_code,
                str(r.layer) if "layer" in gdf.columns and r.layer else "grid",
                str(r.code),
                str(r.name or r.code),
                r.geometry,
                parent_code=None if r.parent_code is None else str(r.parent_code),
                kind=None if r.kind is None else str(r.kind),
            )
            for r in gdf.itertuples()
        )
    )
