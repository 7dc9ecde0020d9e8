"""Patrols (巡查) and visits (走访) through the API: the track built from numbered batches (a
batch sent twice is taken once), workers on patrol for the command view, and what each
caller sees — a grid worker its own grid's, never another grid's tracks or visits."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridmap import patrols
from gridmap.access import Jurisdiction, accounts
from gridmap.db import make_engine, session_factory
from tests import factories as f
from tests.county_users import county_with_accounts
from tests.logins import PASSWORD, login, service_with_login

G_WEST = f.G1
G_EAST = f"{f.C3}001"


@pytest.fixture(scope="module")
def app(
    server_url: str, small_county_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    for url in county_with_accounts(
        server_url,
        small_county_template,
        prefix="patrols",
        users=[
            ("county-operator", "operator", [f.COUNTY]),
            ("west-supervisor", "supervisor", [f.T1]),
        ],
    ):
        engine = make_engine(url, pool_size=1)
        with session_factory(engine)() as s:
            for name, grid in (("west-worker", G_WEST), ("east-worker", G_EAST)):
                accounts.create_user(
                    s,
                    username=name,
                    role="grid_worker",
                    password=PASSWORD,
                    area_codes=[grid],
                    team_code=f"T-{grid}",
                )
            s.commit()
        engine.dispose()
        yield from service_with_login(url, tmp_path_factory.mktemp("patrols-home"))


def _now(minutes: float = 0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()


def _walk(client: TestClient, grid: str) -> str:
    """A patrol started in `grid`, four points ~110 m apart northwards, left open."""
    lon, lat = f.SmallCounty.grid_center(grid)
    cid = str(uuid.uuid4())
    started = client.post("/api/patrols", json={"client_id": cid, "lon": lon, "lat": lat})
    assert started.status_code == 201, started.text
    assert started.json()["grid_code"] == grid
    # The same start again (a resend): the same patrol.
    again = client.post("/api/patrols", json={"client_id": cid, "lon": lon, "lat": lat})
    assert again.json()["id"] == started.json()["id"]
    batch = [
        {"lon": lon, "lat": lat + i * 0.001, "at": _now(i * 0.5), "accuracy": 10} for i in range(3)
    ]
    one = client.post(f"/api/patrols/{cid}/points", json={"seq": 1, "points": batch})
    assert one.status_code == 200, one.text
    repeat = client.post(f"/api/patrols/{cid}/points", json={"seq": 1, "points": batch})
    assert repeat.json()["points"] == 3  # a batch sent twice is taken once
    last = [{"lon": lon, "lat": lat + 0.003, "at": _now(1.5), "accuracy": 8}]
    two = client.post(f"/api/patrols/{cid}/points", json={"seq": 2, "points": last})
    body = two.json()
    assert body["points"] == 4
    assert body["track"]["type"] == "LineString" and len(body["track"]["coordinates"]) == 4
    assert 320 < body["distance_m"] < 350  # 0.003° of latitude ≈ 333 m
    return cid


def test_a_patrol_is_recorded_shown_live_and_only_to_its_areas(app: TestClient) -> None:
    west = login(app, "west-worker")
    east = login(app, "east-worker")
    operator = login(app, "county-operator")
    supervisor = login(app, "west-supervisor")
    west_cid = _walk(west, G_WEST)
    east_cid = _walk(east, G_EAST)

    def live_names(client: TestClient) -> set[str]:
        answer = client.get("/api/patrols/live")
        assert answer.status_code == 200, answer.text
        return {w["username"] for w in answer.json()["workers"]}

    assert live_names(operator) == {"west-worker", "east-worker"}
    assert live_names(supervisor) == {"west-worker"}  # the west township only
    assert live_names(west) == {"west-worker"}  # never another grid's worker
    worker = operator.get("/api/patrols/live").json()["workers"][0]
    assert worker["age_s"] >= 0 and worker["lon"] is not None
    # Tracks: a worker's list holds its own grid's patrols only.
    assert {p["client_id"] for p in west.get("/api/patrols").json()["patrols"]} == {west_cid}
    assert {p["client_id"] for p in east.get("/api/patrols").json()["patrols"]} == {east_cid}
    # No one records into another's patrol: it is not theirs (404), nothing changes.
    foreign = west.post(
        f"/api/patrols/{east_cid}/points",
        json={"seq": 9, "points": [{"lon": 112.9, "lat": 35.8, "at": _now()}]},
    )
    assert foreign.status_code == 404
    assert east.get("/api/patrols/mine").json()["patrols"][0]["points"] == 4
    # Ended: off the live layer (never shown off duty), counted against 一日双巡.
    ended = west.post(f"/api/patrols/{west_cid}/end", json={})
    assert ended.status_code == 200 and ended.json()["ended_at"]
    assert live_names(operator) == {"east-worker"}
    mine = west.get("/api/patrols/mine").json()
    assert mine["patrols"][0]["ended_at"] and mine["patrols_required"] == 2
    assert mine["patrols"][0]["distance_m"] > 300
    today = west.get("/api/phone/today").json()["counts"]
    assert today["patrols"] == "1/2" and today["patrol_distance_m"] > 300


def test_a_visit_is_recorded_once_and_counted_per_grid_and_worker(app: TestClient) -> None:
    west = login(app, "west-worker")
    east = login(app, "east-worker")
    operator = login(app, "county-operator")
    lon, lat = f.SmallCounty.grid_center(G_WEST)
    cid = str(uuid.uuid4())
    body: dict[str, Any] = {
        "client_id": cid,
        "kind": "special_care",
        "note": "独居老人，身体良好",
        "building_code": "B-1",
        "lon": lon,
        "lat": lat,
    }
    first = west.post("/api/visits", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["grid_code"] == G_WEST
    assert west.post("/api/visits", json=body).json()["id"] == first.json()["id"]
    bad = west.post("/api/visits", json={**body, "client_id": str(uuid.uuid4()), "kind": "x"})
    assert bad.status_code == 422
    counts = operator.get("/api/visits").json()["counts"]
    assert {"grid_code": G_WEST, "username": "west-worker", "visits": 1} in counts
    assert [v["client_id"] for v in west.get("/api/visits").json()["visits"]] == [cid]
    assert east.get("/api/visits").json()["visits"] == []  # another grid's visits: none
    assert west.get("/api/phone/today").json()["counts"]["visits"] == 1


def test_field_work_is_written_only_inside_the_workers_areas(app: TestClient) -> None:
    """A visit to a household in another grid is refused (in the reader's language) and
    nothing is stored; a patrol begun outside the grid (from home) counts for the
    worker's own grid, never for the grid it started in."""
    west = login(app, "west-worker")
    operator = login(app, "county-operator")
    lon, lat = f.SmallCounty.grid_center(G_EAST)
    before = operator.get("/api/visits").json()["counts"]
    refused = west.post(
        "/api/visits",
        json={"client_id": str(uuid.uuid4()), "kind": "routine", "lon": lon, "lat": lat},
    )
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["reason"] == "visit_outside_areas"
    assert error["text"] == "该住户不在您的辖区内：走访请在本网格内登记"
    assert operator.get("/api/visits").json()["counts"] == before
    started = west.post(
        "/api/patrols", json={"client_id": str(uuid.uuid4()), "lon": lon, "lat": lat}
    )
    assert started.status_code == 201, started.text
    assert started.json()["grid_code"] == G_WEST


def test_an_operator_cannot_record_a_patrol(app: TestClient) -> None:
    operator = login(app, "county-operator")
    answer = operator.post("/api/patrols", json={"client_id": str(uuid.uuid4())})
    assert answer.status_code == 403


def test_the_patrol_and_visit_ledgers_list_what_the_phones_recorded(app: TestClient) -> None:
    """Runs after the tests above in this module (their patrols and visit are the data)."""
    operator = login(app, "county-operator")
    supervisor = login(app, "west-supervisor")
    rows = operator.get("/api/ledgers/patrols", params={"f": "json", "period": "today"})
    assert rows.status_code == 200, rows.text
    workers = {r["worker"] for r in rows.json()["rows"]}
    assert {"west-worker", "east-worker"} <= workers
    west_only = supervisor.get("/api/ledgers/patrols", params={"f": "json", "period": "today"})
    assert {r["worker"] for r in west_only.json()["rows"]} == {"west-worker"}
    visited = operator.get("/api/ledgers/visits", params={"f": "json", "period": "today"})
    assert [r["kind"] for r in visited.json()["rows"]] == ["special_care"]


def test_a_township_sees_its_own_patrols_however_many_newer_ones_others_have(
    app: TestClient,
) -> None:
    """The scope is in the statement, before its LIMIT: the newest patrols of a busy county
    (here the east's) do not crowd out a township's own."""
    west_cid = _walk(login(app, "west-worker"), G_WEST)
    east = login(app, "east-worker")
    for _ in range(3):
        _walk(east, G_EAST)
    west_only = Jurisdiction(township_codes=frozenset({f.T1}))
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with app.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        found = patrols.patrols_in(session, jurisdiction=west_only, since=since, limit=2)
        live = patrols.live_patrols(session, jurisdiction=west_only)
    assert west_cid in {p["client_id"] for p in found}
    assert {p["grid_code"] for p in found} == {G_WEST}
    assert {p["username"] for p in live} <= {"west-worker"}
