"""GET /api/search: areas, teams and events the command view can fly to, in the caller's
jurisdiction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import PrincipalDep
from api.deps import ReadSessionDep as SessionDep  # may read from the replica
from gridmap import search as finder

router = APIRouter(prefix="/api", tags=["search"])


@router.get(
    "/search",
    summary="Find areas by code prefix or name, teams by name or code, events by id",
)
def search(
    session: SessionDep,
    principal: PrincipalDep,
    q: Annotated[
        str,
        Query(
            description="a code (or its beginning), part of a name, a team, or an event id "
            "(`1234` or `#1234`)",
            max_length=finder.MAX_QUERY_CHARS,
        ),
    ],
    limit: Annotated[
        int, Query(ge=1, le=finder.MAX_LIMIT, description="at most this many of each kind")
    ] = 10,
) -> dict[str, Any]:
    """Each hit has `kind` (area | team | event), `id`, `code`, `name`, `layer`, and `bbox`
    [west, south, east, north] or `point` [lon, lat] to fly to; the exact code comes first."""
    result = finder.search(
        session,
        query=q,
        jurisdiction=principal.jurisdiction,
        own_team_id=principal.team_id,
        limit=limit,
    )
    return result.to_dict()
