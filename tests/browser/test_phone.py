"""The grid worker's phone page (/m) in Chromium emulating a phone (390×844, touch, mobile,
geolocation granted): a report with a photo and GPS; the same made offline, the page
reloaded offline and the signal back (exactly one event, with its photo); a task started
and reported back with an after photo; the service worker controls the page and the
browser finds the app installable."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import text

from tests.browser import phone_fixtures
from tests.browser.conftest import _poll_from_outside
from tests.browser.phone_fixtures import (
    HERE,
    PASSWORD,
    Phone,
    events_described,
    operator_event,
    operator_on_command_view,
    register_and_assign,
    wait_for,
)
from tests.factories import C1, C2, G1

# The shared fixtures (tests/browser/phone_fixtures.py), named here so pytest finds them.
phone_service = phone_fixtures.phone_service
photo = phone_fixtures.photo
phone = phone_fixtures.phone


def photo_size(phone: Phone, event_id: int) -> tuple[int, int]:
    page = phone.page
    listed = page.evaluate(f"() => fetch('/api/events/{event_id}/photos').then((r) => r.json())")
    url = listed["photos"][0]["url"]
    data = phone.context.request.get(phone.service.url + url).body()
    return Image.open(io.BytesIO(data)).size


def test_a_report_with_a_photo_and_gps_in_a_few_taps(phone: Phone, photo: Path) -> None:
    phone.login()
    page = phone.page
    # My grid: its name and households on the map, my position with its accuracy circle.
    page.wait_for_function(
        "() => document.getElementById('ph-grid-info').textContent.includes('户')"
    )
    page.wait_for_function("() => window.GridmapPhone.fix !== null")
    page.click("#ph-report-btn")
    page.click(".ph-cat[data-code=ROAD]")
    # Who answers for this place is shown before sending.
    page.wait_for_function(f"() => document.getElementById('ph-who').dataset.grid === '{G1}'")
    page.set_input_files("#ph-photo", str(photo))
    page.wait_for_selector(".ph-thumb img")
    page.fill("#ph-desc", "phone report online")
    page.click("#ph-send")
    found = wait_for(lambda: events_described(phone.service, "phone report online"))
    assert len(found) == 1
    event = found[0]
    assert event["source"] == "grid_worker" and event["grid_code"] == G1
    assert event["photos"] == 1
    assert len(event["external_id"]) == 36  # minted on the phone (a UUID)
    page.wait_for_function("() => document.getElementById('ph-pending').dataset.pending === '0'")
    width, height = photo_size(phone, event["id"])
    assert max(width, height) <= 1600 and (width, height) == (1600, 1067)
    assert phone.errors == []


def test_a_report_made_offline_survives_a_reload_and_goes_once(phone: Phone, photo: Path) -> None:
    phone.login()
    phone.controlled()
    page = phone.page
    phone.context.set_offline(True)
    phone.report(photo, "phone report offline")
    page.wait_for_function("() => document.getElementById('ph-pending').dataset.pending === '1'")
    assert "待发送 1" in page.inner_text("#ph-pending")
    # Reloaded with no signal: the page comes from the service worker, the report waits.
    page.reload()
    phone.ready()
    page.wait_for_function("() => document.getElementById('ph-pending').dataset.pending === '1'")
    assert events_described(phone.service, "phone report offline") == []
    phone.context.set_offline(False)
    found = wait_for(lambda: events_described(phone.service, "phone report offline"), 60)
    page.wait_for_function("() => document.getElementById('ph-pending').dataset.pending === '0'")
    # Sent again on purpose (a lost answer): still the one event.
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    time.sleep(1)
    found = events_described(phone.service, "phone report offline")
    assert len(found) == 1 and found[0]["photos"] == 1
    assert phone.errors == []


def test_a_draft_survives_a_reload(phone: Phone, photo: Path) -> None:
    phone.login()
    page = phone.page
    page.click("#ph-report-btn")
    page.click(".ph-cat[data-code=VEND]")
    page.set_input_files("#ph-photo", str(photo))
    page.wait_for_selector(".ph-thumb img")
    page.fill("#ph-desc", "half typed")
    page.reload()
    phone.ready()
    assert page.is_visible("#ph-report")
    assert page.input_value("#ph-desc") == "half typed"
    assert page.locator(".ph-thumb img").count() == 1
    assert page.get_attribute(".ph-cat[data-code=VEND]", "aria-selected") == "true"
    page.click("#ph-cancel")


def test_a_task_started_and_reported_back_with_an_after_photo(
    browser: Any, phone: Phone, photo: Path
) -> None:
    event_id = operator_event(browser, phone.service)
    phone.login()
    page = phone.page
    page.click(".ph-tab[data-view=tasks]")
    item = f".ph-task[data-id='{event_id}']"
    page.wait_for_selector(item)
    assert page.get_attribute(f"{item} a[href^='geo:']", "href").startswith("geo:")
    page.click(f"{item} button[data-action=start]")
    wait_for(
        lambda: (
            events_described(phone.service, "a pothole for the phone")[0]["status"] == "in_progress"
        )
    )
    page.wait_for_selector(f"{item} form[data-form=report_back]")
    page.fill(f"{item} textarea.ph-note", "已填补")
    page.set_input_files(f"{item} input.ph-after", str(photo))
    page.wait_for_selector(f"{item} .ph-thumbs img")
    page.click(f"{item} form[data-form=report_back] button[type=submit]")
    done = wait_for(
        lambda: [
            e
            for e in events_described(phone.service, "a pothole for the phone")
            if e["status"] == "reported_back" and e["photos"] == 1
        ]
    )
    assert done
    # Gone from the list, counted in today's summary.
    page.wait_for_selector(item, state="detached")
    page.click(".ph-tab[data-view=today]")
    page.wait_for_selector(".ph-card[data-key=tasks_handled]")
    assert page.inner_text(".ph-card[data-key=tasks_handled] .ph-v") == "1"
    assert phone.errors == []


def test_the_command_view_shows_the_workers_photos_before_and_after_apart(
    browser: Any, phone: Phone, photo: Path
) -> None:
    """Issue #20 item 8: a phone report with a photo, the task reported back with an after
    photo, and the event's panel on the command view shows one photo in each labelled group."""
    phone.login()
    page = phone.page
    phone.report(photo, "phone before and after")
    event = wait_for(
        lambda: [
            e for e in events_described(phone.service, "phone before and after") if e["photos"]
        ]
    )[0]
    event_id = int(event["id"])
    op, desk, csrf = operator_on_command_view(browser, phone.service)
    try:
        register_and_assign(op, phone.service, csrf, event_id)
        # The worker handles it from the phone: start, then report back with an after photo.
        page.reload()
        phone.ready()
        page.click(".ph-tab[data-view=tasks]")
        item = f".ph-task[data-id='{event_id}']"
        page.wait_for_selector(item)
        page.click(f"{item} button[data-action=start]")
        page.wait_for_selector(f"{item} form[data-form=report_back]")
        page.fill(f"{item} textarea.ph-note", "已处置")
        page.set_input_files(f"{item} input.ph-after", str(photo))
        page.wait_for_selector(f"{item} .ph-thumbs img")
        page.click(f"{item} form[data-form=report_back] button[type=submit]")
        wait_for(
            lambda: [
                e
                for e in events_described(phone.service, "phone before and after")
                if e["status"] == "reported_back" and e["photos"] == 2
            ]
        )
        with phone.service.sessions() as s:
            stages = s.scalars(
                text("SELECT stage FROM photo WHERE event_id = :e ORDER BY id"), {"e": event_id}
            )
            assert list(stages) == ["report", "after"]
        # The operator opens the event's panel (found by its number).
        desk.fill("#gm-search-input", f"#{event_id}")
        desk.press("#gm-search-input", "Enter")
        desk.locator("#gm-search-results .gm-result").first.click()
        panel = desk.locator(f'#gm-panel .gm-event[data-event-id="{event_id}"]')
        panel.wait_for(timeout=15_000)
        panel.locator(".gm-photo-group img").first.wait_for(timeout=10_000)
        groups = panel.locator(".gm-photo-group")
        assert groups.count() == 2
        reported = panel.locator(".gm-photo-group[data-stage=report]")
        after = panel.locator(".gm-photo-group[data-stage=after]")
        assert reported.locator("h3").inner_text() == "上报照片"
        assert after.locator("h3").inner_text() == "处置后照片"
        assert reported.locator("img").count() == 1
        assert after.locator("img").count() == 1
        # Both pictures load (they are the stored copies, served to the operator).
        desk.wait_for_function(
            "() => [...document.querySelectorAll('#gm-panel .gm-photo-group img')]"
            ".every((i) => i.complete && i.naturalWidth > 0)",
            timeout=10_000,
        )
    finally:
        op.close()
    assert phone.errors == []


