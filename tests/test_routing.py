"""Routing by coordinates on the small test county: the grid, its chain, the team and the
decision; edges, gaps, dedicated grids, other coordinate systems and the past."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gridmap.boundaries import activation
from gridmap.boundaries import versions as boundaries
from gridmap.crs import from_wgs84
from gridmap.db import session_factory
from gridmap.errors import InvalidCoordinates, NotFound, UnknownCategory, UnknownCRS
from gridmap.routing.router import Router
from gridmap.routing.snapshot import grid_at_in_postgis
from gridmap.settings import Settings
from tests import factories as f


@pytest.fixture
def router(engine: Engine, session: Session) -> Router:
    f.load_small_county(session)
    session.commit()
    return Router(session_factory(engine), Settings(database_url="unused"))


def test_a_point_is_routed_to_its_grid_chain_team_and_department(router: Router) -> None:
    lon, lat = f.SmallCounty.grid_center(f"{f.C3}002")
    result = router.route(lon, lat, category="CONS")
    assert result.grid is not None and result.grid.code == f"{f.C3}002"
    assert result.community is not None and result.community.code == f.C3
    assert result.township is not None and result.township.code == f.T2
    assert result.county is not None and result.county.code == f.COUNTY
    assert result.enforcement_zone is not None and result.enforcement_zone.code == f.ZONE_EAST
    assert result.team is not None and result.team.code == f"T-{f.C3}002"
    assert result.decision is not None
    assert result.decision.mode == "department"
    assert result.decision.department is not None and result.decision.department.code == "ZJ"
    assert result.decision.priority == "key" and result.decision.time_limit_hours == 24
    assert not result.flags.on_boundary and not result.flags.outside_coverage
    body = result.to_dict()
    assert body["chain"]["township"]["code"] == f.T2 and body["version"] > 0


def test_a_point_on_a_shared_edge_goes_to_one_grid_and_is_flagged(router: Router) -> None:
    # lon 112.91 is the edge between grid 1 and grid 2 of community C1.
    result = router.route(112.91, 35.79)
    assert result.flags.on_boundary
    codes = {result.grid.code if result.grid else None} | {c.code for c in result.flags.candidates}
    assert codes == {f"{f.C1}001", f"{f.C1}002"}
    # Deterministic and equal to PostGIS: the grid with the smaller id.
    with router._sessions() as s:
        truth = grid_at_in_postgis(s, lon=112.91, lat=35.79, version_id=result.version or 0)
    assert result.grid is not None and result.grid.id == truth
    # Two metres inside grid 2 (within the 5 m GPS tolerance) is still flagged.
    inside = router.route(112.91 + 2 / 90_000, 35.79)
    assert inside.grid is not None and inside.grid.code == f"{f.C1}002"
    assert inside.flags.on_boundary
    # Fifty metres inside is not.
    assert not router.route(112.91 + 50 / 90_000, 35.79).flags.on_boundary


def test_a_dedicated_grid_takes_precedence_and_its_team_answers(router: Router) -> None:
    result = router.route(112.902, 35.782, category="SMOKE")
    assert result.dedicated_grid is not None and result.dedicated_grid.code == f.SCHOOL
    assert result.grid is not None and result.grid.code == f.G1
    assert result.team is not None and result.team.code == f"T-{f.SCHOOL}"
    assert result.decision is not None and result.decision.priority == "emergency"
    assert result.decision.response_minutes == 30


def test_outside_coverage_near_a_grid_and_far_away(router: Router) -> None:
    near = router.route(112.94 + 100 / 90_000, 35.79)  # 100 m east of the county
    assert near.flags.outside_coverage and near.grid is not None
    assert near.grid.code == f"{f.C3}002"
    assert 90 < near.flags.distance_m < 110
    far = router.route(113.5, 35.79)
    assert far.flags.outside_coverage and far.grid is None and far.team is None
    assert far.flags.reason and "200 m" in far.flags.reason


def test_gcj02_and_bd09_points_are_converted_before_routing(router: Router) -> None:
    # A point 30 m inside grid 2's west edge: its GCJ-02 coordinates, read as WGS84,
    # would land hundreds of metres away.
    lon, lat = 112.91 + 30 / 90_000, 35.79
    for crs in ("gcj02", "bd09"):
        gx, gy = from_wgs84(np.array([lon]), np.array([lat]), crs)
        result = router.route(float(gx[0]), float(gy[0]), crs=crs)
        assert result.grid is not None and result.grid.code == f"{f.C1}002", crs
        assert abs(result.lon - lon) < 1e-7 and abs(result.lat - lat) < 1e-7
        assert result.input_crs == crs
    wrong = router.route(float(gx[0]), float(gy[0]), crs="wgs84")
    assert wrong.grid is None or wrong.grid.code != f"{f.C1}002"


def test_bad_input_is_refused_with_what_was_wrong(router: Router) -> None:
    with pytest.raises(InvalidCoordinates, match="latitude 95"):
        router.route(112.9, 95)
    with pytest.raises(InvalidCoordinates, match="numbers"):
        router.route(float("nan"), 35.8)
    with pytest.raises(UnknownCRS, match="mars2000"):
        router.route(112.9, 35.8, crs="mars2000")
    with pytest.raises(UnknownCategory, match="NOPE"):
        router.route(112.905, 35.79, category="NOPE")


def test_the_past_is_answered_with_the_version_active_then(
    router: Router, session: Session
) -> None:
    before = session.execute(text("SELECT now()")).scalar_one()
    session.commit()
    g = f"{f.C1}001"
    v2 = boundaries.create_version(session, name="remove grid 1", created_by="p")
    boundaries.stage_removals(session, version_id=v2.id, keys=[(f.COUNTY, "grid", g)])
    activation.activate_version(session, version_id=v2.id, activated_by="p")
    session.commit()
    router.reload()
    lon, lat = f.SmallCounty.grid_center(g)
    now = router.route(lon, lat)
    assert now.grid is None or now.grid.code != g
    then = router.route(lon, lat, at=before)
    assert then.grid is not None and then.grid.code == g
    with pytest.raises(NotFound):
        router.route(lon, lat, at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


def test_batch_routing_agrees_with_single_points_and_postgis(
    router: Router, session: Session
) -> None:
    rng = np.random.default_rng(7)
    lons = rng.uniform(112.895, 112.945, 3000)
    lats = rng.uniform(35.775, 35.825, 3000)
    # Every vertex and edge midpoint of the grids too.
    xs = np.arange(112.90, 112.9401, 0.005)
    ys = np.arange(35.78, 35.8201, 0.01)
    gx, gy = np.meshgrid(xs, ys)
    lons = np.concatenate([lons, gx.ravel()])
    lats = np.concatenate([lats, gy.ravel()])
    batch = router.route_many(lons, lats)
    version = router.snapshot.version_id
    for i in range(len(lons)):
        single = router.route(float(lons[i]), float(lats[i]))
        assert (single.grid.id if single.grid else -1) == batch.grid_ids[i]
        assert single.flags.on_boundary == batch.on_boundary[i]
        if not batch.outside[i]:
            truth = grid_at_in_postgis(
                session, lon=float(lons[i]), lat=float(lats[i]), version_id=version
            )
            assert truth == batch.grid_ids[i], (lons[i], lats[i])


def test_a_dedicated_grid_that_is_a_tile_of_its_community_is_routed_with_its_chain(
    router: Router, session: Session
) -> None:
    # An industrial park drawn as its own tile: grid C3-002 becomes a dedicated grid.
    from shapely.geometry import box

    from gridmap.boundaries.versions import AreaRow

    v2 = boundaries.create_version(session, name="park", created_by="p")
    boundaries.stage_removals(session, version_id=v2.id, keys=[(f.COUNTY, "grid", f"{f.C3}002")])
    boundaries.stage_areas(
        session,
        version_id=v2.id,
        rows=[
            AreaRow(
                f.COUNTY,
                "dedicated_grid",
                f"{f.C3}P01",
                "工业园区专属网格",
                box(112.93, 35.78, 112.94, 35.80),
                f.C3,
                kind="industrial_park",
            )
        ],
    )
    activation.activate_version(session, version_id=v2.id, activated_by="p")
    session.commit()
    router.reload()
    result = router.route(112.935, 35.79, category="ROAD")
    assert result.dedicated_grid is not None and result.dedicated_grid.code == f"{f.C3}P01"
    assert result.grid is None
    assert not result.flags.outside_coverage
    assert result.community is not None and result.community.code == f.C3
    assert result.township is not None and result.township.code == f.T2
    assert result.decision is not None and result.decision.mode == "self"
    batch = router.route_many(np.array([112.935]), np.array([35.79]))
    assert not batch.outside[0] and batch.dedicated_ids[0] == result.dedicated_grid.id
