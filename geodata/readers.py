"""Read boundary and OpenStreetMap files into WGS84 GeoDataFrames with the standard columns.

The coordinate system is never guessed: the user's `crs` wins, else the CRS the file states
(a GeoPackage's SRS, a Shapefile's .prj, a GeoJSON's explicit "crs" member). A GeoJSON without
a "crs" member is refused unless the user names its CRS, because Chinese web-map GeoJSON is
GCJ-02 while looking exactly like WGS84.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj

from gridmap.crs import CRS_OPTIONS, geometry_to_wgs84, parse_crs
from gridmap.errors import DataFileError, UnknownCRS

STANDARD_COLUMNS = ("code", "name", "layer", "parent_code", "households", "kind")
CRS_HINT = "--crs wgs84|cgcs2000|gcj02|bd09|EPSG:nnnn"
FORMATS = ".geojson/.json, .gpkg, .zip (zipped Shapefile), .osm.pbf"

Format = Literal["geojson", "gpkg", "shapefile_zip", "osm_pbf"]
OsmWhat = Literal["buildings", "admin", "roads"]


def read_layer(
    path: str | Path,
    *,
    crs: str | None = None,
    layer: str | None = None,
    columns: dict[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """Read one layer of a boundary file, converted to WGS84 (EPSG:4326).

    `columns` maps the file's column names to the standard ones (e.g. {"GRID_ID": "code"});
    standard names are otherwise matched case-insensitively. The result has `code`, `name`,
    `parent_code`, `households`, `kind` (None where the file has none), `layer` if the file has
    one, any other columns unchanged, and `attrs["source_crs"]` / `attrs["source"]`.
    """
    path = Path(path)
    fmt = _format_of(path)
    source = _gdal_source(path, fmt, layer)
    # A GeoJSON file holds one layer, and opening it with GDAL parses all of it: skip that,
    # so a file without a stated CRS is refused at once.
    gdal_layer = (
        None if fmt in ("shapefile_zip", "geojson") else _choose_layer(path, source, fmt, layer)
    )

    if crs is not None:
        source_crs = _user_crs(path, crs)
    elif fmt == "osm_pbf":
        source_crs = "wgs84"  # OpenStreetMap is WGS84 by definition
    else:
        stated = _stated_crs(path, fmt, source, gdal_layer)
        if stated is None:
            raise DataFileError(
                f"{path}: the file does not say which coordinate system its coordinates are "
                f"in, and none was given. Name it with {CRS_HINT} (GeoJSON from Chinese web "
                "maps such as Amap or Tencent is usually gcj02, from Baidu bd09, from a GPS "
                "or survey wgs84/cgcs2000). It is never guessed.",
                details={"file": str(path), "options": CRS_OPTIONS},
            )
        source_crs = stated

    try:
        gdf = pyogrio.read_dataframe(source, layer=gdal_layer)
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable data
        raise DataFileError(
            f"{path}: cannot read the file: {exc}", details={"file": str(path)}
        ) from exc
    gdf = _standardise_columns(gdf, path, columns)
    return _to_wgs84(gdf, path, source_crs)


def read_osm(path: str | Path, *, what: OsmWhat) -> gpd.GeoDataFrame:
    """Buildings, administrative boundaries or roads from an OpenStreetMap .osm.pbf file.

    Columns: `code` ("way/123" or "relation/456"), `name`, `kind` (the building or highway
    value, or "admin_level=N"), plus `levels` (buildings: `building:levels`, NaN if absent)
    or `admin_level` (admin). Geometry in WGS84: polygons, or lines for roads.
    """
    path = Path(path)
    if _format_of(path) != "osm_pbf":
        raise DataFileError(
            f"{path}: read_osm reads OpenStreetMap .osm.pbf files only",
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
    try:
        raw = pyogrio.read_dataframe(str(path), layer=layer, where=where)
    except Exception as exc:
        raise DataFileError(
            f"{path}: cannot read the OSM file: {exc}", details={"file": str(path)}
        ) from exc

    if layer == "lines":
        code = "way/" + raw["osm_id"].astype(str)
    else:
        # GDAL gives closed ways an osm_way_id and multipolygon relations an osm_id.
        code = np.where(
            raw["osm_way_id"].notna(),
            "way/" + raw["osm_way_id"].astype(str),
            "relation/" + raw["osm_id"].astype(str),
        )
    out = pd.DataFrame({"code": code, "name": raw["name"]})
    if what == "buildings":
        out["kind"] = raw["building"]
        out["levels"] = _hstore_number(raw["other_tags"], "building:levels")
    elif what == "admin":
        out["admin_level"] = pd.to_numeric(raw["admin_level"], errors="coerce").astype("Int64")
        out["kind"] = "admin_level=" + raw["admin_level"].astype(str)
    else:
        out["kind"] = raw["highway"]
    gdf = gpd.GeoDataFrame(out, geometry=raw.geometry.values, crs="EPSG:4326")
    gdf.attrs["source_crs"] = "wgs84"
    gdf.attrs["source"] = str(path)
    return gdf


# --- format, layer, CRS -----------------------------------------------------------------


def _format_of(path: Path) -> Format:
    name = path.name.lower()
    if not path.exists():
        raise DataFileError(f"{path}: no such file", details={"file": str(path)})
    if name.endswith((".geojson", ".json")):
        return "geojson"
    if name.endswith(".gpkg"):
        return "gpkg"
    if name.endswith(".zip"):
        return "shapefile_zip"
    if name.endswith(".osm.pbf"):
        return "osm_pbf"
    raise DataFileError(
        f"{path}: unsupported file type; supported are {FORMATS}",
        details={"file": str(path), "formats": FORMATS},
    )


def _gdal_source(path: Path, fmt: Format, layer: str | None) -> str:
    if fmt != "shapefile_zip":
        return str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            shps = [n for n in archive.namelist() if n.lower().endswith(".shp")]
    except zipfile.BadZipFile as exc:
        raise DataFileError(f"{path}: not a valid zip file", details={"file": str(path)}) from exc
    if layer is not None:
        shps = [n for n in shps if Path(n).stem == layer or n == layer]
    if len(shps) != 1:
        found = "none" if not shps else ", ".join(shps)
        raise DataFileError(
            f"{path}: expected exactly one Shapefile (.shp) in the zip"
            + (f" named {layer!r}" if layer else "")
            + f"; found {found}. Name the one to read with layer=...",
            details={"file": str(path), "shapefiles": shps},
        )
    return f"/vsizip/{path.resolve()}/{shps[0]}"


def _choose_layer(path: Path, source: str, fmt: Format, layer: str | None) -> str | None:
    if fmt == "osm_pbf":
        return layer or "multipolygons"
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(source)]
    except Exception as exc:
        raise DataFileError(
            f"{path}: cannot open the file: {exc}", details={"file": str(path)}
        ) from exc
    if layer is not None:
        if layer not in layers:
            raise DataFileError(
                f"{path}: no layer {layer!r}; the file has: {', '.join(layers)}",
                details={"file": str(path), "layers": layers},
            )
        return layer
    if len(layers) != 1:
        raise DataFileError(
            f"{path}: the file has {len(layers)} layers ({', '.join(layers)}); "
            "name the one to read with layer=...",
            details={"file": str(path), "layers": layers},
        )
    return layers[0]


def _read_info(path: Path, source: str, layer: str | None) -> dict[str, Any]:
    try:
        info: dict[str, Any] = pyogrio.read_info(source, layer=layer)
    except Exception as exc:
        raise DataFileError(
            f"{path}: cannot open the file: {exc}", details={"file": str(path)}
        ) from exc
    return info


def _user_crs(path: Path, crs: str) -> str:
    try:
        return parse_crs(crs)
    except UnknownCRS as exc:
        raise DataFileError(
            f"{path}: {exc.message}", details={"file": str(path), "crs": crs}
        ) from exc


def _stated_crs(path: Path, fmt: Format, source: str, layer: str | None) -> str | None:
    """The CRS the file itself states, canonical, or None if it states none."""
    if fmt == "geojson":
        # GDAL reports EPSG:4326 for every GeoJSON without a "crs" member, so ask the file.
        member = _geojson_crs_member(path)
        if member is None:
            return None
        try:
            return parse_crs(member)
        except UnknownCRS as exc:
            raise DataFileError(
                f'{path}: the file\'s "crs" member names {member!r}, which is not a known '
                f"coordinate system. Name the right one with {CRS_HINT}.",
                details={"file": str(path), "crs": member},
            ) from exc
    stated = _read_info(path, source, layer).get("crs")
    if not stated:
        return None
    if str(stated).upper().startswith("EPSG:"):
        return parse_crs(str(stated))
    # A WKT without an EPSG code (e.g. an ESRI .prj): identify it, or refuse to guess.
    identified = pyproj.CRS.from_user_input(stated).to_epsg(min_confidence=70)
    if identified is None:
        raise DataFileError(
            f"{path}: the file's coordinate system ({pyproj.CRS.from_user_input(stated).name}) "
            f"has no EPSG code that matches it. Name it with {CRS_HINT}.",
            details={"file": str(path), "crs": str(stated)},
        )
    return parse_crs(f"EPSG:{identified}")


_SCAN_BYTES = 1 << 20


def _geojson_crs_member(path: Path) -> str | None:
    """The name in a GeoJSON's top-level "crs" member, or None if it has none."""
    if not _may_have_crs_member(path):
        return None
    try:
        with path.open("rb") as fh:
            doc = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: not valid JSON: {exc}", details={"file": str(path)}) from exc
    crs = doc.get("crs") if isinstance(doc, dict) else None
    if crs is None:
        return None
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    if not isinstance(name, str):
        raise DataFileError(
            f'{path}: the "crs" member is not of the form '
            '{"type": "name", "properties": {"name": "EPSG:nnnn"}}. '
            f"Name the coordinate system with {CRS_HINT}.",
            details={"file": str(path)},
        )
    return name


