"""An administrator manages users, their areas and integration tokens over HTTP; supervisors
and administrators read the audit log. Everyone else is refused, and every change is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gridmap.access import audit
from gridmap.db import make_engine, session_factory
from gridmap.models import ApiToken
from tests import factories as f
from tests.county_users import county_with_accounts
from tests.logins import PASSWORD, login, service_with_login

ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/admin/users", None),
    ("POST", "/api/admin/users", {"username": "x1", "role": "operator", "password": PASSWORD}),
    ("POST", "/api/admin/users/west-operator/disable", {}),
    ("POST", "/api/admin/users/west-operator/enable", {}),
    ("POST", "/api/admin/users/west-operator/password", {"password": PASSWORD + "2"}),
    ("PUT", "/api/admin/users/west-operator/areas", {"areas": [f.COUNTY]}),
    ("GET", "/api/admin/tokens", None),
    ("POST", "/api/admin/tokens", {"name": "t1", "role": "admin"}),
    ("POST", "/api/admin/tokens/hotline/revoke", {}),
]


@pytest.fixture(scope="module")
def county_url(server_url: str, small_county_template: str) -> Iterator[str]:
    yield from county_with_accounts(
        server_url,
        small_county_template,
        prefix="admin",
        users=[
            ("admin", "admin", [f.COUNTY]),
            ("west-admin", "admin", [f.T1]),
            ("west-operator", "operator", [f.T1]),
            ("east-operator", "operator", [f.T2]),
            ("county-supervisor", "supervisor", [f.COUNTY]),
            ("west-supervisor", "supervisor", [f.T1]),
            ("planner", "planner", [f.COUNTY]),
        ],
        tokens=[("hotline", "integration", [f.COUNTY])],
    )


@pytest.fixture(scope="module")
def app(county_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from service_with_login(county_url, tmp_path_factory.mktemp("admin"))


def audit_trail(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/audit", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["entries"])


def test_only_an_admin_may_manage_users_and_tokens(app: TestClient) -> None:
    for who in ("west-operator", "county-supervisor", "planner"):
        client = login(app, who)
        for method, path, body in ROUTES:
            answer = client.request(method, path, json=body)
            assert answer.status_code == 403, (who, method, path, answer.text)
            assert answer.json()["error"]["code"] == "permission_denied"
    hotline = accounts_token(app, "integration")
    for method, path, body in ROUTES:
        answer = hotline.request(method, path, json=body)
        assert answer.status_code == 403, (method, path)
    # Nothing changed: the refused calls left no user and no token behind.
    names = {u["username"] for u in login(app, "admin").get("/api/admin/users").json()["users"]}
    assert "x1" not in names


def accounts_token(app: TestClient, role: str) -> TestClient:
    """A client with a fresh county-wide token of `role`, made by the admin over HTTP."""
    admin = login(app, "admin")
    made = admin.post(
        "/api/admin/tokens",
        json={"name": f"as-{role}-{uuid.uuid4().hex[:6]}", "role": role, "areas": [f.COUNTY]},
    )
    assert made.status_code == 201, made.text
    return TestClient(app.app, headers={"Authorization": f"Bearer {made.json()['token']}"})


def test_an_admin_adds_a_user_who_then_logs_in_and_sees_its_areas(app: TestClient) -> None:
    admin = login(app, "admin")
    secret = "Unguessable-" + uuid.uuid4().hex
    added = admin.post(
        "/api/admin/users",
        json={
            "username": "clerk",
            "role": "operator",
            "password": secret,
            "areas": [f.C1],
            "display_name": "王小明",
        },
    )
    assert added.status_code == 201, added.text
    assert added.json()["areas"] == [{"layer": "community", "code": f.C1}]
    assert secret not in added.text and "argon2" not in added.text
    listed = admin.get("/api/admin/users").json()["users"]
    clerk = next(u for u in listed if u["username"] == "clerk")
    assert clerk == {**added.json(), "disabled": False}
    assert not any("password" in key for u in listed for key in u)
    me = login(app, "clerk", secret).get("/api/auth/me").json()
    assert (me["role"], me["areas"]) == ("operator", [{"layer": "community", "code": f.C1}])

    trail = audit_trail(admin, type="user", target="clerk", action="user.")
    assert [(e["action"], e["actor"]) for e in trail] == [("user.add", "user:admin")]
    assert trail[0]["details"]["areas"] == [f.C1] and secret not in str(trail)

    again = admin.post(
        "/api/admin/users", json={"username": "clerk", "role": "operator", "password": secret}
    )
    assert again.status_code == 409
    typo = admin.post(
        "/api/admin/users",
        json={"username": "clerk2", "role": "operator", "password": secret, "areas": ["nowhere"]},
    )
    assert typo.status_code == 422 and "nowhere" in typo.json()["error"]["message"]
    short = admin.post(
        "/api/admin/users", json={"username": "clerk3", "role": "operator", "password": "short"}
    )
    assert short.status_code == 422 and "short" not in short.text


def test_disable_enable_reset_and_move_a_user(app: TestClient) -> None:
    admin = login(app, "admin")
    admin.post(
        "/api/admin/users",
        json={"username": "mover", "role": "operator", "password": PASSWORD, "areas": [f.T1]},
    )
    mover = login(app, "mover")
    assert mover.get("/api/auth/me").status_code == 200

    moved = admin.put("/api/admin/users/mover/areas", json={"areas": [f.T2]})
    assert moved.status_code == 200 and moved.json()["areas"] == [
        {"layer": "township", "code": f.T2}
    ]
    # Effective at once, in the same session: the east township's grids, not the west's.
    grids = mover.get("/ogc/collections/grid/items").json()["features"]
    assert {g["properties"]["parent_code"] for g in grids} == {f.C3, f.C4}

    assert admin.post("/api/admin/users/mover/disable").json()["disabled"] is True
    assert mover.get("/api/auth/me").status_code == 401  # its session ended
    refused = TestClient(app.app).post(
        "/api/auth/login", json={"username": "mover", "password": PASSWORD}
    )
    assert refused.status_code == 401
    assert admin.post("/api/admin/users/mover/enable").json()["disabled"] is False
    new_password = PASSWORD + " again"
    reset = admin.post("/api/admin/users/mover/password", json={"password": new_password})
    assert reset.status_code == 200 and new_password not in reset.text
    assert login(app, "mover", new_password).get("/api/auth/me").status_code == 200

    trail = [
        e["action"]
        for e in reversed(audit_trail(admin, type="user", target="mover", action="user."))
    ]
    assert trail == [
        "user.add",
        "user.set_areas",
        "user.disable",
        "user.enable",
        "user.reset_password",
    ]
    set_areas = audit_trail(admin, action="user.set_areas", target="mover")[0]
    assert set_areas["details"] == {"before": [f.T1], "after": [f.T2]}
    assert admin.post("/api/admin/users/nobody/disable").status_code == 404
    selfish = admin.post("/api/admin/users/admin/disable")
    assert selfish.status_code == 422 and "yourself" in selfish.json()["error"]["message"]


def test_a_township_admin_grants_only_areas_inside_its_township(app: TestClient) -> None:
    west_admin = login(app, "west-admin")
    wide = west_admin.post(
        "/api/admin/users",
        json={"username": "wide", "role": "operator", "password": PASSWORD, "areas": [f.COUNTY]},
    )
    assert wide.status_code == 403 and f.COUNTY in wide.json()["error"]["message"]
    east = west_admin.put("/api/admin/users/west-operator/areas", json={"areas": [f.T2]})
    assert east.status_code == 403
    token = west_admin.post("/api/admin/tokens", json={"name": "east-gis", "areas": [f.C3]})
    assert token.status_code == 403
    inside = west_admin.post(
        "/api/admin/users",
        json={
            "username": "c1-worker",
            "role": "grid_worker",
            "password": PASSWORD,
            "areas": [f.G1],
        },
    )
    assert inside.status_code == 201, inside.text


def test_a_token_is_shown_once_works_and_stops_working_when_revoked(
    app: TestClient, county_url: str
) -> None:
    admin = login(app, "admin")
    made = admin.post(
        "/api/admin/tokens", json={"name": "gis-west", "role": "integration", "areas": [f.T1]}
    )
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    body = made.json()
    secret = body["token"]
    assert secret.startswith("gm_")
    assert body["areas"] == [{"layer": "township", "code": f.T1}] and body["revoked_at"] is None

    listed = admin.get("/api/admin/tokens")
    assert secret not in listed.text and "token_hash" not in listed.text
    assert "gis-west" in {t["name"] for t in listed.json()["tokens"]}
    trail = audit_trail(admin, type="token", target="gis-west")
    assert secret not in str(trail)
    engine = make_engine(county_url, pool_size=1)
    with session_factory(engine)() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.name == "gis-west"))
        assert row is not None and secret.encode() not in row.token_hash
    engine.dispose()

    gis = TestClient(app.app, headers={"Authorization": f"Bearer {secret}"})
    assert gis.get("/api/auth/me").json()["name"] == "gis-west"
    revoked = admin.post("/api/admin/tokens/gis-west/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = gis.get("/api/auth/me")
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    assert [e["action"] for e in reversed(audit_trail(admin, type="token", target="gis-west"))] == [
        "token.create",
        "token.revoke",
    ]
    assert admin.post("/api/admin/tokens/never-made/revoke").status_code == 404
    assert admin.post("/api/admin/tokens", json={"name": "gis-west"}).status_code == 409


def test_supervisors_read_the_audit_log_filtered_and_paged(app: TestClient) -> None:
    admin = login(app, "admin")
    for n in range(5):
        admin.post(
            "/api/admin/users",
            json={"username": f"batch-{n}", "role": "planner", "password": PASSWORD},
        )
    supervisor = login(app, "county-supervisor")
    first = supervisor.get("/api/audit", params={"action": "user.add", "limit": 2}).json()
    assert len(first["entries"]) == 2 and first["next"] is not None
    seen = [e["target_id"] for e in first["entries"]]
    cursor = first["next"]
    while cursor is not None:
        page = supervisor.get(
            "/api/audit", params={"action": "user.add", "limit": 2, "cursor": cursor}
        ).json()
        seen += [e["target_id"] for e in page["entries"]]
        cursor = page["next"]
    batch = [name for name in seen if name.startswith("batch-")]
    assert batch == [f"batch-{n}" for n in reversed(range(5))]  # newest first, none twice
    assert len(seen) == len(set(seen))

    by_actor = audit_trail(supervisor, actor="user:admin", action="user.")
    assert by_actor and all(e["actor"] == "user:admin" for e in by_actor)
    last = by_actor[0]["at"]
    assert audit_trail(supervisor, actor="user:admin", since=last)[0]["at"] == last
    assert all(e["at"] < last for e in audit_trail(supervisor, actor="user:admin", until=last))
    naive = supervisor.get("/api/audit", params={"since": "2026-11-01T00:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["error"]["message"]
    assert login(app, "planner").get("/api/audit").status_code == 403


def test_a_township_supervisor_reads_about_its_townships_events_only(app: TestClient) -> None:
    hotline = accounts_token(app, "integration")
    ids: dict[str, int] = {}
    for grid in (f.G1, f"{f.C3}001"):
        lon, lat = f.SmallCounty.grid_center(grid)
        made = hotline.post(
            "/api/events",
            json={
                "source": "12345",
                "external_id": uuid.uuid4().hex,
                "category": "ROAD",
                "location": {"lon": lon, "lat": lat},
                "reported_at": "2026-11-21T09:30:00+08:00",
            },
        )
        assert made.status_code == 201, made.text
        ids[grid] = made.json()["id"]
    west = login(app, "west-supervisor")
    about = {e["target_id"] for e in audit_trail(west, type="event", action="event.ingest")}
    assert str(ids[f.G1]) in about and str(ids[f"{f.C3}001"]) not in about
    county = login(app, "county-supervisor")
    about_all = {e["target_id"] for e in audit_trail(county, type="event")}
    assert {str(i) for i in ids.values()} <= about_all


# --- an administrator or supervisor below the county ------------------------------------

WEST_CODES = {f.T1, f.C1, f.C2, *(g for g, (c, _, _) in f.GRIDS.items() if c in (f.C1, f.C2))}


# The teams on duty in the west only (the factory names each area's team T-<code>).
WEST_TEAMS = {None, *(f"T-{code}" for code in WEST_CODES)}


def listed(client: TestClient, what: str) -> dict[str, tuple[list[str], str | None]]:
    """Name → (area codes, team) of every user or token the caller's list shows."""
    answer = client.get(f"/api/admin/{what}")
    assert answer.status_code == 200, answer.text
    key = "username" if what == "users" else "name"
    return {
        row[key]: ([a["code"] for a in row["areas"]], row.get("team"))
        for row in answer.json()[what]
    }


