"""Areas of a version as GeoJSON features, straight from PostGIS (OGC API and exports)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.boundaries import VALID_IN
from gridmap.errors import InvalidInput

_PROPS = """json_build_object(
    'code', code, 'name', name, 'parent_code', parent_code, 'households', households,
    'kind', kind, 'layer', layer, 'county_code', county_code, 'version', :version)"""


def _where(
    layer: str, bbox: tuple[float, float, float, float] | None, county_codes: list[str] | None
) -> tuple[str, dict[str, Any]]:
    clauses = [VALID_IN, "layer = :layer"]
    params: dict[str, Any] = {"layer": layer}
    if bbox is not None:
        clauses.append("geom && ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4326)")
        params.update(x1=bbox[0], y1=bbox[1], x2=bbox[2], y2=bbox[3])
    if county_codes is not None:
        clauses.append("county_code = ANY(:counties)")
        params["counties"] = county_codes
    return " AND ".join(clauses), params


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
) -> tuple[list[dict[str, Any]], int]:
    """One page of a layer's features and how many match in all."""
    where, params = _where(layer, bbox, county_codes)
    params.update(version=version_id, limit=limit, offset=offset, precision=precision)
    matched = session.execute(text(f"SELECT count(*) FROM area WHERE {where}"), params).scalar_one()
    rows = session.execute(
        text(
            f"""
            SELECT id, ST_AsGeoJSON(ST_ForcePolygonCCW(geom), :precision) AS geometry,
                   {_PROPS} AS properties
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
    session: Session, *, area_id: int, version_id: int | None = None
) -> dict[str, Any] | None:
    row = session.execute(
        text(
            f"""
            SELECT id, ST_AsGeoJSON(ST_ForcePolygonCCW(geom), 7) AS geometry,
                   {_PROPS.replace(":version", "coalesce(:version, valid_from)")} AS properties
            FROM area WHERE id = :id
            """
        ),
        {"id": area_id, "version": version_id},
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
    session: Session, *, layer: str, version_id: int
) -> tuple[float, float, float, float] | None:
    where, params = _where(layer, None, None)
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
