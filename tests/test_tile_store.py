"""The shared tile store: a published version's costly tiles are made once, by one worker,
and every worker and restart reads them instead of making them again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gridmap.access import scope as area_scope
from gridmap.access.permissions import Jurisdiction
from gridmap.boundaries import activation, tile_cache, tiles
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.versions import AreaRow
from gridmap.db import make_engine, session_factory
from tests import factories as f
from tests.test_tiles import tile_xy, tiles_over_county


@pytest.fixture
def county_engine(small_county_db_url: str) -> Iterator[Engine]:
    eng = make_engine(small_county_db_url, pool_size=3)
    yield eng
    eng.dispose()


@pytest.fixture
def county(county_engine: Engine) -> Iterator[Session]:
    with session_factory(county_engine)() as s:
        yield s


def stored(session: Session, version_id: int, scope: str = "all") -> set[tile_cache.TileAddress]:
    rows = session.execute(
        text("SELECT layer, z, x, y FROM tile_store WHERE version_id = :v AND scope = :s"),
        {"v": version_id, "s": scope},
    ).all()
    session.rollback()  # the next look sees what other connections committed since
    return {tile_cache.TileAddress(*r) for r in rows}


def vertices_touching(session: Session, layer: str, z: int, x: int, y: int) -> int:
    """Vertices of the layer's full-detail features whose box touches the tile, recounted
    with PostGIS's own tile envelope (not the arithmetic gridmap.boundaries.tiles uses)."""
    return int(
        session.execute(
            text(
                "SELECT coalesce(sum(ST_NPoints(geom)), 0) FROM area_tile "
                "WHERE layer = :l AND detail = 32 AND valid_to IS NULL "
                "AND ST_Intersects(ST_Envelope(geom), ST_TileEnvelope(:z, :x, :y))"
            ),
            {"l": layer, "z": z, "x": x, "y": y},
        ).scalar_one()
    )


