"""The demo's past month: events walked through the real workflow, so the statistics, the
heat map and every timeline show histories that could have happened."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from geodata.history import HistorySummary, load_history
from gridmap.db import make_engine, session_factory
from gridmap.events import stats
from gridmap.events import workflow as wf
from gridmap.models import Event, EventLog
from gridmap.routing.router import Router
from gridmap.settings import Settings
from tests import factories as f
from tests.conftest import create_database, drop_database

NOW = dt.datetime(2026, 11, 21, 4, 0, tzinfo=dt.UTC)  # noon in Beijing
DAYS = 30
# Steps that write the timeline without moving the event.
NOTES = {"possible_duplicate", "overdue", "co_report_back", "merged_in"}


@dataclass
class History:
    engine: Engine
    summary: HistorySummary


def _homes(session: Session) -> None:
    """Five houses in each grid of the small county (it has no buildings of its own)."""
    for n, code in enumerate(f.GRIDS):
        lon, lat = f.SmallCounty.grid_center(code)
        for k in range(5):
            session.execute(
                text(
                    "INSERT INTO building (county_code, code, households, kind, point, attributes)"
                    " VALUES (:c, :code, :hh, 'residential', "
                    "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), '{}')"
                ),
                {
                    "c": f.COUNTY,
                    "code": f"B{n}{k}",
                    "hh": 6 + k,
                    "lon": lon + (k - 2) * 0.0012,
                    "lat": lat + (k % 3 - 1) * 0.003,
                },
            )


@pytest.fixture(scope="module")
def history(server_url: str, small_county_template: str) -> Iterator[History]:
    """The small county with thirty days of history, built once for this module."""
    name = f"gridmap_history_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = create_database(server_url, name, template=small_county_template)
    engine = make_engine(url, pool_size=2)
    sessions = session_factory(engine)
    router = Router(sessions, Settings())
    with sessions() as session:
        _homes(session)
        session.commit()
        summary = load_history(
            session, router=router, county_code=f.COUNTY, days=DAYS, per_day=8, seed=7, now=NOW
        )
        session.commit()
    yield History(engine, summary)
    engine.dispose()
    drop_database(server_url, name)


def logs_by_event(session: Session) -> dict[int, list[EventLog]]:
    by_event: dict[int, list[EventLog]] = defaultdict(list)
    for entry in session.scalars(select(EventLog).order_by(EventLog.id)):
        by_event[entry.event_id].append(entry)
    return by_event


def test_a_month_of_events_ends_in_the_mix_the_demo_promises(history: History) -> None:
    with Session(history.engine) as session:
        events = session.scalars(select(Event)).all()
        logs = logs_by_event(session)
    status = Counter(e.status for e in events)
    closed = [e for e in events if e.closed_at is not None]
    on_time = [e for e in closed if e.due_at and e.closed_at and e.closed_at <= e.due_at]
    late = [e for e in closed if e.due_at and e.closed_at and e.closed_at > e.due_at]
    actions = Counter(entry.action for entries in logs.values() for entry in entries)

    assert len(events) == history.summary.events > 150  # about 8 a day for 30 days
    assert len(on_time) > len(late) > 0  # most closed on time, some late
    assert sum(status[s] for s in wf.OPEN_STATES) > 0  # some still open
    assert status[wf.MERGED] > 0 and actions["merged_in"] == status[wf.MERGED]
    assert actions["escalate"] > 0  # by hand, and by the overdue check
    assert actions["joint_dispatch"] > 0 and actions["co_report_back"] > 0
    assert actions["return"] > 0
    assert actions["visit"] > 0
    overdue_open = [e for e in events if e.overdue and e.status in wf.OPEN_STATES]
    assert overdue_open, "stalled events are still open and marked overdue"
    # The summary reports what the database holds.
    assert history.summary.by_status == dict(status)
    assert history.summary.closed_on_time == len(on_time)
    assert history.summary.overdue == sum(e.overdue for e in events)


def test_every_timeline_is_a_legal_path_through_the_workflow(history: History) -> None:
    with Session(history.engine) as session:
        events = {e.id: e for e in session.scalars(select(Event))}
        logs = logs_by_event(session)
    assert set(logs) == set(events)
    for event_id, entries in logs.items():
        first, *rest = entries
        assert (first.action, first.from_status, first.to_status) == ("report", None, "reported")
        state = wf.REPORTED
        for entry in rest:
            assert entry.from_status == state, f"event {event_id}: {entry.action} from {state}"
            if entry.action in NOTES:
                assert entry.to_status == state
                continue
            everything = {wf.TEAM, wf.REASON, wf.NOTE, wf.CO_TEAMS, wf.TARGET, wf.SATISFACTION}
            assert wf.transition(state, entry.action, given=everything) == entry.to_status
            state = entry.to_status
        assert state == events[event_id].status
        overdue_marks = [e for e in entries if e.action == "overdue"]
        assert len(overdue_marks) == int(events[event_id].overdue)


def test_times_lie_in_the_past_month_and_follow_each_other(history: History) -> None:
    with Session(history.engine) as session:
        events = {e.id: e for e in session.scalars(select(Event))}
        logs = logs_by_event(session)
    start = NOW - dt.timedelta(days=DAYS)
    for event_id, entries in logs.items():
        times = [entry.at for entry in entries]
        assert times == sorted(times), f"event {event_id}: its timeline goes back in time"
        assert start <= times[0] and times[-1] <= NOW
        event = events[event_id]
        assert event.received_at == times[0]
        # A duplicate merged in notes itself on the original without changing it.
        changed = [entry.at for entry in entries if entry.action != "merged_in"]
        assert event.updated_at == changed[-1]
        if event.closed_at is not None:
            assert event.received_at < event.closed_at <= NOW
    # The overdue check runs every minute: an event is marked within a minute of passing
    # its deadline (or of a step that left it waiting past the response deadline).
    for event_id, entries in logs.items():
        for before, mark in itertools.pairwise(entries):
            if mark.action != "overdue":
                continue
            event = events[event_id]
            which = mark.data["deadline"]
            deadline = event.due_at if which == "handling" else event.response_due_at
            assert deadline is not None and deadline < mark.at
            assert mark.at - max(deadline, before.at) <= dt.timedelta(minutes=1)


def test_statistics_show_closed_on_time_and_overdue(history: History) -> None:
    with Session(history.engine) as session:
        rows = stats.event_stats(session, by="township", county_code=f.COUNTY)
    by_township = {r.key: r for r in rows}
    assert set(by_township) >= {f.T1, f.T2}
    assert sum(r.closed_on_time for r in rows) == history.summary.closed_on_time > 0
    assert sum(r.overdue for r in rows) == history.summary.overdue > 0
    assert all(r.satisfaction is not None and 1 <= r.satisfaction <= 5 for r in rows if r.key)


def test_the_past_is_not_replayed_on_the_live_stream(history: History) -> None:
    with Session(history.engine) as session:
        messages = session.execute(
            text("SELECT count(*) FROM stream_message WHERE kind LIKE 'event.%'")
        ).scalar_one()
    assert messages == 0


def test_the_same_seed_and_time_give_the_same_history(small_county_db_url: str) -> None:
    def summary_of(url: str) -> tuple[int, dict[str, int], int]:
        engine = make_engine(url, pool_size=1)
        sessions = session_factory(engine)
        with sessions() as session:
            _homes(session)
            result = load_history(
                session,
                router=Router(sessions, Settings()),
                county_code=f.COUNTY,
                days=2,
                per_day=10,
                seed=3,
                now=NOW,
            )
            session.rollback()
        engine.dispose()
        return result.events, result.by_status, result.actions

    assert summary_of(small_county_db_url) == summary_of(small_county_db_url)
