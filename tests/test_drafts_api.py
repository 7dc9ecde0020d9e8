"""The boundary editor's API on the small county: draft → edit → undo/redo → publish →
open events re-routed with log entries; a second planner is told what changed; rollback.

Grid G1 (lon 112.90–112.91, lat 35.78–35.80) gets eight buildings of 10 households: four
west of lon 112.905 and four east of it, so it holds 80 households (overfull) and a
north-south cut at 112.905 makes two grids of 40.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from geodata.publish_check import publish_validator
from gridmap.boundaries import publishing
from gridmap.db import session_factory
from gridmap.routing import router as router_module
from gridmap.routing.router import Router
from gridmap.routing.snapshot import RoutingSnapshot, load_snapshot
from gridmap.settings import Settings
from tests import factories as f
from tests.small_county_db import small_county_db_url, small_county_template  # noqa: F401

G1, G2 = f.G1, f"{f.C1}002"
NEW = f"{f.C1}003"  # the next code in community C1
CUT = 112.905
A = {"X-Gridmap-User": "planner-a"}
B = {"X-Gridmap-User": "planner-b"}


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("small_county_db_url"))


@pytest.fixture
def client(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with session_factory(engine)() as s:
        for i, lon in enumerate([112.9020, 112.9030, 112.9040, 112.9045] * 1):
            for j, x in enumerate([lon, lon + 0.005]):
                s.execute(
                    text(
                        "INSERT INTO building (county_code, code, households, point, attributes) "
                        "VALUES (:c, :code, 10, ST_SetSRID(ST_MakePoint(:x, 35.79), 4326), '{}')"
                    ),
                    {"c": f.COUNTY, "code": f"B{i}{j}", "x": x},
                )
        s.commit()
    with TestClient(create_app(Settings(database_url=db_url, home=tmp_path))) as c:
        yield c


def post_event(client: TestClient, external_id: str, lon: float, lat: float) -> dict[str, Any]:
    body = {
        "source": "12345",
        "external_id": external_id,
        "category": "ROAD",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reported_at": "2026-11-21T09:30:00+08:00",
    }
    r = client.post("/api/events", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


def split_g1(client: TestClient, draft_id: int, headers: dict[str, str]) -> dict[str, Any]:
    line = {"type": "LineString", "coordinates": [[CUT, 35.78], [CUT, 35.80]]}
    return ok(
        client.post(
            f"/api/drafts/{draft_id}/edits",
            json={"op": "split", "code": G1, "line": line},
            headers=headers,
        )
    )


def test_a_planner_splits_an_overfull_grid_and_open_events_follow_the_new_boundary(
    client: TestClient,
) -> None:
    east = post_event(client, "E-EAST", 112.908, 35.79)  # east half of G1
    west = post_event(client, "E-WEST", 112.902, 35.79)  # stays in G1
    assert east["grid_code"] == G1 and west["grid_code"] == G1
    first_version = ok(client.get("/api/versions"))["versions"][-1]["id"]

    draft = ok(
        client.post("/api/drafts", json={"layer": "community", "code": f.C1}, headers=A), 201
    )
    # Drafts are private: another planner neither sees nor edits it.
    assert client.get(f"/api/drafts/{draft['id']}", headers=B).status_code == 404
    assert ok(client.get("/api/drafts", headers=B))["drafts"] == []
    before = ok(client.get(f"/api/drafts/{draft['id']}", headers=A))
    # The page sees the buildings' households it will split by: 80 in G1.
    assert sum(b["households"] for b in before["buildings"] if b["lon"] < 112.91) == 80

    edit = split_g1(client, draft["id"], A)
    halves = {
        feat["properties"]["code"]: feat["properties"] for feat in edit["changed"]["features"]
    }
    assert set(halves) == {G1, NEW}
    assert [halves[G1]["households"], halves[NEW]["households"]] == [40, 40]
    assert not [p for p in edit["problems"] if p["severity"] == "error"]
    assert (edit["diff"]["added"], edit["diff"]["changed"]) == (1, 1)

    # Undo takes the split back; redo applies it again.
    undone = ok(client.post(f"/api/drafts/{draft['id']}/undo", headers=A))
    assert undone["diff"]["added"] == 0 and undone["diff"]["changed"] == 0
    redone = ok(client.post(f"/api/drafts/{draft['id']}/redo", headers=A))
    assert redone["diff"]["added"] == 1

    published = ok(
        client.post(
            f"/api/drafts/{draft['id']}/publish",
            json={"reason": "G1 grew past 50 households"},
            headers=A,
        )
    )
    version = published["version"]
    assert published["rerouted"] == [
        {
            "event": east["id"],
            "from_grid": G1,
            "to_grid": NEW,
            "from_team": east["team"]["id"],
            "to_team": published["rerouted"][0]["to_team"],
        }
    ]
    moved = ok(client.get(f"/api/events/{east['id']}"))
    assert moved["grid_code"] == NEW
    # The new grid has no team of its own yet: the community's duty team answers for it.
    assert moved["team"]["code"] == f"T-{f.C1}"
    log = ok(client.get(f"/api/events/{east['id']}/log", params={"lang": "en"}))["entries"]
    assert f"Re-routed from grid {G1} to grid {NEW} by version {version}" in [
        e["text"] for e in log
    ]
    assert ok(client.get(f"/api/events/{west['id']}"))["grid_code"] == G1
    # Routing picks up the new boundaries without a restart.
    assert (
        ok(client.get("/api/locate", params={"lon": 112.908, "lat": 35.79}))["grid"]["code"] == NEW
    )
    # Who, when and why are recorded.
    v = ok(client.get(f"/api/versions/{version}"))
    assert (v["activated_by"], v["note"].splitlines()[0]) == (
        "planner-a",
        "G1 grew past 50 households",
    )

    # Rollback publishes the old geometry as a new version; the event moves back.
    rolled = ok(
        client.post(
            f"/api/versions/{first_version}/restore", json={"reason": "undo the split"}, headers=A
        )
    )
    assert rolled["version"] > version
    assert [r["to_grid"] for r in rolled["rerouted"]] == [G1]
    assert ok(client.get(f"/api/events/{east['id']}"))["grid_code"] == G1


def test_the_second_planner_to_publish_is_told_what_changed_and_must_rebase(
    client: TestClient,
) -> None:
    a = ok(client.post("/api/drafts", json={"layer": "community", "code": f.C1}, headers=A), 201)
    b = ok(client.post("/api/drafts", json={"layer": "township", "code": f.T1}, headers=B), 201)
    split_g1(client, a["id"], A)
    split_g1(client, b["id"], B)
    ok(client.post(f"/api/drafts/{a['id']}/publish", json={"reason": "split G1"}, headers=A))

    refused = client.post(f"/api/drafts/{b['id']}/publish", json={"reason": "mine"}, headers=B)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "version_conflict"
    assert {(c["code"], c["change"], c["by"]) for c in error["details"]["changed"]} >= {
        (G1, "changed", "planner-a"),
        (NEW, "added", "planner-a"),
    }
    # Rebasing over a community both edited needs an explicit choice.
    assert client.post(f"/api/drafts/{b['id']}/rebase", headers=B).status_code == 409
    ok(client.post(f"/api/drafts/{b['id']}/rebase", json={"keep_mine": True}, headers=B))
    # B's split took code 004 (003 was already staged in A's draft); after the rebase B's
    # east half overlaps A's published grid 003, and validation says so instead of one
    # silently replacing the other.
    checked = ok(client.post(f"/api/drafts/{b['id']}/validate", headers=B))
    overlaps = [p for p in checked["problems"] if p["kind"] == "overlap"]
    assert not checked["ok"] and {p["code"] for p in overlaps} & {NEW, f"{f.C1}004"}
    assert (
        client.post(f"/api/drafts/{b['id']}/publish", json={"reason": "x"}, headers=B).status_code
        == 422
    )


def test_a_merge_of_grids_that_do_not_touch_is_refused_with_a_reason(client: TestClient) -> None:
    draft = ok(client.post("/api/drafts", json={"layer": "township", "code": f.T1}, headers=A), 201)
    r = client.post(
        f"/api/drafts/{draft['id']}/edits",
        json={"op": "merge", "codes": [G1, f"{f.C2}002"]},
        headers=A,
    )
    assert r.status_code == 422
    assert "is not in community" in r.json()["error"]["message"]
    geojson = client.get(
        f"/api/versions/{ok(client.get('/api/versions'))['versions'][0]['id']}",
        params={"f": "geojson", "layer": "grid"},
    )
    assert geojson.status_code == 200 and len(geojson.json()["features"]) == 8


def test_regenerate_keeps_the_exception_of_a_flagged_grid_through_publish(
    client: TestClient, engine: Engine
) -> None:
    """A tower of 120 households in C1: the generator makes it a high-rise grid out of the
    30–50 range. The editor's "regenerate" keeps the accepted exception and its reason on
    that grid, so the draft shows no error for it and it publishes without forcing."""
    with session_factory(engine)() as s:
        s.execute(
            text(
                "INSERT INTO building (county_code, code, households, kind, point, attributes) "
                "VALUES (:c, 'TOWER', 120, 'high_rise', "
                "ST_SetSRID(ST_MakePoint(112.915, 35.795), 4326), '{}')"
            ),
            {"c": f.COUNTY},
        )
        s.commit()
    draft = ok(
        client.post("/api/drafts", json={"layer": "community", "code": f.C1}, headers=A), 201
    )
    edit = ok(
        client.post(
            f"/api/drafts/{draft['id']}/edits",
            json={"op": "regenerate", "community": f.C1},
            headers=A,
        )
    )
    grids = {feat["properties"]["code"]: feat["properties"] for feat in edit["changed"]["features"]}
    over = [g for g in grids.values() if (g.get("households") or 0) > 50]
    assert over, grids
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                text("SELECT code, attributes FROM draft_area WHERE version_id = :v"),
                {"v": draft["id"]},
            ).all()
        )
    for g in over:
        attrs = stored[g["code"]]
        assert attrs["exception"] == "households", attrs
        assert attrs["exception_reason"], attrs
    errors = [p for p in edit["problems"] if p["severity"] == "error"]
    assert not errors, errors
    published = ok(
        client.post(
            f"/api/drafts/{draft['id']}/publish",
            json={"reason": "regenerated around the new tower"},
            headers=A,
        )
    )
    with engine.connect() as conn:
        kept = conn.execute(
            text(
                "SELECT attributes FROM area WHERE valid_to IS NULL AND code = :c "
                "AND county_code = :county"
            ),
            {"c": over[0]["code"], "county": f.COUNTY},
        ).scalar_one()
    assert published["version"] and kept["exception"] == "households"


def test_a_publish_builds_the_routing_snapshot_once_and_the_router_adopts_it(
    client: TestClient, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishing builds the new version's snapshot to re-route the open events; the
    publishing worker's router then serves that same snapshot instead of building it again
    (seconds on a real county). Asked of the domain directly, away from the app's stream
    listener, which reloads its own router on the NOTIFY."""
    draft = ok(
        client.post("/api/drafts", json={"layer": "community", "code": f.C1}, headers=A), 201
    )
    split_g1(client, draft["id"], A)
    settings = Settings(database_url=str(engine.url), home=tmp_path)
    router = Router(session_factory(engine), settings)
    before = router.snapshot
    built: list[RoutingSnapshot] = []

    def counted(*args: Any, **kwargs: Any) -> RoutingSnapshot:
        snapshot = load_snapshot(*args, **kwargs)
        built.append(snapshot)
        return snapshot

    monkeypatch.setattr(router_module, "load_snapshot", counted)
    with session_factory(engine)() as s:
        result = publishing.publish(
            s,
            draft_id=draft["id"],
            author="planner-a",
            reason="G1 grew past 50 households",
            settings=settings,
            validator=publish_validator(settings),
        )
        s.commit()
    router.adopt(result.snapshot)
    assert len(built) == 1 and router.snapshot is built[0]
    assert router.snapshot.version_id == result.version_id != before.version_id
    routed = router.route(112.908, 35.79).grid
    assert routed is not None and routed.code == NEW
    # An older snapshot offered later changes nothing.
    router.adopt(before)
    assert router.snapshot is built[0]


