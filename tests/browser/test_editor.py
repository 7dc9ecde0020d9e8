"""The boundary editor, as a county planner uses it in a real browser on the Gaoping demo:
log in, open a village, split its overfull grid with a line drawn by mouse, see both new
grids within 30-50 households and the checks, publish with a reason, and find the new grid
and the re-routed event on the command view."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString
from shapely.ops import split
from sqlalchemy import text

from gridmap.access.accounts import create_token
from tests.browser.conftest import Service, WatchedPage, add_user
from tests.browser.test_command_view import click_map_at
from web_map.editor import EDITOR_LABELS, build_editor

PLANNER, PASSWORD = "planner-li", "gaoping-planner-2026"
COUNTY = "140581"  # 高平市
LOW, HIGH = 30, 50


@dataclass
class Overfull:
    """A village grid whose households were just re-surveyed past 50, and where to cut it."""

    code: str
    community: str
    households: int
    cut_lon: float
    south: float
    north: float
    west_point: tuple[float, float]  # a house west of the cut
    east_point: tuple[float, float]  # a house east of the cut


def make_a_grid_overfull(service: Service) -> Overfull:
    """A re-survey finds two households in every house of one village grid (the story's
    overfull grid), so it holds 70-90. The cut is the north-south line with half the
    households on each side, in a grid that line splits into exactly two pieces."""
    with service.sessions() as s:
        grids = s.execute(
            text(
                "SELECT a.code, a.parent_code, ST_AsBinary(a.geom) AS wkb FROM area a "
                "WHERE a.layer = 'grid' AND a.kind = 'community' AND a.valid_to IS NULL "
                "AND a.households BETWEEN 36 AND 44 ORDER BY a.code"
            )
        ).all()
        for g in grids:
            geom = shapely.from_wkb(bytes(g.wkb))
            houses = s.execute(
                text(
                    "SELECT ST_X(point) AS x, ST_Y(point) AS y, households FROM building "
                    "WHERE households > 0 AND ST_Intersects(point, ST_GeomFromWKB(:w, 4326)) "
                    "ORDER BY x"
                ),
                {"w": bytes(g.wkb)},
            ).all()
            if len(houses) < 20 or max(h.households for h in houses) > 1:
                continue  # a village of one-household houses: any cut moves whole houses
            xs = np.array([h.x for h in houses])
            doubled = np.array([2 * h.households for h in houses])
            k = int(np.searchsorted(np.cumsum(doubled), doubled.sum() / 2))
            if k + 1 >= len(xs) or xs[k + 1] - xs[k] < 4e-5:
                continue  # no clear gap between houses (about 3 m) at the middle
            cut = float((xs[k] + xs[k + 1]) / 2)
            west = int(doubled[xs < cut].sum())
            east = int(doubled.sum()) - west
            _, south, _, north = geom.bounds
            pieces = split(geom, LineString([(cut, south - 1e-3), (cut, north + 1e-3)])).geoms
            if len(pieces) != 2 or not (LOW <= west <= HIGH and LOW <= east <= HIGH):
                continue
            s.execute(
                text(
                    "UPDATE building SET households = households * 2 "
                    "WHERE ST_Intersects(point, ST_GeomFromWKB(:w, 4326))"
                ),
                {"w": bytes(g.wkb)},
            )
            s.execute(
                text(
                    "UPDATE area SET households = :n WHERE layer = 'grid' AND code = :c "
                    "AND valid_to IS NULL"
                ),
                {"n": west + east, "c": g.code},
            )
            s.commit()
            west_house = houses[k - 2]
            east_house = houses[k + 3]
            return Overfull(
                code=g.code,
                community=g.parent_code,
                households=west + east,
                cut_lon=cut,
                south=south,
                north=north,
                west_point=(west_house.x + 1e-6, west_house.y),
                east_point=(east_house.x + 1e-6, east_house.y),
            )
    pytest.fail("the Gaoping demo has no village grid of 36-44 one-household houses to split")


def integration_token(service: Service) -> str:
    with service.sessions() as s:
        # The county's hotline: a token answers with the whole event only inside its areas.
        _, secret = create_token(s, name="hotline-12345", role="integration", area_codes=[COUNTY])
        s.commit()
    return secret


def post_event(service: Service, token: str, lon: float, lat: float, external_id: str) -> Any:
    body = {
        "source": "12345",
        "external_id": external_id,
        "category": "CG01",
        "description": "路灯不亮",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reported_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    request = urllib.request.Request(
        f"{service.url}/api/events",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=20) as res:
        return json.loads(res.read())


def log_in(w: WatchedPage, service: Service, *, next_path: str) -> None:
    page: Any = w.page
    page.goto(f"{service.url}{next_path}")
    assert "/login" in page.url, "an anonymous planner is sent to the login page first"
    page.fill("input[name=username]", PLANNER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{service.url}{next_path}*")


def screen_point(w: WatchedPage, lon: float, lat: float) -> tuple[float, float]:
    x, y = w.page.evaluate(  # type: ignore[attr-defined]
        """([lon, lat]) => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            const p = window[cfg.mapName].latLngToContainerPoint([lat, lon]);
            const box = document.querySelector(".folium-map").getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        [lon, lat],
    )
    return float(x), float(y)


