"""POST /api/events answered before the framework's stack: `GridmapApp`, the service's app.

Ingest is the hottest path (hundreds of events a second during a storm). FastAPI's
middleware stack, route matching, dependency solving and response-model serialisation
cost more than taking the event in (docs/performance.md, "Ingest"), so the app answers
that one path itself, first thing in `__call__`: the same permission check
(`api.auth.enforce`), the same work (`api.events.take_in_post`), the same error bodies
(`api.errors`). The FastAPI route stays the documented one (OpenAPI at /docs).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from api.auth import enforce
from api.errors import domain_error_response, unexpected_error_response
from api.events import take_in_post
from api.security_headers import SecurityHeaders
from gridmap.errors import GridmapError

INGEST_PATH = "/api/events"


class GridmapApp(FastAPI):
    """FastAPI, with POST /api/events taken in before its middleware stack."""

    # Set by `api.app.create_app`: added to every answer, this one and the stack's (the
    # stack's outermost error handler included).
    security_headers: SecurityHeaders | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.security_headers is not None:
            send = self.security_headers.wrap(scope, send)
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == INGEST_PATH:
            scope["app"] = self  # as Starlette sets it: Request.app, the app's state
            await answer_ingest(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def answer_ingest(scope: Scope, receive: Receive, send: Send) -> None:
    """One POST /api/events, answered whatever happens (as the error middleware would)."""
    request = Request(scope, receive)
    response: Response
    try:
        ctx = scope["app"].state.ctx
        await enforce(request, ctx)
        out, created = await take_in_post(request, ctx)
        response = Response(
            out.model_dump_json(),
            status_code=201 if created else 200,
            media_type="application/json",
        )
    except GridmapError as exc:
        response = domain_error_response(request, exc)
    except Exception as exc:  # the app's own handler would answer the same
        response = unexpected_error_response(request, exc)
    await response(scope, receive, send)
