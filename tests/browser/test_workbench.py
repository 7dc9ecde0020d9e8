"""The operator's workbench in a real browser: every work queue is one click from its event
(brought into view, its panel opened), the header counters open their queue, an emergency
raises a toast and a sound within 2 s and stays pinned until acknowledged, the header says
who is logged in, and the page shows no English sentence and no console error."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.browser.conftest import Service, WatchedPage, _serve, add_user
from tests.browser.test_command_view import call, open_live_page, open_page
from tests.conftest import create_database, drop_database
from tests.factories import C1, C3, COUNTY, G1, T1, SmallCounty, load_small_county

_ids = itertools.count(1)
_spots = itertools.count(0)

# Every visible text of the page that is a sentence in ASCII letters alone: two or more
# words of Latin letters and no Chinese character (codes such as T-990101 or 12:30 pass).
ENGLISH_SENTENCES = """() => {
    const found = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode;
        const el = node.parentElement;
        if (!el || el.closest("script, style, [hidden]")) continue;
        if (!el.offsetParent && el.tagName !== "BODY") continue;
        const text = node.textContent.trim();
        if (!text || /[\\u4e00-\\u9fff]/.test(text)) continue;
        if (/[A-Za-z]{2,}\\s+[A-Za-z]{2,}/.test(text)) found.push(text);
    }
    for (const el of document.querySelectorAll("[placeholder], [title], [aria-label]")) {
        for (const attr of ["placeholder", "title", "aria-label"]) {
            const v = (el.getAttribute(attr) || "").trim();
            if (!v || /[\\u4e00-\\u9fff]/.test(v)) continue;
            if (/[A-Za-z]{2,}\\s+[A-Za-z]{2,}/.test(v)) found.push(v);
        }
    }
    return found;
}"""

# Records every sound the page makes: AudioContext created, oscillators started.
AUDIO_SPY = """
(() => {
    window.__sounds = [];
    const Real = window.AudioContext || window.webkitAudioContext;
    if (!Real) return;
    class Spy extends Real {
        constructor(...args) {
            super(...args);
            window.__sounds.push({what: "context", at: Date.now()});
        }
        createOscillator() {
            const osc = super.createOscillator();
            const start = osc.start.bind(osc);
            osc.start = (...a) => {
                window.__sounds.push({what: "start", at: Date.now()});
                return start(...a);
            };
            return osc;
        }
    }
    window.AudioContext = Spy;
})();
"""


def report(
    service: Service,
    *,
    grid: str | None = G1,
    priority: str = "routine",
    category: str = "ROAD",
    address: str | None = None,
) -> int:
    body: dict[str, Any] = {
        "source": "12345",
        "external_id": f"workbench-{next(_ids)}-{dt.datetime.now().timestamp()}",
        "category": category,
        "priority": priority,
        "description": "井盖缺失",
        "reported_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    if grid is not None:
        # Each event at its own spot (over 100 m apart): two of a category close together
        # would be taken as a possible duplicate, which is not what these tests are about.
        n = next(_spots)
        lon, lat = SmallCounty.grid_center(grid)
        lon += ((n % 5) - 2) * 0.0015
        lat += ((n // 5 % 5) - 2) * 0.003
        body["location"] = {"lon": lon, "lat": lat, "crs": "wgs84"}
    if address is not None:
        body["address"] = address
    return int(call(service, "POST", "/api/events", body)["id"])


def act(service: Service, event_id: int, action: str, **body: Any) -> None:
    call(service, "POST", f"/api/events/{event_id}/actions/{action}", body)


def registered(service: Service, event_id: int) -> int:
    if call(service, "GET", f"/api/events/{event_id}")["status"] == "reported":
        act(service, event_id, "register")
    return event_id


def make(service: Service, queue: str) -> int:
    """An event waiting in `queue`, made through the API as an operator would."""
    if queue == "to_register":
        return report(service)
    if queue == "unplaced":
        return report(service, grid=None, address="某路口附近")
    if queue == "co_pending":
        event_id = registered(service, report(service, category="MULTI", priority="coordination"))
        act(service, event_id, "assign")
        return event_id
    event_id = registered(service, report(service))
    if queue == "to_dispatch":
        return event_id
    if queue == "overdue":
        with service.sessions() as s:
            s.execute(text("UPDATE event SET overdue = true WHERE id = :id"), {"id": event_id})
            s.commit()
        return event_id
    if queue == "returned":
        act(service, event_id, "assign", team=f"T-{G1}")
        act(service, event_id, "return", reason="不属于本队")
        return event_id
    act(service, event_id, "assign", team=f"T-{G1}")
    if queue == "handling":
        return event_id
    act(service, event_id, "start")
    act(service, event_id, "report_back", note="已处置")
    if queue == "to_close":
        return event_id
    act(service, event_id, "close")
    assert queue == "to_visit"
    return event_id


def no_english_and_no_errors(w: WatchedPage) -> None:
    english = w.page.evaluate(ENGLISH_SENTENCES)  # type: ignore[attr-defined]
    assert english == [], english
    assert w.console_errors == [], w.console_errors


def wait_workbench(w: WatchedPage) -> None:
    w.page.wait_for_selector("body[data-workbench=ready]", state="attached", timeout=20_000)  # type: ignore[attr-defined]


QUEUES = [
    "to_register",
    "to_dispatch",
    "handling",
    "to_close",
    "overdue",
    "to_visit",
    "returned",
    "co_pending",
    "unplaced",
]

IN_VIEW = """(id) => {
    const cfg = JSON.parse(document.getElementById("gm-config").textContent);
    const m = window[cfg.mapName];
    return fetch(`/api/events/${id}`).then((r) => r.json()).then((ev) =>
        ev.location ? m.getBounds().contains([ev.location.lat, ev.location.lon]) : "no location");
}"""


@pytest.mark.browser
@pytest.mark.parametrize("queue", QUEUES)
def test_each_queue_is_one_click_from_its_event(
    service: Service, watched: WatchedPage, queue: str
) -> None:
    event_id = make(service, queue)
    open_live_page(watched, service)
    wait_workbench(watched)
    page: Any = watched.page
    # Look somewhere else first: the click must bring the event into view.
    page.evaluate(
        """() => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            window[cfg.mapName].setView([0, 0], 5, {animate: false});
        }"""
    )
    section = page.locator(f'#gm-queues [data-queue="{queue}"]')
    section.locator(".gm-queue-head").click()
    assert int(section.get_attribute("data-count") or 0) >= 1
    row = section.locator(f'.gm-queue-row[data-event-id="{event_id}"]')
    row.wait_for(timeout=5_000)
    row.locator(".gm-queue-open").click()
    page.locator(f'#gm-panel .gm-event[data-event-id="{event_id}"]').wait_for(timeout=5_000)
    where = page.evaluate(IN_VIEW, event_id)
    assert where in (True, "no location"), where
    if queue != "unplaced":
        assert where is True
    no_english_and_no_errors(watched)


@pytest.mark.browser
def test_the_header_counters_open_their_queue_and_follow_the_filters(
    service: Service, watched: WatchedPage
) -> None:
    make(service, "overdue")
    open_live_page(watched, service)
    wait_workbench(watched)
    page: Any = watched.page
    page.locator('[data-counter="overdue"]').click()
    page.locator('#gm-queues .gm-queue.is-open[data-queue="overdue"]').wait_for(timeout=5_000)
    overdue = int(page.locator('[data-counter="overdue"] .gm-counter-value').inner_text())
    assert overdue >= 1
    # A whistle no overdue event has: the counter and the queue follow the filter.
    page.select_option("#gm-filter-priority", "emergency")
    page.wait_for_function(
        """() => document.querySelector('[data-counter="overdue"] .gm-counter-value')
                .textContent === "0" """,
        timeout=5_000,
    )
    assert page.locator('#gm-queues [data-queue="overdue"]').get_attribute("data-count") == "0"
    # The map holds open work only by default; history is asked for.
    assert page.locator("#gm-filter-status").input_value() == "open"
    no_english_and_no_errors(watched)


@pytest.mark.browser
def test_an_emergency_raises_a_toast_and_a_sound_within_2s_and_stays_pinned_until_acknowledged(
    service: Service, watched: WatchedPage
) -> None:
    page: Any = watched.page
    page.add_init_script(AUDIO_SPY)
    open_live_page(watched, service)
    wait_workbench(watched)
    sound = page.locator("#gm-sound")
    sound.click()  # the explicit "开启声音": the gesture browsers require before sound
    assert sound.get_attribute("data-on") == "true"
    page.evaluate("() => { window.__sounds = []; }")

    posted = time.monotonic()
    event_id = report(service, priority="emergency")
    toast = page.locator(f'#gm-alerts .gm-alert[data-event-id="{event_id}"]')
    toast.wait_for(timeout=2_000)
    page.wait_for_function("() => window.__sounds.some((s) => s.what === 'start')", timeout=2_000)
    assert time.monotonic() - posted < 2.0
    assert "应急哨" in toast.inner_text()

    # Pinned at the top of its queue until acknowledged, and the toast stays.
    page.locator('#gm-queues [data-queue="to_register"] .gm-queue-head').click()
    first = page.locator('#gm-queues [data-queue="to_register"] .gm-queue-row').first
    assert first.get_attribute("data-event-id") == str(event_id)
    assert "is-pinned" in (first.get_attribute("class") or "")
    time.sleep(1)
    assert toast.is_visible()
    no_english_and_no_errors(watched)

    toast.locator(".gm-alert-ack").click()
    toast.wait_for(state="detached", timeout=5_000)
    log = call(service, "GET", f"/api/events/{event_id}/log")["entries"]
    assert [e["action"] for e in log].count("acknowledge") == 1
    # The sound choice is remembered.
    page.reload()
    open_page(watched, page.url)
    wait_workbench(watched)
    assert page.locator("#gm-sound").get_attribute("data-on") == "true"
    assert page.locator(f'#gm-alerts .gm-alert[data-event-id="{event_id}"]').count() == 0
    no_english_and_no_errors(watched)


@pytest.mark.browser
def test_which_whistles_alert_is_the_users_choice(service: Service, watched: WatchedPage) -> None:
    open_live_page(watched, service)
    wait_workbench(watched)
    page: Any = watched.page
    page.locator("#gm-alert-settings summary").click()
    page.locator('input[name="gm-alert-priority"][value="routine"]').check()
    routine = report(service, priority="routine")
    page.locator(f'#gm-alerts .gm-alert[data-event-id="{routine}"]').wait_for(timeout=3_000)
    no_english_and_no_errors(watched)


@pytest.mark.browser
def test_a_flood_of_alerts_shows_the_newest_few_and_counts_the_rest(
    service: Service, watched: WatchedPage
) -> None:
    """Dozens of alerts at once (a flood) must not bury the map: the newest few toasts show,
    the rest are counted under them (pending, pinned in their queues); acknowledging one
    brings the next waiting one up."""
    page: Any = watched.page
    flood = [report(service, priority="emergency") for _ in range(7)]
    open_live_page(watched, service)
    wait_workbench(watched)
    toasts = page.locator("#gm-alerts .gm-alert")
    page.locator(f'#gm-alerts .gm-alert[data-event-id="{flood[-1]}"]').wait_for(timeout=5_000)
    pending = toasts.count()
    assert pending >= 7
    shown = [n for n in toasts.all() if n.is_visible()]
    assert len(shown) == 4
    more = page.locator("#gm-alerts-more")
    assert more.inner_text() == f"另有 {pending - 4} 条提醒待确认（已置顶于待办）"
    shown[0].locator(".gm-alert-ack").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('#gm-alerts .gm-alert').length === n",
        arg=pending - 1,
        timeout=5_000,
    )
    assert len([n for n in toasts.all() if n.is_visible()]) == 4
    assert more.inner_text() == f"另有 {pending - 5} 条提醒待确认（已置顶于待办）"
    no_english_and_no_errors(watched)


# --- logged in: who, logout, my area ---------------------------------------------------


@pytest.fixture(scope="module")
def login_service(
    server_url: str, template_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The small county served with login required."""
    from gridmap.db import make_engine, session_factory

    name = f"gridmap_workbench_{time.monotonic_ns() % 10**8}"
    db_url = create_database(server_url, name, template=template_name)
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        load_small_county(session)
        session.commit()
    engine.dispose()
    try:
        yield from _serve(
            db_url,
            tmp_path_factory.mktemp("gridmap-home"),
            env={"GRIDMAP_AUTH_REQUIRED": "true"},
        )
    finally:
        drop_database(server_url, name)


