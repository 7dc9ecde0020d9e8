"""The county's own basemap in a real browser: roads and buildings drawn from gridmap's
basemap tiles under the grids, Chinese labels of roads, villages and gridmap's own
townships, and not one request to another host (issue #19)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import shapely

from gridmap import basemap
from tests.browser.conftest import Service, WatchedPage
from tests.browser.test_command_view import open_page


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
    watched.screenshot("command_view_basemap")
    own = urlsplit(service.url).netloc
    assert watched.hosts == {own}, watched.hosts
    assert watched.console_errors == []
