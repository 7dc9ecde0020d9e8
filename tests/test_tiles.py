"""Vector tiles: a planner zooms in on the small county and sees the right layers, the right
attributes and, after publishing a new version, the new boundaries at once."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from gridmap.access import accounts
from gridmap.access import scope as area_scope
from gridmap.access.permissions import Jurisdiction
from gridmap.access.scope import AreaScope
from gridmap.boundaries import activation, tile_cache, tiles
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.versions import AreaRow
from gridmap.errors import InvalidInput, NotFound
from gridmap.settings import Settings
from tests import factories as f

WEST, SOUTH, EAST, NORTH = 112.90, 35.78, 112.94, 35.82
G2 = f"{f.C1}002"


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def tiles_over_county(z: int) -> list[tuple[int, int]]:
    x0, y0 = tile_xy(WEST, NORTH, z)
    x1, y1 = tile_xy(EAST, SOUTH, z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def to_lonlat(z: int, x: int, y: int, px: float, py: float) -> tuple[float, float]:
    """Tile units (y up, as the decoder gives them) back to lon/lat."""
    n = 1 << z
    lon = (x + px / tiles.EXTENT) / n * 360.0 - 180.0
    merc_y = y + 1 - py / tiles.EXTENT
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * merc_y / n))))
    return lon, lat


def decode(data: bytes, z: int, x: int, y: int) -> list[dict[str, Any]]:
    """Every feature of every layer in a tile, with its geometry in lon/lat."""
    out = []
    for name, layer in mapbox_vector_tile.decode(data).items():
        for feat in layer["features"]:
            geom = shapely.geometry.shape(feat["geometry"])
            geom = shapely.transform(
                geom,
                lambda c: np.array([to_lonlat(z, x, y, px, py) for px, py in c]),
            )
            out.append({"layer_name": name, "id": feat["id"], "geom": geom, **feat["properties"]})
    return out


def features_over_county(
    session: Session,
    layer: str,
    z: int,
    version_id: int,
    scope: AreaScope = area_scope.EVERYWHERE,
) -> dict[str, Any]:
    """The layer's features in every tile over the county, by code (clipped parts merged)."""
    found: dict[str, Any] = {}
    for x, y in tiles_over_county(z):
        data = tile_cache.tile(
            session, layer=layer, z=z, x=x, y=y, version_id=version_id, scope=scope
        )
        for feat in decode(data, z, x, y):
            if feat["code"] in found:
                feat["geom"] = found[feat["code"]]["geom"].union(feat["geom"])
            found[feat["code"]] = feat
    return found


@pytest.fixture
def db_url(small_county_db_url: str) -> str:
    """Every test here starts from a fresh copy of the loaded small county."""
    return small_county_db_url


@pytest.fixture
def county(session: Session) -> f.SmallCounty:
    active = boundaries.active_version(session)
    assert active is not None
    return f.SmallCounty(version_id=active.id)


def test_zoomed_in_grid_tiles_carry_each_grid_with_the_attributes_the_map_needs(
    session: Session, county: f.SmallCounty
) -> None:
    grids = features_over_county(session, "grid", 15, county.version_id)

    assert sorted(grids) == sorted(f.GRIDS)
    ids = {
        str(code): int(id_)
        for code, id_ in session.execute(text("SELECT code, id FROM area WHERE layer = 'grid'"))
    }
    g1 = grids[f.G1]
    assert g1["layer_name"] == "grid"
    assert g1["id"] == ids[f.G1]
    assert (g1["name"], g1["households"], g1["layer"], g1["parent_code"]) == (
        "第1网格",
        40,
        "grid",
        f.C1,
    )
    assert set(g1) == {
        "layer_name",
        "id",
        "geom",
        "code",
        "name",
        "households",
        "layer",
        "parent_code",
    }
    # The shape survives the trip to tile units and back, to within a tile unit (~1 m).
    west, south = f.GRIDS[f.G1][1:]
    assert g1["geom"].bounds == pytest.approx((west, south, west + 0.01, south + 0.02), abs=2e-5)


