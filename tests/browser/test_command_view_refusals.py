"""The command view when the server says no, and when answers come back out of order: a
refused action leaves its button usable and says why in the page's language; two filter
changes in quick succession end on the events of the final filters, not of the slower answer."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.browser.conftest import Service, WatchedPage
from tests.browser.test_command_view import call, marker, open_live_page, open_page
from tests.factories import C2, SmallCounty

_ids = itertools.count(1)

# The markers the map holds (clustered or not): the ids of the cluster group's markers.
MARKER_IDS = """() => {
    const cfg = JSON.parse(document.getElementById("gm-config").textContent);
    const ids = [];
    window[cfg.mapName].eachLayer((layer) => {
        if (typeof layer.refreshClusters !== "function") return;
        for (const m of layer.getLayers()) ids.push(m.options.icon.options.html.dataset.eventId);
    });
    return ids;
}"""


def report(service: Service, *, grid: str, description: str, category: str, priority: str) -> int:
    """An event from the 12345 hotline at the middle of `grid`, with its whistle; its id."""
    lon, lat = SmallCounty.grid_center(grid)
    body = {
        "source": "12345",
        "external_id": f"refusals-{next(_ids)}-{dt.datetime.now().timestamp()}",
        "category": category,
        "priority": priority,
        "description": description,
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reported_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    return int(call(service, "POST", "/api/events", body)["id"])


def no_english(text: str) -> bool:
    """No English word (team codes such as D-ZF are upper-case letters and digits)."""
    return re.search(r"[a-z]{3,}", text) is None


def expected_console(errors: list[str]) -> list[str]:
    """Console errors other than Chromium's note of the refused requests themselves."""
    refused = re.compile(r"Failed to load resource: the server responded with a status of 4(09|22)")
    return [e for e in errors if not refused.search(e)]


@pytest.mark.browser
def test_a_refused_action_leaves_its_button_usable_and_says_why_in_chinese(
    service: Service, watched: WatchedPage
) -> None:
    grid = f"{C2}001"
    event_id = report(
        service, grid=grid, description="多部门联合整治", category="MULTI", priority="coordination"
    )
    if call(service, "GET", f"/api/events/{event_id}")["status"] == "reported":
        call(service, "POST", f"/api/events/{event_id}/actions/register", {})
    # Assigned without naming a team: a joint dispatch with the department (D-ZF).
    call(service, "POST", f"/api/events/{event_id}/actions/assign", {})
    call(service, "POST", f"/api/events/{event_id}/actions/start", {})
    open_live_page(watched, service)
    page: Any = watched.page
    marker(watched, event_id).click()
    panel = page.locator(f'#gm-panel .gm-event[data-event-id="{event_id}"]')
    report_back = panel.locator('button[data-action="report_back"]')
    report_back.wait_for(timeout=5_000)

    # 反馈 without a note: refused (422), said in Chinese, and the button stays usable.
    report_back.click()
    message = panel.locator(".gm-action-message.error")
    message.wait_for(timeout=5_000)
    text = message.inner_text()
    assert "备注" in text and no_english(text), text
    assert report_back.is_enabled()
    assert call(service, "GET", f"/api/events/{event_id}")["status"] == "in_progress"
    assert expected_console(watched.console_errors) == []

    # The same button, with a note, goes through.
    panel.locator('.gm-actions input[name="note"]').fill("已处置完毕")
    report_back.click()
    panel.locator('.gm-badge[data-status="reported_back"]').wait_for(timeout=5_000)

    # 结案 refused (409): the co-handler has not reported back. Said in Chinese with the
    # team's code, and 结案 is usable again (the panel may have been redrawn meanwhile).
    close = panel.locator('button[data-action="close"]')
    close.click()
    page.wait_for_function(
        """(id) => {
            const m = document.querySelector(
                `#gm-panel .gm-event[data-event-id="${id}"] .gm-action-message.error`);
            return m && m.textContent.includes("D-ZF");
        }""",
        arg=str(event_id),
        timeout=5_000,
    )
    text = panel.locator(".gm-action-message.error").inner_text()
    assert "协办" in text and no_english(text), text
    assert close.is_enabled()
    assert call(service, "GET", f"/api/events/{event_id}")["status"] == "reported_back"
    watched.screenshot("command_view_refused_action")
    assert expected_console(watched.console_errors) == []


