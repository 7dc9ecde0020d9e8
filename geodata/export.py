"""Export areas as RFC 7946 GeoJSON (CCW exteriors, lon/lat, 7 decimals) or as a GeoPackage."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gridmap.errors import DataFileError

DECIMALS = 7  # about 1 cm: finer than any boundary is drawn, and RFC 7946 advises rounding


def to_geojson_dict(gdf: gpd.GeoDataFrame) -> dict[str, Any]:
    """A FeatureCollection per RFC 7946: WGS84 lon/lat, no "crs" member, exterior rings
    counter-clockwise and holes clockwise, coordinates rounded to 7 decimals."""
    gdf = _in_wgs84(gdf)
    geoms = gdf.geometry.to_numpy()
    rounded = shapely.transform(geoms, lambda c: np.round(c, DECIMALS))
    # Orient after rounding, so rounding cannot flip a ring's direction.
    oriented = shapely.orient_polygons(rounded, exterior_cw=False)
    texts = shapely.to_geojson(oriented)
    props = gdf.drop(columns=gdf.geometry.name)
    records = props.to_dict(orient="records")
    features = [
        {
            "type": "Feature",
            "properties": {str(k): _json_value(v) for k, v in record.items()},
            "geometry": json.loads(text) if text is not None else None,
        }
        for record, text in zip(records, texts, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write RFC 7946 GeoJSON (UTF-8, Chinese names unescaped). Returns the path."""
    path = Path(path)
    doc = to_geojson_dict(gdf)
    with path.open("w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False, separators=(",", ":"))
    return path


def write_gpkg(gdf: gpd.GeoDataFrame, path: str | Path, *, layer: str = "areas") -> Path:
    """Write (or replace) one layer of a GeoPackage in EPSG:4326. Returns the path."""
    path = Path(path)
    gdf = _in_wgs84(gdf)
    try:
        gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    except Exception as exc:  # pyogrio/GDAL raise several types for write failures
        raise DataFileError(
            f"{path}: cannot write layer {layer!r}: {exc}", details={"file": str(path)}
        ) from exc
    return path


def _in_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise DataFileError(
            "cannot export areas without a coordinate system; read them with read_layer"
        )
    return gdf if gdf.crs.to_epsg() == 4326 else gdf.to_crs("EPSG:4326")


def _json_value(value: Any) -> Any:
    """Plain JSON values: NA/NaN become null, numpy scalars Python numbers."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


class _AreaLike(Protocol):
    @property
    def county_code(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def layer(self) -> str: ...
    @property
    def parent_code(self) -> str | None: ...
    @property
    def households(self) -> int | None: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def geom(self) -> BaseGeometry: ...
    @property
    def attributes(self) -> dict[str, Any]: ...


# Attribute keys that would collide with a column of the frame are not exported as columns.
_RESERVED = {"code", "name", "layer", "parent_code", "households", "kind", "geometry",
             "county_code", "attributes"}  # fmt: skip


def areas_frame(areas: Iterable[_AreaLike]) -> gpd.GeoDataFrame:
    """Stored or staged areas (`AreaRecord`, `AreaRow`) as a frame with the standard
    columns; `county_code` says whose areas they are (one database serves many counties).
    Then one column per key of the areas' attributes (e.g. `exception`,
    `exception_reason` for an accepted exception to the household rule), so an export
    carries them and an import of it gives the same attributes back. A value that is not
    a plain scalar is written as JSON text."""
    areas = list(areas)
    frame = _standard_frame(areas)
    keys = sorted({k for a in areas for k in (a.attributes or {})} - _RESERVED)
    for key in keys:
        frame[key] = [_scalar((a.attributes or {}).get(key)) for a in areas]
    return frame


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _standard_frame(areas: list[_AreaLike]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "county_code": [a.county_code for a in areas],
            "code": [a.code for a in areas],
            "name": [a.name for a in areas],
            "layer": [a.layer for a in areas],
            "parent_code": [a.parent_code for a in areas],
            "households": [a.households for a in areas],
            "kind": [a.kind for a in areas],
        },
        geometry=[a.geom for a in areas],
        crs="EPSG:4326",
    )
