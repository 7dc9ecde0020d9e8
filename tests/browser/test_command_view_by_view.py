"""The command view's markers are loaded by view (issue #18 item 9): the view and one
view-width around it first, more as the operator pans or zooms out; the queues and counters
still cover the whole jurisdiction, live events appear wherever they are, and an event opened
from a queue outside what is loaded is brought into view with its marker."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import CHROMIUM, Service, WatchedPage, _poll_from_outside
from tests.browser.test_command_view import call
from tests.browser.test_workbench import ENGLISH_SENTENCES, wait_workbench
from tests.factories import C1, C3, C4, SmallCounty

# The small county is 0.04° across: at zoom 18 in a 1000 × 700 window the view and one
# view-width around it span about 0.016° of longitude, so a view over grid C1-001 (township
# 1, west of 112.92) does not reach township 2 (east of 112.92).
ZOOM = 18
WEST = SmallCounty.grid_center(f"{C1}001")  # township 1
EAST = SmallCounty.grid_center(f"{C3}002")  # township 2
EAST_2 = SmallCounty.grid_center(f"{C4}002")  # township 2, elsewhere


def post(service: Service, where: tuple[float, float], tag: str) -> str:
    body = {
        "source": "12345",
        "external_id": f"by-view-{tag}-{time.monotonic_ns()}",
        "category": "ROAD",
        "priority": "routine",
        "description": "路面坑洼",
        "reported_at": dt.datetime.now(dt.UTC).isoformat(),
        "location": {"lon": where[0], "lat": where[1], "crs": "wgs84"},
    }
    return str(call(service, "POST", "/api/events", body)["id"])


@pytest.fixture
def small_window(browser: Any) -> Iterator[WatchedPage]:
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    page = context.new_page()
    page.wait_for_function = _poll_from_outside(page)
    w = WatchedPage(page=page)
    page.on("console", lambda m: w.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: w.console_errors.append(f"uncaught: {exc}"))
    yield w
    context.close()


class EventLists:
    """Every GET /api/events list the page asks for: its bbox and the ids answered."""

    def __init__(self, page: Any) -> None:
        self.asked: list[dict[str, Any]] = []
        page.on("response", self._heard)

    def _heard(self, response: Any) -> None:
        url = urlsplit(response.url)
        if url.path != "/api/events" or response.request.method != "GET":
            return
        query = parse_qs(url.query)
        try:
            ids = [str(f["id"]) for f in response.json().get("features", [])]
        except Exception:
            ids = []
        bbox = [float(v) for v in query["bbox"][0].split(",")] if "bbox" in query else None
        self.asked.append({"bbox": bbox, "ids": ids})

    def ids(self) -> set[str]:
        return {i for a in self.asked for i in a["ids"]}


def view_at(page: Any, where: tuple[float, float], zoom: int = ZOOM) -> None:
    page.evaluate(
        """([lat, lon, zoom]) => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            window[cfg.mapName].setView([lat, lon], zoom, {animate: false});
        }""",
        [where[1], where[0], zoom],
    )


def counts(page: Any) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => Object.fromEntries([
                ...[...document.querySelectorAll('[data-counter]')].map((n) => [
                    'counter:' + n.dataset.counter,
                    n.querySelector('.gm-counter-value').textContent,
                ]),
                ...[...document.querySelectorAll('#gm-queues [data-queue]')].map((q) =>
                    ['queue:' + q.dataset.queue, q.dataset.count]),
            ])"""
        )
    )


def loads_done(page: Any) -> int:
    return int(page.evaluate("() => Number(document.body.dataset.eventsLoaded || 0)"))


@pytest.mark.browser
def test_the_map_loads_the_events_of_its_view_and_more_as_it_moves_while_the_queues_cover_all(
    service: Service, small_window: WatchedPage
) -> None:
    assert CHROMIUM
    west = post(service, (WEST[0] + 0.0004, WEST[1]), "west")
    east = post(service, EAST, "east")
    far = post(service, EAST_2, "far")
    page: Any = small_window.page
    lists = EventLists(page)

    # Zoomed into township 1 (a view in the address, as a reload keeps it): the page asks
    # for that view only, and gets none of township 2's events.
    page.goto(f"{service.url}/#map={ZOOM}/{WEST[1]}/{WEST[0]}")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=30_000)
    wait_workbench(small_window)
    assert lists.asked, "the page asked for no events"
    for asked in lists.asked:
        assert asked["bbox"] is not None, f"the page asked for events with no bbox: {lists.asked}"
        w, s, e, n = asked["bbox"]
        assert w < WEST[0] < e and s < WEST[1] < n, asked["bbox"]
        assert e < 112.92, f"the first load reaches township 2: {asked['bbox']}"
    assert west in lists.ids()
    assert east not in lists.ids() and far not in lists.ids(), lists.asked
    page.locator(f'.gm-dot[data-event-id="{west}"]').wait_for(timeout=10_000)

    # The queues and counters cover the whole county, whatever the view.
    page.wait_for_function(
        '(id) => !!document.querySelector(`#gm-queues [data-queue="to_register"] '
        '.gm-queue-row[data-event-id="${id}"]`)',
        arg=east,
        timeout=10_000,
    )

    # A live event outside the view (its marker: the next test).
    live = post(service, (EAST[0] + 0.0006, EAST[1] + 0.0006), "live")
    page.wait_for_function(
        '(id) => !!document.querySelector(`.gm-queue-row[data-event-id="${id}"]`)',
        arg=live,
        timeout=10_000,
    )
    page.wait_for_timeout(500)  # the queues' reload after the message has settled
    before = counts(page)
    assert int(before["queue:to_register"]) >= 4, before

    # Panning to township 2 loads its events.
    done = loads_done(page)
    asked_before = len(lists.asked)
    view_at(page, EAST)
    page.locator(f'.gm-dot[data-event-id="{east}"]').wait_for(timeout=10_000)
    page.locator(f'.gm-dot[data-event-id="{live}"]').wait_for(timeout=10_000)
    page.wait_for_function(f"() => Number(document.body.dataset.eventsLoaded) > {done}")
    new = lists.asked[asked_before:]
    assert new and all(a["bbox"] for a in new), new
    w, s, e, n = new[-1]["bbox"]
    assert w < EAST[0] < e and s < EAST[1] < n, new[-1]["bbox"]
    assert east in lists.ids()
    # The counts did not move with the view.
    assert counts(page) == before, (before, counts(page))

    # A move inside what is loaded asks for nothing more.
    asked_now = len(lists.asked)
    view_at(page, (EAST[0] + 0.0005, EAST[1]))
    page.wait_for_timeout(800)
    assert len(lists.asked) == asked_now, lists.asked[asked_now:]

    english = page.evaluate(ENGLISH_SENTENCES)
    assert english == [], english
    assert small_window.console_errors == [], small_window.console_errors


