"""The Monaco demo: real OSM wards, buildings and streets, households estimated, grids generated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import MultiPolygon, Polygon

from gridmap.errors import DataFileError

SAMPLES = Path(__file__).resolve().parent / "samples" / "monaco"
DEFAULT_PBF = SAMPLES / "monaco.osm.pbf"
DEFAULT_BOUNDARY = SAMPLES / "monaco_boundary.geojson"

# The household estimate (documented in docs/demo-data.md, section "Monaco"):
#   households = round(footprint_m2 × levels × residential_share / FLAT_GROSS_M2)
# A flat of ~70 m² plus its share of stairs, walls and corridors is ~90 m² of gross floor.
FLAT_GROSS_M2 = 90.0
# Ground floors of Monaco's apartment blocks are often shops and lobbies.
RESIDENTIAL_SHARE = {
    "apartments": 0.85,
    "residential": 0.85,
    "dormitory": 0.85,
    "house": 1.0,
    "detached": 1.0,
    "semidetached_house": 1.0,
    "terrace": 1.0,
    # Untyped buildings in Monaco's centre are mostly mixed use: count half of them.
    "yes": 0.5,
}
# When `building:levels` is missing: about the median of the tagged buildings of that kind.
DEFAULT_LEVELS = {"apartments": 5, "residential": 5, "dormitory": 4, "yes": 3}
DEFAULT_LEVELS_OTHER = 2

# Streets that bound blocks; footways, steps and service roads run through blocks, and
# tunnels (Monaco has many) pass under them.
ROAD_CLASSES = frozenset(
    {
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "residential",
        "unclassified",
        "living_street",
        "pedestrian",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)
WARD_ADMIN_LEVEL = "10"
# Uncovered pieces smaller than this are slivers between the wards and the boundary
# relation, given to a neighbouring ward; larger ones are the quarters with no ward.
SLIVER_M2 = 5000.0
WESTERN_NAME = "Ouest (quarters without a ward in the OSM extract)"
# Square metres per square degree at Monaco's latitude (43.73° N): 111,320 × 80,460.
_M2_PER_DEG2 = 111_320.0 * 80_460.0

_LEVELS = re.compile(r'"building:levels"=>"([0-9]+(?:\.[0-9]+)?)')
_TUNNEL = re.compile(r'"(?:tunnel|covered)"=>"(?!no)')


@dataclass(frozen=True)
class MonacoData:
    """Monaco's six wards, its buildings with estimated households, its streets, its outline."""

    wards: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    roads: gpd.GeoSeries
    outline: MultiPolygon


def load_monaco(pbf: Path | None = None, boundary: Path | None = None) -> MonacoData:
    """Read the OSM extract: wards (MC01..MC06), buildings inside Monaco, streets, outline.

    Each building gets `ward_code`, the ward its representative point lies in; the western
    quarters (Moneghetti, Jardin Exotique, …) that the extract has no ward polygon for are
    ward MC07 (`_complete_wards`), so the wards tile the country.
    """
    pbf = pbf or DEFAULT_PBF
    boundary = boundary or DEFAULT_BOUNDARY
    polygons = _read(pbf, "multipolygons")
    wards = _wards(polygons, pbf)
    outline = _outline(boundary)
    # The country as published: the boundary relation and the wards (which reach a little
    # beyond it into the harbours), so every ward lies inside it.
    monaco = _as_multipolygon(shapely.union_all([outline, *wards.geometry.values]))
    wards = _complete_wards(wards, monaco)
    buildings = _buildings(polygons, monaco, wards)
    return MonacoData(
        wards=wards, buildings=buildings, roads=_roads(_read(pbf, "lines"), monaco), outline=monaco
    )


def _complete_wards(wards: gpd.GeoDataFrame, monaco: MultiPolygon) -> gpd.GeoDataFrame:
    """The wards tiling the whole country, so the demo publishes without forcing a gap.

    What no ward covers is the western quarters (Moneghetti, Jardin Exotique, …: the
    extract has no ward polygon for them), which become ward MC07, plus slivers under
    SLIVER_M2 along the coast where the wards and the boundary relation were drawn apart,
    each given to the ward it shares the longest border with."""
    rest = shapely.difference(monaco, shapely.union_all(wards.geometry.values))
    geoms = list(wards.geometry.values)
    western = []
    for part in shapely.get_parts(rest):
        if not isinstance(part, Polygon) or part.is_empty:
            continue
        if part.area * _M2_PER_DEG2 >= SLIVER_M2:
            western.append(part)
            continue
        shared = [shapely.length(shapely.intersection(part.boundary, g.boundary)) for g in geoms]
        best = (
            int(np.argmax(shared))
            if max(shared) > 0
            else int(np.argmin([shapely.distance(part, g) for g in geoms]))
        )
        geoms[best] = shapely.union(geoms[best], part)
    codes, names = list(wards["code"]), list(wards["name"])
    if western:
        codes.append(f"MC{len(codes) + 1:02d}")
        names.append(WESTERN_NAME)
        geoms.append(shapely.union_all(western))
    return gpd.GeoDataFrame(
        {"code": codes, "name": names, "geometry": [_as_multipolygon(g) for g in geoms]},
        crs="EPSG:4326",
    )


