"""GET /api/stream: the live stream as Server-Sent Events, with catch-up by Last-Event-ID."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import SESSION_COOKIE
from api.context import AppContext
from api.deps import ContextDep
from api.listener import LiveMessage, StreamListener, format_message
from gridmap.access import Jurisdiction, Principal
from gridmap.errors import DatabaseUnavailable, GridmapError, InvalidInput
from gridmap.notify import StreamMessage, highest_message_id, messages_after

router = APIRouter(tags=["stream"])

HEARTBEAT_SECONDS = 15.0
# How often an open stream asks whether its credential is still good (one coalesced query
# per worker for all its streams, `gridmap.access.token_gate`).
CREDENTIAL_CHECK_SECONDS = 2.0
RETRY_MS = 2000
REPLAY_PAGE = 1000


def get_listener(request: Request) -> StreamListener:
    listener: StreamListener = request.app.state.stream_listener
    return listener


def stream_scope(request: Request) -> Jurisdiction | None:
    """The jurisdiction whose events this client hears about (None: all of them).

    `auth.enforce` has put the principal on the request (the unscoped system one when
    authentication is off). Without one, fail closed: only messages for every map pass.
    """
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return Jurisdiction()
    if principal.jurisdiction.everywhere:
        return None
    return principal.jurisdiction


CredentialCheck = Callable[[], Awaitable[bool]]


def credential_check(request: Request, ctx: AppContext) -> CredentialCheck | None:
    """How to ask whether the credential this stream was opened with is still good: its
    token not revoked or expired; its session not ended (logout, the user disabled, its
    password reset) or expired. None: nothing to end (authentication off)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    gate = ctx.token_gate
    if principal is None or gate is None:
        return None
    if principal.kind == "token" and principal.id is not None:
        token_id = principal.id
        return lambda: gate.live(token_id)
    cookie = request.cookies.get(SESSION_COOKIE)
    if principal.kind == "user" and cookie:
        return lambda: gate.session_live(cookie)
    return None


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
    scope: Annotated[Jurisdiction | None, Depends(stream_scope)],
    request: Request,
    last_id: Annotated[
        int | None, Query(ge=0, description="catch up after this id (as Last-Event-ID)")
    ] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """`event.created`, `event.changed`, `event.overdue`, `boundaries.published` as they
    happen; with `Last-Event-ID` (or `?last_id=`) first every message after that id.

    Only messages about events the caller may read. The stream ends within
    `CREDENTIAL_CHECK_SECONDS` of its credential ending (logout, disabled user, password
    reset, revoked or expired token)."""
    since = parse_last_id(last_event_id, last_id)
    if not await listener.wait_ready(timeout=5.0):
        raise DatabaseUnavailable("the live stream is not connected to the database yet")
    if since is not None:
        highest = await asyncio.to_thread(_highest_id, ctx)
        if since > highest:
            # An id this database never handed out (it was reset or restored): the client's
            # view is stale either way; continue live rather than wait for that id forever.
            since = None
    sub, watermark = listener.subscribe(scope=scope, last_id=since)
    still_good = credential_check(request, ctx)

    async def body() -> AsyncIterator[str]:
        try:
            yield f"retry: {RETRY_MS}\n: connected pid={os.getpid()}\n\n"
            replay_after, replay_to = since, watermark
            while True:
                while replay_after is not None and replay_after < replay_to:
                    page = await asyncio.to_thread(
                        _replay_page, ctx, replay_after, replay_to, scope
                    )
                    if page:
                        yield "".join(format_message(m) for m in page)
                    replay_after = page[-1].id if len(page) == REPLAY_PAGE else replay_to
                sent = sub.after
                clock = asyncio.get_running_loop().time
                next_beat = clock() + HEARTBEAT_SECONDS
                next_check = clock() + CREDENTIAL_CHECK_SECONDS
                while not sub.behind:
                    wake = min(next_beat, next_check) if still_good else next_beat
                    first: StreamMessage | None = None
                    with contextlib.suppress(TimeoutError):
                        first = await asyncio.wait_for(sub.queue.get(), max(0.0, wake - clock()))
                    if still_good is not None and clock() >= next_check:
                        if not await _still_good(still_good):
                            return  # the credential ended: so does the stream
                        next_check = clock() + CREDENTIAL_CHECK_SECONDS
                    if first is None:
                        if clock() >= next_beat:
                            yield ": heartbeat\n\n"
                            next_beat = clock() + HEARTBEAT_SECONDS
                        continue
                    # Whatever queued meanwhile goes in the same write: one send per poll
                    # of the listener, however many events it brought.
                    batch = [first, *sub.take()]
                    yield "".join(_sse(m) for m in batch)
                    sent = batch[-1].id
                    next_beat = clock() + HEARTBEAT_SECONDS
                # Its queue overflowed: read what it missed from the table, then go on live.
                replay_after, replay_to = sent, listener.catch_up(sub)
        finally:
            listener.unsubscribe(sub)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _still_good(check: CredentialCheck) -> bool:
    """The credential's answer; a database that cannot answer now ends nothing (the next
    check asks again; a reconnecting client meets the same outage at the door)."""
    try:
        return await check()
    except GridmapError:
        return True


def _sse(message: StreamMessage) -> str:
    return message.sse if isinstance(message, LiveMessage) else format_message(message)


def _highest_id(ctx: ContextDep) -> int:
    with ctx.sessions() as session:
        return highest_message_id(session)


def _replay_page(
    ctx: ContextDep, after: int, up_to: int, scope: Jurisdiction | None
) -> list[StreamMessage]:
    with ctx.sessions() as session:
        return messages_after(session, last_id=after, limit=REPLAY_PAGE, scope=scope, up_to=up_to)
