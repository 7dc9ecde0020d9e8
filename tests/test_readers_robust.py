"""Readers that survive real files: raw OpenStreetMap, wrong CRS declarations, bare geometries.

The OSM files are built here by hand (tests/osm_files.py), as XML and as PBF, each with a
good building, a self-intersecting one (a bow tie) and degenerate ones (a ring of two
points, a ring of one point repeated), as raw OSM extracts have.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely

from geodata.osm_reader import read_osm
from geodata.readers import read_layer
from gridmap.errors import DataFileError
from tests.osm_files import write_osm_pbf, write_osm_xml

X, Y, D = 112.93, 35.79, 0.0002
NODES = [
    (1, X, Y), (2, X + D, Y), (3, X + D, Y + D), (4, X, Y + D),
    (5, X + 0.001, Y), (6, X + 0.001 + D, Y + D), (7, X + 0.001 + D, Y), (8, X + 0.001, Y + D),
    (9, X + 0.002, Y), (10, X + 0.002 + D, Y),
    (11, X, Y - 0.001), (12, X + 0.003, Y - 0.001),
]  # fmt: skip
WAYS = [
    (100, [1, 2, 3, 4, 1], {"building": "yes", "name": "school", "building:levels": "3"}),
    (101, [5, 6, 7, 8, 5], {"building": "house"}),  # crosses itself: a bow tie
    (102, [9, 10, 9], {"building": "yes"}),  # two distinct points
    (103, [9, 9], {"building": "yes"}),  # a ring of two points
    (104, [11, 12], {"highway": "residential", "name": "Xinhua Road"}),
]


@pytest.fixture(params=["pbf", "xml"])
def osm_file(request, tmp_path: Path) -> Path:
    if request.param == "pbf":
        return write_osm_pbf(tmp_path / "extract.osm.pbf", NODES, WAYS)
    return write_osm_xml(tmp_path / "extract.osm", NODES, WAYS)


def test_broken_osm_buildings_are_skipped_or_repaired_and_reported_never_fatal(osm_file):
    buildings = read_osm(osm_file, what="buildings")
    assert sorted(buildings["code"]) == ["way/100", "way/101"]
    assert buildings.geometry.is_valid.all()
    assert set(buildings.geom_type) == {"MultiPolygon"}
    school = buildings.set_index("code").loc["way/100"]
    assert school["name"] == "school" and school["levels"] == 3
    # The bow tie was repaired into its two triangles, and said so.
    assert len(buildings.set_index("code").loc["way/101", "geometry"].geoms) == 2
    assert [e["code"] for e in buildings.attrs["repaired"]] == ["way/101"]
    assert "Self-intersection" in buildings.attrs["repaired"][0]["problem"]
    # The degenerate ways were skipped, each named by its OSM id with the reason.
    skipped = {e["code"]: e["problem"] for e in buildings.attrs["skipped"]}
    assert set(skipped) == {"way/102", "way/103"}
    assert "LinearRing" in skipped["way/103"]


def test_roads_still_read_from_the_same_file(osm_file):
    roads = read_osm(osm_file, what="roads")
    assert roads["code"].tolist() == ["way/104"]
    assert roads["name"].tolist() == ["Xinhua Road"]


def test_a_boundary_import_of_a_raw_osm_file_reads_with_the_broken_rows_named(osm_file):
    gdf = read_layer(osm_file)
    unreadable = {e["problem"] for e in gdf.attrs["unreadable"]}
    assert len(gdf) == 4 and len(gdf.attrs["unreadable"]) == 1
    assert any("LinearRing" in u for u in unreadable)


# --- coordinates that cannot be in the declared CRS -----------------------------------------


def _feature_collection(coords: list, crs: str | None) -> dict:
    doc: dict = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "140581001", "name": "A"},
                "geometry": {"type": "Polygon", "coordinates": [coords]},
            }
        ],
    }
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    return doc


def test_metres_declared_as_wgs84_are_refused_naming_the_file_and_the_likely_crs(tmp_path):
    # CGCS2000 3-degree Gauss-Kruger zone 38 coordinates (the zone in the easting's prefix).
    x, y = 38_500_000.0, 3_960_000.0
    ring = [[x, y], [x + 100, y], [x + 100, y + 100], [x, y + 100], [x, y]]
    path = tmp_path / "metres.geojson"
    path.write_text(json.dumps(_feature_collection(ring, "EPSG:4326")), encoding="utf-8")
    with pytest.raises(DataFileError) as err:
        read_layer(path)
    assert err.value.code == "data_file_error"
    assert str(path) in err.value.message
    assert "metres" in err.value.message and "EPSG:4526" in err.value.message
    assert err.value.details["file"] == str(path)

    utm = tmp_path / "utm.geojson"
    x, y = 500_000.0, 3_960_000.0
    ring = [[x, y], [x + 100, y], [x + 100, y + 100], [x, y + 100], [x, y]]
    utm.write_text(json.dumps(_feature_collection(ring, None)), encoding="utf-8")
    with pytest.raises(DataFileError, match="metres"):
        read_layer(utm, crs="gcj02")


def test_latitudes_over_90_are_refused_and_swapped_axes_are_suspected(tmp_path):
    ring = [[35.8, 112.9], [35.81, 112.9], [35.81, 112.91], [35.8, 112.91], [35.8, 112.9]]
    path = tmp_path / "swapped.geojson"
    path.write_text(json.dumps(_feature_collection(ring, "EPSG:4326")), encoding="utf-8")
    with pytest.raises(DataFileError, match="latitude") as err:
        read_layer(path)
    assert "swapped" in err.value.message


# --- a bare geometry, and files whose features lack a code --------------------------------------


SQUARE = [[112.9, 35.8], [112.91, 35.8], [112.91, 35.81], [112.9, 35.81], [112.9, 35.8]]


def test_a_bare_geojson_geometry_reads_with_its_top_level_code_and_name(tmp_path):
    path = tmp_path / "outline.geojson"
    bare = {"type": "Polygon", "coordinates": [SQUARE], "code": "140581", "name": "高平市"}
    path.write_text(json.dumps(bare, ensure_ascii=False), encoding="utf-8")
    gdf = read_layer(path, crs="wgs84")
    assert gdf["code"].tolist() == ["140581"] and gdf["name"].tolist() == ["高平市"]


def test_code_and_name_can_be_given_for_a_single_geometry_but_not_for_many(tmp_path):
    path = tmp_path / "outline.geojson"
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [SQUARE]}), encoding="utf-8")
    gdf = read_layer(path, crs="wgs84", code="140581", name="高平市")
    assert gdf["code"].tolist() == ["140581"] and gdf["name"].tolist() == ["高平市"]
    assert shapely.equals(gdf.geometry.iloc[0], shapely.Polygon(SQUARE))

    many = tmp_path / "many.geojson"
    doc = _feature_collection(SQUARE, None)
    doc["features"] = doc["features"] * 2
    many.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(DataFileError, match="2 features"):
        read_layer(many, crs="wgs84", code="140581")


def test_a_column_mapping_names_the_code_and_name_fields(tmp_path):
    path = tmp_path / "xzqh.geojson"
    doc = _feature_collection(SQUARE, None)
    doc["features"][0]["properties"] = {"XZQDM": "140581001", "XZQMC": "南城街道"}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    gdf = read_layer(path, crs="wgs84", columns={"XZQDM": "code", "XZQMC": "name"})
    assert gdf["code"].tolist() == ["140581001"] and gdf["name"].tolist() == ["南城街道"]


def test_normalising_says_why_a_feature_has_no_geometry(osm_file):
    from geodata.normalize import normalise

    result = normalise(read_layer(osm_file))
    missing = [r for r in result.repairs if r.problem.startswith("unreadable geometry")]
    assert len(missing) == 1 and "LinearRing" in missing[0].problem
    assert result.gdf.geometry.iloc[missing[0].row] is None
