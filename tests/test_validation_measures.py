"""The validator's gap and overlap figures are true: measured in metres on the shapes as
stored (straight lon/lat edges), with a documented rounding tolerance.

A township 0.2° across (about 18 x 22 km, four corners only) is split by a north-south line
into two communities whose corners lie on the township's long edges (T-junctions). Drawn
exactly, there is no gap; a strip of known width left between them is a gap of known area;
a hairline far below 1 cm wide is rounding."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from geodata.validation import ROUNDING_WIDTH_M, validate_areas

GEOD = pyproj.Geod(ellps="WGS84")
W, S, E, N = 112.8, 35.7, 113.0, 35.9
MID = 112.9


def geodesic_area_m2(geom) -> float:
    """Area on the ellipsoid of the lon/lat polygon with its edges straight in lon/lat."""
    return abs(GEOD.geometry_area_perimeter(shapely.segmentize(geom, 1e-5))[0])


def layer(left_east: float, right_west: float) -> gpd.GeoDataFrame:
    township = shapely.box(W, S, E, N)
    left = shapely.box(W, S, left_east, N)
    right = shapely.box(right_west, S, E, N)
    return gpd.GeoDataFrame(
        {
            "code": ["140581001", "140581001001", "140581001002"],
            "name": ["town", "west", "east"],
            "layer": ["township", "community", "community"],
            "parent_code": [None, "140581001", "140581001"],
        },
        geometry=[township, left, right],
        crs="EPSG:4326",
    )


def metres_to_degrees_lon(m: float) -> float:
    return m / (111_320.0 * np.cos(np.radians((S + N) / 2)))


def test_an_exact_split_along_long_edges_has_no_gap_or_overlap():
    report = validate_areas(layer(MID, MID))
    assert report.problems == []


def test_a_gap_is_reported_with_its_true_area_and_width():
    width = metres_to_degrees_lon(0.5)
    report = validate_areas(layer(MID, MID + width))
    gaps = report.of_kind("gap")
    assert len(gaps) == 1 and report.counts() == {"gap": 1}
    true_area = geodesic_area_m2(shapely.box(MID, S, MID + width, N))
    assert gaps[0].measures["area_m2"] == pytest.approx(true_area, rel=0.005)
    assert gaps[0].measures["width_m"] == pytest.approx(0.5, rel=0.01)
    assert gaps[0].code == "140581001"


def test_an_overlap_is_reported_with_its_true_area_and_width():
    width = metres_to_degrees_lon(2.0)
    report = validate_areas(layer(MID + width, MID))
    overlaps = report.of_kind("overlap")
    assert report.counts() == {"overlap": 1}
    true_area = geodesic_area_m2(shapely.box(MID, S, MID + width, N))
    assert overlaps[0].measures["area_m2"] == pytest.approx(true_area, rel=0.005)
    assert overlaps[0].measures["width_m"] == pytest.approx(2.0, rel=0.01)


def test_children_with_corners_on_their_parents_long_slanted_edges_are_inside_it():
    """A quadrilateral township about 20 km across cut into ten strips whose corners are
    interpolated on its edges (inside or outside them by floating-point rounding only).
    Projecting only the vertices of a 20 km edge moves its middle by about 2 m, which was
    reported as a community 2 m outside its township."""
    a, b, c, d = (112.8, 35.7), (113.013, 35.733), (112.987, 35.917), (112.79, 35.889)

    def on(p: tuple, q: tuple, t: float) -> tuple:
        return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))

    ts = np.linspace(0, 1, 11)
    strips = [
        shapely.Polygon([on(a, b, t0), on(a, b, t1), on(d, c, t1), on(d, c, t0)])
        for t0, t1 in itertools.pairwise(ts)
    ]
    gdf = gpd.GeoDataFrame(
        {
            "code": ["1", *(f"1{k:02d}" for k in range(10))],
            "layer": ["township", *["community"] * 10],
            "parent_code": [None, *["1"] * 10],
        },
        geometry=[shapely.Polygon([a, b, c, d]), *strips],
        crs="EPSG:4326",
    )
    assert validate_areas(gdf).problems == []


@pytest.mark.parametrize("sign", [1, -1])
def test_a_hairline_under_the_rounding_width_is_not_a_problem(sign):
    hair = metres_to_degrees_lon(ROUNDING_WIDTH_M / 10)  # 1 mm wide, 22 km long: about 22 m²
    assert geodesic_area_m2(shapely.box(MID, S, MID + hair, N)) > 10
    left_east, right_west = (MID, MID + hair) if sign > 0 else (MID + hair, MID)
    assert validate_areas(layer(left_east, right_west)).problems == []


def test_a_grid_out_of_range_with_an_accepted_exception_is_listed_not_an_error():
    grids = gpd.GeoDataFrame(
        {
            "code": ["1", "2", "3"],
            "name": ["tower", "remote", "plain"],
            "layer": ["grid"] * 3,
            "households": [180, 12, 20],
            "attributes": [
                {"exception": "households", "exception_reason": "one 180-flat tower"},
                None,
                {"exception": "households"},  # no reason: not accepted
            ],
            "exception": [None, "households", None],
            "exception_reason": [None, "a hamlet 3 km from the next houses", None],
        },
        geometry=[
            shapely.box(112.9, 35.8, 112.901, 35.801),
            shapely.box(112.901, 35.8, 112.902, 35.801),
            shapely.box(112.9, 35.801, 112.902, 35.802),
        ],
        crs="EPSG:4326",
    )
    report = validate_areas(grids)
    assert [p.code for p in report.of_kind("households_out_of_range")] == ["3"]
    assert {e["code"]: e["reason"] for e in report.exceptions} == {
        "1": "one 180-flat tower",
        "2": "a hamlet 3 km from the next houses",
    }
