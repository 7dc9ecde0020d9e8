"""Address-only events (issue #19): a 12345 ticket with only an address is geocoded at
ingest; a clear one is placed and routed by itself, an unclear one waits in triage with
its candidates and is placed with one click on one of them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from gridmap.boundaries import basemap
from gridmap.db import session_factory
from gridmap.settings import Settings
from tests import factories as f


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("small_county_db_url"))


@pytest.fixture
def client(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    lon, lat = f.SmallCounty.grid_center(f.G1)
    road = shapely.LineString([(lon - 0.004, lat), (lon + 0.004, lat)])
    with session_factory(engine)() as session:
        basemap.store_basemap(
            session,
            county_code=f.COUNTY,
            features=[{"layer": "road", "kind": "primary", "name": "建设路", "geometry": road}],
            addresses=[
                {"kind": "road", "full_text": "建设路", "road": "建设路", "geometry": road},
                {
                    "kind": "building",
                    "full_text": "建设路12号",
                    "road": "建设路",
                    "number": "12",
                    "geometry": shapely.Point(lon + 0.0002, lat + 0.0001),
                },
            ],
            source="test register",
        )
        session.commit()
    settings = Settings(database_url=db_url, home=tmp_path)
    with TestClient(create_app(settings)) as c:
        yield c


def _ticket(external_id: str, address: str) -> dict[str, Any]:
    return {
        "source": "12345",
        "external_id": external_id,
        "category": "ROAD",
        "description": "路面坑洼",
        "address": address,
        "county": f.COUNTY,
        "reported_at": "2026-11-21T09:30:00+08:00",
    }


def test_a_clear_address_is_placed_and_routed_by_itself(client: TestClient) -> None:
    answer = client.post("/api/events", json=_ticket("ADDR-1", "高平市建设路12号"))
    assert answer.status_code == 201, answer.text
    event = answer.json()
    assert event["grid_code"] == f.G1 and event["team"]["code"] == f"T-{f.G1}"
    log = client.get(f"/api/events/{event['id']}/log").json()
    notes = [step.get("note") or "" for step in log["entries"]]
    assert any(n.startswith("placed by address, confidence") and "建设路12号" in n for n in notes)
    assert client.get("/api/events/triage").json()["events"] == []


def test_an_unclear_address_waits_with_candidates_and_is_placed_with_one_click(
    client: TestClient,
) -> None:
    answer = client.post("/api/events", json=_ticket("ADDR-2", "建设路附近"))
    assert answer.status_code == 201, answer.text
    event = answer.json()
    assert event["unassigned"] is True and event["grid_code"] is None
    queue = client.get("/api/events/triage").json()["events"]
    assert [e["id"] for e in queue] == [event["id"]]
    stored = client.get(f"/api/events/{event['id']}").json()
    record = (
        stored["properties"]["routing"]["geocode"]
        if "properties" in stored
        else stored["routing"]["geocode"]
    )
    assert record["placed"] is False and record["candidates"]
    assert record["candidates"][0]["matched"] == "建设路"
    placed = client.post(f"/api/events/{event['id']}/place/candidate/0", json={"actor": "op"})
    assert placed.status_code == 200, placed.text
    assert placed.json()["grid_code"] == f.G1
    assert client.get("/api/events/triage").json()["events"] == []
    missing = client.post(f"/api/events/{event['id']}/place/candidate/9")
    assert missing.status_code in (404, 409)


def test_the_geocode_endpoint_answers_candidates(client: TestClient) -> None:
    body = client.get("/api/geocode", params={"q": "建设路12号", "county": f.COUNTY}).json()
    assert body["placeable"] is True and body["candidates"][0]["matched"] == "建设路12号"


def test_search_finds_a_road_and_an_address(client: TestClient) -> None:
    road = client.get("/api/search", params={"q": "建设路"}).json()["results"]
    places = [(h["layer"], h["name"]) for h in road if h["kind"] == "place"]
    assert ("road", "建设路") in places and ("address", "建设路12号") in places
    address = client.get("/api/search", params={"q": "建设路12号"}).json()["results"]
    hit = next(h for h in address if h["kind"] == "place")
    assert hit["layer"] == "address" and hit["name"] == "建设路12号"
    lon, _ = f.SmallCounty.grid_center(f.G1)
    assert abs(hit["point"][0] - (lon + 0.0002)) < 1e-6
    assert hit["bbox"][0] < hit["point"][0] < hit["bbox"][2]


def test_a_hotline_export_geocodes_its_address_only_rows_in_bulk(
    client: TestClient, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """`gridmap events import` of a 12345 export: a clear address is placed and routed by
    itself, an unclear one waits in triage with its candidates, a row with coordinates is
    routed as before; the report counts each."""
    from typer.testing import CliRunner

    from gridmap_cli.main import app

    lon, lat = f.SmallCounty.grid_center(f.G1)
    export = tmp_path / "12345.csv"
    export.write_text(
        "工单编号,事项分类,诉求内容,地址,经度,纬度,来电时间\n"
        "HL-1,ROAD,路面坑洼,山西省晋城市高平市建设路12号,,,2026-11-21 09:30:00\n"
        "HL-2,ROAD,井盖缺失,建设路附近,,,2026-11-21 09:31:00\n"
        f"HL-3,ROAD,路灯不亮,,{lon},{lat},2026-11-21 09:32:00\n"
        "HL-4,ROAD,垃圾堆放,火星路99号,,,2026-11-21 09:33:00\n",
        encoding="utf-8",
    )
    env = {"GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(
        app, ["events", "import", str(export), "--county", f.COUNTY], env=env
    )
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["created"] == 4 and report["bad"] == []
    assert report["placed_by_address"] == 1 and report["triage_with_candidates"] == 1
    assert report["unplaced"] == 2  # the unclear address, and the one nothing matches

    def by_external(external_id: str) -> dict[str, Any]:
        with engine.connect() as conn:
            event_id = conn.execute(
                text("SELECT id FROM event WHERE external_id = :e"), {"e": external_id}
            ).scalar_one()
        answer = client.get(f"/api/events/{event_id}")
        assert answer.status_code == 200, answer.text  # visible to the county's operator
        return dict(answer.json())

    def props(event: dict[str, Any]) -> dict[str, Any]:
        return dict(event.get("properties", event))

    placed = props(by_external("HL-1"))
    assert placed["grid_code"] == f.G1 and placed["team"]["code"] == f"T-{f.G1}"
    assert placed["routing"]["geocode"]["placed"] is True
    log = client.get(f"/api/events/{placed['id']}/log").json()
    assert any(
        (step.get("note") or "").startswith("placed by address, confidence")
        for step in log["entries"]
    )
    waiting = props(by_external("HL-2"))
    assert waiting["grid_code"] is None
    record = waiting["routing"]["geocode"]
    assert record["placed"] is False and record["candidates"][0]["matched"] == "建设路"
    routed = props(by_external("HL-3"))
    assert routed["grid_code"] == f.G1 and "geocode" not in (routed["routing"] or {})
    triage = {e["id"] for e in client.get("/api/events/triage").json()["events"]}
    assert waiting["id"] in triage and placed["id"] not in triage