CARRIED = "carried horse battery"


def log_in(w: WatchedPage, service: Service, username: str, password: str) -> None:
    page: Any = w.page
    page.goto(f"{service.url}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=20_000)
    wait_workbench(w)


@pytest.mark.browser
def test_the_page_carries_the_categories_and_the_user_instead_of_asking_first(
    login_service: Service, watched: WatchedPage
) -> None:
    """The responsibility list and who is logged in come in the page: the layers, events and
    queues start at once instead of after two round trips one after the other."""
    add_user(
        login_service, username="carried-op", role="operator", password=CARRIED, areas=(COUNTY,)
    )
    page: Any = watched.page
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url.split("?")[0]))
    log_in(watched, login_service, "carried-op", CARRIED)
    first = [u for u in asked if u.endswith(("/api/categories", "/api/auth/me"))]
    assert first == [], first
    assert page.locator("#gm-user-name").inner_text() == "carried-op · 指挥中心操作员"
    options = page.locator("#gm-filter-category option").all_inner_texts()
    assert "占道经营" in " ".join(options), options
    no_english_and_no_errors(watched)


@pytest.mark.browser
def test_the_header_names_the_user_and_a_township_operator_has_its_area_and_logs_out(
    login_service: Service, watched: WatchedPage
) -> None:
    add_user(
        login_service,
        username="west-op",
        role="operator",
        password="correct horse battery",
        areas=(T1,),
    )
    log_in(watched, login_service, "west-op", "correct horse battery")
    page: Any = watched.page
    assert page.locator("#gm-user-name").inner_text() == "west-op · 指挥中心操作员"
    my_area = page.locator("#gm-my-area")
    assert my_area.is_visible()
    # Look elsewhere (the east township), click there: refused in Chinese.
    from tests.browser.test_command_view import click_map_at

    page.evaluate(
        """() => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            window[cfg.mapName].setView([35.79, 112.95], 15, {animate: false});
        }"""
    )
    lon, lat = SmallCounty.grid_center(f"{C3}001")
    clicked = click_map_at(watched, lon, lat)
    refusal = page.locator("#gm-panel .gm-error")
    try:
        refusal.wait_for(timeout=5_000)
    except Exception as exc:
        panel = page.evaluate("() => document.getElementById('gm-panel').outerHTML")
        raise AssertionError(f"{clicked}: {panel} {watched.console_errors}") from exc
    assert "辖区" in refusal.inner_text()
    my_area.click()
    inside = page.evaluate(
        """([lat, lon]) => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            return window[cfg.mapName].getBounds().contains([lat, lon]);
        }""",
        list(reversed(SmallCounty.grid_center(f"{C1}001"))),
    )
    assert inside
    errors = [e for e in watched.console_errors if not re.search(r"status of 403", e)]
    assert errors == [], errors
    english = page.evaluate(ENGLISH_SENTENCES)
    assert english == [], english
    page.locator("#gm-logout").click()
    page.wait_for_url(re.compile(r"/login"), timeout=5_000)
    assert page.context.cookies() == [] or all(
        c["name"] != "gridmap_session" for c in page.context.cookies()
    )


