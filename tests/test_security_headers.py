"""Security headers on every answer: pages, API, static files, errors, the ingest path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import pages
from api.app import create_app
from api.security_headers import CSP_HEADER, page_policy, tile_source
from gridmap.errors import ConfigurationError
from gridmap.settings import Settings
from tests.factories import G1, SmallCounty
from web_map import page_assets
from web_map.page_assets import inline_code

CSP = CSP_HEADER.decode()


def _directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def _assert_secured(response) -> None:
    h = response.headers
    assert h["x-content-type-options"] == "nosniff", response.url
    assert h["x-frame-options"] == "DENY", response.url
    assert h["referrer-policy"] == "no-referrer", response.url
    policy = _directives(h[CSP])
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"], response.url
    assert policy["style-src"] == ["'self'"], response.url
    assert all("http" not in v for values in policy.values() for v in values), response.url
    assert all("unsafe" not in v for values in policy.values() for v in values), response.url


def test_every_kind_of_answer_carries_the_headers(db_url: str, tmp_path: Path) -> None:
    app = create_app(Settings(database_url=db_url, home=tmp_path, auth_required=True))
    with TestClient(app) as client:
        answers = [
            client.get("/health"),
            client.get("/login"),
            client.get("/", follow_redirects=False),  # 303 to the login page
            client.get("/api/events"),  # 401
            client.post("/api/events", json={}),  # the ingest door, before the stack: 401
            client.get("/static/js/common.js"),
            client.get("/static/nothing.js"),  # 404
            client.get("/static/js/common.js%00.png"),  # a NUL in the path: 404, not 500
            client.get("/openapi.json"),
        ]
        for response in answers:
            _assert_secured(response)
        assert [a.status_code for a in answers[2:5]] == [303, 401, 401]
        assert [a.status_code for a in answers[6:8]] == [404, 404]

        # The API documentation: gridmap's own page, public, under the same strict policy,
        # loading only files gridmap serves, with no inline script (api/docs_pages.py).
        doc = client.get("/docs")
        assert doc.status_code == 200
        _assert_secured(doc)
        assert not inline_code(doc.text)
        assert "http" not in doc.text  # no CDN, no other host
        assert 'data-openapi-url="/openapi.json"' in doc.text
        for src in re.findall(r'(?:src|href)="([^"]+)"', doc.text):
            asset = client.get(src)
            assert asset.status_code == 200, src
            _assert_secured(asset)
        # FastAPI's own pages are gone: no ReDoc (it cannot run under the policy), no
        # OAuth2 redirect page (gridmap logs in with sessions and bearer tokens).
        assert client.get("/redoc").status_code in (401, 404)
        assert client.get("/docs/oauth2-redirect").status_code in (401, 404)


def test_tile_host_is_allowed_for_images_only() -> None:
    policy = _directives(page_policy("https://{s}.tile.example.org/{z}/{x}/{y}.png"))
    assert policy["img-src"] == ["'self'", "data:", "https://*.tile.example.org"]
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert tile_source("http://t{s}.tianditu.gov.cn:8080/img/{z}/{x}/{y}") == (
        "http://*.tianditu.gov.cn:8080"
    )
    assert tile_source("https://tiles.county.gov.cn/{z}/{x}/{y}.png") == (
        "https://tiles.county.gov.cn"
    )
    assert tile_source("/basemap/{z}/{x}/{y}.png") is None  # served by gridmap: 'self'
    for bad in ("ftp://tiles.example.org/{z}.png", "https://{s}.org/{z}.png"):
        with pytest.raises(ConfigurationError):
            tile_source(bad)


def test_the_unmasked_reporter_is_never_cached(small_county_db_url: str, tmp_path: Path) -> None:
    lon, lat = SmallCounty.grid_center(G1)
    event = {
        "source": "12345",
        "external_id": "no-store-1",
        "category": "ROAD",
        "description": "路灯不亮",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reporter": {"name": "张三", "phone": "13812345678"},
        "reported_at": "2026-12-01T09:30:00+08:00",
    }
    with TestClient(create_app(Settings(database_url=small_county_db_url, home=tmp_path))) as c:
        created = c.post("/api/events", json=event)
        _assert_secured(created)  # the ingest door's own answer
        event_id = created.json()["id"]
        masked = c.get(f"/api/events/{event_id}")
        assert "13812345678" not in masked.text
        unmasked = c.get(f"/api/events/{event_id}/reporter")
    assert unmasked.json()["phone"] == "13812345678"
    assert unmasked.headers["cache-control"] == "no-store"
    _assert_secured(unmasked)


def test_a_worker_that_has_not_rendered_the_page_still_serves_its_files(
    small_county_db_url: str, tmp_path: Path
) -> None:
    """The page came from another worker process: this one makes the same files."""
    settings = Settings(database_url=small_county_db_url, home=tmp_path, auth_required=False)
    with TestClient(create_app(settings)) as client:
        page = client.get("/")
        assert page.status_code == 200
        names = re.findall(r'"/static/page/([0-9a-f]+\.(?:js|css))"', page.text)
        assert len(names) >= 3 and not inline_code(page.text)
        page_assets._ASSETS.clear()  # as in a worker that has served no page yet
        pages._rendered_for.clear()
        for name in names:
            served = client.get(f"/static/page/{name}")
            assert served.status_code == 200, name
            assert served.headers["content-type"].startswith(
                "text/javascript" if name.endswith(".js") else "text/css"
            )
            assert "immutable" in served.headers["cache-control"]
        assert client.get("/static/page/00000000.js").status_code == 404
