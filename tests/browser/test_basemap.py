"""The county's own basemap in a real browser: roads and buildings drawn from gridmap's
basemap tiles under the grids, Chinese labels of roads, villages and gridmap's own
townships, the attribution line (synthetic, or the data's source), on the command view
and on the grid worker's phone page — there only once the page is usable — and not one
request to another host (issue #19)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pytest
import shapely

from gridmap.boundaries import basemap
from tests.browser.conftest import Service, WatchedPage
from tests.browser.test_command_view import call, open_page
from tests.browser.test_phone import HERE, Phone, phone_service  # noqa: F401 (a fixture)
from tests.factories import COUNTY, G1, SmallCounty


def _load_basemap(service: Service) -> None:
    with service.sessions() as session:
        basemap.store_basemap(
            session,
            county_code="990101",
            features=[
                {
                    "layer": "road",
                    "kind": "primary",
                    "name": "建设路",
                    "geometry": shapely.LineString([(112.905, 35.800), (112.935, 35.800)]),
                },
                {
                    "layer": "road",
                    "kind": "residential",
                    "name": "长平路",
                    "geometry": shapely.LineString([(112.915, 35.790), (112.915, 35.810)]),
                },
                {
                    "layer": "building",
                    "kind": "yes",
                    "geometry": shapely.box(112.9160, 35.8010, 112.9165, 35.8014),
                },
                {
                    "layer": "water",
                    "kind": "river",
                    "name": "丹河",
                    "geometry": shapely.LineString([(112.905, 35.795), (112.935, 35.797)]),
                },
                {
                    "layer": "place",
                    "kind": "village",
                    "name": "北王村",
                    "geometry": shapely.Point(112.918, 35.803),
                },
            ],
            addresses=[],
            source="test",
            synthetic=True,
        )
        session.commit()


@pytest.mark.browser
def test_street_zoom_shows_roads_buildings_and_chinese_names_from_this_host_only(
    service: Service, watched: WatchedPage
) -> None:
    _load_basemap(service)
    open_page(watched, f"{service.url}/")
    page: Any = watched.page
    page.evaluate(
        """() => {
            const cfg = JSON.parse(document.getElementById("gm-config").textContent);
            window[cfg.mapName].setView([35.8005, 112.9160], 16, {animate: false});
        }"""
    )
    # Roads and the building, drawn as SVG paths in the basemap's pane.
    page.wait_for_function(
        "() => document.querySelectorAll('.leaflet-gm-basemap-pane path').length >= 3",
        timeout=20_000,
    )
    labels = page.locator(".gm-bm-label")
    page.wait_for_function(
        """() => {
            const names = [...document.querySelectorAll('.gm-bm-label')].map((n) => n.textContent);
            return ['建设路', '长平路', '北王村', '西镇'].every((n) => names.includes(n));
        }""",
        timeout=20_000,
    )
    assert labels.count() >= 4
    # The basemap is synthetic: the map says so, in the page's language (item 2).
    page.wait_for_function(
        """() => (document.querySelector('.leaflet-control-attribution') || {})
                    .textContent?.includes('示意底图（合成数据）')""",
        timeout=20_000,
    )
    watched.screenshot("command_view_basemap")
    own = urlsplit(service.url).netloc
    assert watched.hosts == {own}, watched.hosts
    assert watched.console_errors == []


@pytest.mark.browser
def test_an_address_in_triage_is_placed_with_one_click_on_its_candidate(
    service: Service, watched: WatchedPage
) -> None:
    lon, lat = SmallCounty.grid_center(G1)
    road = shapely.LineString([(lon - 0.004, lat), (lon + 0.004, lat)])
    with service.sessions() as session:
        basemap.store_basemap(
            session,
            county_code=COUNTY,
            features=[{"layer": "road", "kind": "primary", "name": "解放路", "geometry": road}],
            addresses=[{"kind": "road", "full_text": "解放路", "road": "解放路", "geometry": road}],
            source="test register",
        )
        session.commit()
    answer = call(
        service,
        "POST",
        "/api/events",
        {
            "source": "12345",
            "external_id": "browser-address-only",
            "category": "ROAD",
            "description": "路灯不亮",
            "address": "解放路附近",
            "county": COUNTY,
            "reported_at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )
    assert answer["unassigned"] is True  # a road alone is below the auto-place line
    open_page(watched, f"{service.url}/")
    page: Any = watched.page
    button = page.locator(f'#gm-triage-list li[data-event-id="{answer["id"]}"] .gm-candidate')
    button.first.wait_for(timeout=20_000)
    assert "解放路" in button.first.inner_text()
    button.first.click()
    page.wait_for_selector(
        f'#gm-triage-list li[data-event-id="{answer["id"]}"]', state="detached", timeout=20_000
    )
    placed = call(service, "GET", f"/api/events/{answer['id']}")
    props = placed.get("properties", placed)
    assert props["grid_code"] == G1
    assert watched.console_errors == []


# Set before the page's own scripts: whether the page had said it was usable
# (body[data-ready]) when each basemap resource was asked for — its plugin and label
# styles (added to <head>), its tiles and labels (fetched).
READY_WATCH = """
window.__basemapAsks = [];
const basemapPart = (url) =>
  ['/tiles/basemap/', 'VectorGrid', 'basemap.css'].some((part) => String(url).includes(part));
