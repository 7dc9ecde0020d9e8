"""The command view, as an operator sees it in a real browser: it loads offline with no
errors, speaks Chinese or English, answers "who is responsible here?", and shows data as text."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

import folium
import folium.plugins
import pytest
from sqlalchemy import text

from gridmap.access.accounts import create_token
from gridmap.errors import ConfigurationError, InvalidInput
from gridmap.events.workflow import RULES, STATES
from tests.browser.conftest import Service, WatchedPage, add_user
from tests.factories import C1, C3, C4, COUNTY, G1, T1, SmallCounty
from web_map.assets import external_urls, localize, static_file
from web_map.command_view import build_command_view
from web_map.i18n import LABELS
from web_map.page_assets import page_asset

XSS = "<img src=x onerror=alert(1)>"
_external_ids = itertools.count(1)


def post_event(service: Service, *, grid: str, description: str, category: str = "ROAD") -> int:
    """Send an event as the 12345 hotline would, at the middle of `grid`; its id."""
    lon, lat = SmallCounty.grid_center(grid)
    body = {
        "source": "12345",
        "external_id": f"browser-{next(_external_ids)}-{dt.datetime.now().timestamp()}",
        "category": category,
        "description": description,
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reporter": {"name": "张先生", "phone": "13812345678"},
        "reported_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    answer = call(service, "POST", "/api/events", body)
    return int(answer["id"])


def call(service: Service, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{service.url}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as res:
        return json.loads(res.read())


def marker(w: WatchedPage, event_id: int, *, timeout_ms: int = 10_000) -> Any:
    """The event's marker on the map, once it is there."""
    page = w.page
    found = page.locator(f'.gm-dot[data-event-id="{event_id}"]')  # type: ignore[attr-defined]
    try:
        found.wait_for(timeout=timeout_ms)
    except Exception as exc:
        state = page.evaluate(  # type: ignore[attr-defined]
            """() => ({dots: document.querySelectorAll('.gm-dot').length,
                       clusters: document.querySelectorAll('.marker-cluster').length,
                       toast: document.getElementById('gm-hint').textContent})"""
        )
        view = page.evaluate(MAP_VIEW)  # type: ignore[attr-defined]
        raise AssertionError(
            f"no marker for event {event_id} in {timeout_ms} ms: {state}, view {view}, "
            f"console {w.console_errors}"
        ) from exc
    return found


def open_live_page(w: WatchedPage, service: Service) -> None:
    """The page, loaded and subscribed to the live stream."""
    open_page(w, f"{service.url}/")
    w.page.wait_for_selector("#gm-live[data-state=on]", timeout=10_000)  # type: ignore[attr-defined]


def open_page(w: WatchedPage, url: str) -> None:
    """Open the page and wait until its layers and events are loaded."""
    w.page.goto(url)  # type: ignore[attr-defined]
    try:
        w.page.wait_for_selector(  # type: ignore[attr-defined]
            "body[data-ready=true]", state="attached", timeout=20_000
        )
    except Exception as exc:
        raise AssertionError(f"the page did not finish loading: {w.console_errors}") from exc


MAP_VIEW = """() => {
    const cfg = JSON.parse(document.getElementById("gm-config").textContent);
    const m = window[cfg.mapName];
    return {center: m.getCenter(), zoom: m.getZoom(), size: m.getSize()};
}"""


