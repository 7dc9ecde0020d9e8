"""Work the service does on its own every so often, in one process at a time.

Every worker process of `gridmap serve` (and every node, when several share a database)
runs the same periodic jobs. Each run is one transaction that first takes a PostgreSQL
advisory lock with `pg_try_advisory_xact_lock`: when two workers' runs meet, one does the
work and the other returns at once, so the nodes need no coordinator of their own. The
lock is released when the run's transaction ends, also when its process dies.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.errors import ConfigurationError

log = logging.getLogger("gridmap.periodic")


def take_turn(session: Session, key: str) -> bool:
    """Take the advisory lock named `key` for this transaction; False when another
    process holds it (it is doing this work right now)."""
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"), {"key": key}
        ).scalar_one()
    )


class PeriodicJob:
    """Calls `run()` every `interval_s` seconds on a daemon thread until `stop()`.

    A failed run (the database restarting, say) is logged and the next run tries again:
    a job must outlive a bad minute, or its work would stop until a restart. `setting`
    names the environment variable the interval comes from, for the refusal's message.
    """

    def __init__(
        self, *, name: str, interval_s: float, run: Callable[[], object], setting: str
    ) -> None:
        if not (interval_s > 0 and math.isfinite(interval_s)):
            # Zero means "no job" to the setting (the start functions return None); a job
            # itself needs a real interval or its thread would spin or never run.
            raise ConfigurationError(
                f"the {name} needs a positive number of seconds between runs, not "
                f"{interval_s!r} ({setting}=0 turns it off)",
                details={"setting": setting, "value": str(interval_s)},
            )
        self.name = name
        self._run = run
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0  # completed runs, for tests and the health of the job

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the run in progress, if any (it is one short transaction)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        # First run after one interval: a service starting must not compete with its own
        # start-up work, and periodic work missed by one interval is done one later.
        while not self._stop.wait(self._interval_s):
            try:
                self._run()
            except Exception:  # see the class docstring: keep going
                log.exception("%s failed; trying again in %s s", self.name, self._interval_s)
                continue
            self.runs += 1
