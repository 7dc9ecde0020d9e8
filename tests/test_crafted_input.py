"""Crafted input answers a 4xx that names the problem, never a 500: odd digits in a CRS,
JSON nested 100,000 deep, a NUL in a static path, booleans as coordinates, bare numbers
as times, and the search limit the schema documents."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gridmap.access import accounts
from gridmap.db import make_engine, session_factory
from gridmap.settings import Settings
from tests import factories as f
from tests.conftest import create_database, drop_database
from tests.test_events_api import ticket

DEEP = b"[" * 100_000 + b"]" * 100_000
# Within the login route's 64 KiB body limit, still far deeper than any parser allows.
DEEP_LOGIN = b"[" * 30_000 + b"]" * 30_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
BAD_CRS = ["EPSG:²", "EPSG:4326²", "epsg:" + "9" * 5000, "EPSG:¹²³", "EPSG:٤٣٢٦"]


@pytest.fixture(scope="module")
def app(
    server_url: str, small_county_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    name = f"gridmap_crafted_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=small_county_template)
    engine = make_engine(url, pool_size=1)
    with session_factory(engine)() as s:
        _, token = accounts.create_token(s, name="crafted", role="admin", area_codes=[f.COUNTY])
        s.commit()
    engine.dispose()
    settings = Settings(database_url=url, home=tmp_path_factory.mktemp("c"), auth_required=True)
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield client, {"Authorization": f"Bearer {token}"}
    finally:
        drop_database(server_url, name)


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


@pytest.mark.parametrize("crs", BAD_CRS)
def test_a_crs_with_odd_digits_is_an_unknown_crs_on_every_route_that_takes_one(
    app: tuple[TestClient, dict[str, str]], crs: str
) -> None:
    client, bearer = app
    lon, lat = f.SmallCounty.grid_center(f.G1)
    unplaced = ticket(f"CRS-{uuid.uuid4().hex[:6]}", location=None, address="东大街 12 号")
    event = client.post("/api/events", json=unplaced, headers=bearer)
    assert event.status_code == 201, event.text
    draft = client.post("/api/drafts", json={"layer": "community", "code": f.C1}, headers=bearer)
    assert draft.status_code == 201, draft.text
    point = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"code": "X1"},
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                }
            ],
        }
    ).encode()
    answers = [
        client.get("/api/locate", params={"lon": lon, "lat": lat, "crs": crs}, headers=bearer),
        client.post("/api/locate", json={"crs": crs, "points": [[lon, lat]]}, headers=bearer),
        client.post(
            "/api/events",
            json=ticket(
                f"CRS-{uuid.uuid4().hex[:6]}", location={"lon": lon, "lat": lat, "crs": crs}
            ),
            headers=bearer,
        ),
        client.post(
            f"/api/events/{event.json()['id']}/place",
            json={"lon": lon, "lat": lat, "crs": crs},
            headers=bearer,
        ),
        client.post(
            f"/api/drafts/{draft.json()['id']}/upload",
            files={"file": ("grids.geojson", io.BytesIO(point), "application/geo+json")},
            data={"crs": crs},
            headers=bearer,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] in ("unknown_crs", "data_file_error"), answer.text
        assert "coordinate system" in answer.json()["error"]["message"].lower() or (
            "crs" in answer.text.lower()
        )


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_json_nested_too_deep_is_refused_naming_it(
    app: tuple[TestClient, dict[str, str]], body: bytes
) -> None:
    client, bearer = app
    json_type = {"Content-Type": "application/json"}
    login = client.post("/api/auth/login", content=DEEP_LOGIN, headers=json_type)
    assert login.status_code == 422, login.text
    assert "nested" in login.json()["error"]["message"]
    too_big = client.post("/api/auth/login", content=body, headers=json_type)
    assert too_big.status_code == 413, too_big.text
    located = client.post("/api/locate", content=body, headers=json_type | bearer)
    assert located.status_code == 422, located.text
    assert "nested" in located.json()["error"]["message"]
    for path in ("/api/events", "/api/admin/users", "/api/drafts"):
        answer = client.post(path, content=body, headers=json_type | bearer)
        assert 400 <= answer.status_code < 500, (path, answer.text)


def test_a_nul_in_a_static_path_is_not_found(app: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = app
    for path in ("/static/js/common.js%00.png", "/static/%00", "/static/js/%00/x"):
        _error(client.get(path), 404, "not_found")


def test_booleans_are_not_coordinates(app: tuple[TestClient, dict[str, str]]) -> None:
    client, bearer = app
    for location in ({"lon": True, "lat": False}, {"lon": 112.9, "lat": True}):
        body = ticket(f"BOOL-{uuid.uuid4().hex[:6]}", location=location)
        error = _error(client.post("/api/events", json=body, headers=bearer), 422, "invalid_input")
        assert "location" in error["message"]
    refused = client.post("/api/locate", json={"points": [[True, False]]}, headers=bearer)
    _error(refused, 422, "invalid_input")
    features = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [True, 1]}}],
    }
    _error(client.post("/api/locate", json=features, headers=bearer), 422, "invalid_input")
    unplaced = ticket(f"BOOL-{uuid.uuid4().hex[:6]}", location=None, address="东大街 12 号")
    event = client.post("/api/events", json=unplaced, headers=bearer).json()
    placed = client.post(
        f"/api/events/{event['id']}/place", json={"lon": True, "lat": False}, headers=bearer
    )
    _error(placed, 422, "invalid_input")


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2026-11-21T09:30:00", "-1"])
def test_times_without_a_time_zone_are_refused(
    app: tuple[TestClient, dict[str, str]], value: str
) -> None:
    client, bearer = app
    lon, lat = f.SmallCounty.grid_center(f.G1)
    for path, params in [
        ("/api/audit", {"since": value}),
        ("/api/audit", {"until": value}),
        ("/api/events", {"since": value}),
        ("/api/locate", {"lon": lon, "lat": lat, "at": value}),
    ]:
        answer = client.get(path, params=params, headers=bearer)
        error = _error(answer, 422, "invalid_input")
        assert "time zone" in error["message"], (path, error)
    good = "2026-11-21T09:30:00+08:00"
    assert client.get("/api/audit", params={"since": good}, headers=bearer).status_code == 200
    assert client.get("/api/events", params={"since": good}, headers=bearer).status_code == 200


def test_the_search_limit_the_schema_documents_is_the_one_served(
    app: tuple[TestClient, dict[str, str]],
) -> None:
    client, bearer = app
    schema = client.get("/openapi.json").json()
    params = schema["paths"]["/api/search"]["get"]["parameters"]
    q = next(p for p in params if p["name"] == "q")
    limit = q["schema"]["maxLength"]
    at_limit = client.get("/api/search", params={"q": "x" * limit}, headers=bearer)
    assert at_limit.status_code == 200, at_limit.text
    over = client.get("/api/search", params={"q": "x" * (limit + 1)}, headers=bearer)
    _error(over, 422, "invalid_input")


def test_upload_errors_do_not_reveal_server_paths(
    app: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, bearer = app
    draft = client.post("/api/drafts", json={"layer": "community", "code": f.C1}, headers=bearer)
    assert draft.status_code == 201, draft.text
    for name, content in [
        ("grids.geojson", b"{not json"),
        ("grids.zip", b"PK\x03\x04 not a zip"),
        ("grids.gpkg", b"SQLite format 3\x00 broken"),
        ("grids.shp", b"\x00" * 100),
    ]:
        answer = client.post(
            f"/api/drafts/{draft.json()['id']}/upload",
            files={"file": (name, io.BytesIO(content), "application/octet-stream")},
            headers=bearer,
        )
        assert 400 <= answer.status_code < 500, (name, answer.text)
        assert "/tmp" not in answer.text and "upload." not in answer.text, (name, answer.text)


def test_every_protected_route_asks_an_anonymous_caller_to_authenticate_first(
    app: tuple[TestClient, dict[str, str]],
) -> None:
    """Malformed ids, queries and bodies from a caller without a credential: 401 (the pages
    303 to the login) before any 404 or 422 could tell it something."""
    client, _ = app
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    schema = client.get("/openapi.json").json()
    public = {("GET", "/health"), ("POST", "/api/auth/login")}
    wrong: list[str] = []
    for template, operations in schema["paths"].items():
        for method in operations:
            if (method.upper(), template) in public:
                continue
            for filler in ("99999999999999999999", "-1", "%00", "x" * 300):
                path = re.sub(r"\{[^}]*\}", filler, template)
                got = anonymous.request(
                    method.upper(),
                    path + "?limit=abc&since=0.5&bbox=1,2&lon=x&crs=EPSG:²",
                    content=b"{not json" if method in ("post", "put", "patch") else None,
                    headers={"Content-Type": "application/json"},
                    follow_redirects=False,
                )
                if got.status_code not in (401, 303):
                    wrong.append(f"{method.upper()} {path}: {got.status_code} {got.text[:100]}")
    assert not wrong, "\n".join(wrong)
