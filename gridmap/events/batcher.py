"""Concurrent senders' events taken in together: one transaction and round trip per batch.

Each new event on its own costs a transaction: a pooled connection, a round trip for the
statement and one for the commit, and PostgreSQL's per-transaction work. Under load many
senders wait at once, so the batcher takes whatever is waiting (`gridmap.coalesce`) and
takes it in with one set-based statement (`gridmap.events.ingest.take_in_rows`), and answers
every sender only after that batch is committed.

The batcher talks to PostgreSQL on its own asyncio connection, on the event loop: a batch
handed to a worker thread instead cost a thread hop and a fight for the GIL with the
loop answering the senders (docs/performance.md, "Ingest").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg

from gridmap.coalesce import Coalescer
from gridmap.db import libpq_conninfo, needs_reconnect, translate_errors
from gridmap.errors import DatabaseUnavailable
from gridmap.events.ingest import Ingested, NewEvent, take_in_rows

log = logging.getLogger("gridmap.ingest")

# What a sender gets: its new event, or None when its (source, external_id) was known.
Taken = Ingested | None


class IngestBatcher:
    """Takes events in from one event loop, one batch at a time, on one connection.

    One batch in the database at a time lets the next grow while it runs (PostgreSQL's
    CPU per event in process: 0.88 ms alone, 0.57 ms in fours, 0.52 ms in sixteens). A
    batch that fails for any reason but an unreachable database is retried one event per
    transaction, so one bad event fails only its own sender.
    """

    def __init__(self, database_url: str, *, max_batch: int = 64) -> None:
        self._url = database_url
        self._conninfo = libpq_conninfo(database_url)
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._batches: Coalescer[NewEvent, Taken] = Coalescer(self._run, max_batch=max_batch)

    async def submit(self, event: NewEvent) -> Taken:
        """Take `event` in; returns once the batch holding it is committed."""
        return await self._batches.submit(event)

    async def _run(self, events: Sequence[NewEvent]) -> Sequence[Taken | BaseException]:
        try:
            return await self._commit(events)
        except DatabaseUnavailable:
            raise  # every sender gets it: nothing to retry one by one
        except Exception as exc:
            if len(events) == 1:
                raise
            log.warning("a batch of %d events failed (%s); one by one now", len(events), exc)
        alone: list[Taken | BaseException] = []
        for event in events:
            try:
                alone += await self._commit([event])
            except Exception as exc:
                alone.append(exc)
        return alone

    async def _commit(self, events: Sequence[NewEvent]) -> list[Taken]:
        with translate_errors(self._url):
            connection = await self._connect()
            # Every sender is answered after the commit: take_in_rows returns after it.
            return await take_in_rows(connection, events)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """The batcher's connection, opened anew when the last one broke or its server
        said goodbye (a restart: the first batch after it does not fail on the dead one)."""
        if self._connection is None or needs_reconnect(self._connection):
            if self._connection is not None:
                await self._connection.close()
            self._connection = await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,  # a batch's statement is its own transaction (take_in_rows)
                application_name="gridmap-ingest",
                connect_timeout=10,
            )
        return self._connection

    async def close(self) -> None:
        """Let the running batch finish, then close the connection (at shutdown)."""
        await self._batches.drain()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
