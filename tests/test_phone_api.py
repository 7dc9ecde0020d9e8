"""The phone's reads (`/api/phone/…`), its page, manifest and service worker, and where a
login lands on a phone.

The small county (tests/factories.py): a grid worker of the west grid G1 (team T-G1) and
one of the east grid G5 (team T-G5). Each sees its own grid, its buildings and its team's
tasks, and nothing of the other's: the same jurisdiction rules as every event list.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gridmap.access import accounts
from gridmap.db import make_engine, session_factory
from tests import factories as f
from tests.county_users import county_with_accounts
from tests.logins import PASSWORD, login, service_with_login

G_WEST = f.G1
G_EAST = f"{f.C3}001"  # G5
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


@pytest.fixture(scope="module")
def county_url(server_url: str, small_county_template: str) -> Iterator[str]:
    yield from county_with_accounts(
        server_url,
        small_county_template,
        prefix="phone",
        users=[("county-operator", "operator", [f.COUNTY])],
    )


@pytest.fixture(scope="module")
def app(county_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    engine = make_engine(county_url, pool_size=1)
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
        # A building in each grid (the small county has none).
        for code, grid in (("B-WEST", G_WEST), ("B-EAST", G_EAST)):
            lon, lat = f.SmallCounty.grid_center(grid)
            s.execute(
                text(
                    "INSERT INTO building (county_code, code, households, address, attributes,"
                    " point) VALUES (:c, :code, 12, :addr, '{}',"
                    " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
                ),
                {"c": f.COUNTY, "code": code, "addr": f"{code} 1号", "lon": lon, "lat": lat},
            )
        s.commit()
    engine.dispose()
    yield from service_with_login(county_url, tmp_path_factory.mktemp("phone-home"))


def _event_assigned(operator: TestClient, grid: str) -> dict[str, Any]:
    lon, lat = f.SmallCounty.grid_center(grid)
    made = operator.post(
        "/api/events",
        json={
            "source": "test",
            "external_id": uuid.uuid4().hex,
            "category": "ROAD",
            "location": {"lon": lon, "lat": lat},
            "reported_at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )
    assert made.status_code == 201, made.text
    event_id = made.json()["id"]
    for action, body in (("register", {}), ("assign", {"team": f"T-{grid}"})):
        answer = operator.post(f"/api/events/{event_id}/actions/{action}", json=body)
        assert answer.status_code == 200, answer.text
    return dict(made.json())


def test_my_grid_is_mine_with_its_buildings_and_neighbours_edges(app: TestClient) -> None:
    west = login(app, "west-worker")
    answer = west.get("/api/phone/grid")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    mine = {g["properties"]["code"] for g in data["grids"]["features"]}
    assert G_WEST in mine and G_EAST not in mine
    assert {b["properties"]["code"] for b in data["buildings"]["features"]} == {"B-WEST"}
    assert data["buildings"]["features"][0]["properties"]["households"] == 12
    neighbours = {g["properties"]["code"] for g in data["neighbours"]["features"]}
    # G2 east of G1, G3 north of it; the east township's grids are not neighbours.
    assert {f"{f.C1}002", f"{f.C2}001"} <= neighbours
    assert G_EAST not in neighbours and G_WEST not in neighbours
    assert all(
        g["geometry"]["type"] in ("LineString", "MultiLineString")
        for g in data["neighbours"]["features"]
    )


def test_a_worker_sees_its_teams_tasks_and_nothing_of_another_grid(app: TestClient) -> None:
    operator = login(app, "county-operator")
    west_event = _event_assigned(operator, G_WEST)
    east_event = _event_assigned(operator, G_EAST)
    west = login(app, "west-worker")
    east = login(app, "east-worker")
    west_ids = {e["id"] for e in west.get("/api/phone/tasks").json()["events"]}
    east_ids = {e["id"] for e in east.get("/api/phone/tasks").json()["events"]}
    assert west_event["id"] in west_ids and east_event["id"] not in west_ids
    assert east_event["id"] in east_ids and west_event["id"] not in east_ids
    # Acting on the other grid's task is refused, and the task is unchanged.
    refused = west.post(f"/api/events/{east_event['id']}/actions/start", json={})
    assert refused.status_code == 403, refused.text
    assert operator.get(f"/api/events/{east_event['id']}").json()["status"] == "assigned"
    # Its own task: started, reported back; it leaves the list and counts in "today".
    started = west.post(f"/api/events/{west_event['id']}/actions/start", json={})
    assert started.status_code == 200, started.text
    done = west.post(f"/api/events/{west_event['id']}/actions/report_back", json={"note": "已修复"})
    assert done.status_code == 200, done.text
    assert west_event["id"] not in {e["id"] for e in west.get("/api/phone/tasks").json()["events"]}
    counts = west.get("/api/phone/today").json()["counts"]
    assert counts["tasks_started"] >= 1 and counts["tasks_handled"] >= 1
    assert east.get("/api/phone/today").json()["counts"]["tasks_handled"] == 0


def test_a_report_from_the_phone_counts_today(app: TestClient) -> None:
    west = login(app, "west-worker")
    before = west.get("/api/phone/today").json()["counts"]["reports_today"]
    lon, lat = f.SmallCounty.grid_center(G_WEST)
    body = {
        "source": "grid_worker",
        "external_id": str(uuid.uuid4()),
        "category": "ROAD",
        "location": {"lon": lon, "lat": lat},
        "reported_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    assert west.post("/api/events", json=body).status_code == 201
    assert west.post("/api/events", json=body).status_code == 200  # a resend: the same event
    assert west.get("/api/phone/today").json()["counts"]["reports_today"] == before + 1


def test_the_page_manifest_and_service_worker(app: TestClient) -> None:
    anonymous = TestClient(app.app)
    # The page needs a login; the manifest and the service worker are the same for all.
    page = anonymous.get("/m", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=%2Fm")
    manifest = anonymous.get("/m/manifest.webmanifest")
    assert manifest.status_code == 200
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    m = manifest.json()
    assert m["start_url"] == "/m" and m["display"] == "standalone" and m["name"]
    assert {i["sizes"] for i in m["icons"]} == {"192x192", "512x512"}
    for icon in m["icons"]:
        assert anonymous.get(icon["src"]).headers["content-type"] == "image/png"
    sw = anonymous.get("/m/sw.js")
    assert sw.status_code == 200 and sw.headers["service-worker-allowed"] == "/m"
    assert "javascript" in sw.headers["content-type"]
    west = login(app, "west-worker")
    html = west.get("/m").text
    assert 'rel="manifest"' in html and "<script>" not in html
    english = west.get("/m?lang=en").text
    assert 'lang="en"' in english


@pytest.mark.parametrize(
    ("username", "agent", "lands"),
    [
        ("west-worker", PHONE_UA, "/m"),
        ("west-worker", DESKTOP_UA, "/"),
        ("county-operator", PHONE_UA, "/"),
    ],
)
def test_a_grid_worker_on_a_phone_lands_on_the_phone_page(
    app: TestClient, username: str, agent: str, lands: str
) -> None:
    browser = TestClient(app.app)
    answer = browser.post(
        "/api/auth/login",
        data={"username": username, "password": PASSWORD, "next": "/"},
        headers={"User-Agent": agent},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == lands


def test_static_files_exist() -> None:
    root = Path(__file__).resolve().parent.parent / "web_map" / "static"
    for name in ("js/phone.js", "js/phone_outbox.js", "js/phone_sw.js", "css/phone.css"):
        assert (root / name).is_file(), name


def test_a_photo_without_a_stage_is_after_from_the_handling_team_at_work(
    app: TestClient,
) -> None:
    """The default stage: 'report' until the team started, 'after' from the handling team
    while the event is in progress or reported back; an explicit stage always wins."""
    from tests.test_photos import phone_jpeg

    operator = login(app, "county-operator")
    event = _event_assigned(operator, G_WEST)
    west = login(app, "west-worker")

    # Each upload a different picture (turned another way): the same picture again for
    # the same stage would be the photo attached already (a resend), not a new one.
    turns = iter([1, 3, 6, 8, 1])

    def upload(who: TestClient, query: str = "") -> str:
        picture = phone_jpeg(orientation=next(turns), gps=False)
        answer = who.post(
            f"/api/events/{event['id']}/photos{query}",
            files={"file": ("p.jpg", picture, "image/jpeg")},
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["stage"])

    assert upload(west) == "report"  # assigned, not started: still the problem as found
    assert west.post(f"/api/events/{event['id']}/actions/start", json={}).status_code == 200
    assert upload(west) == "after"
    assert upload(west, "?stage=report") == "report"
    assert upload(operator) == "report"  # the county operator is not the handling team
    assert upload(operator, "?stage=after") == "after"
    stages = [p["stage"] for p in west.get(f"/api/events/{event['id']}/photos").json()["photos"]]
    assert stages == ["report", "after", "report", "report", "after"]


def test_the_service_worker_keeps_the_whole_shell() -> None:
    """Every file the page needs to open with no signal (web_map.phone_page.SHELL) is in the
    service worker's install list: one missing fails the page's start offline (or, for the
    icon, a console error on each offline start)."""
    from web_map.assets import STATIC_DIR
    from web_map.phone_page import SHELL

    worker = (STATIC_DIR / "js" / "phone_sw.js").read_text(encoding="utf-8")
    listed = worker[
        worker.index("const SHELL = [") : worker.index("];", worker.index("const SHELL"))
    ]
    assert [path for path in SHELL if f'"{path}"' not in listed] == []