def monaco_grids(
    data: MonacoData, min_households: int = 30, max_households: int = 50
) -> gpd.GeoDataFrame:
    """Grids generated inside each ward from its buildings and streets.

    Columns: code (ward code + 3-digit sequence), name, parent_code (the ward), households,
    building_count, flag, geometry.
    """
    # Imported here: gridgen is the heavier module and only this function needs it.
    from geodata.gridgen import generate_grids

    frames = []
    for ward in data.wards.itertuples():
        mine = data.buildings[data.buildings["ward_code"] == ward.code]
        result = generate_grids(
            ward.geometry,
            mine,
            code_prefix=ward.code,
            min_households=min_households,
            max_households=max_households,
            roads=data.roads,
            name_prefix=ward.name,
        )
        frames.append(result.grids.assign(parent_code=ward.code))
    grids = pd.concat(frames, ignore_index=True)
    # concat turns the None of unflagged grids into NaN; keep None (JSON null).
    for column in ("flag", "reason"):
        grids[column] = grids[column].astype(object).where(grids[column].notna(), None)
    columns = [
        "code",
        "name",
        "parent_code",
        "households",
        "building_count",
        "flag",
        "reason",
        "geometry",
    ]
    return gpd.GeoDataFrame(grids[columns], geometry="geometry", crs="EPSG:4326")


def estimate_households(kind: str, footprint_m2: float, levels: float) -> int:
    """Households in one building: residential floor area over a typical flat's size."""
    share = RESIDENTIAL_SHARE.get(kind, 0.0)
    return round(footprint_m2 * levels * share / FLAT_GROSS_M2)


# --- reading ----------------------------------------------------------------------------


def _read(path: Path, layer: str) -> gpd.GeoDataFrame:
    if not path.exists():
        raise DataFileError(f"{path}: no such file", details={"file": str(path)})
    try:
        return pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise DataFileError(
            f"{path}: cannot read layer {layer!r}: {exc}", details={"file": str(path)}
        ) from exc


def _wards(polygons: gpd.GeoDataFrame, pbf: Path) -> gpd.GeoDataFrame:
    found = polygons[
        (polygons["admin_level"] == WARD_ADMIN_LEVEL) & (polygons["boundary"] == "administrative")
    ]
    if len(found) != 6:
        raise DataFileError(
            f"{pbf}: expected the 6 wards (admin_level={WARD_ADMIN_LEVEL}), found {len(found)}",
            details={"file": str(pbf), "wards": found["name"].tolist()},
        )
    # Codes follow the OSM relation ids, so they stay the same for the same extract.
    found = found.assign(osm=found["osm_id"].astype("int64")).sort_values("osm")
    return gpd.GeoDataFrame(
        {
            "code": [f"MC{i:02d}" for i in range(1, len(found) + 1)],
            "name": found["name"].to_numpy(),
            "geometry": [_as_multipolygon(g) for g in found.geometry],
        },
        crs="EPSG:4326",
    )


def _outline(boundary: Path) -> MultiPolygon:
    if not boundary.exists():
        raise DataFileError(f"{boundary}: no such file", details={"file": str(boundary)})
    frame = gpd.read_file(boundary)
    if len(frame) == 0:
        raise DataFileError(f"{boundary}: no feature", details={"file": str(boundary)})
    outline = shapely.union_all(frame.geometry.values)
    # The OSM boundary relation's ring touches itself where the harbour wall meets the
    # coast (a self-intersection at 7.42280 E, 43.72941 N): repaired as every reader
    # repairs such rings (make_valid), so the demo publishes without forcing anything.
    if not outline.is_valid:
        outline = shapely.make_valid(outline)
    return _as_multipolygon(outline)


def _buildings(
    polygons: gpd.GeoDataFrame, monaco: shapely.Geometry, wards: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    found = polygons[polygons["building"].notna()]
    points = shapely.point_on_surface(np.asarray(found.geometry.values))
    shapely.prepare(monaco)
    found = found[shapely.intersects(monaco, points)]
    points = points[shapely.intersects(monaco, points)]

    tags = found["other_tags"].fillna("")
    kind = found["building"].astype(str)
    tagged = pd.to_numeric(tags.str.extract(_LEVELS)[0], errors="coerce")
    default = kind.map(DEFAULT_LEVELS).fillna(DEFAULT_LEVELS_OTHER)
    levels = tagged.where(tagged >= 1, default)
    metric_crs = found.geometry.estimate_utm_crs()
    footprint = found.geometry.to_crs(metric_crs).area
    households = [
        estimate_households(k, a, lv) for k, a, lv in zip(kind, footprint, levels, strict=True)
    ]
    way = found["osm_way_id"]
    code = np.where(way.notna(), "osm-" + way.astype(str), "osm-r" + found["osm_id"].astype(str))

    ward_code = np.full(len(found), None, dtype=object)
    tree = shapely.STRtree(np.asarray(wards.geometry.values))
    point_idx, ward_idx = tree.query(points, predicate="intersects")
    ward_code[point_idx] = wards["code"].to_numpy()[ward_idx]

    return gpd.GeoDataFrame(
        {
            "code": code,
            "name": found["name"].to_numpy(),
            "kind": kind.to_numpy(),
            "levels": levels.to_numpy(dtype=float),
            "footprint_m2": footprint.round(1).to_numpy(),
            "households": np.asarray(households, dtype=np.int64),
            "ward_code": ward_code,
            "geometry": found.geometry.to_numpy(),
        },
        crs="EPSG:4326",
    )


def _roads(lines: gpd.GeoDataFrame, monaco: shapely.Geometry) -> gpd.GeoSeries:
    tags = lines["other_tags"].fillna("")
    streets = lines[lines["highway"].isin(ROAD_CLASSES) & ~tags.str.contains(_TUNNEL)]
    streets = streets[shapely.intersects(monaco, np.asarray(streets.geometry.values))]
    return gpd.GeoSeries(streets.geometry.to_numpy(), crs="EPSG:4326", name="geometry")


def _as_multipolygon(geom: shapely.Geometry) -> MultiPolygon:
    return MultiPolygon([p for p in shapely.get_parts(geom) if isinstance(p, Polygon)])