# --- search ----------------------------------------------------------------------------


def _search(page: Any, text_: str) -> Any:
    page.fill("#gm-search-input", text_)
    page.press("#gm-search-input", "Enter")
    page.wait_for_selector("#gm-search-results[data-state=done]", timeout=10_000)
    return page.locator("#gm-search-results .gm-result")


@pytest.mark.browser
def test_search_lists_areas_and_teams_before_events_and_an_event_opens_in_view(
    service: Service, watched: WatchedPage
) -> None:
    event_id = registered(service, report(service))
    act(service, event_id, "assign", team=f"T-{G1}")
    open_live_page(watched, service)
    wait_workbench(watched)
    page: Any = watched.page
    # The grid's code: the grid, its team, and the open event its team handles.
    results = _search(page, G1)
    kinds = [results.nth(i).get_attribute("data-kind") for i in range(results.count())]
    assert kinds and kinds[0] == "area", kinds
    events_at = [i for i, k in enumerate(kinds) if k in ("event", "local")]
    places_at = [i for i, k in enumerate(kinds) if k in ("area", "team")]
    assert not events_at or max(places_at) < min(events_at), kinds

    # An event by its number, from far away: brought into view, its panel open.
    page.evaluate(
        """() => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            window[cfg.mapName].setView([0, 0], 5, {animate: false});
        }"""
    )
    _search(page, f"#{event_id}").first.click()
    page.locator(f'#gm-panel .gm-event[data-event-id="{event_id}"]').wait_for(timeout=5_000)
    assert page.evaluate(IN_VIEW, event_id) is True
    no_english_and_no_errors(watched)
