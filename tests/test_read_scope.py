"""Every GET route that lists or reads events, areas or accounts goes through the scope
rule: a west-township caller gets none of the east township's rows from any of them.

The routes are enumerated from the app itself (`api.auth.served_routes`), so a GET route
added later fails `test_every_get_route_is_probed_or_exempt_for_a_reason` until it is
probed here or exempted with a reason. A probe asks as west-township users (an
administrator, an operator, a grid worker of a west grid) and proves two things: nothing
of the east township in the answer (its area codes, its events' ids and external ids,
its users and tokens), and something of the west township (so the probe can fail: an
answer that is always empty proves nothing). Reads by id ask for an east object and
must be refused (403 or 404).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text

from api.auth import served_routes
from gridmap.access import accounts
from gridmap.db import make_engine, session_factory
from tests import factories as f
from tests.county_users import county_with_accounts
from tests.logins import PASSWORD, login, service_with_login

EAST_GRIDS = (f"{f.C3}001", f"{f.C4}002")
WEST_GRIDS = (f.G1, f"{f.C2}002")
USERS = [
    ("west-admin", "admin", [f.T1]),
    ("west-operator", "operator", [f.T1]),
    ("west-supervisor", "supervisor", [f.T1]),
    ("east-operator", "operator", [f.T2]),
    ("county-admin", "admin", [f.COUNTY]),
]
# A JSON string value that is an east area code (T2 and everything below it).
EAST_CODE = re.compile(rf'"{f.T2}\d*"')
WEST_CODE = re.compile(rf'"{f.T1}\d*"')


@dataclass
class World:
    """What the probes look for: the east and west events, users and tokens."""

    east_ids: list[int]
    west_ids: list[int]
    east_external: list[str]
    west_external: list[str]
    east_area_id: int
    version_id: int
    east_photo: tuple[int, int]
    clients: dict[str, TestClient]


@pytest.fixture(scope="module")
def county_url(server_url: str, small_county_template: str) -> Iterator[str]:
    yield from county_with_accounts(
        server_url, small_county_template, prefix="rdscope", users=USERS
    )


@pytest.fixture(scope="module")
def app(county_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from service_with_login(county_url, tmp_path_factory.mktemp("rdscope"))


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (40, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def world(app: TestClient, county_url: str) -> World:
    engine = make_engine(county_url, pool_size=1)
    with session_factory(engine)() as s:
        accounts.create_token(s, name="east-reader", role="reader", area_codes=[f.T2])
        accounts.create_token(s, name="west-reader", role="reader", area_codes=[f.T1])
        for name, grid in (("west-worker", f.G1), ("east-worker", EAST_GRIDS[0])):
            accounts.create_user(
                s,
                username=name,
                role="grid_worker",
                password=PASSWORD,
                area_codes=[grid],
                team_code=f"T-{grid}",
            )
        s.commit()
        east_area_id = int(
            s.execute(
                text("SELECT id FROM area WHERE code = :c AND valid_to IS NULL"), {"c": f.T2}
            ).scalar_one()
        )
        version_id = int(
            s.execute(text("SELECT id FROM boundary_version WHERE status = 'active'")).scalar_one()
        )
    engine.dispose()
    county = login(app, "county-admin")
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(microsecond=0)
    ids: dict[str, list[int]] = {"east": [], "west": []}
    external: dict[str, list[str]] = {"east": [], "west": []}
    for side, grids in (("east", EAST_GRIDS), ("west", WEST_GRIDS)):
        for grid in grids:
            lon, lat = f.SmallCounty.grid_center(grid)
            body = {
                "source": "12345",
                "external_id": f"{side}-{uuid.uuid4().hex[:10]}",
                "category": "ROAD",
                "description": "路面塌陷",
                "reporter": {"name": "张三", "phone": "13812345678"},
                "reported_at": now.isoformat(),
                "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
            }
            answer = county.post("/api/events", json=body)
            assert answer.status_code in (200, 201), answer.text
            ids[side].append(int(answer.json()["id"]))
            external[side].append(body["external_id"])
    photo = county.post(
        f"/api/events/{ids['east'][0]}/photos", files={"file": ("a.png", png(), "image/png")}
    )
    assert photo.status_code in (200, 201), photo.text
    for name, grid in (("west-worker", WEST_GRIDS[0]), ("east-worker", EAST_GRIDS[0])):
        _patrol_and_visit(login(app, name), grid)
    photos = county.get(f"/api/events/{ids['east'][0]}/photos").json()
    photo_id = int((photos["photos"] if isinstance(photos, dict) else photos)[0]["id"])
    return World(
        east_ids=ids["east"],
        west_ids=ids["west"],
        east_external=external["east"],
        west_external=external["west"],
        east_area_id=east_area_id,
        version_id=version_id,
        east_photo=(ids["east"][0], photo_id),
        clients={
            name: login(app, name)
            for name in ("west-admin", "west-operator", "west-supervisor", "west-worker")
        },
    )


def _patrol_and_visit(worker: TestClient, grid: str) -> None:
    """A patrol of one point and a household visit in `grid`, by a worker of its grid."""
    lon, lat = f.SmallCounty.grid_center(grid)
    patrol = str(uuid.uuid4())
    started = worker.post("/api/patrols", json={"client_id": patrol, "lon": lon, "lat": lat})
    assert started.status_code == 201, started.text
    at = dt.datetime.now(dt.UTC).isoformat()
    point = {"lon": lon, "lat": lat, "at": at, "accuracy": 10}
    moved = worker.post(f"/api/patrols/{patrol}/points", json={"seq": 1, "points": [point]})
    assert moved.status_code == 200, moved.text
    visit = {"client_id": str(uuid.uuid4()), "kind": "special_care", "lon": lon, "lat": lat}
    visited = worker.post("/api/visits", json=visit)
    assert visited.status_code == 201, visited.text


# --- the checks -------------------------------------------------------------------------


def east_in(answer: str, w: World) -> list[str]:
    """What of the east township an answer holds."""
    found = EAST_CODE.findall(answer)
    found += [x for x in w.east_external if x in answer]
    found += [n for n in ("east-operator", "east-reader", "east-worker") if n in answer]
    # An event named by its id where an id can only be an event's.
    for event_id in w.east_ids:
        if re.search(
            rf'"(?:event_id|target_id)":\s*"?{event_id}\b|"kind":\s*"event",\s*"id":\s*{event_id}\b',
            answer,
        ):
            found.append(f"event {event_id}")
    return found


def west_in(answer: str, w: World) -> bool:
    return bool(
        WEST_CODE.search(answer)
        or any(x in answer for x in w.west_external)
        or "west-operator" in answer
        or "west-worker" in answer
        or any(re.search(rf'"(?:event_id|target_id)":\s*"?{i}\b', answer) for i in w.west_ids)
    )


@dataclass(frozen=True)
class Probe:
    """Ask `who` for each URL `urls(world)` gives; `west`: the answer must hold something
    of the west (False where the route may rightly answer nothing for this data)."""

    who: str
    urls: Callable[[World], list[str]]
    west: bool = True


@dataclass(frozen=True)
class Refusal:
    """Ask `who` for the east object at `url(world)`: 403 or 404, and nothing of it."""

    who: str
    url: Callable[[World], str]


LIST_PROBES: dict[str, Probe] = {
    "/api/events": Probe("west-admin", lambda w: ["/api/events", "/api/events?f=geojson"]),
    "/api/events/triage": Probe("west-operator", lambda w: ["/api/events/triage"], west=False),
    "/api/queues": Probe("west-operator", lambda w: ["/api/queues"]),
    "/api/stats": Probe(
        "west-admin",
        lambda w: [f"/api/stats?by={by}" for by in ("township", "community", "grid", "team")],
    ),
    "/api/stats/series": Probe("west-admin", lambda w: ["/api/stats/series"], west=False),
    "/api/stats/events": Probe("west-admin", lambda w: ["/api/stats/events?figure=received"]),
    "/api/ledgers/{kind}": Probe(
        "west-admin",
        lambda w: [f"/api/ledgers/{k}?f=json" for k in ("events", "assessment")],
    ),
    "/api/search": Probe(
        "west-admin",
        lambda w: ["/api/search?q=990101", "/api/search?q=路", f"/api/search?q=%23{w.east_ids[0]}"],
    ),
    "/api/admin/users": Probe("west-admin", lambda w: ["/api/admin/users"], west=False),
    "/api/admin/tokens": Probe("west-admin", lambda w: ["/api/admin/tokens"], west=False),
    "/api/audit": Probe("west-admin", lambda w: ["/api/audit?limit=1000"]),
    "/api/versions/{version_id}": Probe("west-admin", lambda w: [f"/api/versions/{w.version_id}"]),
    "/ogc/collections/{layer}/items": Probe(
        "west-admin",
        lambda w: [
            f"/ogc/collections/{layer}/items" for layer in ("township", "community", "grid")
        ],
    ),
    "/api/phone/tasks": Probe("west-worker", lambda w: ["/api/phone/tasks"], west=False),
    "/api/phone/grid": Probe("west-worker", lambda w: ["/api/phone/grid"]),
    "/api/patrols": Probe("west-supervisor", lambda w: ["/api/patrols"]),
    "/api/patrols/live": Probe("west-supervisor", lambda w: ["/api/patrols/live"]),
    "/api/patrols/mine": Probe("west-worker", lambda w: ["/api/patrols/mine"], west=False),
    "/api/visits": Probe("west-supervisor", lambda w: ["/api/visits"]),
}

READ_REFUSALS: dict[str, Refusal] = {
    "/api/events/{event_id}": Refusal("west-admin", lambda w: f"/api/events/{w.east_ids[0]}"),
    "/api/events/{event_id}/log": Refusal(
        "west-admin", lambda w: f"/api/events/{w.east_ids[0]}/log"
    ),
    "/api/events/{event_id}/photos": Refusal(
        "west-admin", lambda w: f"/api/events/{w.east_photo[0]}/photos"
    ),
    "/api/events/{event_id}/photos/{photo_id}": Refusal(
        "west-admin", lambda w: f"/api/events/{w.east_photo[0]}/photos/{w.east_photo[1]}"
    ),
    "/api/events/{event_id}/reporter": Refusal(
        "west-operator", lambda w: f"/api/events/{w.east_ids[0]}/reporter"
    ),
    "/api/events/{event_id}/team-candidates": Refusal(
        "west-operator", lambda w: f"/api/events/{w.east_ids[0]}/team-candidates"
    ),
    "/ogc/collections/{layer}/items/{area_id}": Refusal(
        "west-admin", lambda w: f"/ogc/collections/township/items/{w.east_area_id}"
    ),
    "/api/locate": Refusal(
        "west-admin",
        lambda w: "/api/locate?lon={}&lat={}".format(*f.SmallCounty.grid_center(EAST_GRIDS[0])),
    ),
}

# GET routes that hold no township's rows, or whose filter is proven where it is cheaper.
EXEMPT: dict[str, str] = {
    "/health": "public: the service's own state",
    "/openapi.json": "public: the API's schema",
    "/docs": "public: the API's documentation page",
    "/login": "public: the login page",
    "/static/{path:path}": "public: the pages' files",
    "/m/manifest.webmanifest": "public: the phone page's manifest",
    "/m/sw.js": "public: the phone page's service worker",
    "/": "an HTML page: its data comes from the probed API routes",
    "/editor": "an HTML page: its data comes from the drafts API",
    "/stats": "an HTML page: its data comes from /api/stats, probed",
    "/m": "an HTML page: its data comes from /api/phone/*, probed",
    "/api/auth/me": "the caller's own account",
    "/api/phone/today": "the caller's own day: counts of its own reports and tasks",
    "/api/stats/definitions": "what each figure counts: text, no rows",
    "/api/categories": "the county's responsibility list, the same for everyone in it",
    "/api/stream": "Server-Sent Events: tests/test_stream.py "
    "test_the_stream_filters_by_the_callers_jurisdiction and "
    "test_a_map_hears_only_about_events_its_user_may_read",
    "/tiles/{layer}/{z}/{x}/{y}.pbf": "binary vector tiles: tests/test_tiles.py "
    "test_a_township_operator_sees_only_their_township_in_the_tiles",
    "/tiles/{layer}.json": "TileJSON: the layer's URL template and zooms, no rows",
    "/api/versions": "the list of boundary versions (names, dates), no areas",
    "/api/drafts": "boundary drafts are planners' work on the county; writing in them is "
    "scoped by gridmap/access/boundary_access.py (tests/test_boundary_write_scope.py)",
    "/api/drafts/{draft_id}": "as /api/drafts",
    "/api/drafts/{draft_id}/diff": "as /api/drafts",
    "/api/reports": "stored daily and weekly reports, made by the service on its schedule "
    "(none in this data): tests/test_reports.py "
    "test_reports_are_listed_and_served_in_the_jurisdiction_only",
    "/api/reports/{report_id}": "as /api/reports",
    "/api/geocode": "the county's address register: places on the ground, no events, areas "
    "of a jurisdiction or accounts",
    "/tiles/basemap/{z}/{x}/{y}.pbf": "the basemap: a map of the ground, the same for every viewer",
    "/tiles/basemap/labels.json": "the basemap's labels, as its tiles",
    "/tiles/basemap/sources.json": "the basemap's attribution, the same for every viewer",
    "/ogc": "OGC landing page: links",
    "/ogc/conformance": "OGC conformance classes",
    "/ogc/collections": "the layers' names and links",
    "/ogc/collections/{layer}": "one layer's name and links",
}


def test_every_get_route_is_probed_or_exempt_for_a_reason(app: TestClient) -> None:
    served = {path for method, path, _ in served_routes(app.app) if method == "GET"}
    known = set(LIST_PROBES) | set(READ_REFUSALS) | set(EXEMPT)
    assert served - known == set(), "classify the new GET routes in this file"
    assert known - served == set(), "routes no longer served: drop them here"


@pytest.mark.parametrize("path", sorted(LIST_PROBES))
def test_a_list_route_answers_a_west_caller_nothing_of_the_east(path: str, world: World) -> None:
    probe = LIST_PROBES[path]
    client = world.clients[probe.who]
    saw_west = False
    for url in probe.urls(world):
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.text[:300])
        body = answer.text
        assert east_in(body, world) == [], (url, body[:500])
        saw_west = saw_west or west_in(body, world)
    if probe.west:
        assert saw_west, f"{path}: nothing of the west either, so this probe proves nothing"


@pytest.mark.parametrize("path", sorted(READ_REFUSALS))
def test_a_read_route_refuses_a_west_caller_the_east(path: str, world: World) -> None:
    refusal = READ_REFUSALS[path]
    url = refusal.url(world)
    answer = world.clients[refusal.who].get(url)
    assert answer.status_code in (403, 404), (url, answer.status_code, answer.text[:300])


def test_the_probes_see_the_east_for_a_county_caller(app: TestClient, world: World) -> None:
    """The same questions asked by the county: the east is there to be seen, so the west
    callers' empty answers above come from the scope rule, not from missing data."""
    county = login(app, "county-admin")
    for path in ("/api/events", "/api/stats", "/ogc/collections/{layer}/items", "/api/audit"):
        answers = "".join(county.get(url).text for url in LIST_PROBES[path].urls(world))
        assert east_in(answers, world), path
    event = county.get(READ_REFUSALS["/api/events/{event_id}"].url(world))
    assert event.status_code == 200
    assert json.loads(event.text)["id"] == world.east_ids[0]
