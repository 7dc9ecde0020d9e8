"""Read boundary files into WGS84 GeoDataFrames with the standard columns (OpenStreetMap
files: `geodata.osm_reader`).

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
import numpy.typing as npt
import pandas as pd
import pyogrio
import pyproj
import shapely

from gridmap.crs import CRS_OPTIONS, geometry_to_wgs84, parse_crs
from gridmap.errors import DataFileError, UnknownCRS

STANDARD_COLUMNS = ("code", "name", "layer", "parent_code", "households", "kind")
CRS_HINT = "--crs wgs84|cgcs2000|gcj02|bd09|EPSG:nnnn"
FORMATS = ".geojson/.json, .gpkg, .zip (zipped Shapefile), .osm.pbf, .osm"

Format = Literal["geojson", "gpkg", "shapefile_zip", "osm_pbf", "osm_xml"]


def read_layer(
    path: str | Path,
    *,
    crs: str | None = None,
    layer: str | None = None,
    columns: dict[str, str] | None = None,
    code: str | None = None,
    name: str | None = None,
) -> gpd.GeoDataFrame:
    """Read one layer of a boundary file, converted to WGS84 (EPSG:4326).

    `columns` maps the file's column names to the standard ones (e.g. {"GRID_ID": "code"});
    standard names are otherwise matched case-insensitively. `code` and `name` give the code
    and name of a file that holds a single geometry (a bare GeoJSON geometry, an outline);
    a bare GeoJSON geometry's own top-level members (`"code"`, `"name"`, …) are read as its
    attributes. Coordinates that cannot be in the file's coordinate system (metres in a
    lon/lat CRS, latitudes beyond 90°) are refused with the likely CRS named.

    The result has `code`, `name`, `parent_code`, `households`, `kind` (None where the file
    has none), `layer` if the file has one, any other columns unchanged, and
    `attrs["source_crs"]` / `attrs["source"]` / `attrs["unreadable"]` (features whose
    geometry GEOS cannot build, e.g. a ring of two points: kept with no geometry).
    """
    path = Path(path)
    fmt = format_of(path)
    source = _gdal_source(path, fmt, layer)
    # A GeoJSON file holds one layer, and opening it with GDAL parses all of it: skip that,
    # so a file without a stated CRS is refused at once.
    gdal_layer = (
        None if fmt in ("shapefile_zip", "geojson") else _choose_layer(path, source, fmt, layer)
    )

    if crs is not None:
        source_crs = _user_crs(path, crs)
    elif fmt in ("osm_pbf", "osm_xml"):
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

    attrs, geoms, unreadable = read_tolerant(path, source, gdal_layer)
    if fmt == "geojson" and len(attrs) == 1:
        attrs = _bare_geometry_members(path, attrs)
    if code is not None or name is not None:
        if len(attrs) != 1:
            raise DataFileError(
                f"{path}: a code or name can be given only for a file of one geometry; this "
                f"one has {len(attrs)} features. Name the columns that hold them instead "
                "(--code-field F --name-field F).",
                details={"file": str(path), "features": len(attrs)},
            )
        attrs = attrs.copy()
        if code is not None:
            attrs["code"] = [code]
        if name is not None:
            attrs["name"] = [name]
    _check_plausible(path, geoms, source_crs)
    gdf = gpd.GeoDataFrame(attrs, geometry=list(geoms))
    gdf = _standardise_columns(gdf, path, columns)
    gdf = _to_wgs84(gdf, path, source_crs)
    # A geometry that cannot be built is kept as an empty one, so the report names it.
    gdf.attrs["unreadable"] = [
        {"feature": i + 1, "code": gdf["code"].iloc[i], "problem": reason}
        for i, reason in unreadable
    ]
    return gdf


def read_tolerant(
    path: Path, source: str, layer: str | None, *, where: str | None = None
) -> tuple[pd.DataFrame, npt.NDArray[Any], list[tuple[int, str]]]:
    """Attributes and geometry of a layer, where a geometry GEOS cannot even build (a ring
    of two points) is None instead of stopping the read. Returns the attributes, the
    geometries and, for each unreadable one, its row and the reason."""
    try:
        attrs = pyogrio.read_dataframe(source, layer=layer, where=where, read_geometry=False)
        _, _, wkb, _ = pyogrio.raw.read(source, layer=layer, where=where, columns=[])
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable data
        raise DataFileError(
            f"{path}: cannot read the file: {exc}", details={"file": str(path)}
        ) from exc
    wkb = np.asarray(wkb, dtype=object)
    geoms = np.asarray(shapely.from_wkb(wkb, on_invalid="ignore"), dtype=object)
    if len(attrs) != len(geoms):  # a layer without attribute columns reads as 0 rows
        attrs = pd.DataFrame(index=pd.RangeIndex(len(geoms)))
    unreadable: list[tuple[int, str]] = []
    for i in np.flatnonzero(shapely.is_missing(geoms) & (wkb != None)).tolist():  # noqa: E711
        try:
            shapely.from_wkb(wkb[i])
            reason = "unreadable geometry"
        except shapely.errors.GEOSException as exc:
            reason = str(exc).removeprefix("IllegalArgumentException: ")
        unreadable.append((i, reason))
    return attrs, geoms, unreadable


# --- format, layer, CRS -----------------------------------------------------------------


def format_of(path: Path) -> Format:
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
    if name.endswith(".osm"):
        return "osm_xml"
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
    if fmt in ("osm_pbf", "osm_xml"):
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


_GEOGRAPHIC = ("wgs84", "cgcs2000", "gcj02", "bd09")


def _check_plausible(path: Path, geoms: npt.NDArray[Any], source_crs: str) -> None:
    """Refuse coordinates that cannot be in `source_crs`, naming the likely one.

    A lon/lat CRS needs |x| <= 180 and |y| <= 90; a file in metres that declares EPSG:4326
    would otherwise fail deep in a projection with an unrelated message.
    """
    geographic = source_crs in _GEOGRAPHIC or (
        source_crs.startswith("EPSG:") and pyproj.CRS.from_user_input(source_crs).is_geographic
    )
    if not geographic or not len(geoms):
        return
    present = geoms[~shapely.is_missing(geoms)]
    if not len(present):
        return
    coords = shapely.get_coordinates(present)
    if not len(coords):
        return
    finite = np.isfinite(coords).all(axis=1)
    x, y = coords[finite, 0], coords[finite, 1]
    if finite.all() and (np.abs(x) <= 180).all() and (np.abs(y) <= 90).all():
        return
    bounds = [float(x.min()), float(y.min()), float(x.max()), float(y.max())] if len(x) else []
    raise DataFileError(
        f"{path}: the coordinates (x {bounds[0]:.6g} to {bounds[2]:.6g}, y {bounds[1]:.6g} "
        f"to {bounds[3]:.6g}) cannot be longitudes and latitudes in {source_crs}: "
        f"{_likely_crs(x, y)} Name the right one with {CRS_HINT}.",
        details={"file": str(path), "crs": source_crs, "bounds": bounds},
    )


def _likely_crs(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> str:
    """A guess at what the coordinates are, for the message (never applied)."""
    if not len(x):
        return "they are not numbers."
    if (np.abs(x) <= 90).all() and (np.abs(y) <= 180).all():
        return (
            "the latitude is over 90 degrees while x would be a valid latitude; latitude and "
            "longitude look swapped (x must be the longitude)."
        )
    xm, ym = float(np.median(x)), float(np.median(y))
    if 0 < ym < 10_000_000:
        zone = int(xm // 1_000_000)
        if 25 <= zone <= 45:
            return (
                f"they look like metres in CGCS2000 3-degree Gauss-Kruger zone {zone} "
                f"(EPSG:{4513 + zone - 25}: the easting starts with the zone number)."
            )
        if 13 <= zone <= 23:
            return (
                f"they look like metres in CGCS2000 6-degree Gauss-Kruger zone {zone} "
                f"(EPSG:{4491 + zone - 13}: the easting starts with the zone number)."
            )
        if 100_000 <= xm <= 900_000:
            return (
                "they look like metres in a projected CRS without a zone prefix: UTM "
                "(EPSG:32643-32653 across China) or CGCS2000 3-degree Gauss-Kruger by "
                "central meridian (EPSG:4534-4554)."
            )
    return "they look like metres or another projected unit, not degrees."


def _bare_geometry_members(path: Path, attrs: pd.DataFrame) -> pd.DataFrame:
    """For a GeoJSON that is a bare geometry (no Feature), its top-level members other
    than the geometry's own (e.g. "code", "name") as attributes; else `attrs` unchanged."""
    with path.open("rb") as fh:
        head = fh.read(_SCAN_BYTES)
    if b'"features"' in head or b'"properties"' in head:
        return attrs
    try:
        with path.open("rb") as fh:
            doc = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return attrs
    if not isinstance(doc, dict) or doc.get("type") not in _GEOMETRY_TYPES:
        return attrs
    members = {
        k: v
        for k, v in doc.items()
        if k not in ("type", "coordinates", "geometries", "crs", "bbox")
        and isinstance(v, (str, int, float, bool))
    }
    if not members:
        return attrs
    out = attrs.copy()
    for k, v in members.items():
        if k not in out.columns or out[k].isna().all():
            out[k] = [v]
    return out


_GEOMETRY_TYPES = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
)


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
