"""GET /health: is the database there, which PostGIS, which boundary version is active, and
the database's role (primary or standby) with its standbys' sync state and replay lag."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ContextDep, SessionDep
from gridmap.boundaries import versions as boundaries
from gridmap.db import check_database
from gridmap.replication import replication_status

router = APIRouter(tags=["health"])


@router.get("/health")
def health(ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    db = check_database(ctx.engine)
    # The latest of the counties' active versions (each county has its own).
    active = boundaries.active_version(session)
    # Role and lag: a service behind a multi-host URL shows which server it follows now.
    replication = replication_status(session)
    read = ctx.read_replica.status() if ctx.read_replica is not None else None
    return {
        "status": "ok",
        # GRIDMAP_READ_DATABASE_URL's standby: its replay lag is the bound on how stale the
        # reads served there are (over max_lag_s, they go to the primary).
        "read_database": read,
        "database": {"server_version": db["server_version"], "reachable": True, **replication},
        "postgis_version": db["postgis_version"],
        "active_version": (
            {"id": active.id, "name": active.name, "activated_at": active.activated_at}
            if active
            else None
        ),
    }
