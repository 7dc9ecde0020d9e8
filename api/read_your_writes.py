"""Read your own writes with a read replica: a browser's successful write is marked with a
short-lived cookie, and its reads go to the primary while it lasts (api/deps.py,
`get_read_session`), so the replica's lag never hides what the user just did."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import WROTE_COOKIE

READS = frozenset({"GET", "HEAD", "OPTIONS"})


class MarkWrites:
    """Pure ASGI middleware: `Set-Cookie: gridmap_wrote=<unix time>` on answers below 400
    to any request that is not a read."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS:
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                cookie = (
                    f"{WROTE_COOKIE}={time.time():.3f}; Max-Age={max(1, round(self.seconds))}; "
                    "Path=/; HttpOnly; SameSite=Lax"
                )
                headers = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, marked)
