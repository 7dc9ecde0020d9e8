"""The "Done when" of issue #18 as one browser walk: an operator works a shift's events from
the work queues to 归档 from the page alone.

It stands for an hour of `gridmap simulate --rate 12` (twelve reports an hour), compressed:
the kinds of events such an hour brings are posted through the API as the 12345 hotline
sends them, each at "now" (no clock is faked, no hour is waited) — a routine report worked
through the whole loop with its return visit; a coordination case the rules dispatch
jointly, whose co-handler reports on its own part through its own login; one the grid
cannot solve, escalated with the team picker; the same problem reported twice, the second
merged into the first; and a report with only an address, placed from the triage queue —
plus background reports, so the queues hold more than the event at hand. Every event is
found in a queue (the row is clicked, never the marker) and each step is a button of the
event panel.

After every step: no English sentence anywhere in the zh-CN page (the DOM check of
tests/browser/test_workbench.py), no disabled button in the panel, the queues or the triage
list, and no console error.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from gridmap.access.accounts import create_token, create_user
from gridmap.db import make_engine, session_factory
from tests.browser.conftest import Service, WatchedPage, _serve
from tests.browser.test_command_view import click_map_at, marker
from tests.browser.test_event_panel import PASSWORD, act, log_in
from tests.browser.test_workbench import ENGLISH_SENTENCES
from tests.conftest import create_database, drop_database
from tests.factories import C1, C2, C3, C4, COUNTY, G1, SmallCounty, load_small_county

OPERATOR = "shift-operator"
CO_HANDLER = "shift-zf"  # a member of the enforcement bureau's team (D-ZF)
_spots = itertools.count(0)


@pytest.fixture(scope="module")
def shift_service(
    server_url: str, template_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, str]]:
    """The small county served with login required: a county operator, a co-handling
    department's member, and the hotline's token."""
    name = f"gridmap_shift_{os.getpid()}_{time.monotonic_ns() % 10**8}"
    db_url = create_database(server_url, name, template=template_name)
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        load_small_county(s)
        create_user(s, username=OPERATOR, role="operator", password=PASSWORD, area_codes=[COUNTY])
        create_user(s, username=CO_HANDLER, role="team_member", password=PASSWORD, team_code="D-ZF")
        _, token = create_token(s, name="hotline", role="integration", area_codes=[COUNTY])
        s.commit()
    engine.dispose()
    try:
        for service in _serve(
            db_url,
            tmp_path_factory.mktemp("gridmap-home"),
            env={"GRIDMAP_AUTH_REQUIRED": "true"},
        ):
            yield service, token
    finally:
        drop_database(server_url, name)


def spot(grid: str) -> tuple[float, float]:
    """A point of `grid` of its own (over 100 m from the others: not a duplicate)."""
    n = next(_spots)
    lon, lat = SmallCounty.grid_center(grid)
    return lon + ((n % 5) - 2) * 0.0015, lat + ((n // 5 % 5) - 2) * 0.003


def hotline(
    service: Service,
    token: str,
    *,
    where: tuple[float, float] | None,
    category: str = "ROAD",
    description: str = "路面坑洼，影响通行",
    **body: Any,
) -> int:
    """A 12345 work order, as the hotline's integration posts it."""
    sent: dict[str, Any] = {
        "source": "12345",
        "external_id": f"shift-{time.monotonic_ns()}",
        "category": category,
        "description": description,
        "reporter": {"name": "赵女士", "phone": "13900001111"},
        "reported_at": dt.datetime.now(dt.UTC).isoformat(),
        **body,
    }
    if where is not None:
        sent["location"] = {"lon": where[0], "lat": where[1], "crs": "wgs84"}
    request = urllib.request.Request(
        f"{service.url}/api/events",
        data=json.dumps(sent).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=20) as res:
        return int(json.loads(res.read())["id"])


def clean(w: WatchedPage, when: str) -> None:
    """No English sentence, no locked button, no console error: after every step."""
    page: Any = w.page
    english = page.evaluate(ENGLISH_SENTENCES)
    assert english == [], f"{when}: English on the page: {english}"
    locked = page.evaluate(
        """() => [...document.querySelectorAll(
            '#gm-panel button:disabled, #gm-queues button:disabled, #gm-triage button:disabled')]
            .map((b) => b.dataset.action || b.className || b.textContent)"""
    )
    assert locked == [], f"{when}: locked buttons: {locked}"
    assert w.console_errors == [], f"{when}: console errors: {w.console_errors}"


