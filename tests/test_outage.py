"""A database outage, for real: the embedded PostgreSQL is stopped under a running app.

Every route in the OpenAPI document and every page is asked as an anonymous caller, with
a browser session and with a bearer token: nothing answers 500; whatever needs the
database answers 503 with `Retry-After`. Then the database comes back and the same app
(not restarted) answers again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api.app import create_app
from api.auth import CSRF_HEADER
from gridmap.access import accounts
from gridmap.db import make_engine, migrate, resolve_database_url, session_factory
from gridmap.embedded_db import EmbeddedCluster
from gridmap.settings import Settings
from tests import factories as f
from tests.logins import PASSWORD
from tests.test_events_api import ticket

# Answered without the database whoever asks (the docs, the login form, the assets).
NO_DATABASE = {"/openapi.json", "/docs", "/login", "/static/js/common.js"}
PAGES = ["/", "/editor", "/login", "/static/js/common.js", "/docs", "/openapi.json"]
# Public routes that need the database: 503 for anyone.
PUBLIC_NEEDING_DATABASE = {("GET", "/health"), ("POST", "/api/auth/login")}
_PARAM = re.compile(r"\{([^}]*)\}")
_VALUES = {"layer": "grid", "action": "accept", "collectionId": "grid", "featureId": "1"}


def _fill(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if name in _VALUES:
            return _VALUES[name]
        if name.endswith("_id") or name in {"z", "x", "y"}:
            return "1"
        return "x"

    return _PARAM.sub(value, path)


def _requests(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, template, concrete path) of every operation in the schema, and the pages."""
    out = [("GET", page, page) for page in PAGES]
    for template, operations in sorted(schema["paths"].items()):
        for method in sorted(operations):
            out.append((method.upper(), template, _fill(template)))
    return out


def _ask(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if path == "/api/auth/login":
        kwargs["json"] = {"username": "outage-admin", "password": "a wrong password"}
    elif method in {"POST", "PUT", "PATCH"}:
        kwargs["json"] = {}
    return client.request(method, path, **kwargs)


@pytest.fixture
def outage_service(cluster_home: Path) -> Iterator[tuple[EmbeddedCluster, str, str]]:
    """A cluster of its own (it will be stopped), with the small county, a user and a token."""
    cluster = EmbeddedCluster(cluster_home)
    url = resolve_database_url(Settings(home=cluster_home))
    migrate(url)
    engine = make_engine(url, pool_size=1)
    with session_factory(engine)() as s:
        f.load_small_county(s)
        accounts.create_user(
            s, username="outage-admin", role="admin", password=PASSWORD, area_codes=[f.COUNTY]
        )
        _, token = accounts.create_token(
            s, name="outage-token", role="admin", area_codes=[f.COUNTY]
        )
        s.commit()
    engine.dispose()
    yield cluster, url, token


def test_every_route_answers_503_while_the_database_is_down_and_recovers_after(
    outage_service: tuple[EmbeddedCluster, str, str], cluster_home: Path
) -> None:
    cluster, url, token = outage_service
    port = str(make_url(url).port)
    settings = Settings(database_url=url, home=cluster_home / "app", auth_required=True)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as anonymous:
        browser = TestClient(app, raise_server_exceptions=False)
        answer = browser.post(
            "/api/auth/login", json={"username": "outage-admin", "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        browser.headers[CSRF_HEADER] = answer.json()["csrf_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert anonymous.get("/api/auth/me", headers=bearer).status_code == 200  # known token
        requests = _requests(anonymous.get("/openapi.json").json())
        assert len(requests) > 40

        cluster.stop()
        wrong: list[str] = []
        callers = [
            ("anonymous", anonymous, {}),
            ("session", browser, {}),
            ("bearer", anonymous, bearer),
        ]
        for who, client, headers in callers:
            for method, template, path in requests:
                got = _ask(client, method, path, headers)
                status, retry = got.status_code, got.headers.get("retry-after")
                if template in NO_DATABASE:
                    ok = status < 500
                elif who == "anonymous" and (method, template) not in PUBLIC_NEEDING_DATABASE:
                    # No credential: 401 (or the login page) without asking the database.
                    ok = status in (401, 303) or (status == 503 and retry is not None)
                else:
                    ok = status == 503 and retry is not None
                    ok = ok and got.json()["error"]["code"] == "database_unavailable"
                    # Nothing about the server: not its address or port.
                    ok = ok and "127.0.0.1" not in got.text and port not in got.text
                if not ok:
                    wrong.append(f"{who} {method} {path}: {status} {got.text[:120]}")
        assert not wrong, "\n".join(wrong)

        cluster.start()
        assert anonymous.get("/health").status_code == 200
        for client, headers in ((browser, {}), (anonymous, bearer)):
            me = client.get("/api/auth/me", headers=headers)
            assert me.status_code == 200, me.text
            assert client.get("/api/events", headers=headers).status_code == 200
            lon, lat = f.SmallCounty.grid_center(f.G1)
            located = client.get("/api/locate", params={"lon": lon, "lat": lat}, headers=headers)
            assert located.status_code == 200, located.text
        back: list[str] = []
        for method, template, path in requests:
            if method != "GET" or template == "/api/stream":
                continue
            got = _ask(browser, method, path, {})
            if got.status_code >= 500:
                back.append(f"{method} {path}: {got.status_code} {got.text[:120]}")
        assert not back, "\n".join(back)


def test_the_first_requests_after_a_database_restart_succeed(
    outage_service: tuple[EmbeddedCluster, str, str], cluster_home: Path
) -> None:
    """The pooled connections (and the token gate's) died with the old server: the first
    request after the restart gets a fresh one instead of a 503."""
    cluster, url, token = outage_service
    settings = Settings(database_url=url, home=cluster_home / "app", auth_required=True)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        answer = client.post(
            "/api/auth/login", json={"username": "outage-admin", "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        bearer = {"Authorization": f"Bearer {token}"}
        lon, lat = f.SmallCounty.grid_center(f.G1)
        asks = [
            ("GET", "/api/auth/me", {}),
            ("GET", "/api/auth/me", bearer),
            ("GET", "/api/events", {}),
            ("GET", "/api/events", bearer),
            ("GET", f"/api/locate?lon={lon}&lat={lat}", bearer),
        ]
        for method, path, headers in asks:  # every connection in use once before
            assert client.request(method, path, headers=headers).status_code == 200
        for n in range(2):  # the second goes through the ingest batcher's connection
            posted = client.post("/api/events", json=ticket(f"BEFORE-{n}"), headers=bearer)
            assert posted.status_code == 201, posted.text

        cluster.stop()
        cluster.start()
        for method, path, headers in asks:
            got = client.request(method, path, headers=headers)
            assert got.status_code == 200, f"{method} {path} {headers}: {got.text}"
        for n in range(2):
            posted = client.post("/api/events", json=ticket(f"AFTER-{n}"), headers=bearer)
            assert posted.status_code == 201, posted.text
