"""The phone page's browser fixtures, shared by tests/browser/test_phone*.py (not a
conftest: only the modules that import them get them): the service on a copy of the small
county with a grid worker of G1 and a county operator, a camera-sized photo, a phone (a
Chromium context emulating a 390×844 touch phone with geolocation granted), and the
operator's helpers (an event for the worker's team, the command view logged in).

A test module takes the fixtures by naming them at its top level:
`phone_service = phone_fixtures.phone_service` (and so on).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import text

from tests.browser.conftest import Service, _poll_from_outside, _serve, add_user
from tests.conftest import create_database, drop_database
from tests.factories import G1, SmallCounty

PASSWORD = "correct horse battery"
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)
HERE = SmallCounty.grid_center(G1)  # the worker stands in its own grid


@pytest.fixture(scope="module")
def phone_service(
    server_url: str, small_county_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The service on a copy of the small county, login required, with a grid worker of
    G1 (team T-G1) and a county operator."""
    name = f"gridmap_phone_browser_{os.getpid()}_{time.monotonic_ns() % 10**8}"
    db_url = create_database(server_url, name, template=small_county_template)
    try:
        for service in _serve(
            db_url, tmp_path_factory.mktemp("phone-home"), env={"GRIDMAP_AUTH_REQUIRED": "true"}
        ):
            with service.sessions() as s:
                from gridmap.access.accounts import create_user

                create_user(
                    s,
                    username="worker",
                    role="grid_worker",
                    password=PASSWORD,
                    area_codes=[G1],
                    team_code=f"T-{G1}",
                )
                s.execute(
                    text(
                        "INSERT INTO building (county_code, code, households, address, attributes,"
                        " point) VALUES ('990101', 'B-G1-1', 8, '幸福路1号', '{}',"
                        " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
                    ),
                    {"lon": HERE[0] + 0.002, "lat": HERE[1] + 0.002},
                )
                s.commit()
            add_user(
                service, username="operator", role="operator", password=PASSWORD, areas=("990101",)
            )
            yield service
    finally:
        drop_database(server_url, name)


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3000×2000 camera-sized JPEG: the phone must send it at most 1600 px wide."""
    path = tmp_path_factory.mktemp("photos") / "camera.jpg"
    Image.new("RGB", (3000, 2000), (90, 140, 60)).save(path, "JPEG", quality=90)
    return path


class Phone:
    def __init__(self, browser: Any, service: Service) -> None:
        self.service = service
        self.context = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=3,
            is_mobile=True,
            has_touch=True,
            user_agent=PHONE_UA,
            locale="zh-CN",
            geolocation={"longitude": HERE[0], "latitude": HERE[1], "accuracy": 15},
            # Chrome grants background sync to a site by default; Playwright's contexts
            # deny every permission not listed.
            permissions=["geolocation", "background-sync"],
        )
        self.page = self.context.new_page()
        self.page.wait_for_function = _poll_from_outside(self.page)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # What the console said as an error, with where (a refused request, a script's
        # complaint); tests decide which are expected (no network while offline).
        self.console: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.console.append(f"{m.text} @ {m.location.get('url', '')}")
                if m.type == "error"
                else None
            ),
        )

    def login(self) -> None:
        page = self.page
        page.goto(f"{self.service.url}/login?next=%2F")
        page.fill("input[name=username]", "worker")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.service.url}/m")  # a grid worker on a phone lands on /m
        self.ready()

    def ready(self) -> None:
        self.page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=60_000)

    def controlled(self) -> None:
        """Wait until the service worker controls the page (reloading once it is active)."""
        page = self.page
        page.wait_for_function(
            "() => navigator.serviceWorker.ready.then(() => true)", timeout=30_000
        )
        if not page.evaluate("() => Boolean(navigator.serviceWorker.controller)"):
            page.reload()
            self.ready()
        page.wait_for_function("() => Boolean(navigator.serviceWorker.controller)", timeout=30_000)

    def pending(self) -> int:
        return int(
            self.page.evaluate("() => document.getElementById('ph-pending').dataset.pending || '0'")
        )

    def report(self, photo: Path, description: str) -> None:
        page = self.page
        page.click("#ph-report-btn")
        page.click(".ph-cat[data-code=ROAD]")
        page.set_input_files("#ph-photo", str(photo))
        page.wait_for_selector(".ph-thumb img")
        page.fill("#ph-desc", description)
        page.click("#ph-send")
        page.wait_for_selector("#ph-report", state="hidden")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def phone(browser: Any, phone_service: Service) -> Iterator[Phone]:
    p = Phone(browser, phone_service)
    yield p
    p.close()


def events_described(service: Service, description: str) -> list[dict[str, Any]]:
    with service.sessions() as s:
        rows = s.execute(
            text(
                "SELECT e.id, e.source, e.external_id, e.grid_code, e.status,"
                " (SELECT count(*) FROM photo p WHERE p.event_id = e.id) AS photos"
                " FROM event e WHERE e.description = :d"
            ),
            {"d": description},
        ).mappings()
        return [dict(r) for r in rows]


def wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.2)


def operator_event(
    browser: Any, service: Service, description: str = "a pothole for the phone"
) -> int:
    """An event in G1 assigned to the worker's team, made by the operator's API calls."""
    import datetime as dt
    import uuid

    op = browser.new_context()
    try:
        login = op.request.post(
            f"{service.url}/api/auth/login", data={"username": "operator", "password": PASSWORD}
        )
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        made = op.request.post(
            f"{service.url}/api/events",
            headers=csrf,
            data={
                "source": "12345",
                "external_id": uuid.uuid4().hex,
                "category": "ROAD",
                "description": description,
                "location": {"lon": HERE[0] + 0.001, "lat": HERE[1]},
                "reporter": {"name": "张三", "phone": "13800001234"},
                "reported_at": dt.datetime.now(dt.UTC).isoformat(),
            },
        )
        event_id = int(made.json()["id"])
        register_and_assign(op, service, csrf, event_id)
        return event_id
    finally:
        op.close()


def register_and_assign(op: Any, service: Service, csrf: dict[str, str], event_id: int) -> None:
    """The operator registers the event and assigns it to the worker's team."""
    for action, body in (("register", {}), ("assign", {"team": f"T-{G1}"})):
        answer = op.request.post(
            f"{service.url}/api/events/{event_id}/actions/{action}", headers=csrf, data=body
        )
        assert answer.ok, answer.text()


def operator_on_command_view(browser: Any, service: Service) -> tuple[Any, Any, dict[str, str]]:
    """The county operator's own browser on the command view (desktop), logged in, with the
    CSRF header its API calls need."""
    op = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
    login = op.request.post(
        f"{service.url}/api/auth/login", data={"username": "operator", "password": PASSWORD}
    )
    assert login.ok, login.text()
    page = op.new_page()
    page.wait_for_function = _poll_from_outside(page)
    page.goto(f"{service.url}/")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=60_000)
    return op, page, {"X-CSRF-Token": login.json()["csrf_token"]}