@pytest.mark.browser
def test_a_live_event_outside_the_view_is_on_the_map_without_a_load(
    service: Service, small_window: WatchedPage
) -> None:
    page: Any = small_window.page
    page.goto(f"{service.url}/#map={ZOOM}/{WEST[1]}/{WEST[0]}")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=30_000)
    page.wait_for_selector("#gm-live[data-state=on]", timeout=10_000)
    live = post(service, (EAST_2[0] + 0.0003, EAST_2[1] - 0.0003), "stream")
    page.wait_for_function(
        '(id) => !!document.querySelector(`.gm-queue-row[data-event-id="${id}"]`)',
        arg=live,
        timeout=10_000,
    )
    # Refuse every events list from now on: what shows up can only be what the stream said.
    refused: list[str] = []

    def refuse(route: Any) -> None:
        refused.append(route.request.url)
        route.abort()

    page.route("**/api/events?*", refuse)
    view_at(page, EAST_2)
    page.locator(f'.gm-dot[data-event-id="{live}"]').wait_for(timeout=10_000)


@pytest.mark.browser
def test_a_queue_row_outside_what_is_loaded_opens_its_event_in_view_with_its_marker(
    service: Service, small_window: WatchedPage
) -> None:
    far = post(service, (EAST_2[0] - 0.0004, EAST_2[1] + 0.0004), "queue")
    page: Any = small_window.page
    lists = EventLists(page)
    page.goto(f"{service.url}/#map={ZOOM}/{WEST[1]}/{WEST[0]}")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=30_000)
    wait_workbench(small_window)
    assert far not in lists.ids()
    section = page.locator('#gm-queues [data-queue="to_register"]')
    if "is-open" not in (section.get_attribute("class") or ""):
        section.locator(".gm-queue-head").click()
    section.locator(f'.gm-queue-row[data-event-id="{far}"] .gm-queue-open').click()
    page.locator(f'#gm-panel .gm-event[data-event-id="{far}"]').wait_for(timeout=10_000)
    page.locator(f'.gm-dot[data-event-id="{far}"]').wait_for(timeout=10_000)
    in_view = page.evaluate(
        """([lat, lon]) => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            return window[cfg.mapName].getBounds().contains([lat, lon]);
        }""",
        [EAST_2[1] + 0.0004, EAST_2[0] - 0.0004],
    )
    assert in_view
    assert far in lists.ids()
    assert small_window.console_errors == [], small_window.console_errors


@pytest.mark.browser
def test_an_event_past_the_rows_a_queue_shows_is_found_with_more(
    service: Service, small_window: WatchedPage
) -> None:
    """A queue shows its first 50 rows (soonest deadline first); the newest of a long queue
    is past them, and "show more" brings it, one click from its event."""
    for n in range(51):
        post(service, (WEST[0] + (n % 10) * 0.001, WEST[1] + (n // 10) * 0.002), f"many-{n}")
    last = post(service, EAST, "last")
    page: Any = small_window.page
    page.goto(f"{service.url}/")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=30_000)
    wait_workbench(small_window)
    section = page.locator('#gm-queues [data-queue="to_register"]')
    if "is-open" not in (section.get_attribute("class") or ""):
        section.locator(".gm-queue-head").click()
    row = section.locator(f'.gm-queue-row[data-event-id="{last}"]')
    assert row.count() == 0, "the newest of 52 is among the first 50 rows"
    section.locator(".gm-queue-more").click()
    row.wait_for(timeout=10_000)
    row.locator(".gm-queue-open").click()
    page.locator(f'#gm-panel .gm-event[data-event-id="{last}"]').wait_for(timeout=10_000)
    english = page.evaluate(ENGLISH_SENTENCES)
    assert english == [], english
    assert small_window.console_errors == [], small_window.console_errors
