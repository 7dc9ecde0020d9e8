"""A county's outline from its own file: a bare GeoJSON geometry (as web-map exports and
`cnmaps` give it), a Feature, a FeatureCollection, a GeoPackage or a zipped Shapefile.

The coordinate system is never guessed: the user's `crs` wins, else what the file states
(a GeoJSON `crs` member, a GeoPackage's SRS, a Shapefile's .prj). GCJ-02 and BD-09 are
converted to WGS84 with gridmap.crs. Several features are dissolved into one outline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geodata.readers import CRS_HINT, read_layer
from gridmap.crs import geometry_to_wgs84, parse_crs
from gridmap.errors import DataFileError

GEOMETRY_TYPES = ("Polygon", "MultiPolygon")


@dataclass(frozen=True)
class Outline:
    geometry: MultiPolygon  # WGS84
    code: str | None  # from the file, when it names one
    name: str | None
    source_crs: str


def read_outline(
    path: str | Path,
    *,
    crs: str | None = None,
    code_field: str = "code",
    name_field: str = "name",
) -> Outline:
    """The outline in WGS84, with the code and name the file carries (if any)."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file", details={"file": str(path)})
    if path.suffix.lower() in (".geojson", ".json"):
        geom, props, stated = _geojson(path)
        source = _crs(path, crs, stated)
        try:
            converted = geometry_to_wgs84(geom, source)
        except Exception as exc:
            raise DataFileError(
                f"{path}: cannot convert the outline from {source} to WGS84: {exc}",
                details={"file": str(path), "crs": source},
            ) from exc
    else:
        frame = read_layer(path, crs=crs)
        if frame.empty:
            raise DataFileError(f"{path}: the file has no features", details={"file": str(path)})
        converted = shapely.union_all(frame.geometry.values)
        props = {str(k).lower(): v for k, v in frame.iloc[0].items() if k != "geometry"}
        source = str(frame.attrs.get("source_crs", crs or ""))
    outline = _multi(shapely.make_valid(converted) if not converted.is_valid else converted, path)
    return Outline(outline, _field(props, code_field), _field(props, name_field), parse_crs(source))


def _geojson(path: Path) -> tuple[BaseGeometry, dict[str, Any], str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(
            f"{path}: not a GeoJSON file: {exc}", details={"file": str(path)}
        ) from exc
    if not isinstance(data, dict):
        raise DataFileError(f"{path}: not a GeoJSON object", details={"file": str(path)})
    stated = _stated(data.get("crs"))
    kind = data.get("type")
    if kind in GEOMETRY_TYPES:  # a bare geometry; its code may sit beside "coordinates"
        props = {k.lower(): v for k, v in data.items() if k not in ("type", "coordinates", "crs")}
        props |= {k.lower(): v for k, v in (data.get("properties") or {}).items()}
        return _shape(path, data, 1), props, stated
    if kind == "Feature":
        features = [data]
    elif kind == "FeatureCollection":
        features = list(data.get("features") or [])
    else:
        raise DataFileError(
            f"{path}: expected a Polygon, MultiPolygon, Feature or FeatureCollection, not {kind!r}",
            details={"file": str(path)},
        )
    if not features:
        raise DataFileError(f"{path}: the file has no features", details={"file": str(path)})
    shapes = [_shape(path, f.get("geometry") or {}, i) for i, f in enumerate(features, start=1)]
    props = {k.lower(): v for k, v in (features[0].get("properties") or {}).items()}
    return shapely.union_all(shapes), props, stated


def _shape(path: Path, geometry: dict[str, Any], feature: int) -> BaseGeometry:
    if geometry.get("type") not in GEOMETRY_TYPES:
        raise DataFileError(
            f"{path}: feature {feature} is a {geometry.get('type')!r}, not a polygon",
            details={"file": str(path), "feature": feature},
        )
    try:
        return shapely.from_geojson(
            json.dumps({"type": geometry["type"], "coordinates": geometry.get("coordinates")})
        )
    except Exception as exc:  # GEOS reports broken coordinates in several ways
        raise DataFileError(
            f"{path}: feature {feature} has unreadable coordinates: {exc}",
            details={"file": str(path), "feature": feature},
        ) from exc


def _stated(member: Any) -> str | None:
    if not isinstance(member, dict):
        return None
    name = (member.get("properties") or {}).get("name")
    if not isinstance(name, str):
        return None
    return "wgs84" if name.upper().endswith("CRS84") else name


def _crs(path: Path, given: str | None, stated: str | None) -> str:
    if given:
        return parse_crs(given)
    if stated:
        return parse_crs(stated)
    raise DataFileError(
        f"{path}: the file does not say which coordinate system its coordinates are in, and "
        f"none was given. Name it with {CRS_HINT} (an outline from Amap or Tencent is "
        "usually gcj02, from Baidu bd09). It is never guessed.",
        details={"file": str(path)},
    )


def _field(props: dict[str, Any], field: str) -> str | None:
    value = props.get(field.lower())
    if value is None or str(value).strip() == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _multi(geom: BaseGeometry, path: Path) -> MultiPolygon:
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    if not parts:
        raise DataFileError(f"{path}: the outline has no polygon", details={"file": str(path)})
    return MultiPolygon(parts)


def outline_layer(code: str, name: str, geometry: BaseGeometry) -> gpd.GeoDataFrame:
    """The county layer `gridmap county init` publishes (and the Gaoping demo, from its
    outline): one area, the county itself, in standard columns."""
    return gpd.GeoDataFrame(
        {
            "code": [code],
            "name": [name],
            "layer": ["county"],
            "parent_code": [None],
            "kind": ["county"],
        },
        geometry=[geometry],
        crs="EPSG:4326",
    )
