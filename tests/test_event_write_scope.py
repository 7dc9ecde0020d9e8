"""Every write on an event stays inside the caller's jurisdiction.

The small county (tests/factories.py): a west township T1 and an east township T2. Users
of every role that acts on events are given the west township (or, for the team member,
the west grid G1's team); an event of the east township must be out of their reach on
every write route — each workflow action (merge and joint dispatch included, and naming
an east team or an east target from a west event), placing, photos, the unmasked
reporter, and a repeat of the east event's (source, external_id) — answered 403 or 404
with the event row, its timeline, its co-handlers and photos unchanged.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gridmap.access import accounts
from gridmap.db import make_engine, session_factory
from tests import factories as f
from tests.county_users import county_with_accounts
from tests.logins import login, service_with_login

G_EAST = f"{f.C3}001"
G_WEST = f.G1
WEST_USERS = [
    ("west-operator", "operator", [f.T1]),
    ("west-supervisor", "supervisor", [f.T1]),
    ("west-admin", "admin", [f.T1]),
    ("west-grid-worker", "grid_worker", [f.G1]),
    ("west-planner", "planner", [f.T1]),
]
USERS = [
    *WEST_USERS,
    ("county-operator", "operator", [f.COUNTY]),
    ("county-admin", "admin", [f.COUNTY]),
]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(scope="module")
def county_url(server_url: str, small_county_template: str) -> Iterator[str]:
    yield from county_with_accounts(
        server_url, small_county_template, prefix="evscope", users=USERS
    )


@pytest.fixture(scope="module")
def secrets(county_url: str) -> dict[str, str]:
    """Integration tokens (their secrets) and a team member of the west grid's team."""
    engine = make_engine(county_url, pool_size=1)
    out: dict[str, str] = {}
    with session_factory(engine)() as s:
        for name, role, areas in (
            ("county-hotline", "integration", [f.COUNTY]),
            ("west-gateway", "integration", [f.T1]),
            ("west-reader", "reader", [f.T1]),
        ):
            _, out[name] = accounts.create_token(s, name=name, role=role, area_codes=areas)
        accounts.create_user(
            s,
            username="west-team-member",
            role="team_member",
            password="correct horse battery",
            team_code=f"T-{f.G1}",
        )
        for username, team in (("zf-team-member", "D-ZF"), ("zj-team-member", "D-ZJ")):
            accounts.create_user(
                s,
                username=username,
                role="team_member",
                password="correct horse battery",
                team_code=team,
            )
        s.commit()
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def app(county_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from service_with_login(county_url, tmp_path_factory.mktemp("evscope"))


def bearer(app: TestClient, secret: str) -> TestClient:
    client = TestClient(app.app)
    client.headers["Authorization"] = f"Bearer {secret}"
    return client


def ticket(point: tuple[float, float] | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "12345",
        "external_id": f"T-{uuid.uuid4().hex[:10]}",
        "category": "ROAD",
        "description": "路面塌陷",
        "reporter": {"name": "张三", "phone": "13812345678"},
        "reported_at": "2026-11-20T09:30:00+08:00",
        **extra,
    }
    if point is not None:
        body["location"] = {"lon": point[0], "lat": point[1], "crs": "wgs84"}
    return body


def post_event(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/api/events", json=body)
    assert answer.status_code in (200, 201), answer.text
    return dict(answer.json())


def snapshot(county_url: str, *event_ids: int) -> dict[str, Any]:
    """Everything an event write could change, straight from the database."""
    engine = make_engine(county_url, pool_size=1)
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for event_id in event_ids:
            params = {"id": event_id}
            out[f"event {event_id}"] = [
                dict(r._mapping)
                for r in conn.execute(text("SELECT * FROM event WHERE id = :id"), params)
            ]
            for table in ("event_log", "event_co_handler", "photo"):
                out[f"{table} {event_id}"] = [
                    dict(r._mapping)
                    for r in conn.execute(
                        text(f"SELECT * FROM {table} WHERE event_id = :id ORDER BY id"), params
                    )
                ]
    engine.dispose()
    return out


def audit_rows(county_url: str, *, action: str, target: int) -> list[dict[str, Any]]:
    engine = make_engine(county_url, pool_size=1)
    with engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                text(
                    "SELECT actor, action, target_id, details FROM audit_log "
                    "WHERE action = :action AND target_id = :target ORDER BY id"
                ),
                {"action": action, "target": str(target)},
            )
        ]
    engine.dispose()
    return rows


