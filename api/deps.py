"""Typed dependencies shared by the routers."""

from __future__ import annotations

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
