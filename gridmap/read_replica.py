"""A hot standby that serves reads which may be a little stale (GRIDMAP_READ_DATABASE_URL).

OGC features, search, statistics and vector tiles read there when it is set (a tile
made on a miss is kept through the primary: `tile_cache.tile(store_session=...)`); everything
else (writes, an event's own page, drafts) stays on the primary. The bound on staleness
is the standby's replay lag: checked at most once a second per worker, and over
`max_lag_s` (or unreachable) the reads go to the primary until it is back under. A
browser that wrote lately reads from the primary (api/deps.py), so a user sees what they
just did.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gridmap.db import make_engine, normalise_url, session_factory
from gridmap.replication import replication_status


class ReadReplica:
    """The read replica's engine, and whether its lag allows reading there now."""

    def __init__(self, url: str, *, max_lag_s: float, check_every_s: float = 1.0) -> None:
        self.url = normalise_url(url)
        self.engine: Engine = make_engine(self.url)
        self.sessions: sessionmaker[Session] = session_factory(self.engine)
        self.max_lag_s = max_lag_s
        self.check_every_s = check_every_s
        self._checked_at = -math.inf
        self._status: dict[str, Any] = {"reachable": False}
        self._lock = threading.Lock()

    def usable(self) -> bool:
        """Whether reads may go to the replica now (its lag measured within the second)."""
        due = time.monotonic() - self._checked_at >= self.check_every_s
        # One check at a time; the others go by the last answer meanwhile.
        if due and self._lock.acquire(blocking=False):
            try:
                self._check()
            finally:
                self._lock.release()
        return bool(self._status.get("in_use"))

    def _check(self) -> None:
        try:
            with self.engine.connect() as conn:
                status = replication_status(conn)
        except Exception as exc:  # unreachable, or anything else: read from the primary
            self._status = {"reachable": False, "in_use": False, "reason": type(exc).__name__}
        else:
            lag = status.get("replay_lag_s") if status["role"] == "standby" else 0.0
            in_use = lag is not None and lag <= self.max_lag_s
            self._status = {"reachable": True, **status, "in_use": in_use}
        self._checked_at = time.monotonic()

    def status(self) -> dict[str, Any]:
        """For /health: role, replay lag, the bound, and whether reads go there now."""
        self.usable()
        return {**self._status, "max_lag_s": self.max_lag_s}

    def dispose(self) -> None:
        self.engine.dispose()
