"""Pausing Python's cyclic garbage collector while a request builds many objects.

A county's assessment builds some 12,000 unit rows; that many objects alive at once made
the collector run a full collection of the whole heap (~200,000 objects, ~100 ms) during
nearly every view (docs/performance.md). The rows hold no reference cycles — reference
counting frees them — so the collector has nothing to find there: it is paused for the
computation and resumes after. Pauses nest and may overlap across threads (a count: the
collector resumes when the last pause ends); a pause only defers collections.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_pauses = 0
_was_enabled = True


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
