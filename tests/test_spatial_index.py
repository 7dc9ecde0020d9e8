"""The routing index answers like PostGIS ST_Covers: boundaries included, smallest id wins."""

from __future__ import annotations

import io

import numpy as np
import pytest
import shapely
from pyproj import Geod
from sqlalchemy import Engine, text

from gridmap.errors import InvalidCoordinates, InvalidInput
from gridmap.routing.spatial_index import PolygonIndex, metres_per_degree

LON0, LAT0 = 112.93, 35.79  # Gaoping
D = 0.001  # square side in degrees (~90 m × 111 m)


def square(col: int, row: int) -> shapely.Polygon:
    x, y = LON0 + col * D, LAT0 + row * D
    return shapely.box(x, y, x + D, y + D)


@pytest.fixture(scope="module")
def four_squares() -> PolygonIndex:
    # ids deliberately not in grid order:   [ 9 | 4 ]
    #                                       [ 7 | 5 ]
    ids = np.array([7, 5, 9, 4])
    return PolygonIndex.build(ids, [square(0, 0), square(1, 0), square(0, 1), square(1, 1)])


def expected_by_shapely(
    ids: np.ndarray, geoms: list[shapely.Polygon], xs: np.ndarray, ys: np.ndarray
) -> np.ndarray:
    """The exact answer: GEOS covers, smallest id among the covering polygons."""
    tree = shapely.STRtree(geoms)
    pts, polys = tree.query(shapely.points(xs, ys), predicate="covered_by")
    best = np.full(len(xs), np.iinfo(np.int64).max)
    np.minimum.at(best, pts, ids[polys])
    best[best == np.iinfo(np.int64).max] = -1
    return best


def voronoi_grids(n: int, seed: int) -> tuple[np.ndarray, list[shapely.Polygon]]:
    """About n irregular grids tiling a box, ids shuffled so id order ≠ spatial order."""
    rng = np.random.default_rng(seed)
    frame = shapely.box(LON0, LAT0, LON0 + 0.05, LAT0 + 0.04)
    seeds = shapely.multipoints(
        np.column_stack([rng.uniform(LON0, LON0 + 0.05, n), rng.uniform(LAT0, LAT0 + 0.04, n)])
    )
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))
    geoms = [g for g in shapely.intersection(cells, frame) if g.geom_type == "Polygon"]
    ids = rng.permutation(len(geoms)).astype(np.int64) * 3 + 10
    return ids, geoms


