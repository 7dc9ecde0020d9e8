"""The map, its downloads and "who is responsible here?" show each user only their areas.

The small county (tests/factories.py): a west township T1 (communities C1, C2, four grids,
a school's dedicated grid in G1, the west enforcement zone) and an east township T2.
A county operator, a west-township operator and a grid worker of G1 each log in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyogrio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from api.app import create_app
from gridmap.access import accounts
from gridmap.boundaries import activation
from gridmap.boundaries import versions as boundaries
from gridmap.db import make_engine, session_factory
from gridmap.models import Area
from gridmap.settings import Settings
from tests import factories as f
from tests.county_users import add_accounts, county_with_accounts
from tests.logins import login, service_with_login

WEST_GRIDS = {code for code, (community, _, _) in f.GRIDS.items() if community in (f.C1, f.C2)}
EAST_GRIDS = set(f.GRIDS) - WEST_GRIDS
C2_GRIDS = {code for code, (community, _, _) in f.GRIDS.items() if community == f.C2}
G2 = f"{f.C1}002"  # G1's neighbour in the same community
G_EAST = f"{f.C3}001"
MAP_USERS = [
    ("county-operator", "operator", [f.COUNTY]),
    ("west-operator", "operator", [f.T1]),
    ("west-supervisor", "supervisor", [f.T1]),
    ("g1-worker", "grid_worker", [f.G1]),
    ("no-areas", "operator", []),
]


@pytest.fixture(scope="module")
def county_url(server_url: str, small_county_template: str) -> Iterator[str]:
    yield from county_with_accounts(
        server_url, small_county_template, prefix="mapj", users=MAP_USERS
    )


@pytest.fixture(scope="module")
def app(county_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from service_with_login(county_url, tmp_path_factory.mktemp("mapj"))


def item_codes(client: TestClient, layer: str, **params: Any) -> list[str]:
    page = client.get(f"/ogc/collections/{layer}/items", params=params)
    assert page.status_code == 200, page.text
    body = page.json()
    codes = [feat["properties"]["code"] for feat in body["features"]]
    assert body["numberMatched"] == len(codes)  # every page here holds the whole layer
    return codes


def area_id(county_url: str, code: str) -> int:
    engine = make_engine(county_url, pool_size=1)
    with session_factory(engine)() as s:
        found = s.scalar(select(Area.id).where(Area.code == code, Area.valid_to.is_(None)))
    engine.dispose()
    assert found is not None
    return found


def active_version(county_url: str) -> int:
    engine = make_engine(county_url, pool_size=1)
    with session_factory(engine)() as s:
        active = boundaries.active_version(s)
    engine.dispose()
    assert active is not None
    return active.id


# --- OGC API features -------------------------------------------------------------------


def test_a_township_supervisor_reads_only_its_township_over_ogc(app: TestClient) -> None:
    """The assessment page (/stats) colours its map from these layers."""
    west = login(app, "west-supervisor")
    assert sorted(item_codes(west, "grid", limit=5000)) == sorted(WEST_GRIDS)
    assert sorted(item_codes(west, "community", limit=5000)) == [f.C1, f.C2]
    assert item_codes(west, "township", limit=1000) == [f.T1]


def test_a_township_operator_reads_only_its_township_over_ogc(app: TestClient) -> None:
    west = login(app, "west-operator")
    assert sorted(item_codes(west, "grid")) == sorted(WEST_GRIDS)
    assert item_codes(west, "township") == [f.T1]
    assert sorted(item_codes(west, "community")) == [f.C1, f.C2]
    assert item_codes(west, "county") == []  # nothing above its township
    assert item_codes(west, "enforcement_zone") == [f.ZONE_WEST]
    assert item_codes(west, "dedicated_grid") == [f.SCHOOL]
    # A bbox over the whole county still returns only the west, and counts only the west.
    assert sorted(item_codes(west, "grid", bbox="112.90,35.78,112.94,35.82")) == sorted(WEST_GRIDS)
    paged = west.get("/ogc/collections/grid/items", params={"limit": 3}).json()
    assert paged["numberMatched"] == 4 and paged["numberReturned"] == 3
    # The layer's extent (what a GIS zooms to) is the township's, not the county's.
    grid = west.get("/ogc/collections/grid").json()
    assert grid["extent"]["spatial"]["bbox"][0] == pytest.approx([112.90, 35.78, 112.92, 35.82])
    listed = {c["id"]: c for c in west.get("/ogc/collections").json()["collections"]}
    assert "extent" not in listed["county"]


def test_a_grid_worker_reads_its_grid_and_the_school_inside_it(app: TestClient) -> None:
    worker = login(app, "g1-worker")
    assert item_codes(worker, "grid") == [f.G1]
    assert item_codes(worker, "dedicated_grid") == [f.SCHOOL]
    assert item_codes(worker, "township") == item_codes(worker, "community") == []


def test_the_county_operator_reads_everything(app: TestClient) -> None:
    county = login(app, "county-operator")
    assert sorted(item_codes(county, "grid")) == sorted(f.GRIDS)
    assert sorted(item_codes(county, "township")) == [f.T1, f.T2]
    assert item_codes(county, "county") == [f.COUNTY]


def test_a_user_without_areas_reads_no_areas(app: TestClient) -> None:
    nobody = login(app, "no-areas")
    assert item_codes(nobody, "grid") == []
    assert item_codes(nobody, "county") == []


def test_one_feature_outside_the_township_is_not_found(app: TestClient, county_url: str) -> None:
    west = login(app, "west-operator")
    mine = west.get(f"/ogc/collections/grid/items/{area_id(county_url, f.G1)}")
    assert mine.status_code == 200 and mine.json()["properties"]["code"] == f.G1
    east_id = area_id(county_url, G_EAST)
    hidden = west.get(f"/ogc/collections/grid/items/{east_id}")
    assert hidden.status_code == 404
    # Exactly what an id that exists nowhere answers: nothing tells the two apart.
    unknown = west.get("/ogc/collections/grid/items/99999999")
    assert hidden.json()["error"]["code"] == unknown.json()["error"]["code"] == "not_found"
    assert (
        login(app, "county-operator")
        .get(f"/ogc/collections/grid/items/{east_id}")
        .json()["properties"]["code"]
        == G_EAST
    )


# --- downloads of a version -------------------------------------------------------------


def test_a_version_download_holds_only_the_callers_areas(
    app: TestClient, county_url: str, tmp_path: Path
) -> None:
    version = active_version(county_url)
    west = login(app, "west-operator")
    answer = west.get(f"/api/versions/{version}", params={"f": "geojson"})
    assert answer.status_code == 200, answer.text
    codes = {feat["properties"]["code"] for feat in answer.json()["features"]}
    assert codes == {f.T1, f.C1, f.C2, f.ZONE_WEST, f.SCHOOL, *WEST_GRIDS}

    gpkg = west.get(f"/api/versions/{version}", params={"f": "gpkg", "layer": "grid"})
    assert gpkg.status_code == 200
    path = tmp_path / "west.gpkg"
    path.write_bytes(gpkg.content)
    frame = pyogrio.read_dataframe(path)
    assert set(frame["code"]) == WEST_GRIDS

    worker = login(app, "g1-worker").get(f"/api/versions/{version}", params={"f": "geojson"})
    assert {feat["properties"]["code"] for feat in worker.json()["features"]} == {
        f.G1,
        f.SCHOOL,
        f.ZONE_WEST,
    }
    everything = login(app, "county-operator").get(
        f"/api/versions/{version}", params={"f": "geojson"}
    )
    assert {feat["properties"]["code"] for feat in everything.json()["features"]} >= {
        f.COUNTY,
        f.T2,
        f.ZONE_EAST,
        *EAST_GRIDS,
    }


def test_an_empty_download_is_a_valid_empty_file(app: TestClient, county_url: str) -> None:
    version = active_version(county_url)
    nobody = login(app, "no-areas")
    answer = nobody.get(f"/api/versions/{version}", params={"f": "geojson"})
    assert answer.status_code == 200
    assert json.loads(answer.content)["features"] == []


# --- what a version changed -------------------------------------------------------------


def publish_changes(url: str) -> int:
    """A new version: G1 and an east grid get new household counts, and the west
    township's northern community C2 is removed with both its grids."""
    rows = {row.code: row for row in f.area_rows()}
    engine = make_engine(url, pool_size=1)
    with session_factory(engine)() as s:
        version = boundaries.create_version(
            s, name="spring review", created_by="test", county_code=f.COUNTY
        )
        boundaries.stage_areas(
            s,
            version_id=version.id,
            rows=[replace(rows[f.G1], households=45), replace(rows[G_EAST], households=35)],
        )
        removed = [("community", f.C2), *(("grid", code) for code in sorted(C2_GRIDS))]
        boundaries.stage_removals(
            s, version_id=version.id, keys=[(f.COUNTY, layer, code) for layer, code in removed]
        )
        activation.activate_version(s, version_id=version.id, activated_by="test")
        s.commit()
        version_id = version.id
    engine.dispose()
    return version_id