# The body each workflow action needs to get past its own checks.
ACTION_BODIES: dict[str, dict[str, Any]] = {
    "register": {},
    "assign": {"team": f"T-{G_EAST}"},
    "start": {},
    "report_back": {"note": "done"},
    "close": {},
    "archive": {},
    "return": {"reason": "not ours"},
    "reopen": {"reason": "again"},
    "escalate": {"reason": "too big"},
    "joint_dispatch": {"co_teams": [f"T-{f.C3}"]},
    "merge": {},  # the target is filled in by the test
    "visit": {"satisfaction": 5},
}


def test_a_township_user_of_every_role_writes_nothing_on_another_townships_event(
    app: TestClient, county_url: str, secrets: dict[str, str]
) -> None:
    hotline = bearer(app, secrets["county-hotline"])
    east_body = ticket(f.SmallCounty.grid_center(G_EAST))
    east = post_event(hotline, east_body)
    other_east = post_event(hotline, ticket(f.SmallCounty.grid_center(f"{f.C3}002")))
    assert east["grid_code"] == G_EAST
    before = snapshot(county_url, east["id"], other_east["id"])
    clients = {name: login(app, name) for name, _, _ in WEST_USERS}
    clients["west-team-member"] = login(app, "west-team-member")
    clients["west-gateway"] = bearer(app, secrets["west-gateway"])
    clients["west-reader"] = bearer(app, secrets["west-reader"])
    for who, client in clients.items():
        for action, body in ACTION_BODIES.items():
            if action == "merge":
                body = {"target": other_east["id"]}
            answer = client.post(f"/api/events/{east['id']}/actions/{action}", json=body)
            assert answer.status_code in (403, 404), (who, action, answer.text)
        answer = client.post(f"/api/events/{east['id']}/place", json={"lon": 112.905, "lat": 35.79})
        assert answer.status_code in (403, 404), (who, "place", answer.text)
        answer = client.post(
            f"/api/events/{east['id']}/photos", files={"file": ("p.png", io.BytesIO(PNG))}
        )
        assert answer.status_code in (403, 404), (who, "photo", answer.text)
        answer = client.get(f"/api/events/{east['id']}/reporter")
        assert answer.status_code in (403, 404), (who, "reporter", answer.text)
        # A repeat of the east event's key is no way around it (answered below).
        repeat = client.post("/api/events", json=east_body)
        assert repeat.status_code in (200, 403), (who, "repeat", repeat.text)
        if repeat.status_code == 200:
            assert set(repeat.json()) == {"id", "status"}, (who, "repeat", repeat.text)
    assert snapshot(county_url, east["id"], other_east["id"]) == before
    assert audit_rows(county_url, action="event.reporter_unmasked", target=east["id"]) == []


