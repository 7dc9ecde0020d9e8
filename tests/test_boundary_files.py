"""Boundary files: reading every format, refusing unknown CRS, normalising, validating, exporting.

The fixture files (tests/fixtures/boundaries, written by make_fixtures.py) describe one
community near Gaoping, 0.004 x 0.004 degrees, tiled by grids; the broken ones break one rule.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from geodata.export import to_geojson_dict, write_geojson, write_gpkg
from geodata.normalize import normalise
from geodata.osm_reader import read_osm
from geodata.readers import read_layer
from geodata.validation import validate_areas
from gridmap.errors import DataFileError, InvalidInput

FIXTURES = Path(__file__).parent / "fixtures" / "boundaries"
# The shared data folder sits beside the repository (in CI too).
MONACO = Path(__file__).resolve().parents[2] / "shared" / "data" / "monaco" / "monaco.osm.pbf"
SHP_COLUMNS = {"PARENT": "parent_code", "HH": "households"}
COMMUNITY = "140581001001"
GRID1, GRID2 = COMMUNITY + "001", COMMUNITY + "002"
GEOD = pyproj.Geod(ellps="WGS84")


def fixture(name: str) -> Path:
    return FIXTURES / name


def load(name: str, **kwargs) -> gpd.GeoDataFrame:
    return normalise(read_layer(fixture(name), **kwargs)).gdf


def strip_area_m2(x1: float, x2: float) -> float:
    """Geodesic area of the strip x1..x2 (in community widths) across the whole community."""
    x0, y0, side = 112.90, 35.80, 0.004
    strip = shapely.box(x0 + x1 * side, y0, x0 + x2 * side, y0 + side)
    return abs(GEOD.geometry_area_perimeter(strip)[0])


def max_vertex_distance_m(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> float:
    """An upper bound, in metres, of how far the two layers' boundaries are apart."""
    degrees = shapely.hausdorff_distance(a.geometry.to_numpy(), b.geometry.to_numpy())
    return float(np.max(degrees)) * 111_320.0  # metres per degree of latitude, the most


# --- reading --------------------------------------------------------------------------------


def test_the_same_community_reads_alike_from_geojson_geopackage_and_zipped_shapefile():
    geojson = read_layer(fixture("community_4_grids.geojson"))
    gpkg = read_layer(fixture("community_4_grids.gpkg"))
    shp = read_layer(fixture("community_4_grids_shp.zip"), columns=SHP_COLUMNS)

    assert geojson.attrs["source_crs"] == "wgs84"
    assert gpkg.attrs["source_crs"] == "cgcs2000"
    assert shp.attrs["source_crs"] == "EPSG:4547"  # Gauss-Kruger metres, from the .prj
    for gdf in (geojson, gpkg, shp):
        assert gdf.crs.to_epsg() == 4326
        assert list(gdf.columns[:6]) == [
            "code",
            "name",
            "layer",
            "parent_code",
            "households",
            "kind",
        ]
        assert gdf["code"].tolist() == [COMMUNITY] + [f"{COMMUNITY}00{i}" for i in range(1, 5)]
        assert gdf["households"].tolist()[1:] == [35, 42, 48, 6]
        assert gdf["households"].isna().tolist()[0]
        assert gdf["name"].tolist()[0] == "东城社区"
    assert max_vertex_distance_m(geojson, gpkg) < 0.001
    assert max_vertex_distance_m(geojson, shp) < 0.01


def test_a_geojson_that_does_not_state_its_crs_is_refused_and_never_guessed():
    path = fixture("no_crs.geojson")
    with pytest.raises(DataFileError) as err:
        read_layer(path)
    message = err.value.message
    assert str(path) in message
    assert "--crs wgs84|cgcs2000|gcj02|bd09|EPSG:nnnn" in message
    assert "never guessed" in message
    # Told the CRS, the same file reads.
    assert len(read_layer(path, crs="wgs84")) == 5


def test_a_large_geojson_states_its_crs_before_or_after_its_features(tmp_path):
    """Large files are not parsed twice to look for "crs": both places are still found."""
    doc = json.loads(fixture("community_4_grids.geojson").read_text(encoding="utf-8"))
    del doc["crs"]
    for feature in doc["features"]:
        feature["properties"]["note"] = "x" * 1_400_000  # five features, about 7 MB
    cgcs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}
    path = tmp_path / "big.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert path.stat().st_size > 6_000_000
    with pytest.raises(DataFileError, match="does not say which coordinate system"):
        read_layer(path)
    path.write_text(json.dumps({**doc, "crs": cgcs}), encoding="utf-8")  # after "features"
    assert read_layer(path).attrs["source_crs"] == "cgcs2000"
    path.write_text(json.dumps({"crs": cgcs, **doc}), encoding="utf-8")  # before
    assert read_layer(path).attrs["source_crs"] == "cgcs2000"


