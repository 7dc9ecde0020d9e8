"""Benchmark: the first load of the grid worker's phone page (/m) against the desktop
command view (/), both in Chromium under DevTools' "Slow 4G" emulation, in the same run.

Prints, per page, the bytes transferred (every response's encoded length, headers
included, as Chromium's Network domain reports it) and the time until the page says it is
usable (`body[data-ready]`: the phone page once its grid, categories, events and tasks are
drawn; the command view once its layers and events are), median of `--runs` cold loads
(a new browser context each: empty cache, no service worker yet).

"Slow 4G" is DevTools' preset of that name: 562.5 ms latency, 1.6 Mbit/s × 0.9 down,
750 kbit/s × 0.9 up (Network.emulateNetworkConditions).

Builds its own service: a fresh database (on GRIDMAP_TEST_DATABASE_URL's server, else the
tests' embedded cluster) with the small test county, a grid worker of grid G1 and a
county operator, served by `gridmap serve` with login required.
Run: `.venv/bin/python bench/phone_weight.py [--runs 3]`. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.orm import Session  # noqa: E402

from gridmap.access.accounts import create_user  # noqa: E402
from gridmap.db import make_engine, migrate  # noqa: E402
from gridmap.embedded_db import EmbeddedCluster  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _serve  # noqa: E402
from tests.conftest import TEST_HOME, create_database, drop_database  # noqa: E402
from tests.factories import COUNTY, G1, SmallCounty, load_small_county  # noqa: E402

PASSWORD = "correct horse battery"
SLOW_4G = {
    "offline": False,
    "latency": 562.5,
    "downloadThroughput": 1.6 * 1000 * 1000 / 8 * 0.9,
    "uploadThroughput": 750 * 1000 / 8 * 0.9,
}
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)


def _server_url() -> str:
    external = os.environ.get("GRIDMAP_TEST_DATABASE_URL")
    if external:
        return external
    return str(EmbeddedCluster(TEST_HOME).start().url)


def one_load(browser: Any, base: str, *, phone: bool) -> tuple[int, float, int]:
    """(bytes, seconds to usable, requests) of one cold load."""
    options: dict[str, Any] = (
        {
            "viewport": {"width": 390, "height": 844},
            "is_mobile": True,
            "has_touch": True,
            "user_agent": PHONE_UA,
            "geolocation": {"longitude": SmallCounty.grid_center(G1)[0], "latitude": 35.79},
            "permissions": ["geolocation"],
        }
        if phone
        else {"viewport": {"width": 1600, "height": 900}}
    )
    context = browser.new_context(**options)
    try:
        user = "worker" if phone else "operator"
        # Logged in before the clock starts (the login is not the page's weight).
        answer = context.request.post(
            f"{base}/api/auth/login", data={"username": user, "password": PASSWORD}
        )
        assert answer.ok, answer.text()
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_4G)
        sizes: dict[str, float] = {}
        cdp.on(
            "Network.loadingFinished",
            lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]),
        )
        path = "/m" if phone else "/"
        ready = "1" if phone else "true"
        start = time.perf_counter()
        page.goto(base + path, wait_until="commit")
        while (
            page.evaluate("() => document.body ? document.body.dataset.ready || '' : ''") != ready
        ):
            if time.perf_counter() - start > 120:
                raise RuntimeError(f"{path} was not usable in 120 s")
            time.sleep(0.05)
        usable = time.perf_counter() - start
        time.sleep(1.0)  # what the page still fetches right after (counted: it is the load)
        return int(sum(sizes.values())), usable, len(sizes)
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    server = _server_url()
    name = f"gridmap_bench_phone_{os.getpid()}"
    db_url = create_database(server, name)
    home = ROOT / "bench" / "out" / "phone"
    home.mkdir(parents=True, exist_ok=True)
    try:
        migrate(db_url)
        engine = make_engine(db_url, pool_size=1)
        with Session(engine) as session:
            load_small_county(session)
            create_user(
                session,
                username="worker",
                role="grid_worker",
                password=PASSWORD,
                area_codes=[G1],
                team_code=f"T-{G1}",
            )
            create_user(
                session,
                username="operator",
                role="operator",
                password=PASSWORD,
                area_codes=[COUNTY],
            )
            session.commit()
        engine.dispose()
        from playwright.sync_api import sync_playwright

        for service in _serve(db_url, home, env={"GRIDMAP_AUTH_REQUIRED": "true"}):
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                print(
                    "first load under DevTools 'Slow 4G' (562.5 ms, 1.44 Mbit/s down), "
                    f"median of {args.runs} cold loads"
                )
                for label, phone in (
                    ("/m  (phone page, 390x844)", True),
                    ("/   (command view)", False),
                ):
                    runs = [one_load(browser, service.url, phone=phone) for _ in range(args.runs)]
                    size = statistics.median(r[0] for r in runs)
                    usable = statistics.median(r[1] for r in runs)
                    requests = statistics.median(r[2] for r in runs)
                    print(
                        f"{label:30} {size / 1024:8.1f} KiB  usable in {usable:5.2f} s  "
                        f"({requests:.0f} requests; runs: "
                        + ", ".join(f"{r[1]:.2f} s" for r in runs)
                        + ")"
                    )
                browser.close()
    finally:
        drop_database(server, name)
    print(
        f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} "
        f"({os.cpu_count()} CPUs)"
    )


if __name__ == "__main__":
    main()
