"""One LISTEN connection per worker process: fans stream messages out to its SSE clients.

Every worker process runs one `StreamListener`. It holds one psycopg connection that
polls for new `stream_message` rows every 50 ms (written by any process: another worker,
the CLI, an import; see `gridmap.notify` for why polling, not a NOTIFY per message) and
LISTENs on `gridmap_boundaries` (published boundaries) and `gridmap_stream` (an optional
"look now"). It fans the new rows out in id order, but only up to a *settled* id: id 11
waits while the transaction holding id 10 is still open, so a client that reconnects with
`Last-Event-ID: 11` has really seen everything up to 11. It reconnects with back-off when
the database goes away (the rows are the truth, nothing announced meanwhile is lost).

Fan-out is cheap per client: each message is encoded as SSE text once (`LiveMessage.sse`),
and a client whose queue fills is not dropped but marked `behind`: its response reads what
it missed from the table and carries on (see `catch_up` and api/stream.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from gridmap.access import Jurisdiction
from gridmap.db import libpq_conninfo
from gridmap.notify import (
    ANNOUNCE_LOCK,
    BOUNDARIES_CHANNEL,
    HIGHEST_ID_SQL,
    IN_FLIGHT_SQL,
    MESSAGES_BETWEEN_SQL,
    STREAM_CHANNEL,
    StreamMessage,
    visible_to,
)

log = logging.getLogger("gridmap.stream")

APPLICATION_NAME = "gridmap-stream-listener"
MAX_NOTES = 64
BoundariesCallback = Callable[[], Awaitable[None] | None]


def format_message(message: StreamMessage) -> str:
    """One message as Server-Sent Events text (id, event, one data line)."""
    data = orjson.dumps(message.payload).decode()  # compact, UTF-8 as is: as json.dumps was
    # JSON text has no raw newlines (they are escaped in strings), so one `data:` line.
    return f"id: {message.id}\nevent: {message.kind}\ndata: {data}\n\n"


class LiveMessage(StreamMessage):
    """A message fanned out live: its SSE text is encoded once, not once per client."""

    @functools.cached_property
    def sse(self) -> str:
        return format_message(self)


@dataclass(eq=False)
class Subscription:
    """One connected SSE client: its queue, its jurisdiction, and what it has already seen."""

    queue: asyncio.Queue[StreamMessage]
    # The client's jurisdiction: it hears only about events it may read (None: all).
    scope: Jurisdiction | None
    # Messages with an id up to this one reach the client by replay, not through the queue.
    after: int
    # Set when the client's queue was full: later messages are not queued; its response
    # reads what it missed from the table (`StreamListener.catch_up`) and carries on.
    behind: bool = False

    def offer(self, message: StreamMessage) -> None:
        if self.behind or message.id <= self.after:
            return
        if not visible_to(
            kind=message.kind,
            county_code=message.county_code,
            township_code=message.township_code,
            payload=message.payload,
            scope=self.scope,
        ):
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # A slow client must not hold the others back, nor lose messages: it stops
            # queueing here and catches up from the table, at its own pace.
            self.behind = True

    def take(self) -> list[StreamMessage]:
        """Everything queued now, in id order (one write to the client, not one per message)."""
        out: list[StreamMessage] = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out


@dataclass
class _Pending:
    """A high mark waiting for the announcing transactions that were open when it was read."""

    highest: int
    in_flight: set[str] = field(default_factory=set)


class StreamListener:
    """The worker's LISTEN connection and its fan-out to subscribed SSE clients."""

    def __init__(
        self,
        database_url: str,
        *,
        queue_size: int = 1000,
        poll_seconds: float = 0.05,
        settle_poll_seconds: float = 0.005,
        # Short: after a failover the stream is late by up to this much (a refused or
        # read-only server answers a connection attempt at once, so retrying is cheap).
        max_backoff_seconds: float = 1.0,
    ) -> None:
        self._conninfo = libpq_conninfo(database_url)
        self.queue_size = queue_size
        self.poll_seconds = poll_seconds
        self.settle_poll_seconds = settle_poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._subscriptions: set[Subscription] = set()
        self._boundaries_callbacks: list[BoundariesCallback] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        # Every message with an id up to `delivered` has been fanned out (or never will be).
        self.delivered = 0
        self._pending: list[_Pending] = []
        self.connections = 0  # how many times it (re)connected: a figure for tests and logs

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gridmap-stream-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._callback_tasks):
            task.cancel()

    async def wait_ready(self, timeout: float) -> bool:
        """Whether the listener knows its starting point (it has reached the database)."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # --- clients --------------------------------------------------------------------

    def subscribe(
        self, *, scope: Jurisdiction | None, last_id: int | None
    ) -> tuple[Subscription, int]:
        """Register a client; return it and the id up to which it must replay from the table.

        No `await` here: registering and reading `delivered` happen between two fan-outs,
        so replay (last_id, delivered] plus the queue (> delivered) is every message once.
        """
        watermark = self.delivered
        after = watermark if last_id is None else max(last_id, watermark)
        sub = Subscription(
            queue=asyncio.Queue(maxsize=self.queue_size),
            scope=scope,
            after=after,
        )
        self._subscriptions.add(sub)
        return sub, watermark

    def catch_up(self, sub: Subscription) -> int:
        """Put a client that fell `behind` back on the live queue; return the id up to which
        it must now read from the table (after the last message it was sent).

        No `await` here, for the same reason as in `subscribe`: every message up to
        `delivered` has been offered, every later one will be, to a queue emptied now.
        """
        sub.take()  # all of it is at most `delivered`: the replay sends it again
        sub.after = max(sub.after, self.delivered)
        sub.behind = False
        return sub.after

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    @property
    def client_count(self) -> int:
        return len(self._subscriptions)

    def on_boundaries(self, callback: BoundariesCallback) -> None:
        """Call `callback` (sync: in a thread; async: as a task) whenever boundaries are
        published by any process, and after a reconnect (a signal may have been missed)."""
        self._boundaries_callbacks.append(callback)

    # --- the loop -------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.1
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo,
                    autocommit=True,
                    application_name=APPLICATION_NAME,
                    connect_timeout=10,
                    # Notice a dead server on an idle connection, not only on the next poll.
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                ) as conn:
                    await conn.execute(f"LISTEN {STREAM_CHANNEL}")
                    await conn.execute(f"LISTEN {BOUNDARIES_CHANNEL}")
                    self.connections += 1
                    if first:
                        await self._start_at_settled(conn)
                        self._ready.set()
                    else:
                        log.info("stream listener reconnected (pid %s)", os.getpid())
                        self._boundaries_changed()
                    first = False
                    backoff = 0.1
                    await self._listen(conn)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                log.warning(
                    "stream listener lost the database (%s); retrying in %.1f s",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    backoff,
                )
            except Exception:
                log.exception("stream listener failed; retrying in %.1f s", backoff)
            self._pending = []
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_seconds)

    async def _start_at_settled(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Start after the newest settled message: history is for replay, not for fan-out."""
        highest = await self._highest(conn)
        in_flight = await self._in_flight(conn)
        while in_flight:
            await asyncio.sleep(self.settle_poll_seconds)
            in_flight &= await self._in_flight(conn)
        self.delivered = highest

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        loop = asyncio.get_running_loop()
        last_advance = 0.0
        while True:
            # Under a burst of NOTIFYs, look at most every settle_poll_seconds: one look
            # serves every message that committed meanwhile.
            since = loop.time() - last_advance
            if since < self.settle_poll_seconds:
                await asyncio.sleep(self.settle_poll_seconds - since)
            wait = self.settle_poll_seconds if self._pending else self.poll_seconds
            boundaries = False
            # stop_after=1: wake on the first notification; those arriving while we query
            # are kept by psycopg and returned by the next call.
            async for notify in conn.notifies(timeout=wait, stop_after=1):
                boundaries = boundaries or notify.channel == BOUNDARIES_CHANNEL
            if boundaries:
                self._boundaries_changed()
            last_advance = loop.time()
            await self._advance(conn)

    async def _advance(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Fan out every message that is settled and not yet delivered.

        Each look notes the high mark and the announcers in flight at that moment. A
        note is settled once all of its announcers have ended; later notes include
        the earlier ones' survivors, so the newest settled note bounds what may go out.
        Noting every look (not waiting for one note to settle before taking the next)
        keeps the delay near the time the slowest open announcer still needs.
        """
        highest = await self._highest(conn)
        newest = self._pending[-1].highest if self._pending else self.delivered
        if highest <= newest and not self._pending:
            return  # nothing new: the usual answer to a poll
        in_flight = await self._in_flight(conn)
        if highest > newest and len(self._pending) < MAX_NOTES:
            self._pending.append(_Pending(highest=highest, in_flight=set(in_flight)))
        elif highest > newest:
            # A long-open announcer holds everything back: fold notes rather than pile them up.
            self._pending[-1].highest = highest
            self._pending[-1].in_flight |= in_flight
        up_to = None
        for note in self._pending:
            note.in_flight &= in_flight
            if not note.in_flight:
                up_to = note.highest
        if up_to is None:
            return  # look again in settle_poll_seconds, or at the next notification
        self._pending = [note for note in self._pending if note.highest > up_to]
        while self.delivered < up_to:
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(
                    MESSAGES_BETWEEN_SQL,
                    {"after": self.delivered, "up_to": up_to, "limit": 1000},
                )
                rows = await cur.fetchall()
            for row in rows:
                self._fan_out(LiveMessage(**row))
            self.delivered = rows[-1]["id"] if len(rows) == 1000 else up_to

    def _fan_out(self, message: StreamMessage) -> None:
        for sub in list(self._subscriptions):
            sub.offer(message)

    async def _highest(self, conn: psycopg.AsyncConnection[Any]) -> int:
        cur = await conn.execute(HIGHEST_ID_SQL)
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _in_flight(self, conn: psycopg.AsyncConnection[Any]) -> set[str]:
        lock = {"lock1": ANNOUNCE_LOCK[0], "lock2": ANNOUNCE_LOCK[1]}
        cur = await conn.execute(IN_FLIGHT_SQL, lock)
        row = await cur.fetchone()
        return set(row[0]) if row else set()

    def _boundaries_changed(self) -> None:
        for callback in self._boundaries_callbacks:
            task = asyncio.create_task(self._call(callback))
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_tasks.discard)

    async def _call(self, callback: BoundariesCallback) -> None:
        try:
            if inspect.iscoroutinefunction(callback):
                await callback()
            else:
                result = await asyncio.to_thread(callback)
                if inspect.isawaitable(result):
                    await result
        except Exception:
            log.exception("boundaries callback %r failed", callback)
