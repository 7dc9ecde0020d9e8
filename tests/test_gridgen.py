"""A planner generates grids of 30–50 households from buildings, on hand-made areas and Monaco."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, box

from geodata.gridgen import GridGeneration, generate_grids
from geodata.monaco import MonacoData, load_monaco, monaco_grids
from gridmap.errors import InvalidInput

AREA = box(112.900, 35.780, 112.910, 35.790)


def village(n: int, *, seed: int, max_households: int = 12) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = AREA.bounds
    return gpd.GeoDataFrame(
        {"households": rng.integers(0, max_households, n)},
        geometry=gpd.points_from_xy(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)),
        crs="EPSG:4326",
    )


def assert_partition(area, buildings: gpd.GeoDataFrame, result: GridGeneration) -> None:
    """The grids tile the area, and every building lies in exactly the grid it was given."""
    grids = result.grids
    geoms = np.asarray(grids.geometry.values)
    assert shapely.coverage_is_valid(geoms)
    assert shapely.union_all(geoms).symmetric_difference(area).area < 1e-12 * max(area.area, 1)
    points = shapely.point_on_surface(np.asarray(buildings.geometry.values))
    point_idx, grid_idx = shapely.STRtree(geoms).query(points, predicate="intersects")
    assert np.array_equal(np.sort(point_idx), np.arange(len(buildings)))  # exactly one each
    found = grids["code"].to_numpy()[grid_idx[np.argsort(point_idx)]]
    assert list(found) == list(result.assignment.loc[buildings.index])
    sums = buildings.groupby(result.assignment)["households"].sum()
    assert dict(zip(grids["code"], grids["households"], strict=True)) == {
        code: int(sums.get(code, 0)) for code in grids["code"]
    }


def test_a_village_becomes_grids_of_30_to_50_households_covering_it_exactly() -> None:
    buildings = village(400, seed=1)
    result = generate_grids(AREA, buildings, code_prefix="140581101003", name_prefix="城东社区")

    assert_partition(AREA, buildings, result)
    assert result.grids["households"].between(30, 50).all()
    assert result.grids["flag"].isna().all()
    assert result.grids["code"].iloc[0] == "140581101003001"
    assert result.grids["name"].iloc[6] == "城东社区第7网格"
    assert result.grids["code"].is_unique
    report = result.report
    assert report["count"] == len(result.grids)
    assert sum(report["histogram"].values()) == len(result.grids)
    assert report["out_of_range"] == 0
    assert report["households"] == buildings["households"].sum()
    assert f"{len(result.grids)} grids" in result.report_text()


def test_the_range_is_configurable() -> None:
    buildings = village(400, seed=2)
    result = generate_grids(AREA, buildings, code_prefix="X", min_households=80, max_households=120)

    assert_partition(AREA, buildings, result)
    assert result.grids["households"].between(80, 120).all()


def test_a_high_rise_becomes_its_own_flagged_grid() -> None:
    buildings = village(300, seed=3)
    tower = gpd.GeoDataFrame(
        {"households": [180]},
        geometry=[box(112.9050, 35.7850, 112.9052, 35.7852)],  # a footprint, not a point
        crs="EPSG:4326",
        index=[999],
    )
    buildings = gpd.GeoDataFrame(
        gpd.pd.concat([buildings, tower]), geometry="geometry", crs="EPSG:4326"
    )
    result = generate_grids(AREA, buildings, code_prefix="X")

    assert_partition(AREA, buildings, result)
    towers = result.grids[result.grids["flag"] == "high_rise"]
    assert list(towers["code"]) == [result.assignment[999]]
    assert towers["households"].iloc[0] >= 180
    others = result.grids[result.grids["flag"] != "high_rise"]
    assert others["households"].between(30, 50).all()
    assert result.report["high_rises"] == 1


def test_an_area_below_the_minimum_is_one_flagged_grid() -> None:
    buildings = village(4, seed=4, max_households=6)
    assert buildings["households"].sum() < 30
    result = generate_grids(AREA, buildings, code_prefix="X")

    assert_partition(AREA, buildings, result)
    assert len(result.grids) == 1
    assert result.grids["flag"].iloc[0] == "under_min"
    assert result.report["out_of_range"] == 1


def test_grids_are_cut_along_roads() -> None:
    buildings = village(400, seed=5)
    road = LineString([(112.9047, 35.77), (112.9053, 35.80)])
    west, east = (shapely.intersection(AREA, half) for half in _halves(road))
    result = generate_grids(AREA, buildings, code_prefix="X", roads=gpd.GeoSeries([road]))

    assert_partition(AREA, buildings, result)
    assert result.grids["households"].between(30, 50).all()
    for grid in result.grids.geometry:
        on_smaller_side = min(grid.intersection(west).area, grid.intersection(east).area)
        assert on_smaller_side < 0.01 * grid.area


def _halves(road: LineString) -> list[shapely.Geometry]:
    frame = box(112.89, 35.77, 112.92, 35.80)
    return list(shapely.get_parts(shapely.polygonize([frame.boundary.union(road)])))


def test_the_same_seed_gives_the_same_grids() -> None:
    buildings = village(300, seed=6)
    first = generate_grids(AREA, buildings, code_prefix="X", seed=7)
    again = generate_grids(AREA, buildings, code_prefix="X", seed=7)

    assert first.assignment.equals(again.assignment)
    assert all(shapely.equals_exact(first.grids.geometry, again.grids.geometry, tolerance=0))


def test_a_building_outside_the_area_is_refused_by_index() -> None:
    buildings = village(50, seed=8)
    buildings.loc[17, "geometry"] = shapely.Point(113.5, 36.0)
    with pytest.raises(InvalidInput, match=r"outside the area, e\.g\. \[17\]"):
        generate_grids(AREA, buildings, code_prefix="X")


def test_negative_households_are_refused_by_index() -> None:
    buildings = village(50, seed=9)
    buildings.loc[3, "households"] = -2
    with pytest.raises(InvalidInput, match=r"\[3\]"):
        generate_grids(AREA, buildings, code_prefix="X")


# --- Monaco: real wards, buildings and streets ------------------------------------------


@pytest.fixture(scope="module")
def monaco() -> MonacoData:
    return load_monaco()


@pytest.fixture(scope="module")
def monaco_result(monaco: MonacoData) -> gpd.GeoDataFrame:
    return monaco_grids(monaco)


def test_monaco_has_six_wards_and_its_own_buildings_only(monaco: MonacoData) -> None:
    # The six OSM wards and MC07, the western quarters no ward covers: they tile the country.
    assert list(monaco.wards["code"]) == [f"MC0{i}" for i in range(1, 8)]
    assert "Monte-Carlo" in set(monaco.wards["name"])
    assert monaco.wards["name"].iloc[-1].startswith("Ouest")
    wards = np.asarray(monaco.wards.geometry.values)
    assert shapely.union_all(wards).symmetric_difference(monaco.outline).area < 1e-12
    assert monaco.buildings["ward_code"].notna().all()
    assert monaco.buildings["code"].is_unique
    points = shapely.point_on_surface(np.asarray(monaco.buildings.geometry.values))
    monaco_area = shapely.union_all([monaco.outline, *monaco.wards.geometry])
    assert shapely.intersects(monaco_area, points).all()
    # The extract's French buildings across the border are left out.
    assert len(monaco.buildings) < 1283
    residential = monaco.buildings[monaco.buildings["kind"] == "apartments"]
    assert (residential["households"] > 0).mean() > 0.9
    assert (monaco.buildings.loc[monaco.buildings["kind"] == "church", "households"] == 0).all()


def test_monaco_wards_get_grids_covering_each_ward(
    monaco: MonacoData, monaco_result: gpd.GeoDataFrame
) -> None:
    for ward in monaco.wards.itertuples():
        grids = monaco_result[monaco_result["parent_code"] == ward.code]
        geoms = np.asarray(grids.geometry.values)
        assert shapely.coverage_is_valid(geoms), ward.name
        assert shapely.union_all(geoms).symmetric_difference(ward.geometry).area < 1e-12
        assert grids["code"].str.startswith(ward.code).all()


def test_every_monaco_building_is_in_exactly_one_grid_that_counts_it(
    monaco: MonacoData, monaco_result: gpd.GeoDataFrame
) -> None:
    in_wards = monaco.buildings[monaco.buildings["ward_code"].notna()]
    points = shapely.point_on_surface(np.asarray(in_wards.geometry.values))
    point_idx, grid_idx = shapely.STRtree(np.asarray(monaco_result.geometry.values)).query(
        points, predicate="intersects"
    )
    assert np.array_equal(np.sort(point_idx), np.arange(len(in_wards)))
    counted = np.bincount(
        grid_idx, weights=in_wards["households"].to_numpy()[point_idx], minlength=len(monaco_result)
    )
    assert np.array_equal(counted.astype(int), monaco_result["households"].to_numpy())


def test_monaco_grids_meet_the_range_except_flagged_high_rises(
    monaco: MonacoData, monaco_result: gpd.GeoDataFrame
) -> None:
    regular = monaco_result[monaco_result["flag"].isna()]
    towers = monaco_result[monaco_result["flag"] == "high_rise"]
    assert regular["households"].between(30, 50).all()
    assert set(monaco_result["flag"].dropna()) <= {"high_rise", "detached"}
    assert len(regular) > 100
    # Each high-rise grid holds a building above the maximum.
    biggest = monaco.buildings[monaco.buildings["households"] > 50]
    points = shapely.point_on_surface(np.asarray(biggest.geometry.values))
    assert shapely.intersects(np.asarray(towers.geometry.values)[:, None], points).any(axis=1).all()


def test_monaco_grids_are_deterministic(
    monaco: MonacoData, monaco_result: gpd.GeoDataFrame
) -> None:
    again = monaco_grids(monaco)
    assert list(again["code"]) == list(monaco_result["code"])
    assert list(again["households"]) == list(monaco_result["households"])
    assert all(shapely.equals_exact(again.geometry, monaco_result.geometry, tolerance=0))


def test_monaco_grid_geometry_is_multipolygon(monaco_result: gpd.GeoDataFrame) -> None:
    assert all(isinstance(g, MultiPolygon) for g in monaco_result.geometry)


# --- hard ranges and whole grids ----------------------------------------------------------


def city_blocks(n: int, *, seed: int) -> gpd.GeoDataFrame:
    """Residential blocks of 12–48 households, as in a county town: few per grid."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = AREA.bounds
    sizes = rng.choice([12, 18, 24, 24, 30, 36, 36, 48], n)
    return gpd.GeoDataFrame(
        {"households": sizes},
        geometry=gpd.points_from_xy(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)),
        crs="EPSG:4326",
    )