def test_a_version_lists_only_the_changes_inside_the_callers_areas(
    small_county_db_url: str, tmp_path: Path
) -> None:
    add_accounts(small_county_db_url, users=MAP_USERS)
    version = publish_changes(small_county_db_url)
    with contextmanager(service_with_login)(small_county_db_url, tmp_path) as app:

        def seen_by(username: str) -> dict[str, Any]:
            answer = login(app, username).get(f"/api/versions/{version}")
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body

        def changes(body: dict[str, Any]) -> set[tuple[str, str]]:
            return {(c["code"], c["change"]) for c in body["diff"]["changes"]}

        west = seen_by("west-operator")
        # Its own grid's new count, and its community removed with its grids (which no
        # longer exist in the new version, so only the version before places them).
        assert changes(west) == {
            (f.G1, "changed"),
            (f.C2, "removed"),
            *((code, "removed") for code in C2_GRIDS),
        }
        assert G_EAST not in json.dumps(west)  # the east's change is not its business
        # Every count says what is listed: the diff's, and the version's summary.
        counts = {"added": 0, "changed": 1, "removed": 3}
        assert {k: west["diff"][k] for k in counts} == counts
        assert west["summary"] == {**counts, "by_layer": west["diff"]["by_layer"]}
        # Unchanged: its areas in the new version (as its download holds them) but G1.
        download = login(app, "west-operator").get(
            f"/api/versions/{version}", params={"f": "geojson"}
        )
        assert west["diff"]["unchanged"] == len(download.json()["features"]) - 1

        worker = seen_by("g1-worker")
        assert changes(worker) == {(f.G1, "changed")}
        assert worker["summary"]["removed"] == worker["diff"]["removed"] == 0

        county = seen_by("county-operator")
        assert changes(county) == changes(west) | {(G_EAST, "changed")}
        assert county["summary"]["changed"] == county["diff"]["changed"] == 2

        nobody = seen_by("no-areas")
        assert nobody["diff"]["changes"] == [] and nobody["diff"]["unchanged"] == 0