def test_a_gcj02_file_read_with_crs_gcj02_lands_on_the_wgs84_boundaries():
    wgs84 = read_layer(fixture("community_4_grids.geojson"))
    gcj02 = read_layer(fixture("gcj02_community.geojson"), crs="gcj-02")
    assert gcj02.attrs["source_crs"] == "gcj02"
    assert max_vertex_distance_m(wgs84, gcj02) < 0.01
    # Read as if it were WGS84, the same file is hundreds of metres off.
    naive = read_layer(fixture("gcj02_community.geojson"), crs="wgs84")
    assert max_vertex_distance_m(wgs84, naive) > 100


def test_the_users_crs_wins_over_the_one_the_file_states():
    stated = read_layer(fixture("community_4_grids.gpkg"))
    overridden = read_layer(fixture("community_4_grids.gpkg"), crs="gcj02")
    assert overridden.attrs["source_crs"] == "gcj02"
    assert max_vertex_distance_m(stated, overridden) > 100


def test_an_unknown_crs_from_the_user_names_the_file():
    path = fixture("community_4_grids.geojson")
    with pytest.raises(DataFileError) as err:
        read_layer(path, crs="mars")
    assert str(path) in err.value.message and "'mars'" in err.value.message


def test_a_column_mapping_that_names_a_missing_column_lists_the_columns_there_are():
    with pytest.raises(DataFileError) as err:
        read_layer(fixture("community_4_grids_shp.zip"), columns={"GRID_NO": "code"})
    assert "GRID_NO" in err.value.message and "PARENT" in err.value.message


@pytest.mark.filterwarnings("ignore:Could not parse column 'households'")
def test_a_household_count_that_is_not_a_number_names_the_feature(tmp_path):
    doc = json.loads(fixture("community_4_grids.geojson").read_text(encoding="utf-8"))
    doc["features"][2]["properties"]["households"] = "about forty"
    path = tmp_path / "bad_households.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DataFileError) as err:
        read_layer(path)
    assert "feature 3" in err.value.message
    assert GRID2 in err.value.message
    assert "about forty" in err.value.message


def test_unsupported_missing_and_ambiguous_files_are_refused_clearly(tmp_path):
    csv = tmp_path / "grids.csv"
    csv.write_text("code\n1\n")
    with pytest.raises(DataFileError, match=r"unsupported file type.*\.gpkg"):
        read_layer(csv)
    with pytest.raises(DataFileError, match="no such file"):
        read_layer(tmp_path / "absent.geojson", crs="wgs84")
    gpkg = tmp_path / "two_layers.gpkg"
    grids = read_layer(fixture("community_4_grids.geojson"))
    write_gpkg(grids, gpkg, layer="grids")
    write_gpkg(grids.iloc[:1], gpkg, layer="communities")
    with pytest.raises(DataFileError, match=r"2 layers .*layer="):
        read_layer(gpkg)
    assert len(read_layer(gpkg, layer="communities")) == 1
    with pytest.raises(DataFileError, match="no layer 'towns'"):
        read_layer(gpkg, layer="towns")


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_a_geopackage_or_shapefile_without_a_crs_is_refused_too(tmp_path):
    grids = read_layer(fixture("community_4_grids.geojson")).set_crs(None, allow_override=True)
    gpkg = tmp_path / "no_srs.gpkg"
    grids.to_file(gpkg, driver="GPKG", engine="pyogrio")
    with pytest.raises(DataFileError, match="does not say which coordinate system"):
        read_layer(gpkg)
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    grids[["code", "geometry"]].to_file(shp_dir / "grids.shp", engine="pyogrio")
    grids[["code", "geometry"]].to_file(shp_dir / "more.shp", engine="pyogrio")
    zipped = tmp_path / "no_prj.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        for part in shp_dir.iterdir():
            archive.write(part, part.name)
    with pytest.raises(DataFileError, match="exactly one Shapefile") as err:
        read_layer(zipped)
    assert "grids.shp" in err.value.message and "more.shp" in err.value.message
    with pytest.raises(DataFileError, match="does not say which coordinate system"):
        read_layer(zipped, layer="grids")
    assert len(read_layer(zipped, layer="grids", crs="cgcs2000")) == 5


