"""Browser test fixtures: the real service in a subprocess on a test database, and Debian's
headless Chromium driven by Playwright, recording console errors and every request's host."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.orm import Session

from gridmap.access.accounts import create_user
from gridmap.db import make_engine, session_factory
from tests.conftest import ROOT, create_database, drop_database
from tests.factories import load_small_county

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    url: str
    database_url: str
    log_path: Path

    def sessions(self) -> Session:
        """A session on the service's database (the caller commits and closes it)."""
        return session_factory(make_engine(self.database_url))()


@pytest.fixture(scope="module")
def service(
    server_url: str, template_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """`gridmap serve` on a fresh database holding the small test county."""
    name = f"gridmap_browser_{os.getpid()}_{time.monotonic_ns() % 10**8}"
    db_url = create_database(server_url, name, template=template_name)
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        load_small_county(session)
        session.commit()
    engine.dispose()
    try:
        yield from _serve(db_url, tmp_path_factory.mktemp("gridmap-home"))
    finally:
        drop_database(server_url, name)


@pytest.fixture(scope="module")
def gaoping_service(
    server_url: str, gaoping_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """`gridmap serve` on a fresh copy of the loaded Gaoping demo, with login required
    (as a county runs it): tests log in as a user they create with `add_user`."""
    name = f"gridmap_gaoping_browser_{os.getpid()}_{time.monotonic_ns() % 10**8}"
    db_url = create_database(server_url, name, template=gaoping_template)
    try:
        yield from _serve(
            db_url,
            tmp_path_factory.mktemp("gridmap-home"),
            env={"GRIDMAP_AUTH_REQUIRED": "true"},
        )
    finally:
        drop_database(server_url, name)


def add_user(
    service: Service, *, username: str, role: str, password: str, areas: tuple[str, ...] = ()
) -> None:
    """A user of the service's database, as `gridmap users create` makes one; `areas` are
    the codes of its jurisdiction."""
    with service.sessions() as session:
        create_user(session, username=username, role=role, password=password, area_codes=areas)
        session.commit()


def _serve(db_url: str, home: Path, env: dict[str, str] | None = None) -> Iterator[Service]:
    port = _free_port()
    log_path = home / "service.log"
    environ = {
        **os.environ,
        "GRIDMAP_DATABASE_URL": db_url,
        "GRIDMAP_HOME": str(home),
        "GRIDMAP_PORT": str(port),
        **(env or {}),
    }
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridmap_cli.main", "serve", "--port", str(port)],
            cwd=ROOT,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(base, proc, log_path)
        yield Service(url=base, database_url=db_url, log_path=log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_health(base: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited ({proc.returncode}):\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as res:
                if res.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service did not answer /health in 180 s:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (./dev setup does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class WatchedPage:
    """A page, with what it said on the console and which hosts it asked."""

    page: object
    console_errors: list[str] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)
    dialogs: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))  # type: ignore[attr-defined]
        return path


def _poll_from_outside(page: Any) -> Callable[..., Any]:
    """`page.wait_for_function`, polling from here through the DevTools protocol.

    Playwright's own waits re-evaluate the expression inside the page with `eval`, which
    the service's Content-Security-Policy refuses ('unsafe-eval' is not allowed, and the
    pages must work without it); `page.evaluate` is not subject to the page's policy.
    """

    def wait_for_function(
        expression: str, *, arg: Any = None, timeout: float | None = None, **_: Any
    ) -> Any:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        deadline = time.monotonic() + (30_000 if timeout is None else timeout) / 1000
        while True:
            value = page.evaluate(expression, arg)
            if value:
                return value
            if time.monotonic() > deadline:
                raise PlaywrightTimeout(f"wait_for_function: {timeout} ms passed: {expression}")
            time.sleep(0.1)

    return wait_for_function


@pytest.fixture
def watched(browser: object) -> Iterator[WatchedPage]:
    context = browser.new_context(viewport={"width": 1600, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.wait_for_function = _poll_from_outside(page)
    w = WatchedPage(page=page)
    page.on(
        "console",
        lambda msg: (
            w.console_errors.append(f"{msg.text} @ {msg.location}") if msg.type == "error" else None
        ),
    )
    page.on("pageerror", lambda exc: w.console_errors.append(f"uncaught: {exc}"))
    page.on("request", lambda req: w.hosts.add(urlsplit(req.url).netloc or req.url.split(":")[0]))

    def _dialog(d: object) -> None:
        w.dialogs.append(d.message)  # type: ignore[attr-defined]
        d.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", _dialog)
    yield w
    context.close()