# --- who is responsible here? -----------------------------------------------------------


def test_locate_answers_inside_the_township_and_refuses_outside(app: TestClient) -> None:
    west = login(app, "west-operator")
    lon, lat = f.SmallCounty.grid_center(f.G1)
    inside = west.get("/api/locate", params={"lon": lon, "lat": lat})
    assert inside.status_code == 200 and inside.json()["grid"]["code"] == f.G1
    elon, elat = f.SmallCounty.grid_center(G_EAST)
    outside = west.get("/api/locate", params={"lon": elon, "lat": elat})
    assert outside.status_code == 403
    error = outside.json()["error"]
    assert error["code"] == "permission_denied" and "outside your areas" in error["message"]
    assert G_EAST not in outside.text and "东" not in outside.text  # nothing about who it is

    batch = west.post("/api/locate", json={"points": [[lon, lat], [elon, elat], [lon, lat]]})
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert [r.get("grid", {}).get("code") if "grid" in r else None for r in results] == [
        f.G1,
        None,
        f.G1,
    ]
    assert results[1]["error"]["code"] == "permission_denied"
    assert results[1]["error"]["details"] == {"index": 1}

    county = login(app, "county-operator")
    assert (
        county.get("/api/locate", params={"lon": elon, "lat": elat}).json()["grid"]["code"]
        == G_EAST
    )


def test_a_grid_worker_may_locate_in_its_grid_only(app: TestClient) -> None:
    worker = login(app, "g1-worker")
    for grid, status in [(f.G1, 200), (G2, 403), (G_EAST, 403)]:
        lon, lat = f.SmallCounty.grid_center(grid)
        assert worker.get("/api/locate", params={"lon": lon, "lat": lat}).status_code == status


