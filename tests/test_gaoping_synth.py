"""The Gaoping demo: real outline, real names and codes, synthetic geometry that tiles exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.gaoping import (
    DISCLAIMER,
    GaopingData,
    synthesise_gaoping,
    teams_for_grids,
)
from geodata.responsibility import read_departments
from gridmap.crs import wgs84_to_gcj02
from gridmap.errors import InvalidInput

SAMPLES = Path(__file__).resolve().parent.parent / "geodata" / "samples" / "gaoping"


@pytest.fixture(scope="module")
def gaoping() -> GaopingData:
    return synthesise_gaoping()


def official(level: str) -> set[tuple[str, str, str]]:
    with (SAMPLES / "140581_divisions.csv").open(encoding="utf-8") as handle:
        return {
            (row["code"], row["name"], row["parent_code"])
            for row in csv.DictReader(handle)
            if row["level"] == level
        }


def area_sym_diff(a: shapely.Geometry, b: shapely.Geometry) -> float:
    return float(shapely.area(shapely.symmetric_difference(a, b)))


def test_the_demo_says_plainly_that_its_geometry_is_synthetic(gaoping: GaopingData) -> None:
    assert "synthetic geometry inside a real outline" in DISCLAIMER.lower()
    assert gaoping.disclaimer == DISCLAIMER
    for layer in (gaoping.county, gaoping.townships, gaoping.communities, gaoping.zones):
        assert all(a["synthetic"] is True for a in layer["attributes"])


def test_fifteen_townships_and_338_communities_carry_the_official_codes_and_names(
    gaoping: GaopingData,
) -> None:
    townships = set(gaoping.townships[["code", "name", "parent_code"]].itertuples(index=False))
    communities = set(gaoping.communities[["code", "name", "parent_code"]].itertuples(index=False))
    assert len(gaoping.townships) == 15 and townships == official("township")
    assert len(gaoping.communities) == 338 and communities == official("community")
    assert gaoping.county.iloc[0][["code", "name"]].tolist() == ["140581", "高平市"]
    for layer in (gaoping.county, gaoping.townships, gaoping.communities, gaoping.zones):
        assert layer.crs.to_epsg() == 4326
        assert set(layer.geom_type) == {"MultiPolygon"}
        assert {"code", "name", "layer", "parent_code", "households", "kind"} <= set(layer.columns)


def test_the_outline_is_the_real_one_converted_from_gcj02(gaoping: GaopingData) -> None:
    raw = shapely.from_geojson((SAMPLES / "140581_outline_gcj02.geojson").read_text())
    converted = shapely.get_coordinates(gaoping.county.geometry.iloc[0])
    back = np.column_stack(wgs84_to_gcj02(converted[:, 0], converted[:, 1]))
    # Converting back lands on the file's vertices (an exact inverse)...
    np.testing.assert_allclose(back, shapely.get_coordinates(raw), atol=1e-7)
    # ...and the WGS84 outline really moved: GCJ-02 is offset by hundreds of metres here.
    shift = np.abs(converted - shapely.get_coordinates(raw)).max()
    assert shift > 0.002


def test_townships_tile_the_county_and_communities_tile_their_township(
    gaoping: GaopingData,
) -> None:
    county = gaoping.county.geometry.iloc[0]
    townships = gaoping.townships.geometry.to_numpy()
    communities = gaoping.communities.geometry.to_numpy()

    assert shapely.is_valid(townships).all() and shapely.is_valid(communities).all()
    assert not shapely.is_empty(communities).any()
    # No overlaps, matching shared edges: a valid coverage, layer by layer.
    assert shapely.coverage_is_valid(townships)
    assert shapely.coverage_is_valid(communities)
    # No gaps: the pieces add up to their parent.
    assert area_sym_diff(shapely.coverage_union_all(townships), county) < 1e-9 * county.area
    for township in gaoping.townships.itertuples():
        mine = gaoping.communities[gaoping.communities["parent_code"] == township.code]
        union = shapely.coverage_union_all(mine.geometry.to_numpy())
        assert area_sym_diff(union, township.geometry) < 1e-9 * township.geometry.area
    # Synthetic but plausible: each township is one piece.
    assert [len(g.geoms) for g in townships] == [1] * 15


def test_about_160000_households_denser_in_the_urban_streets(gaoping: GaopingData) -> None:
    buildings = gaoping.buildings
    total = int(buildings["households"].sum())
    assert 152_000 <= total <= 168_000
    assert int(gaoping.county["households"].iloc[0]) == total
    assert int(gaoping.townships["households"].sum()) == total
    assert int(gaoping.zones["households"].sum()) == total

    communities = gaoping.communities.to_crs(32649)  # UTM 49N: areas in m²
    density = communities["households"] / (communities.area / 1e6)
    urban = density[communities["kind"] == "urban"]
    rural = density[communities["kind"] == "rural"]
    assert len(urban) == 30 and len(rural) == 304
    assert urban.median() > 10 * rural.median()

    kind = buildings["kind"]
    assert (buildings.loc[kind == "house", "households"] == 1).all()
    high_rises = buildings[buildings["households"] > 50]
    assert 20 <= len(high_rises) <= 400
    assert set(high_rises["community_code"]) <= set(
        gaoping.communities.loc[gaoping.communities["kind"] != "rural", "code"]
    )
    non_residential = buildings[buildings["households"] == 0]
    assert 200 <= len(non_residential) <= 1_000
    assert {"committee_office", "school", "factory"} <= set(non_residential["kind"])


def test_every_building_lies_inside_its_own_community(gaoping: GaopingData) -> None:
    buildings = gaoping.buildings
    assert buildings["code"].is_unique
    assert set(buildings.geom_type) == {"Point"}
    assert buildings["households"].dtype == np.int64
    geoms = gaoping.communities.set_index("code").geometry
    own = geoms.loc[buildings["community_code"]].to_numpy()
    assert shapely.contains(own, buildings.geometry.to_numpy()).all()
    # Every community has people in it, and its count is what its buildings sum to.
    sums = buildings.groupby("community_code")["households"].sum()
    assert (sums > 0).all()
    assert (
        sums.loc[gaoping.communities["code"]].tolist() == gaoping.communities["households"].tolist()
    )


def test_four_enforcement_zones_each_the_union_of_its_townships_with_a_lead_unit(
    gaoping: GaopingData,
) -> None:
    zones = gaoping.zones
    departments = {d.code for d in read_departments(SAMPLES / "departments.csv")}
    assert len(zones) == 4
    members = [z["township_codes"] for z in zones["attributes"]]
    assert sorted(c for m in members for c in m) == sorted(gaoping.townships["code"])
    # The city zone holds the three urban streets.
    assert {"140581001", "140581002", "140581003"} <= set(members[0])
    by_code = gaoping.townships.set_index("code").geometry
    for zone, codes in zip(zones.itertuples(), members, strict=True):
        assert zone.attributes["lead_department_code"] in departments
        union = shapely.coverage_union_all(by_code.loc[codes].to_numpy())
        assert area_sym_diff(union, zone.geometry) < 1e-9 * zone.geometry.area
    assert shapely.coverage_is_valid(zones.geometry.to_numpy())
    assert [len(g.geoms) for g in zones.geometry] == [1, 1, 1, 1]


def test_the_same_seed_gives_the_same_county_and_another_seed_another(
    gaoping: GaopingData,
) -> None:
    again = synthesise_gaoping()
    for mine, theirs in (
        (gaoping.townships, again.townships),
        (gaoping.communities, again.communities),
        (gaoping.zones, again.zones),
    ):
        assert shapely.equals_exact(mine.geometry.to_numpy(), theirs.geometry.to_numpy(), 0).all()
        assert mine["households"].tolist() == theirs["households"].tolist()
    pd.testing.assert_frame_equal(
        pd.DataFrame(gaoping.buildings.drop(columns="geometry")),
        pd.DataFrame(again.buildings.drop(columns="geometry")),
    )
    assert shapely.equals_exact(
        gaoping.buildings.geometry.to_numpy(), again.buildings.geometry.to_numpy(), 0
    ).all()

    other = synthesise_gaoping(seed=7)
    assert not shapely.equals_exact(
        gaoping.communities.geometry.to_numpy(), other.communities.geometry.to_numpy(), 1e-6
    ).all()
    assert set(other.communities["code"]) == set(gaoping.communities["code"])


def grids_of(codes: dict[str, int]) -> gpd.GeoDataFrame:
    """Grid codes as the generator writes them: the community code and a 3-digit sequence."""
    rows = [(f"{c}{i:03d}", c) for c, n in codes.items() for i in range(1, n + 1)]
    frame = pd.DataFrame(rows, columns=["code", "parent_code"])
    return gpd.GeoDataFrame(frame, geometry=[None] * len(frame), crs=4326)


def test_every_grid_gets_a_one_plus_one_plus_n_team_and_every_level_a_duty_team() -> None:
    # 城西社区居委会 (urban) with 8 grids, 永禄村委会 (a village) with 3.
    plan = teams_for_grids(grids_of({"140581001001": 8, "140581001200": 3}))
    teams = {t.code: t for t in plan.teams}

    grid_team = teams["T-140581001001007"]
    assert (grid_team.name, grid_team.level) == ("城西社区第7网格", "grid")
    assert teams["T-140581001200002"].name == "永禄村第2网格"
    members = [m for m in plan.members if m.team_code == "T-140581001001007"]
    roles = [m.role for m in members]
    assert roles.count("grid_leader") == 1 and roles.count("police") == 1
    assert 1 <= roles.count("grid_worker") <= 2 and roles.count("auxiliary") >= 1
    assert all(len(m.phone) == 11 and m.phone.startswith("1") for m in members)
    assert all(2 <= len(m.name) <= 3 for m in members)
    # The grid leader is the community's secretary: one person for all its grids.
    leaders = {
        (m.name, m.phone)
        for m in plan.members
        if m.role == "grid_leader" and m.team_code.startswith("T-140581001001")
    }
    assert len(leaders) == 1

    duties = {(d.layer, d.area_code): d for d in plan.duties if d.role == "responsible"}
    assert duties[("grid", "140581001001007")].team_code == "T-140581001001007"
    assert duties[("community", "140581001001")].team_code == "T-140581001001"
    assert duties[("township", "140581001")].team_code == "T-140581001"
    assert duties[("county", "140581")].team_code == "T-140581"
    assert sum(1 for d in plan.duties if d.layer == "community") == 338
    assert sum(1 for d in plan.duties if d.layer == "township") == 15

    departments = read_departments(SAMPLES / "departments.csv")
    for dept in departments:
        assert teams[f"T-{dept.code}"].department_code == dept.code
    leads = [d for d in plan.duties if d.layer == "enforcement_zone"]
    assert len(leads) == 4 and {d.role for d in leads} == {"lead"}
    assert all(d.team_code in teams for d in plan.duties)


def test_teams_are_the_same_for_the_same_seed_and_grid() -> None:
    one = teams_for_grids(grids_of({"140581001001": 3}))
    two = teams_for_grids(grids_of({"140581001001": 5}))
    first = [m for m in one.members if m.team_code == "T-140581001001002"]
    assert first == [m for m in two.members if m.team_code == "T-140581001001002"]
    other = teams_for_grids(grids_of({"140581001001": 3}), seed=1)
    assert first != [m for m in other.members if m.team_code == "T-140581001001002"]


def test_grids_of_an_unknown_community_are_refused() -> None:
    with pytest.raises(InvalidInput, match="not Gaoping communities"):
        teams_for_grids(grids_of({"999999999999": 2}))