def grid_labels(w: WatchedPage) -> dict[str, int]:
    """What the map's grid labels say: grid code → households."""
    found = w.page.evaluate(  # type: ignore[attr-defined]
        """() => [...document.querySelectorAll('.gm-label')].map(
            (e) => [e.dataset.code, Number(e.dataset.households)])"""
    )
    return {code: n for code, n in found}


def wait_idle(w: WatchedPage) -> None:
    w.page.wait_for_selector("body[data-busy=false]", state="attached", timeout=60_000)  # type: ignore[attr-defined]


# --- the page as built (no browser) ----------------------------------------------------


def test_the_editor_page_is_built_from_local_assets_only_in_both_languages() -> None:
    zh = build_editor(lang="zh", scope="<b>x</b>")
    en = build_editor(lang="en")
    assert "/static/vendor/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.js" in zh
    assert "unpkg.com" not in zh and "cdn.jsdelivr" not in zh
    assert "画线拆分" in zh and "Split with a line" in en
    assert "<b>x</b>" not in zh and "&lt;b&gt;x&lt;/b&gt;" in zh
    assert set(EDITOR_LABELS["zh"]) == set(EDITOR_LABELS["en"])


# --- the story in a browser ------------------------------------------------------------


@pytest.mark.browser
def test_a_planner_splits_an_overfull_village_grid_publishes_and_the_event_follows(
    gaoping_service: Service, watched: WatchedPage
) -> None:
    service = gaoping_service
    # A county planner: the whole county is the jurisdiction.
    add_user(service, username=PLANNER, role="planner", password=PASSWORD, areas=(COUNTY,))
    grid = make_a_grid_overfull(service)
    token = integration_token(service)
    events = {
        side: post_event(service, token, *point, external_id=f"12345-{side}")
        for side, point in (("west", grid.west_point), ("east", grid.east_point))
    }
    assert {e["grid_code"] for e in events.values()} == {grid.code}
    page: Any = watched.page

    # The planner logs in and opens the editor on the village.
    log_in(watched, service, next_path="/editor")
    watched.console_errors.clear()  # the login page is not the editor's (its favicon 404s)
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=60_000)
    page.fill("#gm-pick-input", grid.community)
    page.press("#gm-pick-input", "Enter")
    page.wait_for_selector("body[data-draft]", state="attached", timeout=60_000)
    wait_idle(watched)
    before = grid_labels(watched)
    assert before[grid.code] == grid.households > HIGH
    assert page.locator(f'.gm-label-bad[data-code="{grid.code}"]').count() == 1
    out_of_range = page.locator(
        f'#gm-problems li[data-kind="households_out_of_range"][data-code="{grid.code}"]'
    )
    assert out_of_range.count() == 1, "the overfull grid is listed among the checks"
    assert "户数超出范围" in out_of_range.inner_text(), "the kind of problem is said in Chinese"
    watched.screenshot("editor-1-overfull-grid")

    # Zoom to the grid, as the planner would, and draw the cut with the mouse.
    page.evaluate(
        """([w, s, e, n]) => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            window[cfg.mapName].fitBounds([[s, w], [n, e]], {animate: false});
        }""",
        [grid.cut_lon - 0.002, grid.south, grid.cut_lon + 0.002, grid.north],
    )
    page.click('.gm-tool[data-tool="split"]')
    # The edit's answer carries what the page redraws (grids, problems, diff, history):
    # the whole draft (every grid and building, validated again) is not fetched again.
    draft_fetches: list[str] = []
    page.on(
        "request",
        lambda r: (
            draft_fetches.append(r.url)
            if r.method == "GET" and re.search(r"/api/drafts/\d+$", r.url.split("?")[0])
            else None
        ),
    )
    margin = (grid.north - grid.south) * 0.04
    start = screen_point(watched, grid.cut_lon, grid.north + margin)
    end = screen_point(watched, grid.cut_lon, grid.south - margin)
    page.mouse.click(*start)
    page.mouse.move(*end, steps=5)
    page.mouse.click(*end)
    page.mouse.click(*end)  # clicking the last point again finishes the line
    try:
        page.wait_for_selector("body[data-edit-seq]", state="attached", timeout=60_000)
    except Exception as exc:
        watched.screenshot("editor-2-split-failed")
        toast = page.locator("#gm-toast").inner_text()
        raise AssertionError(f"no split: {toast!r}, console {watched.console_errors}") from exc
    wait_idle(watched)

    after = grid_labels(watched)
    new_codes = set(after) - set(before)
    assert len(new_codes) == 1, f"one new grid expected, labels now {after}"
    new_code = new_codes.pop()
    halves = {grid.code: after[grid.code], new_code: after[new_code]}
    assert all(LOW <= n <= HIGH for n in halves.values()), halves
    assert sum(halves.values()) == grid.households
    assert out_of_range.count() == 0, "the split grid is no longer out of range"
    diff = page.locator("#gm-diff")
    assert (diff.get_attribute("data-added"), diff.get_attribute("data-changed")) == ("1", "1")
    assert page.locator(f'#gm-diff li.gm-added[data-code="{new_code}"]').count() == 1
    assert page.locator("#gm-history li").count() >= 1, "the split is in the history"
    assert draft_fetches == []
    watched.screenshot("editor-2-split-into-two")

    # Publish with a reason; the editor lists the event that moved to the new grid.
    page.fill("#gm-reason", "二次入户核查后户数超过50户，按东西拆分")
    if page.locator("#gm-problems").get_attribute("data-errors") != "0":
        problems = page.locator("#gm-problems li.gm-error").all_inner_texts()
        pytest.fail(f"the village has other errors, the publish would be refused: {problems}")
    page.click("#gm-publish-button")
    page.wait_for_selector(".gm-published", timeout=60_000)
    rerouted = page.locator(".gm-rerouted").all()
    rerouted_ids = {int(r.get_attribute("data-event")) for r in rerouted}
    moved = [e for e in events.values() if e["id"] in rerouted_ids]
    assert len(moved) == 1, "exactly the event in the new grid's half is re-routed"
    watched.screenshot("editor-3-published")
    assert not watched.console_errors, watched.console_errors

    # The version history says who did it and why.
    versions = page.request.get(f"{service.url}/api/versions").json()["versions"]
    latest = max(versions, key=lambda v: v["id"])
    assert PLANNER in (latest["activated_by"] or "")
    assert latest["note"].startswith("二次入户核查")

    # The command view shows the two grids and the moved event's new team.
    answer = page.request.get(f"{service.url}/api/events/{moved[0]['id']}")
    assert answer.ok, answer.text()
    event = answer.json()
    assert event["grid_code"] == new_code
    assert event["team"]["code"] != moved[0]["team"]["code"]
    page.goto(f"{service.url}/")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=60_000)
    # "Who is responsible here?" on each side of the cut answers with its own grid.
    page.evaluate(
        """([w, s, e, n]) => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            window[cfg.mapName].fitBounds([[s, w], [n, e]], {animate: false});
        }""",
        [grid.cut_lon - 0.002, grid.south, grid.cut_lon + 0.002, grid.north],
    )
    answers = {}
    panel = page.locator("#gm-panel-body")
    for side, (lon, lat) in (("west", grid.west_point), ("east", grid.east_point)):
        before = panel.inner_text()
        view = click_map_at(watched, lon, lat - 2e-4)  # beside the event's marker
        try:
            # This click's answer, not the one before it still on the panel.
            page.wait_for_function(
                """([before, community]) => {
                    const t = document.getElementById("gm-panel-body").innerText;
                    return t !== before && t.includes(community);
                }""",
                arg=[before, grid.community],
                timeout=20_000,
            )
        except Exception as exc:
            watched.screenshot("editor-4-who-is-here-failed")
            raise AssertionError(
                f"no answer on the command view: {view}; the panel says {panel.inner_text()!r}"
            ) from exc
        answers[side] = {c for c in (grid.code, new_code) if c in panel.inner_text()}
    assert answers["west"] != answers["east"] and all(len(a) == 1 for a in answers.values()), (
        answers
    )
    assert answers["west"] | answers["east"] == {grid.code, new_code}
    watched.screenshot("editor-4-command-view-who-is-here")
    page.fill("#gm-search-input", f"#{event['id']}")
    page.press("#gm-search-input", "Enter")
    page.locator("#gm-search-results .gm-result").first.click()
    panel = page.locator("#gm-panel-body")
    panel.get_by_text(event["team"]["name"]).first.wait_for(timeout=20_000)
    watched.screenshot("editor-5-command-view-moved-event")


