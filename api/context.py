"""What a running app holds: settings, the engine and session factory (set up in the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gridmap.access import TokenGate
from gridmap.events import IngestBatcher
from gridmap.read_replica import ReadReplica
from gridmap.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    database_url: str
    # gridmap.routing.router.Router once boundaries are loaded (None: no active version yet).
    router: Any = None
    # Takes concurrent ingests in together (started in the lifespan; None in a bare context).
    ingest_batcher: IngestBatcher | None = None
    # Bearer tokens' principals kept and liveness checked on the loop (None: ask each time).
    token_gate: TokenGate | None = None
    # GRIDMAP_READ_DATABASE_URL's standby (None: every read goes to the primary).
    read_replica: ReadReplica | None = None