def in_the_west(accounts: dict[str, tuple[list[str], str | None]]) -> set[str]:
    return {
        name
        for name, (areas, team) in accounts.items()
        if areas and set(areas) <= WEST_CODES and team in WEST_TEAMS
    }


def test_a_township_admin_lists_only_the_accounts_inside_its_township(app: TestClient) -> None:
    admin = login(app, "admin")
    for name, areas in [("west-lister", [f.C2]), ("east-lister", [f.T2])]:
        made = admin.post(
            "/api/admin/tokens", json={"name": name, "role": "integration", "areas": areas}
        )
        assert made.status_code == 201, made.text
    everyone, every_token = listed(admin, "users"), listed(admin, "tokens")
    west_admin = login(app, "west-admin")
    users, tokens = listed(west_admin, "users"), listed(west_admin, "tokens")

    assert {"west-admin", "west-operator", "west-supervisor"} <= set(users)
    assert not {"admin", "east-operator", "county-supervisor", "planner"} & set(users)
    assert "west-lister" in tokens and not {"hotline", "east-lister"} & set(tokens)
    # Exactly the accounts that have areas, all of them in the west township (and a west
    # team if any), while the county's administrator sees every one (those without areas
    # too).
    assert set(users) == in_the_west(everyone) and set(tokens) == in_the_west(every_token)
    assert {"admin", "east-operator", "west-operator"} <= set(everyone)


