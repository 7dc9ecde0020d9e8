"""Every request body is bounded, and refused unread when its sender is not authenticated.

FastAPI reads a route's body before its dependencies run, so `api.auth.enforce` came too
late: an anonymous 400 MB POST was read whole before its 401. `BodyGuard` runs before
routing, for every request that carries a body (POST /api/events excepted: the ingest
door answers it first, authenticating before reading, with its own limit):

1. the caller, authenticated as `enforce` does (and remembered for it): no credential or
   a dead one, 401 at once, nothing read (the login route, public, is exempt);
2. the route's limit (`body_limit`, documented in docs/api.md, "Body size") against
   `Content-Length`: over it, 413 at once, nothing read;
3. a chunked body (no `Content-Length`) counted while it is read: 413 once over the limit.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import PUBLIC_ROUTES, resolve_caller
from api.errors import domain_error_response
from gridmap.errors import AuthenticationRequired, GridmapError, PayloadTooLarge
from gridmap.settings import Settings

KIB, MIB = 1024, 1024 * 1024
LOGIN_MAX_BYTES = 64 * KIB
DEFAULT_MAX_BYTES = 1 * MIB
DRAFT_EDIT_MAX_BYTES = 8 * MIB
LOCATE_MAX_BYTES = 16 * MIB  # api.locate.MAX_BATCH_BYTES
MULTIPART_OVERHEAD_BYTES = 64 * KIB

_PHOTO_UPLOAD = re.compile(r"/api/events/[^/]+/photos")
_DRAFT_UPLOAD = re.compile(r"/api/drafts/[^/]+/upload")


def body_limit(method: str, path: str, settings: Settings) -> int:
    """The largest body `method path` accepts, in bytes."""
    if path == "/api/auth/login":
        return LOGIN_MAX_BYTES
    if path == "/api/locate":
        return LOCATE_MAX_BYTES
    if _PHOTO_UPLOAD.fullmatch(path):
        return settings.photo_max_bytes + MULTIPART_OVERHEAD_BYTES
    if _DRAFT_UPLOAD.fullmatch(path):
        return settings.upload_max_bytes + MULTIPART_OVERHEAD_BYTES
    if path.startswith("/api/drafts"):
        return DRAFT_EDIT_MAX_BYTES
    return DEFAULT_MAX_BYTES


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` when a chunked body passes its limit. An HTTP exception, not a
    `GridmapError`: FastAPI turns anything else raised while it reads a body into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over its limit of {limit} bytes")
        self.details = {"max_bytes": limit}


def _too_large(declared: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body of {declared} bytes; this route takes at most {limit}",
        details={"bytes": declared, "max_bytes": limit},
    )


class BodyGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked and not declared:
            await self.app(scope, receive, send)  # no body to read
            return
        request = Request(scope)
        ctx = scope["app"].state.ctx
        method, path = scope["method"], scope["path"]
        limit = body_limit(method, path, ctx.settings)
        try:
            if ctx.settings.auth_required and (method, path) not in PUBLIC_ROUTES:
                principal, _ = await resolve_caller(request, ctx)
                if principal is None:
                    raise AuthenticationRequired(
                        "log in or send 'Authorization: Bearer <token>' (the body was not read)"
                    )
            if declared is not None and declared > limit:
                raise _too_large(declared, limit)
        except GridmapError as exc:
            # Answered without reading the body; the server closes the connection.
            await domain_error_response(request, exc)(scope, receive, send)
            return

        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)