def _may_have_crs_member(path: Path) -> bool:
    """False only when the file surely has no top-level "crs" member, without parsing it.

    A top-level member sits either before "features" (in the head of the file) or after
    the features array (in its tail); a large file whose head and tail never mention "crs"
    has none. Anything else (a small file, a mention anywhere) gets a full parse.
    """
    size = path.stat().st_size
    if size <= 4 * _SCAN_BYTES:
        return True
    with path.open("rb") as fh:
        head = fh.read(_SCAN_BYTES)
        fh.seek(size - _SCAN_BYTES)
        tail = fh.read()
    return b'"features"' not in head or b'"crs"' in head or b'"crs"' in tail


# --- columns and coordinates ------------------------------------------------------------


def _standardise_columns(
    gdf: gpd.GeoDataFrame, path: Path, columns: dict[str, str] | None
) -> gpd.GeoDataFrame:
    geometry_name = gdf.geometry.name
    if columns:
        missing = [c for c in columns if c not in gdf.columns]
        if missing:
            available = [c for c in gdf.columns if c != geometry_name]
            raise DataFileError(
                f"{path}: column(s) {', '.join(missing)} not in the file; it has: "
                f"{', '.join(map(str, available))}",
                details={"file": str(path), "missing": missing, "columns": available},
            )
        gdf = gdf.rename(columns=columns)
    by_lower = {str(c).lower(): c for c in gdf.columns if c != geometry_name}
    renames = {
        by_lower[std]: std for std in STANDARD_COLUMNS if std not in gdf.columns and std in by_lower
    }
    gdf = gdf.rename(columns=renames)
    if geometry_name != "geometry":
        gdf = gdf.rename_geometry("geometry")

    for col in ("code", "parent_code"):
        gdf[col] = _as_codes(gdf[col]) if col in gdf.columns else None
    for col in ("name", "kind", "layer"):
        if col in gdf.columns:
            gdf[col] = _as_text(gdf[col])
        elif col != "layer":
            gdf[col] = None
    if "households" in gdf.columns:
        gdf["households"] = _as_households(gdf, path)
    else:
        gdf["households"] = pd.array([pd.NA] * len(gdf), dtype="Int64")
    front = [c for c in STANDARD_COLUMNS if c in gdf.columns]
    rest = [c for c in gdf.columns if c not in front and c != "geometry"]
    return gdf[[*front, *rest, "geometry"]]


