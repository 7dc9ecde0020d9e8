"""Coordinate systems: names, the exact GCJ-02/BD-09 inverses, EPSG codes, the scalar fast path."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import shapely

from gridmap.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geometry_to_wgs84,
    out_of_china,
    parse_crs,
    point_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from gridmap.errors import InvalidCoordinates, UnknownCRS

GEOD = pyproj.Geod(ellps="WGS84")


def metres_apart(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.fixture(scope="module")
def china_points() -> tuple[np.ndarray, np.ndarray]:
    """40,000 WGS84 points spread over the GCJ-02 box (all of China and its seas)."""
    rng = np.random.default_rng(20261121)
    lon = rng.uniform(73.0, 135.0, 40_000)
    lat = rng.uniform(3.9, 53.5, 40_000)
    return lon, lat


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        (None, "wgs84"),
        ("WGS84", "wgs84"),
        ("wgs-84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("4326", "wgs84"),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "wgs84"),
        ("EPSG:4490", "cgcs2000"),
        ("CGCS2000", "cgcs2000"),
        ("GCJ-02", "gcj02"),
        (" gcj02 ", "gcj02"),
        ("BD-09", "bd09"),
        ("bd09", "bd09"),
        ("epsg:4547", "EPSG:4547"),
        ("32650", "EPSG:32650"),
    ],
)
def test_a_coordinate_system_can_be_named_the_ways_people_write_it(given, canonical):
    assert parse_crs(given) == canonical


@pytest.mark.parametrize("given", ["mars", "EPSG:999999", "gcj03", ""])
def test_an_unknown_coordinate_system_is_refused_with_the_options(given):
    with pytest.raises(UnknownCRS) as err:
        parse_crs(given)
    assert repr(given) in err.value.message
    for option in ("wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:"):
        assert option in err.value.message


# --- GCJ-02 and BD-09 ---------------------------------------------------------------------


def test_the_published_example_converts_wgs84_to_gcj02_to_bd09_and_back():
    gx, gy = wgs84_to_gcj02(116.410498, 39.911521)
    assert (float(gx), float(gy)) == pytest.approx((116.4167398, 39.9129238), abs=5e-8)
    bx, by = gcj02_to_bd09(gx, gy)
    assert (float(bx), float(by)) == pytest.approx((116.4231514, 39.9191432), abs=5e-8)
    wx, wy = bd09_to_wgs84(116.4231514, 39.9191432)
    assert metres_apart(wx, wy, 116.410498, 39.911521) < 0.01


def test_gcj02_round_trips_to_under_a_centimetre_across_china(china_points):
    lon, lat = china_points
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert metres_apart(lon, lat, *back).max() < 0.01
    # ... and the offset it removed is the real one, hundreds of metres.
    shifted = metres_apart(lon, lat, *wgs84_to_gcj02(lon, lat))
    assert shifted.max() > 300


def test_bd09_round_trips_to_under_a_centimetre_across_china(china_points):
    lon, lat = china_points
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert metres_apart(lon, lat, *back).max() < 0.01
    gcj = wgs84_to_gcj02(lon, lat)
    gcj_back = bd09_to_gcj02(*gcj02_to_bd09(*gcj))
    assert metres_apart(*gcj, *gcj_back).max() < 0.01


def test_the_iterative_inverse_fixes_what_the_common_single_step_inverse_gets_wrong(
    china_points,
):
    lon, lat = china_points
    gx, gy = wgs84_to_gcj02(lon, lat)
    # The common inverse: subtract the offset evaluated at the GCJ-02 point itself.
    fx, fy = wgs84_to_gcj02(gx, gy)
    single_step = metres_apart(lon, lat, gx - (fx - gx), gy - (fy - gy))
    exact = metres_apart(lon, lat, *gcj02_to_wgs84(gx, gy))
    assert single_step.max() > 1.0  # metres: enough to cross a grid edge
    assert exact.max() < 0.01


def test_outside_china_gcj02_is_wgs84_but_bd09_still_shifts():
    monaco = (7.4246, 43.7384)
    assert bool(out_of_china(*monaco))
    assert tuple(map(float, wgs84_to_gcj02(*monaco))) == monaco
    assert tuple(map(float, gcj02_to_wgs84(*monaco))) == monaco
    assert point_to_wgs84(*monaco, "gcj02") == monaco
    bd = wgs84_to_bd09(*monaco)
    assert metres_apart(*monaco, *bd) > 100
    assert metres_apart(*monaco, *bd09_to_wgs84(*bd)) < 0.01


# --- any CRS, arrays and single points ----------------------------------------------------


def test_array_conversions_return_float64_arrays_for_scalars_and_lists():
    x, y = to_wgs84(116.4167398, 39.9129238, "gcj02")
    for a in (x, y):
        assert isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape == ()
    xs, ys = to_wgs84([116.4, 116.5], [39.9, 40.0], "wgs84")
    assert xs.dtype == ys.dtype == np.float64
    assert (xs.tolist(), ys.tolist()) == ([116.4, 116.5], [39.9, 40.0])


def test_mismatched_lon_and_lat_arrays_are_refused():
    with pytest.raises(InvalidCoordinates, match="different shapes"):
        to_wgs84([1.0, 2.0], [3.0], "gcj02")


def test_an_epsg_projected_crs_goes_through_pyproj_both_ways():
    # CGCS2000 / 3-degree Gauss-Kruger CM 114E: metres east/north.
    lon, lat = to_wgs84([500_000.0], [3_962_000.0], "EPSG:4547")
    assert lon[0] == pytest.approx(114.0, abs=1e-9)
    assert 35.7 < lat[0] < 35.8
    east, north = from_wgs84(lon, lat, "EPSG:4547")
    assert east[0] == pytest.approx(500_000.0, abs=1e-3)
    assert north[0] == pytest.approx(3_962_000.0, abs=1e-3)


def test_cgcs2000_is_stored_as_wgs84_unchanged():
    x, y = to_wgs84([112.9], [35.8], "EPSG:4490")
    assert (x[0], y[0]) == (112.9, 35.8)
    assert point_to_wgs84(112.9, 35.8, "cgcs2000") == (112.9, 35.8)


def test_the_scalar_fast_path_agrees_with_the_array_path(china_points):
    lon, lat = (a[:2000] for a in china_points)
    for crs, forward in (("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)):
        fx, fy = forward(lon, lat)
        ax, ay = to_wgs84(fx, fy, crs)
        for k in range(len(lon)):
            px, py = point_to_wgs84(float(fx[k]), float(fy[k]), crs)
            assert type(px) is float
            # Both stop iterating within a millimetre of the answer, not at the same step.
            assert abs(px - ax[k]) < 1e-8 and abs(py - ay[k]) < 1e-8
            assert metres_apart(px, py, lon[k], lat[k]) < 0.01


def test_a_single_point_may_name_its_crs_loosely_or_by_epsg():
    assert point_to_wgs84(116.4167398, 39.9129238, "GCJ-02") == point_to_wgs84(
        116.4167398, 39.9129238, "gcj02"
    )
    lon, lat = point_to_wgs84(500_000.0, 3_962_000.0, "EPSG:4547")
    assert lon == pytest.approx(114.0, abs=1e-9)
    assert 35.7 < lat < 35.8


@pytest.mark.parametrize(
    ("lon", "lat", "crs"),
    [(math.nan, 39.9, "wgs84"), (116.4, 91.0, "gcj02"), (200.0, 39.9, "bd09")],
)
def test_a_point_that_is_not_a_longitude_latitude_is_refused(lon, lat, crs):
    with pytest.raises(InvalidCoordinates) as err:
        point_to_wgs84(lon, lat, crs)
    assert crs in err.value.message


def test_an_unknown_crs_on_a_single_point_is_refused():
    with pytest.raises(UnknownCRS):
        point_to_wgs84(116.4, 39.9, "baidu-mercator")


# --- geometries ---------------------------------------------------------------------------


def test_a_polygon_with_a_hole_converts_vertex_by_vertex():
    # Every original vertex is kept (densifying only adds vertices between them).
    shell = [(116.40, 39.90), (116.42, 39.90), (116.42, 39.92), (116.40, 39.92)]
    hole = [(116.405, 39.905), (116.41, 39.905), (116.41, 39.91)]
    wgs = shapely.Polygon(shell, [hole])
    gcj = shapely.transform(wgs, lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1])))
    back = geometry_to_wgs84(gcj, "gcj02")
    assert back.geom_type == "Polygon" and len(back.interiors) == 1
    got = shapely.get_coordinates(back)
    want = shapely.get_coordinates(wgs)
    nearest = np.array([np.argmin(np.hypot(*(got - w).T)) for w in want])
    assert metres_apart(got[nearest, 0], got[nearest, 1], want[:, 0], want[:, 1]).max() < 0.01


def test_geometry_conversion_keeps_z_and_works_on_arrays():
    points = np.array([shapely.Point(116.4167398, 39.9129238, 44.0), shapely.Point(7.4, 43.7)])
    out = geometry_to_wgs84(points, "gcj02")
    assert shapely.get_coordinates(out[0], include_z=True)[0, 2] == 44.0
    assert metres_apart(out[0].x, out[0].y, 116.410498, 39.911521) < 0.05
    assert (out[1].x, out[1].y) == (7.4, 43.7)  # outside China: unchanged