@pytest.mark.skipif(not MONACO.exists(), reason="needs ../shared/data/monaco beside the repository")
def test_openstreetmap_buildings_admin_boundaries_and_roads_come_out_of_a_pbf():
    buildings = read_osm(MONACO, what="buildings")
    assert len(buildings) == 1283
    assert set(buildings.geom_type) == {"MultiPolygon"}
    assert buildings["code"].str.match(r"^(way|relation)/\d+$").all()
    assert buildings["levels"].notna().sum() > 400  # building:levels on ~461 buildings
    assert (buildings["kind"] == "apartments").sum() > 400

    wards = read_osm(MONACO, what="admin")
    assert (wards["admin_level"] == 10).sum() == 6
    assert {"Monte-Carlo", "Fontvieille", "La Condamine"} <= set(wards["name"])

    roads = read_osm(MONACO, what="roads")
    assert len(roads) > 500
    assert set(roads.geom_type) == {"LineString"}
    assert roads["kind"].notna().all()


# --- normalising ----------------------------------------------------------------------------


def test_a_3d_file_becomes_2d_and_each_feature_is_listed_as_repaired():
    result = normalise(read_layer(fixture("grids_3d.geojson")))
    assert not shapely.has_z(result.gdf.geometry.to_numpy()).any()
    assert set(result.gdf.geom_type) == {"MultiPolygon"}
    assert [r.code for r in result.repairs] == result.gdf["code"].tolist()
    assert all(r.problem == "3-D coordinates (Z values)" for r in result.repairs)
    flat = read_layer(fixture("community_4_grids.geojson"))
    assert max_vertex_distance_m(result.gdf, flat) == 0.0


def test_a_bowtie_is_kept_as_it_is_unless_repair_is_asked_for():
    raw = read_layer(fixture("bowtie.geojson"))
    kept = normalise(raw)
    assert kept.repairs == []
    assert not kept.gdf.geometry.iloc[1].is_valid

    fixed = normalise(raw, fix_invalid=True)
    assert [(r.code, r.row) for r in fixed.repairs] == [(GRID1, 1)]
    assert "Self-intersection" in fixed.repairs[0].problem
    assert "make_valid" in fixed.repairs[0].action
    bowtie = fixed.gdf.geometry.iloc[1]
    assert bowtie.is_valid and bowtie.geom_type == "MultiPolygon" and len(bowtie.geoms) == 2
    assert validate_areas(fixed.gdf).of_kind("invalid_geometry") == []


def test_normalising_refuses_a_layer_without_a_crs():
    gdf = gpd.GeoDataFrame({"code": ["x"]}, geometry=[shapely.box(0, 0, 1, 1)])
    with pytest.raises(DataFileError, match="no coordinate system"):
        normalise(gdf)


# --- validating: each broken fixture gives its documented report ------------------------------


def test_a_valid_community_with_four_grids_passes():
    report = validate_areas(load("community_4_grids.geojson"))
    assert report.ok
    assert report.problems == []
    assert report.to_json()["counts"] == {}
    # The community's township is not in the file: that check is listed as not done.
    assert report.skipped == ["community inside township: no township areas were given"]
    assert "No problems found" in report.to_text()


def test_a_bowtie_is_reported_with_gdals_reason_and_the_crossing_point():
    report = validate_areas(load("bowtie.geojson"))
    assert not report.ok
    assert report.counts() == {"invalid_geometry": 1}
    problem = report.problems[0]
    assert (problem.code, problem.layer, problem.severity) == (GRID1, "grid", "error")
    assert "Self-intersection" in problem.message
    assert problem.where == {"point": [112.901, 35.802]}  # where the two edges cross
    # Its community's coverage cannot be judged with one grid unusable, and says so.
    assert any("gaps inside community" in s for s in report.skipped)


