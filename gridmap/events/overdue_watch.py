"""The overdue check run by the service itself, every minute, in one process at a time.

`run_once` is one check in its own transaction: it marks what passed a deadline, alerts
(log and live stream, as `gridmap.events.lifecycle.check_overdue` does) and commits. Every worker
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

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gridmap.events.lifecycle import check_overdue
from gridmap.periodic import PeriodicJob, take_turn

log = logging.getLogger("gridmap.overdue_watch")

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
