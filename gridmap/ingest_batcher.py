"""Concurrent senders' events taken in together: one transaction and round trip per batch.

Each new event on its own costs a transaction: a thread hop, a pooled connection, a
round trip for the statement and one for the commit, and PostgreSQL's per-transaction
work. Under load many senders wait at once, so the batcher takes whatever is waiting
and runs it as one batch (`gridmap.ingest.take_in_batch`), and answers every sender only
after that batch is committed. There is no timer: a lone event goes at once as a batch of
one, and a batch grows only while earlier ones are still in the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from gridmap.db import translate_errors
from gridmap.errors import DatabaseUnavailable, InvalidInput
from gridmap.ingest import Ingested, NewEvent, take_in_batch

log = logging.getLogger("gridmap.ingest")

_Waiting = tuple[NewEvent, "asyncio.Future[Ingested]"]


class IngestBatcher:
    """Takes events in from one event loop, in batches, on worker threads.

    At most `concurrency` batches are in the database at once (two: one committing while
    the next runs its statements), each of at most `max_batch` events. A batch that fails
    for any reason but an unreachable database is retried one event per transaction, so
    one bad event fails only its own sender.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        database_url: str | None = None,
        max_batch: int = 64,
        concurrency: int = 1,
    ) -> None:
        if max_batch < 1 or concurrency < 1:
            raise InvalidInput("an ingest batch needs max_batch >= 1 and concurrency >= 1")
        self._sessions = sessions
        self._url = database_url
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._waiting: list[_Waiting] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, event: NewEvent) -> Ingested:
        """Take `event` in; returns once the batch holding it is committed."""
        future: asyncio.Future[Ingested] = asyncio.get_running_loop().create_future()
        self._waiting.append((event, future))
        self._start_batches()
        return await future

    def _start_batches(self) -> None:
        while self._waiting and self._running < self._concurrency:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            self._running += 1
            task = asyncio.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Waiting]) -> None:
        try:
            results = await asyncio.to_thread(self._commit, [event for event, _ in batch])
        except Exception as exc:
            if len(batch) == 1 or isinstance(exc, DatabaseUnavailable):
                for _, future in batch:
                    _fail(future, exc)
            else:
                log.warning("a batch of %d events failed (%s); one by one now", len(batch), exc)
                for waiting in batch:
                    await self._run_alone(waiting)
        else:
            for (_, future), taken in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(taken)
        finally:
            self._running -= 1
            self._start_batches()

    async def _run_alone(self, waiting: _Waiting) -> None:
        event, future = waiting
        try:
            (taken,) = await asyncio.to_thread(self._commit, [event])
        except Exception as exc:
            _fail(future, exc)
        else:
            if not future.done():
                future.set_result(taken)

    def _commit(self, events: Sequence[NewEvent]) -> list[Ingested]:
        with translate_errors(self._url), self._sessions() as session:
            taken = take_in_batch(session, events)
            session.commit()  # every sender is answered only after this
        return taken

    async def drain(self) -> None:
        """Wait for every batch started so far (at shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _fail(future: asyncio.Future[Ingested], exc: BaseException) -> None:
    if not future.done():  # a sender that hung up has cancelled its future
        future.set_exception(exc)
