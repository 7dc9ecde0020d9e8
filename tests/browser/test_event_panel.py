"""The event panel as the people of a joint dispatch use it, each through their own login
(issue #18 items 3-6, 8): both clocks with their state, the team picker taking a
department's name, a co-handler reporting on its own part and refused the lead's steps,
the operator recording a co-handler's report on its behalf and closing, a return visit by
choice with the caller's number shown for the call, and no English sentence in the panel."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from gridmap.access.accounts import create_token, create_user
from gridmap.db import make_engine, session_factory
from tests.browser.conftest import Service, WatchedPage, _serve
from tests.browser.test_command_view import marker
from tests.conftest import create_database, drop_database
from tests.factories import C3, COUNTY, G1, SmallCounty, load_small_county

PASSWORD = "panel-pass-2026"
USERS = (
    ("panel-operator", "operator", (COUNTY,), None),
    ("panel-lead", "team_member", (), f"T-{G1}"),
    ("panel-zf", "team_member", (), "D-ZF"),
)
# English words in a row: a sentence left in English (codes such as D-ZF or T-14… and
# single names are not sentences).
ENGLISH_SENTENCE = re.compile(r"[A-Za-z]{2,}[ ,.;:'’]+[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def login_service(
    server_url: str, template_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, str]]:
    """The small county served with login required, its users, and a hotline token."""
    name = f"gridmap_panel_{os.getpid()}_{time.monotonic_ns() % 10**8}"
    db_url = create_database(server_url, name, template=template_name)
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        load_small_county(s)
        for username, role, areas, team in USERS:
            create_user(
                s,
                username=username,
                role=role,
                password=PASSWORD,
                area_codes=areas,
                team_code=team,
            )
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


def hotline(service: Service, token: str, **body: Any) -> dict[str, Any]:
    lon, lat = SmallCounty.grid_center(G1)
    sent = {
        "source": "12345",
        "external_id": f"panel-{time.monotonic_ns()}",
        "category": "MULTI",
        "description": "多部门联合整治占道",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reporter": {"name": "张先生", "phone": "13812345678"},
        "reported_at": dt.datetime.now(dt.UTC).isoformat(),
        **body,
    }
    request = urllib.request.Request(
        f"{service.url}/api/events",
        data=json.dumps(sent).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=20) as res:
        return dict(json.loads(res.read()))


def log_in(browser: Any, service: Service, username: str) -> WatchedPage:
    """A browser of its own for `username`, on the command view."""
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    page = context.new_page()
    w = WatchedPage(page=page)
    page.on("console", lambda m: w.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: w.console_errors.append(f"uncaught: {exc}"))
    page.goto(f"{service.url}/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=60_000)
    return w


def open_event(w: WatchedPage, event_id: int) -> Any:
    marker(w, event_id, timeout_ms=20_000).click()
    panel = w.page.locator("#gm-panel")  # type: ignore[attr-defined]
    panel.locator(f'.gm-event[data-event-id="{event_id}"]').wait_for(timeout=10_000)
    return panel


def act(panel: Any, action: str, *, status: str | None = None, **fields: str) -> str:
    """Fill the action form, press the action's button; the message it leaves."""
    for name, value in fields.items():
        panel.locator(f'.gm-actions [name="{name}"]').fill(value)
    button = panel.locator(f'.gm-actions button[data-action="{action}"]')
    # What an earlier action said is not this one's answer, even when the panel is redrawn
    # meanwhile (the live stream) and shows it again: each answer is numbered.
    seen = panel.locator(".gm-action-message").get_attribute("data-seq")
    before = int(seen or 0)
    button.click()
    if status is not None:
        try:
            panel.locator(f'.gm-badge[data-status="{status}"]').wait_for(timeout=10_000)
        except Exception as exc:
            said = panel.locator(".gm-action-message").inner_text()
            raise AssertionError(f"{action} did not lead to {status}: {said!r}") from exc
    message = panel.locator(".gm-action-message")
    deadline = time.monotonic() + 10
    while int(message.get_attribute("data-seq") or 0) <= before:
        assert time.monotonic() < deadline, f"{action}: no answer in 10 s"
        time.sleep(0.1)
    return str(message.inner_text())


