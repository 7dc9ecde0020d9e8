"""Natural batching on an event loop: whatever is waiting goes as one batch, one at a time.

No timer: a lone item goes at once as a batch of one, and a batch grows only while the
one before it is still running. Under load batches grow by themselves, and each item's
batch starts after the item arrived (a check it asks for is made after it asked).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from gridmap.errors import InvalidInput

Item = TypeVar("Item")
Result = TypeVar("Result")

# Runs one batch: a result, or the exception that item's sender gets, per item in order.
RunBatch = Callable[[Sequence[Item]], Awaitable[Sequence[Result | BaseException]]]


class Coalescer(Generic[Item, Result]):
    """Collects items submitted from one event loop and runs them in batches."""

    def __init__(self, run_batch: RunBatch[Item, Result], *, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise InvalidInput("a batch needs max_batch >= 1")
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """The item's result, once the batch holding it has run."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._start()
        return await future

    def _start(self) -> None:
        if self._waiting and self._running is None:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            self._running = asyncio.create_task(self._run(batch))

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results: Sequence[Result | BaseException]
            try:
                results = await self._run_batch([item for item, _ in batch])
            except Exception as exc:
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # a sender that hung up has cancelled its future
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            self._running = None
            self._start()

    async def drain(self) -> None:
        """Wait until every batch started so far has run (at shutdown)."""
        while self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
