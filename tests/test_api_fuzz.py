"""Schemathesis against the OpenAPI document, as a logged-in admin: no answer is a 500.

A bounded number of examples per operation keeps this under a minute or two; the live
stream is left out (it streams until the client leaves; tests/test_stream.py covers it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from gridmap import auth as accounts
from gridmap.db import make_engine, session_factory
from gridmap.settings import Settings
from tests import factories as f
from tests.conftest import create_database, drop_database


@pytest.fixture(scope="module")
def running_app(
    server_url: str, small_county_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, str]]:
    name = f"gridmap_fuzz_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=small_county_template)
    engine = make_engine(url, pool_size=1)
    with session_factory(engine)() as s:
        _, token = accounts.create_token(s, name="fuzz", role="admin", area_codes=[f.COUNTY])
        s.commit()
    engine.dispose()
    app = create_app(
        Settings(database_url=url, home=tmp_path_factory.mktemp("fuzz"), auth_required=True)
    )
    try:
        with TestClient(app):  # runs the lifespan: the database, routing, the listener
            yield app, token
    finally:
        drop_database(server_url, name)


def test_no_operation_answers_500(running_app: tuple[Any, str]) -> None:
    app, token = running_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        if operation.path == "/api/stream":
            continue
        tried += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the test client re-raises what the app did not handle
                failures.append(f"{case.method} {case.formatted_path} {case.query}: {exc!r}"[:300])
                return
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r}: "
                    f"{response.status_code} {response.text[:200]}"
                )

        check()
    assert tried > 20  # the schema really was read
    assert not failures, "\n".join(failures[:20])