def test_two_overlapping_grids_are_reported_with_the_overlap_area_and_place():
    report = validate_areas(load("overlap_grids.geojson"))
    assert report.counts() == {"overlap": 1}
    problem = report.problems[0]
    assert problem.code == GRID1 and GRID2 in problem.message
    reported_m2 = float(problem.message.split(" by ")[1].split(" m²")[0])
    assert reported_m2 == pytest.approx(strip_area_m2(0.45, 0.55), rel=0.005)
    west, south, east, north = problem.where["bbox"]
    assert (west, east) == pytest.approx((112.9018, 112.9022), abs=1e-7)
    assert (south, north) == pytest.approx((35.80, 35.804), abs=1e-7)


def test_two_grids_that_leave_a_gap_are_reported_with_the_gap_area_and_place():
    report = validate_areas(load("gap_grids.geojson"))
    assert report.counts() == {"gap": 1}
    problem = report.problems[0]
    assert (problem.layer, problem.code, problem.name) == ("community", COMMUNITY, "东城社区")
    assert "no grid covers" in problem.message
    reported_m2 = float(problem.message.split("gap of ")[1].split(" m²")[0])
    assert reported_m2 == pytest.approx(strip_area_m2(0.45, 0.55), rel=0.005)
    assert "about 36" in problem.message  # metres wide: 0.0004 degrees of longitude at 35.8 N
    assert problem.where["bbox"] == pytest.approx([112.9018, 35.80, 112.9022, 35.804], abs=1e-7)


def test_a_grid_slid_sideways_shows_its_overlap_and_its_gap_though_the_areas_add_up():
    report = validate_areas(load("shifted_grid.geojson"))
    assert report.counts() == {"gap": 1, "overlap": 1}
    assert report.of_kind("gap")[0].where["bbox"] == pytest.approx(
        [112.90, 35.80, 112.9002, 35.804], abs=1e-7
    )
    assert report.of_kind("overlap")[0].where["bbox"] == pytest.approx(
        [112.902, 35.80, 112.9022, 35.804], abs=1e-7
    )


def test_a_grid_drawn_inside_another_grid_is_an_overlap():
    gdf = load("community_4_grids.geojson")
    inner = gdf.iloc[[1]].copy()  # a copy of grid 1, shrunk to a quarter, appended last
    inner["code"] = COMMUNITY + "009"
    inner["geometry"] = inner.geometry.scale(0.5, 0.5)
    report = validate_areas(pd.concat([gdf, inner], ignore_index=True))
    assert report.counts() == {"overlap": 1}
    problem = report.problems[0]
    assert problem.code == GRID1 and COMMUNITY + "009" in problem.message
    reported_m2 = float(problem.message.split(" by ")[1].split(" m²")[0])
    assert reported_m2 == pytest.approx(strip_area_m2(0, 0.5) / 8, rel=0.005)


def test_duplicate_and_missing_codes_are_reported():
    report = validate_areas(load("duplicate_code.geojson"))
    assert report.counts() == {"duplicate_code": 1, "missing_code": 1}
    duplicate = report.of_kind("duplicate_code")[0]
    assert duplicate.code == GRID1 and "rows 2, 3" in duplicate.message
    missing = report.of_kind("missing_code")[0]
    assert missing.code is None and missing.name == "东城社区第3网格"
    assert missing.where["bbox"] == pytest.approx([112.902, 35.802, 112.904, 35.804])


def test_household_counts_outside_the_range_are_errors_but_dedicated_grids_are_exempt():
    gdf = load("households_out_of_range.geojson")
    report = validate_areas(gdf)
    assert report.counts() == {"households_out_of_range": 2}
    assert {p.code: p.message for p in report.problems} == {
        GRID1: "has 12 households; a grid should hold 30-50",
        GRID2: "has 80 households; a grid should hold 30-50",
    }
    assert all("point" in p.where for p in report.problems)
    # The range is configurable.
    assert validate_areas(gdf, households_range=(10, 80)).ok


def test_a_grid_outside_its_community_and_a_sliver_grid_are_reported():
    report = validate_areas(load("outside_and_sliver.geojson"))
    assert report.counts() == {"outside_parent": 1, "sliver": 1}
    outside = report.of_kind("outside_parent")[0]
    assert outside.code == GRID2 and COMMUNITY in outside.message
    assert "up to 36" in outside.message  # metres beyond the community's east edge
    assert outside.where["bbox"] == pytest.approx([112.904, 35.80, 112.9044, 35.804], abs=1e-7)
    sliver = report.of_kind("sliver")[0]
    assert (sliver.code, sliver.severity) == (GRID1, "warning")
    assert "about 1.8 m wide" in sliver.message
    # Warnings alone do not block: without the outside grid, the report is ok.
    assert validate_areas(load("outside_and_sliver.geojson"), sliver_ratio=0.0).counts() == {
        "outside_parent": 1
    }


