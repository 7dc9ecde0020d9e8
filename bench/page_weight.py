"""The command view's first load, as an operator's browser sees it: bytes transferred, the
time until the page is usable (issue #18: counters filled, markers drawn, and the work
queues where the page has them) and the time until everything is drawn (the page's
`data-ready`: the area outlines too), in Debian's headless Chromium.

Compare two builds in one run against the same database: start one service from the old
code and one from the new, then

    python bench/page_weight.py --user demo-operator --password PW \\
        before=http://127.0.0.1:8101 after=http://127.0.0.1:8102

(`--password` once per target when the two services have databases of their own, as when
the old code's schema is older than the new one's.)

`--at 14/35.79/112.92` opens the page zoomed there (the view in the address, as a reload
keeps it): the markers are loaded by view, so the events list shrinks with the view.

Each URL is loaded `--runs` times with an empty cache (a new browser context each time);
the median and every run are printed. Transfer is what the network carried (the sum of
Chromium's `encodedDataLength`, compressed bodies and headers included), from the login
answer's redirect to usable; the login page itself is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any
from urllib.parse import quote, urlsplit

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"

# Usable, as issue #18 says it: the header counters hold numbers, markers (or their
# clusters) are on the map, and where the page has work queues, they are filled. (Before
# 4 December 2026 this also waited for `data-ready`, every area outline drawn: the
# operator works from the counters, queues and markers, the outlines follow.)
USABLE = """() => {
    if (!document.body) return false;
    const counters = [...document.querySelectorAll("[data-counter] .gm-counter-value")];
    if (!counters.length || counters.some((c) => !/^\\d+$/.test(c.textContent))) return false;
    if (!document.querySelector(".gm-dot, .marker-cluster")) return false;
    const queues = document.getElementById("gm-queues");
    if (queues && !queues.hidden && queues.dataset.loaded !== "true") return false;
    return true;
}"""


def _usable(page: Any) -> bool:
    try:
        return bool(page.evaluate(USABLE))
    except Exception:  # the login's redirect replaced the document meanwhile
        return False


def measure(
    browser: Any, url: str, user: str, password: str, at: str | None = None
) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    page = context.new_page()
    # A view in the address (#map=zoom/lat/lon, kept there by the page): the login goes
    # back to it, as after a reload.
    page.goto(f"{url}/login" + (f"?next={quote('/#map=' + at, safe='')}" if at else ""))
    page.fill('input[name="username"]', user)
    page.fill('input[name="password"]', password)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    sizes: dict[str, float] = {}
    urls: dict[str, str] = {}
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], float(e["encodedDataLength"])),
    )
    cdp.on(
        "Network.requestWillBeSent",
        lambda e: urls.__setitem__(e["requestId"], str(e["request"]["url"])),
    )
    started = time.monotonic()
    page.click('button[type="submit"]')
    deadline = started + 60
    while not _usable(page):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}: not usable in 60 s")
        time.sleep(0.02)
    usable_s = time.monotonic() - started
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=60_000)
    drawn_s = time.monotonic() - started
    page.wait_for_timeout(1500)  # what is still arriving after usable (tiles, late loads)
    total = sum(sizes.values())
    markers = page.evaluate("() => document.querySelectorAll('.gm-dot, .marker-cluster').length")
    context.close()
    by_kind: dict[str, float] = {}
    for request_id, size in sizes.items():
        kind = _kind(urls.get(request_id, ""))
        by_kind[kind] = by_kind.get(kind, 0.0) + size
    return {
        "usable_s": usable_s,
        "drawn_s": drawn_s,
        "mb": total / 1e6,
        "requests": len(sizes),
        "markers": markers,
        **{f"kb:{k}": v / 1e3 for k, v in by_kind.items()},
    }


def _kind(url: str) -> str:
    """What a request was for, by its path: the events list, tiles, scripts, …"""
    path = urlsplit(url).path
    for prefix in ("/api/events", "/api/queues", "/api/tiles", "/tiles", "/static", "/api"):
        if path.startswith(prefix):
            return prefix
    return path if path.count("/") <= 1 else "/" + path.split("/")[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="+", help="label=URL of a running gridmap service")
    parser.add_argument("--user", required=True)
    parser.add_argument(
        "--password",
        required=True,
        action="append",
        help="the user's password; once per target when the services' databases differ",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--at",
        help="open at this view, zoom/lat/lon (the page's #map=…; a build before the view "
        "was kept in the address opens on the user's whole area instead)",
    )
    parser.add_argument(
        "--detail", action="store_true", help="also print the transfer by kind of request"
    )
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        passwords = args.password * len(args.targets) if len(args.password) == 1 else args.password
        for target, password in zip(args.targets, passwords, strict=True):
            label, _, url = target.partition("=")
            runs = [measure(browser, url, args.user, password, args.at) for _ in range(args.runs)]
            mb = statistics.median(r["mb"] for r in runs)
            usable = statistics.median(r["usable_s"] for r in runs)
            drawn = statistics.median(r["drawn_s"] for r in runs)
            print(
                f"{label:8s} transfer {mb:6.2f} MB  usable {usable:5.2f} s  all drawn "
                f"{drawn:5.2f} s (medians of {len(runs)}); runs: "
                + ", ".join(
                    f"{r['mb']:.2f} MB/{r['usable_s']:.2f}|{r['drawn_s']:.2f} s"
                    f"/{r['requests']:.0f} req"
                    f"/{r['markers']:.0f} markers"
                    for r in runs
                )
            )
            if args.detail:
                kinds = sorted({k for r in runs for k in r if k.startswith("kb:")})
                print(
                    "         by path (median kB): "
                    + ", ".join(
                        f"{k[3:]} {statistics.median(r.get(k, 0.0) for r in runs):.1f}"
                        for k in sorted(kinds, key=lambda k: -max(r.get(k, 0.0) for r in runs))
                    )
                )
        browser.close()


if __name__ == "__main__":
    main()