def test_an_upload_over_two_communities_answers_each_grid_with_its_own_community(
    client: TestClient, tmp_path: Path
) -> None:
    """A file of grids for two communities of a township draft: each changed grid in the
    answer names its own community (the editor groups and checks grids by it)."""
    draft = ok(client.post("/api/drafts", json={"layer": "township", "code": f.T1}, headers=A), 201)
    whole = {  # one grid per community, each its community's whole outline
        f"{f.C1}001": (f.C1, (112.90, 35.78, 112.92, 35.80)),
        f"{f.C2}001": (f.C2, (112.90, 35.80, 112.92, 35.82)),
    }
    features = [
        {
            "type": "Feature",
            "properties": {"code": code, "name": code, "parent_code": parent},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]],
            },
        }
        for code, (parent, (w, s, e, n)) in whole.items()
    ]
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    answer = ok(
        client.post(
            f"/api/drafts/{draft['id']}/upload",
            files={"file": ("grids.geojson", data, "application/geo+json")},
            data={"crs": "wgs84"},
            headers=A,
        )
    )
    communities = {
        feat["properties"]["code"]: feat["properties"]["community"]
        for feat in answer["changed"]["features"]
    }
    assert communities == {code: parent for code, (parent, _) in whole.items()}
    assert sorted(answer["removed"]) == sorted([f"{f.C1}002", f"{f.C2}002"])
    assert answer["history"][-1]["op"] == "upload"