def vertices_and_midpoints(geoms: list[shapely.Polygon]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for g in geoms:
        ring = np.asarray(g.exterior.coords)
        mid = (ring[:-1] + ring[1:]) / 2
        xs += [ring[:, 0], mid[:, 0]]
        ys += [ring[:, 1], mid[:, 1]]
    return np.concatenate(xs), np.concatenate(ys)


# --- hand-made squares ----------------------------------------------------------------


def test_a_point_inside_a_square_gets_that_square(four_squares: PolygonIndex) -> None:
    assert four_squares.locate(LON0 + 0.5 * D, LAT0 + 0.5 * D) == 7
    assert four_squares.locate(LON0 + 1.5 * D, LAT0 + 1.5 * D) == 4


def test_a_point_on_a_shared_edge_goes_to_the_smaller_id(four_squares: PolygonIndex) -> None:
    assert four_squares.locate(LON0 + D, LAT0 + 0.5 * D) == 5  # 7 | 5
    assert four_squares.locate(LON0 + 0.5 * D, LAT0 + D) == 7  # 7 below 9


def test_the_shared_corner_of_four_squares_goes_to_the_smallest(
    four_squares: PolygonIndex,
) -> None:
    assert four_squares.locate(LON0 + D, LAT0 + D) == 4


def test_outer_edges_and_corners_are_covered_and_outside_is_not(
    four_squares: PolygonIndex,
) -> None:
    assert four_squares.locate(LON0, LAT0) == 7
    assert four_squares.locate(LON0 + 2 * D, LAT0 + 0.3 * D) == 5
    assert four_squares.locate(LON0 - 1e-9, LAT0 + 0.5 * D) == -1
    assert four_squares.locate(LON0 + 5 * D, LAT0 + 5 * D) == -1
    assert four_squares.locate(0.0, 0.0) == -1


def test_batch_and_single_answers_are_the_same(four_squares: PolygonIndex) -> None:
    xs = LON0 + np.array([0.5, 1.0, 1.0, 2.0, -0.5, 1.5]) * D
    ys = LAT0 + np.array([0.5, 0.5, 1.0, 0.3, 0.5, 1.5]) * D
    batch = four_squares.locate_many(xs, ys)
    assert batch.tolist() == [four_squares.locate(x, y) for x, y in zip(xs, ys, strict=True)]
    assert batch.tolist() == [7, 5, 4, 5, -1, 4]


def test_a_hole_is_not_covered_but_its_rim_is_and_an_island_fills_it() -> None:
    outer = shapely.box(LON0, LAT0, LON0 + 3 * D, LAT0 + 3 * D)
    hole = shapely.box(LON0 + D, LAT0 + D, LON0 + 2 * D, LAT0 + 2 * D)
    donut = outer.difference(hole)
    index = PolygonIndex.build(np.array([20]), [donut])
    assert index.locate(LON0 + 1.5 * D, LAT0 + 1.5 * D) == -1
    assert index.locate(LON0 + D, LAT0 + 1.5 * D) == 20  # on the hole's rim
    assert index.locate(LON0 + 0.5 * D, LAT0 + 0.5 * D) == 20

    with_island = PolygonIndex.build(np.array([20, 30]), [donut, hole])
    assert with_island.locate(LON0 + 1.5 * D, LAT0 + 1.5 * D) == 30
    assert with_island.locate(LON0 + D, LAT0 + 1.5 * D) == 20  # shared rim: smaller id


def test_a_multipolygon_answers_for_each_of_its_parts() -> None:
    parts = shapely.MultiPolygon([square(0, 0), square(3, 0)])
    index = PolygonIndex.build(np.array([11]), [parts])
    assert index.locate(LON0 + 0.5 * D, LAT0 + 0.5 * D) == 11
    assert index.locate(LON0 + 3.5 * D, LAT0 + 0.5 * D) == 11
    assert index.locate(LON0 + 2.0 * D, LAT0 + 0.5 * D) == -1


def test_overlapping_polygons_give_the_smallest_id() -> None:
    big = shapely.box(LON0, LAT0, LON0 + 4 * D, LAT0 + 4 * D)
    index = PolygonIndex.build(np.array([8, 3]), [big, square(1, 1)])
    assert index.locate(LON0 + 1.5 * D, LAT0 + 1.5 * D) == 3
    assert index.locate(LON0 + 3.5 * D, LAT0 + 3.5 * D) == 8


# --- distances ------------------------------------------------------------------------


def test_near_lists_polygons_within_a_distance_in_metres_nearest_first(
    four_squares: PolygonIndex,
) -> None:
    geod = Geod(ellps="WGS84")
    # 3 m west of the 7|5 edge, inside 7
    m_lon, _ = metres_per_degree(LAT0 + 0.5 * D)
    x, y = LON0 + D - 3.0 / m_lon, LAT0 + 0.5 * D
    found = four_squares.near(x, y, 5.0)
    assert [i for i, _ in found] == [7, 5]
    assert found[0][1] == 0.0
    _, _, true_m = geod.inv(x, y, LON0 + D, y)
    assert found[1][1] == pytest.approx(true_m, rel=1e-3)
    assert [i for i, _ in four_squares.near(x, y, 2.0)] == [7]
    # outside coverage: the nearest grids within 200 m, with their distances
    far_x = LON0 - 150.0 / m_lon
    around = four_squares.near(far_x, y, 200.0)
    assert [i for i, _ in around] == [7, 9]  # 9 is farther: its corner is diagonal
    _, _, to_edge = geod.inv(far_x, y, LON0, y)
    _, _, to_corner = geod.inv(far_x, y, LON0, LAT0 + D)
    assert around[0][1] == pytest.approx(to_edge, rel=1e-3)
    assert around[1][1] == pytest.approx(to_corner, rel=1e-3)
    assert four_squares.near(far_x, y, 100.0) == []


def test_the_on_boundary_flag_says_whether_another_grid_is_within_near_m(
    four_squares: PolygonIndex,
) -> None:
    m_lon, m_lat = metres_per_degree(LAT0)
    edge_x = LON0 + D
    y = LAT0 + 0.5 * D
    assert four_squares.locate_with_near(edge_x - 2.0 / m_lon, y) == (7, True)
    assert four_squares.locate_with_near(edge_x - 20.0 / m_lon, y) == (7, False)
    assert four_squares.locate_with_near(edge_x, y) == (5, True)
    # 3 m outside the outer edge: nothing covers it, a grid is within 5 m
    assert four_squares.locate_with_near(LON0 - 3.0 / m_lon, y) == (-1, True)
    assert four_squares.is_near_edge(LON0 + 0.5 * D, LAT0 + D + 1.0 / m_lat)
    assert not four_squares.is_near_edge(LON0 + 0.5 * D, LAT0 + 0.5 * D)


# --- a Voronoi tiling against the exact answer ---------------------------------------


@pytest.fixture(scope="module")
def tiling() -> tuple[np.ndarray, list[shapely.Polygon], PolygonIndex]:
    ids, geoms = voronoi_grids(3000, seed=42)
    return ids, geoms, PolygonIndex.build(ids, geoms)


def test_every_vertex_and_edge_midpoint_matches_exact_covers(
    tiling: tuple[np.ndarray, list[shapely.Polygon], PolygonIndex],
) -> None:
    ids, geoms, index = tiling
    xs, ys = vertices_and_midpoints(geoms)
    expected = expected_by_shapely(ids, geoms, xs, ys)
    assert (expected >= 0).all()  # a tiling: every vertex and midpoint is covered
    got = index.locate_many(xs, ys)
    assert np.array_equal(got, expected)
    sample = np.random.default_rng(0).choice(len(xs), 2000, replace=False)
    assert [index.locate(xs[i], ys[i]) for i in sample] == expected[sample].tolist()


def test_random_points_match_exact_covers(
    tiling: tuple[np.ndarray, list[shapely.Polygon], PolygonIndex],
) -> None:
    ids, geoms, index = tiling
    rng = np.random.default_rng(1)
    xs = rng.uniform(LON0 - 0.005, LON0 + 0.055, 200_000)
    ys = rng.uniform(LAT0 - 0.005, LAT0 + 0.045, 200_000)
    expected = expected_by_shapely(ids, geoms, xs, ys)
    assert (expected == -1).any() and (expected >= 0).any()
    assert np.array_equal(index.locate_many(xs, ys), expected)


def test_batch_near_flags_agree_with_distances(
    tiling: tuple[np.ndarray, list[shapely.Polygon], PolygonIndex],
) -> None:
    index = tiling[2]
    rng = np.random.default_rng(2)
    xs = rng.uniform(LON0, LON0 + 0.05, 3000)
    ys = rng.uniform(LAT0, LAT0 + 0.04, 3000)
    found, flags = index.locate_many_with_near(xs, ys)
    assert np.array_equal(found, index.locate_many(xs, ys))
    assert 0 < flags.sum() < len(flags)
    for x, y, here, flag in zip(xs, ys, found, flags, strict=True):
        others = [i for i, _ in index.near(x, y, index.near_m) if i != here]
        assert flag == bool(others)
        assert index.locate_with_near(x, y) == (here, flag)


# --- against PostGIS ------------------------------------------------------------------


def test_postgis_st_covers_on_the_subdivided_table_gives_the_same_answers(
    engine: Engine,
) -> None:
    ids, geoms = voronoi_grids(1500, seed=7)
    index = PolygonIndex.build(ids, geoms)
    vx, vy = vertices_and_midpoints(geoms)
    rng = np.random.default_rng(3)
    xs = np.concatenate([vx, rng.uniform(LON0 - 0.005, LON0 + 0.055, 20_000)])
    ys = np.concatenate([vy, rng.uniform(LAT0 - 0.005, LAT0 + 0.045, 20_000)])

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t_poly (id bigint, geom geometry(MultiPolygon, 4326))"))
        conn.execute(
            text(
                "INSERT INTO t_poly SELECT id, ST_Multi(ST_GeomFromWKB(wkb, 4326)) "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:wkbs AS bytea[])) AS u(id, wkb)"
            ),
            {"ids": ids.tolist(), "wkbs": [shapely.to_wkb(g) for g in geoms]},
        )
        conn.execute(
            text(
                "CREATE TABLE t_part AS SELECT id, ST_Subdivide(geom, 16) AS geom FROM t_poly;"
                "CREATE INDEX ON t_part USING gist (geom);"
                "CREATE TABLE t_pt (n int, geom geometry(Point, 4326))"
            )
        )
        raw = conn.connection.driver_connection
        assert raw is not None
        buf = io.StringIO()
        for n, (x, y) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True)):
            buf.write(f"{n}\tSRID=4326;POINT({x!r} {y!r})\n")
        with raw.cursor() as cur, cur.copy("COPY t_pt (n, geom) FROM STDIN") as copy:
            copy.write(buf.getvalue())
        conn.execute(text("ANALYZE t_part; ANALYZE t_pt"))
        rows = conn.execute(
            text(
                "SELECT t_pt.n, min(t_part.id) FROM t_pt "
                "JOIN t_part ON ST_Covers(t_part.geom, t_pt.geom) GROUP BY t_pt.n"
            )
        ).all()
    postgis = np.full(len(xs), -1, dtype=np.int64)
    for n, pid in rows:
        postgis[n] = pid
    ours = index.locate_many(xs, ys)
    disagree = np.flatnonzero(ours != postgis)
    assert disagree.size == 0, [(xs[i], ys[i], ours[i], postgis[i]) for i in disagree[:5]]


