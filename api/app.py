"""The FastAPI application factory: `create_app(settings)`; nothing is read at import time."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.middleware.gzip import GZipMiddleware

from api import (
    admin,
    auth,
    basemap,
    docs_pages,
    drafts,
    events,
    geocoding,
    health,
    locate,
    ogc,
    pages,
    patrols,
    phone,
    queues,
    reports,
    search,
    stats,
    stream,
    tiles,
)
from api.body_limits import BodyGuard
from api.context import AppContext
from api.errors import install_error_handlers
from api.ingest_door import GridmapApp
from api.listener import StreamListener
from api.read_your_writes import MarkWrites
from api.security_headers import SecurityHeaders
from gridmap import __version__
from gridmap.access import TokenGate
from gridmap.db import check_database, make_engine, resolve_database_url, session_factory
from gridmap.events import IngestBatcher, start_overdue_watch
from gridmap.notify import start_stream_retention
from gridmap.read_replica import ReadReplica
from gridmap.routing import Router
from gridmap.settings import Settings

log = logging.getLogger("gridmap.api")


def create_app(
    settings: Settings, *, database_url: str | None = None, freeze_after_start: bool = False
) -> FastAPI:
    """Build the app. The database is opened in the lifespan, so building is cheap.

    `database_url` skips resolution (the CLI resolves once, before starting workers).
    `freeze_after_start`: for a worker process that serves only this app (see below); not
    for a test process that builds many apps, whose garbage it would keep.
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
        if settings.read_database_url:
            app.state.ctx.read_replica = ReadReplica(
                settings.read_database_url, max_lag_s=settings.read_max_lag_seconds
            )
        # Routing reads an in-memory snapshot of the active boundary version, reloaded
        # whenever any process publishes a new one.
        router = Router(app.state.ctx.sessions, settings)
        await asyncio.to_thread(router.reload)
        app.state.ctx.router = router
        app.state.ctx.ingest_batcher = IngestBatcher(url)
        app.state.ctx.token_gate = TokenGate(url)
        # One LISTEN connection per worker process feeds this worker's /api/stream clients.
        app.state.stream_listener = StreamListener(url)
        app.state.stream_listener.on_boundaries(router.reload)
        await app.state.stream_listener.start()
        # Deadlines are watched by the service itself; each run in one worker only.
        app.state.overdue_watch = start_overdue_watch(
            engine, interval_s=settings.overdue_check_seconds
        )
        # The stream's messages are kept for reconnecting clients, not forever.
        app.state.stream_retention = start_stream_retention(
            engine, days=settings.stream_retention_days
        )
        # The daily and weekly reports, made once each by one worker anywhere.
        app.state.report_job = reports.start_report_job(engine, lang=settings.default_lang)
        app.state.tile_renderer = tiles.start_prerendering(app.state.ctx, app.state.stream_listener)
        if freeze_after_start:
            # Everything built so far (the libraries, the routing snapshot) lives as long as
            # the process: move it out of the garbage collector's sight. A full collection
            # over it took ~120 ms, stalling every request in the worker each time.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await app.state.ctx.ingest_batcher.close()
            await app.state.ctx.token_gate.close()
            await asyncio.to_thread(app.state.tile_renderer.stop)
            if app.state.overdue_watch is not None:
                await asyncio.to_thread(app.state.overdue_watch.stop)
            if app.state.report_job is not None:
                await asyncio.to_thread(app.state.report_job.stop)
            if app.state.stream_retention is not None:
                await asyncio.to_thread(app.state.stream_retention.stop)
            await app.state.stream_listener.stop()
            if app.state.ctx.read_replica is not None:
                app.state.ctx.read_replica.dispose()
            engine.dispose()

    app = GridmapApp(
        title="gridmap",
        version=__version__,
        description="Grid management and command center: routing, events, boundaries.",
        lifespan=lifespan,
        # FastAPI's own /docs and /redoc load from a CDN with an inline script; gridmap
        # serves Swagger UI itself under the strict policy, and no ReDoc (api/docs_pages.py).
        docs_url=None,
        redoc_url=None,
        # The one enforcement point of the role × action table (api/auth.py).
        dependencies=[Depends(auth.enforce)],
    )
    # CSP, nosniff, frame and referrer headers on every answer (api/security_headers.py).
    app.security_headers = SecurityHeaders(tile_url=settings.tile_url)
    install_error_handlers(app)
    # Every body bounded, and refused unread when its sender is not authenticated.
    app.add_middleware(BodyGuard)
    if settings.read_database_url:
        app.add_middleware(MarkWrites, seconds=settings.read_your_writes_seconds)
    # Outermost: scripts, GeoJSON, JSON and vector tiles shrink 3-10x, which is most of a
    # first load on a village phone's slow link (bench/phone_weight.py, bench/page_weight.py).
    # Starlette leaves photos (already compressed) and the live stream (text/event-stream,
    # which must not be buffered) alone.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(admin.router)
    app.include_router(locate.router)
    app.include_router(events.router)
    app.include_router(queues.router)
    app.include_router(geocoding.router)
    app.include_router(stats.router)
    app.include_router(stats.pages)
    app.include_router(reports.router)
    app.include_router(drafts.router)
    app.include_router(ogc.router)
    app.include_router(stream.router)
    app.include_router(basemap.router)  # before tiles: /tiles/basemap/… is not a layer
    app.include_router(tiles.router)
    app.include_router(search.router)
    app.include_router(phone.router)
    app.include_router(patrols.router)
    app.include_router(pages.router)
    app.include_router(docs_pages.router)
    return app


def app_from_environment() -> FastAPI:
    """For `uvicorn --factory api.app:app_from_environment` (the CLI's worker processes)."""
    import os

    return create_app(
        Settings(),
        database_url=os.environ.get("GRIDMAP_RESOLVED_DATABASE_URL"),
        freeze_after_start=True,
    )