def test_a_township_admin_cannot_change_an_account_outside_its_township(
    app: TestClient,
) -> None:
    west_admin = login(app, "west-admin")
    for method, path, body in [
        ("POST", "/api/admin/users/admin/password", {"password": PASSWORD + " taken over"}),
        ("POST", "/api/admin/users/east-operator/disable", {}),
        ("POST", "/api/admin/users/east-operator/enable", {}),
        ("PUT", "/api/admin/users/east-operator/areas", {"areas": [f.C1]}),
        ("POST", "/api/admin/tokens/hotline/revoke", {}),
    ]:
        answer = west_admin.request(method, path, json=body)
        assert answer.status_code == 403, (path, answer.text)
        assert "outside your areas" in answer.json()["error"]["message"]
    # Nothing happened: the county admin's password and the hotline's token still work,
    # and no entry claims a change.
    assert login(app, "admin").get("/api/auth/me").status_code == 200
    assert accounts_token(app, "integration").get("/api/auth/me").status_code == 200
    trail = audit_trail(login(app, "admin"), actor="user:west-admin")
    assert not {e["target_id"] for e in trail} & {"admin", "east-operator", "hotline"}
    # An account without areas would be outside its reach at once: it may not make one.
    bare = west_admin.post(
        "/api/admin/users", json={"username": "bare", "role": "operator", "password": PASSWORD}
    )
    assert bare.status_code == 403 and "at least one area" in bare.json()["error"]["message"]
    # Inside its township it manages as before.
    assert west_admin.post("/api/admin/users/west-operator/enable").status_code == 200
    assert west_admin.post("/api/admin/users/nobody-at-all/enable").status_code == 404