def english_sentences(panel: Any) -> list[str]:
    texts = panel.evaluate(
        """(node) => {
            const out = [];
            const walk = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
            while (walk.nextNode()) out.push(walk.currentNode.textContent);
            for (const el of node.querySelectorAll('[placeholder]')) out.push(el.placeholder);
            return out;
        }"""
    )
    return [t for t in texts if ENGLISH_SENTENCE.search(t)]


def api_status(w: WatchedPage, path: str) -> Any:
    # The page's own API client (an ES module), with the page's session and CSRF token.
    return w.page.evaluate(  # type: ignore[attr-defined]
        "(path) => import('/static/js/common.js')"
        ".then((m) => m.post(path, {})).then(() => 'ok', (e) => e.reason)",
        path,
    )


@pytest.mark.browser
def test_a_joint_dispatch_is_worked_to_closed_from_the_panel_by_everyone_in_it(
    login_service: tuple[Service, str], browser: Any
) -> None:
    service, token = login_service
    event = hotline(service, token)
    event_id = int(event["id"])
    operator = log_in(browser, service, "panel-operator")
    panel = open_event(operator, event_id)
    # Both clocks: the response clock runs from receipt, the handling one waits.
    response = panel.locator('.gm-clock[data-clock="response"]')
    assert response.get_attribute("data-state") == "running"
    assert panel.locator('.gm-clock[data-clock="handling"]').get_attribute("data-state") == (
        "not_started"
    )
    if event["status"] == "reported":
        act(panel, "register", status="registered")
    # The picker: the lead by its name, the co-handlers by their departments' names.
    panel.locator("#gm-team-options option").first.wait_for(state="attached", timeout=10_000)
    act(
        panel,
        "joint_dispatch",
        status="assigned",
        team=f"{G1}网格团队",
        co_teams="综合行政执法局，住建局",
    )
    co = panel.locator(".gm-co")
    co.first.wait_for(timeout=10_000)
    assert sorted(c.get_attribute("data-team") for c in co.all()) == ["D-ZF", "D-ZJ"]
    assert panel.locator('.gm-clock[data-clock="handling"]').get_attribute("data-state") == (
        "running"
    )
    assert english_sentences(panel) == []

    # The co-handler's own login: it may not start or close the lead's case.
    zf = log_in(browser, service, "panel-zf")
    zf_panel = open_event(zf, event_id)
    said = act(zf_panel, "start")
    assert "协办" in said and "主办" in said, said
    assert zf_panel.locator('button[data-action="start"]').is_enabled()
    assert zf_panel.locator('button[data-action="close"]').count() == 0
    assert api_status(zf, f"/api/events/{event_id}/actions/close") == "role_may_not"
    assert api_status(zf, f"/api/events/{event_id}/actions/start") == "co_handler_not_lead"
    # Its own part, its own button.
    said = act(zf_panel, "co_report_back", note="执法队已清理占道")
    zf_panel.locator('.gm-co.is-done[data-team="D-ZF"]').wait_for(timeout=10_000)

    # The lead team works the case.
    lead = log_in(browser, service, "panel-lead")
    lead_panel = open_event(lead, event_id)
    act(lead_panel, "start", status="in_progress")
    act(lead_panel, "report_back", status="reported_back", note="主办已完成")

    # The operator: closing waits for 住建局, whose report it records on its behalf.
    panel = open_event(operator, event_id)
    panel.locator('.gm-badge[data-status="reported_back"]').wait_for(timeout=10_000)
    said = act(panel, "close")
    assert "协办" in said and "D-ZJ" in said, said
    panel.locator('.gm-actions [name="note"]').fill("电话告知：住建局已处理")
    panel.locator('.gm-co-record[data-team="D-ZJ"]').click()
    panel.locator('.gm-co.is-done[data-team="D-ZJ"]').wait_for(timeout=10_000)
    act(panel, "close", status="closed")
    # Closed: the clocks say how long they took, no countdown.
    assert panel.locator(".gm-countdown").count() == 0
    assert panel.locator('.gm-clock[data-clock="handling"]').get_attribute("data-state") == "met"
    timeline = panel.locator(".gm-timeline").inner_text()
    assert "代 D-ZJ 录入" in timeline and "协办反馈" in timeline
    assert "user:" not in timeline and "source:" not in timeline and "12345 热线" in timeline

    # The return call: the number shown on request, the caller's answer by choice.
    panel.locator(".gm-reveal").click()
    panel.locator(".gm-reporter", has_text="13812345678").wait_for(timeout=10_000)
    panel.locator('.gm-actions select[name="satisfaction"]').select_option("3")
    act(panel, "visit")
    panel.locator(".gm-timeline", has_text="基本满意").wait_for(timeout=10_000)
    assert english_sentences(panel) == []
    operator.screenshot("event_panel_joint_dispatch_closed")
    for w in (operator, zf, lead):
        refused = re.compile(r"status of 40[39]")
        assert [e for e in w.console_errors if not refused.search(e)] == []


