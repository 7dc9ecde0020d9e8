"""Concurrent senders taken in together: each answered after its batch commits, as if alone."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from gridmap.db import session_factory
from gridmap.errors import DatabaseUnavailable
from gridmap.events.batcher import IngestBatcher
from gridmap.events.ingest import IngestAudit, Ingested, NewEvent, independent_runs, prepare_event
from gridmap.events.input import EventInput, EventPolicy
from gridmap.routing.router import Router
from gridmap.settings import Settings
from tests import factories as f

NOW = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC)
POLICY = EventPolicy()


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("small_county_db_url"))


@pytest.fixture
def county(engine: Engine, tmp_path: Path) -> Router:
    return Router(session_factory(engine), Settings(home=tmp_path))


def new_event(router: Router, external_id: str, *, grid: str = f.G1, **kw: Any) -> NewEvent:
    lon, lat = f.SmallCounty.grid_center(grid)
    values: dict[str, Any] = {
        "category": "ROAD",
        "description": "路面坑洼",
        "reported_at": NOW,
        **kw,
    }
    payload = EventInput(source="12345", external_id=external_id, lon=lon, lat=lat, **values)
    return prepare_event(
        router=router,
        payload=payload,
        actor="source:12345",
        policy=POLICY,
        audit=IngestAudit(actor="hotline-bridge", source_addr="127.0.0.1", details={}),
    )


def send_all(
    batcher: IngestBatcher, events: list[NewEvent]
) -> list[Ingested | BaseException | None]:
    """Every sender at once, as concurrent HTTP requests reach one worker."""

    async def send() -> list[Ingested | BaseException | None]:
        try:
            return await asyncio.gather(
                *(batcher.submit(e) for e in events), return_exceptions=True
            )
        finally:
            await batcher.close()

    return asyncio.run(send())


def test_forty_concurrent_senders_share_a_few_transactions_and_each_gets_its_own_event(
    engine: Engine, county: Router, db_url: str
) -> None:
    batcher = IngestBatcher(db_url)
    events = [new_event(county, f"B{n}", grid=list(f.GRIDS)[n % 8]) for n in range(40)]
    answers = send_all(batcher, events)

    assert all(isinstance(a, Ingested) and a.created for a in answers)
    taken = [a for a in answers if isinstance(a, Ingested)]
    assert [a.columns["external_id"] for a in taken] == [f"B{n}" for n in range(40)]
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, external_id, grid_code, xmin::text AS tx FROM event ORDER BY id")
        ).all()
        logged = conn.execute(text("SELECT count(*) FROM event_log WHERE action = 'report'"))
        announced = conn.execute(
            text("SELECT count(*) FROM stream_message WHERE kind = 'event.created'")
        )
        audited = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'event.ingest'"))
        assert (logged.scalar_one(), announced.scalar_one(), audited.scalar_one()) == (40, 40, 40)
    # Each sender's answer is its own stored row.
    assert {(a.columns["id"], a.columns["external_id"], a.columns["grid_code"]) for a in taken} == {
        (r.id, r.external_id, r.grid_code) for r in rows
    }
    # Rows written by one transaction share its id (xmin): far fewer transactions than events.
    transactions = {r.tx for r in rows}
    assert 1 < len(transactions) < 20


def test_a_repeat_inside_one_batch_is_known_and_a_second_report_nearby_links_to_the_first(
    engine: Engine, county: Router, db_url: str
) -> None:
    batcher = IngestBatcher(db_url)
    first, again = new_event(county, "R1"), new_event(county, "R1", description="再报")
    near = new_event(county, "R2")
    # The first sender's batch starts alone at once; the three behind it wait and go together.
    lead = new_event(county, "R0", grid=list(f.GRIDS)[-1])
    answers = send_all(batcher, [lead, first, again, near])[1:]

    assert isinstance(answers[0], Ingested) and answers[0].created
    assert answers[1] is None  # known: its sender is answered with the stored R1
    assert isinstance(answers[2], Ingested) and answers[2].created
    assert answers[2].columns["duplicate_of"] == answers[0].columns["id"]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT external_id, xmin::text FROM event")).all()
    assert sorted(r[0] for r in rows) == ["R0", "R1", "R2"]
    assert len({r[1] for r in rows if r[0] != "R0"}) == 1  # R1 and R2: one transaction


def test_one_bad_event_fails_only_its_own_sender(
    engine: Engine, county: Router, db_url: str
) -> None:
    batcher = IngestBatcher(db_url)
    good = [new_event(county, f"G{n}") for n in range(6)]
    # An id longer than the column (which the HTTP door refuses before it gets here): the
    # database refuses the row, failing the whole batch's transaction; the batcher then
    # takes its events one by one.
    too_long = "X" * 101
    bad = dataclasses.replace(
        good[3], external_id=too_long, params={**good[3].params, "external_id": too_long}
    )
    answers = send_all(batcher, [*good[:3], bad, *good[3:]])

    assert isinstance(answers[3], psycopg.errors.StringDataRightTruncation)
    assert all(isinstance(a, Ingested) and a.created for i, a in enumerate(answers) if i != 3)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT external_id FROM event ORDER BY id")).scalars().all()
    assert sorted(stored) == sorted(f"G{n}" for n in range(6))


def test_an_unreachable_database_fails_every_waiting_sender_and_stores_nothing(
    engine: Engine, county: Router, db_url: str
) -> None:
    batcher = IngestBatcher("postgresql+psycopg://gridmap@127.0.0.1:9/nowhere")
    answers = send_all(batcher, [new_event(county, f"D{n}") for n in range(5)])

    assert all(isinstance(a, DatabaseUnavailable) for a in answers)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event")).scalar_one() == 0
    # Back up (here: the live database), the same senders succeed.
    batcher = IngestBatcher(db_url)
    answers = send_all(batcher, [new_event(county, f"D{n}") for n in range(5)])
    assert all(isinstance(a, Ingested) and a.created for a in answers)


def test_a_batch_is_cut_only_where_an_event_could_see_an_earlier_one(county: Router) -> None:
    g1, g8 = f.G1, list(f.GRIDS)[-1]
    usual = [
        new_event(county, "U1", grid=g1),
        new_event(county, "U2", grid=g8),  # same category, far away
        new_event(county, "U3", grid=g1, category="VEND"),  # near, another category
        new_event(county, "U4", grid=g1, reported_at=NOW + dt.timedelta(hours=3)),  # later
    ]
    assert independent_runs(usual) == [range(0, 4)]

    storm = [
        new_event(county, "S1", grid=g1),
        new_event(county, "S2", grid=g8),
        new_event(county, "S3", grid=g1),  # may link to S1: a new run
        new_event(county, "S4", grid=g8),  # may link to S2, in the earlier run: no cut
        new_event(county, "S3", grid=g8),  # a repeat of S3: a new run
    ]
    assert independent_runs(storm) == [range(0, 2), range(2, 4), range(4, 5)]
    assert independent_runs([]) == []