def from_queue(w: WatchedPage, queue: str, event_id: int) -> Any:
    """Open `queue`, find the event's row (the queues follow the live stream), click it:
    the event's panel, opened."""
    page: Any = w.page
    section = page.locator(f'#gm-queues [data-queue="{queue}"]')
    row = section.locator(f'.gm-queue-row[data-event-id="{event_id}"]')
    deadline = time.monotonic() + 15
    while True:
        if "is-open" not in (section.get_attribute("class") or ""):
            section.locator(".gm-queue-head").click()
        try:
            row.wait_for(timeout=1_000)
            break
        except Exception as exc:
            if time.monotonic() > deadline:
                shown = page.evaluate(
                    """(q) => [...document.querySelectorAll(
                        `#gm-queues [data-queue="${q}"] .gm-queue-row`)]
                        .map((r) => r.dataset.eventId)""",
                    queue,
                )
                raise AssertionError(f"#{event_id} not in queue {queue}: {shown}") from exc
    row.locator(".gm-queue-open").click()
    panel = page.locator("#gm-panel")
    panel.locator(f'.gm-event[data-event-id="{event_id}"]').wait_for(timeout=10_000)
    clean(w, f"#{event_id} opened from {queue}")
    return panel


def step(w: WatchedPage, panel: Any, action: str, status: str | None, **fields: str) -> str:
    said = act(panel, action, status=status, **fields)
    assert "成功" in said, f"{action}: {said!r}"
    clean(w, f"after {action}")
    return said


def visit_and_archive(w: WatchedPage, event_id: int) -> None:
    """The return call from the 待回访 queue: the caller's number shown for the call, the
    answer by choice, then 归档."""
    panel = from_queue(w, "to_visit", event_id)
    panel.locator(".gm-reveal").click()
    panel.locator(".gm-reporter", has_text="13900001111").wait_for(timeout=10_000)
    panel.locator('.gm-actions select[name="satisfaction"]').select_option("5")
    step(w, panel, "visit", None)
    panel.locator(".gm-timeline", has_text="满意").wait_for(timeout=10_000)
    step(w, panel, "archive", "archived")


def work_to_archive(w: WatchedPage, event_id: int, *, registered: bool = False) -> None:
    """A routine case through the whole loop, each step from the queue it waits in."""
    if not registered:
        step(w, from_queue(w, "to_register", event_id), "register", "registered")
    step(w, from_queue(w, "to_dispatch", event_id), "assign", "assigned")
    panel = from_queue(w, "handling", event_id)
    step(w, panel, "start", "in_progress")
    step(w, panel, "report_back", "reported_back", note="已修复路面")
    step(w, from_queue(w, "to_close", event_id), "close", "closed")
    visit_and_archive(w, event_id)


def status_of(w: WatchedPage, event_id: int) -> str:
    return str(
        w.page.evaluate(  # type: ignore[attr-defined]
            "(id) => fetch(`/api/events/${id}`).then((r) => r.json()).then((e) => e.status)",
            event_id,
        )
    )