@pytest.mark.browser
def test_a_refused_action_speaks_english_on_the_english_page(
    service: Service, watched: WatchedPage
) -> None:
    grid = f"{C2}002"
    event_id = report(
        service, grid=grid, description="路面积水", category="ROAD", priority="routine"
    )
    if call(service, "GET", f"/api/events/{event_id}")["status"] == "reported":
        call(service, "POST", f"/api/events/{event_id}/actions/register", {})
    call(service, "POST", f"/api/events/{event_id}/actions/assign", {"team": f"T-{grid}"})
    call(service, "POST", f"/api/events/{event_id}/actions/start", {})
    open_page(watched, f"{service.url}/?lang=en")
    page: Any = watched.page
    marker(watched, event_id).click()
    panel = page.locator(f'#gm-panel .gm-event[data-event-id="{event_id}"]')
    button = panel.locator('button[data-action="report_back"]')
    button.click()
    message = panel.locator(".gm-action-message.error")
    message.wait_for(timeout=5_000)
    assert "Please enter a note" in message.inner_text()
    assert button.is_enabled()
    assert expected_console(watched.console_errors) == []


@pytest.mark.browser
def test_two_filter_changes_within_50_ms_end_on_the_final_filters_events(
    service: Service, watched: WatchedPage
) -> None:
    emergency = report(
        service, grid=f"{C2}001", description="燃气泄漏", category="ROAD", priority="emergency"
    )
    routine = report(
        service, grid=f"{C2}002", description="路灯不亮", category="ROAD", priority="routine"
    )
    open_page(watched, f"{service.url}/")
    page: Any = watched.page
    page.wait_for_function(
        "(ids) => { const on = new Set((" + MARKER_IDS + ")());"
        " return ids.every((id) => on.has(id)); }",
        arg=[str(emergency), str(routine)],
        timeout=10_000,
    )

    # The first change's answer (状态=已上报 alone) is held back until the second change's
    # (状态=已上报, 哨别=应急哨) has been drawn: the stale answer arrives last.
    held: list[Any] = []

    def hold_the_first(route: Any) -> None:
        query = parse_qs(urlsplit(route.request.url).query)
        if query.get("status") == ["reported"] and "priority" not in query and not held:
            held.append(route)
        else:
            route.continue_()

    page.route(lambda url: "/api/events?" in url, hold_the_first)
    took = page.evaluate(
        """async () => {
            const choose = (id, value) => {
                const select = document.getElementById(id);
                select.value = value;
                select.dispatchEvent(new Event("change"));
            };
            const t0 = performance.now();
            choose("gm-filter-status", "reported");
            await new Promise((resolve) => setTimeout(resolve, 20));
            choose("gm-filter-priority", "emergency");
            return performance.now() - t0;
        }"""
    )
    assert took < 50, f"the two changes took {took} ms"

    final = {"f": "geojson", "limit": "1000", "status": "reported", "priority": "emergency"}
    answer = call(service, "GET", f"/api/events?{urlencode(final)}")
    expected = sorted(str(f["properties"].get("id", f.get("id"))) for f in answer["features"])
    assert str(emergency) in expected and str(routine) not in expected
    reported = call(service, "GET", "/api/events?f=geojson&limit=1000&status=reported")
    assert len(reported["features"]) > len(expected)  # the stale answer would differ

    def shown() -> list[str]:
        return sorted(page.evaluate(MARKER_IDS))

    deadline = time.monotonic() + 10
    while shown() != expected and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert shown() == expected
    # Now the first change's answer arrives (if the page still wants it): nothing changes.
    assert held, "the first filter change sent no request of its own"
    # (If the page aborted it, nobody waits for that answer any more and Playwright says so.)
    with contextlib.suppress(Exception):
        held[0].fulfill(response=held[0].fetch())
    page.wait_for_timeout(1_000)
    assert shown() == expected
    assert watched.console_errors == []
