"""Logging in, tokens, jurisdictions, masking and the audit log, as the county's users meet them.

One small county (two townships) per module; each user logs in with its own client.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from api.app import create_app
from api.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from gridmap.access import accounts, audit, logins
from gridmap.db import make_engine, session_factory
from gridmap.errors import ConfigurationError
from gridmap.models import ApiToken, AppUser, AuditLog, LoginAttempt
from gridmap.settings import Settings
from tests import factories as f
from tests.conftest import create_database, drop_database
from tests.logins import PASSWORD, login, service_with_login

G_EAST = f"{f.C3}001"  # a grid in the second township


@pytest.fixture(scope="module")
def county_url(server_url: str, small_county_template: str) -> Iterator[str]:
    name = f"gridmap_auth_{uuid.uuid4().hex[:8]}"
    yield create_database(server_url, name, template=small_county_template)
    drop_database(server_url, name)


@pytest.fixture(scope="module")
def county_engine(county_url: str) -> Iterator[Engine]:
    eng = make_engine(county_url, pool_size=2)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def users(county_engine: Engine) -> dict[str, str]:
    """The county's people; returns the admin's integration token."""
    with session_factory(county_engine)() as s:
        for name, role, areas, team in [
            ("admin", "admin", [f.COUNTY], None),
            ("west-operator", "operator", [f.T1], None),
            ("east-operator", "operator", [f.T2], None),
            ("west-worker", "grid_worker", [f.G1], None),
            ("zf-member", "team_member", [], "D-ZF"),
            ("west-supervisor", "supervisor", [f.T1], None),
            ("planner", "planner", [f.COUNTY], None),
        ]:
            accounts.create_user(
                s, username=name, role=role, password=PASSWORD, area_codes=areas, team_code=team
            )
        _, hotline = accounts.create_token(
            s, name="hotline", role="integration", area_codes=[f.COUNTY]
        )
        s.commit()
    return {"hotline": hotline}


@pytest.fixture(scope="module")
def app_client(
    county_url: str, users: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    yield from service_with_login(county_url, tmp_path_factory.mktemp("auth"))


def ingest(app_client: TestClient, token: str, grid: str, **changes: Any) -> dict[str, Any]:
    lon, lat = f.SmallCounty.grid_center(grid)
    body = {
        "source": "12345",
        "external_id": uuid.uuid4().hex,
        "category": "ROAD",
        "description": "路面坑洼",
        "location": {"lon": lon, "lat": lat},
        "reporter": {"name": "张三丰", "phone": "13812345678"},
        "reported_at": "2026-11-21T09:30:00+08:00",
        **changes,
    }
    response = app_client.post(
        "/api/events", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- logging in -------------------------------------------------------------------------


def test_the_command_view_and_the_api_require_login(app_client: TestClient) -> None:
    anonymous = TestClient(app_client.app, follow_redirects=False)
    page = anonymous.get("/")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    assert anonymous.get("/login").status_code == 200
    listing = anonymous.get("/api/events")
    assert listing.status_code == 401
    assert listing.json()["error"]["code"] == "authentication_required"
    assert anonymous.get("/health").status_code == 200


def test_login_sets_an_httponly_samesite_session_and_a_readable_csrf_cookie(
    app_client: TestClient,
) -> None:
    browser = TestClient(app_client.app)
    response = browser.post(
        "/api/auth/login", json={"username": "west-operator", "password": PASSWORD}
    )
    assert response.status_code == 200
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    assert "HttpOnly" in cookies[SESSION_COOKIE]
    assert "samesite=lax" in cookies[SESSION_COOKIE].lower()
    assert "HttpOnly" not in cookies[CSRF_COOKIE]
    assert browser.get("/api/auth/me").json()["role"] == "operator"


def test_cookies_are_secure_when_the_setting_says_so(county_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=county_url, home=tmp_path, auth_required=True, cookie_secure=True
    )
    with TestClient(create_app(settings)) as c:
        response = c.post("/api/auth/login", json={"username": "planner", "password": PASSWORD})
    assert response.status_code == 200
    assert all("Secure" in c for c in response.headers.get_list("set-cookie"))


def test_a_browser_can_log_in_with_the_form_and_is_sent_back(app_client: TestClient) -> None:
    browser = TestClient(app_client.app, follow_redirects=False)
    response = browser.post(
        "/api/auth/login",
        data={"username": "planner", "password": PASSWORD, "next": "/?lang=en"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/?lang=en"
    wrong = browser.post(
        "/api/auth/login",
        data={"username": "planner", "password": "nope", "next": "https://evil.example/"},
    )
    assert wrong.status_code == 303
    assert wrong.headers["location"] == "/login?failed=1&next=/"


def test_a_failed_login_does_not_say_whether_the_user_exists(app_client: TestClient) -> None:
    browser = TestClient(app_client.app)
    unknown = browser.post("/api/auth/login", json={"username": "nobody", "password": "x" * 12})
    wrong = browser.post("/api/auth/login", json={"username": "planner", "password": "x" * 12})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_a_disabled_user_cannot_log_in_and_loses_its_sessions(
    app_client: TestClient, county_engine: Engine
) -> None:
    with session_factory(county_engine)() as s:
        accounts.create_user(s, username="leaver", role="operator", password=PASSWORD)
        s.commit()
    browser = login(app_client, "leaver")
    assert browser.get("/api/auth/me").status_code == 200
    with session_factory(county_engine)() as s:
        accounts.disable_user(s, username="leaver")
        s.commit()
    assert browser.get("/api/auth/me").status_code == 401
    again = TestClient(app_client.app).post(
        "/api/auth/login", json={"username": "leaver", "password": PASSWORD}
    )
    assert again.status_code == 401


def test_login_is_rate_limited_per_username_and_address(
    app_client: TestClient, county_engine: Engine
) -> None:
    with session_factory(county_engine)() as s:
        accounts.create_user(s, username="target", role="operator", password=PASSWORD)
        s.commit()
    browser = TestClient(app_client.app)
    for _ in range(5):
        bad = browser.post("/api/auth/login", json={"username": "target", "password": "guess1234"})
        assert bad.status_code == 401
    # Even the right password is refused now: guessing has to stop, not just fail.
    right = browser.post("/api/auth/login", json={"username": "target", "password": PASSWORD})
    assert right.status_code == 429
    assert right.json()["error"]["code"] == "rate_limited"
    with session_factory(county_engine)() as s:
        counted = s.scalars(select(LoginAttempt).where(LoginAttempt.username == "target")).all()
    assert [a.succeeded for a in counted] == [False] * 5


def test_passwords_are_never_stored_or_logged_in_clear(
    app_client: TestClient, county_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Unguessable-" + uuid.uuid4().hex
    runner = CliRunner()
    env = {"GRIDMAP_DATABASE_URL": county_url}
    from gridmap_cli.users_commands import users_app

    with caplog.at_level(logging.DEBUG):
        added = runner.invoke(
            users_app,
            ["add", "clerk", "--role", "operator", "--area", f.T1, "--password-stdin"],
            input=secret + "\n",
            env=env,
        )
        assert added.exit_code == 0, added.output
        browser = TestClient(app_client.app)
        assert (
            browser.post(
                "/api/auth/login", json={"username": "clerk", "password": secret}
            ).status_code
            == 200
        )
        browser.post("/api/auth/login", json={"username": "clerk", "password": secret + "x"})
    assert secret not in caplog.text
    assert secret not in added.output
    dsn = make_url(county_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        for table in tables:
            dump = conn.execute(
                f"SELECT coalesce(string_agg(t::text, ''), '') FROM \"{table}\" t"
            ).fetchone()
            assert dump is not None and secret not in dump[0], table
        stored = conn.execute(
            "SELECT password_hash FROM app_user WHERE username = 'clerk'"
        ).fetchone()
    assert stored is not None and stored[0].startswith("$argon2id$")


# --- CSRF and tokens --------------------------------------------------------------------


def test_a_state_changing_request_without_the_csrf_token_is_refused(
    app_client: TestClient, users: dict[str, str]
) -> None:
    event = ingest(app_client, users["hotline"], f.G1)
    browser = login(app_client, "west-operator")
    forged = TestClient(app_client.app, cookies=browser.cookies)  # the cookie, not the header
    refused = forged.post(f"/api/events/{event['id']}/actions/register", json={})
    assert refused.status_code == 403
    assert CSRF_HEADER in refused.json()["error"]["message"]
    wrong = forged.post(
        f"/api/events/{event['id']}/actions/register",
        json={},
        headers={CSRF_HEADER: "0" * 64},
    )
    assert wrong.status_code == 403
    done = browser.post(f"/api/events/{event['id']}/actions/register", json={})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "registered"


def test_a_revoked_or_expired_token_is_refused(
    app_client: TestClient, county_engine: Engine
) -> None:
    with session_factory(county_engine)() as s:
        _, live = accounts.create_token(s, name="sensors", role="integration", area_codes=[f.T1])
        _, old = accounts.create_token(
            s,
            name="old-gis",
            role="integration",
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
        )
        s.commit()
    bearer = {"Authorization": f"Bearer {live}"}
    assert app_client.get("/api/events", headers=bearer).status_code == 200
    expired = app_client.get("/api/events", headers={"Authorization": f"Bearer {old}"})
    assert expired.status_code == 401
    with session_factory(county_engine)() as s:
        accounts.revoke_token(s, name="sensors")
        s.commit()
    revoked = app_client.get("/api/events", headers=bearer)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error"]["message"]
    with session_factory(county_engine)() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.name == "sensors"))
        assert row is not None and live.encode() not in row.token_hash


def test_tokens_cli_prints_the_new_token_alone_on_its_last_line(
    app_client: TestClient, county_url: str
) -> None:
    from gridmap_cli.users_commands import tokens_app

    runner = CliRunner()
    env = {"GRIDMAP_DATABASE_URL": county_url}
    made = runner.invoke(
        tokens_app, ["create", "gis-east", "--role", "integration", "--area", f.T2], env=env
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("gm_") and " " not in token
    seen = app_client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert seen == {
        "name": "gis-east",
        "display_name": "gis-east",
        "kind": "token",
        "role": "integration",
        "team_id": None,
        "areas": [{"layer": "township", "code": f.T2}],
    }
    listed = runner.invoke(tokens_app, ["list"], env=env)
    assert "gis-east" in listed.stdout and token not in listed.stdout
    assert runner.invoke(tokens_app, ["revoke", "gis-east"], env=env).exit_code == 0
    gone = app_client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401


# --- jurisdictions ----------------------------------------------------------------------


def test_a_township_operator_sees_and_acts_only_in_its_township(
    app_client: TestClient, users: dict[str, str]
) -> None:
    west = ingest(app_client, users["hotline"], f.G1)
    east = ingest(app_client, users["hotline"], G_EAST)
    assert (west["township_code"], east["township_code"]) == (f.T1, f.T2)
    operator = login(app_client, "west-operator")

    listed = operator.get("/api/events", params={"limit": 1000}).json()["events"]
    assert {e["township_code"] for e in listed} == {f.T1}
    assert west["id"] in {e["id"] for e in listed}
    geojson = operator.get("/api/events", params={"f": "geojson"}).json()["features"]
    assert east["id"] not in {feat["id"] for feat in geojson}
    stats = operator.get("/api/stats", params={"by": "township"}).json()["rows"]
    assert [row["key"] for row in stats] == [f.T1]

    assert operator.get(f"/api/events/{east['id']}").status_code == 404
    assert operator.get(f"/api/events/{east['id']}/log").status_code == 404
    refused = operator.post(f"/api/events/{east['id']}/actions/register", json={})
    assert refused.status_code == 403
    assert operator.post(f"/api/events/{west['id']}/actions/register", json={}).status_code == 200

    everyone = login(app_client, "admin").get("/api/events", params={"limit": 1000}).json()
    assert {e["township_code"] for e in everyone["events"]} == {f.T1, f.T2}


def test_a_grid_worker_sees_only_its_grid(app_client: TestClient, users: dict[str, str]) -> None:
    mine = ingest(app_client, users["hotline"], f.G1)
    next_door = ingest(app_client, users["hotline"], f"{f.C1}002")
    worker = login(app_client, "west-worker")
    ids = {e["id"] for e in worker.get("/api/events").json()["events"]}
    assert mine["id"] in ids and next_door["id"] not in ids
    assert all(e["grid_code"] == f.G1 for e in worker.get("/api/events").json()["events"])


def test_a_team_acts_on_events_assigned_to_it_wherever_they_are(
    app_client: TestClient, users: dict[str, str]
) -> None:
    east = ingest(app_client, users["hotline"], G_EAST)
    member = login(app_client, "zf-member")
    assert member.get(f"/api/events/{east['id']}").status_code == 404
    admin = login(app_client, "admin")
    for action, body in [("register", {}), ("assign", {"team": "D-ZF"})]:
        assert (
            admin.post(f"/api/events/{east['id']}/actions/{action}", json=body).status_code == 200
        )
    assert member.get(f"/api/events/{east['id']}").status_code == 200
    started = member.post(f"/api/events/{east['id']}/actions/start", json={})
    assert started.status_code == 200, started.text
    log = member.get(f"/api/events/{east['id']}/log").json()["entries"]
    assert log[-1]["actor"] == "user:zf-member"  # not whatever the body might claim
    # A team member may not close: that is the command center's.
    assert member.post(f"/api/events/{east['id']}/actions/close", json={}).status_code == 403


# --- privacy and audit ------------------------------------------------------------------


def test_reporters_are_masked_and_every_unmasking_is_logged(
    app_client: TestClient, users: dict[str, str], county_engine: Engine
) -> None:
    event = ingest(app_client, users["hotline"], f.G1)
    supervisor = login(app_client, "west-supervisor")
    shown = supervisor.get(f"/api/events/{event['id']}").json()["reporter"]
    assert shown == {"name": "张**", "phone": "138****5678"}
    assert supervisor.get(f"/api/events/{event['id']}/reporter").status_code == 403

    operator = login(app_client, "west-operator")
    full = operator.get(f"/api/events/{event['id']}/reporter").json()
    assert (full["name"], full["phone"]) == ("张三丰", "13812345678")
    with session_factory(county_engine)() as s:
        entries = audit.query(
            s, action="event.reporter_unmasked", target_type="event", target_id=str(event["id"])
        )
    assert [(e.actor, e.source_addr) for e in entries] == [("user:west-operator", "testclient")]


def test_the_audit_log_answers_who_closed_an_event(
    app_client: TestClient, users: dict[str, str], county_engine: Engine
) -> None:
    event = ingest(app_client, users["hotline"], f.G1)
    operator = login(app_client, "west-operator")
    worker = login(app_client, "west-worker")
    steps = [
        (operator, "register", {}),
        (operator, "assign", {"team": f"T-{f.G1}"}),
        (worker, "start", {}),
        (worker, "report_back", {"note": "已修复"}),
        (operator, "close", {}),
    ]
    for who, action, body in steps:
        response = who.post(f"/api/events/{event['id']}/actions/{action}", json=body)
        assert response.status_code == 200, (action, response.text)
    runner = CliRunner()
    from gridmap_cli.users_commands import audit_app

    with session_factory(county_engine)() as s:
        closed = audit.query(
            s, target_type="event", target_id=str(event["id"]), action="event.close"
        )
        assert [e.actor for e in closed] == ["user:west-operator"]
        assert closed[0].at is not None and closed[0].source_addr == "testclient"
        trail = audit.query(s, target_type="event", target_id=str(event["id"]))
        assert [e.action for e in reversed(trail)] == [
            "event.ingest",
            "event.register",
            "event.assign",
            "event.start",
            "event.report_back",
            "event.close",
        ]
    url = str(county_engine.url.render_as_string(hide_password=False))
    answer = runner.invoke(
        audit_app,
        ["--target", str(event["id"]), "--action", "event.close"],
        env={"GRIDMAP_DATABASE_URL": url},
    )
    assert answer.exit_code == 0, answer.output
    assert "user:west-operator" in answer.stdout and "event.close" in answer.stdout


def test_no_one_can_edit_the_audit_log(county_engine: Engine) -> None:
    with session_factory(county_engine)() as s:
        audit.record(s, actor="user:x", action="test", target_type="test", target_id=1)
        s.commit()
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with session_factory(county_engine)() as s, pytest.raises(Exception, match="append-only"):
            s.execute(text(statement))
    with session_factory(county_engine)() as s:
        assert s.scalar(select(AuditLog).where(AuditLog.actor == "user:x")) is not None


def test_user_and_token_changes_are_audited(county_url: str, county_engine: Engine) -> None:
    from gridmap_cli.users_commands import tokens_app, users_app

    runner = CliRunner()
    env = {"GRIDMAP_DATABASE_URL": county_url}
    assert (
        runner.invoke(
            users_app,
            ["add", "temp", "--role", "planner", "--password-stdin"],
            input=PASSWORD,
            env=env,
        ).exit_code
        == 0
    )
    assert (
        runner.invoke(
            users_app, ["reset-password", "temp", "--password-stdin"], input=PASSWORD + "!", env=env
        ).exit_code
        == 0
    )
    assert runner.invoke(users_app, ["disable", "temp"], env=env).exit_code == 0
    assert (
        runner.invoke(
            tokens_app, ["create", "tmp-token", "--role", "integration"], env=env
        ).exit_code
        == 0
    )
    assert runner.invoke(tokens_app, ["revoke", "tmp-token"], env=env).exit_code == 0
    with session_factory(county_engine)() as s:
        users_trail = [
            e.action for e in reversed(audit.query(s, target_type="user", target_id="temp"))
        ]
        tokens_trail = [
            e.action for e in reversed(audit.query(s, target_type="token", target_id="tmp-token"))
        ]
        user = s.scalar(select(AppUser).where(AppUser.username == "temp"))
    assert users_trail == ["user.add", "user.reset_password", "user.disable"]
    assert tokens_trail == ["token.create", "token.revoke"]
    assert user is not None and user.disabled


# --- configuration and demo users -------------------------------------------------------


def test_a_placeholder_secret_key_is_refused_and_an_unset_one_is_generated_once(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError, match="placeholder"):
        logins.secret_key(Settings(secret_key="changeme", home=tmp_path))
    first = logins.secret_key(Settings(home=tmp_path))
    assert len(first) >= 32
    assert logins.secret_key(Settings(home=tmp_path)) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_a_tokens_jurisdiction_is_reused_briefly_but_never_lent_to_another_token(
    county_engine: Engine,
) -> None:
    with session_factory(county_engine)() as s:
        west, _ = accounts.create_token(s, name="west", role="integration", area_codes=[f.T1])
        east, _ = accounts.create_token(s, name="east", role="integration", area_codes=[f.T2])
        s.commit()
        first = accounts.token_principal(s, token=west)
        assert accounts.token_principal(s, token=west) is first  # reused within the bound
        other = accounts.token_principal(s, token=east)
        assert other.jurisdiction.stream_townships == frozenset({f.T2})
        assert first.jurisdiction.stream_townships == frozenset({f.T1})


def test_a_worker_reads_its_key_file_once_and_keeps_that_key_until_it_restarts(
    tmp_path: Path,
) -> None:
    first = logins.secret_key(Settings(home=tmp_path))
    # Changed on disk while the service runs: CSRF tokens already handed out stay valid.
    (tmp_path / "secret_key").write_text("k" * 64)
    assert logins.secret_key(Settings(home=tmp_path)) == first
    # Another home is another key.
    other = tmp_path / "other"
    assert logins.secret_key(Settings(home=other)) != first
    assert logins.secret_key(Settings(home=other)) == (other / "secret_key").read_bytes().strip()


def test_authentication_is_on_unless_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDMAP_AUTH_REQUIRED", raising=False)
    assert Settings().auth_required is True


def test_demo_users_each_see_exactly_their_part(
    app_client: TestClient, users: dict[str, str], county_engine: Engine
) -> None:
    with session_factory(county_engine)() as s:
        demo = accounts.create_demo_users(s, county_code=f.COUNTY)
        s.commit()
    roles = {role for _, role, _, _ in demo}
    assert roles == {
        "admin",
        "operator",
        "supervisor",
        "planner",
        "grid_worker",
        "team_member",
        "integration",
    }
    ingest(app_client, users["hotline"], f.G1)
    ingest(app_client, users["hotline"], G_EAST)
    for username, role, area, secret in demo:
        if role == "integration":
            client = TestClient(app_client.app, headers={"Authorization": f"Bearer {secret}"})
        else:
            client = login(app_client, username, secret)
        events = client.get("/api/events", params={"limit": 1000}).json()["events"]
        if area == f.COUNTY:
            assert {e["township_code"] for e in events} == {f.T1, f.T2}, username
        elif area.startswith("team"):
            assert all(e["team"] and e["team"]["code"] == "D-ZF" for e in events), username
        else:
            assert events and all(
                area in (e["township_code"], e["community_code"], e["grid_code"]) for e in events
            ), username
