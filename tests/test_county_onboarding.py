"""A new county onboarded from its own files with `gridmap county …` alone, beside another
county: an outline in GCJ-02 (a bare geometry), an NBS division list with unusual township
kinds, township polygons, committee points, buildings, and teams/duties/rules in CSV and
XLSX. Every step is a dry run until --commit and changes nothing the second time; `county
check` then says ready, and an event posted in the county reaches its team and a decision."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import Polygon, box
from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from api.app import create_app
from geodata.county_outline import read_outline
from gridmap.crs import wgs84_to_gcj02
from gridmap.settings import Settings
from gridmap_cli.main import app
from tests import factories as f

CODE = "990201"
NAME = "测试新县"
# Three townships of kinds the old reader refused, two or three committees each.
TOWNSHIPS = [
    ("990201001", "东城街道办事处"),
    ("990201400", "新区管委会"),
    ("990201500", "国营林场"),
]
COMMUNITIES = [
    ("990201001001", "东关社区居委会", "990201001"),
    ("990201001002", "西关社区居委会", "990201001"),
    ("990201001201", "南庄村村委会", "990201001"),
    ("990201400001", "园区社区居委会", "990201400"),
    ("990201400498", "新区虚拟社区", "990201400"),
    ("990201500001", "林场生活区居委会", "990201500"),
    ("990201500201", "北岭村委会", "990201500"),
]
# WGS84: 3 km by 2 km, far from the small county (112.90–112.94 E).
OUTLINE_WGS84 = Polygon(
    [(113.500, 36.100), (113.534, 36.100), (113.534, 36.116), (113.520, 36.122), (113.500, 36.120)]
)
CUTS = (113.511, 113.523)  # township strips, west to east


def _gcj(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1])))


def _files(tmp: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    # The outline as Amap gives it: a bare GCJ-02 geometry, the code beside "coordinates".
    outline = json.loads(shapely.to_geojson(_gcj(OUTLINE_WGS84)))
    outline["adcode"] = CODE
    files["outline"] = tmp / "outline_gcj02.geojson"
    files["outline"].write_text(json.dumps(outline))

    lines = ["统计用区划代码,名称,城乡分类代码", f"{CODE}000000,{NAME},"]
    lines += [f"{code}000,{name}," for code, name in TOWNSHIPS]
    lines += [f"{code},{name},{'220' if '村' in name else '111'}" for code, name, _ in COMMUNITIES]
    files["divisions"] = tmp / "divisions.csv"
    files["divisions"].write_text("\n".join(lines) + "\n", encoding="utf-8")

    # Townships as polygons in WGS84, cut from the outline as it is stored (so they tile it).
    stored = read_outline(files["outline"], crs="gcj02").geometry
    strips = [
        box(113.4, 36.0, CUTS[0], 36.2),
        box(CUTS[0], 36.0, CUTS[1], 36.2),
        box(CUTS[1], 36.0, 113.6, 36.2),
    ]
    townships = gpd.GeoDataFrame(
        {"NAME": [n for _, n in TOWNSHIPS]},  # matched by name: the file has no codes
        geometry=[stored.intersection(s) for s in strips],
        crs="EPSG:4326",
    )
    files["townships"] = tmp / "townships.gpkg"
    townships.to_file(files["townships"], driver="GPKG")

    # One point per committee (the village office), in GCJ-02, as a CSV.
    rng = np.random.default_rng(7)
    rows = ["code,name,lon,lat"]
    for code, name, parent in COMMUNITIES:
        strip = strips[[t for t, _ in TOWNSHIPS].index(parent)].intersection(OUTLINE_WGS84)
        x0, y0, x1, y1 = strip.buffer(-0.001).bounds
        while True:
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if strip.buffer(-0.0005).contains(shapely.Point(x, y)):
                break
        gx, gy = wgs84_to_gcj02(np.array([x]), np.array([y]))
        rows.append(f"{code},{name},{gx[0]:.7f},{gy[0]:.7f}")
    files["points"] = tmp / "committees.csv"
    files["points"].write_text("\n".join(rows) + "\n", encoding="utf-8")

    # Buildings: points with households, spread over the county.
    x0, y0, x1, y1 = OUTLINE_WGS84.bounds
    xy = rng.uniform([x0, y0], [x1, y1], (3000, 2))
    xy = xy[shapely.contains_xy(stored.buffer(-0.0002), xy[:, 0], xy[:, 1])][:700]
    buildings = gpd.GeoDataFrame(
        {"bid": [f"B{i:05d}" for i in range(len(xy))], "hh": rng.integers(1, 5, len(xy))},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs="EPSG:4326",
    )
    files["buildings"] = tmp / "buildings.gpkg"
    buildings.to_file(files["buildings"], driver="GPKG")

    # Teams and rules in one workbook (sheets teams, rules); duties as CSV.
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "teams"
    sheet.append(
        [
            "队伍编码",
            "队伍名称",
            "层级",
            "部门编码",
            "部门名称",
            "电话",
            "成员姓名",
            "成员角色",
            "成员电话",
        ]
    )
    sheet.append(
        [
            f"T-{CODE}",
            f"{NAME}指挥中心值班组",
            "county",
            None,
            None,
            "0356-1",
            "甲",
            "带班领导",
            "13900000001",
        ]
    )
    sheet.append(
        [
            f"T-{CODE}",
            f"{NAME}指挥中心值班组",
            "county",
            None,
            None,
            "0356-1",
            "乙",
            "duty_officer",
            "13900000002",
        ]
    )
    for code, name, _ in COMMUNITIES:
        sheet.append(
            [
                f"T-{code}",
                f"{name}值班组",
                "community",
                None,
                None,
                None,
                "丙",
                "网格长",
                "13900000003",
            ]
        )
    sheet.append(
        [
            "T-ZHZF",
            "执法局值班组",
            "department",
            "ZHZF",
            "测试新县综合行政执法局",
            "0356-2",
            "丁",
            "duty_leader",
            "13900000004",
        ]
    )
    rules = book.create_sheet("rules")
    rules.append(
        [
            "code",
            "name",
            "name_en",
            "group",
            "mode",
            "department_code",
            "default_priority",
            "response_minutes",
            "time_limit_hours",
        ]
    )
    rules.append(
        [
            "CG01",
            "违法建设",
            "Illegal construction",
            "城市管理",
            "cooperate",
            "ZHZF",
            "key",
            120,
            72,
        ]
    )
    rules.append(
        ["CG02", "占道经营", "Street vending", "城市管理", "self", None, "routine", 240, 24]
    )
    files["workbook"] = tmp / "directory.xlsx"
    book.save(files["workbook"])

    duty_rows = ["layer,area_code,team_code,role", f"county,{CODE},T-{CODE},responsible"]
    duty_rows += [f",{code},T-{code}," for code, _, _ in COMMUNITIES]  # layer and role blank
    files["duties"] = tmp / "duties.csv"
    files["duties"].write_text("\n".join(duty_rows) + "\n", encoding="utf-8")
    return files


TABLES = (
    "boundary_version",
    "area",
    "division",
    "building",
    "department",
    "team",
    "member",
    "duty",
    "category",
    "responsibility_rule",
)


def fingerprint(engine: Engine) -> dict[str, str]:
    """Every row of every table onboarding may touch, hashed table by table."""
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            rows = conn.execute(text(f"SELECT t::text FROM {table} t ORDER BY 1")).scalars()
            out[table] = hashlib.sha1("\n".join(rows).encode()).hexdigest()
    return out


def county_rows(engine: Engine, county: str) -> list[str]:
    """The current rows of one county, as text."""
    with engine.connect() as conn:
        return [
            *conn.execute(
                text(
                    "SELECT a::text FROM area a WHERE county_code = :c AND valid_to IS NULL "
                    "ORDER BY 1"
                ),
                {"c": county},
            ).scalars(),
            *conn.execute(
                text("SELECT t::text FROM team t WHERE county_code = :c ORDER BY 1"), {"c": county}
            ).scalars(),
            *conn.execute(
                text("SELECT d::text FROM duty d WHERE county_code = :c ORDER BY 1"), {"c": county}
            ).scalars(),
            *conn.execute(
                text("SELECT r::text FROM responsibility_rule r WHERE county_code = :c ORDER BY 1"),
                {"c": county},
            ).scalars(),
        ]


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    """The small county (990101) is already there: the new county goes beside it."""
    return str(request.getfixturevalue("small_county_db_url"))


@pytest.fixture
def gridmap(db_url: str, tmp_path: Path) -> Iterator[object]:
    runner = CliRunner()
    env = {"GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(tmp_path / "home")}

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(app, list(args), env=env)
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    yield run


def step(gridmap, engine: Engine, *args: str) -> Result:  # type: ignore[no-untyped-def]
    """Dry run (writes nothing), commit (writes), and again (changes nothing)."""
    before = fingerprint(engine)
    dry = gridmap(*args)
    assert fingerprint(engine) == before, f"dry run of {args} wrote something"
    kept = gridmap(*args, "--commit")
    after = fingerprint(engine)
    assert after != before, f"{args} --commit changed nothing\n{kept.output}"
    again = gridmap(*args, "--commit")
    assert fingerprint(engine) == after, f"second {args} --commit changed something"
    assert "nothing to change" in again.output, again.output
    return dry


def test_a_county_is_onboarded_from_its_own_files_and_its_events_reach_its_teams(
    gridmap,
    engine: Engine,
    db_url: str,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    files = _files(tmp_path)
    small_county = county_rows(engine, f.COUNTY)

    dry = step(
        gridmap,
        engine,
        "county",
        "init",
        CODE,
        "--name",
        NAME,
        "--outline",
        str(files["outline"]),
        "--crs",
        "gcj02",
        "--code-field",
        "adcode",
    )
    assert "dry run" in dry.output and "+ county 990201" in dry.output

    dry = step(gridmap, engine, "county", "divisions", str(files["divisions"]))
    assert "1 township farm" in dry.output and "1 township zone" in dry.output
    assert "1 township street" in dry.output and "1 community virtual" in dry.output
    assert "10 added" in dry.output

    step(
        gridmap,
        engine,
        "county",
        "areas",
        str(files["townships"]),
        "--layer",
        "township",
        "--county",
        CODE,
        "--crs",
        "wgs84",
        "--name-field",
        "NAME",
    )
    step(
        gridmap,
        engine,
        "county",
        "areas",
        str(files["points"]),
        "--layer",
        "community",
        "--county",
        CODE,
        "--crs",
        "gcj02",
    )
    step(
        gridmap,
        engine,
        "county",
        "buildings",
        str(files["buildings"]),
        "--county",
        CODE,
        "--crs",
        "wgs84",
        "--households-column",
        "hh",
        "--code-column",
        "bid",
    )
    dry = step(gridmap, engine, "county", "grids", "--county", CODE)
    assert "grids in 7 communities" in dry.output

    not_yet = gridmap("county", "check", "--county", CODE, ok=False)
    assert not_yet.exit_code == 1 and "NOT READY" in not_yet.output

    step(gridmap, engine, "county", "teams", str(files["workbook"]), "--county", CODE)
    step(gridmap, engine, "county", "duties", str(files["duties"]), "--county", CODE)
    step(gridmap, engine, "county", "rules", str(files["workbook"]), "--county", CODE)

    ready = gridmap("county", "check", "--county", CODE)
    assert "READY to take events" in ready.output, ready.output
    report = json.loads(gridmap("county", "check", "--county", CODE, "--json").output)
    assert report["ready"] and len(report["samples"]) >= 5
    assert all(s["team"] and s["decision"] for s in report["samples"])

    with engine.connect() as conn:
        grids = conn.execute(
            text(
                "SELECT households, attributes, ST_NumGeometries(geom) AS parts FROM area "
                "WHERE county_code = :c AND layer = 'grid' AND valid_to IS NULL"
            ),
            {"c": CODE},
        ).all()
        kinds: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT code, kind FROM area WHERE county_code = :c AND layer = 'township' "
                    "AND valid_to IS NULL"
                ),
                {"c": CODE},
            ).all()
        )
        provisional = conn.execute(
            text(
                "SELECT count(*) FROM area WHERE county_code = :c AND layer = 'community' "
                "AND valid_to IS NULL AND (attributes->>'provisional')::boolean"
            ),
            {"c": CODE},
        ).scalar()
    assert len(grids) >= 20 and all(g.parts == 1 for g in grids)
    assert all(30 <= g.households <= 50 or g.attributes.get("exception_reason") for g in grids)
    assert kinds == {"990201001": "street", "990201400": "zone", "990201500": "farm"}
    assert provisional == 7

    # The small county beside it is untouched: the same areas, teams, duties and rules.
    assert county_rows(engine, f.COUNTY) == small_county

    # An event in the new county, posted through the API, reaches its team and a decision.
    point = OUTLINE_WGS84.centroid
    gx, gy = wgs84_to_gcj02(np.array([point.x]), np.array([point.y]))
    settings = Settings(database_url=db_url, home=tmp_path / "api")
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/api/events",
            json={
                "source": "12345",
                "external_id": "NEW-COUNTY-1",
                "category": "CG01",
                "description": "违法建设",
                "location": {"lon": float(gx[0]), "lat": float(gy[0]), "crs": "gcj02"},
                "reported_at": "2026-12-03T09:30:00+08:00",
            },
        )
        assert response.status_code == 201, response.text
        event = response.json()
        categories = client.get("/api/categories", params={"county": CODE})
    assert event["county_code"] == CODE
    assert event["grid_code"].startswith("990201")
    assert event["team"] is not None and event["team"]["code"].startswith("T-990201")
    assert event["handling_mode"] == "cooperate"
    assert categories.status_code == 200
    assert [c["code"] for c in categories.json()["categories"]] == ["CG01", "CG02"]


def test_the_gaoping_demo_passes_the_readiness_check_a_new_county_must_pass(
    gaoping_db_url: str, tmp_path: Path
) -> None:
    env = {"GRIDMAP_DATABASE_URL": gaoping_db_url, "GRIDMAP_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(app, ["county", "check", "--county", "140581", "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ready"], [c for c in report["checks"] if not c["ok"]]
    by_name = {c["check"]: c for c in report["checks"]}
    assert "353 divisions listed, 353 with their area" in by_name["divisions"]["summary"]
    assert len(report["samples"]) == 20