@pytest.mark.parametrize("seed", [7, 13, 17])
def test_blocks_of_12_to_48_households_still_make_grids_of_30_to_50(seed: int) -> None:
    buildings = city_blocks(70, seed=seed)
    result = generate_grids(AREA, buildings, code_prefix="X")

    assert_partition(AREA, buildings, result)
    assert result.grids["households"].between(30, 50).all(), result.report_text()
    assert result.report["out_of_range"] == 0


def test_a_village_total_that_allows_three_grids_gets_three_in_range() -> None:
    # 118 households: three grids of 30–50 fit, four would not.
    rng = np.random.default_rng(21)
    xy = rng.normal([112.905, 35.785], 0.0012, (118, 2))
    buildings = gpd.GeoDataFrame(
        {"households": np.ones(118, dtype=int)},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs="EPSG:4326",
    )
    result = generate_grids(AREA, buildings, code_prefix="X")

    assert_partition(AREA, buildings, result)
    assert len(result.grids) == 3
    assert result.grids["households"].between(30, 50).all()


# A C-shaped area: the cells of houses along one arm reach across the gap into the other
# arm, where they are cut off from their house by the outline.
C_SHAPE = shapely.Polygon(
    [
        (112.900, 35.780),
        (112.910, 35.780),
        (112.910, 35.783),
        (112.902, 35.783),
        (112.902, 35.787),
        (112.910, 35.787),
        (112.910, 35.790),
        (112.900, 35.790),
    ]
)


