"""Buildings, administrative boundaries and roads from an OpenStreetMap file (.osm.pbf or
.osm XML) into a WGS84 GeoDataFrame, tolerant of OSM's broken geometry: what cannot be read
or repaired is skipped and listed, what make_valid repairs is listed too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from geodata.readers import format_of, read_tolerant
from gridmap.errors import DataFileError

OsmWhat = Literal["buildings", "admin", "roads"]


def read_osm(path: str | Path, *, what: OsmWhat) -> gpd.GeoDataFrame:
    """Buildings, administrative boundaries or roads from an OpenStreetMap file
    (.osm.pbf, or .osm XML).

    Columns: `code` ("way/123" or "relation/456"), `name`, `kind` (the building or highway
    value, or "admin_level=N"), plus `levels` (buildings: `building:levels`, NaN if absent)
    and `addr:street` / `addr:housenumber` (buildings, NA if absent), or `admin_level`
    (admin). Geometry in WGS84: polygons, or lines for roads.

    Raw OSM has broken geometry as a matter of course (a building way of two points, a
    ring that crosses itself, a way whose nodes are outside the extract). None of it stops
    the read: what cannot be a polygon (or line) is skipped and listed in
    `attrs["skipped"]`, what make_valid can repair is repaired and listed in
    `attrs["repaired"]`, each entry `{"code": "way/…", "problem": …, "action": …}`.
    """
    path = Path(path)
    if format_of(path) not in ("osm_pbf", "osm_xml"):
        raise DataFileError(
            f"{path}: read_osm reads OpenStreetMap .osm.pbf and .osm files only",
            details={"file": str(path)},
        )
    if what == "buildings":
        layer, where = "multipolygons", "building IS NOT NULL"
    elif what == "admin":
        layer, where = "multipolygons", "boundary = 'administrative' AND admin_level IS NOT NULL"
    elif what == "roads":
        layer, where = "lines", "highway IS NOT NULL"
    else:
        raise DataFileError(
            f"{path}: unknown OSM selection {what!r}; use buildings, admin or roads",
            details={"file": str(path), "what": what},
        )
    raw, geoms, unreadable = read_tolerant(path, str(path), layer, where=where)

    if layer == "lines":
        code = ("way/" + raw["osm_id"].astype(str)).to_numpy()
    else:
        # GDAL gives closed ways an osm_way_id and multipolygon relations an osm_id.
        code = np.where(
            raw["osm_way_id"].notna(),
            "way/" + raw["osm_way_id"].astype(str),
            "relation/" + raw["osm_id"].astype(str),
        )
    skipped: list[dict[str, str]] = [
        {"code": str(code[i]), "problem": reason, "action": "skipped"} for i, reason in unreadable
    ]
    repaired: list[dict[str, str]] = []
    keep = ~shapely.is_missing(geoms)
    if layer == "multipolygons":
        geoms, keep = repair_osm_polygons(geoms, keep, code, skipped, repaired)
    else:
        empty = keep & shapely.is_empty(geoms)
        for i in np.flatnonzero(empty).tolist():
            skipped.append({"code": str(code[i]), "problem": "no coordinates", "action": "skipped"})
        keep &= ~empty

    out = pd.DataFrame({"code": code, "name": raw["name"]})
    if what == "buildings":
        out["kind"] = raw["building"]
        out["levels"] = _hstore_number(raw["other_tags"], "building:levels")
        # A building's address, where the mapper gave one (the address register's input).
        for key in ("addr:street", "addr:housenumber"):
            out[key] = _hstore_text(raw["other_tags"], key)
    elif what == "admin":
        out["admin_level"] = pd.to_numeric(raw["admin_level"], errors="coerce").astype("Int64")
        out["kind"] = "admin_level=" + raw["admin_level"].astype(str)
    else:
        out["kind"] = raw["highway"]
    rows = np.flatnonzero(keep)
    gdf = gpd.GeoDataFrame(
        out.iloc[rows].reset_index(drop=True), geometry=list(geoms[rows]), crs="EPSG:4326"
    )
    gdf.attrs["source_crs"] = "wgs84"
    gdf.attrs["source"] = str(path)
    gdf.attrs["skipped"] = sorted(skipped, key=lambda e: e["code"])
    gdf.attrs["repaired"] = sorted(repaired, key=lambda e: e["code"])
    return gdf


def repair_osm_polygons(
    geoms: npt.NDArray[Any],
    keep: npt.NDArray[np.bool_],
    code: npt.NDArray[Any],
    skipped: list[dict[str, str]],
    repaired: list[dict[str, str]],
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """Repair invalid polygons with make_valid (their polygonal parts); skip what has no area."""
    geoms = geoms.copy()
    keep = keep.copy()
    invalid = keep & ~shapely.is_valid(geoms)
    for i in np.flatnonzero(invalid).tolist():
        reason = str(shapely.is_valid_reason(geoms[i]))
        fixed = shapely.make_valid(geoms[i], method="structure")
        parts = [p for p in shapely.get_parts(fixed) if isinstance(p, shapely.Polygon)]
        parts = [p for p in parts if not p.is_empty and p.area > 0]
        if not parts:
            skipped.append(
                {
                    "code": str(code[i]),
                    "problem": f"invalid: {reason}; no area",
                    "action": "skipped",
                }
            )
            keep[i] = False
            continue
        geoms[i] = shapely.MultiPolygon(parts)
        repaired.append(
            {
                "code": str(code[i]),
                "problem": f"invalid: {reason}",
                "action": "repaired with make_valid",
            }
        )
    empty = keep & (shapely.is_empty(geoms) | (shapely.area(geoms) <= 0))
    for i in np.flatnonzero(empty).tolist():
        skipped.append({"code": str(code[i]), "problem": "no area", "action": "skipped"})
    keep &= ~empty
    return geoms, keep


def _hstore_text(tags: pd.Series, key: str) -> pd.Series:
    """A text value from GDAL's hstore-like `other_tags` text, NA where absent."""
    pattern = rf'"{re.escape(key)}"=>"((?:[^"\\]|\\.)*)"'
    return tags.astype("string").str.extract(pattern)[0].str.replace('\\"', '"', regex=False)


def _hstore_number(tags: pd.Series, key: str) -> pd.Series:
    """A numeric value from GDAL's hstore-like `other_tags` text, NaN where absent."""
    pattern = rf'"{key}"=>"([0-9.]+)"'
    return pd.to_numeric(tags.astype("string").str.extract(pattern)[0], errors="coerce")
