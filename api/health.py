"""GET /health: is the database there, which PostGIS, which boundary version is active."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import ContextDep, SessionDep
from gridmap.db import check_database

router = APIRouter(tags=["health"])


@router.get("/health")
def health(ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    db = check_database(ctx.engine)
    active = session.execute(
        text("SELECT id, name, activated_at FROM boundary_version WHERE status = 'active'")
    ).first()
    return {
        "status": "ok",
        "database": {"server_version": db["server_version"], "reachable": True},
        "postgis_version": db["postgis_version"],
        "active_version": (
            {"id": active.id, "name": active.name, "activated_at": active.activated_at}
            if active
            else None
        ),
    }
