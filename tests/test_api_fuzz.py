"""Schemathesis against the OpenAPI document, as every documented role: no answer is a 5xx.

Each account — a county-wide and a township-scoped one where the role has both, a grid
worker on one grid, a department's team member, and the integration and read-only tokens —
sends a bounded number of generated requests to every operation, with its own credential
(a session cookie and its CSRF header for users, a bearer token for tokens), so the paths
past the permission check that only some roles reach are fuzzed too. The live stream is
left out (it streams until the client leaves; tests/test_stream.py covers it), and so is
logging out (it would end the session the rest of the run uses; tests/test_auth.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from api.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from gridmap.access import accounts
from gridmap.db import make_engine, session_factory
from gridmap.settings import Settings
from tests import factories as f
from tests.conftest import create_database, drop_database
from tests.logins import PASSWORD

SKIPPED = {("GET", "/api/stream"), ("POST", "/api/auth/logout")}
# A deeper probe than the suite's: GRIDMAP_FUZZ_EXAMPLES=50 pytest tests/test_api_fuzz.py
DEEPER = int(os.environ.get("GRIDMAP_FUZZ_EXAMPLES", "0"))


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    areas: tuple[str, ...] = ()
    team: str | None = None
    token: bool = False
    examples: int = 4


# Every documented role (docs/security.md), each at the county and below it where it can be.
ACCOUNTS = [
    Account("fuzz-admin", "admin", (f.COUNTY,), examples=8),
    Account("fuzz-admin-t1", "admin", (f.T1,)),
    Account("fuzz-operator", "operator", (f.COUNTY,)),
    Account("fuzz-operator-t1", "operator", (f.T1,)),
    Account("fuzz-planner", "planner", (f.COUNTY,)),
    Account("fuzz-planner-t1", "planner", (f.T1,)),
    Account("fuzz-supervisor-t1", "supervisor", (f.T1,)),
    Account("fuzz-grid-worker", "grid_worker", (f.G1,)),
    Account("fuzz-team-member", "team_member", team="D-ZF"),
    Account("fuzz-integration", "integration", (f.COUNTY,), token=True),
    Account("fuzz-integration-t1", "integration", (f.T1,), token=True),
    Account("fuzz-reader", "reader", (f.COUNTY,), token=True),
]


@pytest.fixture(scope="module")
def running_app(
    server_url: str, small_county_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, dict[str, dict[str, str]]]]:
    """The app on a copy of the small county, and each account's request headers."""
    name = f"gridmap_fuzz_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=small_county_template)
    tokens: dict[str, str] = {}
    engine = make_engine(url, pool_size=1)
    with session_factory(engine)() as s:
        for account in ACCOUNTS:
            if account.token:
                _, tokens[account.name] = accounts.create_token(
                    s, name=account.name, role=account.role, area_codes=account.areas
                )
            else:
                accounts.create_user(
                    s,
                    username=account.name,
                    role=account.role,
                    password=PASSWORD,
                    area_codes=account.areas,
                    team_code=account.team,
                )
        s.commit()
    engine.dispose()
    app = create_app(
        Settings(database_url=url, home=tmp_path_factory.mktemp("fuzz"), auth_required=True)
    )
    try:
        with TestClient(app) as client:  # runs the lifespan: the database, routing, the listener
            headers: dict[str, dict[str, str]] = {}
            for account in ACCOUNTS:
                if account.token:
                    headers[account.name] = {"Authorization": f"Bearer {tokens[account.name]}"}
                    continue
                answer = client.post(
                    "/api/auth/login", json={"username": account.name, "password": PASSWORD}
                )
                assert answer.status_code == 200, answer.text
                csrf = answer.json()["csrf_token"]
                session = answer.cookies[SESSION_COOKIE]
                headers[account.name] = {
                    "Cookie": f"{SESSION_COOKIE}={session}; {CSRF_COOKIE}={csrf}",
                    CSRF_HEADER: csrf,
                }
                client.cookies.clear()
            yield app, headers
    finally:
        drop_database(server_url, name)


def test_every_documented_role_is_fuzzed() -> None:
    """The accounts above cover every role of the table in gridmap/access/permissions.py."""
    from gridmap.access.permissions import ROLES

    assert {a.role for a in ACCOUNTS} == set(ROLES)


@pytest.mark.slow
@pytest.mark.parametrize("account", ACCOUNTS, ids=[a.name for a in ACCOUNTS])
def test_no_operation_answers_5xx(
    running_app: tuple[Any, dict[str, dict[str, str]]], account: Account
) -> None:
    app, all_headers = running_app
    headers = all_headers[account.name]
    # The credential really works (a typo here would fuzz only the 401 path).
    with TestClient(app) as client:
        assert client.get("/api/auth/me", headers=headers).json()["name"] == account.name
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    answered: dict[int, int] = {}
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        tried += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=DEEPER or account.examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the test client re-raises what the app did not handle
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r}: {exc!r}"[:400]
                )
                return
            answered[response.status_code] = answered.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r}: "
                    f"{response.status_code} {response.text[:200]}"
                )

        check()
    assert tried > 20  # the schema really was read
    assert not failures, f"as {account.name}:\n" + "\n".join(failures[:20])
    # Not every answer was a refusal: the role's own operations were reached.
    assert sum(n for status, n in answered.items() if status < 400) > 0, answered