Pair = tuple[str, str, str, list[tuple[float, float]]]


def adjacent_pair(service: Service, township: str) -> Pair:
    """Two basic grids of one community that share an edge, both within 30-50 households:
    (community, code a, code b, a point inside each)."""
    with service.sessions() as s:
        row = s.execute(
            text(
                "SELECT a.parent_code, a.code AS a, b.code AS b, "
                "ST_X(ST_PointOnSurface(a.geom)) AS ax, ST_Y(ST_PointOnSurface(a.geom)) AS ay, "
                "ST_X(ST_PointOnSurface(b.geom)) AS bx, ST_Y(ST_PointOnSurface(b.geom)) AS by "
                "FROM area a JOIN area b ON a.parent_code = b.parent_code AND a.code < b.code "
                "WHERE a.layer = 'grid' AND b.layer = 'grid' AND a.valid_to IS NULL "
                "AND b.valid_to IS NULL AND a.kind = 'community' AND b.kind = 'community' "
                "AND a.households BETWEEN 30 AND 50 AND b.households BETWEEN 30 AND 50 "
                "AND a.parent_code LIKE :t "
                "AND ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))) > 0.002 "
                "ORDER BY a.code, b.code LIMIT 1"
            ),
            {"t": f"{township}%"},
        ).one()
    return row.parent_code, row.a, row.b, [(row.ax, row.ay), (row.bx, row.by)]


