"""An operator types a grid code, part of a name, a team or an event number into the
command view's search box and gets back places to fly to, inside their own jurisdiction
only (GET /api/search, on the small county of tests/factories.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gridmap.access import accounts
from gridmap.db import make_engine, session_factory
from gridmap.errors import InvalidInput
from gridmap.search import check_query
from gridmap.settings import Settings
from tests import factories as f
from tests.conftest import create_database, drop_database


@dataclass
class County:
    client: TestClient
    county_operator: dict[str, str]  # headers
    west_operator: dict[str, str]  # township T1 only
    west_event: int  # reported in grid G1 (township T1)
    east_event: int  # reported in a grid of township T2


def _report(client: TestClient, headers: dict[str, str], grid: str, external_id: str) -> int:
    lon, lat = f.SmallCounty.grid_center(grid)
    made = client.post(
        "/api/events",
        headers=headers,
        json={
            "source": "12345",
            "external_id": external_id,
            "category": "ROAD",
            "description": "路面塌陷",
            "location": {"lon": lon, "lat": lat},
            "reported_at": "2026-11-21T09:30:00+08:00",
        },
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


@pytest.fixture(scope="module")
def county(
    server_url: str, small_county_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[County]:
    name = f"gridmap_search_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=small_county_template)
    engine = make_engine(url, pool_size=2)
    with session_factory(engine)() as s:
        _, county_token = accounts.create_token(
            s, name="county-operator", role="operator", area_codes=[f.COUNTY]
        )
        _, west_token = accounts.create_token(
            s, name="west-operator", role="operator", area_codes=[f.T1]
        )
        s.commit()
    settings = Settings(
        database_url=url, home=Path(tmp_path_factory.mktemp("search")), auth_required=True
    )
    try:
        with TestClient(create_app(settings)) as client:
            county_headers = {"Authorization": f"Bearer {county_token}"}
            east_grid = f"{f.C3}001"
            yield County(
                client=client,
                county_operator=county_headers,
                west_operator={"Authorization": f"Bearer {west_token}"},
                west_event=_report(client, county_headers, f.G1, "S-1"),
                east_event=_report(client, county_headers, east_grid, "S-2"),
            )
    finally:
        engine.dispose()
        drop_database(server_url, name)


def _search(county: County, q: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    response = county.client.get(
        "/api/search", params={"q": q, **params}, headers=headers or county.county_operator
    )
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_a_code_finds_its_area_first_then_the_areas_whose_codes_start_with_it(
    county: County,
) -> None:
    hits = _search(county, f.C1)
    # Areas first; then the teams whose names carry the code (the test county names them so).
    kinds = [h["kind"] for h in hits]
    assert kinds == sorted(kinds, key=["area", "team"].index) and "team" in kinds
    hits = [h for h in hits if h["kind"] == "area"]
    assert [(h["kind"], h["code"], h["match"]) for h in hits] == [
        ("area", f.C1, "code"),
        ("area", f"{f.C1}001", "code_prefix"),
        ("area", f"{f.C1}002", "code_prefix"),
        # The school's dedicated grid sits under G1: its code starts with C1 too.
        ("area", f.SCHOOL, "code_prefix"),
    ]
    community, grid = hits[0], hits[1]
    assert community["layer"] == "community" and community["name"] == "西南社区"
    # The page flies to the bbox: west, south, east, north.
    assert community["bbox"] == pytest.approx([112.90, 35.78, 112.92, 35.80])
    assert grid["layer"] == "grid" and grid["bbox"] == pytest.approx([112.90, 35.78, 112.91, 35.80])


def test_typing_the_beginning_of_a_code_lists_higher_layers_first(county: County) -> None:
    hits = _search(county, f.T2[:-1])  # "99010100": both townships and all below
    hits = [h for h in hits if h["kind"] == "area"]
    layers = [h["layer"] for h in hits if h["kind"] == "area"]
    assert layers[:2] == ["township", "township"]
    assert layers.index("community") < layers.index("grid")
    assert len(hits) == 10  # the default limit of areas
    assert len([h for h in _search(county, f.T2[:-1], limit=3) if h["kind"] == "area"]) == 3


def test_part_of_a_chinese_name_finds_the_area(county: County) -> None:
    hits = [h for h in _search(county, "北社区") if h["kind"] == "area"]
    assert {(h["code"], h["name"]) for h in hits} == {(f.C2, "西北社区"), (f.C4, "东北社区")}
    grid = [h for h in _search(county, "3网格") if h["kind"] == "area"]
    assert [(h["layer"], h["name"]) for h in grid] == [("grid", "第3网格")]


def test_an_event_number_finds_the_event_with_its_point(county: County) -> None:
    for q in (str(county.west_event), f"#{county.west_event}"):
        hits = _search(county, q)
        event = hits[0]
        assert event["kind"] == "event" and event["id"] == county.west_event
        assert event["name"] == "道路破损" and event["status"] == "reported"
        assert event["point"] == pytest.approx(list(f.SmallCounty.grid_center(f.G1)))
        assert event["grid_code"] == f.G1


def test_a_team_is_found_by_name_with_its_department_and_areas(county: County) -> None:
    hits = _search(county, "消防")
    assert [(h["kind"], h["code"]) for h in hits] == [("team", "D-XF")]
    assert hits[0]["department"] == {"code": "XF", "name": "消防救援大队"}

    enforcement = _search(county, "D-ZF")[0]
    assert enforcement["name"] == "综合行政执法局值班组" and enforcement["match"] == "code"
    # On duty for both enforcement zones: the map flies to both.
    assert {a["code"] for a in enforcement["areas"]} == {f.ZONE_WEST, f.ZONE_EAST}
    assert enforcement["bbox"] == pytest.approx([112.90, 35.78, 112.94, 35.82])

    grid_team = _search(county, f"T-{f.G1}")[0]
    assert grid_team["kind"] == "team"
    assert [(a["layer"], a["code"]) for a in grid_team["areas"]] == [("grid", f.G1)]
    assert grid_team["bbox"] == pytest.approx([112.90, 35.78, 112.91, 35.80])


def test_a_township_operator_finds_only_what_lies_in_the_township(county: County) -> None:
    west = county.west_operator
    east_grid = f"{f.C3}001"
    assert [h for h in _search(county, east_grid, west) if h["kind"] == "area"] == []
    assert [h["code"] for h in _search(county, f.G1, west)][:1] == [f.G1]
    # The same name part finds only the township's own community.
    names = {h["name"] for h in _search(county, "北社区", west) if h["kind"] == "area"}
    assert names == {"西北社区"}

    # Events: the other township's does not exist for this operator.
    def events(q: str) -> list[int]:
        return [h["id"] for h in _search(county, q, west) if h["kind"] == "event"]

    assert events(str(county.west_event)) == [county.west_event]
    assert events(str(county.east_event)) == []
    # Teams: the other township's grid team is not found; the shared zone's lead unit is.
    assert _search(county, f"T-{east_grid}", west) == []
    zf = _search(county, "D-ZF", west)[0]
    assert [a["code"] for a in zf["areas"]] == [f.ZONE_WEST]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({}, "q"),
        ({"q": "网格\x00"}, "q"),
        ({"q": "1" * 101}, "q"),
        ({"q": "网格", "limit": "0"}, "limit"),
        ({"q": "网格", "limit": "51"}, "limit"),
        ({"q": "网格", "limit": "ten"}, "limit"),
    ],
)
def test_bad_input_is_refused_with_what_was_wrong(
    county: County, params: dict[str, str], field: str
) -> None:
    response = county.client.get("/api/search", params=params, headers=county.county_operator)
    assert response.status_code == 422, response.text
    assert field in response.text


def test_text_the_database_cannot_hold_is_refused_before_it_gets_there() -> None:
    for bad in ("a\x00b", "\ud800", "\x1b[31m"):
        with pytest.raises(InvalidInput, match="not searchable"):
            check_query(bad)
    assert check_query("  北城街道 ") == "北城街道"


def test_wildcards_and_huge_numbers_are_taken_literally(county: County) -> None:
    assert _search(county, "%") == []
    assert _search(county, "_") == []
    assert _search(county, "9" * 25) == []  # no event id that large; no code either