def test_each_zoom_shows_its_layers_grids_only_zoomed_in(
    session: Session, county: f.SmallCounty
) -> None:
    def codes(layer: str, z: int) -> set[str]:
        return set(features_over_county(session, layer, z, county.version_id))

    assert codes("grid", 12) == set()
    assert codes("grid", 13) == set(f.GRIDS)
    assert codes("dedicated_grid", 12) == set()
    assert codes("dedicated_grid", 16) == {f.SCHOOL}
    assert codes("community", 9) == set()
    assert codes("community", 10) == {f.C1, f.C2, f.C3, f.C4}
    # (At zoom 0 the whole county is under one tile unit: it vanishes, as it should.)
    for z in (5, 9, 12, 16):
        assert codes("township", z) == {f.T1, f.T2}
        assert codes("county", z) == {f.COUNTY}
        assert codes("enforcement_zone", z) == {f.ZONE_WEST, f.ZONE_EAST}
    # An empty tile is a valid, empty MVT.
    x, y = tile_xy(112.92, 35.80, 11)
    assert (
        tile_cache.tile(session, layer="grid", z=11, x=x, y=y, version_id=county.version_id) == b""
    )


def test_low_zoom_tiles_read_a_simplified_copy_of_every_layer_they_show(
    session: Session, county: f.SmallCounty
) -> None:
    stored = set(session.execute(text("SELECT layer, detail FROM area_tile")).all())
    layers = {layer for layer, _ in stored}
    needed = {
        (layer, tiles.detail_for(layer, z))
        for layer in layers
        for z in range(tiles.MAX_ZOOM + 1)
        if tiles.shown(layer, z)
    }
    assert needed == stored
    # A township at zoom 5 is drawn from a coarser copy than at zoom 16.
    points = {
        int(detail): int(n)
        for detail, n in session.execute(
            text(
                "SELECT detail, ST_NPoints(geom) FROM area_tile WHERE code = :c "
                "AND detail IN (5, 32)"
            ),
            {"c": f.T1},
        )
    }
    assert points[5] <= points[32]


def test_a_new_version_shows_its_geometry_and_the_old_version_keeps_its_own(
    session: Session, county: f.SmallCounty
) -> None:
    z = 15
    before = features_over_county(session, "grid", z, county.version_id)  # now cached

    # A planner moves the G1|G2 boundary from lon 112.910 east to 112.915.
    draft = boundaries.create_version(session, name="move G1", created_by="planner")
    rows = {r.code: r for r in f.area_rows()}
    g1, g2 = rows[f.G1], rows[G2]
    boundaries.stage_areas(
        session,
        version_id=draft.id,
        rows=[
            AreaRow(
                g1.county_code,
                "grid",
                g1.code,
                g1.name,
                box(112.90, 35.78, 112.915, 35.80),
                g1.parent_code,
                households=45,
            ),
            AreaRow(
                g2.county_code,
                "grid",
                g2.code,
                g2.name,
                box(112.915, 35.78, 112.92, 35.80),
                g2.parent_code,
                households=35,
            ),
        ],
    )
    with pytest.raises(NotFound, match="not published"):
        tile_cache.tile(session, layer="grid", z=z, x=0, y=0, version_id=draft.id)
    activation.activate_version(session, version_id=draft.id, activated_by="planner")
    session.commit()

    after = features_over_county(session, "grid", z, draft.id)
    assert after[f.G1]["geom"].bounds[2] == pytest.approx(112.915, abs=2e-5)
    assert after[f.G1]["households"] == 45
    assert after[G2]["geom"].bounds[0] == pytest.approx(112.915, abs=2e-5)
    assert after[f.G1]["id"] != before[f.G1]["id"]  # a new row of `area`
    # History stays answerable: the old version's tiles still show the old boundary.
    again = features_over_county(session, "grid", z, county.version_id)
    assert again[f.G1]["geom"].bounds[2] == pytest.approx(112.91, abs=2e-5)
    assert again[f.G1]["households"] == 40


WEST_GRIDS = {code for code, (community, _, _) in f.GRIDS.items() if community.startswith(f.T1)}