def api_as(service: Service, token: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{service.url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as res:
            return json.loads(res.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode()}") from exc


@pytest.mark.browser
def test_a_merge_by_clicks_undoes_and_a_later_publish_is_told_what_changed_and_rebases(
    gaoping_service: Service, watched: WatchedPage
) -> None:
    service = gaoping_service
    add_user(service, username="planner-zhao", role="planner", password=PASSWORD, areas=(COUNTY,))
    community, a, b, points = adjacent_pair(service, "140581002")
    page: Any = watched.page
    page.goto(f"{service.url}/editor?lang=en&scope={community}")
    page.fill("input[name=username]", "planner-zhao")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-draft]", state="attached", timeout=60_000)
    watched.console_errors.clear()  # the login page is not the editor's (its favicon 404s)
    wait_idle(watched)
    assert page.get_attribute("html", "lang") == "en"
    before = grid_labels(watched)
    assert {a, b} <= set(before)

    # Merge: click both grids, then "Merge these".
    page.evaluate(
        """(pts) => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            window[cfg.mapName].fitBounds(pts.map(([x, y]) => [y, x]), {padding: [200, 200],
                                                                          animate: false});
        }""",
        points,
    )
    page.click('.gm-tool[data-tool="merge"]')
    for lon, lat in points:
        page.mouse.click(*screen_point(watched, lon, lat))
    assert a in page.inner_text("#gm-hint") and b in page.inner_text("#gm-hint")
    page.click("#gm-merge-go")
    page.wait_for_selector("body[data-edit-seq]", state="attached", timeout=60_000)
    wait_idle(watched)
    merged = grid_labels(watched)
    assert a in merged and b not in merged
    assert merged[a] == before[a] + before[b]
    assert page.locator("#gm-diff").get_attribute("data-removed") == "1"
    watched.screenshot("editor-6-merged-en")

    # Undo brings both grids back; redo merges again.
    page.click("#gm-undo")
    page.wait_for_function(f"document.querySelector('.gm-label[data-code=\"{b}\"]') !== null")
    wait_idle(watched)
    assert grid_labels(watched) == before
    page.click("#gm-redo")
    page.wait_for_function(f"document.querySelector('.gm-label[data-code=\"{b}\"]') === null")
    wait_idle(watched)

    # Meanwhile another planner publishes a change to the same community.
    with service.sessions() as s:
        _, token = create_token(s, name="planner-sun", role="planner", area_codes=[COUNTY])
        s.commit()
    other = api_as(service, token, "POST", "/api/drafts", {"layer": "community", "code": community})
    draft = f"/api/drafts/{other['id']}"
    api_as(service, token, "POST", f"{draft}/edits", {"op": "merge", "codes": [a, b]})
    # The community already has grids out of range: both planners publish with an exception.
    accepted = {"reason": "先合并", "accept_problems": True}
    api_as(service, token, "POST", f"{draft}/publish", accepted)

    page.fill("#gm-reason", "merge two small grids")
    page.check("#gm-accept")
    page.click("#gm-publish-button")
    conflict = page.locator("#gm-conflict")
    conflict.wait_for(timeout=60_000)
    text_ = conflict.inner_text()
    assert "Someone published changes to this area first" in text_
    assert a in text_ and "planner-sun" in text_
    watched.screenshot("editor-7-conflict")
    page.click("#gm-rebase-mine")
    conflict.wait_for(state="hidden", timeout=60_000)
    wait_idle(watched)
    versions = page.request.get(f"{service.url}/api/versions").json()["versions"]
    latest = max(v["id"] for v in versions)
    assert f"based on version {latest}" in page.inner_text("#gm-draft-info")
    # Chromium logs the refused publish (409) itself; nothing else may go wrong on the page.
    unexpected = [e for e in watched.console_errors if "status of 409" not in e]
    assert not unexpected, unexpected
