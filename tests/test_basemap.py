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


def test_each_zoom_has_its_own_statement_reading_only_the_layers_it_can_show(
    session: Session,
) -> None:
    # The zoom is written in, so a generic plan (psycopg prepares a statement after a few
    # runs) still knows it: with it a parameter, a county-wide z8 tile scanned every
    # building (126 ms, bench/tiles.py) though no building is drawn below zoom 15.
    assert "'building'" not in basemap.tile_sql(14) and "'building'" in basemap.tile_sql(15)
    assert "'poi'" not in basemap.tile_sql(15) and "'poi'" in basemap.tile_sql(16)
    assert "'road'" in basemap.tile_sql(8) and ":z" not in basemap.tile_sql(12)
    assert basemap.tile_sql(3) == "SELECT ''::bytea"
    # An empty tile is kept too: asked again, it is a key look-up, not a query.
    basemap.store_basemap(
        session,
        county_code="140581",
        features=[
            {
                "layer": "building",
                "kind": "yes",
                "geometry": shapely.box(112.9250, 35.7950, 112.9252, 35.7952),
            }
        ],
        addresses=[],
        source="test",
    )
    x, y = _tile_of(112.9251, 35.7951, 12)
    assert basemap.tile(session, z=12, x=x, y=y, cache=None) == b""
    stored = session.execute(
        text("SELECT data FROM basemap_tile WHERE z = 12 AND x = :x AND y = :y"), {"x": x, "y": y}
    ).scalar_one()
    assert bytes(stored) == b""


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


# --- whose data: the attribution line (item 2) ----------------------------------------------


def test_each_import_says_whose_data_it_is(session: Session, tmp_path: Path) -> None:
    # Real data: the OSM extract carries OpenStreetMap's line (the ODbL requires it).
    import_basemap_file(session, DEFAULT_PBF, county_code="MC")
    # Synthetic data: labelled as such, in the reader's language, whatever it was given.
    basemap.store_basemap(
        session,
        county_code="140581",
        features=[
            {
                "layer": "road",
                "kind": "primary",
                "name": "建设路",
                "geometry": shapely.LineString([(112.92, 35.79), (112.93, 35.80)]),
            }
        ],
        addresses=[],
        source="synthetic: test",
        synthetic=True,
        attribution="anything",
    )
    # A county's own GeoPackage: no line unless the import names one.
    path = tmp_path / "survey.gpkg"
    gpd.GeoDataFrame(
        {"name": ["长平路"], "kind": ["primary"]},
        geometry=[shapely.LineString([(113.0, 36.0), (113.01, 36.01)])],
        crs="EPSG:4326",
    ).to_file(path, layer="roads")
    import_basemap_file(session, path, county_code="990101")
    session.commit()
    zh = {s["county"]: s for s in basemap.sources(session, lang="zh-CN")}
    en = {s["county"]: s for s in basemap.sources(session, lang="en")}
    assert zh["MC"]["attribution"] == en["MC"]["attribution"] == "© OpenStreetMap contributors"
    assert zh["MC"]["synthetic"] is False
    assert zh["140581"]["attribution"] == "示意底图（合成数据）" and zh["140581"]["synthetic"]
    assert en["140581"]["attribution"] == "Synthetic basemap (demo data)"
    assert zh["990101"]["attribution"] is None
    w, s, e, n = zh["MC"]["bbox"]
    assert w < 7.4246 < e and s < 43.7384 < n  # the extent the map matches its view with
    # Named at import, it is stored and said as given; a later import replaces it.
    import_basemap_file(session, path, county_code="990101", attribution="某县自然资源局 2026")
    session.commit()
    again = {s["county"]: s for s in basemap.sources(session)}
    assert again["990101"]["attribution"] == "某县自然资源局 2026"