def click_map_at(w: WatchedPage, lon: float, lat: float) -> str:
    """Click the map where (lon, lat) is drawn, as an operator would; the view, for messages."""
    page = w.page
    x, y = page.evaluate(  # type: ignore[attr-defined]
        """([lon, lat]) => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            const p = window[cfg.mapName].latLngToContainerPoint([lat, lon]);
            const box = document.querySelector(".folium-map").getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        [lon, lat],
    )
    before = page.evaluate(MAP_VIEW)  # type: ignore[attr-defined]
    # What the click lands on (a marker, an alarm or a control over the map takes it).
    target = page.evaluate(  # type: ignore[attr-defined]
        "([x, y]) => { const e = document.elementFromPoint(x, y);"
        " return e ? `${e.tagName}#${e.id}.${e.getAttribute('class')}` : null; }",
        [x, y],
    )
    page.mouse.click(x, y)  # type: ignore[attr-defined]
    now = page.evaluate(MAP_VIEW)  # type: ignore[attr-defined]
    return f"clicked {x},{y} on {target} in view {before}, now {now}"


# --- the page as built (no browser) ----------------------------------------------------


def test_the_built_page_names_no_host_but_its_own() -> None:
    for lang in ("zh", "en"):
        page = build_command_view(lang=lang, api_features=["ogc", "locate"])
        assert external_urls(page) == []
        assert "/static/vendor/leaflet/dist/leaflet.js" in page


def test_a_folium_asset_without_a_local_copy_is_refused_not_left_on_a_cdn() -> None:
    m = folium.Map(tiles=None)
    folium.plugins.Fullscreen().add_to(m)  # not shipped by gridmap
    with pytest.raises(ConfigurationError, match="Fullscreen"):
        localize(m.get_root())


def test_a_basemap_url_is_the_only_outside_address_allowed() -> None:
    tiles = "https://tiles.example.gov.cn/{z}/{x}/{y}.png"
    page = build_command_view(tile_url=tiles)
    # The map's set-up (the tile layer with it) is a served file, not an inline script.
    names = re.findall(r'src="/static/page/([0-9a-f]+\.js)"', page)
    scripts = "".join(page_asset(name).body.decode() for name in names)  # type: ignore[union-attr]
    assert tiles in scripts
    assert external_urls(page + scripts, allowed_prefixes=[tiles]) == []


def test_both_languages_label_every_state_priority_and_action() -> None:
    assert LABELS["zh"].keys() == LABELS["en"].keys()
    # The timeline also shows the steps the system writes, not only the workflow's actions.
    logged = ["report", "possible_duplicate", "co_report_back", "photo", "merged_in"]
    logged += ["overdue", "place", "reroute"]
    needed = [f"action_{a}" for a in [*RULES, *logged]] + [f"status_{s}" for s in STATES]
    assert [k for k in needed if k not in LABELS["zh"]] == []


def test_unknown_language_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown language 'fr'"):
        build_command_view(lang="fr")


def test_static_files_come_only_from_our_folders_and_the_plugins_dist() -> None:
    assert static_file("js/command_view.js") is not None
    assert static_file("vendor/leaflet/dist/leaflet.css") is not None
    for refused in (
        "package.json",
        "vendor/leaflet/package.json",
        "vendor/leaflet/dist/../package.json",
        "js/../../assets.py",
        "node_modules/leaflet/dist/leaflet.js",
        "",
    ):
        assert static_file(refused) is None, refused


def test_a_search_string_in_the_url_cannot_close_the_config_script() -> None:
    page = build_command_view(query='</script><script>alert("x")</script>')
    config = page.split('id="gm-config">', 1)[1].split("</script>", 1)[0]
    assert json.loads(config)["query"] == '</script><script>alert("x")</script>'


# --- in the browser ---------------------------------------------------------------------


@pytest.mark.browser
def test_the_page_loads_in_chinese_with_no_errors_and_asks_only_the_service(
    service: Service, watched: WatchedPage
) -> None:
    open_page(watched, f"{service.url}/")
    page = watched.page
    # The county and its grids are drawn (from the OGC features of the running service).
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.querySelectorAll('.leaflet-gm-grid-pane path').length >= 8"
    )
    watched.screenshot("command_view_zh")
    assert page.title() == "网格化管理指挥中心 · 一张图"  # type: ignore[attr-defined]
    assert "今日受理" in page.inner_text("#gm-top")  # type: ignore[attr-defined]
    assert page.locator("#gm-filter-township option").all_inner_texts()[1:] == ["西镇", "东镇"]  # type: ignore[attr-defined]
    assert watched.console_errors == []
    assert watched.hosts == {urlsplit(service.url).netloc}


@pytest.mark.browser
def test_the_page_speaks_english_when_asked(service: Service, watched: WatchedPage) -> None:
    open_page(watched, f"{service.url}/?lang=en")
    page = watched.page
    assert page.get_attribute("html", "lang") == "en"  # type: ignore[attr-defined]
    assert "Received today" in page.inner_text("#gm-top")  # type: ignore[attr-defined]
    assert "Status" in page.inner_text("#gm-filters")  # type: ignore[attr-defined]
    watched.screenshot("command_view_en")
    assert watched.console_errors == []
    assert watched.hosts == {urlsplit(service.url).netloc}


@pytest.mark.browser
def test_clicking_the_map_says_who_is_responsible_there(
    service: Service, watched: WatchedPage
) -> None:
    open_page(watched, f"{service.url}/")
    page = watched.page
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.querySelectorAll('.leaflet-gm-grid-pane path').length >= 8"
    )
    lon, lat = SmallCounty.grid_center(G1)
    how = click_map_at(watched, lon, lat)
    panel = page.locator("#gm-panel")  # type: ignore[attr-defined]
    panel.locator(".gm-here").wait_for()
    text = panel.inner_text()
    assert G1 in text and C1 in text and T1 in text, f"{how}: {text}"
    assert f"T-{G1}" in text  # the grid's own team answers for it
    assert COUNTY not in text.split(G1)[0]  # the grid comes first in the chain
    watched.screenshot("command_view_who_is_here")
    assert watched.console_errors == []


@pytest.mark.browser
def test_text_from_the_address_bar_is_shown_as_text_never_run(
    service: Service, watched: WatchedPage
) -> None:
    open_page(watched, f"{service.url}/?q={quote(XSS)}")
    page = watched.page
    assert page.input_value("#gm-search-input") == XSS  # type: ignore[attr-defined]
    assert page.locator("img[src=x]").count() == 0  # type: ignore[attr-defined]
    assert watched.dialogs == []
    assert watched.console_errors == []


@pytest.mark.browser
def test_a_posted_event_appears_live_and_its_panel_names_grid_and_team(
    service: Service, watched: WatchedPage
) -> None:
    open_live_page(watched, service)
    page = watched.page
    grid = f"{C3}001"
    event_id = post_event(service, grid=grid, description="路面塌陷，约两平方米")
    # Live: no reload, within 2 seconds of the API's answer.
    dot = marker(watched, event_id, timeout_ms=2_000)
    assert "prio-routine" in (dot.get_attribute("class") or "")
    dot.click()
    panel = page.locator(f'#gm-panel .gm-event[data-event-id="{event_id}"]')  # type: ignore[attr-defined]
    panel.locator(".gm-team").wait_for()
    assert panel.locator(".gm-description").inner_text() == "路面塌陷，约两平方米"
    chain = panel.locator(".gm-chain").inner_text()
    assert grid in chain and C3 in chain
    assert f"T-{grid}" in panel.locator(".gm-team").inner_text()
    text = panel.inner_text()
    assert "138****5678" in text and "13812345678" not in text
    watched.screenshot("command_view_event_panel")
    assert watched.console_errors == []


@pytest.mark.browser
def test_the_operator_walks_an_event_to_closed_from_the_panel(
    service: Service, watched: WatchedPage
) -> None:
    grid = f"{C3}002"
    event_id = post_event(service, grid=grid, description="路灯不亮")
    open_live_page(watched, service)
    page = watched.page
    marker(watched, event_id).click()
    panel = page.locator("#gm-panel")  # type: ignore[attr-defined]
    panel.locator(".gm-actions").wait_for()
    status = call(service, "GET", f"/api/events/{event_id}")["status"]
    # The closed loop, from wherever ingest left the event (it may register it itself).
    path = ["register", "assign", "start", "report_back", "close"]
    before = ["reported", "registered", "assigned", "in_progress", "reported_back"]
    after = dict(zip(path, [*before[1:], "closed"], strict=True))
    fills = {"assign": {"team": f"T-{grid}"}, "report_back": {"note": "已修复"}}
    todo = path[before.index(status) :]
    for action in todo:
        for name, value in fills.get(action, {}).items():
            panel.locator(f'.gm-actions input[name="{name}"]').fill(value)
        panel.locator(f'button[data-action="{action}"]').click()
        panel.locator(f'.gm-badge[data-status="{after[action]}"]').wait_for(timeout=5_000)
    assert call(service, "GET", f"/api/events/{event_id}")["status"] == "closed"
    # The map shows open work by default: the closed event left it; asked for every
    # state, it is there as closed. The timeline shows every step.
    page.locator(f'.gm-dot[data-event-id="{event_id}"]').wait_for(state="detached", timeout=5_000)
    page.select_option("#gm-filter-status", "")
    assert "status-closed" in (marker(watched, event_id).get_attribute("class") or "")
    assert panel.locator(".gm-timeline li").count() >= len(todo)
    watched.screenshot("command_view_closed")
    assert watched.console_errors == []


@pytest.mark.browser
def test_a_half_written_note_survives_the_event_changing_underneath(
    service: Service, watched: WatchedPage
) -> None:
    grid = f"{C4}002"  # a grid no other test here reports in: its marker stands alone
    event_id = post_event(service, grid=grid, description="井盖缺失")
    open_live_page(watched, service)
    page = watched.page
    marker(watched, event_id).click()
    panel = page.locator("#gm-panel")  # type: ignore[attr-defined]
    note = panel.locator('.gm-actions input[name="note"]')
    note.fill("已联系物业，正在")
    before = call(service, "GET", f"/api/events/{event_id}")["status"]
    # Someone else moves the event on; the stream redraws the open panel.
    action = "register" if before == "reported" else "assign"
    body = {"team": f"T-{grid}"} if action == "assign" else {}
    after = call(service, "POST", f"/api/events/{event_id}/actions/{action}", body)["status"]
    panel.locator(f'.gm-badge[data-status="{after}"]').wait_for(timeout=5_000)
    assert note.input_value() == "已联系物业，正在"
    assert watched.console_errors == []


@pytest.mark.browser
def test_a_coordination_event_shows_its_co_handlers_and_who_has_reported(
    service: Service, watched: WatchedPage
) -> None:
    grid = f"{C4}001"
    event_id = post_event(service, grid=grid, description="多部门联合整治", category="MULTI")
    if call(service, "GET", f"/api/events/{event_id}")["status"] == "reported":
        call(service, "POST", f"/api/events/{event_id}/actions/register", {})
    # Assigned without naming a team: the rules make it a joint dispatch with the department.
    call(service, "POST", f"/api/events/{event_id}/actions/assign", {})
    open_live_page(watched, service)
    page = watched.page
    marker(watched, event_id).click()
    co = page.locator('#gm-panel .gm-co[data-team="D-ZF"]')  # type: ignore[attr-defined]
    co.wait_for(timeout=5_000)
    assert "is-pending" in (co.get_attribute("class") or "")
    assert LABELS["zh"]["co_pending"] in co.inner_text()
    call(service, "POST", f"/api/events/{event_id}/actions/start", {})
    body = {"team": "D-ZF", "note": "执法队已完成"}
    call(service, "POST", f"/api/events/{event_id}/actions/report_back", body)
    # The stream redraws the open panel: the department is marked as reported.
    page.locator('#gm-panel .gm-co.is-done[data-team="D-ZF"]').wait_for(timeout=5_000)  # type: ignore[attr-defined]
    watched.screenshot("command_view_co_handlers")
    assert watched.console_errors == []


@pytest.mark.browser
def test_the_counters_count_a_new_event_live(service: Service, watched: WatchedPage) -> None:
    open_live_page(watched, service)
    page = watched.page
    value = '[data-counter="{}"] .gm-counter-value'
    # Wait for the first count (a dash until the statistics answer).
    page.wait_for_function(  # type: ignore[attr-defined]
        "(sel) => /^[0-9]+$/.test(document.querySelector(sel).textContent)",
        arg=value.format("received"),
        timeout=10_000,
    )
    before = {
        name: int(page.locator(value.format(name)).inner_text())  # type: ignore[attr-defined]
        for name in ("received", "open")
    }
    post_event(service, grid=f"{C3}001", description="counted live")
    for name, count in before.items():
        page.wait_for_function(  # type: ignore[attr-defined]
            "([sel, n]) => document.querySelector(sel).textContent === String(n)",
            arg=[value.format(name), count + 1],
            timeout=5_000,
        )
    assert watched.console_errors == []


@pytest.mark.browser
def test_an_event_description_with_html_is_shown_as_text(
    service: Service, watched: WatchedPage
) -> None:
    grid = f"{C1}002"
    event_id = post_event(service, grid=grid, description=XSS)
    open_live_page(watched, service)
    page = watched.page
    marker(watched, event_id).click()
    description = page.locator("#gm-panel .gm-description")  # type: ignore[attr-defined]
    description.wait_for()
    assert description.inner_text() == XSS
    assert page.locator("img[src=x]").count() == 0  # type: ignore[attr-defined]
    assert watched.dialogs == []
    assert watched.console_errors == []


# --- on the Gaoping demo, with login required --------------------------------------------

GAOPING = "140581"


@pytest.mark.browser
def test_the_gaoping_demo_loads_its_grids_with_no_errors_and_a_new_event_shows_live(
    gaoping_service: Service, watched: WatchedPage
) -> None:
    service = gaoping_service
    add_user(
        service,
        username="operator-wang",
        role="operator",
        password=GAOPING_PASSWORD,
        areas=(GAOPING,),
    )
    with service.sessions() as s:
        # The county's hotline: a token answers with the whole event only inside its areas.
        _, token = create_token(s, name="hotline", role="integration", area_codes=[GAOPING])
        grid, lon, lat = s.execute(
            text(
                "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                "FROM area WHERE layer = 'grid' AND valid_to IS NULL ORDER BY code LIMIT 1"
            )
        ).one()
        s.commit()
    page: Any = watched.page
    page.goto(f"{service.url}/")
    assert "/login" in page.url, "the command view asks an anonymous visitor to log in"
    page.fill("input[name=username]", "operator-wang")
    page.fill("input[name=password]", GAOPING_PASSWORD)
    page.click("button[type=submit]")
    watched.console_errors.clear()  # the login page is not the command view
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=60_000)
    page.wait_for_selector("#gm-live[data-state=on]", timeout=20_000)
    # 3,883 grids: more than the page takes as GeoJSON, so they come as vector tiles. The
    # operator goes to a township with the search box; the grid tiles in view are drawn.
    page.fill("#gm-search-input", "北城街道")
    page.press("#gm-search-input", "Enter")
    page.locator("#gm-search-results .gm-result", has_text="北城街道").first.click()
    try:
        page.wait_for_function(
            "document.querySelectorAll('.leaflet-gm-grid-pane path').length >= 100",
            timeout=30_000,
        )
    except Exception as exc:
        watched.screenshot("command_view_gaoping_failed")
        n = page.evaluate("document.querySelectorAll('.leaflet-gm-grid-pane path').length")
        raise AssertionError(
            f"{n} grid paths drawn in view {page.evaluate(MAP_VIEW)}; {watched.console_errors}"
        ) from exc
    townships = page.locator("#gm-filter-township option").all_inner_texts()[1:]
    assert len(townships) == 15 and "北城街道" in townships
    watched.screenshot("command_view_gaoping")

    answer = call_with_token(
        service,
        token,
        {
            "source": "12345",
            "external_id": "gaoping-live-1",
            "category": "CG01",
            "description": "小区门口路灯不亮",
            "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
            "reported_at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )
    assert answer["grid_code"] == grid
    # Live: no reload, within 2 seconds of the API's answer.
    marker(watched, int(answer["id"]), timeout_ms=2_000)
    watched.screenshot("command_view_gaoping_live_event")
    assert watched.console_errors == []
    assert watched.hosts == {urlsplit(service.url).netloc}


GAOPING_PASSWORD = "operator-pass-2026"


def call_with_token(service: Service, token: str, body: Any) -> Any:
    request = urllib.request.Request(
        f"{service.url}/api/events",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=20) as res:
        return json.loads(res.read())
