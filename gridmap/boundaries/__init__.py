"""The areas and their versions: published versions and "valid in"
(`versions`), drafts and their edits, publishing (one core for every door), features and
vector tiles for the map and OGC clients (the tile statement in `tiles`, the kept tiles in
`tile_cache`), buildings, the official division list and the
basemap.

This module is the package's entry point: api/, geodata/, gridmap_cli/ and
web_map/ use only what `__all__` lists (tests/test_foundation.py checks it).
"""

from gridmap.boundaries import (
    activation,
    basemap,
    diffs,
    draft_history,
    drafts,
    features,
    publishing,
    tile_cache,
    tiles,
    versions,
)
from gridmap.boundaries.basemap import format_address, replace_addresses, store_basemap
from gridmap.boundaries.buildings import BuildingRows, replace_buildings, stored_buildings
from gridmap.boundaries.diffs import VersionDiff
from gridmap.boundaries.divisions import DivisionRow, ListChange, list_divisions, replace_divisions
from gridmap.boundaries.editing import Grid, as_multipolygon
from gridmap.boundaries.publishing import Validator
from gridmap.boundaries.versions import AreaRow

__all__ = [
    "AreaRow",
    "BuildingRows",
    "DivisionRow",
    "Grid",
    "ListChange",
    "Validator",
    "VersionDiff",
    "activation",
    "as_multipolygon",
    "basemap",
    "diffs",
    "draft_history",
    "drafts",
    "features",
    "format_address",
    "list_divisions",
    "publishing",
    "replace_addresses",
    "replace_buildings",
    "replace_divisions",
    "store_basemap",
    "stored_buildings",
    "tile_cache",
    "tiles",
    "versions",
]