def test_the_costly_tiles_are_those_whose_features_hold_many_vertices(county: Session) -> None:
    everything = set(tile_cache.costly_tiles(county, version_id=1, min_points=1))
    # Every tile that shows a feature is planned at the lowest threshold, at every zoom the
    # store keeps.
    for layer, z in (("grid", 14), ("township", 9), ("community", 12), ("county", 3)):
        shown_here = {
            tile_cache.TileAddress(layer, z, x, y)
            for x, y in tiles_over_county(z)
            if tile_cache.tile(county, layer=layer, z=z, x=x, y=y, version_id=1, cache=None)
        }
        assert shown_here and shown_here <= everything, (layer, z)
    assert {a.z for a in everything} == set(range(tile_cache.STORE_MAX_ZOOM + 1))
    # A higher threshold keeps exactly the tiles with at least that many vertices.
    grid_tiles = [a for a in everything if (a.layer, a.z) == ("grid", 14)]
    counts = {a: vertices_touching(county, "grid", a.z, a.x, a.y) for a in grid_tiles}
    threshold = sorted(counts.values())[len(counts) // 2]
    costly = {a for a in tile_cache.costly_tiles(county, version_id=1, min_points=threshold)}
    costly_grids = {a for a in costly if (a.layer, a.z) == ("grid", 14)}
    assert costly_grids == {a for a, n in counts.items() if n >= threshold}
    assert 0 < len(costly_grids) < len(grid_tiles)


def test_prerendering_makes_each_costly_tile_once_and_every_reader_gets_it(
    county_engine: Engine, county: Session
) -> None:
    first = tile_cache.prerender(county_engine, min_points=1)
    assert first.version_id == 1 and not first.stopped
    assert first.rendered == first.planned > 0
    assert stored(county, 1) == set(tile_cache.costly_tiles(county, version_id=1, min_points=1))

    # Another worker, or this one after a restart, finds them made.
    again = tile_cache.prerender(county_engine, min_points=1)
    assert (again.planned, again.rendered) == (first.planned, 0)

    # A cold read (no in-process cache) is the stored tile, byte for byte as PostGIS makes
    # it; to show the bytes come from the store, change them there.
    x, y = tiles_over_county(14)[0]
    made = tile_cache.tile(
        county, layer="grid", z=14, x=x, y=y, version_id=1, cache=None, store=False
    )
    cold = tile_cache.tile(county, layer="grid", z=14, x=x, y=y, version_id=1, cache=None)
    assert made and cold == made
    county.execute(
        text(
            "UPDATE tile_store SET data = 'stored' WHERE layer = 'grid' AND z = 14 "
            "AND x = :x AND y = :y"
        ),
        {"x": x, "y": y},
    )
    assert (
        tile_cache.tile(county, layer="grid", z=14, x=x, y=y, version_id=1, cache=None) == b"stored"
    )
    # A county's command centre sees the whole county, so it shares the unscoped tile; a
    # township operator gets a tile of their own.
    for jurisdiction, shares in (
        (Jurisdiction(county_codes=frozenset({f.COUNTY})), True),
        (Jurisdiction(township_codes=frozenset({f.T1})), False),
    ):
        scope = area_scope.scope_for(county, jurisdiction=jurisdiction, version_id=1)
        scoped = tile_cache.tile(
            county, layer="grid", z=14, x=x, y=y, version_id=1, scope=scope, cache=None
        )
        assert (scoped == b"stored") is shares

    # Tiles made by other rules or another query are not served: a new recipe, a new key.
    original = tiles.RECIPE
    try:
        tiles.RECIPE = "0000000000000000"
        assert (
            tile_cache.tile(county, layer="grid", z=14, x=x, y=y, version_id=1, cache=None) == made
        )
    finally:
        tiles.RECIPE = original

    # After an upgrade, pre-rendering drops what earlier rules made and makes it anew.
    county.execute(
        text("UPDATE tile_store SET recipe = 'earlier' WHERE z = 14 AND recipe = :r"),
        {"r": tiles.RECIPE},
    )
    county.commit()
    upgraded = tile_cache.prerender(county_engine, min_points=1)
    assert upgraded.rendered == sum(1 for a in stored(county, 1) if a.z == 14) > 0
    recipes = county.execute(text("SELECT DISTINCT recipe FROM tile_store")).scalars()
    assert set(recipes) == {tiles.RECIPE}


def test_a_tile_made_on_demand_is_kept_for_the_next_worker_up_to_the_store_zoom_unless_empty(
    county: Session,
) -> None:
    z14, z15 = tile_xy(112.905, 35.79, 14), tile_xy(112.905, 35.79, 15)
    for z, (x, y) in ((14, z14), (15, z15), (14, (0, 0))):  # (0, 0): empty, far away
        tile_cache.tile(county, layer="grid", z=z, x=x, y=y, version_id=1, cache=None)
    county.commit()
    assert stored(county, 1) == {tile_cache.TileAddress("grid", 14, *z14)}
    render_ms = county.execute(text("SELECT render_ms FROM tile_store")).scalar_one()
    assert render_ms > 0


def test_only_one_worker_renders_at_a_time(county_engine: Engine, county: Session) -> None:
    conninfo = make_url(county_engine.url).set(drivername="postgresql")
    with psycopg.connect(conninfo.render_as_string(hide_password=False), autocommit=True) as busy:
        busy.execute("SELECT pg_advisory_lock(hashtext(%s))", (tile_cache.PRERENDER_LOCK,))
        stop = threading.Event()
        result: list[tile_cache.PrerenderReport] = []
        waiting = threading.Thread(
            target=lambda: result.append(
                tile_cache.prerender(county_engine, min_points=1, stop=stop, lock_poll_seconds=0.05)
            )
        )
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive()  # waits while the other worker renders
        assert stored(county, 1) == set()
        stop.set()  # the service shuts down meanwhile
        waiting.join(5)
    assert result[0].stopped and result[0].rendered == 0
    assert stored(county, 1) == set()
    # The lock is free again: the next call renders.
    assert tile_cache.prerender(county_engine, min_points=1).rendered > 0


def test_the_service_prerenders_at_start_and_after_each_publication(
    county_engine: Engine, county: Session
) -> None:
    renderer = tile_cache.Prerenderer(county_engine, min_points=1)
    try:
        renderer.wake()  # the service starts
        assert wait_for(lambda: len(renderer.reports) == 1)
        assert stored(county, 1)

        # A planner publishes a new version with G1 moved; the service hears of it.
        draft = boundaries.create_version(county, name="move G1", created_by="planner")
        g1 = next(r for r in f.area_rows() if r.code == f.G1)
        moved = AreaRow(
            g1.county_code,
            "grid",
            g1.code,
            g1.name,
            g1.geom.buffer(-0.001),
            g1.parent_code,
            households=41,
        )
        boundaries.stage_areas(county, version_id=draft.id, rows=[moved])
        activation.activate_version(county, version_id=draft.id, activated_by="planner")
        county.commit()
        renderer.wake()
        assert wait_for(lambda: len(renderer.reports) == 2)
        assert renderer.reports[1].version_id == draft.id
        assert stored(county, draft.id) == set(
            tile_cache.costly_tiles(county, version_id=draft.id, min_points=1)
        )
    finally:
        renderer.stop()
    renderer.wake()  # after stop, nothing starts again
    assert len(renderer.reports) == 2


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
