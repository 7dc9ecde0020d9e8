"""A step's side effects — its timeline row, its announcement, its audit entry — are written
by one definition each, whether a workflow action takes the step or the batch ingest
statement does (issue #17): the two paths cannot fill them differently."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from gridmap import notify
from gridmap.access import audit
from gridmap.db import session_factory
from gridmap.events import ingest, ingest_statement, record, steps
from gridmap.events import lifecycle as ev
from gridmap.events.input import EventInput, EventPolicy, check_event_input
from gridmap.models import AuditLog, EventLog, StreamMessageRow
from gridmap.routing.router import Router
from gridmap.settings import Settings
from tests import factories as f

# Each side effect's table and the columns its one definition fills.
DEFINITIONS = {
    "event_log": steps.STEP_COLUMNS,
    "stream_message": notify.MESSAGE_COLUMNS,
    "audit_log": audit.ENTRY_COLUMNS,
}
INSERT = re.compile(r"INSERT INTO (\w+) \(([^)]*)\)")


def inserted_columns(sql: str) -> dict[str, list[tuple[str, ...]]]:
    """table → the column lists of every INSERT into it in `sql`."""
    found: dict[str, list[tuple[str, ...]]] = {}
    for table, columns in INSERT.findall(sql):
        found.setdefault(table, []).append(tuple(c.strip() for c in columns.split(",")))
    return found


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("small_county_db_url"))


def test_each_definition_fills_every_column_its_table_does_not_fill_itself() -> None:
    # A column added to one of these tables must be filled by its one definition (or be
    # the table's own, as the id and a message's or an entry's time are).
    own = {"event_log": {"id"}, "stream_message": {"id", "at"}, "audit_log": {"id", "at"}}
    for model in (EventLog, StreamMessageRow, AuditLog):
        table = model.__table__
        assert set(DEFINITIONS[table.name]) == set(table.c.keys()) - own[table.name], table.name


BUILDERS = (
    (steps, "timeline_insert"),
    (notify, "message_insert"),
    (audit, "entry_insert"),
)


def count_builders(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the calls of each side effect's one builder from now on."""
    calls = dict.fromkeys((name for _, name in BUILDERS), 0)
    for module, name in BUILDERS:
        builder = getattr(module, name)

        def counted(*args: Any, _builder: Any = builder, _name: str = name, **kw: Any) -> Any:
            calls[_name] += 1
            return _builder(*args, **kw)

        monkeypatch.setattr(module, name, counted)
    return calls


def test_the_batch_statement_inserts_each_side_effect_once_through_its_definition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = inserted_columns(ingest_statement.BATCH_SQL)
    for table, columns in DEFINITIONS.items():
        assert batch[table] == [columns], table
    # The statement's side effects are what the builders make of its new rows, as is.
    calls = count_builders(monkeypatch)
    built = {
        name: ingest_statement.compiled(stmt)
        for name, stmt in ingest_statement.side_effects().items()
    }
    assert calls == {"timeline_insert": 1, "message_insert": 1, "entry_insert": 1}
    for name, sql in built.items():
        assert f"AS ({' '.join(sql.split())})" in ingest_statement.BATCH_SQL, name


def test_a_workflow_step_and_an_ingest_fill_the_same_columns_alike(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = Router(session_factory(engine), Settings(home=tmp_path))
    lon, lat = f.SmallCounty.grid_center(f.G1)
    payload = EventInput(
        source="12345",
        external_id="side-effects-1",
        category="ROAD",
        reported_at=dt.datetime.now(dt.UTC),
        description="路面坑洼",
        lon=lon,
        lat=lat,
    )
    executed: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        executed.append(statement)

    with Session(engine) as session:
        taken = ingest.take_in_event(
            session,
            router=router,
            payload=check_event_input(payload, policy=EventPolicy()),
            actor="integration:hotline",
            audit=ingest.IngestAudit("integration:hotline", "10.0.0.1", {"via": "test"}),
        )
        event_id = taken.columns["id"]
        calls = count_builders(monkeypatch)
        event.listen(engine, "before_cursor_execute", remember)
        try:
            stepped = ev.act(session, event_id=event_id, action="register", actor="user:op")
            audit.record(
                session,
                actor="user:op",
                action="event.register",
                target_type="event",
                target_id=event_id,
                details={"via": "test"},
                source_addr="10.0.0.2",
            )
        finally:
            event.remove(engine, "before_cursor_execute", remember)
        session.commit()

        # The workflow's statements are built by the same definitions as the batch's.
        assert calls == {"timeline_insert": 1, "message_insert": 1, "entry_insert": 1}
        python = inserted_columns("\n".join(executed))
        for table, columns in DEFINITIONS.items():
            assert python[table] == [columns], table

        # And the rows say the same things of the event, whichever path wrote them.
        log = session.scalars(
            select(EventLog).where(EventLog.event_id == event_id).order_by(EventLog.id)
        ).all()
        assert [r.action for r in log] == ["report", "register"]
        for row, status in zip(log, ["reported", "registered"], strict=True):
            assert row.county_code == stepped.county_code == f.COUNTY
            assert row.to_status == status and row.at is not None and row.actor
            assert isinstance(row.data, dict)

        messages = session.scalars(
            select(StreamMessageRow)
            .where(StreamMessageRow.payload["id"].as_integer() == event_id)
            .order_by(StreamMessageRow.id)
        ).all()
        assert [m.kind for m in messages] == ["event.created", "event.changed"]
        marker = set(record.announcement({}, None))
        for m in messages:
            assert (m.county_code, m.township_code) == (
                stepped.county_code,
                stepped.township_code,
            )
            assert marker <= set(m.payload)

        entries = session.scalars(
            select(AuditLog).where(AuditLog.target_id == str(event_id)).order_by(AuditLog.id)
        ).all()
        assert [(e.action, e.source_addr) for e in entries] == [
            ("event.ingest", "10.0.0.1"),
            ("event.register", "10.0.0.2"),
        ]
        for e in entries:
            assert e.target_type == "event" and e.details == {"via": "test"}
