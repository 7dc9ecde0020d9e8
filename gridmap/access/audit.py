"""The audit log: one append-only row per write, naming who, when, from where and what.

An entry is written in one place (`entry_insert`): `record` writes one for a write made
here, and the ingest statement (`gridmap.events.ingest`) writes its batch's entries with it.
"""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Insert,
    String,
    Table,
    cast,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from gridmap.errors import InvalidInput
from gridmap.models import AuditLog, Event

_AUDIT = typing.cast(Table, AuditLog.__table__)
# The columns an entry fills (the id and the time are the table's).
ENTRY_COLUMNS = ("actor", "source_addr", "action", "target_type", "target_id", "details")


def entry_insert(
    *,
    actor: Any,
    action: Any,
    target_type: Any,
    target_id: Any,
    details: Any,
    source_addr: Any,
    source: FromClause | None = None,
    where: ColumnElement[bool] | None = None,
    order_by: Sequence[ColumnElement[Any]] = (),
) -> Insert:
    """The one INSERT of audit entries: an entry per row of `source` (that `where` holds
    for; without a source: one entry). Each value is SQL over `source`, or a Python value
    (bound); the target is kept as text, whatever names it."""
    values = {
        "actor": actor,
        "source_addr": source_addr,
        "action": action,
        "target_type": target_type,
        "target_id": target_id if target_id is None else cast(target_id, String),
        "details": details,
    }
    rows = select(
        *(
            (v if isinstance(v, ColumnElement) else literal(v, _AUDIT.c[name].type)).label(name)
            for name, v in ((name, values[name]) for name in ENTRY_COLUMNS)
        )
    )
    if source is not None:
        rows = rows.select_from(source)
    if where is not None:
        rows = rows.where(where)
    return insert(_AUDIT).from_select(ENTRY_COLUMNS, rows.order_by(*order_by))


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | int | None,
    details: dict[str, Any] | None = None,
    source_addr: str | None = None,
) -> int:
    """Append one entry (not committed: it commits with the write it records); its id."""
    return session.execute(
        entry_insert(
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            details=details or {},
            source_addr=source_addr,
        ).returning(_AUDIT.c.id)
    ).scalar_one()


def _check_filter(name: str, value: str | None) -> None:
    if value is not None and (len(value) > 100 or not value.isprintable()):
        raise InvalidInput(f"{name}: at most 100 printable characters", details={"field": name})


def query(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before_id: int | None = None,
    events_in: ColumnElement[bool] | None = None,
    where: ColumnElement[bool] | None = None,
    limit: int = 100,
) -> list[AuditLog]:
    """Entries, newest first. `action` matches a prefix (`event.` finds every event action).

    `target_id` also finds entries that name it in `details["codes"]`, so a boundary
    publication listing grid G answers "who moved grid G's boundary". `since` is
    inclusive, `until` exclusive. `before_id` pages: pass the id of the last entry of the
    previous page (ids only grow, so a page stays stable while new entries arrive).
    `events_in` (a WHERE clause on `event`, e.g. `Jurisdiction.event_clause()`) keeps only
    the entries about events it covers; entries about other things stay. `where` (a
    WHERE clause on `audit_log`) keeps only the entries it holds for; both are part of the
    query, so a page is never cut short by a filter applied after the LIMIT.
    """
    if not 1 <= limit <= 10_000:
        raise InvalidInput(f"limit must be 1 to 10000, not {limit}", details={"limit": limit})
    for name, value in (
        ("actor", actor),
        ("action", action),
        ("target_type", target_type),
        ("target_id", target_id),
    ):
        _check_filter(name, value)
    stmt = select(AuditLog)
    if actor:
        stmt = stmt.where(AuditLog.actor == actor)
    if action:
        stmt = stmt.where(AuditLog.action.startswith(action, autoescape=True))
    if target_type:
        stmt = stmt.where(AuditLog.target_type == target_type)
    if target_id:
        stmt = stmt.where(
            or_(
                AuditLog.target_id == target_id,
                AuditLog.details["codes"].contains([target_id]),
            )
        )
    if since is not None:
        stmt = stmt.where(AuditLog.at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.at < until)
    if before_id is not None:
        stmt = stmt.where(AuditLog.id < before_id)
    if events_in is not None:
        covered = select(cast(Event.id, String)).where(events_in)
        stmt = stmt.where(or_(AuditLog.target_type != "event", AuditLog.target_id.in_(covered)))
    if where is not None:
        stmt = stmt.where(where)
    return list(session.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit)))
