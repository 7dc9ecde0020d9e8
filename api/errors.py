"""The one place domain errors become HTTP statuses, with one error body shape:
`{"error": {"code": ..., "message": ..., "details": {...}}}`."""

from __future__ import annotations

import logging
import math
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridmap import errors as e
from gridmap import messages
from gridmap.db import database_unavailable, is_connection_failure

log = logging.getLogger("gridmap.api")

# Most specific first: the first class an error is an instance of decides.
STATUS: list[tuple[type[e.GridmapError], int]] = [
    (e.PayloadTooLarge, 413),
    (e.UnsupportedMedia, 415),
    (e.UnknownCategory, 422),
    (e.InvalidInput, 422),
    (e.NotFound, 404),
    (e.OutsideCoverage, 422),
    (e.Conflict, 409),
    (e.AuthenticationRequired, 401),
    (e.PermissionDenied, 403),
    (e.RateLimited, 429),
    (e.DatabaseUnavailable, 503),
    (e.EmbeddedDatabaseError, 503),
    (e.ConfigurationError, 500),
]


def status_for(exc: e.GridmapError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def _json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON: the bad input a detail reports may be exactly that."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def request_language(request: Request | None) -> str:
    """The language an answer speaks: `?lang=`, else the Accept-Language header, else
    Chinese (zh-CN)."""
    if request is None:
        return messages.DEFAULT_LANG
    return messages.language(
        request.query_params.get("lang") or request.headers.get("accept-language")
    )


def error_body(
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    *,
    reason: str | None = None,
    params: dict[str, Any] | None = None,
    lang: str = messages.DEFAULT_LANG,
) -> dict[str, Any]:
    """`code` is the stable class of the error; `reason` the precise refusal and `params`
    its values, from which `text` is said in the caller's language (`gridmap.messages`)
    and a page renders it in its reader's."""
    why = reason or code
    text = messages.error_text(why, params, lang) or messages.error_text(code, params, lang)
    return {
        "error": {
            "code": code,
            "reason": why,
            "params": _json_safe(params or {}),
            "text": text or message,
            "message": message,
            "details": _json_safe(details or {}),
        }
    }


def domain_error_response(request: Request, exc: e.GridmapError) -> JSONResponse:
    status = status_for(exc)
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    headers = {"Retry-After": "5"} if status == 503 else None
    if isinstance(exc, e.DatabaseUnavailable):
        # The log above has where and why; a caller (an anonymous one too) learns only that
        # the database is unavailable and when to try again, not the server's host or user.
        body = error_body(
            exc.code,
            "the database is unavailable; try again shortly",
            lang=request_language(request),
        )
        return JSONResponse(body, status_code=status, headers=headers)
    return JSONResponse(
        error_body(
            exc.code,
            exc.message,
            exc.details,
            reason=exc.reason,
            params=exc.params,
            lang=request_language(request),
        ),
        status_code=status,
        headers=headers,
    )


def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    if is_connection_failure(exc):
        # A query that no `translate_errors` wrapped: the database is still the one down.
        return domain_error_response(request, database_unavailable(exc))
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        error_body(
            "internal_error",
            "internal error; the server log has the details",
            lang=request_language(request),
        ),
        status_code=500,
    )


def data_error_response(request: Request, exc: Exception) -> JSONResponse:
    """A value the database refused (a NUL character, a number out of range) is the
    sender's bad input, not the server's failure: 422 with the driver's one-line reason.
    Checks that name the field come first (`gridmap.events.input`); this is the net under
    every path that has none."""
    orig = getattr(exc, "orig", None) or exc
    diag = getattr(orig, "diag", None)
    reason = (diag.message_primary if diag is not None else None) or str(orig).splitlines()[0]
    log.warning("%s %s: the database refused a value: %s", request.method, request.url.path, reason)
    return JSONResponse(
        error_body(
            "invalid_input", f"a value cannot be stored: {reason}", lang=request_language(request)
        ),
        status_code=422,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.GridmapError)
    async def _domain(request: Request, exc: e.GridmapError) -> JSONResponse:
        return domain_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "where": ".".join(str(p) for p in err.get("loc", ())),
                "problem": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        first = problems[0] if problems else {"where": "", "problem": "invalid request"}
        message = f"{first['where']}: {first['problem']}" if first["where"] else first["problem"]
        return JSONResponse(
            error_body(
                "invalid_input",
                message,
                {"problems": problems},
                lang=request_language(request),
            ),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        details = getattr(exc, "details", None)
        return JSONResponse(
            error_body(code, str(exc.detail), details, lang=request_language(request)),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(sqlalchemy.exc.DataError)
    @app.exception_handler(psycopg.DataError)
    async def _data(request: Request, exc: Exception) -> JSONResponse:
        return data_error_response(request, exc)

    # The net under every query that no `translate_errors` wrapped: a lost database is a
    # 503 with Retry-After wherever it is noticed, never an unexpected 500.
    @app.exception_handler(sqlalchemy.exc.OperationalError)
    @app.exception_handler(sqlalchemy.exc.DisconnectionError)
    @app.exception_handler(sqlalchemy.exc.InterfaceError)
    @app.exception_handler(psycopg.OperationalError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(request, exc)
