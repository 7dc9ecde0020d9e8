"""Address-only events (issue #19): a 12345 ticket with only an address is geocoded at
ingest; a clear one is placed and routed by itself, an unclear one waits in triage with
its candidates and is placed with one click on one of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine

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
