"""The strict Content-Security-Policy, in a real browser: the login page, the command view
and the editor load and work under it with no violation and no console error, and the
one outside origin allowed (a basemap tile server) really serves the map's images."""

from __future__ import annotations

import base64
import http.server
import io
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from gridmap.access.accounts import create_token
from tests.browser.conftest import Service, WatchedPage, _serve, add_user
from tests.conftest import create_database, drop_database
from tests.factories import C1, COUNTY, G1, SmallCounty, load_small_county
from web_map.command_view import build_command_view
from web_map.editor import build_editor
from web_map.page_assets import inline_attributes, inline_code

ADMIN = "csp-admin"
PASSWORD = "correct horse battery"
# A 1×1 PNG: what the stand-in tile server answers for every tile.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f0dbd60000000049454e44ae426082"
)

# Every `securitypolicyviolation` the document sees, kept where the test can read it. The
# listener is added through the DevTools protocol before any of the page's own scripts.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


class _Tiles(http.server.BaseHTTPRequestHandler):
    asked: list[str] = []  # noqa: RUF012 - one server per test module

    def do_GET(self) -> None:
        _Tiles.asked.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def tile_server() -> Iterator[str]:
    """A basemap on another origin (`localhost`, where the service is `127.0.0.1`)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def secured_service(
    server_url: str,
    template_name: str,
    tile_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """`gridmap serve` with login required and a basemap from another origin."""
    name = f"gridmap_csp_{Path(tmp_path_factory.getbasetemp()).name[-8:]}".replace("-", "_")
    db_url = create_database(server_url, name, template=template_name)
    try:
        from gridmap.db import make_engine, session_factory

        engine = make_engine(db_url)
        with session_factory(engine)() as session:
            load_small_county(session)
            session.commit()
        engine.dispose()
        yield from _serve(
            db_url,
            tmp_path_factory.mktemp("gridmap-home"),
            env={
                "GRIDMAP_AUTH_REQUIRED": "true",
                "GRIDMAP_TILE_URL": f"{tile_server}/{{z}}/{{x}}/{{y}}.png",
            },
        )
    finally:
        drop_database(server_url, name)


def report_with_photo(service: Service) -> int:
    """A grid worker's phone report with a real photo, through an integration token."""
    with service.sessions() as session:
        _, token = create_token(session, name="csp-phone", role="integration", area_codes=[COUNTY])
        session.commit()
    picture = io.BytesIO()
    Image.new("RGB", (30, 20), (220, 120, 0)).save(picture, "JPEG")
    lon, lat = SmallCounty.grid_center(G1)
    body = {
        "source": "app",
        "external_id": "csp-photo-1",
        "category": "ROAD",
        "description": "井盖缺失",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reported_at": "2026-12-01T09:30:00+08:00",
        "photos": [base64.b64encode(picture.getvalue()).decode()],
    }
    request = urllib.request.Request(
        f"{service.url}/api/events",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as res:
        return int(json.loads(res.read())["id"])


def violations(w: WatchedPage) -> list[str]:
    return list(w.page.evaluate("window.__cspViolations || ['the recorder did not run']"))  # type: ignore[attr-defined]


def log_in(w: WatchedPage, service: Service, *, next_path: str) -> None:
    page: Any = w.page
    page.goto(f"{service.url}{next_path}")
    assert "/login" in page.url
    assert violations(w) == [], "the login page"
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{service.url}{next_path}*")


# --- the pages as built (no browser) ----------------------------------------------------


def test_the_pages_carry_no_inline_script_style_or_handler() -> None:
    pages = [
        build_command_view(lang="zh", bounds=(112.0, 35.0, 113.0, 36.0), query='" onclick="x'),
        build_command_view(lang="en", tile_url="https://{s}.tiles.example.org/{z}/{x}/{y}.png"),
        build_editor(lang="zh", scope='" onmouseover="x'),
        build_editor(lang="en"),
    ]
    for page in pages:
        assert inline_code(page) == []
        assert inline_attributes(page) == []
        assert '<script src="/static/page/' in page
    # The set-up is the same for every caller's view: a handful of files, not one a request.
    scripts = {
        part.split('"', 1)[0]
        for page in [*pages[:1], build_command_view(bounds=(100.0, 30.0, 101.0, 31.0))]
        for part in page.split('<script src="/static/page/')[1:]
    }
    assert len(scripts) == 2  # folium's two: the Leaflet flags, the map's set-up


# --- in the browser ---------------------------------------------------------------------


@pytest.mark.browser
def test_login_command_view_and_editor_run_under_the_policy_with_no_violation(
    secured_service: Service, tile_server: str, watched: WatchedPage
) -> None:
    service = secured_service
    add_user(service, username=ADMIN, role="admin", password=PASSWORD, areas=(COUNTY,))
    event_id = report_with_photo(service)
    page: Any = watched.page
    page.context.add_init_script(RECORD_VIOLATIONS)

    with urllib.request.urlopen(f"{service.url}/login") as res:
        policy = res.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert f"img-src 'self' data: {tile_server}" in policy

    # The command view: its layers, events, the basemap from the other origin.
    log_in(watched, service, next_path="/")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('.leaflet-gm-grid-pane path').length >= 8")
    page.wait_for_function(
        "[...document.querySelectorAll('img.leaflet-tile')]"
        ".some((i) => i.complete && i.naturalWidth)"
    )
    assert _Tiles.asked, "the basemap's tiles were asked for"
    # An event with a photo: its panel shows the photo (same-origin img-src).
    page.locator(f'.gm-dot[data-event-id="{event_id}"]').click()
    page.wait_for_selector("#gm-panel .gm-photos img", timeout=10_000)
    page.wait_for_function(
        "[...document.querySelectorAll('#gm-panel .gm-photos img')]"
        ".every((i) => i.complete && i.naturalWidth === 30)"
    )
    page.click("#gm-panel-close")
    # "Who is responsible here?" on a grid, and the panel it opens.
    lon, lat = SmallCounty.grid_center(G1)
    x, y = page.evaluate(
        """([lon, lat]) => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            const p = window[cfg.mapName].latLngToContainerPoint([lat, lon]);
            const box = document.querySelector(".folium-map").getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        [lon, lat],
    )
    page.mouse.click(x, y)
    page.wait_for_selector("#gm-panel:not([hidden])", timeout=10_000)
    watched.screenshot("csp_command_view")
    assert violations(watched) == [], "the command view"

    # The editor: pick a community, its grids and labels drawn, a drawing tool started.
    page.goto(f"{service.url}/editor")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=30_000)
    page.fill("#gm-pick-input", C1)
    page.press("#gm-pick-input", "Enter")
    page.wait_for_selector("body[data-draft]", state="attached", timeout=30_000)
    page.wait_for_selector("body[data-busy=false]", state="attached", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('.gm-label').length >= 1", timeout=20_000)
    page.click(".gm-tool[data-tool=split]")
    box = page.locator(".folium-map").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.click("#gm-tool-cancel")
    watched.screenshot("csp_editor")
    assert violations(watched) == [], "the editor"
    assert watched.console_errors == []


@pytest.mark.browser
def test_the_api_documentation_runs_under_the_policy_from_gridmap_alone(
    secured_service: Service, watched: WatchedPage
) -> None:
    """/docs (Swagger UI), served from gridmap's own pinned copy: the operations listed, no
    violation, no console error, and no request to another host."""
    service = secured_service
    page: Any = watched.page
    page.context.add_init_script(RECORD_VIOLATIONS)
    asked: list[str] = []
    page.on("request", lambda req: asked.append(req.url))

    with urllib.request.urlopen(f"{service.url}/docs") as res:
        policy = res.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy
    assert "unsafe" not in policy and "jsdelivr" not in policy

    page.goto(f"{service.url}/docs")  # public: no login
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    page.wait_for_function("document.body.innerText.includes('/api/events')", timeout=30_000)
    assert page.locator(".opblock").count() > 10
    # An operation opens (its parameters and responses drawn by Swagger UI).
    page.locator(".opblock-summary", has_text="/api/categories").first.click()
    page.wait_for_selector(".opblock.is-open .responses-wrapper", timeout=10_000)
    watched.screenshot("csp_swagger_ui")
    assert violations(watched) == [], "/docs"

    host = urlsplit(service.url).netloc
    assert watched.hosts == {host}, sorted(watched.hosts)
    assert all(urlsplit(u).netloc == host for u in asked), [
        u for u in asked if urlsplit(u).netloc != host
    ]
    assert watched.console_errors == []
