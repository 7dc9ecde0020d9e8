"""The jurisdiction rule is one rule: its every form picks the same events.

`Jurisdiction.event_clause` (an SQLAlchemy expression) is the rule. The text fragment that
statistics and ledgers paste into SQL (`event_sql`), the live stream's catch-up filter on
stored messages (`message_sql`) and the checks in Python on one event or one message
(`covers`, `covers_message`) are that rule in other places; a leak would hide in a
difference between them. Here every form is asked about the same events on the real
PostGIS, for jurisdictions of every kind: a county, a township, a community, a grid, a
team (with co-handling), a mix, nobody, everybody.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from gridmap import notify
from gridmap.access.permissions import EVERYWHERE, Jurisdiction
from gridmap.db import session_factory
from gridmap.events import ingest
from gridmap.events.input import EventInput
from gridmap.events.lifecycle import announce_event, co_handler_team_ids
from gridmap.models import Event, EventCoHandler, Team
from gridmap.routing.router import Router
from gridmap.settings import Settings
from tests import factories as f

G2 = f"{f.C1}002"
G_EAST = f"{f.C3}001"


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("small_county_db_url"))


@pytest.fixture
def events(engine: Engine, tmp_path: Path) -> Iterator[dict[str, int]]:
    """One event in each grid, a team reassigned and a co-handler added, each announced."""
    router = Router(session_factory(engine), Settings(home=tmp_path))
    ids: dict[str, int] = {}
    with session_factory(engine)() as s:
        for n, code in enumerate(f.GRIDS):
            lon, lat = f.SmallCounty.grid_center(code)
            event, _ = ingest.ingest_event(
                s,
                router=router,
                payload=EventInput(
                    source="12345",
                    external_id=f"rule-{n}",
                    category="ROAD",
                    lon=lon,
                    lat=lat,
                    description="路面坑洼",
                    reported_at=dt.datetime.now(dt.UTC),
                ),
                actor="test",
            )
            ids[code] = event.id
        s.commit()
        east_team = s.scalars(select(Team).where(Team.code == f"T-{G_EAST}")).one()
        # The G1 event handed to the east grid's team, and the G2 event co-handled by it:
        # a team sees both wherever they lie.
        moved = s.get(Event, ids[f.G1])
        assert moved is not None
        moved.team_id = east_team.id
        s.add(EventCoHandler(event_id=ids[G2], team_id=east_team.id))
        s.flush()
        for event_id in ids.values():
            event = s.get(Event, event_id)
            assert event is not None
            announce_event(s, "event.changed", event)
        s.commit()
        ids["east_team"] = east_team.id
    yield ids


def _jurisdictions(team_id: int) -> list[Jurisdiction]:
    return [
        EVERYWHERE,
        Jurisdiction(),
        Jurisdiction(county_codes=frozenset({f.COUNTY})),
        Jurisdiction(county_codes=frozenset({"990199"})),
        Jurisdiction(township_codes=frozenset({f.T2})),
        Jurisdiction(community_codes=frozenset({f.C1})),
        Jurisdiction(grid_codes=frozenset({f.G1, f"{f.C4}002"})),
        Jurisdiction(team_id=team_id),
        Jurisdiction(grid_codes=frozenset({f"{f.C2}001"}), team_id=team_id),
        Jurisdiction(township_codes=frozenset({f.T1}), community_codes=frozenset({f.C4})),
    ]


def _by_clause(s: Session, j: Jurisdiction, ids: set[int]) -> set[int]:
    return set(s.scalars(select(Event.id).where(j.event_clause(), Event.id.in_(ids))))


def _by_text(s: Session, j: Jurisdiction, ids: set[int]) -> set[int]:
    where, params = j.event_sql("ev")
    rows = s.execute(
        text(f"SELECT ev.id FROM event ev WHERE {where} AND ev.id = ANY(:ids)"),
        {**params, "ids": sorted(ids)},
    )
    return {r.id for r in rows}


def _in_python(s: Session, j: Jurisdiction, ids: set[int]) -> set[int]:
    return {
        i
        for i in ids
        if j.covers(s.get_one(Event, i), co_handler_team_ids=co_handler_team_ids(s, event_id=i))
    }


def test_every_form_of_the_rule_picks_the_same_events(
    engine: Engine, events: dict[str, int]
) -> None:
    team = events.pop("east_team")
    ids = set(events.values())
    with session_factory(engine)() as s:
        seen = {}
        for j in _jurisdictions(team):
            picked = _by_clause(s, j, ids)
            assert _by_text(s, j, ids) == picked, j
            assert _in_python(s, j, ids) == picked, j
            seen[j] = picked
    # The rule means something: each kind of jurisdiction sees what it should.
    everything = ids
    assert seen[EVERYWHERE] == everything
    assert seen[Jurisdiction()] == set()
    assert seen[Jurisdiction(county_codes=frozenset({f.COUNTY}))] == everything
    assert seen[Jurisdiction(county_codes=frozenset({"990199"}))] == set()
    assert seen[Jurisdiction(township_codes=frozenset({f.T2}))] == {
        events[g] for g in f.GRIDS if g.startswith(f.T2)
    }
    assert seen[Jurisdiction(community_codes=frozenset({f.C1}))] == {events[f.G1], events[G2]}
    assert seen[Jurisdiction(team_id=team)] == {events[f.G1], events[G2], events[G_EAST]}


def test_the_streams_filter_on_stored_messages_is_the_same_rule(
    engine: Engine, events: dict[str, int]
) -> None:
    team = events.pop("east_team")
    ids = set(events.values())
    with session_factory(engine)() as s:
        for j in _jurisdictions(team):
            stored = notify.messages_after(s, last_id=0, scope=j)
            about = {m.payload["id"] for m in stored if m.kind == "event.changed"}
            every = notify.messages_after(s, last_id=0)
            live = {
                m.payload["id"]
                for m in every
                if m.kind == "event.changed"
                and notify.visible_to(
                    kind=m.kind,
                    county_code=m.county_code,
                    township_code=m.township_code,
                    payload=m.payload,
                    scope=j,
                )
            }
            assert about == live == _by_clause(s, j, ids), j