def test_a_west_event_cannot_reach_into_the_east_by_merge_assignment_or_joint_dispatch(
    app: TestClient, county_url: str, secrets: dict[str, str]
) -> None:
    hotline = bearer(app, secrets["county-hotline"])
    east = post_event(hotline, ticket(f.SmallCounty.grid_center(G_EAST)))
    west = post_event(hotline, ticket(f.SmallCounty.grid_center(G_WEST)))
    operator = login(app, "west-operator")
    before = snapshot(county_url, east["id"], west["id"])
    merge = operator.post(f"/api/events/{west['id']}/actions/merge", json={"target": east["id"]})
    assert merge.status_code == 403, merge.text
    assert merge.json()["error"]["code"] == "permission_denied"
    # Nor is it pushed across by placing it on the other side.
    lon, lat = f.SmallCounty.grid_center(G_EAST)
    moved = operator.post(f"/api/events/{west['id']}/place", json={"lon": lon, "lat": lat})
    assert moved.status_code == 403, moved.text
    assert "grid" not in moved.text and G_EAST not in moved.text
    assert snapshot(county_url, east["id"], west["id"]) == before

    registered = operator.post(f"/api/events/{west['id']}/actions/register", json={})
    assert registered.status_code == 200, registered.text
    before = snapshot(county_url, east["id"], west["id"])
    for action, body in (
        ("assign", {"team": f"T-{G_EAST}"}),  # another township's grid team
        ("assign", {"team": f"T-{f.T2}"}),  # another township's duty team
        ("joint_dispatch", {"co_teams": [f"T-{f.C3}"]}),
        ("joint_dispatch", {"team": f"T-{f.C4}", "co_teams": [f"T-{f.G1}"]}),
    ):
        answer = operator.post(f"/api/events/{west['id']}/actions/{action}", json=body)
        assert answer.status_code == 403, (action, body, answer.text)
        assert answer.json()["error"]["code"] == "permission_denied"
    assert snapshot(county_url, east["id"], west["id"]) == before
    # Its own teams and the county's departments (吹哨报到) are within reach.
    joint = operator.post(
        f"/api/events/{west['id']}/actions/joint_dispatch",
        json={"team": f"T-{f.G1}", "co_teams": ["D-ZF", f"T-{f.C1}"]},
    )
    assert joint.status_code == 200, joint.text
    # The county operator may still merge across townships.
    county = login(app, "county-operator")
    other = post_event(hotline, ticket(f.SmallCounty.grid_center(G_WEST)))
    merged = county.post(f"/api/events/{other['id']}/actions/merge", json={"target": east["id"]})
    assert merged.status_code == 200, merged.text


