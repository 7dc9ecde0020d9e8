"""The side effects of a step on an event, each written once: its timeline row
(`event_log`), its announcement (`stream_message`, under `gridmap.notify`'s shared lock) and,
through the API, its audit entry (`audit_log`).

Each is one INSERT … SELECT built by one function from a row source: `timeline_insert`
here, `gridmap.notify.message_insert` and `gridmap.access.audit.entry_insert`. The workflow's
steps (`log_step`, `announce_event`, `gridmap.access.audit.record`) insert one row from bound
values; the ingest statement (`gridmap.events.ingest`) inserts its whole batch's rows with
the same functions, over its new rows, inside its one statement. What an event's columns
give a step (its county, its state after the step, the areas the stream filters its
announcement by) is said here once (`timeline_row`, `event_message`).

Functions take a Session, and never commit: the caller commits.
"""

from __future__ import annotations

import datetime as dt
import typing
from types import SimpleNamespace
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    cast,
    func,
    insert,
    literal,
    null,
    select,
)
from sqlalchemy.orm import Session

from gridmap import notify
from gridmap.events import record
from gridmap.models import Event, EventCoHandler, EventLog

_TIMELINE = typing.cast(Table, EventLog.__table__)
# The columns a step fills (the id is the table's).
STEP_COLUMNS = (
    "event_id",
    "county_code",
    "at",
    "actor",
    "action",
    "from_status",
    "to_status",
    "team_id",
    "note",
    "data",
)


def _sql(value: Any, name: str) -> ColumnElement[Any]:
    if isinstance(value, ColumnElement):
        return value.label(name)
    if value is None:  # typed, so that a union of rows knows its columns' types
        return cast(null(), _TIMELINE.c[name].type).label(name)
    return literal(value, _TIMELINE.c[name].type).label(name)


def timeline_row(
    event: Any,
    *,
    actor: Any,
    action: Any,
    from_status: Any,
    team_id: Any = None,
    note: Any = None,
    data: Any = None,
    at: Any = None,
) -> list[ColumnElement[Any]]:
    """One step's timeline row, as the SELECT list `timeline_insert` takes: `event` is the
    event after the step (an Event, or a row source's columns with its `id`,
    `county_code` and `status`); each value is SQL over the source, or a Python value
    (bound). `at` defaults to the database's now()."""
    values = {
        "event_id": event.id,
        "county_code": event.county_code,
        "at": func.now() if at is None else at,
        "actor": actor,
        "action": action,
        "from_status": from_status,
        "to_status": event.status,
        "team_id": team_id,
        "note": note,
        "data": {} if data is None else data,
    }
    return [_sql(values[name], name) for name in STEP_COLUMNS]


def timeline_insert(rows: Select[Any]) -> Insert:
    """The one INSERT of timeline rows: `rows` selects `timeline_row`s (its columns, in
    `STEP_COLUMNS` order)."""
    return insert(_TIMELINE).from_select(STEP_COLUMNS, rows)


def log_step(
    session: Session,
    event: Event,
    *,
    actor: str,
    action: str,
    from_status: str | None,
    team_id: int | None = None,
    note: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Append one step to the event's timeline; `at` defaults to the database's now()."""
    payload = dict(data or {})
    if reason:
        payload["reason"] = reason
    row = timeline_row(
        event,
        actor=actor,
        action=action,
        from_status=from_status,
        team_id=team_id,
        note=note,
        data=payload,
        at=at,
    )
    session.execute(timeline_insert(select(*row)))


def touch(event: Event, now: dt.datetime | None = None) -> None:
    event.updated_at = now or dt.datetime.now(dt.UTC)
    event.row_version = (event.row_version or 0) + 1


def co_handler_team_ids(session: Session, *, event_id: int) -> list[int]:
    return list(
        session.scalars(select(EventCoHandler.team_id).where(EventCoHandler.event_id == event_id))
    )


def event_lonlat(event: Event | SimpleNamespace) -> tuple[float, float] | None:
    if event.point is None:
        return None
    p = to_shape(event.point)
    assert isinstance(p, Point)
    return (float(p.x), float(p.y))


def announcement(event: Event) -> dict[str, Any]:
    """What the live stream says about an event (the command view's marker)."""
    columns = {name: getattr(event, name) for name in record.ANNOUNCED_COLUMNS}
    return record.announcement(columns, event_lonlat(event))


def announce_event(
    session: Session, kind: str, event: Event, *, extra: dict[str, Any] | None = None
) -> None:
    """Announce a stored event on the live stream (`gridmap.notify.announce`), with `extra`
    keys beside its `announcement`."""
    # The co-handling teams ride along: the stream sends a message only to those who may
    # read the event (`Jurisdiction.covers_message`), and co-handlers may.
    payload = {
        **announcement(event),
        "co_team_ids": co_handler_team_ids(session, event_id=event.id),
        **(extra or {}),
    }
    notify.announce(session, **event_message(event, kind=kind, payload=payload))


def event_message(event: Any, *, kind: Any, payload: Any) -> dict[str, Any]:
    """The announcement of a step on `event` (an Event, or a row source's columns), as
    `gridmap.notify.message_insert`'s values: the stream filters on its areas."""
    return {
        "kind": kind,
        "county_code": event.county_code,
        "township_code": event.township_code,
        "payload": payload,
    }
