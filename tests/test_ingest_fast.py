"""Ingest in one statement: what the sender, the timeline, the stream and the audit see."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.app import create_app
from gridmap.db import make_engine, session_factory
from gridmap.errors import UnknownCategory
from gridmap.events import ingest
from gridmap.events import lifecycle as ev
from gridmap.events import queries as eq
from gridmap.events.categories import RuleRow, replace_responsibility_list
from gridmap.events.input import EventInput
from gridmap.models import AuditLog, Event, StreamMessageRow, Team
from gridmap.routing.router import Router
from gridmap.settings import Settings
from tests import factories as f

NOW = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("small_county_db_url"))


@pytest.fixture
def county(engine: Engine, tmp_path: Path) -> Router:
    return Router(session_factory(engine), Settings(home=tmp_path))


def report(external_id: str, *, category: str = "ROAD", **kw: Any) -> EventInput:
    lon, lat = f.SmallCounty.grid_center(f.G1)
    values: dict[str, Any] = {
        "source": "12345",
        "external_id": external_id,
        "category": category,
        "reported_at": NOW,
        "description": "路面坑洼",
        "lon": lon,
        "lat": lat,
        "reporter_name": "张三",
        "reporter_phone": "13812345678",
    }
    values.update(kw)
    return EventInput(**values)


def stored_row(engine: Engine, event_id: int) -> dict[str, Any]:
    """The event as a fresh session reads it from the database."""
    with session_factory(engine)() as s:
        event = ev.get_event(s, event_id=event_id)
        row = {c.key: getattr(event, c.key) for c in Event.__table__.columns if c.key != "point"}
        row["lonlat"] = ev.event_lonlat(event)
        return row


def announced(session: Session, event_id: int) -> list[dict[str, Any]]:
    messages = session.scalars(
        select(StreamMessageRow)
        .where(StreamMessageRow.kind == "event.created")
        .order_by(StreamMessageRow.id)
    ).all()
    return [m.payload for m in messages if m.payload["id"] == event_id]


def test_the_event_handed_back_is_the_stored_row_with_nothing_left_to_load(
    session: Session, engine: Engine, county: Router
) -> None:
    event, created = ingest.ingest_event(session, router=county, payload=report("R1"), actor="x")
    session.commit()
    assert created
    assert inspect(event).unloaded == set()  # reading any column costs no query
    mine = {c.key: getattr(event, c.key) for c in Event.__table__.columns if c.key != "point"}
    mine["lonlat"] = ev.event_lonlat(event)
    assert mine == stored_row(engine, event.id)


def test_a_category_the_county_took_back_goes_to_the_department_in_the_same_statement(
    session: Session, engine: Engine, county: Router
) -> None:
    event, _ = ingest.ingest_event(
        session, router=county, payload=report("CONS-1", category="CONS"), actor="hotline"
    )
    session.commit()
    duty_team = session.scalars(select(Team).where(Team.code == "D-ZJ")).one()
    assert (event.team_id, event.escalation_level) == (duty_team.id, "county")
    assert stored_row(engine, event.id)["team_id"] == duty_team.id
    [step] = eq.event_log(session, event_id=event.id)
    assert (step.action, step.actor, step.data) == (
        "report",
        "hotline",
        {"unplaced": False, "team_id": duty_team.id},
    )


def test_the_stream_says_of_each_new_event_what_announcement_says_of_the_stored_one(
    session: Session, county: Router
) -> None:
    lon, _ = f.SmallCounty.grid_center(f.G1)
    first, _ = ingest.ingest_event(session, router=county, payload=report("S1"), actor="x")
    near, _ = ingest.ingest_event(
        session, router=county, payload=report("S2", lon=lon + 0.0002), actor="x"
    )
    handed, _ = ingest.ingest_event(
        session, router=county, payload=report("S3", category="CONS"), actor="x"
    )
    lost, _ = ingest.ingest_event(
        session, router=county, payload=report("S4", lon=113.5, lat=36.5), actor="x"
    )
    session.commit()
    assert near.duplicate_of == first.id
    for event in (first, near, handed, lost):
        fresh = ev.get_event(session, event_id=event.id)
        assert announced(session, event.id) == [ev.announcement(fresh)]


def test_a_nearby_report_is_linked_and_both_steps_are_on_its_timeline(
    session: Session, county: Router
) -> None:
    lon, _ = f.SmallCounty.grid_center(f.G1)
    first, _ = ingest.ingest_event(session, router=county, payload=report("D1"), actor="x")
    second, _ = ingest.ingest_event(
        session, router=county, payload=report("D2", lon=lon + 0.0002), actor="gateway"
    )
    session.commit()
    steps = eq.event_log(session, event_id=second.id)
    assert [(s.action, s.actor) for s in steps] == [
        ("report", "gateway"),
        ("possible_duplicate", "system"),
    ]
    # The note is a catalogue code with its values, said in the reader's language.
    assert steps[1].data == {
        "duplicate_of": first.id,
        "note_code": "possible_duplicate",
        "note_params": {"event_id": first.id, "metres": 50, "minutes": 120},
    }
    assert steps[1].note is None


def test_a_category_added_after_a_refusal_is_accepted_at_once(
    session: Session, county: Router
) -> None:
    with pytest.raises(UnknownCategory, match="'WATER' is not in the responsibility list"):
        ingest.ingest_event(
            session, router=county, payload=report("W1", category="WATER"), actor="x"
        )
    session.rollback()
    rules = [
        *f.RULES,
        RuleRow("WATER", "积水", "self", "routine", 24),
    ]
    replace_responsibility_list(session, county_code=f.COUNTY, rules=rules)
    session.commit()
    event, created = ingest.ingest_event(
        session, router=county, payload=report("W1", category="WATER"), actor="x"
    )
    assert created and event.category_code == "WATER"


def test_a_resent_ticket_is_answered_with_the_stored_event_whatever_it_says_now(
    session: Session, county: Router
) -> None:
    first, _ = ingest.ingest_event(session, router=county, payload=report("T1"), actor="x")
    session.commit()
    for changed in (report("T1", category="NO-SUCH"), report("T1", description="另一个")):
        again, created = ingest.ingest_event(session, router=county, payload=changed, actor="x")
        assert (again.id, created, again.description) == (first.id, False, "路面坑洼")
    session.commit()
    assert len(announced(session, first.id)) == 1


@pytest.fixture
def client(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=db_url, home=tmp_path))) as c:
        yield c


def ticket(external_id: str, **changes: Any) -> dict[str, Any]:
    lon, lat = f.SmallCounty.grid_center(f.G1)
    body: dict[str, Any] = {
        "source": "12345",
        "external_id": external_id,
        "category": "VEND",
        "description": "占道经营",
        "location": {"lon": lon, "lat": lat, "crs": "gcj02"},
        "reporter": {"name": "张三", "phone": "13812345678"},
        "reported_at": "2026-11-21T09:30:00+08:00",
    }
    body.update(changes)
    return body


def test_the_201_answer_is_what_reading_the_event_back_gives(client: TestClient) -> None:
    for body in (ticket("H1"), ticket("H2", category="CONS"), ticket("H3", location=None)):
        if body["location"] is None:
            body["address"] = "东大街 12 号"
        posted = client.post("/api/events", json=body)
        assert posted.status_code == 201, posted.text
        read = client.get(f"/api/events/{posted.json()['id']}")
        assert posted.json() == read.json()
        again = client.post("/api/events", json=body)
        assert (again.status_code, again.json()) == (200, read.json())


def test_each_ingest_through_the_api_is_audited_once(client: TestClient, engine: Engine) -> None:
    posted = client.post("/api/events", json=ticket("A1")).json()
    client.post("/api/events", json=ticket("A1"))  # a resend writes nothing
    with session_factory(engine)() as s:
        entries = s.scalars(select(AuditLog).where(AuditLog.action == "event.ingest")).all()
        assert [(e.target_type, e.target_id, e.details) for e in entries] == [
            ("event", str(posted["id"]), {"source": "12345"})
        ]
        assert entries[0].actor and entries[0].source_addr


def test_a_resend_is_answered_from_the_stored_event_and_routed_at_most_once(
    client: TestClient,
) -> None:
    """A resend (the hotline's retry) is routed at most once: the fast path routes before
    its statement finds the ticket stored (a look-up first would cost every new event a
    round trip); the stored event is then read by its key and answered, not routed again
    (before, it went through the whole lone ingest: checked and routed a second time)."""
    router: Any = client.app.state.ctx.router  # type: ignore[attr-defined]
    assert client.app.state.ctx.ingest_batcher is not None  # type: ignore[attr-defined]
    routed: list[tuple[float, float]] = []
    real_route = router.route

    def counted(lon: float, lat: float, **kwargs: Any) -> Any:
        routed.append((lon, lat))
        return real_route(lon, lat, **kwargs)

    router.route = counted
    try:
        for body in (ticket("R1"), {**ticket("R2", location=None), "address": "东大街 12 号"}):
            client.post("/api/events", json={**body, "external_id": "warm-" + body["external_id"]})
            first = client.post("/api/events", json=body)
            assert first.status_code == 201, first.text
            before = len(routed)
            again = client.post("/api/events", json=body)
            assert (again.status_code, again.json()) == (200, first.json())
            assert len(routed) - before <= 1, (
                f"the resend of {body['external_id']} was routed twice"
            )
    finally:
        router.route = real_route


# --- the connection pool: no round trip per checkout, dead connections still noticed -----


def _terminate_others(db_url: str) -> None:
    """Kill every other connection to the test database (as a restart of the server does),
    and wait until their server processes are gone (their goodbye sent)."""
    conninfo = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _count_pings(engine: Engine) -> list[int]:
    pings = [0]
    real_ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings[0] += 1
        return real_ping(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def test_a_connection_in_steady_use_is_not_pinged_and_a_dead_one_is_replaced(
    db_url: str,
) -> None:
    engine = make_engine(db_url, pool_size=1, max_overflow=0, idle_ping_seconds=3600)
    pings = _count_pings(engine)
    try:
        before = _backend_pid(engine)
        for _ in range(5):
            assert _backend_pid(engine) == before  # the pooled connection, reused as is
        assert pings[0] == 0  # no round trip per checkout
        _terminate_others(db_url)
        # The server said goodbye on the socket: noticed at checkout, no failed request.
        assert _backend_pid(engine) != before
        assert pings[0] == 1
    finally:
        engine.dispose()


def test_a_connection_that_sat_idle_is_checked_and_replaced_before_use(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=1, max_overflow=0, idle_ping_seconds=0)
    try:
        before = _backend_pid(engine)
        _terminate_others(db_url)
        assert _backend_pid(engine) != before  # no error: the ping found it dead
    finally:
        engine.dispose()
