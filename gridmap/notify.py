"""Announcements for the live stream: `stream_message` rows written in the change's transaction.

The notifier protocol: a domain change calls `announce()` inside its own transaction, as
late as possible before the caller commits. The message row commits (or rolls back)
together with the change, so nothing is announced that did not happen. Each worker's
listener (`api/listener.py`) looks for new rows every 50 ms, which carries messages across
worker processes within a second.

Why no NOTIFY per message: PostgreSQL serialises the commits of every transaction that
sent a NOTIFY (a cluster-wide lock held through the commit's WAL flush, so concurrent
commits can no longer share one flush). bench/ingest.py compares the two in one run: with
16 concurrent writers on a busy 2-core machine, a NOTIFY in each transaction cut commits
from 499/s to 278/s. Reading a sequence 20 times a second costs next to nothing.
Publishing boundaries is rare and must reach every worker's routing index at once, so it
still NOTIFYs `BOUNDARIES_CHANNEL` in its transaction (delivered at commit). Any process
may NOTIFY `STREAM_CHANNEL` to make the listeners look at once instead of at their next
poll.

Ordering. The message id is the SSE id a reconnecting client sends back (`Last-Event-ID`)
to catch up with "every message after this one". Ids come from a sequence when a message
is inserted, but transactions commit in any order, so id 11 can be visible before id 10
is. A reader must not pass id 10 by until it is settled (committed or rolled back). Every
announcing transaction therefore holds a shared advisory lock (`ANNOUNCE_LOCK`) from
before it takes its id until it ends; a reader reads the highest id handed out so far,
then the announcers still in flight (`in_flight_announcers`); once those have ended,
every id up to that high mark is settled (see `api/listener.py`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    FromClause,
    Insert,
    Select,
    Table,
    Text,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.errors import InvalidInput
from gridmap.models import StreamMessageRow
from gridmap.periodic import PeriodicJob, take_turn

log = logging.getLogger("gridmap.notify")

STREAM_CHANNEL = "gridmap_stream"
BOUNDARIES_CHANNEL = "gridmap_boundaries"

KINDS = ("event.created", "event.changed", "event.overdue", "boundaries.published")
# Kinds that carry nothing private and concern every map, whatever its jurisdiction.
PUBLIC_KINDS = frozenset({"boundaries.published"})

# pg_advisory_xact_lock_shared(int4, int4): key 1 is "grid" in ASCII, key 2 the stream.
ANNOUNCE_LOCK = (0x67726964, 1)

_MESSAGES = typing.cast(Table, StreamMessageRow.__table__)
# The columns an announcement fills (the id and the time are the table's).
MESSAGE_COLUMNS = ("kind", "county_code", "township_code", "payload")


def announce_lock(after: FromClause | None = None) -> Select[Any]:
    """The shared `ANNOUNCE_LOCK`, taken once — when `after` (a row source) has a row, if
    given: an announcement's rows select FROM it (`message_insert`), so the lock is held
    before the first message takes its id."""
    lock = select(func.pg_advisory_xact_lock_shared(*map(literal, ANNOUNCE_LOCK)))
    if after is None:
        return lock
    return lock.select_from(select(literal(1)).select_from(after).limit(1).subquery("one"))


def message_insert(
    held: FromClause,
    *,
    kind: Any,
    county_code: Any,
    township_code: Any,
    payload: Any,
    source: FromClause | None = None,
    order_by: Sequence[ColumnElement[Any]] = (),
) -> Insert:
    """The one INSERT of announcements: a message per row of `source` (without one: a
    single message), selected FROM `held` (`announce_lock`). Each value is SQL over
    `source`, or a Python value (bound). `announce` inserts one; the ingest statement
    inserts its batch's `event.created` messages with it."""
    values = {
        "kind": kind,
        "county_code": county_code,
        "township_code": township_code,
        "payload": payload,
    }
    rows = select(*(_sql(values[name], name) for name in MESSAGE_COLUMNS))
    rows = rows.select_from(*((held,) if source is None else (source.join(held, true()),)))
    return insert(_MESSAGES).from_select(MESSAGE_COLUMNS, rows.order_by(*order_by))


def _sql(value: Any, name: str) -> ColumnElement[Any]:
    """`value` as SQL for the column `name`: an expression as is, a Python value bound."""
    if isinstance(value, ColumnElement):
        return value.label(name)
    if name == "payload" and isinstance(value, str):
        return cast(literal(value, Text), JSONB).label(name)  # encoded by `encode_payload`
    return literal(value, _MESSAGES.c[name].type).label(name)


_MESSAGE_COLUMNS = "id, at, kind, county_code, township_code, payload"


@dataclass(frozen=True)
class StreamMessage:
    """One announcement as a stream client receives it."""

    id: int
    at: dt.datetime
    kind: str
    county_code: str | None
    township_code: str | None
    payload: dict[str, Any]


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def encode_payload(payload: dict[str, Any], *, kind: str) -> str:
    """The payload as JSON text (dates as ISO 8601); anything else unserialisable is an error."""
    if not isinstance(payload, dict):
        raise InvalidInput(
            f"announcement {kind!r}: payload must be a JSON object, not {type(payload).__name__}",
            details={"kind": kind},
        )
    try:
        return json.dumps(payload, default=_json_default, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"announcement {kind!r}: payload is not JSON-serialisable: {exc}",
            details={"kind": kind},
        ) from exc