def test_grids_are_one_piece_where_the_outline_cuts_cells_apart() -> None:
    rng = np.random.default_rng(31)
    minx, miny, maxx, maxy = C_SHAPE.bounds
    xy = rng.uniform([minx, miny], [maxx, maxy], (2000, 2))
    xy = xy[shapely.contains_xy(C_SHAPE, xy[:, 0], xy[:, 1])][:300]
    buildings = gpd.GeoDataFrame(
        {"households": rng.integers(0, 9, len(xy))},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs="EPSG:4326",
    )
    result = generate_grids(C_SHAPE, buildings, code_prefix="X")

    assert_partition(C_SHAPE, buildings, result)
    pieces = shapely.get_num_geometries(np.asarray(result.grids.geometry.values))
    assert (pieces == 1).all()
    assert result.grids["households"].between(30, 50).all()


def test_every_monaco_grid_is_one_piece(monaco_result: gpd.GeoDataFrame) -> None:
    # On Monaco's real streets, La Condamine's ward has a small second part with no
    # building: it was given to the nearest grid, which came out in two pieces 56 m apart.
    pieces = shapely.get_num_geometries(np.asarray(monaco_result.geometry.values))
    assert (pieces == 1).all(), list(monaco_result.loc[pieces > 1, "code"])
    # (With the coastal slivers joined to their wards, La Condamine's part may touch the
    # rest; a detached grid, where there is one, says why: the synthetic case is below.)
    detached = monaco_result[monaco_result["flag"] == "detached"]
    assert detached["reason"].str.contains("separate part").all()


