"""The service watches deadlines by itself: a past-due event is marked overdue and the live
stream says so, and two workers checking at once never mark an event twice."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gridmap.db import session_factory
from gridmap.errors import ConfigurationError
from gridmap.events import ingest
from gridmap.events import lifecycle as ev
from gridmap.events.input import EventInput
from gridmap.events.overdue_watch import LOCK_KEY, OverdueWatch, run_once
from gridmap.models import Event, EventLog
from gridmap.routing.router import Router
from gridmap.settings import Settings
from gridmap_cli.main import app as cli
from tests import factories as f
from tests.servers import running_service

NOW = dt.datetime.now(dt.UTC)
THREE_DAYS_AGO = NOW - dt.timedelta(days=3)


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    """Every test here starts from the small county, loaded and activated."""
    return str(request.getfixturevalue("small_county_db_url"))


@pytest.fixture
def router(engine: Engine, tmp_path: Path) -> Iterator[Router]:
    yield Router(session_factory(engine), Settings(home=tmp_path))


def registered_days_ago(engine: Engine, router: Router, count: int) -> list[int]:
    """`count` potholes reported and registered three days ago, never started: past due."""
    ids: list[int] = []
    with Session(engine) as session:
        for n in range(count):
            lon, lat = f.SmallCounty.grid_center(list(f.GRIDS)[n % len(f.GRIDS)])
            event, _ = ingest.ingest_event(
                session,
                router=router,
                payload=EventInput(
                    source="12345",
                    external_id=f"OLD-{n}",
                    category="ROAD",
                    reported_at=THREE_DAYS_AGO,
                    description="路面坑洼",
                    lon=lon + n * 1e-4,  # apart, so none is linked as a duplicate
                    lat=lat,
                ),
                actor="hotline",
                now=THREE_DAYS_AGO,
            )
            ev.act(session, event_id=event.id, action="register", actor="op", now=THREE_DAYS_AGO)
            ids.append(event.id)
        session.commit()
    return ids


def overdue_marks(engine: Engine) -> dict[int, int]:
    """Event id → how many `overdue` log entries it has."""
    with Session(engine) as session:
        rows = session.execute(
            select(EventLog.event_id, func.count())
            .where(EventLog.action == "overdue")
            .group_by(EventLog.event_id)
        ).all()
    return {event_id: n for event_id, n in rows}


def test_two_workers_checking_at_once_mark_each_event_exactly_once(
    engine: Engine, router: Router
) -> None:
    ids = registered_days_ago(engine, router, 12)
    start = threading.Barrier(2)
    results: list[list[int]] = []

    def worker() -> None:
        start.wait()
        results.append(run_once(engine, now=NOW))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    first, second = results
    assert sorted(first + second) == sorted(ids)  # every one marked, none by both
    assert overdue_marks(engine) == {i: 1 for i in ids}
    # A later check finds nothing new: an event is marked once.
    assert run_once(engine, now=NOW + dt.timedelta(minutes=1)) == []


def test_a_check_while_another_worker_holds_the_lock_does_nothing(
    engine: Engine, router: Router
) -> None:
    ids = registered_days_ago(engine, router, 2)
    with Session(engine) as other_worker:
        other_worker.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": LOCK_KEY}
        )
        assert run_once(engine, now=NOW) == []
        assert overdue_marks(engine) == {}
    # The other worker's transaction ended: the next minute's check does the work.
    assert sorted(run_once(engine, now=NOW)) == ids


def test_the_watch_marks_a_past_due_event_on_its_own(engine: Engine, router: Router) -> None:
    (event_id,) = registered_days_ago(engine, router, 1)
    watch = OverdueWatch(engine, interval_s=0.1)
    watch.start()
    try:
        deadline = time.monotonic() + 20
        while not overdue_marks(engine) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        watch.stop()
    assert overdue_marks(engine) == {event_id: 1}
    assert watch.runs >= 1


@pytest.mark.parametrize("interval_s", [0, -1.0, math.nan, math.inf])
def test_the_watch_refuses_an_interval_it_cannot_run_at(interval_s: float) -> None:
    never_used = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/nothing")
    with pytest.raises(ConfigurationError, match="positive number of seconds") as refused:
        OverdueWatch(never_used, interval_s=interval_s)
    assert refused.value.details["setting"] == "GRIDMAP_OVERDUE_CHECK_SECONDS"


@pytest.mark.parametrize("written", ["every minute", "-5", "nan", "inf", "1e9", ""])
def test_a_bad_overdue_check_setting_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    monkeypatch.setenv("GRIDMAP_OVERDUE_CHECK_SECONDS", written)
    with pytest.raises(ConfigurationError, match=r"^GRIDMAP_OVERDUE_CHECK_SECONDS must be") as bad:
        Settings()
    assert repr(written) in bad.value.message
    assert bad.value.details == {"setting": "GRIDMAP_OVERDUE_CHECK_SECONDS", "value": written}


@pytest.mark.parametrize(("written", "seconds"), [("0", 0.0), ("30", 30.0), ("0.5", 0.5)])
def test_the_overdue_check_setting_takes_seconds_and_zero_turns_it_off(
    monkeypatch: pytest.MonkeyPatch, written: str, seconds: float
) -> None:
    monkeypatch.setenv("GRIDMAP_OVERDUE_CHECK_SECONDS", written)
    assert Settings().overdue_check_seconds == seconds


def test_gridmap_serve_with_a_bad_overdue_check_setting_stops_at_start_up_with_one_line() -> None:
    # An unreachable database: were the setting let through, the command fails on that
    # instead of starting a server, and the assertions below say so.
    env = {
        "GRIDMAP_OVERDUE_CHECK_SECONDS": "-1",
        "GRIDMAP_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/nothing",
    }
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 1
    assert "GRIDMAP_OVERDUE_CHECK_SECONDS must be" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_the_running_service_marks_a_past_due_event_and_the_stream_announces_it(
    db_url: str, engine: Engine, router: Router, tmp_path: Path
) -> None:
    (event_id,) = registered_days_ago(engine, router, 1)
    with Session(engine) as session:
        before = session.execute(text("SELECT coalesce(max(id), 0) FROM stream_message")).scalar()
    env = {"GRIDMAP_OVERDUE_CHECK_SECONDS": "0.5", "GRIDMAP_AUTH_REQUIRED": "false"}
    with running_service(db_url, tmp_path / "home", env=env) as base:
        # Nobody runs `gridmap events check-overdue`: the service does it by itself.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            shown = httpx.get(f"{base}/api/events/{event_id}", timeout=5).json()
            if shown["overdue"]:
                break
            time.sleep(0.25)
        assert shown["overdue"] is True

        # A command view that was watching hears `event.overdue` for it.
        heard = _stream_until_overdue(base, after=int(before or 0), event_id=event_id)
        assert heard["id"] == event_id and heard["overdue"] is True
    with Session(engine) as session:
        assert session.get(Event, event_id).overdue  # type: ignore[union-attr]
    assert overdue_marks(engine) == {event_id: 1}


def _stream_until_overdue(base: str, *, after: int, event_id: int) -> dict[str, object]:
    headers = {"Accept": "text/event-stream", "Last-Event-ID": str(after)}
    timeout = httpx.Timeout(10, read=15)
    kind = ""
    with httpx.stream("GET", f"{base}/api/stream", headers=headers, timeout=timeout) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line.partition(":")[2].strip()
            elif line.startswith("data:") and kind == "event.overdue":
                payload: dict[str, object] = json.loads(line.partition(":")[2])
                if payload.get("id") == event_id:
                    return payload
    raise AssertionError(f"the stream ended without event.overdue for event {event_id}")
