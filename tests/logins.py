"""Logging in to a test service: one password for test users, one browser per user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import CSRF_HEADER
from gridmap.settings import Settings

PASSWORD = "correct horse battery"


def service_with_login(database_url: str, home: Path) -> Iterator[TestClient]:
    """The service on `database_url` with login required (for a module-scoped fixture)."""
    settings = Settings(database_url=database_url, home=home, auth_required=True)
    with TestClient(create_app(settings)) as client:
        yield client


def login(app: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    """A browser of its own (its own cookie jar), logged in as `username`, CSRF header set."""
    browser = TestClient(app.app)
    answer = browser.post("/api/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    browser.headers[CSRF_HEADER] = answer.json()["csrf_token"]
    return browser