def test_a_generous_tolerance_accepts_a_child_slightly_outside_its_parent():
    gdf = load("outside_and_sliver.geojson")
    assert validate_areas(gdf, containment_tolerance_m=50.0).of_kind("outside_parent") == []


def test_parents_can_be_given_as_a_separate_layer():
    everything = load("community_4_grids.geojson")
    communities = everything[everything["layer"] == "community"]
    grids = everything[everything["layer"] != "community"]
    assert validate_areas(grids, parents=communities).ok

    orphan = grids.copy()
    orphan.loc[orphan.index[0], "parent_code"] = "140581001999"
    report = validate_areas(orphan, parents=communities)
    assert report.counts() == {"unknown_parent": 1, "gap": 1}
    assert "140581001999" in report.of_kind("unknown_parent")[0].message


def test_the_layer_can_be_given_for_a_file_without_a_layer_column():
    grids = load("overlap_grids.geojson").drop(columns="layer").iloc[1:]
    with pytest.raises(InvalidInput, match="layer"):
        validate_areas(grids)
    assert validate_areas(grids, layer="grid").counts() == {"overlap": 1}


def test_the_report_reads_as_json_and_as_text():
    report = validate_areas(load("overlap_grids.geojson"))
    data = json.loads(json.dumps(report.to_json(), ensure_ascii=False))
    assert data["ok"] is False
    assert (data["features"], data["errors"], data["warnings"]) == (3, 1, 0)
    assert data["problems"][0]["kind"] == "overlap"
    assert set(data["problems"][0]) == {
        "kind",
        "severity",
        "layer",
        "code",
        "name",
        "message",
        "where",
        "measures",
    }
    assert set(data["problems"][0]["measures"]) == {"area_m2", "width_m"}
    text = report.to_text()
    assert "1 error(s)" in text
    assert f"ERROR   overlap: grid {GRID1} 东城社区第1网格: overlaps grid {GRID2}" in text


def test_a_point_where_an_area_should_be_is_reported_as_the_wrong_type():
    gdf = load("community_4_grids.geojson")
    gdf.loc[gdf.index[2], "geometry"] = shapely.Point(112.903, 35.801)
    gdf.loc[gdf.index[3], "geometry"] = shapely.MultiPolygon()
    report = validate_areas(gdf)
    assert report.of_kind("wrong_geometry_type")[0].code == GRID2
    assert report.of_kind("empty_geometry")[0].code == COMMUNITY + "003"


# --- exporting ------------------------------------------------------------------------------


def test_geojson_export_follows_rfc_7946():
    gdf = load("community_4_grids_shp.zip", columns=SHP_COLUMNS)
    doc = to_geojson_dict(gdf)
    assert "crs" not in doc
    assert doc["features"][1]["properties"] == {
        "code": GRID1,
        "name": "东城社区第1网格",
        "layer": "grid",
        "parent_code": COMMUNITY,
        "households": 35,
        "kind": "community",
    }
    assert doc["features"][0]["properties"]["households"] is None
    for feature in doc["features"]:
        for polygon in feature["geometry"]["coordinates"]:
            exterior = shapely.LinearRing(polygon[0])
            assert exterior.is_ccw  # Shapefiles store clockwise exteriors
            for lon, lat in polygon[0]:
                assert round(lon, 7) == lon and round(lat, 7) == lat


def test_exported_geojson_and_geopackage_read_back_equal(tmp_path):
    original = load("community_4_grids.geojson")
    write_geojson(original, tmp_path / "grids.geojson")
    write_gpkg(original, tmp_path / "grids.gpkg", layer="grids")
    # RFC 7946 GeoJSON carries no crs member: it is WGS84 by definition, and is read so.
    from_geojson = normalise(read_layer(tmp_path / "grids.geojson", crs="wgs84")).gdf
    from_gpkg = normalise(read_layer(tmp_path / "grids.gpkg")).gdf
    for back in (from_geojson, from_gpkg):
        pd.testing.assert_frame_equal(
            back.drop(columns="geometry"), original.drop(columns="geometry")
        )
        assert shapely.equals(back.geometry.to_numpy(), original.geometry.to_numpy()).all()
    assert validate_areas(from_gpkg).ok