def test_a_township_operator_sees_only_their_township_in_the_tiles(
    session: Session, county: f.SmallCounty
) -> None:
    west = area_scope.scope_for(
        session,
        jurisdiction=Jurisdiction(township_codes=frozenset({f.T1})),
        version_id=county.version_id,
    )

    def codes(layer: str, z: int, scope: AreaScope = west) -> set[str]:
        return set(features_over_county(session, layer, z, county.version_id, scope))

    assert codes("grid", 15) == WEST_GRIDS
    assert codes("community", 12) == {f.C1, f.C2}
    assert codes("township", 12) == {f.T1}
    assert codes("dedicated_grid", 16) == {f.SCHOOL}  # the school inside the township
    assert codes("enforcement_zone", 12) == {f.ZONE_WEST}  # the zone its events go to
    assert codes("county", 12) == set()  # nothing above the township
    # The same tiles, unscoped, still hold everything: the scope is part of the cache key,
    # in process and in the shared store.
    assert codes("grid", 15, area_scope.EVERYWHERE) == set(f.GRIDS)
    assert codes("grid", 15) == WEST_GRIDS
    assert codes("community", 12, area_scope.EVERYWHERE) == {f.C1, f.C2, f.C3, f.C4}
    kept = session.execute(
        text("SELECT DISTINCT scope FROM tile_store WHERE layer = 'community' AND z = 12")
    ).scalars()
    assert set(kept) == {"all", west.key}


def test_a_user_without_areas_gets_empty_tiles(session: Session, county: f.SmallCounty) -> None:
    nowhere = area_scope.scope_for(
        session, jurisdiction=Jurisdiction(), version_id=county.version_id
    )
    assert features_over_county(session, "grid", 15, county.version_id, nowhere) == {}
    assert features_over_county(session, "county", 10, county.version_id, nowhere) == {}


def test_a_warm_tile_comes_from_the_cache(session: Session, county: f.SmallCounty) -> None:
    cache = tile_cache.TileCache()
    x, y = tile_xy(112.905, 35.79, 14)
    first = tile_cache.tile(session, layer="grid", z=14, x=x, y=y, version_id=1, cache=cache)
    second = tile_cache.tile(session, layer="grid", z=14, x=x, y=y, version_id=1, cache=cache)
    assert first == second and first != b""
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)


def test_the_cache_stays_within_its_byte_budget() -> None:
    cache = tile_cache.TileCache(max_bytes=250)
    for i in range(5):
        cache.put(tile_cache.TileKey("db", 1, "grid", 14, i, 0), bytes(100))
    assert len(cache) == 2 and cache.size_bytes == 200
    assert cache.get(tile_cache.TileKey("db", 1, "grid", 14, 0, 0)) is None  # evicted first
    assert cache.get(tile_cache.TileKey("db", 1, "grid", 14, 4, 0)) == bytes(100)


def test_bad_tile_addresses_say_what_is_wrong(session: Session, county: f.SmallCounty) -> None:
    with pytest.raises(NotFound, match="no tile layer 'roads'"):
        tile_cache.tile(session, layer="roads", z=14, x=0, y=0, version_id=county.version_id)
    with pytest.raises(InvalidInput, match="zoom must be 0–22"):
        tile_cache.tile(session, layer="grid", z=23, x=0, y=0, version_id=county.version_id)
    with pytest.raises(InvalidInput, match="x and y must be 0–3"):
        tile_cache.tile(session, layer="grid", z=2, x=4, y=0, version_id=county.version_id)
    with pytest.raises(NotFound, match="version 99 does not exist"):
        tile_cache.tile(session, layer="grid", z=14, x=0, y=0, version_id=99)


# --- HTTP -------------------------------------------------------------------------------


@pytest.fixture
def client(db_url: str, county: f.SmallCounty, tmp_path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=db_url, home=tmp_path))) as c:
        yield c


