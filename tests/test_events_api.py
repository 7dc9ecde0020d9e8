"""The events API over HTTP on a real test database: the closed loop as integrators see it."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from api.app import create_app
from gridmap.db import session_factory
from gridmap.events.photos import clean_photo
from gridmap.models import Event, Photo
from gridmap.settings import Settings
from tests import factories as f

G2 = f"{f.C1}002"


def _image(kind: str) -> bytes:
    """A real picture (photos are decoded, not sniffed: tests/test_photos.py)."""
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (40, 120, 200)).save(out, kind)
    return out.getvalue()


PNG = _image("PNG")
JPEG = _image("JPEG")


def stored_copy(data: bytes) -> bytes:
    """What gridmap stores for `data`: the picture re-encoded without metadata."""
    return clean_photo(data, max_bytes=len(data)).data


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    """Every test here starts from the small county, loaded and activated."""
    return str(request.getfixturevalue("small_county_db_url"))


@pytest.fixture
def client(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=db_url, home=tmp_path, photo_max_bytes=64 * 1024)
    with TestClient(create_app(settings)) as c:
        yield c


def ticket(external_id: str, **changes: Any) -> dict[str, Any]:
    lon, lat = f.SmallCounty.grid_center(f.G1)
    body: dict[str, Any] = {
        "source": "12345",
        "external_id": external_id,
        "category": "ROAD",
        "description": "路面坑洼",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reporter": {"name": "张三", "phone": "13812345678"},
        "reported_at": "2026-11-21T09:30:00+08:00",
    }
    body.update(changes)
    return body


def act(client: TestClient, event_id: int, action: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/events/{event_id}/actions/{action}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def stored(engine: Engine) -> int:
    with session_factory(engine)() as s:
        return s.scalar(select(func.count()).select_from(Event)) or 0


def test_an_integrator_posts_a_ticket_twice_and_gets_one_event(
    client: TestClient, engine: Engine
) -> None:
    first = client.post("/api/events", json=ticket("BJ-1"))
    again = client.post("/api/events", json=ticket("BJ-1"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    body = first.json()
    assert body["grid_code"] == f.G1 and body["team"]["code"] == f"T-{f.G1}"
    assert body["reporter"]["phone"] == "138****5678"
    assert body["allowed_actions"] == ["register", "escalate", "merge"]
    assert stored(engine) == 1


def test_concurrent_posts_of_one_ticket_make_one_event(client: TestClient, engine: Engine) -> None:
    barrier = threading.Barrier(6)
    answers: list[tuple[int, int]] = []

    def send() -> None:
        barrier.wait()
        r = client.post("/api/events", json=ticket("RACE"))
        answers.append((r.status_code, r.json()["id"]))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(code for code, _ in answers) == [200] * 5 + [201]
    assert len({event_id for _, event_id in answers}) == 1
    assert stored(engine) == 1


def test_an_operator_takes_an_event_through_every_step(client: TestClient) -> None:
    event_id = client.post("/api/events", json=ticket("LOOP")).json()["id"]
    states = [
        act(client, event_id, "register", actor="坐席01")["status"],
        act(client, event_id, "assign", actor="坐席01")["status"],
        act(client, event_id, "start", actor="李网格")["status"],
        act(client, event_id, "report_back", actor="李网格", note="已修补")["status"],
        act(client, event_id, "close", actor="坐席01")["status"],
        act(client, event_id, "visit", actor="回访员", satisfaction=5)["status"],
        act(client, event_id, "archive", actor="坐席01")["status"],
    ]
    assert states == [
        "registered",
        "assigned",
        "in_progress",
        "reported_back",
        "closed",
        "closed",
        "archived",
    ]
    log = client.get(f"/api/events/{event_id}/log").json()["entries"]
    assert [e["action"] for e in log] == [
        "report",
        "register",
        "assign",
        "start",
        "report_back",
        "close",
        "visit",
        "archive",
    ]
    assert log[4]["actor"] == "李网格" and log[4]["note"] == "已修补"
    stats = client.get("/api/stats", params={"by": "grid"}).json()["rows"]
    assert [(r["key"], r["closed_on_time"], r["satisfaction"]) for r in stats] == [(f.G1, 1, 5.0)]


def test_a_step_out_of_order_gets_409_naming_the_state(client: TestClient) -> None:
    event_id = client.post("/api/events", json=ticket("ORDER")).json()["id"]
    response = client.post(f"/api/events/{event_id}/actions/close", json={"actor": "op"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "illegal_transition"
    assert error["details"]["current_state"] == "reported"
    assert "reported" in error["message"]
    assert client.get(f"/api/events/{event_id}").json()["status"] == "reported"


def test_an_event_escalates_to_the_county(client: TestClient) -> None:
    event_id = client.post("/api/events", json=ticket("UP")).json()["id"]
    act(client, event_id, "register")
    act(client, event_id, "assign")
    holders = [
        act(client, event_id, "escalate", reason="解决不了")["team"]["code"] for _ in range(3)
    ]
    assert holders == [f"T-{f.C1}", f"T-{f.T1}", f"T-{f.COUNTY}"]
    top = client.post(f"/api/events/{event_id}/actions/escalate", json={"reason": "again"})
    assert top.status_code == 409
    path = [
        (e["data"]["from_level"], e["data"]["to_level"])
        for e in client.get(f"/api/events/{event_id}/log").json()["entries"]
        if e["action"] == "escalate"
    ]
    assert path == [("grid", "community"), ("community", "township"), ("township", "county")]


def test_a_joint_dispatch_closes_when_the_lead_closes_after_the_co_handlers(
    client: TestClient,
) -> None:
    body = client.post(
        "/api/events", json=ticket("EDGE", location={"lon": 112.91, "lat": 35.79})
    ).json()
    assert body["on_boundary"] is True
    event_id = body["id"]
    act(client, event_id, "register")
    act(client, event_id, "joint_dispatch", team=f"T-{f.G1}", co_teams=[f"T-{G2}"])
    act(client, event_id, "start")
    act(client, event_id, "report_back", note="主办完成")
    early = client.post(f"/api/events/{event_id}/actions/close", json={})
    assert early.status_code == 409
    assert early.json()["error"]["details"]["waiting_for"] == [f"T-{G2}"]
    act(client, event_id, "report_back", team=f"T-{G2}", note="协办完成")
    closed = act(client, event_id, "close")
    assert closed["status"] == "closed"
    assert closed["co_handlers"][0]["reported_back_at"] is not None


def last_step(client: TestClient, event_id: int) -> dict[str, Any]:
    return dict(client.get(f"/api/events/{event_id}/log").json()["entries"][-1])


def test_an_event_on_a_boundary_is_assigned_jointly_by_default(client: TestClient) -> None:
    body = client.post(
        "/api/events", json=ticket("EDGE-AUTO", location={"lon": 112.91, "lat": 35.79})
    ).json()
    assert body["on_boundary"] is True
    lead = body["team"]["code"]
    act(client, body["id"], "register")
    assigned = act(client, body["id"], "assign")  # no team named: the rules decide
    assert assigned["status"] == "assigned" and assigned["team"]["code"] == lead
    assert [c["team"] for c in assigned["co_handlers"]] == sorted({f"T-{f.G1}", f"T-{G2}"} - {lead})
    step = last_step(client, body["id"])
    assert step["action"] == "joint_dispatch" and step["data"]["reasons"] == ["on_boundary"]
    # Assigning it again is still the 409 of assign, not a second joint dispatch.
    again = client.post(f"/api/events/{body['id']}/actions/assign", json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"
    # An event well inside its grid is a plain assignment.
    inside = client.post("/api/events", json=ticket("INSIDE")).json()
    act(client, inside["id"], "register")
    assert act(client, inside["id"], "assign")["co_handlers"] == []
    assert last_step(client, inside["id"])["action"] == "assign"


def test_a_coordination_event_brings_in_its_department(client: TestClient) -> None:
    def registered(external_id: str) -> int:
        body = client.post("/api/events", json=ticket(external_id, category="MULTI")).json()
        assert body["priority"] == "coordination"
        act(client, body["id"], "register")
        return int(body["id"])

    by_default = act(client, registered("MULTI-1"), "assign")
    assert by_default["team"]["code"] == f"T-{f.G1}"
    assert [c["team"] for c in by_default["co_handlers"]] == ["D-ZF"]
    assert last_step(client, by_default["id"])["data"]["reasons"] == ["coordination"]
    # A joint dispatch that names no team takes the same plan.
    unnamed = act(client, registered("MULTI-2"), "joint_dispatch")
    assert [c["team"] for c in unnamed["co_handlers"]] == ["D-ZF"]
    # An operator who names the team decides: a plain assignment.
    named = act(client, registered("MULTI-3"), "assign", team=f"T-{f.G1}")
    assert named["co_handlers"] == [] and last_step(client, named["id"])["action"] == "assign"


def test_a_duplicate_is_linked_and_merged(client: TestClient) -> None:
    lon, lat = f.SmallCounty.grid_center(f.G1)
    first = client.post("/api/events", json=ticket("P1")).json()
    second = client.post(
        "/api/events",
        json=ticket("P2", location={"lon": lon + 0.0001, "lat": lat}),
    ).json()
    assert second["duplicate_of"] == first["id"]
    merged = act(client, second["id"], "merge")
    assert merged["status"] == "merged"
    listed = client.get("/api/events", params={"status": "merged"}).json()["events"]
    assert [e["id"] for e in listed] == [second["id"]]


BAD_TICKETS: list[tuple[dict[str, Any], int, str]] = [
    ({"category": "NOPE"}, 422, "unknown_category"),
    ({"location": {"lon": 112.9, "lat": 95.0}}, 422, "invalid_coordinates"),
    ({"location": {"lon": 112.9, "lat": 35.8, "crs": "EPSG:999999"}}, 422, "unknown_crs"),
    ({"location": {"lon": "abc", "lat": 35.8}}, 422, "invalid_input"),
    ({"reported_at": "yesterday"}, 422, "invalid_input"),
    # Out of the database's range (was a 500), and a clock far off.
    ({"reported_at": "0001-01-01T00:00:00+14:00"}, 422, "invalid_input"),
    ({"reported_at": "9999-12-31T23:59:59-12:00"}, 422, "invalid_input"),
    ({"reported_at": "4000-01-01T00:00:00+08:00"}, 422, "invalid_input"),
    ({"description": "长" * 6000}, 413, "payload_too_large"),
    ({"description": "x" * (50 * 1024 * 1024)}, 413, "payload_too_large"),
    # PostgreSQL text cannot hold U+0000: refused by name, not a 500 from the driver.
    ({"description": "路面\u0000坑洼"}, 422, "invalid_input"),
    ({"reporter": {"name": "张\u0000三", "phone": "13812345678"}}, 422, "invalid_input"),
    ({"address": "\u0000"}, 422, "invalid_input"),
    ({"source": "NUL\u0000"}, 422, "invalid_input"),
]


def test_bad_tickets_get_a_clear_4xx_and_nothing_is_stored(
    client: TestClient, engine: Engine
) -> None:
    for changes, status, code in BAD_TICKETS:
        response = client.post("/api/events", json=ticket("BAD", **changes))
        assert response.status_code == status, (changes, response.text[:300])
        assert response.json()["error"]["code"] == code
    # NaN is not JSON, but some senders write it anyway.
    raw = (
        '{"source": "12345", "external_id": "NAN", "category": "ROAD", '
        '"location": {"lon": NaN, "lat": 35.8}, "reported_at": "2026-11-21T09:30:00+08:00"}'
    )
    nan = client.post("/api/events", content=raw, headers={"content-type": "application/json"})
    assert nan.status_code == 422
    assert stored(engine) == 0


def test_a_note_holding_a_nul_character_is_refused_and_the_step_not_taken(
    client: TestClient,
) -> None:
    event_id = client.post("/api/events", json=ticket("NUL-NOTE")).json()["id"]
    response = client.post(
        f"/api/events/{event_id}/actions/register", json={"actor": "op", "note": "a\u0000b"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "note"
    assert client.get(f"/api/events/{event_id}").json()["status"] == "reported"


def test_a_value_the_database_refuses_is_the_senders_error_not_a_500(
    client: TestClient,
) -> None:
    # No check names this filter: the net under every path answers instead.
    response = client.get("/api/events", params={"category": "a\u0000b"})
    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["error"]["message"]


def test_a_ticket_far_outside_is_kept_for_triage_and_placed_by_an_operator(
    client: TestClient,
) -> None:
    lost = client.post(
        "/api/events", json=ticket("LOST", location={"lon": 113.6, "lat": 36.6})
    ).json()
    assert lost["unassigned"] is True and lost["grid_code"] is None
    queue = client.get("/api/events/triage").json()["events"]
    assert [e["id"] for e in queue] == [lost["id"]]
    lon, lat = f.SmallCounty.grid_center(G2)
    placed = client.post(
        f"/api/events/{lost['id']}/place", json={"lon": lon, "lat": lat, "actor": "op"}
    ).json()
    assert placed["grid_code"] == G2 and placed["team"]["code"] == f"T-{G2}"
    assert client.get("/api/events/triage").json()["events"] == []


def test_a_photo_is_checked_by_content_stored_once_and_served_back(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    event_id = client.post("/api/events", json=ticket("PHOTO")).json()["id"]
    url = f"/api/events/{event_id}/photos"
    first = client.post(url, files={"file": ("scene.png", PNG, "image/png")})
    assert first.status_code == 201, first.text
    # The same picture sent again (a resend after a lost answer) is the photo it has.
    again = client.post(url, files={"file": ("copy.jpg", PNG, "image/jpeg")})
    assert again.status_code == 200 and again.json() == first.json()
    # On another event it is another photo of that event, and one file on disk.
    other_id = client.post("/api/events", json=ticket("PHOTO-2")).json()["id"]
    other = client.post(
        f"/api/events/{other_id}/photos", files={"file": ("copy.jpg", PNG, "image/jpeg")}
    )
    assert other.status_code == 201, other.text
    assert other.json()["media_type"] == "image/png"  # the content decides, not the name
    assert len(list((tmp_path / "photos").rglob("*.png"))) == 1
    served = client.get(first.json()["url"])
    assert served.status_code == 200 and served.content == stored_copy(PNG)
    assert served.headers["content-type"] == "image/png"

    exe = client.post(
        url, files={"file": ("photo.jpg", b"MZ\x90\x00" + b"\x00" * 60, "image/jpeg")}
    )
    assert exe.status_code == 415 and exe.json()["error"]["code"] == "unsupported_media"
    big = client.post(url, files={"file": ("big.png", PNG + b"\x00" * 70_000, "image/png")})
    assert big.status_code == 413
    with session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Photo)) == 2
    log = client.get(f"/api/events/{event_id}/log").json()["entries"]
    assert [e["action"] for e in log].count("photo") == 1


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def photo_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "photos").rglob("*") if p.is_file())


def test_a_phone_report_brings_its_photos_in_the_same_request(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    body = ticket("PHONE-1", photos=[b64(PNG), "data:image/jpeg;base64," + b64(JPEG)])
    first = client.post("/api/events", json=body)
    assert first.status_code == 201, first.text
    event_id = first.json()["id"]
    photos = client.get(f"/api/events/{event_id}/photos").json()["photos"]
    assert [p["media_type"] for p in photos] == ["image/png", "image/jpeg"]
    assert client.get(photos[1]["url"]).content == stored_copy(JPEG)
    log = client.get(f"/api/events/{event_id}/log").json()["entries"]
    assert [e["action"] for e in log] == ["report", "photo", "photo"]
    # The phone resends on a flaky line: the same event, its photos not added again.
    again = client.post("/api/events", json=body)
    assert (again.status_code, again.json()["id"]) == (200, event_id)
    with session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Photo)) == 2
    assert len(photo_files(tmp_path)) == 2


BAD_PHOTOS: list[tuple[list[str], int, str]] = [
    ([b64(PNG), b64(b"MZ\x90\x00" + b"\x00" * 60)], 415, "photos[1]"),  # an executable
    (["not base64!"], 422, "photos[0]"),
    (["data:image/png," + b64(PNG)], 422, "photos[0]"),  # a data: URL that is not base64
    ([b64(PNG + b"\x00" * 70_000)], 413, "photos[0]"),  # over the test's 64 KiB
    ([""], 422, "photos[0]"),
    ([b64(PNG)] * 5, 422, "photos"),  # more than an event may carry
]


def test_an_event_with_a_bad_photo_is_refused_whole(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    for photos, status, where in BAD_PHOTOS:
        response = client.post("/api/events", json=ticket("PHONE-BAD", photos=photos))
        assert response.status_code == status, (where, response.text[:300])
        assert where in response.json()["error"]["message"], response.text[:300]
    assert stored(engine) == 0
    assert photo_files(tmp_path) == []


def test_categories_and_geojson_listing(client: TestClient) -> None:
    codes = [c["code"] for c in client.get("/api/categories").json()["categories"]]
    assert codes == ["CONS", "MULTI", "ROAD", "SMOKE", "VEND"]
    client.post("/api/events", json=ticket("G1"))
    collection = client.get("/api/events", params={"f": "geojson", "area": f.T1}).json()
    assert collection["type"] == "FeatureCollection"
    lon, lat = f.SmallCounty.grid_center(f.G1)
    assert collection["features"][0]["geometry"]["coordinates"] == pytest.approx([lon, lat])
    assert client.get("/api/events", params={"area": f.T2}).json()["events"] == []


def _set_connections(db_url: str, *, allowed: bool) -> None:
    url = make_url(db_url)
    admin = url.set(database="postgres", drivername="postgresql").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (url.database,),
            )


@pytest.mark.parametrize("batched", [False, True], ids=["first-of-its-category", "batched"])
def test_ingest_answers_503_while_the_database_is_down_and_succeeds_after(
    client: TestClient, engine: Engine, db_url: str, batched: bool
) -> None:
    if batched:  # a category seen before goes through the batcher and its own connection
        assert client.post("/api/events", json=ticket("WARM")).status_code == 201
    _set_connections(db_url, allowed=False)
    try:
        down = client.post("/api/events", json=ticket("DOWN"))
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "database_unavailable"
        assert down.headers["retry-after"]
    finally:
        _set_connections(db_url, allowed=True)
    engine.dispose()
    assert stored(engine) == int(batched)
    back = client.post("/api/events", json=ticket("DOWN"))
    assert back.status_code == 201, back.text
    assert stored(engine) == 1 + int(batched)


def test_the_team_picker_offers_the_routed_team_first_then_neighbours_duty_and_department(
    client: TestClient,
) -> None:
    body = client.post("/api/events", json=ticket("PICK", category="MULTI")).json()
    busy = client.post("/api/events", json=ticket("PICK-BUSY")).json()
    act(client, busy["id"], "register")
    act(client, busy["id"], "assign", team=f"T-{G2}")
    answer = client.get(f"/api/events/{body['id']}/team-candidates")
    assert answer.status_code == 200, answer.text
    offered = answer.json()["teams"]
    codes = [t["code"] for t in offered]
    whys = {t["code"]: t["why"] for t in offered}
    assert codes[0] == f"T-{f.G1}" and whys[f"T-{f.G1}"] == "current"
    assert whys[f"T-{G2}"] == "neighbour"
    assert whys[f"T-{f.C1}"] == "community" and whys[f"T-{f.T1}"] == "township"
    assert whys["D-ZF"] == "department"
    assert codes.index(f"T-{G2}") < codes.index(f"T-{f.C1}") < codes.index("D-ZF")
    load = {t["code"]: t["open_events"] for t in offered}
    assert load[f"T-{G2}"] >= 1
    # Searchable by name and code; a department's name finds its team.
    by_name = client.get(f"/api/events/{body['id']}/team-candidates", params={"q": "住建局"})
    assert [t["code"] for t in by_name.json()["teams"]] == ["D-ZJ"]
    assert by_name.json()["teams"][0]["department"] == "住建局"
    by_code = client.get(f"/api/events/{body['id']}/team-candidates", params={"q": "d-xf"})
    assert [t["code"] for t in by_code.json()["teams"]] == ["D-XF"]
    # What is offered is accepted by assign.
    act(client, body["id"], "register")
    assert act(client, body["id"], "assign", team="D-ZJ")["team"]["code"] == "D-ZJ"


def test_escalation_offers_the_next_levels_teams_and_goes_to_the_one_picked(
    client: TestClient,
) -> None:
    body = client.post("/api/events", json=ticket("PICK-UP", category="MULTI")).json()
    event_id = body["id"]
    act(client, event_id, "register")
    act(client, event_id, "assign", team=f"T-{f.G1}")

    def offered(**params: str) -> list[dict[str, Any]]:
        answer = client.get(
            f"/api/events/{event_id}/team-candidates", params={"purpose": "escalate", **params}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["purpose"] == "escalate"
        return list(answer.json()["teams"])

    # From the grid: the community's duty team, with its open load; nothing else answers there.
    community = offered()
    assert [(t["code"], t["why"]) for t in community] == [(f"T-{f.C1}", "escalation")]
    assert community[0]["open_events"] == 0
    # A team of another level or area is refused, and the event stays where it was.
    wrong = client.post(
        f"/api/events/{event_id}/actions/escalate", json={"reason": "解决不了", "team": f"T-{f.T1}"}
    )
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["error"]["reason"] == "escalation_target_invalid"
    assert client.get(f"/api/events/{event_id}").json()["team"]["code"] == f"T-{f.G1}"
    up = act(client, event_id, "escalate", reason="解决不了", team=f"T-{f.C1}")
    assert up["team"]["code"] == f"T-{f.C1}" and up["escalation_level"] == "community"
    assert [t["code"] for t in offered()] == [f"T-{f.T1}"]
    act(client, event_id, "escalate", reason="社区解决不了")
    # At the county: its duty team first, then the category's department, then the others;
    # searchable by a department's name.
    county = offered()
    codes = [t["code"] for t in county]
    assert codes[0] == f"T-{f.COUNTY}" and codes[1] == "D-ZF", codes
    assert {"D-ZJ", "D-XF"} <= set(codes)
    assert {t["why"] for t in county[1:]} == {"department"}
    assert [t["code"] for t in offered(q="住建")] == ["D-ZJ"]
    top = act(client, event_id, "escalate", reason="需住建局到场", team="D-ZJ")
    assert top["team"]["code"] == "D-ZJ" and top["escalation_level"] == "county"
    # At the top nothing is offered.
    assert offered() == []


def test_the_list_says_of_each_event_what_the_event_itself_says(client: TestClient) -> None:
    """The list reads teams and co-handlers for all its events at once: the same answer as
    one event's, co-handlers and team included."""
    plain = client.post("/api/events", json=ticket("LIST-1")).json()["id"]
    joint = client.post("/api/events", json=ticket("LIST-2", category="MULTI")).json()["id"]
    act(client, joint, "register")
    act(client, joint, "joint_dispatch", team=f"T-{f.G1}", co_teams=["D-ZJ", "D-ZF"])
    act(client, plain, "register")
    listed = client.get("/api/events", params={"status": "registered,assigned"}).json()["events"]
    by_id = {e["id"]: e for e in listed}
    for event_id in (plain, joint):
        one = client.get(f"/api/events/{event_id}").json()
        for key in ("team", "co_handlers", "allowed_actions", "status"):
            assert by_id[event_id][key] == one[key], (event_id, key)
    assert [c["team"] for c in by_id[joint]["co_handlers"]] == ["D-ZF", "D-ZJ"]
    assert by_id[joint]["team"]["code"] == f"T-{f.G1}" and by_id[plain]["co_handlers"] == []
