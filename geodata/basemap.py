"""Reading a county's basemap from its files: an OSM extract, a GeoPackage or Shapefiles.

What comes out is one table of features (`layer`: road, railway, water, landuse,
building, place, poi; `kind`; `name`; `source_id`) in WGS84, and the address entries the
files carry (OSM `addr:*` tags; address columns in a surveying layer), each with a point
or, for named roads, the road's line. Broken geometry never stops a read: what cannot be
used is skipped and listed in `skipped`, what make_valid repairs is listed in `repaired`
(as `geodata.readers` does for boundaries).

Coordinates in GCJ-02 or BD-09 are converted with `gridmap.crs.geometry_to_wgs84`, whose
polygons are noded and densified together first (`node_and_densify`), so land use and
water that share an edge still share it after conversion; any EPSG code is converted by
PROJ. A GeoPackage layer or a Shapefile is assigned a basemap layer by its name (`roads`,
`道路`, `buildings`, `房屋`, ...: `LAYER_NAMES`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geodata.osm_reader import repair_osm_polygons
from geodata.readers import read_tolerant
from gridmap.crs import WGS84, geometry_to_wgs84, parse_crs
from gridmap.errors import DataFileError, UnknownCRS

BASEMAP_LAYERS = ("landuse", "water", "railway", "road", "building", "place", "poi")
# A surveying layer's name (lower case, any of these words in it) → basemap layer.
LAYER_NAMES: dict[str, tuple[str, ...]] = {
    "address": ("address", "addr", "门牌", "地址"),
    "road": ("road", "street", "highway", "道路", "街道线"),
    "railway": ("rail", "铁路"),
    "water": ("water", "river", "lake", "水系", "河流", "水域"),
    "landuse": ("landuse", "land_use", "landcover", "地类", "用地"),
    "building": ("building", "house", "房屋", "建筑"),
    "place": ("place", "地名", "居民点", "village"),
    "poi": ("poi", "兴趣点", "设施"),
}
# Column names a surveying layer may use for a feature's name and kind.
NAME_COLUMNS = ("name", "名称", "NAME", "name_zh", "name:zh")
KIND_COLUMNS = ("kind", "class", "type", "fclass", "类型", "KIND", "TYPE")
# Address columns of a surveying layer or a buildings file → the register's fields: the
# first of these names the table has (case-insensitive) is read. An OSM building's
# `addr:street` / `addr:housenumber` tags arrive as columns of those names.
ADDRESS_COLUMNS: dict[str, tuple[str, ...]] = {
    "road": ("road", "street", "路名", "街路巷", "addr:street", "addr_street"),
    "number": ("number", "housenumber", "门牌号", "addr:housenumber", "addr_housenumber"),
    "community": ("community", "社区", "小区", "村", "行政村"),
    "building_no": ("building_no", "楼号", "幢"),
    "village_group": ("group", "村民小组", "组"),
    "township": ("township", "乡镇", "街道"),
}
# OSM tags that make a named point or area a point of interest.
POI_KEYS = ("amenity", "shop", "tourism", "office", "leisure", "historic", "healthcare")
WATER_AREA = re.compile(r'"(?:water|natural)"=>"(?:water|river|lake|pond|reservoir|bay)"')
_TAG = re.compile(r'"([^"]+)"=>"((?:[^"\\]|\\.)*)"')


@dataclass
class BasemapData:
    """Features and address entries read from one file, in WGS84."""

    features: gpd.GeoDataFrame  # layer, kind, name, source_id, geometry
    addresses: list[dict[str, Any]]  # AddressEntry fields + "geometry"
    source: str
    source_crs: str
    skipped: list[dict[str, str]] = field(default_factory=list)
    repaired: list[dict[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {layer: 0 for layer in BASEMAP_LAYERS}
        for layer, n in self.features["layer"].value_counts().items():
            counts[str(layer)] = int(n)
        counts["addresses"] = len(self.addresses)
        return counts


def tags_of(other_tags: Any) -> dict[str, str]:
    """GDAL's hstore-like `other_tags` text as a dict ({} when absent)."""
    if not isinstance(other_tags, str):
        return {}
    return {k: v.replace('\\"', '"') for k, v in _TAG.findall(other_tags)}