# --- the command view's first view ------------------------------------------------------


def first_view(client: TestClient) -> list[float]:
    # The page's data carries it (the map's set-up script is the same for every caller).
    (south, west), (north, east) = page_config(client)["bounds"]
    return [west, south, east, north]


def test_the_command_view_opens_on_the_users_own_areas(app: TestClient) -> None:
    assert first_view(login(app, "west-operator")) == pytest.approx([112.90, 35.78, 112.92, 35.82])
    assert first_view(login(app, "g1-worker")) == pytest.approx([112.90, 35.78, 112.91, 35.80])
    assert first_view(login(app, "county-operator")) == pytest.approx(
        [112.90, 35.78, 112.94, 35.82]
    )


def page_config(client: TestClient) -> dict[str, Any]:
    page = client.get("/")
    found = re.search(r'<script[^>]*id="gm-config"[^>]*>(.*?)</script>', page.text, re.S)
    assert found is not None
    config: dict[str, Any] = json.loads(found.group(1))
    return config


def page_features(client: TestClient) -> list[str]:
    return list(page_config(client)["features"])


def test_the_page_asks_only_for_what_the_role_may_read(app: TestClient) -> None:
    # A grid worker may not read statistics or place events: its page must not ask (a 403
    # would be a console error); the operator's page has both.
    worker, operator = (
        page_features(login(app, "g1-worker")),
        page_features(login(app, "west-operator")),
    )
    assert "stats" not in worker and "place" not in worker
    assert {"stats", "place", "events", "stream", "tiles"} <= set(operator)
    assert {"events", "stream", "ogc"} <= set(worker)


def test_the_event_panel_offers_only_the_actions_the_role_may_take(app: TestClient) -> None:
    worker = page_config(login(app, "g1-worker"))["mayAct"]
    operator = page_config(login(app, "west-operator"))["mayAct"]
    # Grid workers handle (start, report back, return, send up), operators dispatch too.
    assert {"start", "report_back", "escalate"} <= set(worker)
    assert not {"assign", "close", "joint_dispatch", "merge"} & set(worker)
    assert {"assign", "close", "joint_dispatch", "merge", "start"} <= set(operator)


# --- the Gaoping demo -------------------------------------------------------------------


def test_the_gaoping_demo_users_each_see_exactly_their_part(
    gaoping_db_url: str, tmp_path: Path
) -> None:
    engine: Engine = make_engine(gaoping_db_url, pool_size=2)
    with session_factory(engine)() as s:
        demo = {
            name: (role, area, secret)
            for name, role, area, secret in accounts.create_demo_users(s, county_code="140581")
        }
        s.commit()
        version = boundaries.active_version(s)
        assert version is not None
        # What each should see, from the hierarchy itself (not from the code under test).
        township = demo["demo-township-operator"][1]
        township_grids = set(
            s.scalars(
                text(
                    "SELECT g.code FROM area g JOIN area c ON c.code = g.parent_code "
                    "AND c.valid_to IS NULL WHERE g.layer = 'grid' AND g.valid_to IS NULL "
                    "AND c.parent_code = :t"
                ),
                {"t": township},
            )
        )
        all_grids = s.scalar(
            text("SELECT count(*) FROM area WHERE layer = 'grid' AND valid_to IS NULL")
        )
    engine.dispose()
    settings = Settings(database_url=gaoping_db_url, home=tmp_path, auth_required=True)
    with TestClient(create_app(settings)) as app:
        for name, (role, area, secret) in demo.items():
            if role == "integration":
                client = TestClient(app.app, headers={"Authorization": f"Bearer {secret}"})
            else:
                client = login(app, name, secret)
            county_wide = area == "140581" or area.startswith("team")
            # County-wide users: the count is the answer (4,000 polygons would only be slow).
            limit = 1 if county_wide else 10_000
            grids = client.get("/ogc/collections/grid/items", params={"limit": limit}).json()
            codes = {feat["properties"]["code"] for feat in grids["features"]}
            if county_wide:
                # The county, and a department team (which works county-wide on the map).
                assert grids["numberMatched"] == all_grids, name
            elif role == "grid_worker":
                assert codes == {area}, name
            else:
                assert codes == township_grids, name
                towns = client.get("/ogc/collections/township/items").json()["features"]
                assert [t["properties"]["code"] for t in towns] == [township], name
