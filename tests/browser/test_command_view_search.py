"""The command view's search box, in a real browser: an operator types a grid code, a team
or an event number, picks a result, and the map flies there and outlines it; grids served as
vector tiles are found too, coloured by their open events, and cached by version."""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.request
from typing import Any

import pytest

from gridmap.boundaries import activation
from gridmap.boundaries import versions as boundaries
from tests.browser.conftest import Service, WatchedPage
from tests.browser.test_command_view import MAP_VIEW, open_page, post_event
from tests.factories import C3, COUNTY, G1, GRIDS, area_rows
from web_map.command_view import build_command_view

EAST_GRID = f"{C3}001"  # 第5网格, in the east township
_, EAST_WEST, EAST_SOUTH = GRIDS[EAST_GRID]


def _results(page: Any, kind: str) -> Any:
    return page.locator(f"#gm-search-results .gm-result[data-kind={kind}]")


def _type(page: Any, text: str) -> None:
    """Type as an operator does: key by key, no Enter (the page searches as one types)."""
    page.fill("#gm-search-input", "")
    page.type("#gm-search-input", text, delay=20)


@pytest.mark.browser
def test_typing_a_grid_code_and_picking_it_flies_there_and_outlines_it(
    service: Service, watched: WatchedPage
) -> None:
    open_page(watched, f"{service.url}/")
    page: Any = watched.page
    before = page.evaluate(MAP_VIEW)
    _type(page, C3)  # a community's code: the beginning of its grids' codes
    grid = _results(page, "area").filter(has_text="第5网格")
    grid.wait_for(timeout=10_000)
    # The community itself is listed before its grids.
    labels = _results(page, "area").all_inner_texts()
    assert "东南社区" in labels[0], labels
    grid.click()
    page.wait_for_selector(f'.leaflet-gm-found-pane[data-found="area:{EAST_GRID}"] path')
    page.wait_for_function(
        f"""() => {{
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            const c = window[cfg.mapName].getCenter();
            return Math.abs(c.lng - {EAST_WEST + 0.005}) < 0.002
                && Math.abs(c.lat - {EAST_SOUTH + 0.01}) < 0.002;
        }}""",
        timeout=10_000,
    )
    after = page.evaluate(MAP_VIEW)
    assert after["zoom"] > before["zoom"]
    panel = page.locator("#gm-panel .gm-found-area")
    assert panel.get_attribute("data-code") == EAST_GRID
    assert "第5网格" in panel.inner_text()
    watched.screenshot("command_view_search_grid")
    assert watched.console_errors == []


@pytest.mark.browser
def test_an_event_number_opens_the_event_and_a_team_shows_its_department(
    service: Service, watched: WatchedPage
) -> None:
    event_id = post_event(service, grid=G1, description="井盖缺失")
    open_page(watched, f"{service.url}/?lang=en")
    page: Any = watched.page
    _type(page, f"#{event_id}")
    _results(page, "event").first.click()
    page.wait_for_selector(f'#gm-panel .gm-event[data-event-id="{event_id}"]')

    _type(page, "消防")
    _results(page, "team").first.click()
    team = page.locator("#gm-panel .gm-found-team")
    team.wait_for()
    assert team.get_attribute("data-code") == "D-XF"
    assert "消防救援大队" in team.inner_text() and "Department" in team.inner_text()
    assert watched.console_errors == []


def _health_version(service: Service) -> int:
    with urllib.request.urlopen(f"{service.url}/health", timeout=10) as res:
        return int(json.loads(res.read())["active_version"]["id"])


@pytest.mark.browser
def test_tiled_grids_are_found_coloured_by_open_events_and_carry_the_version(
    service: Service, watched: WatchedPage
) -> None:
    page: Any = watched.page

    # A county too big for GeoJSON, played by the small county: the page is told to take
    # at most two features of a layer as GeoJSON, so its eight grids come as vector tiles.
    def fewer_geojson(route: Any) -> None:
        response = route.fetch()
        body = response.text()
        assert '"geojsonMaxFeatures": 3000' in body
        route.fulfill(
            response=response,
            body=body.replace('"geojsonMaxFeatures": 3000', '"geojsonMaxFeatures": 2'),
        )

    page.route(f"{service.url}/", fewer_geojson)
    tile_urls: list[str] = []
    page.on("request", lambda r: tile_urls.append(r.url) if "/tiles/grid/" in r.url else None)
    post_event(service, grid=EAST_GRID, description="路灯不亮")
    open_page(watched, f"{service.url}/")
    _type(page, EAST_GRID)
    _results(page, "area").filter(has_text="第5网格").first.click()
    page.wait_for_selector(f'.leaflet-gm-found-pane[data-found="area:{EAST_GRID}"] path')
    # The grid tiles in view are drawn, and the grid with an open event is filled yellow.
    page.wait_for_function(
        """() => [...document.querySelectorAll('.leaflet-gm-grid-pane path')]
                 .some((p) => p.getAttribute('fill') === '#facc15')""",
        timeout=15_000,
    )
    version = _health_version(service)
    assert tile_urls, "grids should come as vector tiles"
    assert all(url.endswith(f".pbf?v={version}") for url in tile_urls), tile_urls[:3]
    watched.screenshot("command_view_search_tiled")

    # A planner publishes a new version (one grid renamed): the open page hears it on the
    # live stream and asks for the new version's tiles, without a reload.
    tile_urls.clear()
    with service.sessions() as s:
        draft = boundaries.create_version(s, name="rename", created_by="test", county_code=COUNTY)
        renamed = next(r for r in area_rows() if r.code == EAST_GRID)
        boundaries.stage_areas(
            s, version_id=draft.id, rows=[dataclasses.replace(renamed, name="第5网格（新）")]
        )
        activation.activate_version(s, version_id=draft.id, activated_by="test")
        s.commit()
    # Watched through the requests themselves: the page's resource-timing buffer (250
    # entries) is full of basemap tiles by now and records nothing more.
    deadline = time.monotonic() + 15
    while not any(url.endswith(f"?v={draft.id}") for url in tile_urls):
        assert time.monotonic() < deadline, f"no tile of version {draft.id}: {tile_urls[-3:]}"
        page.wait_for_timeout(100)
    # Once the new version is heard, no tile of the old one is asked for.
    first_new = next(i for i, url in enumerate(tile_urls) if url.endswith(f"?v={draft.id}"))
    assert all(url.endswith(f".pbf?v={draft.id}") for url in tile_urls[first_new:])
    assert watched.console_errors == []


def test_the_page_config_carries_the_boundary_version_its_tiles_ask_for() -> None:
    page = build_command_view(version=7)
    config = json.loads(page.split('id="gm-config">', 1)[1].split("</script>", 1)[0])
    assert config["version"] == 7
    assert (
        json.loads(build_command_view().split('id="gm-config">', 1)[1].split("</script>", 1)[0])[
            "version"
        ]
        is None
    )
