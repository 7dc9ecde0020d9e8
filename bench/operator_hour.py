"""An hour of simulated events worked from the command view, as an operator would (issue #18,
"Done when"): the service on a fresh database holding the Gaoping demo, `gridmap simulate
--rate 12` beside it (twelve events a minute), and a county operator in Debian's headless
Chromium taking each new event from its queue and working it to 归档 from the page alone.

    python bench/operator_hour.py --server-url postgresql+psycopg://USER:PW@HOST:PORT/postgres \\
        --minutes 60

Each event is found in a queue (its row clicked, never its marker) and each step is a button
of the event panel. The paths, by the event's turn:

- triage: every few minutes the hotline sends a report with only an address; it waits in
  待定位, the operator places it on the map where the caller says, then works it;
- duplicate: a report the panel says repeats an open one is merged into it (合并重复);
- escalation: assigned, then escalated to the next level with the team picker;
- joint dispatch: handed with 联合哨 to the routed team and a department picked from the
  team picker (or made joint by the rules at assignment); each co-handler reports on its
  own part through its own member's login, the lead's steps are the operator's;
- team member: the lead team's member starts and reports back through its own login;
- routine: assigned with the team picker, started and reported back by the operator;

then 结案, the return visit (the caller's number revealed, satisfaction chosen) and 归档.

After every step the page is checked: no ASCII-only sentence visible (the DOM check of
tests/browser/test_workbench.py), no disabled button left disabled in the panel, queues or
triage list, no console error. Every problem is printed with the step it followed; at the end
the events worked per path, the time per event, and the backlog (what the queues still hold).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gridmap.access.accounts import create_token, create_user  # noqa: E402
from gridmap.db import make_engine, session_factory  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.browser.test_workbench import ENGLISH_SENTENCES  # noqa: E402
from tests.conftest import create_database, drop_database  # noqa: E402

COUNTY = "140581"  # Gaoping
PASSWORD = "operator-hour-2026"
OPERATOR = "hour-operator"
STEP_TIMEOUT_MS = 30_000

LOCKED = """() => [...document.querySelectorAll(
    '#gm-panel button:disabled, #gm-queues button:disabled, #gm-triage button:disabled')]
    .map((b) => b.dataset.action || b.className || b.textContent)"""


def log(text: str) -> None:
    print(f"{dt.datetime.now(dt.UTC):%H:%M:%S} {text}", flush=True)


class Problems:
    """Every problem found, with the step it followed; repeats of one kind counted."""

    def __init__(self) -> None:
        self.seen: collections.Counter[str] = collections.Counter()
        self.first: dict[str, str] = {}

    def add(self, kind: str, detail: str, when: str) -> None:
        key = f"{kind}: {detail[:300]}"
        if key not in self.seen:
            self.first[key] = when
            log(f"PROBLEM {key} (after {when})")
        self.seen[key] += 1


class Browser:
    """A person's own browser context on the command view, watched for console errors."""

    def __init__(self, browser: Any, url: str, username: str) -> None:
        self.url = url
        self.username = username
        self.context = browser.new_context(viewport={"width": 1600, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"{m.text} @ {m.location.get('url', '')}")
                if m.type == "error"
                else None
            ),
        )
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        self.page.on("dialog", lambda d: d.dismiss())
        self.log_in()

    def log_in(self) -> None:
        self.page.goto(f"{self.url}/login")
        self.page.fill("input[name=username]", self.username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("body[data-ready=true]", state="attached", timeout=90_000)
        self.page.wait_for_selector("#gm-live[data-state=on]", timeout=30_000)

    @property
    def panel(self) -> Any:
        return self.page.locator("#gm-panel")


class Hour:
    def __init__(self, url: str, db_url: str, token: str, browser: Any) -> None:
        self.url = url
        self.db_url = db_url
        self.token = token
        self.browser = browser
        self.problems = Problems()
        self.op = Browser(browser, url, OPERATOR)
        self.members: dict[str, Browser] = {}
        self.worked: collections.Counter[str] = collections.Counter()
        self.failed: collections.Counter[str] = collections.Counter()
        self.times: dict[str, list[float]] = collections.defaultdict(list)
        self.skip: set[str] = set()
        self.notes: collections.Counter[str] = collections.Counter()
        self.turn = 0
        self.check(self.op, "the page loaded")

    # --- the checks after every step -----------------------------------------------------

    def check(self, who: Browser, when: str) -> None:
        page = who.page
        try:
            for text in page.evaluate(ENGLISH_SENTENCES):
                self.problems.add("English on the page", text, when)
            for b in page.evaluate(LOCKED):
                # A button is disabled while its request runs: only one still disabled a
                # moment later is locked.
                time.sleep(0.5)
                if b in page.evaluate(LOCKED):
                    self.problems.add("locked button", str(b), when)
        except Exception as exc:  # the page navigated meanwhile
            self.problems.add("check failed", repr(exc)[:200], when)
        while who.errors:
            self.problems.add(f"console error ({who.username})", who.errors.pop(0), when)

    # --- the page's own steps -------------------------------------------------------------

    def from_queue(self, queue: str, event_id: str) -> Any:
        """Open `queue`, find the event's row, click it: the event's panel."""
        page = self.op.page
        section = page.locator(f'#gm-queues [data-queue="{queue}"]')
        row = section.locator(f'.gm-queue-row[data-event-id="{event_id}"]')
        deadline = time.monotonic() + 30
        while True:
            if "is-open" not in (section.get_attribute("class") or ""):
                section.locator(".gm-queue-head").click()
            try:
                row.wait_for(timeout=1_000)
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"#{event_id} not found in queue {queue}") from exc
                # Past the rows shown: the queue's "show more".
                more = section.locator(".gm-queue-more")
                if more.count():
                    more.click()
        row.locator(".gm-queue-open").click()
        self.op.panel.locator(f'.gm-event[data-event-id="{event_id}"]').wait_for(
            timeout=STEP_TIMEOUT_MS
        )
        self.check(self.op, f"#{event_id} opened from {queue}")
        return self.op.panel

    def act(self, who: Browser, action: str, status: str | None, **fields: str) -> None:
        panel = who.panel
        for name, value in fields.items():
            panel.locator(f'.gm-actions [name="{name}"]').fill(value)
        message = panel.locator(".gm-action-message")
        before = int(message.get_attribute("data-seq") or 0)
        try:
            panel.locator(f'.gm-actions button[data-action="{action}"]').click(timeout=15_000)
        except Exception:
            # The panel was redrawn under the click (a stream message about this event):
            # Playwright tries again on the new panel, where a step already taken has no
            # button any more. Only a step that did not happen is a failure: the redrawn
            # panel may carry a new message line (its count from 0), so the event's state
            # is what says whether the step was taken.
            done = status is not None and panel.locator(f'.gm-badge[data-status="{status}"]')
            if done and done.count():
                self.check(who, f"{action} ({who.username})")
                return
            if int(message.get_attribute("data-seq") or 0) <= before:
                raise
        deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
        while int(message.get_attribute("data-seq") or 0) <= before:
            if time.monotonic() > deadline:
                # What the panel says and shows: a redrawn panel restarts the message
                # line's count, so say what is there for the reader to judge.
                shown = panel.evaluate(
                    """(p) => ({said: (p.querySelector('.gm-action-message') || {}).textContent,
                       status: (p.querySelector('.gm-badge[data-status]') || {dataset: {}})
                                   .dataset.status,
                       buttons: [...p.querySelectorAll('.gm-actions button[data-action]')]
                                   .map((b) => b.dataset.action + (b.disabled ? '!' : ''))})"""
                )
                raise RuntimeError(
                    f"{action}: no answer in {STEP_TIMEOUT_MS / 1000:.0f} s; the panel: {shown}"
                )
            time.sleep(0.1)
        said = message.inner_text()
        if "成功" not in said:
            raise RuntimeError(f"{action} refused: {said}")
        if status is not None:
            panel.locator(f'.gm-badge[data-status="{status}"]').wait_for(timeout=STEP_TIMEOUT_MS)
        self.check(who, f"{action} ({who.username})")

    def pick_team(self, field: str, *, last: bool = False) -> str:
        """The team picker's suggestion (the first, or the last: the category's
        department), written into `field` as the operator picks it."""
        panel = self.op.panel
        list_id = "gm-escalate-options" if field == "escalate_team" else "gm-team-options"
        options = panel.locator(f"#{list_id} option")
        values: list[str] = []
        deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
        while not values:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the team picker ({field}) offered no team")
            # Read at once: the list is refilled whenever the panel is redrawn.
            values = [str(v) for v in options.evaluate_all("(os) => os.map((o) => o.value)")]
            time.sleep(0.2)
        chosen = values[-1] if last else values[0]
        panel.locator(f'.gm-actions [name="{field}"]').fill(chosen)
        return chosen

    # --- the paths ---------------------------------------------------------------------------

    def next_event(self) -> tuple[str, str] | None:
        """The top row of 待定位, else of 待立案 (pinned alerts and the nearest deadline
        first): what the operator takes next."""
        page = self.op.page
        for queue in ("unplaced", "to_register"):
            section = page.locator(f'#gm-queues [data-queue="{queue}"]')
            if not section.count() or (section.get_attribute("data-count") or "0") == "0":
                continue
            if "is-open" not in (section.get_attribute("class") or ""):
                section.locator(".gm-queue-head").click()
                page.wait_for_timeout(200)
            for eid in section.locator(".gm-queue-row").evaluate_all(
                "(rows) => rows.map((r) => r.dataset.eventId)"
            ):
                if eid not in self.skip:
                    return queue, str(eid)
        return None

    def work(self, queue: str, event_id: str) -> None:
        started = time.monotonic()
        self.turn += 1
        path = "routine"
        try:
            if queue == "unplaced":
                path = "triage"
                self.place(event_id)
            panel = self.from_queue("to_register", event_id)
            if panel.locator(".gm-duplicate").count():
                path = "duplicate"
                self.act(self.op, "merge", "merged")
            else:
                self.act(self.op, "register", "registered")
                if path != "triage":
                    path = {1: "escalation", 3: "joint", 5: "team_member"}.get(
                        self.turn % 6, "routine"
                    )
                path = self.dispatch(event_id, path)
                self.close_visit_archive(event_id)
            self.worked[path] += 1
            self.times[path].append(time.monotonic() - started)
            log(f"#{event_id} {path} to the end in {time.monotonic() - started:.1f} s")
        except Exception as exc:
            self.failed[path] += 1
            self.skip.add(event_id)
            self.problems.add(f"{path} not finished", f"#{event_id}: {exc}"[:300], path)
            with contextlib.suppress(Exception):
                self.op.page.keyboard.press("Escape")

    def dispatch(self, event_id: str, path: str) -> str:
        """From 待派遣 to reported back, by the event's path; the path as it went (the
        rules may make an assignment joint)."""
        panel = self.from_queue("to_dispatch", event_id)
        if path == "joint" and panel.locator('button[data-action="joint_dispatch"]').count():
            self.pick_team("team")
            self.pick_team("co_teams", last=True)
            self.act(self.op, "joint_dispatch", "assigned")
        else:
            self.pick_team("team")
            self.act(self.op, "assign", "assigned")
        co_teams = [str(c.get_attribute("data-team")) for c in panel.locator(".gm-co").all()]
        if co_teams:
            path = "joint"
            self.co_reports(event_id, co_teams)
        if path == "escalation":
            panel = self.from_queue("handling", event_id)
            options = panel.locator("#gm-escalate-options option")
            try:
                options.first.wait_for(state="attached", timeout=10_000)
            except Exception:
                # A county department's case: no level above it to escalate to.
                self.notes["escalation asked of a county department's case (no level above)"] += 1
                path = "routine"
        if path == "escalation":
            self.pick_team("escalate_team")
            self.act(self.op, "escalate", "assigned", note="网格无法处置，上报上级")
            panel.locator(".gm-timeline", has_text="上报").wait_for(timeout=STEP_TIMEOUT_MS)
        if path == "team_member":
            team = self.team_of(event_id)
            member = self.member(team)
            self.open_as(member, event_id)
            self.act(member, "start", "in_progress")
            self.act(member, "report_back", "reported_back", note="已到场处置完毕")
            return path
        self.from_queue("handling", event_id)
        self.act(self.op, "start", "in_progress")
        self.act(self.op, "report_back", "reported_back", note="已处置完毕")
        return path

    def co_reports(self, event_id: str, co_teams: list[str]) -> None:
        """The first co-handler reports through its own member's login; any other is
        recorded by the operator on its behalf (told by phone)."""
        first, *others = co_teams
        member = self.member(first)
        self.open_as(member, event_id)
        self.act(member, "co_report_back", None, note="协办部门已处理本部门部分")
        member.panel.locator(f'.gm-co.is-done[data-team="{first}"]').wait_for(
            timeout=STEP_TIMEOUT_MS
        )
        for team in others:
            panel = self.from_queue("co_pending", event_id)
            panel.locator('.gm-actions [name="note"]').fill("电话告知：已处理")
            panel.locator(f'.gm-co-record[data-team="{team}"]').click()
            panel.locator(f'.gm-co.is-done[data-team="{team}"]').wait_for(timeout=STEP_TIMEOUT_MS)
            self.check(self.op, f"{team}'s report recorded")

    def close_visit_archive(self, event_id: str) -> None:
        self.from_queue("to_close", event_id)
        self.act(self.op, "close", "closed")
        panel = self.from_queue("to_visit", event_id)
        reveal = panel.locator(".gm-reveal")
        if reveal.count():
            reveal.click()
            reveal.wait_for(state="detached", timeout=STEP_TIMEOUT_MS)
        score = ("5", "3", "1")[self.turn % 3]
        panel.locator('.gm-actions select[name="satisfaction"]').select_option(score)
        self.act(self.op, "visit", None)
        self.act(self.op, "archive", "archived")

    def place(self, event_id: str) -> None:
        """From 待定位: the operator looks where the caller says and clicks there."""
        page = self.op.page
        self.from_queue("unplaced", event_id)
        page.locator(f'#gm-panel .gm-place[data-event-id="{event_id}"]').click()
        lon, lat = self.somewhere()
        page.evaluate(
            """([lat, lon]) => {
                const cfg = JSON.parse(document.getElementById("gm-config").textContent);
                window[cfg.mapName].setView([lat, lon], 17, {animate: false});
            }""",
            [lat, lon],
        )
        box = page.locator(".folium-map").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.locator(f'#gm-panel .gm-event[data-event-id="{event_id}"] .gm-chain').wait_for(
            timeout=STEP_TIMEOUT_MS
        )
        self.check(self.op, f"#{event_id} placed")

    def somewhere(self) -> tuple[float, float]:
        """Where the caller says it is: beside the newest simulated report (where people
        live)."""
        body = self.get("/api/events?limit=1&f=geojson")
        lon, lat = body["features"][0]["geometry"]["coordinates"]
        return lon + 0.0008, lat + 0.0008

    def team_of(self, event_id: str) -> str:
        team = self.get(f"/api/events/{event_id}").get("team") or {}
        return str(team.get("code") if isinstance(team, dict) else team)

    def member(self, team: str) -> Browser:
        """The team's member, logged in in a browser of its own (made on first need, as
        `gridmap users create` would)."""
        if team not in self.members:
            username = f"hour-{team.lower()}"
            engine = make_engine(self.db_url)
            with session_factory(engine)() as s:
                create_user(
                    s, username=username, role="team_member", password=PASSWORD, team_code=team
                )
                s.commit()
            engine.dispose()
            self.members[team] = Browser(self.browser, self.url, username)
            self.check(self.members[team], f"{username} logged in")
        return self.members[team]

    def open_as(self, who: Browser, event_id: str) -> None:
        """The member finds the event by its number in the search box."""
        page = who.page
        page.fill("#gm-search-input", f"#{event_id}")
        page.press("#gm-search-input", "Enter")
        page.locator('#gm-search-results .gm-result[data-kind="event"]').first.click(
            timeout=STEP_TIMEOUT_MS
        )
        who.panel.locator(f'.gm-event[data-event-id="{event_id}"]').wait_for(
            timeout=STEP_TIMEOUT_MS
        )
        self.check(who, f"#{event_id} opened by {who.username}")

    # --- the service's answers (read only, for the report) ------------------------------

    def get(self, path: str) -> Any:
        return self.op.page.evaluate(
            "(path) => fetch(path, {headers: {Accept: 'application/json'}}).then((r) => r.json())",
            path,
        )

    def hotline_address_only(self) -> None:
        body = {
            "source": "12345",
            "external_id": f"HOUR-{time.time_ns()}",
            "category": self.some_category(),
            "description": "路面积水，来电人只说了地址（模拟）",
            "address": "高平市某路口附近",
            "reporter": {"name": "赵女士", "phone": "13900001111"},
            "reported_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        request = urllib.request.Request(
            f"{self.url}/api/events",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as res:
            log(f"hotline: address-only report #{json.loads(res.read())['id']}")

    def some_category(self) -> str:
        newest = self.get("/api/events?limit=1&f=geojson")["features"][0]
        return str(newest["properties"]["category"])

    def backlog(self) -> dict[str, int]:
        answer = self.op.page.evaluate(
            "() => window.GridmapWorkbench && window.GridmapWorkbench.queues.answer"
        )
        return {q["name"]: q["count"] for q in (answer or {}).get("queues", [])}


def fresh_demo(server_url: str, home: Path, history_days: int) -> tuple[str, str]:
    """A new database on `server_url` holding the Gaoping demo (as `./dev run` loads it),
    the operator, and the hotline's token."""
    name = f"gridmap_operator_hour_{int(time.time())}"
    db_url = create_database(server_url, name)
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(home)}
    log(f"loading the demo into {name} (history {history_days} days)")
    subprocess.run(
        [sys.executable, "-m", "gridmap_cli.main", "demo", "--history-days", str(history_days)],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        create_user(s, username=OPERATOR, role="operator", password=PASSWORD, area_codes=[COUNTY])
        _, token = create_token(s, name="hour-hotline", role="integration", area_codes=[COUNTY])
        s.commit()
    engine.dispose()
    return db_url, token


def report(hour: Hour, args: argparse.Namespace, sent: int, loads: list[float]) -> None:
    backlog = hour.backlog()
    print()
    print(
        f"operator hour: {args.minutes:.0f} min at {args.rate:g} events/min, simulator "
        f"answers {sent}, load average {min(loads):.1f}-{max(loads):.1f}"
    )
    by_path = ", ".join(
        f"{k} {v} (median {statistics.median(hour.times[k]):.1f} s)"
        for k, v in sorted(hour.worked.items())
    )
    print(f"worked to the end, by path: {by_path}")
    all_times = [t for ts in hour.times.values() for t in ts]
    if all_times:
        print(
            f"time per event: median {statistics.median(all_times):.1f} s, "
            f"max {max(all_times):.1f} s, {len(all_times)} events"
        )
    failed = ", ".join(f"{k} {v}" for k, v in hour.failed.items()) or "none"
    print(f"not finished, by path: {failed}")
    print("backlog (queue counts at the end): " + ", ".join(f"{k} {v}" for k, v in backlog.items()))
    for note, n in hour.notes.items():
        print(f"note: {n}x {note}")
    seen = hour.problems.seen
    print(f"problems ({sum(seen.values())} in all, {len(seen)} kinds):")
    for key, n in seen.most_common():
        print(f"  {n:4d}x {key} (first after {hour.problems.first[key]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server-url",
        default=os.environ.get("GRIDMAP_TEST_DATABASE_URL"),
        help="a PostGIS server to create the fresh database on (GRIDMAP_TEST_DATABASE_URL)",
    )
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--rate", type=float, default=12, help="simulated events a minute")
    parser.add_argument("--history-days", type=int, default=30, help="the demo's past (days)")
    parser.add_argument(
        "--triage-every", type=float, default=5, help="minutes between address-only reports"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if not args.server_url:
        parser.error("--server-url (or GRIDMAP_TEST_DATABASE_URL) is needed")
    home = Path(tempfile.mkdtemp(prefix="gridmap-hour-"))
    db_url, token = fresh_demo(args.server_url, home, args.history_days)
    port = 8300 + os.getpid() % 500
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "GRIDMAP_DATABASE_URL": db_url,
        "GRIDMAP_HOME": str(home),
        "GRIDMAP_AUTH_REQUIRED": "true",
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "gridmap_cli.main", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=(home / "service.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    simulator = None
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except Exception:
                if time.monotonic() > deadline or service.poll() is not None:
                    raise RuntimeError((home / "service.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        load = os.getloadavg()
        log(f"service at {url}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gridmap_cli.main",
                "simulate",
                "--rate",
                str(args.rate),
                "--url",
                url,
                "--county",
                COUNTY,
                "--duration",
                str(args.minutes * 60),
                "--seed",
                "18",
                "--quiet",
                "--log",
                str(home / "simulate.jsonl"),
            ],
            cwd=ROOT,
            env={**env, "GRIDMAP_TOKEN": token},
            stdout=subprocess.DEVNULL,
            stderr=(home / "simulate.err").open("w"),
        )
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            hour = Hour(url, db_url, token, browser)
            begin = time.monotonic()
            end = begin + args.minutes * 60
            next_triage = begin + 60
            loads = [os.getloadavg()[0]]
            while time.monotonic() < end:
                if time.monotonic() >= next_triage:
                    hour.hotline_address_only()
                    next_triage += args.triage_every * 60
                    loads.append(os.getloadavg()[0])
                item = hour.next_event()
                if item is None:
                    time.sleep(2)
                    continue
                hour.work(*item)
            sent = 0
            if (home / "simulate.jsonl").exists():
                sent = sum(1 for _ in (home / "simulate.jsonl").open())
            report(hour, args, sent, loads)
            browser.close()
    finally:
        if simulator is not None and simulator.poll() is None:
            simulator.terminate()
            simulator.wait()
        service.terminate()
        try:
            service.wait(timeout=15)
        except subprocess.TimeoutExpired:
            service.kill()
        if not args.keep:
            drop_database(args.server_url, db_url.rsplit("/", 1)[-1].split("?")[0])


if __name__ == "__main__":
    main()