def test_a_township_supervisor_reads_about_accounts_inside_its_township_only(
    app: TestClient, county_url: str
) -> None:
    admin = login(app, "admin")
    for username, areas in [("west-audited", [f.C1]), ("east-audited", [f.C3])]:
        made = admin.post(
            "/api/admin/users",
            json={"username": username, "role": "operator", "password": PASSWORD, "areas": areas},
        )
        assert made.status_code == 201, made.text
    for name, areas in [("west-audited-gis", [f.T1]), ("east-audited-gis", [f.T2])]:
        admin.post("/api/admin/tokens", json={"name": name, "areas": areas})
    # A boundary publication from the command line, as `gridmap boundaries publish` writes it.
    engine = make_engine(county_url, pool_size=1)
    with session_factory(engine)() as s:
        audit.record(
            s,
            actor="cli:planner",
            action="boundaries.publish",
            target_type="boundary_version",
            target_id=1,
            details={"codes": [f.G1]},
        )
        s.commit()
    engine.dispose()

    west = login(app, "west-supervisor")
    about = {(e["target_type"], e["target_id"]) for e in audit_trail(west, limit=1000)}
    assert {("user", "west-audited"), ("token", "west-audited-gis")} <= about
    assert not {("user", "east-audited"), ("token", "east-audited-gis")} & about
    assert not {kind for kind, _ in about} - {"user", "token", "event"}  # no boundaries
    assert audit_trail(west, target=f.G1, type="boundary_version") == []
    county = {
        (e["target_type"], e["target_id"])
        for e in audit_trail(login(app, "county-supervisor"), limit=1000)
    }
    assert {("user", "east-audited"), ("token", "east-audited-gis"), ("boundary_version", "1")} <= (
        county
    )

    # The filter is in the query: pages of one are full until the last, and together they
    # hold what one big page holds.
    whole = [e["id"] for e in audit_trail(west, action="user.", limit=1000)]
    paged: list[int] = []
    cursor: int | None = None
    while True:
        params: dict[str, Any] = {"action": "user.", "limit": 1}
        if cursor is not None:
            params["cursor"] = cursor
        page = west.get("/api/audit", params=params).json()
        assert len(page["entries"]) == 1
        paged += [e["id"] for e in page["entries"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert paged == whole and len(whole) >= 2


def test_a_township_admin_neither_gives_nor_takes_over_a_county_departments_team(
    app: TestClient,
) -> None:
    # A team reaches the events assigned to it wherever they are: a county department's
    # team would carry the west administrator's accounts across the whole county.
    west_admin = login(app, "west-admin")
    helper = {"role": "team_member", "password": PASSWORD, "areas": [f.C1]}
    given = west_admin.post(
        "/api/admin/users", json={**helper, "username": "zf-helper", "team": "D-ZF"}
    )
    assert given.status_code == 403 and "D-ZF" in given.json()["error"]["message"]
    own = west_admin.post(
        "/api/admin/users", json={**helper, "username": "c1-helper", "team": f"T-{f.C1}"}
    )
    assert own.status_code == 201, own.text

    made = login(app, "admin").post(
        "/api/admin/users", json={**helper, "username": "zf-west", "team": "D-ZF"}
    )
    assert made.status_code == 201, made.text
    users = listed(west_admin, "users")
    assert "c1-helper" in users and "zf-west" not in users
    takeover = west_admin.post(
        "/api/admin/users/zf-west/password", json={"password": PASSWORD + " mine now"}
    )
    assert takeover.status_code == 403
    assert login(app, "zf-west").get("/api/auth/me").status_code == 200


def test_tokens_are_made_for_integrations_and_readers_only_unless_asked_explicitly(
    app: TestClient, county_url: str
) -> None:
    west_admin = login(app, "west-admin")
    for role in ("admin", "operator", "supervisor"):
        refused = west_admin.post(
            "/api/admin/tokens", json={"name": f"w-{role}", "role": role, "areas": [f.T1]}
        )
        assert refused.status_code == 403, (role, refused.text)
        assert refused.json()["error"]["code"] == "permission_denied"
        # Asking explicitly is the county's to do, not a township's.
        asked = west_admin.post(
            "/api/admin/tokens",
            json={"name": f"w-{role}", "role": role, "areas": [f.T1], "privileged": True},
        )
        assert asked.status_code == 403, (role, asked.text)
    for role in ("integration", "reader"):
        made = west_admin.post(
            "/api/admin/tokens", json={"name": f"w-{role}", "role": role, "areas": [f.T1]}
        )
        assert made.status_code == 201, made.text
    reader = TestClient(app.app)
    reader.headers["Authorization"] = f"Bearer {made.json()['token']}"
    assert reader.get("/api/events").status_code == 200
    assert reader.post("/api/events", json={}).status_code == 403  # reads, never writes
    # A token never reaches further than its maker.
    wider = west_admin.post(
        "/api/admin/tokens", json={"name": "w-county", "role": "reader", "areas": [f.COUNTY]}
    )
    assert wider.status_code == 403

    admin = login(app, "admin")
    plain = admin.post(
        "/api/admin/tokens", json={"name": "c-admin", "role": "admin", "areas": [f.COUNTY]}
    )
    assert plain.status_code == 403
    asked = admin.post(
        "/api/admin/tokens",
        json={"name": "c-admin", "role": "admin", "areas": [f.COUNTY], "privileged": True},
    )
    assert asked.status_code == 201, asked.text
    (entry,) = audit_trail(admin, type="token", target="c-admin", action="token.create")
    assert entry["details"]["privileged"] is True and entry["details"]["role"] == "admin"
    names = set(listed(admin, "tokens"))
    assert not {"w-admin", "w-operator", "w-supervisor"} & names


def test_the_command_line_makes_a_privileged_token_only_when_asked(county_url: str) -> None:
    from typer.testing import CliRunner

    from gridmap_cli.users_commands import tokens_app

    runner = CliRunner()
    env = {"GRIDMAP_DATABASE_URL": county_url}
    refused = runner.invoke(tokens_app, ["create", "cli-admin", "--role", "admin"], env=env)
    assert refused.exit_code == 1 and "integration" in refused.output
    asked = runner.invoke(
        tokens_app,
        ["create", "cli-admin", "--role", "admin", "--area", f.COUNTY, "--privileged-role"],
        env=env,
    )
    assert asked.exit_code == 0, asked.output
    engine = make_engine(county_url, pool_size=1)
    with session_factory(engine)() as s:
        entries = audit.query(s, target_type="token", target_id="cli-admin")
    engine.dispose()
    assert [e.details.get("privileged") for e in entries] == [True]
