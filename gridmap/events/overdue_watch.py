"""The overdue check run by the service itself, every minute, in one process at a time.

`run_once` is one check in its own transaction: it marks what passed a deadline, alerts
(log and live stream: `check_overdue`) and commits. Every worker
process of `gridmap serve` runs an `OverdueWatch`; the transaction first takes a
PostgreSQL advisory lock (`gridmap.periodic.take_turn`), so when two workers' checks
meet, one does the work and the other returns at once with nothing to do, instead of
both reading every open event. (`check_overdue` locks its rows with SKIP LOCKED besides,
so even two checks that both ran could not mark an event twice.)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from gridmap.errors import GridmapError
from gridmap.events import workflow as wf
from gridmap.events.deadlines import missed_deadline
from gridmap.events.lifecycle import act
from gridmap.events.steps import announce_event, log_step, touch
from gridmap.models import Event
from gridmap.periodic import PeriodicJob, take_turn

log = logging.getLogger("gridmap.overdue_watch")


# Overdue applies from receipt: an event nobody registered is late like any other.
_DEADLINE_STATES = (wf.REPORTED, wf.REGISTERED, wf.ASSIGNED, wf.IN_PROGRESS, wf.RETURNED)


def check_overdue(session: Session, *, now: dt.datetime) -> list[int]:
    """Mark events that passed a deadline, log and announce it, and escalate them one level.

    An event is marked once; it then stays marked (the statistics count it) and goes up
    one level automatically; further escalation is a person's decision.
    """
    candidates = session.scalars(
        select(Event)
        .where(
            Event.status.in_(_DEADLINE_STATES),
            Event.overdue.is_(False),
            or_(Event.due_at < now, Event.response_due_at < now),
        )
        .order_by(Event.id)
        .with_for_update(skip_locked=True)
    ).all()
    marked: list[int] = []
    for event in candidates:
        which = missed_deadline(
            now=now,
            responded=event.status not in wf.AWAITING_RESPONSE,
            response_due_at=event.response_due_at,
            due_at=event.due_at,
        )
        if which is None:
            continue
        event.overdue = True
        touch(event, now)
        log_step(
            session,
            event,
            actor=wf.SYSTEM_ACTOR,
            action="overdue",
            from_status=event.status,
            team_id=event.team_id,
            data={"deadline": which, "note_code": "overdue", "note_params": {"deadline": which}},
            at=now,
        )
        log.warning("event %s is overdue (%s deadline); alerting", event.id, which)
        session.flush()
        announce_event(session, "event.overdue", event)
        _auto_escalate(session, event, which=which, now=now)
        marked.append(event.id)
    session.flush()
    return marked


def _auto_escalate(session: Session, event: Event, *, which: str, now: dt.datetime) -> None:
    if wf.next_level(event.escalation_level) is None:
        return
    # A savepoint: a missing duty team must not undo the overdue mark itself.
    try:
        with session.begin_nested():
            act(
                session,
                event_id=event.id,
                action="escalate",
                actor=wf.SYSTEM_ACTOR,
                note_code="overdue_escalation",
                note_params={"deadline": which},
                now=now,
            )
    except GridmapError as exc:
        log.warning("event %s could not be escalated automatically: %s", event.id, exc.message)


# The key of the advisory lock: released when the check's transaction ends.
LOCK_KEY = "gridmap.overdue_watch"


def run_once(engine: Engine, *, now: dt.datetime) -> list[int]:
    """One overdue check at `now`, committed; the ids it marked ([] if another process is
    checking right now)."""
    with Session(engine) as session:
        if not take_turn(session, LOCK_KEY):
            return []
        marked = check_overdue(session, now=now)
        session.commit()
    return marked


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OverdueWatch(PeriodicJob):
    """Calls `run_once` every `interval_s` seconds on a daemon thread until `stop()`."""

    def __init__(
        self,
        engine: Engine,
        *,
        interval_s: float,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        super().__init__(
            name="overdue check",
            interval_s=interval_s,
            run=lambda: self._check(engine, clock),
            setting="GRIDMAP_OVERDUE_CHECK_SECONDS",
        )

    @staticmethod
    def _check(engine: Engine, clock: Callable[[], dt.datetime]) -> None:
        marked = run_once(engine, now=clock())
        if marked:
            log.info("overdue check marked %d events", len(marked))


def start_overdue_watch(engine: Engine, *, interval_s: float) -> OverdueWatch | None:
    """Start a watch every `interval_s` seconds; None when the setting turns it off (0)."""
    if interval_s <= 0:
        return None
    watch = OverdueWatch(engine, interval_s=interval_s)
    watch.start()
    return watch
