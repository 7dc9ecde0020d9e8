"""GRIDMAP_READ_DATABASE_URL: search, OGC features, statistics and vector tiles read from
a hot standby while its lag is under the bound; a browser that just wrote reads from the
primary; a tile made on the standby is kept in the primary's tile store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from gridmap.boundaries import publishing, tiles
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.versions import AreaRow
from gridmap.db import libpq_conninfo, make_engine, session_factory
from gridmap.read_replica import ReadReplica
from tests import factories as f
from tests.conftest import TEST_HOME
from tests.replicas import Pair, primary_and_standby
from tests.servers import running_service
from tests.test_tiles import tile_xy


@pytest.fixture
def pair() -> Iterator[Pair]:
    with primary_and_standby(TEST_HOME / f"rr-{uuid.uuid4().hex[:8]}", synchronous=False) as p:
        yield p


def replayed_a_write(pair: Pair) -> None:
    """A transaction written on the primary and replayed on the standby: its replay lag is
    measured from the last one replayed (none yet after a fresh base backup: lag unknown)."""
    with psycopg.connect(libpq_conninfo(pair.primary_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS replay_probe (x int)")
        conn.execute("INSERT INTO replay_probe VALUES (1)")
    deadline = time.monotonic() + 10
    with psycopg.connect(libpq_conninfo(pair.standby_url), autocommit=True) as conn:
        while conn.execute("SELECT pg_last_xact_replay_timestamp() IS NULL").fetchone() == (
            True,
        ) or conn.execute("SELECT to_regclass('replay_probe') IS NULL").fetchone() == (True,):
            assert time.monotonic() < deadline, "the standby replays nothing"
            time.sleep(0.05)


def replay(pair: Pair, *, paused: bool) -> None:
    with psycopg.connect(libpq_conninfo(pair.standby_url), autocommit=True) as conn:
        conn.execute(f"SELECT pg_wal_replay_{'pause' if paused else 'resume'}()")


def found(http: httpx.Client, event_id: int) -> bool:
    response = http.get("/api/search", params={"q": f"#{event_id}"})
    assert response.status_code == 200, response.text
    return any(h["kind"] == "event" and h["id"] == event_id for h in response.json()["results"])


def test_reads_come_from_the_replica_and_a_writer_reads_its_own_writes(pair: Pair) -> None:
    lon, lat = f.SmallCounty.grid_center(f.G1)
    ticket = {
        "source": "12345",
        "external_id": "RR-1",
        "category": "ROAD",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reported_at": "2026-11-21T09:30:00+08:00",
    }
    env = {
        "GRIDMAP_READ_DATABASE_URL": pair.standby_url,
        "GRIDMAP_READ_MAX_LAG_SECONDS": "3600",
        "GRIDMAP_OVERDUE_CHECK_SECONDS": "0",
    }
    home = pair.primary.home.parent / "service"
    with (
        running_service(pair.primary_url, home, env=env) as base,
        httpx.Client(base_url=base, timeout=30) as reader,
    ):
        replayed_a_write(pair)
        time.sleep(1.1)  # the replica's lag is looked at once a second
        read = reader.get("/health").json()["read_database"]
        assert (read["role"], read["in_use"]) == ("standby", True)
        replay(pair, paused=True)
        try:
            created = reader.post("/api/events", json=ticket)
            assert created.status_code == 201, created.text
            event_id = created.json()["id"]
            # The replica has not replayed it: a reader that did not write sees it not yet.
            assert not found(reader, event_id)
            with httpx.Client(base_url=base, timeout=30) as writer:
                registered = writer.post(
                    f"/api/events/{event_id}/actions/register", json={"actor": "坐席01"}
                )
                assert registered.status_code == 200, registered.text
                assert "gridmap_wrote" in writer.cookies
                # The browser that wrote reads from the primary.
                assert found(writer, event_id)
                assert reader.get("/health").json()["read_database"]["replay_lag_s"] is not None
        finally:
            replay(pair, paused=False)
        deadline = time.monotonic() + 10
        while not found(reader, event_id):
            assert time.monotonic() < deadline, "the replica did not catch up in 10 s"
            time.sleep(0.1)


def publish_moved_g1(url: str) -> int:
    """Publish, on the primary, a second version of the small county with G1 shrunk (the
    domain's publish core: activate, re-route, announce); its id."""
    engine = make_engine(url, pool_size=1)
    try:
        with session_factory(engine)() as session:
            draft = boundaries.create_version(
                session, name="move G1", created_by="planner", county_code=f.COUNTY
            )
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
            boundaries.stage_areas(session, version_id=draft.id, rows=[moved])
            published = publishing.publish_version(
                session, version_id=draft.id, actor="planner"
            ).version_id
            session.commit()
            return published
    finally:
        engine.dispose()


def stored_on_primary(pair: Pair, version: int, layer: str, z: int, x: int, y: int) -> bool:
    with psycopg.connect(libpq_conninfo(pair.primary_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM tile_store WHERE version_id = %s AND recipe = %s AND scope = 'all' "
            "AND layer = %s AND z = %s AND x = %s AND y = %s",
            (version, tiles.RECIPE, layer, z, x, y),
        ).fetchone()
    return row is not None


def tile_version(http: httpx.Client, path: str, **params: int) -> int:
    """The boundary version a tile answer is of (its ETag: `"v{version}-..."`)."""
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return int(response.headers["etag"].strip('"').split("-")[0][1:])


def test_tiles_are_read_from_the_replica_and_a_miss_is_kept_on_the_primary(pair: Pair) -> None:
    env = {
        "GRIDMAP_READ_DATABASE_URL": pair.standby_url,
        "GRIDMAP_READ_MAX_LAG_SECONDS": "3600",
        "GRIDMAP_OVERDUE_CHECK_SECONDS": "0",
    }
    z = 14
    x, y = tile_xy(*f.SmallCounty.grid_center(f.G1), z)
    path = f"/tiles/grid/{z}/{x}/{y}.pbf"
    home = pair.primary.home.parent / "service"
    with (
        running_service(pair.primary_url, home, env=env) as base,
        httpx.Client(base_url=base, timeout=30) as reader,
    ):
        replayed_a_write(pair)
        time.sleep(1.1)  # the replica's lag is looked at once a second
        assert reader.get("/health").json()["read_database"]["in_use"] is True
        with psycopg.connect(libpq_conninfo(pair.primary_url), autocommit=True) as conn:
            row = conn.execute("SELECT id FROM boundary_version WHERE status = 'active'")
            (first,) = row.fetchone() or (None,)
        assert isinstance(first, int)
        # A miss read on the replica (a standby takes no writes) is kept in the primary's
        # store, for every worker and node.
        assert not stored_on_primary(pair, first, "grid", z, x, y)
        assert tile_version(reader, path) == first
        assert stored_on_primary(pair, first, "grid", z, x, y)

        replay(pair, paused=True)
        try:
            second = publish_moved_g1(pair.primary_url)
            assert second != first
            # The replica has not replayed the publication: a reader's tile, and its
            # TileJSON, are still of the version active there.
            assert tile_version(reader, path) == first
            assert reader.get("/tiles/grid.json").json()["gridmap_version"] == first
            # A version asked by id that the replica does not have yet is read on the
            # primary, not answered 404.
            assert tile_version(reader, path, v=second) == second
            asked = reader.get("/tiles/grid.json", params={"v": second})
            assert asked.status_code == 200, asked.text
            assert asked.json()["gridmap_version"] == second
            # A browser that wrote lately reads from the primary: the new version.
            with httpx.Client(
                base_url=base, timeout=30, cookies={"gridmap_wrote": str(time.time())}
            ) as writer:
                assert tile_version(writer, path) == second
            # A version that exists nowhere is still not found.
            assert reader.get(path, params={"v": second + 100}).status_code == 404
            # The basemap's tiles read there too (none imported here: an empty tile).
            assert reader.get(f"/tiles/basemap/{z}/{x}/{y}.pbf").status_code == 200
        finally:
            replay(pair, paused=False)
        deadline = time.monotonic() + 10
        while tile_version(reader, path) != second:
            assert time.monotonic() < deadline, "the replica did not catch up in 10 s"
            time.sleep(0.1)


def test_a_replica_lagging_past_the_bound_is_not_read_from(pair: Pair) -> None:
    replayed_a_write(pair)
    replica = ReadReplica(pair.standby_url, max_lag_s=0.5, check_every_s=0)
    try:
        assert replica.usable()
        replay(pair, paused=True)
        try:
            with psycopg.connect(libpq_conninfo(pair.primary_url), autocommit=True) as conn:
                deadline = time.monotonic() + 10
                while replica.usable():  # WAL received, not replayed, ageing past 0.5 s
                    assert time.monotonic() < deadline, replica.status()
                    conn.execute("INSERT INTO replay_probe VALUES (1)")
                    time.sleep(0.2)
            assert replica.status()["replay_lag_s"] > 0.5
        finally:
            replay(pair, paused=False)
        deadline = time.monotonic() + 10
        while not replica.usable():
            assert time.monotonic() < deadline, replica.status()
            time.sleep(0.1)
    finally:
        replica.dispose()
    # An unreachable replica is not read from either (reads go to the primary).
    pair.standby.stop()
    gone = ReadReplica(pair.standby_url, max_lag_s=60, check_every_s=0)
    try:
        assert not gone.usable() and gone.status()["reachable"] is False
    finally:
        gone.dispose()