def _as_codes(values: pd.Series) -> pd.Series:
    """Codes as stripped strings; whole-number floats (a numeric column) lose their '.0'."""
    if pd.api.types.is_float_dtype(values):
        values = values.astype("Int64")
    return _as_text(values)


def _as_text(values: pd.Series) -> pd.Series:
    """Stripped strings, None (not NA/NaN) where missing or blank."""
    text = values.astype("string").str.strip()
    cleaned = [None if v is pd.NA or v == "" else str(v) for v in text.tolist()]
    return pd.Series(cleaned, index=values.index, dtype=object)


def _as_households(gdf: gpd.GeoDataFrame, path: Path) -> pd.Series:
    raw = gdf["households"]
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = (numbers.isna() & raw.notna() & (raw.astype("string").str.strip() != "")) | (
        numbers.notna() & ((numbers % 1 != 0) | (numbers < 0))
    )
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        code = gdf["code"].iloc[i]
        raise DataFileError(
            f"{path}: feature {i + 1} (code {code!r}) has households {raw.iloc[i]!r}, "
            "which is not a whole number of zero or more",
            details={"file": str(path), "feature": i + 1, "code": code},
        )
    return numbers.astype("Int64")


def _to_wgs84(gdf: gpd.GeoDataFrame, path: Path, source_crs: str) -> gpd.GeoDataFrame:
    try:
        geoms = geometry_to_wgs84(gdf.geometry.values.to_numpy(), source_crs)
    except Exception as exc:
        raise DataFileError(
            f"{path}: cannot convert the coordinates from {source_crs} to WGS84: {exc}",
            details={"file": str(path), "crs": source_crs},
        ) from exc
    gdf = gpd.GeoDataFrame(
        gdf.drop(columns="geometry"),
        geometry=gpd.GeoSeries(geoms, index=gdf.index, crs="EPSG:4326"),
    )
    gdf.attrs["source_crs"] = source_crs
    gdf.attrs["source"] = str(path)
    return gdf


def _hstore_number(tags: pd.Series, key: str) -> pd.Series:
    """A numeric value from GDAL's hstore-like `other_tags` text, NaN where absent."""
    pattern = rf'"{key}"=>"([0-9.]+)"'
    return pd.to_numeric(tags.astype("string").str.extract(pattern)[0], errors="coerce")