def test_a_part_of_the_area_without_buildings_is_its_own_flagged_grid() -> None:
    # Two islands: the small one has no building. Joined to a grid it would make that grid
    # two pieces; it becomes an empty grid of its own, flagged with the reason.
    islet = box(112.912, 35.780, 112.913, 35.781)
    area = MultiPolygon([AREA, islet])
    buildings = village(300, seed=41)
    result = generate_grids(area, buildings, code_prefix="X")

    assert_partition(area, buildings, result)
    pieces = shapely.get_num_geometries(np.asarray(result.grids.geometry.values))
    assert (pieces == 1).all()
    holder = result.grids[result.grids.geometry.intersection(islet).area > 0]
    assert len(holder) == 1
    assert holder.geometry.iloc[0].symmetric_difference(islet).area < 1e-12
    assert holder["flag"].iloc[0] == "detached"
    assert holder["households"].iloc[0] == 0
    assert "separate part" in holder["reason"].iloc[0]
    assert result.grids.loc[result.grids["flag"].isna(), "reason"].isna().all()


def test_houses_on_an_island_make_a_flagged_grid_not_a_second_piece() -> None:
    # A few houses on an exclave: too few for a grid, but joining them to the nearest
    # grid across the water would make it two pieces.
    islet = box(112.912, 35.780, 112.913, 35.781)
    area = MultiPolygon([AREA, islet])
    main = village(300, seed=43)
    island = gpd.GeoDataFrame(
        {"households": [3, 4, 2]},
        geometry=gpd.points_from_xy([112.9123, 112.9125, 112.9127], [35.7803, 35.7805, 35.7807]),
        crs="EPSG:4326",
    )
    buildings = gpd.GeoDataFrame(
        pd.concat([main, island], ignore_index=True), geometry="geometry", crs="EPSG:4326"
    )
    result = generate_grids(area, buildings, code_prefix="X")

    assert_partition(area, buildings, result)
    assert (shapely.get_num_geometries(np.asarray(result.grids.geometry.values)) == 1).all()
    on_island = result.grids[result.grids.geometry.intersection(islet).area > 0]
    assert list(on_island["households"]) == [9]
    assert list(on_island["flag"]) == ["detached"]


def test_a_small_community_in_two_parts_makes_two_grids_not_one_in_pieces() -> None:
    islet = box(112.912, 35.780, 112.913, 35.781)
    area = MultiPolygon([AREA, islet])
    buildings = village(4, seed=5)  # a handful of households: one grid if it were one part
    result = generate_grids(area, buildings, code_prefix="X")

    assert_partition(area, buildings, result)
    assert len(result.grids) == 2
    assert (shapely.get_num_geometries(np.asarray(result.grids.geometry.values)) == 1).all()
