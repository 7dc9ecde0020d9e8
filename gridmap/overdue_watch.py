"""The overdue check run by the service itself, every minute, in one process at a time.

`run_once` is one check in its own transaction: it marks what passed a deadline, alerts
(log and live stream, as `gridmap.events.check_overdue` does) and commits. Every worker
process of `gridmap serve` runs an `OverdueWatch`; the transaction first takes a
PostgreSQL advisory lock with `pg_try_advisory_xact_lock`, so when two workers' checks
meet, one does the work and the other returns at once with nothing to do, instead of
both reading every open event. (`check_overdue` locks its rows with SKIP LOCKED besides,
so even two checks that both ran could not mark an event twice.)
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections.abc import Callable

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gridmap.errors import ConfigurationError
from gridmap.events import check_overdue

log = logging.getLogger("gridmap.overdue_watch")

# The key of the advisory lock: released when the check's transaction ends.
LOCK_KEY = "gridmap.overdue_watch"


def run_once(engine: Engine, *, now: dt.datetime) -> list[int]:
    """One overdue check at `now`, committed; the ids it marked ([] if another process is
    checking right now)."""
    with Session(engine) as session:
        got_lock = session.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"), {"key": LOCK_KEY}
        ).scalar_one()
        if not got_lock:
            return []
        marked = check_overdue(session, now=now)
        session.commit()
    return marked


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OverdueWatch:
    """Calls `run_once` every `interval_s` seconds on a daemon thread until `stop()`.

    A failed run (the database restarting, say) is logged and the next run tries again:
    the watch must outlive a bad minute, or deadlines would pass unnoticed until a restart.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        interval_s: float,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        if not (interval_s > 0 and math.isfinite(interval_s)):
            # Zero means "no watch" to the setting (`start_overdue_watch` returns None);
            # a watch itself needs a real interval or its thread would spin or never run.
            raise ConfigurationError(
                f"the overdue check needs a positive number of seconds between runs, not "
                f"{interval_s!r} (GRIDMAP_OVERDUE_CHECK_SECONDS=0 turns it off)",
                details={"setting": "GRIDMAP_OVERDUE_CHECK_SECONDS", "value": str(interval_s)},
            )
        self._engine = engine
        self._interval_s = interval_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0  # completed runs, for tests and the health of the watch

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="overdue-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the run in progress, if any (it is one short transaction)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        # First run after one interval: a service starting must not compete with its own
        # start-up work, and a deadline missed by a minute is still caught a minute later.
        while not self._stop.wait(self._interval_s):
            try:
                marked = run_once(self._engine, now=self._clock())
            except Exception:  # see the class docstring: keep watching
                log.exception("overdue check failed; trying again in %s s", self._interval_s)
                continue
            self.runs += 1
            if marked:
                log.info("overdue check marked %d events", len(marked))


def start_overdue_watch(engine: Engine, *, interval_s: float) -> OverdueWatch | None:
    """Start a watch every `interval_s` seconds; None when the setting turns it off (0)."""
    if interval_s <= 0:
        return None
    watch = OverdueWatch(engine, interval_s=interval_s)
    watch.start()
    return watch