def test_tiles_over_http_are_mvt_cacheable_by_version(client: TestClient) -> None:
    x, y = tile_xy(112.905, 35.79, 14)
    pinned = client.get(f"/tiles/grid/14/{x}/{y}.pbf", params={"v": 1})
    assert pinned.status_code == 200
    assert pinned.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert "immutable" in pinned.headers["cache-control"]
    assert f.G1 in {feat["code"] for feat in decode(pinned.content, 14, x, y)}

    active = client.get(f"/tiles/grid/14/{x}/{y}.pbf")
    assert active.content == pinned.content
    assert active.headers["cache-control"] == "public, no-cache"
    etag = active.headers["etag"]
    assert "v1" in etag
    unchanged = client.get(f"/tiles/grid/14/{x}/{y}.pbf", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""


def test_http_statuses_for_bad_tile_requests(client: TestClient) -> None:
    assert client.get("/tiles/roads/14/0/0.pbf").status_code == 404
    assert client.get("/tiles/grid/14/0/0.pbf", params={"v": 42}).status_code == 404
    for path in (
        "/tiles/grid/23/0/0.pbf",
        "/tiles/grid/3/8/0.pbf",
        "/tiles/grid/3/0/-1.pbf",
        "/tiles/grid/z/0/0.pbf",
    ):
        answer = client.get(path)
        assert answer.status_code == 422, path
        assert answer.json()["error"]["code"] == "invalid_input"
    assert client.get("/tiles/grid/10/0/0.pbf").content == b""  # valid, nothing shown


def test_tilejson_names_the_active_version_bounds_and_zooms(client: TestClient) -> None:
    body = client.get("/tiles/grid.json").json()
    assert body["tilejson"] == "3.0.0"
    assert body["tiles"][0].endswith("/tiles/grid/{z}/{x}/{y}.pbf?v=1")
    assert body["bounds"] == pytest.approx([WEST, SOUTH, EAST, NORTH])
    assert (body["minzoom"], body["maxzoom"]) == (13, 16)
    assert body["vector_layers"][0]["id"] == "grid"
    assert set(body["vector_layers"][0]["fields"]) == {
        "code",
        "name",
        "households",
        "layer",
        "parent_code",
    }
    assert client.get("/tiles/township.json").json()["minzoom"] == 0
    assert client.get("/tiles/roads.json").status_code == 404


@pytest.fixture
def tokens(session: Session, county: f.SmallCounty) -> dict[str, str]:
    """Bearer tokens of a west and an east township operator and the county's."""
    out = {}
    for name, area in (("west-map", f.T1), ("east-map", f.T2), ("county-map", f.COUNTY)):
        _, out[name] = accounts.create_token(session, name=name, role="operator", area_codes=[area])
    session.commit()
    return out


def test_each_operator_gets_their_own_tile_and_no_shared_cache_keeps_it(
    db_url: str, tokens: dict[str, str], tmp_path
) -> None:
    settings = Settings(database_url=db_url, home=tmp_path, auth_required=True)
    x, y = tile_xy(112.92, 35.80, 14)  # a tile across the two townships' boundary
    path = f"/tiles/grid/14/{x}/{y}.pbf"
    with TestClient(create_app(settings)) as client:
        west, east = (
            client.get(path, headers={"Authorization": f"Bearer {tokens[name]}"})
            for name in ("west-map", "east-map")
        )
        assert client.get(path).status_code == 401

        west_codes = {feat["code"] for feat in decode(west.content, 14, x, y)}
        east_codes = {feat["code"] for feat in decode(east.content, 14, x, y)}
        assert west_codes and west_codes <= WEST_GRIDS
        assert east_codes and east_codes <= set(f.GRIDS) - WEST_GRIDS
        for answer in (west, east):
            assert answer.headers["cache-control"] == "private, no-cache"
            assert set(answer.headers["vary"].split(", ")) == {"Cookie", "Authorization"}
        assert west.headers["etag"] != east.headers["etag"]
        # The west operator's ETag does not make the east operator's tile "not modified".
        again = client.get(
            path,
            headers={
                "Authorization": f"Bearer {tokens['east-map']}",
                "If-None-Match": west.headers["etag"],
            },
        )
        assert again.status_code == 200 and again.content == east.content
        pinned = client.get(
            path, params={"v": 1}, headers={"Authorization": f"Bearer {tokens['west-map']}"}
        )
        assert pinned.headers["cache-control"] == "private, max-age=31536000, immutable"
        assert pinned.content == west.content
        # The county's operator sees everything: the same tile (and ETag) as the unscoped
        # one, still kept out of shared caches.
        whole = client.get(path, headers={"Authorization": f"Bearer {tokens['county-map']}"})
        assert {feat["code"] for feat in decode(whole.content, 14, x, y)} == west_codes | east_codes
        assert whole.headers["etag"].startswith('"v1-all-')
        assert whole.headers["cache-control"] == "private, no-cache"
