"""Concurrent senders' events taken in together: one transaction and round trip per batch.

Each new event on its own costs a transaction: a pooled connection, a round trip for the
statement and one for the commit, and PostgreSQL's per-transaction work. Under load many
senders wait at once, so the batcher takes whatever is waiting and runs it as one batch
of pipelined statements (`gridmap.ingest.take_in_rows`), and answers every sender only
after that batch is committed. There is no timer: a lone event goes at once as a batch of
one, and a batch grows only while the one before it is still in the database.

The batcher talks to PostgreSQL on its own asyncio connection, on the event loop: a batch
handed to a worker thread instead cost a thread hop and a fight for the GIL with the
loop answering the senders (docs/performance.md, "Ingest").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import psycopg

from gridmap.db import libpq_conninfo, translate_errors
from gridmap.errors import DatabaseUnavailable, InvalidInput
from gridmap.ingest import Ingested, NewEvent, take_in_rows

log = logging.getLogger("gridmap.ingest")

# What a sender gets: its new event, or None when its (source, external_id) was known.
Taken = Ingested | None
_Waiting = tuple[NewEvent, "asyncio.Future[Taken]"]


class IngestBatcher:
    """Takes events in from one event loop, one batch at a time, on one connection.

    One batch in the database at a time lets the next grow while it runs (PostgreSQL's
    CPU per event in process: 1.33 ms alone, 0.89 ms in eights, 0.73 ms in sixteens). A
    batch that fails for any reason but an unreachable database is retried one event per
    transaction, so one bad event fails only its own sender.
    """

    def __init__(self, database_url: str, *, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise InvalidInput("an ingest batch needs max_batch >= 1")
        self._url = database_url
        self._conninfo = libpq_conninfo(database_url)
        self._max_batch = max_batch
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._waiting: list[_Waiting] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, event: NewEvent) -> Taken:
        """Take `event` in; returns once the batch holding it is committed."""
        future: asyncio.Future[Taken] = asyncio.get_running_loop().create_future()
        self._waiting.append((event, future))
        self._start_batch()
        return await future

    def _start_batch(self) -> None:
        if self._waiting and self._running is None:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            self._running = asyncio.create_task(self._run(batch))

    async def _run(self, batch: list[_Waiting]) -> None:
        try:
            try:
                results = await self._commit([event for event, _ in batch])
            except Exception as exc:
                if len(batch) == 1 or isinstance(exc, DatabaseUnavailable):
                    for _, future in batch:
                        _fail(future, exc)
                    return
                log.warning("a batch of %d events failed (%s); one by one now", len(batch), exc)
                for waiting in batch:
                    await self._run_alone(waiting)
                return
            for (_, future), taken in zip(batch, results, strict=True):
                if not future.done():  # a sender that hung up has cancelled its future
                    future.set_result(taken)
        finally:
            self._running = None
            self._start_batch()

    async def _run_alone(self, waiting: _Waiting) -> None:
        event, future = waiting
        try:
            (taken,) = await self._commit([event])
        except Exception as exc:
            _fail(future, exc)
        else:
            if not future.done():
                future.set_result(taken)

    async def _commit(self, events: Sequence[NewEvent]) -> list[Taken]:
        with translate_errors(self._url):
            connection = await self._connect()
            async with connection.transaction():  # every sender is answered after its commit
                return await take_in_rows(connection, events)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """The batcher's connection, opened anew when the last one broke (a restarted
        server fails the batch that finds out, with 503; the next one reconnects)."""
        if self._connection is None or self._connection.closed or self._connection.broken:
            self._connection = await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,  # transactions are explicit: one per batch
                application_name="gridmap-ingest",
                connect_timeout=10,
            )
        return self._connection

    async def close(self) -> None:
        """Let the running batch finish, then close the connection (at shutdown)."""
        while self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


def _fail(future: asyncio.Future[Taken], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
