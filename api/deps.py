"""Typed dependencies shared by the routers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.context import AppContext
from gridmap.db import translate_errors


async def get_context(request: Request) -> AppContext:
    # async: FastAPI runs a plain `def` dependency on a worker thread, a hop per request.
    ctx: AppContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    """A unit of work per request: the route commits; anything raised rolls back."""
    session = ctx.sessions()
    try:
        with translate_errors(ctx.database_url):
            yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


# Set on a browser's successful write when a read replica is configured (api/app.py).
WROTE_COOKIE = "gridmap_wrote"


def _wrote_lately(request: Request, seconds: float) -> bool:
    try:
        return time.time() - float(request.cookies.get(WROTE_COOKIE, "")) < seconds
    except ValueError:
        return False


def get_read_session(request: Request, ctx: ContextDep) -> Iterator[Session]:
    """A session for reads that may be a little stale: on the read replica when one is set,
    its lag is under the bound and this browser has not written lately; else the primary."""
    replica = ctx.read_replica
    if (
        replica is not None
        and not _wrote_lately(request, ctx.settings.read_your_writes_seconds)
        and replica.usable()
    ):
        factory, url = replica.sessions, replica.url
    else:
        factory, url = ctx.sessions, ctx.database_url
    session = factory()
    try:
        with translate_errors(url):
            yield session
    finally:
        session.close()


ReadSessionDep = Annotated[Session, Depends(get_read_session)]
