"""Normalise read boundaries: 2-D, MultiPolygon, EPSG:4326; repair invalid geometry only when asked.

Every change that alters coordinates is listed as a Repair. Promoting a Polygon to a
one-part MultiPolygon changes nothing and is not listed. Without `fix_invalid`, invalid
geometry is kept as it is so the validation report can say what is wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gridmap.errors import DataFileError


@dataclass(frozen=True)
class Repair:
    """One change normalisation made to one feature."""

    row: int  # 0-based position in the layer
    code: str | None
    name: str | None
    problem: str
    action: str

    def to_json(self) -> dict[str, object]:
        return {
            "row": self.row,
            "code": self.code,
            "name": self.name,
            "problem": self.problem,
            "action": self.action,
        }


@dataclass(frozen=True)
class Normalised:
    gdf: gpd.GeoDataFrame
    repairs: list[Repair]


_POLYGONAL = ("Polygon", "MultiPolygon")


def normalise(gdf: gpd.GeoDataFrame, *, fix_invalid: bool = False) -> Normalised:
    """2-D, every polygonal geometry a MultiPolygon, EPSG:4326.

    Non-polygonal geometries (points, lines) are kept for the validation report; with
    `fix_invalid`, a collection's polygon parts are kept and its other parts dropped, and
    invalid polygons are repaired with GEOS make_valid (structure method), each listed.
    """
    if gdf.crs is None:
        source = gdf.attrs.get("source", "the layer")
        raise DataFileError(
            f"{source}: has no coordinate system; read it with read_layer(..., crs=...)",
            details={"file": str(source)},
        )
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs("EPSG:4326")

    geoms = gdf.geometry.to_numpy().copy()
    codes = gdf["code"].tolist() if "code" in gdf.columns else [None] * len(gdf)
    names = gdf["name"].tolist() if "name" in gdf.columns else [None] * len(gdf)
    repairs: list[Repair] = []

    def note(i: int, problem: str, action: str) -> None:
        repairs.append(Repair(int(i), codes[i], names[i], problem, action))

    # Geometry the reader could not build (a ring of two points): say why it is missing.
    for entry in gdf.attrs.get("unreadable", []):
        note(
            int(entry["feature"]) - 1,
            f"unreadable geometry: {entry['problem']}",
            "kept without geometry (reported as empty; fix the file)",
        )

    has_z = shapely.has_z(geoms)
    for i in np.flatnonzero(has_z).tolist():
        note(i, "3-D coordinates (Z values)", "dropped the Z values")
    geoms = shapely.force_2d(geoms)

    if fix_invalid:
        types = shapely.get_type_id(geoms)
        collections = np.flatnonzero(types == shapely.GeometryType.GEOMETRYCOLLECTION)
        for i in collections.tolist():
            polygons = _polygon_parts(geoms[i])
            if polygons is not None:
                note(i, "a geometry collection", "kept its polygon parts, dropped the rest")
                geoms[i] = polygons
        valid = shapely.is_valid(geoms)
        for i in np.flatnonzero(~valid & ~shapely.is_missing(geoms)).tolist():
            reason = shapely.is_valid_reason(geoms[i])
            before = shapely.area(geoms[i])
            fixed = _polygon_parts(shapely.make_valid(geoms[i], method="structure"))
            if fixed is None or fixed.is_empty:
                note(i, f"invalid geometry: {reason}", "repair left nothing: geometry is empty")
                geoms[i] = shapely.MultiPolygon()
                continue
            note(
                i,
                f"invalid geometry: {reason}",
                f"repaired with make_valid (area {_pct_change(before, fixed.area)})",
            )
            geoms[i] = fixed

    types = shapely.get_type_id(geoms)
    single = types == shapely.GeometryType.POLYGON
    geoms[single] = shapely.multipolygons(geoms[single][:, np.newaxis]) if single.any() else []
    out = gdf.copy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs="EPSG:4326"))
    out.attrs = dict(gdf.attrs)
    return Normalised(gdf=out, repairs=repairs)


def _polygon_parts(geom: BaseGeometry) -> shapely.MultiPolygon | None:
    """The polygonal parts of a geometry as one MultiPolygon, or None if it has none."""
    parts = shapely.get_parts(geom)
    polygons: list[shapely.Polygon] = []
    for part in parts:
        if isinstance(part, shapely.Polygon):
            polygons.append(part)
        elif isinstance(part, shapely.MultiPolygon):
            polygons.extend(part.geoms)
        elif isinstance(part, shapely.GeometryCollection):
            nested = _polygon_parts(part)
            if nested is not None:
                polygons.extend(nested.geoms)
    polygons = [p for p in polygons if not p.is_empty]
    return shapely.MultiPolygon(polygons) if polygons else None


def _pct_change(before: float, after: float) -> str:
    if before == 0:
        return "was zero"
    change = (after - before) / before * 100
    return f"changed by {change:+.2f}%"
