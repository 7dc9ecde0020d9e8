"""The FastAPI application factory: `create_app(settings)`; nothing is read at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import health
from api.context import AppContext
from api.errors import install_error_handlers
from gridmap import __version__
from gridmap.db import check_database, make_engine, resolve_database_url, session_factory
from gridmap.settings import Settings

log = logging.getLogger("gridmap.api")


def create_app(settings: Settings, *, database_url: str | None = None) -> FastAPI:
    """Build the app. The database is opened in the lifespan, so building is cheap.

    `database_url` skips resolution (the CLI resolves once, before starting workers).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url or resolve_database_url(settings)
        engine = make_engine(url)
        check_database(engine)
        app.state.ctx = AppContext(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            database_url=url,
        )
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="gridmap",
        version=__version__,
        description="Grid management and command center: routing, events, boundaries.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    return app


def app_from_environment() -> FastAPI:
    """For `uvicorn --factory api.app:app_from_environment` (the CLI's worker processes)."""
    import os

    return create_app(Settings(), database_url=os.environ.get("GRIDMAP_RESOLVED_DATABASE_URL"))