@pytest.mark.browser
def test_an_unregistered_emergency_past_its_response_deadline_shows_missed_never_time_left(
    login_service: tuple[Service, str], browser: Any
) -> None:
    service, token = login_service
    # In a grid of its own: its marker stands alone, not in a cluster.
    lon, lat = SmallCounty.grid_center(f"{C3}001")
    event = hotline(
        service,
        token,
        category="ROAD",
        priority="emergency",
        description="燃气泄漏",
        location={"lon": lon, "lat": lat, "crs": "wgs84"},
    )
    # Received 40 minutes ago: the 30-minute response rule passed, nobody registered it.
    engine = make_engine(service.database_url)
    with engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(
            text(
                "UPDATE event SET received_at = received_at - interval '40 minutes', "
                "response_due_at = response_due_at - interval '40 minutes' WHERE id = :id"
            ),
            {"id": event["id"]},
        )
    engine.dispose()
    operator = log_in(browser, service, "panel-operator")
    panel = open_event(operator, int(event["id"]))
    clock = panel.locator('.gm-clock[data-clock="response"]')
    assert clock.get_attribute("data-state") == "missed"
    countdown = clock.locator(".gm-countdown")
    assert "is-overdue" in (countdown.get_attribute("class") or "")
    assert "超时" in countdown.inner_text() or "超期" in countdown.inner_text()
    assert english_sentences(panel) == []


@pytest.mark.browser
def test_escalation_offers_the_next_levels_teams_and_goes_to_the_one_picked(
    login_service: tuple[Service, str], browser: Any
) -> None:
    service, token = login_service
    lon, lat = SmallCounty.grid_center(f"{C3}002")
    event = hotline(
        service,
        token,
        category="ROAD",
        description="路面塌陷，网格无法处置",
        location={"lon": lon, "lat": lat, "crs": "wgs84"},
    )
    event_id = int(event["id"])
    operator = log_in(browser, service, "panel-operator")
    panel = open_event(operator, event_id)
    if event["status"] == "reported":
        act(panel, "register", status="registered")
    act(panel, "assign", status="assigned")
    # The escalation picker: the next level's duty team first, with its open load.
    options = panel.locator("#gm-escalate-options option")
    options.first.wait_for(state="attached", timeout=10_000)
    assert options.first.get_attribute("value") == f"T-{C3}"
    label = options.first.get_attribute("label") or ""
    assert "上一级值班" in label and "在办" in label, label
    # A team that does not answer one level up: refused in Chinese, the button usable.
    said = act(panel, "escalate", note="网格无法处置", escalate_team="D-XF")
    assert "D-XF" in said and "社区" in said, said
    assert panel.locator('button[data-action="escalate"]').is_enabled()
    # Picked by name: it goes there, and the level reached is shown.
    act(panel, "escalate", note="网格无法处置", escalate_team=f"{C3}值班")
    panel.locator(".gm-timeline", has_text="上报至社区").wait_for(timeout=10_000)
    assert call_api(service, token, event_id)["team"]["code"] == f"T-{C3}"
    # Two levels on, at the county: a department picked by its name reports for duty.
    act(panel, "escalate", note="社区无法处置")
    panel.locator("#gm-escalate-options option").first.wait_for(state="attached", timeout=10_000)
    act(panel, "escalate", note="需住建局到场", escalate_team="住建局")
    deadline = time.monotonic() + 10
    while call_api(service, token, event_id)["escalation_level"] != "county":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert call_api(service, token, event_id)["team"]["code"] == "D-ZJ"
    panel.locator(".gm-timeline", has_text="上报至县级").wait_for(timeout=10_000)
    assert english_sentences(panel) == []
    refused = re.compile(r"status of 4(03|09|22)")
    assert [e for e in operator.console_errors if not refused.search(e)] == []


def call_api(service: Service, token: str, event_id: int) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{service.url}/api/events/{event_id}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=20) as res:
        return dict(json.loads(res.read()))
