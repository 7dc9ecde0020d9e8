"""GET /api/stream: the live stream as Server-Sent Events, with catch-up by Last-Event-ID."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import text

from api.deps import ContextDep
from api.listener import LiveMessage, StreamListener, format_message
from gridmap.errors import DatabaseUnavailable, InvalidInput
from gridmap.notify import HIGHEST_ID_SQL, StreamMessage, messages_after
from gridmap.permissions import Principal

router = APIRouter(tags=["stream"])

HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000
REPLAY_PAGE = 1000


def get_listener(request: Request) -> StreamListener:
    listener: StreamListener = request.app.state.stream_listener
    return listener


def stream_townships(request: Request) -> frozenset[str] | None:
    """The township codes this client may see (None: all of them), from its jurisdiction.

    `auth.enforce` has put the principal on the request (the unscoped system one when
    authentication is off). Without one, fail closed: only messages for every map pass.
    """
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return frozenset()
    if principal.jurisdiction.everywhere:
        return None
    return principal.jurisdiction.stream_townships


def parse_last_id(header: str | None, query: int | None) -> int | None:
    """The client's last seen id: the `Last-Event-ID` header wins over `?last_id=`."""
    if header is None or not header.strip():
        return query
    try:
        value = int(header.strip())
    except ValueError:
        raise InvalidInput(
            f"Last-Event-ID header must be a message id (a whole number), not {header!r}",
            details={"header": "Last-Event-ID", "value": header},
        ) from None
    if value < 0:
        raise InvalidInput(
            f"Last-Event-ID header must not be negative, not {value}",
            details={"header": "Last-Event-ID", "value": header},
        )
    return value


@router.get(
    "/api/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    ctx: ContextDep,
    listener: Annotated[StreamListener, Depends(get_listener)],
    townships: Annotated[frozenset[str] | None, Depends(stream_townships)],
    last_id: Annotated[
        int | None, Query(ge=0, description="catch up after this id (as Last-Event-ID)")
    ] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """`event.created`, `event.changed`, `event.overdue`, `boundaries.published` as they
    happen; with `Last-Event-ID` (or `?last_id=`) first every message after that id."""
    since = parse_last_id(last_event_id, last_id)
    if not await listener.wait_ready(timeout=5.0):
        raise DatabaseUnavailable("the live stream is not connected to the database yet")
    if since is not None:
        highest = await asyncio.to_thread(_highest_id, ctx)
        if since > highest:
            # An id this database never handed out (it was reset or restored): the client's
            # view is stale either way; continue live rather than wait for that id forever.
            since = None
    sub, watermark = listener.subscribe(township_codes=townships, last_id=since)

    async def body() -> AsyncIterator[str]:
        try:
            yield f"retry: {RETRY_MS}\n: connected pid={os.getpid()}\n\n"
            replay_after, replay_to = since, watermark
            while True:
                while replay_after is not None and replay_after < replay_to:
                    page = await asyncio.to_thread(
                        _replay_page, ctx, replay_after, replay_to, townships
                    )
                    if page:
                        yield "".join(format_message(m) for m in page)
                    replay_after = page[-1].id if len(page) == REPLAY_PAGE else replay_to
                sent = sub.after
                while not sub.behind:
                    try:
                        first = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
                    except TimeoutError:
                        yield ": heartbeat\n\n"
                        continue
                    # Whatever queued meanwhile goes in the same write: one send per poll
                    # of the listener, however many events it brought.
                    batch = [first, *sub.take()]
                    yield "".join(_sse(m) for m in batch)
                    sent = batch[-1].id
                # Its queue overflowed: read what it missed from the table, then go on live.
                replay_after, replay_to = sent, listener.catch_up(sub)
        finally:
            listener.unsubscribe(sub)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(message: StreamMessage) -> str:
    return message.sse if isinstance(message, LiveMessage) else format_message(message)


def _highest_id(ctx: ContextDep) -> int:
    with ctx.sessions() as session:
        return int(session.execute(text(HIGHEST_ID_SQL)).scalar_one())


def _replay_page(
    ctx: ContextDep, after: int, up_to: int, townships: frozenset[str] | None
) -> list[StreamMessage]:
    with ctx.sessions() as session:
        return messages_after(
            session, last_id=after, limit=REPLAY_PAGE, township_codes=townships, up_to=up_to
        )
