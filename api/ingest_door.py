"""POST /api/events straight from the server to the ingest, past the framework's routing.

Ingest is the hottest path (hundreds of events a second during a storm). FastAPI's route
matching, dependency solving and response-model serialisation cost more than taking the
event in (docs/performance.md, "Ingest"), so this middleware answers that one path
itself: the same permission check (`api.auth.enforce`), the same work
(`api.events.take_in_post`), the same error bodies (`api.errors`). The FastAPI route stays
the documented one and serves an app without this door.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import enforce
from api.errors import domain_error_response, unexpected_error_response
from api.events import take_in_post
from gridmap.errors import GridmapError

INGEST_PATH = "/api/events"


class IngestDoor:
    """ASGI middleware: takes POST /api/events itself and hands everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != INGEST_PATH:
            await self.app(scope, receive, send)
            return
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