def test_the_sources_endpoint_speaks_the_callers_language(db_url: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from gridmap.db import make_engine, session_factory
    from gridmap.settings import Settings

    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        basemap.store_basemap(
            session,
            county_code="140581",
            features=[
                {
                    "layer": "road",
                    "kind": "primary",
                    "geometry": shapely.LineString([(112.92, 35.79), (112.93, 35.80)]),
                }
            ],
            addresses=[],
            source="synthetic: test",
            synthetic=True,
        )
        session.commit()
    engine.dispose()
    with TestClient(create_app(Settings(database_url=db_url, home=tmp_path))) as client:
        zh = client.get("/tiles/basemap/sources.json").json()["sources"]
        en = client.get("/tiles/basemap/sources.json?lang=en").json()["sources"]
    assert [s["attribution"] for s in zh] == ["示意底图（合成数据）"]
    assert [s["attribution"] for s in en] == ["Synthetic basemap (demo data)"]


def test_the_basemap_script_loads_the_vectorgrid_the_pages_serve() -> None:
    from web_map.assets import LOCAL_JS, STATIC_DIR

    script = (STATIC_DIR / "js" / "basemap.js").read_text(encoding="utf-8")
    assert f'"{LOCAL_JS["vectorGrid"]}"' in script  # the phone page loads it on demand


# --- addresses from a county's buildings file (item 3) -------------------------------------


def test_a_buildings_table_gives_the_register_its_addresses_by_the_column_rule(
    tmp_path: Path,
) -> None:
    from geodata.county_buildings import read_buildings

    x, y = 112.93, 35.79
    squares = [shapely.box(x + i * 0.001, y, x + i * 0.001 + 0.0002, y + 0.0002) for i in range(5)]
    frame = gpd.GeoDataFrame(
        {
            "路名": ["建设路", None, None, "建设路", None],
            "门牌号": ["12", None, None, None, None],  # the 4th: a road without a number
            "社区": [None, "东城社区", "北王村", None, None],
            "楼号": [None, "3", None, None, None],
            "村民小组": [None, None, "二", None, None],
            "households": [4, 20, 1, 2, 3],
        },
        geometry=squares,
        crs="EPSG:4326",
    )
    path = tmp_path / "buildings.gpkg"
    frame.to_file(path, driver="GPKG")
    found = read_buildings(path, outline=shapely.box(x - 0.01, y - 0.01, x + 0.01, y + 0.01))
    texts = sorted(a["full_text"] for a in found.addresses)
    assert texts == ["东城社区3号楼", "北王村二组", "建设路12号"]
    house = next(a for a in found.addresses if a["full_text"] == "建设路12号")
    assert shapely.contains(squares[0], house["geometry"])
    assert found.to_json()["addresses"] == 3
    # No address column: no addresses, and nothing else changes.
    plain = tmp_path / "plain.gpkg"
    frame[["households", "geometry"]].to_file(plain, driver="GPKG")
    bare = read_buildings(plain, outline=shapely.box(x - 0.01, y - 0.01, x + 0.01, y + 0.01))
    assert bare.addresses == [] and len(bare.rows.codes) == 5


def test_county_buildings_loads_osm_addresses_into_the_register(
    db_url: str, tmp_path: Path
) -> None:
    """`gridmap county buildings` on an OSM extract whose buildings carry addr:street and
    addr:housenumber: the register gets them (geocodable at once), a basemap import
    afterwards keeps them, and a dry run stores nothing."""
    from typer.testing import CliRunner

    from gridmap.db import make_engine, session_factory
    from gridmap.routing import geocode
    from gridmap_cli.main import app
    from tests.osm_files import write_osm_pbf

    x, y, d = 112.93, 35.79, 0.0002
    nodes = [
        (1, x, y), (2, x + d, y), (3, x + d, y + d), (4, x, y + d),
        (5, x + 0.001, y), (6, x + 0.001 + d, y), (7, x + 0.001 + d, y + d), (8, x + 0.001, y + d),
    ]  # fmt: skip
    address = {"building": "yes", "addr:street": "建设路", "addr:housenumber": "12"}
    ways = [(100, [1, 2, 3, 4, 1], address), (101, [5, 6, 7, 8, 5], {"building": "house"})]
    pbf = write_osm_pbf(tmp_path / "houses.osm.pbf", nodes, ways)
    outline = tmp_path / "o.geojson"
    outline.write_text(shapely.to_geojson(shapely.box(x - 0.01, y - 0.01, x + 0.01, y + 0.01)))
    env = {"GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(tmp_path / "home")}

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    county = "990301"
    init = ("county", "init", county, "--name", "测试县", "--outline", str(outline))
    run(*init, "--crs", "wgs84", "--commit")
    engine = make_engine(db_url)

    def register() -> list[tuple[str, str]]:
        with engine.connect() as conn:
            return [
                (r[0], r[1])
                for r in conn.execute(
                    text(
                        "SELECT full_text, origin FROM address_entry WHERE county_code = :c "
                        "ORDER BY full_text"
                    ),
                    {"c": county},
                )
            ]

    dry = json.loads(run("county", "buildings", str(pbf), "--county", county, "--json"))
    assert dry["addresses"] == 1 and dry["addresses_registered"] == 0 and register() == []
    done = run("county", "buildings", str(pbf), "--county", county, "--commit")
    assert "address register: 1 building addresses stored" in done, done
    assert register() == [("建设路12号", "buildings")]
    with session_factory(engine)() as session:
        found = geocode.geocode(session, "建设路12号", county_code=county)
        assert found.best is not None and found.best.matched == "建设路12号"
        assert abs(found.best.lon - (x + d / 2)) < 1e-4 and abs(found.best.lat - (y + d / 2)) < 1e-4
        # A basemap import replaces its own entries, not the buildings file's.
        basemap.store_basemap(
            session,
            county_code=county,
            features=[],
            addresses=[
                {
                    "kind": "poi",
                    "full_text": "城关小学",
                    "name": "城关小学",
                    "geometry": shapely.Point(x, y),
                }
            ],
            source="test",
        )
        session.commit()
    assert register() == [("城关小学", "basemap"), ("建设路12号", "buildings")]
    engine.dispose()