def test_a_repeat_answers_only_what_the_caller_may_read_and_is_audited(
    app: TestClient, county_url: str, secrets: dict[str, str]
) -> None:
    hotline = bearer(app, secrets["county-hotline"])
    body = ticket(f.SmallCounty.grid_center(G_EAST))
    east = post_event(hotline, body)
    gateway = bearer(app, secrets["west-gateway"])
    answer = gateway.post("/api/events", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": east["id"], "status": "reported"}
    operator = login(app, "west-operator")
    assert operator.post("/api/events", json=body).json() == {
        "id": east["id"],
        "status": "reported",
    }
    # The county's own sender gets the whole event back, as before.
    again = hotline.post("/api/events", json=body)
    assert again.status_code == 200
    assert again.json()["grid_code"] == G_EAST and again.json()["team"]["code"] == f"T-{G_EAST}"
    repeats = audit_rows(county_url, action="event.ingest_repeat", target=east["id"])
    assert [r["actor"] for r in repeats] == [
        "token:west-gateway",
        "user:west-operator",
        "token:county-hotline",
    ]
    assert [r["details"]["answered"] for r in repeats] == ["acknowledgement"] * 2 + ["event"]


def test_a_report_outside_ones_area_is_kept_but_answered_as_locate_would(
    app: TestClient, secrets: dict[str, str]
) -> None:
    gateway = bearer(app, secrets["west-gateway"])
    point = f.SmallCounty.grid_center(G_EAST)
    located = gateway.get("/api/locate", params={"lon": point[0], "lat": point[1]})
    assert located.status_code == 403
    answer = gateway.post("/api/events", json=ticket(point))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {"id", "status"}, body  # no grid, community, township or team
    # It is stored and routed: the east township's operator-level readers see it.
    county = login(app, "county-operator")
    stored = county.get(f"/api/events/{body['id']}").json()
    assert stored["grid_code"] == G_EAST and stored["team"]["code"] == f"T-{G_EAST}"
    # Inside its own area the gateway gets the whole answer.
    own = gateway.post("/api/events", json=ticket(f.SmallCounty.grid_center(G_WEST)))
    assert own.status_code == 201 and own.json()["grid_code"] == G_WEST


def test_an_unplaced_event_belongs_to_the_senders_county_until_placed(
    app: TestClient, secrets: dict[str, str]
) -> None:
    hotline = bearer(app, secrets["county-hotline"])
    address_only = post_event(hotline, ticket(None, address="西镇人民路 12 号"))
    far = post_event(hotline, ticket((113.5, 36.5)))  # outside every grid
    for event in (address_only, far):
        assert event["county_code"] == f.COUNTY and event["routing"]["unplaced"] is True
        assert event["grid_code"] is None and event["team"] is None
    admin = login(app, "county-admin")
    operator = login(app, "county-operator")
    for reader in (admin, operator, hotline):
        assert reader.get(f"/api/events/{address_only['id']}").status_code == 200
    triage = {e["id"] for e in operator.get("/api/events/triage").json()["events"]}
    assert {address_only["id"], far["id"]} <= triage
    # A township's users do not see the county's unplaced events.
    west = login(app, "west-operator")
    assert west.get(f"/api/events/{address_only['id']}").status_code == 404
    assert address_only["id"] not in {
        e["id"] for e in west.get("/api/events/triage").json()["events"]
    }
    # Registered but still unplaced: it stays in triage until it is placed.
    registered = operator.post(f"/api/events/{address_only['id']}/actions/register", json={})
    assert registered.status_code == 200, registered.text
    assert address_only["id"] in {
        e["id"] for e in operator.get("/api/events/triage").json()["events"]
    }
    lon, lat = f.SmallCounty.grid_center(G_WEST)
    placed = operator.post(f"/api/events/{address_only['id']}/place", json={"lon": lon, "lat": lat})
    assert placed.status_code == 200, placed.text
    assert placed.json()["grid_code"] == G_WEST
    assert address_only["id"] not in {
        e["id"] for e in operator.get("/api/events/triage").json()["events"]
    }
    # Now it is the west township's too.
    assert west.get(f"/api/events/{address_only['id']}").status_code == 200


def test_an_unplaced_event_goes_to_the_county_named_in_the_body(
    app: TestClient, secrets: dict[str, str]
) -> None:
    hotline = bearer(app, secrets["county-hotline"])
    named = post_event(hotline, ticket(None, address="东镇", county=f.COUNTY))
    assert named["county_code"] == f.COUNTY
    refused = hotline.post("/api/events", json=ticket(None, address="x", county="990199"))
    assert refused.status_code in (403, 422), refused.text


def test_an_address_only_ticket_imported_from_a_file_waits_in_its_countys_triage(
    app: TestClient, county_url: str, tmp_path: Any
) -> None:
    from typer.testing import CliRunner

    from gridmap_cli.events_commands import app as events_app

    export = tmp_path / "12345.csv"
    external_id = f"F-{uuid.uuid4().hex[:8]}"
    export.write_text(
        "工单编号,事项分类,来电时间,地址\n"
        f"{external_id},ROAD,2026-11-21 09:30:00,西镇人民路 3 号\n",
        encoding="utf-8",
    )
    done = CliRunner().invoke(
        events_app, ["import", str(export)], env={"GRIDMAP_DATABASE_URL": county_url}
    )
    assert done.exit_code == 0, done.output
    operator = login(app, "county-operator")
    triage = operator.get("/api/events/triage", params={"limit": 1000}).json()["events"]
    assert external_id in {e["external_id"] for e in triage}


def test_unplaced_events_stored_before_get_their_county_when_migrating(
    small_county_db_url: str,
) -> None:
    """Migration 0012: an event stored without a county (as before the fix) gets its
    county back, and so reaches that county's triage queue."""
    from gridmap.db import downgrade, migrate
    from gridmap.events.ingest import ingest_event
    from gridmap.events.input import EventInput

    engine = make_engine(small_county_db_url, pool_size=1)
    with session_factory(engine)() as s:
        event, _ = ingest_event(
            s,
            router=None,
            payload=EventInput(
                source="12345",
                external_id="OLD-1",
                category="ROAD",
                reported_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
                address="西镇",
            ),
            actor="import",
        )
        s.commit()
        event_id = event.id
    with engine.begin() as conn:
        conn.execute(text("UPDATE event SET county_code = NULL WHERE id = :id"), {"id": event_id})
    engine.dispose()
    downgrade(small_county_db_url, "0011")
    migrate(small_county_db_url)
    engine = make_engine(small_county_db_url, pool_size=1)
    with engine.connect() as conn:
        county = conn.execute(
            text("SELECT county_code FROM event WHERE id = :id"), {"id": event_id}
        ).scalar_one()
    engine.dispose()
    assert county == f.COUNTY


def test_a_co_handler_reports_on_its_own_part_and_cannot_run_the_lead_s_case(
    app: TestClient, secrets: dict[str, str]
) -> None:
    operator = login(app, "county-operator")
    lead_member = login(app, "west-team-member")
    zf = login(app, "zf-team-member")
    event = post_event(operator, ticket(f.SmallCounty.grid_center(G_WEST), category="MULTI"))
    event_id = event["id"]

    def act(client: TestClient, action: str, **body: Any) -> Any:
        return client.post(f"/api/events/{event_id}/actions/{action}", json=body)

    assert act(operator, "register").status_code == 200
    joint = act(operator, "joint_dispatch", team=f"T-{f.G1}", co_teams=["D-ZF", "D-ZJ"])
    assert joint.status_code == 200, joint.text
    assert "co_report_back" in joint.json()["allowed_actions"]
    # The co-handler's member sees the case, and may not move it: not start, report
    # back, return, escalate or close it.
    assert zf.get(f"/api/events/{event_id}").status_code == 200
    for action, body in (
        ("start", {}),
        ("report_back", {"note": "我们做完了"}),
        ("return", {"reason": "不归我们"}),
        ("escalate", {"reason": "太难"}),
        ("close", {}),
    ):
        refused = act(zf, action, **body)
        assert refused.status_code == 403, (action, refused.text)
        # Closing is not a team's at all (the role table); the rest is the lead's.
        expected = "role_may_not" if action == "close" else "co_handler_not_lead"
        assert refused.json()["error"]["code"] == "permission_denied"
        assert refused.json()["error"]["reason"] == expected
    # Nor report for another co-handler.
    other = act(zf, "co_report_back", team="D-ZJ", note="替他们报")
    assert other.status_code == 403
    assert other.json()["error"]["reason"] == "co_handler_own_team_only"
    assert act(lead_member, "start").status_code == 200
    # Its own part: its own action, its own team by default; the event does not move.
    own = act(zf, "co_report_back", note="执法队已到场处理")
    assert own.status_code == 200, own.text
    assert own.json()["status"] == "in_progress"
    again = act(zf, "co_report_back", note="再报一次")
    assert again.status_code == 409
    assert again.json()["error"]["reason"] == "co_handler_reported_already"
    assert act(lead_member, "report_back", note="主办完成").status_code == 200
    early = act(operator, "close")
    assert early.status_code == 409 and early.json()["error"]["details"]["waiting_for"] == ["D-ZJ"]
    # The operator records the other co-handler's report, told by phone: on its behalf.
    behalf = act(operator, "co_report_back", team="D-ZJ", note="电话告知：已处理")
    assert behalf.status_code == 200, behalf.text
    assert "co_report_back" not in behalf.json()["allowed_actions"]
    closed = act(operator, "close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    steps = [
        e
        for e in operator.get(f"/api/events/{event_id}/log").json()["entries"]
        if e["action"] == "co_report_back"
    ]
    assert [(e["data"]["team"], e["data"].get("on_behalf_of")) for e in steps] == [
        ("D-ZF", None),
        ("D-ZJ", "D-ZJ"),
    ]
    assert steps[0]["actor"] == "user:zf-team-member"


def test_the_team_picker_offers_a_township_only_teams_within_its_reach(
    app: TestClient, secrets: dict[str, str]
) -> None:
    west = login(app, "west-operator")
    event = post_event(west, ticket(f.SmallCounty.grid_center(G_WEST)))
    answer = west.get(f"/api/events/{event['id']}/team-candidates", params={"q": "T-"})
    assert answer.status_code == 200, answer.text
    codes = {t["code"] for t in answer.json()["teams"]}
    assert f"T-{G_WEST}" in codes and f"T-{G_EAST}" not in codes and f"T-{f.T2}" not in codes
    # A team member cannot assign: it is not offered teams either.
    member = login(app, "west-team-member")
    assert member.get(f"/api/events/{event['id']}/team-candidates").status_code == 403
