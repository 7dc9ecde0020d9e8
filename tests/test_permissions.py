"""The role × action table, enforced in one place: every role tries every guarded route.

Each role gets a county-wide token, so only the table (not the jurisdiction) decides.
An allowed call may still fail on its own terms (422 for an empty body, 404, 409); what
matters here is that it is not refused (401/403), and that a refused one is a 403.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from api.auth import PUBLIC_ROUTES, route_action, served_routes
from gridmap.access import accounts
from gridmap.access.permissions import ACTIONS, ROLES, WORKFLOW_ACTIONS, allowed, table_markdown
from gridmap.db import make_engine, session_factory
from gridmap.settings import Settings
from tests import factories as f
from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
# Never called in the sweep: it streams until the client leaves (its action is checked
# statically below, and tests/test_stream.py covers the stream itself).
STREAMING = {("GET", "/api/stream")}


@pytest.fixture(scope="module")
def tokens_and_client(
    server_url: str, small_county_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], TestClient]]:
    name = f"gridmap_perm_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=small_county_template)
    engine = make_engine(url, pool_size=2)
    tokens: dict[str, str] = {}
    with session_factory(engine)() as s:
        for role in ROLES:
            _, tokens[role] = accounts.create_token(
                s, name=f"as-{role}", role=role, area_codes=[f.COUNTY]
            )
        s.commit()
    settings = Settings(database_url=url, home=tmp_path_factory.mktemp("perm"), auth_required=True)
    try:
        with TestClient(create_app(settings)) as client:
            yield tokens, client
    finally:
        engine.dispose()
        drop_database(server_url, name)


def _concrete(path: str, event_id: int) -> str:
    values = {
        "event_id": str(event_id),
        "photo_id": "1",
        "draft_id": "999999",
        "version_id": "999999",
        "layer": "grid",
        "area_id": "1",
        "z": "0",
        "x": "0",
        "y": "0",
        "path:path": "js/none.js",
    }
    return re.sub(r"\{([^}]*)\}", lambda m: values.get(m.group(1), "1"), path)


def _calls(app: object) -> list[tuple[str, str, str]]:
    """(method, route template, action) for every guarded route; the workflow route once
    per workflow action."""
    out = []
    for method, path, _ in served_routes(app):
        if (method, path) in PUBLIC_ROUTES or (method, path) in STREAMING:
            continue
        if path.endswith("/actions/{action}"):
            for name in WORKFLOW_ACTIONS:
                out.append((method, path.replace("{action}", name), f"event.{name}"))
            continue
        action = route_action(method, path, {})
        assert action is not None, f"{method} {path} has no action"
        out.append((method, path, action))
    return out


def test_every_role_may_do_exactly_what_the_table_says(
    tokens_and_client: tuple[dict[str, str], TestClient],
) -> None:
    tokens, client = tokens_and_client
    lon, lat = f.SmallCounty.grid_center(f.G1)
    made = client.post(
        "/api/events",
        headers={"Authorization": f"Bearer {tokens['admin']}"},
        json={
            "source": "test",
            "external_id": "perm-1",
            "category": "ROAD",
            "location": {"lon": lon, "lat": lat},
            "reported_at": "2026-11-21T09:30:00+08:00",
        },
    )
    assert made.status_code == 201, made.text
    event_id = made.json()["id"]
    calls = _calls(client.app)
    # Every action of the table that guards a route is tried.
    assert {a for a in ACTIONS if a.startswith(("event.", "events.", "map."))} <= {
        action for _, _, action in calls
    }
    wrong: list[str] = []
    for role in ROLES:
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        for method, path, action in calls:
            url = _concrete(path, event_id)
            response = client.request(
                method, url, headers=headers, json={} if method != "GET" else None
            )
            refused = response.status_code in (401, 403) and response.json()["error"]["code"] in (
                "permission_denied",
                "authentication_required",
            )
            if allowed(role, action):
                if refused:
                    wrong.append(f"{role} {method} {url}: refused ({response.text[:120]})")
            elif response.status_code != 403:
                wrong.append(f"{role} {method} {url}: {response.status_code}, expected 403")
    assert not wrong, "\n".join(wrong)


def test_every_route_has_an_action_or_is_public_and_goes_through_the_one_check(
    tokens_and_client: tuple[dict[str, str], TestClient],
) -> None:
    _, client = tokens_and_client
    for method, path, guarded in served_routes(client.app):
        public = (method, path) in PUBLIC_ROUTES
        action = route_action(method, path, {"action": WORKFLOW_ACTIONS[0]})
        assert public or action in ACTIONS, f"{method} {path}: no action in the table"
        # /openapi.json is a plain route outside FastAPI's dependencies; all others (the
        # docs pages too, api/docs_pages.py) pass through api.auth.enforce.
        assert guarded or path == "/openapi.json"
    assert route_action("GET", "/api/stream", {}) == "events.read"


def test_an_unlisted_route_is_refused(tokens_and_client: tuple[dict[str, str], TestClient]) -> None:
    """Deny by default: a route someone adds without a row in the table answers 403."""
    tokens, client = tokens_and_client

    @client.app.get("/api/not-in-the-table")  # type: ignore[attr-defined]
    def _unlisted() -> dict[str, str]:
        return {"secret": "yes"}

    response = client.get(
        "/api/not-in-the-table", headers={"Authorization": f"Bearer {tokens['admin']}"}
    )
    assert response.status_code == 403
    assert "deny by default" in response.json()["error"]["message"]


def test_an_anonymous_caller_is_asked_to_log_in(
    tokens_and_client: tuple[dict[str, str], TestClient],
) -> None:
    _, client = tokens_and_client
    for method, path in [("GET", "/api/events"), ("POST", "/api/events"), ("GET", "/api/stats")]:
        assert client.request(method, path).status_code == 401


def test_the_security_doc_holds_the_table_as_the_code_has_it() -> None:
    doc = (ROOT / "docs" / "security.md").read_text()
    assert table_markdown() in doc, (
        "docs/security.md differs from gridmap.access.permissions; paste the output of "
        "`python -c 'from gridmap.access.permissions import table_markdown; "
        "print(table_markdown())'`"
    )


def test_users_get_their_areas_and_a_typo_in_an_area_code_is_refused(session: Session) -> None:
    from gridmap.errors import InvalidInput

    with pytest.raises(InvalidInput, match="no current county, township, community or grid"):
        accounts.create_user(
            session, username="x", role="operator", password="x" * 12, area_codes=["nowhere"]
        )
    with pytest.raises(InvalidInput, match="unknown role"):
        accounts.create_user(session, username="y", role="boss", password="x" * 12)
