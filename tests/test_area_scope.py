"""The map's jurisdiction filter: a user sees their areas and what lies inside, nothing above."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access import scope as area_scope
from gridmap.access.permissions import EVERYWHERE, Jurisdiction
from gridmap.boundaries import versions as boundaries
from gridmap.db import make_engine, session_factory
from tests.factories import C1, C3, COUNTY, G1, GRIDS, SCHOOL, T1, T2, ZONE_EAST, ZONE_WEST


@pytest.fixture
def county(small_county_db_url: str) -> Iterator[Session]:
    engine = make_engine(small_county_db_url)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def visible(session: Session, jurisdiction: Jurisdiction) -> set[str]:
    active = boundaries.active_version(session)
    assert active is not None
    scope = area_scope.scope_for(session, jurisdiction=jurisdiction, version_id=active.id)
    where, params = scope.sql("a")
    rows = session.execute(
        text(f"SELECT code FROM area a WHERE {boundaries.VALID_IN} AND {where}"),
        {"version": active.id, **params},
    ).scalars()
    return set(rows)


def test_a_township_operator_sees_the_township_and_everything_in_it(county: Session) -> None:
    seen = visible(county, Jurisdiction(township_codes=frozenset({T1})))
    west_grids = {code for code, (community, _, _) in GRIDS.items() if community.startswith(T1)}
    assert west_grids <= seen
    assert {T1, C1, SCHOOL, ZONE_WEST} <= seen
    assert not seen & {T2, COUNTY, C3, ZONE_EAST}
    assert not seen & (set(GRIDS) - west_grids)


def test_a_grid_worker_sees_the_grid_and_its_dedicated_grid_only(county: Session) -> None:
    seen = visible(county, Jurisdiction(grid_codes=frozenset({G1})))
    assert {G1, SCHOOL, ZONE_WEST} <= seen
    assert not seen & ({T1, C1, COUNTY, ZONE_EAST} | (set(GRIDS) - {G1}))


def test_the_county_and_the_unscoped_see_everything(county: Session) -> None:
    everything = visible(county, EVERYWHERE)
    assert visible(county, Jurisdiction(county_codes=frozenset({COUNTY}))) == everything
    assert {COUNTY, T1, T2, ZONE_EAST, *GRIDS} <= everything


def test_no_areas_sees_nothing(county: Session) -> None:
    assert visible(county, Jurisdiction()) == set()
