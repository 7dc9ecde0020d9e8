"""The basemap: import from the Monaco OSM extract and from a GCJ-02 GeoPackage, tiles
holding roads, buildings and names, labels, zoom rules (issue #19)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geodata.basemap import import_basemap_file, read_basemap
from geodata.monaco import DEFAULT_PBF
from gridmap.boundaries import basemap
from gridmap.crs import wgs84_to_gcj02
from gridmap.errors import InvalidInput


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_zoom_rules_keep_small_things_for_street_zoom() -> None:
    assert basemap.feature_min_zoom("road", "trunk") == 8
    assert basemap.feature_min_zoom("road", "footway") == basemap.ROAD_DEFAULT_MIN_ZOOM
    assert basemap.feature_min_zoom("building", "yes") == 15
    assert basemap.feature_min_zoom("water", "water", 5e6) == 8
    assert basemap.feature_min_zoom("water", "water", 100.0) == 12
    assert basemap.format_address({"road": "建设路", "number": "12"}) == "建设路12号"
    assert basemap.format_address({"community": "东城社区", "building_no": "3"}) == "东城社区3号楼"
    assert basemap.format_address({"community": "北王村", "village_group": "二"}) == "北王村二组"


def test_monaco_import_serves_roads_buildings_and_names_in_tiles(session: Session) -> None:
    report, data = import_basemap_file(session, DEFAULT_PBF, county_code="MC")
    session.commit()
    assert report.counts["road"] > 1000 and report.counts["building"] > 800
    assert report.counts["place"] >= 5 and report.counts["addresses"] > 100
    assert data.repaired or data.skipped is not None  # broken OSM geometry is listed, not fatal
    x, y = _tile_of(7.4246, 43.7384, 16)  # La Condamine, the harbour
    raw = basemap.tile(session, z=16, x=x, y=y, cache=None)
    decoded = mapbox_vector_tile.decode(raw)
    assert {"road", "building"} <= set(decoded)
    names = {f["properties"].get("name") for f in decoded["road"]["features"]}
    assert any(n for n in names), "road names travel in the tile"
    # Zoom rules: no building at zoom 12, roads still there.
    x12, y12 = _tile_of(7.4246, 43.7384, 12)
    low = mapbox_vector_tile.decode(basemap.tile(session, z=12, x=x12, y=y12, cache=None))
    assert "building" not in low and "road" in low
    session.commit()
    # Stored for other workers, under the current revision.
    stored = session.execute(text("SELECT count(*) FROM basemap_tile")).scalar_one()
    assert stored >= 2
    # Labels: place names of the view.
    found = basemap.labels(session, bbox=(7.40, 43.72, 7.44, 43.76), z=14)
    assert {"Monaco-Ville", "La Condamine"} <= {lbl["name"] for lbl in found}
    # A re-import replaces, and a new revision keys new tiles.
    again, _ = import_basemap_file(session, DEFAULT_PBF, county_code="MC")
    assert again.revision > report.revision and again.replaced == sum(
        v for k, v in report.counts.items() if k != "addresses"
    )


def test_gcj02_geopackage_import_lands_in_wgs84(session: Session, tmp_path: Path) -> None:
    # A road and a building of Gaoping, written in GCJ-02 as Amap-derived data is.
    road = shapely.LineString([(112.92, 35.79), (112.93, 35.80)])
    house = shapely.box(112.9250, 35.7950, 112.9252, 35.7952)

    def to_gcj(g: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(g, lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1])))

    path = tmp_path / "survey.gpkg"
    gpd.GeoDataFrame({"name": ["建设路"], "kind": ["primary"]}, geometry=[to_gcj(road)]).to_file(
        path, layer="道路"
    )
    gpd.GeoDataFrame(
        {"name": ["x"], "road": ["建设路"], "number": ["12"]}, geometry=[to_gcj(house)]
    ).to_file(path, layer="buildings")
    data = read_basemap(path, crs="gcj02")
    got_road = data.features[data.features.layer == "road"].geometry.iloc[0]
    assert shapely.hausdorff_distance(got_road, road) < 1e-6  # back on WGS84 within ~0.1 m
    assert any(a["full_text"] == "建设路12号" for a in data.addresses)
    report, _ = import_basemap_file(session, path, county_code="140581", crs="gcj02")
    assert report.counts["road"] == 1 and report.counts["building"] == 1


def test_no_basemap_is_an_empty_tile(session: Session) -> None:
    assert basemap.tile(session, z=10, x=1, y=1, cache=None) == b""
    with pytest.raises(InvalidInput):
        basemap.tile(session, z=3, x=99, y=0, cache=None)


def test_the_cli_imports_a_basemap_and_prerenders_it(db_url: str, tmp_path: Path) -> None:
    from tests.test_boundaries_cli import gridmap

    done = gridmap(
        db_url, tmp_path, "basemap", "import", str(DEFAULT_PBF), "--county", "MC", "--json"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["counts"]["road"] > 1000 and report["prerendered_tiles"] > 0
    missing = gridmap(db_url, tmp_path, "basemap", "import", "nowhere.pbf", "--county", "MC")
    assert missing.returncode != 0 and "nowhere.pbf" in missing.stdout + missing.stderr