@pytest.mark.browser
def test_an_operator_works_a_shift_of_events_from_the_queues_to_archived(
    shift_service: tuple[Service, str], browser: Any
) -> None:
    service, token = shift_service
    operator = log_in(browser, service, OPERATOR)
    operator.page.wait_for_selector(  # type: ignore[attr-defined]
        "body[data-workbench=ready]", state="attached", timeout=20_000
    )
    operator.page.wait_for_selector("#gm-live[data-state=on]", timeout=10_000)  # type: ignore[attr-defined]
    clean(operator, "the page loaded")

    # The hour's background: reports elsewhere in the county, waiting in the queues.
    for grid in (f"{C2}001", f"{C4}002", f"{C1}002"):
        hotline(service, token, where=spot(grid), description="路灯不亮")

    # 1. A routine report, through the whole loop with its return visit.
    routine = hotline(service, token, where=spot(G1))
    work_to_archive(operator, routine)

    # 2. A coordination case: the rules dispatch it jointly; the co-handler reports on its
    # part through its own login; the lead's steps and the close are the operator's.
    joint = hotline(
        service, token, where=spot(G1), category="MULTI", description="多部门联合整治占道"
    )
    step(operator, from_queue(operator, "to_register", joint), "register", "registered")
    panel = from_queue(operator, "to_dispatch", joint)
    step(operator, panel, "assign", "assigned")
    co = panel.locator(".gm-co")
    co.first.wait_for(timeout=10_000)
    co_teams = sorted(str(c.get_attribute("data-team")) for c in co.all())
    assert "D-ZF" in co_teams, co_teams
    from_queue(operator, "co_pending", joint)

    zf = log_in(browser, service, CO_HANDLER)
    zf_panel = zf.page.locator("#gm-panel")  # type: ignore[attr-defined]
    marker(zf, joint, timeout_ms=20_000).click()
    zf_panel.locator(f'.gm-event[data-event-id="{joint}"]').wait_for(timeout=10_000)
    step(zf, zf_panel, "co_report_back", None, note="执法队已清理占道")
    zf_panel.locator('.gm-co.is-done[data-team="D-ZF"]').wait_for(timeout=10_000)

    panel = from_queue(operator, "handling", joint)
    step(operator, panel, "start", "in_progress")
    step(operator, panel, "report_back", "reported_back", note="主办已完成")
    panel = from_queue(operator, "to_close", joint)
    for team in co_teams:
        if team == "D-ZF":
            continue
        # Told by phone: recorded on the co-handler's behalf.
        panel.locator('.gm-actions [name="note"]').fill("电话告知：已处理")
        panel.locator(f'.gm-co-record[data-team="{team}"]').click()
        panel.locator(f'.gm-co.is-done[data-team="{team}"]').wait_for(timeout=10_000)
        clean(operator, f"{team}'s report recorded")
    panel.locator('.gm-co.is-done[data-team="D-ZF"]').wait_for(timeout=10_000)
    step(operator, panel, "close", "closed")
    visit_and_archive(operator, joint)

    # 3. One the grid cannot solve: escalated to the community with the team picker.
    hard = hotline(service, token, where=spot(f"{C3}002"), description="路面塌陷，网格无法处置")
    step(operator, from_queue(operator, "to_register", hard), "register", "registered")
    step(operator, from_queue(operator, "to_dispatch", hard), "assign", "assigned")
    panel = from_queue(operator, "handling", hard)
    options = panel.locator("#gm-escalate-options option")
    options.first.wait_for(state="attached", timeout=10_000)
    assert options.first.get_attribute("value") == f"T-{C3}"
    step(operator, panel, "escalate", "assigned", note="网格无法处置", escalate_team=f"{C3}值班")
    panel.locator(".gm-timeline", has_text="上报至社区").wait_for(timeout=10_000)
    panel = from_queue(operator, "handling", hard)
    step(operator, panel, "start", "in_progress")
    step(operator, panel, "report_back", "reported_back", note="社区已组织抢修")
    step(operator, from_queue(operator, "to_close", hard), "close", "closed")
    visit_and_archive(operator, hard)

    # 4. The same problem reported twice: the second is merged into the first, which is
    # worked to 归档.
    where = spot(f"{C2}002")
    first = hotline(service, token, where=where, description="井盖缺失")
    second = hotline(service, token, where=(where[0] + 0.0001, where[1]), description="井盖丢了")
    panel = from_queue(operator, "to_register", second)
    # The panel says which event it repeats, and the merge goes there without typing it.
    panel.locator(".gm-duplicate", has_text=f"#{first}").wait_for(timeout=10_000)
    step(operator, panel, "merge", "merged")
    assert status_of(operator, second) == "merged"
    work_to_archive(operator, first)

    # 5. A report with only an address: found in 待定位, placed on the map, worked.
    lost = hotline(service, token, where=None, address="某路口附近", description="路面积水")
    from_queue(operator, "unplaced", lost)
    page: Any = operator.page
    page.locator(f'#gm-panel .gm-place[data-event-id="{lost}"]').click()
    lon, lat = spot(f"{C1}002")
    # The operator looks where the caller says it is, and clicks there.
    page.evaluate(
        """([lat, lon]) => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            window[cfg.mapName].setView([lat, lon], 16, {animate: false});
        }""",
        [lat, lon],
    )
    click_map_at(operator, lon, lat)
    page.locator(f'#gm-panel .gm-event[data-event-id="{lost}"] .gm-chain').wait_for(timeout=10_000)
    deadline = time.monotonic() + 10
    while (
        page.evaluate(
            "(id) => fetch(`/api/events/${id}`).then((r) => r.json()).then((e) => e.grid_code)",
            lost,
        )
        != f"{C1}002"
    ):
        assert time.monotonic() < deadline, "the event was not placed where clicked"
        time.sleep(0.2)
    clean(operator, "placed")
    work_to_archive(operator, lost)

    # The shift's own events are all done; the queues hold only the background.
    for event_id in (routine, joint, hard, first, lost):
        assert status_of(operator, event_id) == "archived", event_id
    operator.screenshot("operator_shift_done")
    for w in (operator, zf):
        assert w.console_errors == [], w.console_errors