def test_the_service_worker_controls_the_page_and_the_app_is_installable(phone: Phone) -> None:
    phone.login()
    phone.controlled()
    page = phone.page
    manifest = page.evaluate(
        "() => fetch(document.querySelector('link[rel=manifest]').href).then((r) => r.json())"
    )
    assert manifest["start_url"] == "/m" and manifest["display"] == "standalone"
    cdp = phone.context.new_cdp_session(page)
    # Chromium's own installability check. Playwright's contexts are incognito ones, in
    # which Chromium never offers to install; every other criterion (manifest fields, icons,
    # service worker, secure origin) must pass.
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert [e for e in errors if e["errorId"] != "in-incognito"] == [], errors
    parsed = cdp.send("Page.getAppManifest")
    assert parsed["errors"] == [] and parsed["url"].endswith("/m/manifest.webmanifest")
    # The neighbours' edges and the worker's own grid are on the map.
    grid = page.evaluate(
        "() => window.GridmapPhone.grid.grids.features.map((f) => f.properties.code)"
    )
    assert G1 in grid
    neighbours = page.evaluate(
        "() => window.GridmapPhone.grid.neighbours.features.map((f) => f.properties.code)"
    )
    assert f"{C1}002" in neighbours and f"{C2}001" in neighbours


def test_a_patrol_with_a_moving_position_is_recorded_and_drawn(phone: Phone) -> None:
    phone.login()
    page = phone.page
    page.wait_for_function("() => window.GridmapPhone.fix !== null")
    page.click("#ph-patrol-btn")
    page.wait_for_function("() => document.getElementById('ph-patrol-btn').dataset.state === 'on'")
    lon, lat = HERE
    for step in range(1, 4):  # ~111 m north each time: every fix is kept (over 50 m)
        phone.context.set_geolocation({"longitude": lon, "latitude": lat + step * 0.001})
        page.wait_for_function(
            f"() => window.GridmapPhone.trackLine.getLatLngs().length >= {step + 1}"
        )
    # On the command view, live: the worker at its last fix with the age of the fix.
    desk = phone.context.browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        op = desk.new_page()
        op.wait_for_function = _poll_from_outside(op)
        op.goto(f"{phone.service.url}/login?next=%2F")
        op.fill("input[name=username]", "operator")
        op.fill("input[name=password]", PASSWORD)
        op.click("button[type=submit]")
        op.wait_for_url(f"{phone.service.url}/")
        op.wait_for_function(
            "() => window.GridmapWorkersLayer && window.GridmapWorkersLayer.state.workers"
            ".some((w) => w.username === 'worker')",
            timeout=60_000,
        )
        seen = op.evaluate("() => window.GridmapWorkersLayer.state.workers[0]")
        # The last fix the server has (the first one is sent at once, then in batches).
        assert lat - 1e-6 <= seen["lat"] <= lat + 0.003 + 1e-6 and seen["age_s"] < 120
        assert op.locator(".gm-workers-toggle").inner_text().strip() == "网格员"
    finally:
        desk.close()
    page.click("#ph-patrol-btn")
    page.wait_for_function("() => document.getElementById('ph-patrol-btn').dataset.state === 'off'")

    def stored() -> Any:
        with phone.service.sessions() as s:
            return s.execute(
                text(
                    "SELECT points, distance_m, ended_at, ST_NPoints(track) AS n FROM patrol"
                    " WHERE username = 'worker' AND ended_at IS NOT NULL"
                )
            ).one_or_none()

    try:
        row = wait_for(stored)
    except AssertionError:
        print(page.evaluate("() => GridmapOutbox.all().then((a) => JSON.stringify(a))"))
        with phone.service.sessions() as s:
            print(s.execute(text("SELECT * FROM patrol")).all())
        raise
    assert row.points == 4 and row.n == 4 and 320 < row.distance_m < 350
    # The day's track is drawn on the worker's map from the server's answer.
    page.wait_for_function(
        "() => (window.GridmapPhone.dayPatrols || []).some((p) => p.track && p.ended_at)"
    )
    page.click(".ph-tab[data-view=today]")
    page.wait_for_selector(".ph-card[data-key=patrols]")
    assert page.inner_text(".ph-card[data-key=patrols] .ph-v").startswith("1/2")
    assert phone.errors == []


def test_a_visit_recorded_from_a_building(phone: Phone) -> None:
    phone.login()
    page = phone.page
    # Tapping the building opens its card (the popup) with the visit form.
    page.evaluate(
        """() => window.GridmapPhone.layers.buildings.eachLayer((m) => {
            if (m.feature.properties.code === 'B-G1-1') m.openPopup();
        })"""
    )
    page.wait_for_selector(".ph-visit[data-building=B-G1-1]")
    page.click(".ph-visit .ph-kind[data-kind=dispute]")
    page.fill(".ph-visit .ph-visit-note", "邻里纠纷已调解")
    page.click(".ph-visit button[type=submit]")

    def stored() -> Any:
        with phone.service.sessions() as s:
            return s.execute(
                text("SELECT kind, note, grid_code FROM visit WHERE building_code = 'B-G1-1'")
            ).all()

    rows = wait_for(stored)
    assert [(r.kind, r.note, r.grid_code) for r in rows] == [("dispute", "邻里纠纷已调解", G1)]
    assert phone.errors == []
