"""The readers behind `gridmap county`: the NBS division list of every township kind, the
outline as a bare geometry, buildings with estimated households (a file and a real OSM
extract), teams in a workbook; and bad input named by file, row and column with nothing
stored."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.county_buildings import read_buildings
from geodata.county_directory import read_teams
from geodata.county_outline import read_outline
from geodata.divisions import read_division_list
from geodata.monaco import DEFAULT_BOUNDARY, DEFAULT_PBF
from gridmap.crs import wgs84_to_gcj02
from gridmap.errors import DataFileError
from gridmap_cli.main import app

KINDS = """code,name
450000000000,某省,
450123000000,某县
450123001000,城关街道办事处
450123100000,某某镇
450123200000,某某乡
450123201000,某某瑶族乡
450123400000,某某经济开发区管委会
450123401000,某某管理处
450123402000,国营某某农场
450123403000,国营某某林场
450123404000,某某茶场
450123001001,东门社区居委会
450123100201,某某村委会
450123400498,开发区虚拟社区
"""


def write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def test_every_township_kind_of_a_real_list_is_read(tmp_path: Path) -> None:
    lines = KINDS.splitlines()
    lines = [lines[0], *lines[2:]]  # no province row
    found = read_division_list(write(tmp_path / "d.csv", "\n".join(lines)))
    kinds = {d.name: d.kind for d in found}
    assert kinds["城关街道办事处"] == "street"
    assert kinds["某某镇"] == "town"
    assert kinds["某某乡"] == kinds["某某瑶族乡"] == "township"
    assert kinds["某某经济开发区管委会"] == "zone"
    assert kinds["某某管理处"] == "office"
    assert kinds["国营某某农场"] == kinds["国营某某林场"] == kinds["某某茶场"] == "farm"
    assert kinds["东门社区居委会"] == "urban"
    assert kinds["某某村委会"] == "rural"
    assert kinds["开发区虚拟社区"] == "virtual"
    codes = {d.name: (d.code, d.parent_code) for d in found}
    assert codes["城关街道办事处"] == ("450123001", "450123")
    assert codes["东门社区居委会"] == ("450123001001", "450123001")


def test_a_bad_division_row_is_named_by_row_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        "code,name\n450123000000,某县\n450123001000,城关街道\n45012300100X,坏代码\n"
        "450123999001,孤儿社区居委会\n",
    )
    with pytest.raises(DataFileError) as caught:
        read_division_list(path)
    problems = caught.value.details["problems"]
    assert {(p["row"], p["column"]) for p in problems} == {(4, "code"), (5, "code")}
    assert "row 4, column code" in caught.value.message
    assert "its township 450123999 is not listed" in caught.value.message


def test_a_bare_gcj02_outline_keeps_its_code_and_is_converted(tmp_path: Path) -> None:
    wgs = box(113.50, 36.10, 113.52, 36.12)
    gcj = shapely.transform(wgs, lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1])))
    data = json.loads(shapely.to_geojson(gcj))
    data["adcode"] = 990201
    path = write(tmp_path / "o.geojson", json.dumps(data))

    outline = read_outline(path, crs="gcj02", code_field="adcode")
    assert outline.code == "990201"
    # The GCJ-02 edges are densified before converting, so they follow the true image of
    # the straight WGS84 edges: within centimetres of the original box.
    assert shapely.hausdorff_distance(outline.geometry, wgs) < 5e-7
    with pytest.raises(DataFileError, match="never guessed"):
        read_outline(path)


def test_households_are_estimated_from_footprints_as_documented(tmp_path: Path) -> None:
    # 30 m × 20 m at 36° N: about 600 m².
    dx, dy = 30 / (111_320 * np.cos(np.radians(36.1))), 20 / 110_574
    frame = gpd.GeoDataFrame(
        {"kind": ["apartments", "school", "house"], "floors": [6, 3, None]},
        geometry=[box(113.50, 36.10, 113.50 + dx, 36.10 + dy)] * 3,
        crs="EPSG:4326",
    )
    path = tmp_path / "b.gpkg"
    frame.to_file(path, driver="GPKG")
    found = read_buildings(path, outline=box(113.4, 36.0, 113.6, 36.2), floors_column="floors")
    # round(600 × 6 × 0.85 / 90) = 34; a school has no households; a house 600 × 2 × 1 / 90.
    assert list(found.rows.households) == [34, 0, 13]
    assert found.estimated == 3 and all(a["estimated"] for a in found.rows.attributes)


def test_osm_buildings_get_estimated_households_inside_the_outline() -> None:
    outline = shapely.union_all(gpd.read_file(DEFAULT_BOUNDARY).geometry.values)
    found = read_buildings(DEFAULT_PBF, outline=outline)
    assert found.outside > 0  # the French side of the border is left out
    assert len(found.rows.codes) > 800 and found.households > 10_000
    assert all(code.startswith(("way/", "relation/")) for code in found.rows.codes)


def test_a_team_sheet_with_a_wrong_role_names_the_cell(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "teams"
    sheet.append(["team_code", "team_name", "level", "member_name", "member_role"])
    sheet.append(["T-1", "一组", "grid", "甲", "网格长"])
    sheet.append(["T-1", "一组", "grid", "乙", "队长"])
    sheet.append(["T-2", "二组", "village", None, None])
    path = tmp_path / "t.xlsx"
    book.save(path)
    with pytest.raises(DataFileError) as caught:
        read_teams(path)
    where = {(p["row"], p["column"], p["sheet"]) for p in caught.value.details["problems"]}
    assert where == {(3, "member_role", "teams"), (4, "level", "teams")}


def test_a_bad_file_through_the_command_line_stores_nothing(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path / "d.csv", "code,name\n450123000000,某县\n4501230010,短代码\n")
    env = {"GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(app, ["county", "divisions", str(path), "--commit"], env=env)
    assert result.exit_code == 1
    assert "row 3, column code" in result.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM division")).scalar() == 0


def test_county_buildings_reports_the_osm_ways_it_skipped_and_repaired(
    db_url: str, tmp_path: Path
) -> None:
    """A raw OSM extract with a 2-point ring and a bow tie: the dry run keeps the good
    buildings and names each skipped and repaired way by its OSM id, in text and JSON."""
    from tests.osm_files import write_osm_pbf
    from tests.test_readers_robust import NODES, WAYS, X, Y

    outline = box(X - 0.01, Y - 0.01, X + 0.01, Y + 0.01)
    outline_file = write(tmp_path / "o.geojson", shapely.to_geojson(outline))
    pbf = write_osm_pbf(tmp_path / "extract.osm.pbf", NODES, WAYS)
    env = {"GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(tmp_path / "home")}

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    run(
        "county",
        "init",
        "990301",
        "--name",
        "测试县",
        "--outline",
        str(outline_file),
        "--crs",
        "wgs84",
        "--commit",
    )
    text_report = run("county", "buildings", str(pbf), "--county", "990301")
    assert "2 feature(s) skipped" in text_report, text_report
    assert "way/102" in text_report and "way/103" in text_report
    assert "1 feature(s) repaired" in text_report and "way/101" in text_report
    assert "dry run" in text_report
    report = json.loads(run("county", "buildings", str(pbf), "--county", "990301", "--json"))
    assert sorted(e["code"] for e in report["skipped"]) == ["way/102", "way/103"]
    assert [e["code"] for e in report["repaired"]] == ["way/101"]