def read_basemap(path: str | Path, *, crs: str | None = None) -> BasemapData:
    """Read a basemap file: .osm.pbf/.osm, .gpkg, a .shp or a folder of them."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: no such file", details={"file": str(path)})
    name = path.name.lower()
    if name.endswith((".osm.pbf", ".pbf", ".osm")):
        source_crs = _crs_name(path, crs) if crs else WGS84
        data = _read_osm(path)
        if source_crs != WGS84:
            data = _converted(data, path, source_crs)
        return data
    layers: list[tuple[Path, str | None]]
    if path.is_dir():
        layers = [(p, None) for p in sorted(path.glob("*.shp"))]
        if not layers:
            raise DataFileError(
                f"{path}: the folder holds no Shapefile (.shp)", details={"file": str(path)}
            )
    elif name.endswith(".shp"):
        layers = [(path, None)]
    elif name.endswith(".gpkg"):
        layers = [(path, str(row[0])) for row in pyogrio.list_layers(path)]
    else:
        raise DataFileError(
            f"{path}: a basemap is read from an OSM .pbf/.osm, a GeoPackage or Shapefiles",
            details={"file": str(path)},
        )
    return _read_survey(path, layers, crs)


def _crs_name(path: Path, crs: str) -> str:
    try:
        return parse_crs(crs)
    except UnknownCRS as exc:
        raise DataFileError(f"{path}: {exc.message}", details={"file": str(path)}) from exc


# --- OpenStreetMap -------------------------------------------------------------------------


def _read_osm(path: Path) -> BasemapData:
    skipped: list[dict[str, str]] = []
    repaired: list[dict[str, str]] = []
    rows: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []

    # Lines: roads, railways, waterways.
    raw, geoms, unreadable = read_tolerant(
        path,
        str(path),
        "lines",
        where="highway IS NOT NULL OR railway IS NOT NULL OR waterway IS NOT NULL",
    )
    codes = ("way/" + raw["osm_id"].astype(str)).to_numpy()
    skipped += [{"code": str(codes[i]), "problem": r, "action": "skipped"} for i, r in unreadable]
    for i, geom in enumerate(geoms):
        if geom is None or shapely.is_empty(geom):
            if geom is not None:
                skipped.append(
                    {"code": str(codes[i]), "problem": "no coordinates", "action": "skipped"}
                )
            continue
        rec = raw.iloc[i]
        if _text(rec.get("highway")):
            layer, kind = "road", _text(rec["highway"])
        elif _text(rec.get("railway")):
            layer, kind = "railway", _text(rec["railway"])
        else:
            layer, kind = "water", _text(rec["waterway"])
        rows.append(_row(layer, kind, rec.get("name"), codes[i], geom))

    # Areas: buildings, water, land use, and named POIs (as their representative point).
    raw, geoms, unreadable = read_tolerant(path, str(path), "multipolygons")
    codes = np.where(
        raw["osm_way_id"].notna(),
        "way/" + raw["osm_way_id"].astype(str),
        "relation/" + raw["osm_id"].astype(str),
    )
    skipped += [{"code": str(codes[i]), "problem": r, "action": "skipped"} for i, r in unreadable]
    keep = ~shapely.is_missing(geoms)
    geoms, keep = repair_osm_polygons(geoms, keep, codes, skipped, repaired)
    for i in np.flatnonzero(keep).tolist():
        rec = raw.iloc[i]
        tags = tags_of(rec.get("other_tags"))
        geom = geoms[i]
        name = rec.get("name")
        if _text(rec.get("building")):
            rows.append(_row("building", _text(rec["building"]), name, codes[i], geom))
            address = _osm_address(tags, name, "building", shapely.point_on_surface(geom))
            if address:
                addresses.append(address)
        elif _text(rec.get("natural")) == "water" or WATER_AREA.search(
            str(rec.get("other_tags") or "")
        ):
            rows.append(_row("water", "water", name, codes[i], geom))
        elif _text(rec.get("landuse")) or _text(rec.get("leisure")) or _text(rec.get("natural")):
            kind = (
                _text(rec.get("landuse")) or _text(rec.get("leisure")) or _text(rec.get("natural"))
            )
            rows.append(_row("landuse", kind, name, codes[i], geom))
        poi_kind = _poi_kind(rec, tags)
        if poi_kind and _text(name) and not _text(rec.get("boundary")):
            point = shapely.point_on_surface(geom)
            rows.append(_row("poi", poi_kind, name, codes[i], point))
            addresses.append(_poi_address(tags, name, point))

    # Points: place names, POIs, addresses.
    raw, geoms, unreadable = read_tolerant(path, str(path), "points")
    codes = ("node/" + raw["osm_id"].astype(str)).to_numpy()
    skipped += [{"code": str(codes[i]), "problem": r, "action": "skipped"} for i, r in unreadable]
    for i, geom in enumerate(geoms):
        if geom is None or shapely.is_empty(geom):
            continue
        rec = raw.iloc[i]
        tags = tags_of(rec.get("other_tags"))
        name = rec.get("name")
        if _text(rec.get("place")) and _text(name):
            rows.append(_row("place", _text(rec["place"]), name, codes[i], geom))
            continue
        poi_kind = _poi_kind(rec, tags)
        if poi_kind and _text(name):
            rows.append(_row("poi", poi_kind, name, codes[i], geom))
            addresses.append(_poi_address(tags, name, geom))
        elif "addr:housenumber" in tags:
            address = _osm_address(tags, name, "building", geom)
            if address:
                addresses.append(address)

    features = _frame(rows)
    addresses += _road_entries(features)
    return BasemapData(features, addresses, str(path), WGS84, skipped, repaired)


def _poi_kind(rec: pd.Series, tags: dict[str, str]) -> str | None:
    for key in POI_KEYS:
        value = _text(rec.get(key)) or tags.get(key)
        if value:
            return f"{key}={value}"[:40]
    return None


def _osm_address(
    tags: dict[str, str], name: Any, kind: str, point: shapely.Geometry
) -> dict[str, Any] | None:
    road, number = tags.get("addr:street"), tags.get("addr:housenumber")
    if not (road and number):
        return None
    return {
        "kind": kind,
        "full_text": f"{road}{number}号" if _is_cjk(road) else f"{number} {road}",
        "name": _text(name),
        "road": road,
        "number": number,
        "geometry": point,
    }


def _poi_address(tags: dict[str, str], name: Any, point: shapely.Geometry) -> dict[str, Any]:
    road, number = tags.get("addr:street"), tags.get("addr:housenumber")
    return {
        "kind": "poi",
        "full_text": str(name),
        "name": str(name),
        "road": road,
        "number": number,
        "geometry": point,
    }


# --- GeoPackage and Shapefiles -------------------------------------------------------------


def _read_survey(path: Path, layers: list[tuple[Path, str | None]], crs: str | None) -> BasemapData:
    rows: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    source_crs: str | None = _crs_name(path, crs) if crs else None
    for file, layer_name in layers:
        label = layer_name or file.stem
        target = _basemap_layer(label)
        if target is None:
            skipped.append(
                {"code": label, "problem": "not a basemap layer name", "action": "skipped"}
            )
            continue
        attrs, geoms, unreadable = read_tolerant(file, str(file), layer_name)
        skipped += [
            {"code": f"{label}/{i + 1}", "problem": r, "action": "skipped"} for i, r in unreadable
        ]
        stated = pyogrio.read_info(str(file), layer=layer_name).get("crs")
        layer_crs = source_crs or (_crs_name(file, str(stated)) if stated else None)
        if layer_crs is None:
            raise DataFileError(
                f"{file}: layer {label} states no coordinate system: name it with --crs",
                details={"file": str(file), "layer": label},
            )
        keep = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
        geoms = np.asarray(geometry_to_wgs84(geoms[keep], layer_crs), dtype=object)
        attrs = attrs[keep].reset_index(drop=True)
        name_col = _column(attrs, NAME_COLUMNS)
        kind_col = _column(attrs, KIND_COLUMNS)
        for i, geom in enumerate(geoms):
            rec = attrs.iloc[i]
            name = rec[name_col] if name_col else None
            kind = _text(rec[kind_col]) if kind_col else None
            code = f"{label}/{i + 1}"
            if target == "address":
                entry = _survey_address(rec, attrs, name, geom)
                if entry:
                    addresses.append(entry)
                continue
            if target in ("landuse", "water", "building") and not shapely.is_valid(geom):
                geom = shapely.make_valid(geom)
            rows.append(_row(target, kind or target, name, code, geom))
            if target == "building":
                entry = _survey_address(rec, attrs, name, shapely.point_on_surface(geom))
                if entry:
                    addresses.append(entry)
            elif target == "poi" and _text(name):
                addresses.append(_poi_address({}, name, shapely.point_on_surface(geom)))
    features = _frame(rows)
    addresses += _road_entries(features)
    return BasemapData(features, addresses, str(path), source_crs or "stated", skipped, [])


def _basemap_layer(label: str) -> str | None:
    low = label.lower()
    for layer, words in LAYER_NAMES.items():
        if any(w in low for w in words):
            return layer
    return None


def _column(attrs: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {str(c).lower(): str(c) for c in attrs.columns}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)


def _survey_address(
    rec: pd.Series, attrs: pd.DataFrame, name: Any, point: shapely.Geometry
) -> dict[str, Any] | None:
    fields: dict[str, Any] = {}
    for key, names in ADDRESS_COLUMNS.items():
        col = _column(attrs, names)
        fields[key] = _text(rec[col]) if col else None
    return _address_entry(fields, name, point)


def _address_entry(
    fields: dict[str, Any], name: Any, point: shapely.Geometry
) -> dict[str, Any] | None:
    # A whole address, or none: road + number, community + building number, or village
    # (community column) + group.
    if (
        not (fields["road"] and fields["number"])
        and not (fields["community"] and fields["building_no"])
        and not (fields["community"] and fields["village_group"])
    ):
        return None
    from gridmap.boundaries import format_address

    return {
        "kind": "building",
        "full_text": format_address(fields),
        "name": _text(name),
        **fields,
        "geometry": shapely.point_on_surface(point),
    }


def addresses_from_columns(
    frame: pd.DataFrame, points: Any, *, name_column: str | None = "name"
) -> list[dict[str, Any]]:
    """The register entries a buildings table carries (`gridmap county buildings`): for
    each row whose address columns (`ADDRESS_COLUMNS`) hold a whole address — road +
    number, community + building number, or village + group — one `building` entry at
    the row's point (`points`, WGS84, in the frame's order). Rows without one are left
    out; a table with no address column gives none."""
    columns = {key: _column(frame, names) for key, names in ADDRESS_COLUMNS.items()}
    if not any(columns.values()):
        return []
    name_col = name_column if name_column in frame.columns else None
    out: list[dict[str, Any]] = []
    values = {key: frame[col].to_numpy() if col else None for key, col in columns.items()}
    names = frame[name_col].to_numpy() if name_col else None
    for i, point in enumerate(points):
        fields = {key: (_text(v[i]) if v is not None else None) for key, v in values.items()}
        entry = _address_entry(fields, names[i] if names is not None else None, point)
        if entry is not None:
            out.append(entry)
    return out


# --- shared --------------------------------------------------------------------------------


def _road_entries(features: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """One register entry per road name: its ways merged into one line geometry."""
    roads = features[(features["layer"] == "road") & features["name"].notna()]
    out: list[dict[str, Any]] = []
    for name, group in roads.groupby("name"):
        merged = shapely.line_merge(shapely.union_all(group.geometry.to_numpy()))
        out.append(
            {
                "kind": "road",
                "full_text": str(name),
                "name": str(name),
                "road": str(name),
                "geometry": merged,
            }
        )
    return out


def _converted(data: BasemapData, path: Path, source_crs: str) -> BasemapData:
    feats = data.features.copy()
    try:
        feats["geometry"] = geometry_to_wgs84(feats.geometry.to_numpy(), source_crs)
        geoms = np.asarray([a["geometry"] for a in data.addresses], dtype=object)
        converted = geometry_to_wgs84(geoms, source_crs) if len(geoms) else geoms
    except Exception as exc:
        raise DataFileError(
            f"{path}: cannot convert the coordinates from {source_crs} to WGS84: {exc}",
            details={"file": str(path), "crs": source_crs},
        ) from exc
    addresses = [dict(a, geometry=g) for a, g in zip(data.addresses, converted, strict=True)]
    feats = gpd.GeoDataFrame(feats, geometry="geometry", crs="EPSG:4326")
    return BasemapData(feats, addresses, data.source, source_crs, data.skipped, data.repaired)


def _row(layer: str, kind: str | None, name: Any, code: Any, geom: Any) -> dict[str, Any]:
    return {
        "layer": layer,
        "kind": (kind or layer)[:40],
        "name": (_text(name) or None) and str(name)[:200],
        "source_id": str(code)[:60],
        "geometry": geom,
    }


def _frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    if not rows:
        return gpd.GeoDataFrame(
            {"layer": [], "kind": [], "name": [], "source_id": []},
            geometry=gpd.GeoSeries([], crs="EPSG:4326"),
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


OSM_ATTRIBUTION = "© OpenStreetMap contributors"


def default_attribution(path: str | Path) -> str | None:
    """The attribution an import gets when none is named: OpenStreetMap's for an OSM file
    (.osm.pbf, .pbf, .osm — the ODbL requires the line on every map that shows the data);
    None for a GeoPackage or Shapefiles, whose source only the county knows (name it
    with `gridmap basemap import --attribution`)."""
    return OSM_ATTRIBUTION if Path(path).name.lower().endswith((".pbf", ".osm")) else None


def import_basemap_file(
    session: Any,
    path: str | Path,
    *,
    county_code: str,
    crs: str | None = None,
    attribution: str | None = None,
) -> tuple[Any, BasemapData]:
    """Read a basemap file and replace the county's basemap and register with it (flushed,
    not committed). `attribution` (default: `default_attribution`) is stored with the
    import and written on the map. Returns the store report and what was read."""
    from gridmap.boundaries import store_basemap

    data = read_basemap(path, crs=crs)
    records = data.features.to_dict("records")
    report = store_basemap(
        session,
        county_code=county_code,
        features=records,
        addresses=data.addresses,
        source=str(path),
        attribution=attribution if attribution is not None else default_attribution(path),
    )
    return report, data