const readyNow = () => Boolean(document.body && document.body.dataset.ready === '1');
const pageFetch = window.fetch;
window.fetch = function (input, init) {
  const url = typeof input === 'string' ? input : input.url;
  if (basemapPart(url)) window.__basemapAsks.push([String(url), readyNow()]);
  return pageFetch.call(this, input, init);
};
const append = Node.prototype.appendChild;
Node.prototype.appendChild = function (node) {
  const url = node && (node.src || node.href);
  if (url && basemapPart(url)) window.__basemapAsks.push([String(url), readyNow()]);
  return append.call(this, node);
};
"""


@pytest.mark.browser
def test_the_phone_draws_the_basemap_once_usable_with_its_attribution(
    browser: Any,
    phone_service: Service,  # noqa: F811
) -> None:
    lon, lat = HERE
    with phone_service.sessions() as session:
        basemap.store_basemap(
            session,
            county_code=COUNTY,
            features=[
                {
                    "layer": "road",
                    "kind": "primary",
                    "name": "幸福路",
                    "geometry": shapely.LineString([(lon - 0.01, lat), (lon + 0.01, lat)]),
                },
                {
                    "layer": "building",
                    "kind": "yes",
                    "geometry": shapely.box(lon + 0.0003, lat + 0.0003, lon + 0.0008, lat + 0.0007),
                },
            ],
            addresses=[],
            source="synthetic: test",
            synthetic=True,
        )
        session.commit()
    phone = Phone(browser, phone_service)
    hosts: set[str] = set()
    phone.page.on("request", lambda req: hosts.add(urlsplit(req.url).netloc))
    phone.context.add_init_script(READY_WATCH)
    try:
        phone.login()
        page: Any = phone.page
        # The road and the building, drawn in the basemap's pane of the phone's map.
        page.wait_for_function(
            "() => document.querySelectorAll('#ph-map .leaflet-gm-basemap-pane path').length >= 1",
            timeout=30_000,
        )
        page.wait_for_function(
            """() => (document.querySelector('#ph-map .leaflet-control-attribution') || {})
                        .textContent?.includes('示意底图（合成数据）')""",
            timeout=20_000,
        )
        # Nothing of the basemap was asked before the page was usable: not its plugin,
        # not a tile, not its labels (the first load's weight stays the page's own).
        asks = page.evaluate("() => window.__basemapAsks")
        assert any("/tiles/basemap/" in url and url.endswith(".pbf") for url, _ in asks), asks
        assert any("VectorGrid" in url for url, _ in asks), asks
        assert [url for url, ready in asks if not ready] == [], asks
        assert hosts == {urlsplit(phone_service.url).netloc}, hosts
        assert phone.errors == []
    finally:
        phone.close()