def announce(
    session: Session,
    *,
    kind: str,
    payload: dict[str, Any],
    county_code: str | None = None,
    township_code: str | None = None,
) -> int:
    """Record an announcement in the caller's transaction; return its id (the SSE id).

    Call it last before the caller commits: until the transaction ends, the stream holds
    back every later announcement behind this one. `boundaries.published` also NOTIFYs
    `BOUNDARIES_CHANNEL` (delivered at commit), so every worker refreshes its routing index.
    """
    if kind not in KINDS:
        raise InvalidInput(
            f"unknown announcement kind {kind!r}; known kinds: {', '.join(KINDS)}",
            details={"kind": kind},
        )
    held = announce_lock().cte("held")
    message_id = int(
        session.execute(
            message_insert(
                held,
                kind=kind,
                county_code=county_code,
                township_code=township_code,
                payload=encode_payload(payload, kind=kind),
            ).returning(_MESSAGES.c.id)
        ).scalar_one()
    )
    if kind == "boundaries.published":
        session.execute(
            text("SELECT pg_notify(:channel, :message_id)"),
            {"channel": BOUNDARIES_CHANNEL, "message_id": str(message_id)},
        )
    return message_id


def visible_to(
    *,
    kind: str,
    county_code: str | None,
    township_code: str | None,
    payload: dict[str, Any],
    scope: Jurisdiction | None,
) -> bool:
    """Whether a message reaches a client of jurisdiction `scope` (None: sees all): a
    message about an event only when the client may read that event (the events list's
    rule, `Jurisdiction.covers_message`); boundaries go to every map."""
    if scope is None or kind in PUBLIC_KINDS:
        return True
    return scope.covers_message(
        county_code=county_code, township_code=township_code, payload=payload
    )


def messages_after(
    session: Session,
    *,
    last_id: int,
    limit: int = 1000,
    scope: Jurisdiction | None = None,
    up_to: int | None = None,
) -> list[StreamMessage]:
    """Messages with `last_id < id <= up_to` in id order, at most `limit`, for catch-up.

    `up_to` should be a settled id (see the module docstring); without it a message still
    in flight below the newest visible one could be skipped. `scope` applies the same rule
    as `visible_to`, in the query.
    """
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1, not {limit}", details={"limit": limit})
    where = ["id > :last_id"]
    params: dict[str, Any] = {"last_id": last_id, "limit": limit}
    if up_to is not None:
        where.append("id <= :up_to")
        params["up_to"] = up_to
    if scope is not None:
        rule, rule_params = scope.message_sql()
        where.append(f"(kind = ANY(:public_kinds) OR {rule})")
        params["public_kinds"] = sorted(PUBLIC_KINDS)
        params.update(rule_params)
    rows = session.execute(
        text(
            f"SELECT {_MESSAGE_COLUMNS} FROM stream_message "
            f"WHERE {' AND '.join(where)} ORDER BY id LIMIT :limit"
        ),
        params,
    ).all()
    return [
        StreamMessage(
            id=r.id,
            at=r.at,
            kind=r.kind,
            county_code=r.county_code,
            township_code=r.township_code,
            payload=r.payload,
        )
        for r in rows
    ]


def delete_messages_older_than(session: Session, *, days: float) -> int:
    """Retention: delete messages older than `days`; return how many. Not on the hot path."""
    if days <= 0:
        raise InvalidInput(f"retention must be positive, not {days} days", details={"days": days})
    result = session.execute(
        text("DELETE FROM stream_message WHERE at < now() - make_interval(secs => :secs)"),
        {"secs": days * 86400.0},
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# The advisory lock a retention run holds: one process trims at a time (gridmap.periodic).
RETENTION_LOCK_KEY = "gridmap.stream_retention"
# How often the service trims: the table grows by at most an hour's messages past the limit.
RETENTION_INTERVAL_S = 3600.0


def trim_stream(engine: Engine, *, days: float) -> int | None:
    """One retention run in its own transaction: delete the messages older than `days`,
    commit, return how many (None when another process is trimming right now)."""
    with Session(engine) as session:
        if not take_turn(session, RETENTION_LOCK_KEY):
            return None
        deleted = delete_messages_older_than(session, days=days)
        session.commit()
    if deleted:
        log.info("stream retention deleted %d messages older than %s days", deleted, days)
    return deleted


def start_stream_retention(
    engine: Engine, *, days: float, interval_s: float = RETENTION_INTERVAL_S
) -> PeriodicJob | None:
    """Trim `stream_message` every `interval_s` seconds to the last `days` days (a client
    reconnecting with an older Last-Event-ID gets what is left); None when `days` is 0,
    the setting's "keep every message"."""
    if days <= 0:
        return None
    job = PeriodicJob(
        name="stream retention",
        interval_s=interval_s,
        run=lambda: trim_stream(engine, days=days),
        setting="GRIDMAP_STREAM_RETENTION_DAYS",
    )
    job.start()
    return job


# --- what a stream reader needs to know which ids are settled ---------------------------

# The highest id handed out so far (sequences are not transactional: this includes ids of
# transactions still in flight and of rolled-back ones).
HIGHEST_ID_SQL = """
    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END
    FROM stream_message_id_seq
"""


def highest_message_id(session: Session) -> int:
    """The highest stream-message id handed out so far (`HIGHEST_ID_SQL`)."""
    return int(session.execute(text(HIGHEST_ID_SQL)).scalar_one())


# Announcing transactions in flight now, by virtual transaction id.
IN_FLIGHT_SQL = """
    SELECT coalesce(array_agg(virtualtransaction), '{}')
    FROM pg_locks
    WHERE locktype = 'advisory'
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = %(lock1)s AND objid = %(lock2)s AND objsubid = 2
"""

MESSAGES_BETWEEN_SQL = f"""
    SELECT {_MESSAGE_COLUMNS} FROM stream_message
    WHERE id > %(after)s AND id <= %(up_to)s ORDER BY id LIMIT %(limit)s
"""
