"""Areas of a version as GeoJSON features and export records, straight from PostGIS (OGC API
and exports), limited in the query to the areas a jurisdiction sees."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.scope import EVERYWHERE, AreaScope
from gridmap.boundaries.versions import valid_areas_where
from gridmap.errors import InvalidInput


def _properties(version: str) -> str:
    """An area's GeoJSON properties as SQL; `version` is the SQL of the version it names."""
    return f"""json_build_object(
    'code', code, 'name', name, 'parent_code', parent_code, 'households', households,
    'kind', kind, 'layer', layer, 'county_code', county_code, 'version', {version})"""


def _where(
    layer: str,
    bbox: tuple[float, float, float, float] | None,
    county_codes: list[str] | None,
    scope: AreaScope,
) -> tuple[str, dict[str, Any]]:
    filters = ["layer = :layer"]
    params: dict[str, Any] = {"layer": layer}
    if bbox is not None:
        filters.append("geom && ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4326)")
        params.update(x1=bbox[0], y1=bbox[1], x2=bbox[2], y2=bbox[3])
    if county_codes is not None:
        filters.append("county_code = ANY(:counties)")
        params["counties"] = county_codes
    return valid_areas_where(filters, params, scope=scope), params


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError as exc:
        raise InvalidInput(
            f"bbox: expected four numbers minlon,minlat,maxlon,maxlat: {value}"
        ) from exc
    if len(parts) == 6:  # 3-D bbox: drop the heights
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
        raise InvalidInput(f"bbox: expected minlon,minlat,maxlon,maxlat, got {value}")
    return parts[0], parts[1], parts[2], parts[3]


def layer_features(
    session: Session,
    *,
    layer: str,
    version_id: int,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 1000,
    offset: int = 0,
    county_codes: list[str] | None = None,
    precision: int = 7,
    scope: AreaScope = EVERYWHERE,
) -> tuple[list[dict[str, Any]], int]:
    """One page of a layer's features in `scope` and how many match in all (in scope)."""
    where, params = _where(layer, bbox, county_codes, scope)
    params.update(version=version_id, limit=limit, offset=offset, precision=precision)
    matched = session.execute(text(f"SELECT count(*) FROM area WHERE {where}"), params).scalar_one()
    rows = session.execute(
        text(
            f"""
            SELECT id, ST_AsGeoJSON(ST_ForcePolygonCCW(geom), :precision) AS geometry,
                   {_properties(":version")} AS properties
            FROM area WHERE {where}
            ORDER BY code LIMIT :limit OFFSET :offset
            """
        ),
        params,
    ).all()
    features = [
        {
            "type": "Feature",
            "id": r.id,
            "geometry": json.loads(r.geometry),
            "properties": r.properties,
        }
        for r in rows
    ]
    return features, int(matched)


def feature(
    session: Session,
    *,
    area_id: int,
    version_id: int | None = None,
    scope: AreaScope = EVERYWHERE,
) -> dict[str, Any] | None:
    """One area by id, or None when there is none or it lies outside `scope` (the caller
    cannot tell which: an area outside a jurisdiction must not show, not even that it exists)."""
    where = "id = :id"
    params: dict[str, Any] = {"id": area_id, "version": version_id}
    if not scope.everywhere:
        fragment, scope_params = scope.sql("area")
        where += f" AND {fragment}"
        params.update(scope_params)
    row = session.execute(
        text(
            f"""
            SELECT id, ST_AsGeoJSON(ST_ForcePolygonCCW(geom), 7) AS geometry,
                   {_properties("coalesce(:version, valid_from)")} AS properties
            FROM area WHERE {where}
            """
        ),
        params,
    ).first()
    if row is None:
        return None
    return {
        "type": "Feature",
        "id": row.id,
        "geometry": json.loads(row.geometry),
        "properties": row.properties,
    }


def layer_extent(
    session: Session, *, layer: str, version_id: int, scope: AreaScope = EVERYWHERE
) -> tuple[float, float, float, float] | None:
    """The bounding box of a layer's areas in `scope`, or None when there are none."""
    where, params = _where(layer, None, None, scope)
    params["version"] = version_id
    row = session.execute(
        text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            f"(SELECT ST_Extent(geom) AS e FROM area WHERE {where}) s"
        ),
        params,
    ).first()
    if row is None or row[0] is None:
        return None
    return float(row[0]), float(row[1]), float(row[2]), float(row[3])