# --- bad input ------------------------------------------------------------------------


def test_bad_input_is_refused_with_the_culprit_named() -> None:
    with pytest.raises(InvalidInput, match="id 3 repeats"):
        PolygonIndex.build(np.array([3, 3]), [square(0, 0), square(1, 0)])
    with pytest.raises(InvalidInput, match="polygon id 5: expected a Polygon"):
        PolygonIndex.build(np.array([5]), [shapely.Point(LON0, LAT0)])
    with pytest.raises(InvalidInput, match="one id per geometry"):
        PolygonIndex.build(np.array([1, 2]), [square(0, 0)])
    index = PolygonIndex.build(np.array([1]), [square(0, 0)])
    with pytest.raises(InvalidCoordinates):
        index.locate(float("nan"), LAT0)
    with pytest.raises(InvalidCoordinates, match="point 1"):
        index.locate_many(np.array([LON0, np.inf]), np.array([LAT0, LAT0]))


def test_an_empty_index_covers_nothing() -> None:
    index = PolygonIndex.build(np.array([], dtype=np.int64), [])
    assert index.locate(LON0, LAT0) == -1
    assert index.locate_many(np.array([LON0]), np.array([LAT0])).tolist() == [-1]
    assert index.near(LON0, LAT0, 200.0) == []
