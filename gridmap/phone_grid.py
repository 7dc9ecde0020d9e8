"""What a grid worker's phone shows (`/m`): the worker's own grids with their buildings, the
neighbouring grids' edges, and the tasks of the worker's team.

Every query takes the caller's jurisdiction and filters in SQL with the same rules as the
map (`gridmap.access.scope`) and the event lists (`Jurisdiction.event_clause`): no scope
rule of its own.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import case, or_, select, text
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.access.scope import AreaScope
from gridmap.boundaries.versions import VALID_IN
from gridmap.models import Event, EventCoHandler

# A county-wide user opening /m (to try it) gets a bounded answer, not a whole county.
MAX_GRIDS = 200
MAX_BUILDINGS = 3000
# The states in which a team has something to do on an event.
TASK_STATES = ("assigned", "in_progress")


def _collection(rows: Any) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": json.loads(r.geometry), "properties": r.properties}
            for r in rows
        ],
    }


def my_grid(session: Session, *, version_id: int, scope: AreaScope) -> dict[str, Any]:
    """The grids (and dedicated grids) the scope holds, the grids touching them that it
    does not hold (their outlines only: "where my grid ends"), and the buildings inside
    the held grids with their household counts."""
    fragment, params = scope.sql("area")
    params = {**params, "version": version_id, "max_grids": MAX_GRIDS}
    mine = session.execute(
        text(
            f"""
            SELECT ST_AsGeoJSON(geom, 6) AS geometry,
                   json_build_object('code', code, 'name', name, 'households', households,
                                     'layer', layer, 'county_code', county_code) AS properties
            FROM area WHERE {VALID_IN} AND layer IN ('grid', 'dedicated_grid') AND {fragment}
            ORDER BY layer, code LIMIT :max_grids
            """
        ),
        params,
    ).all()
    codes = [r.properties["code"] for r in mine if r.properties["layer"] == "grid"]
    neighbours = session.execute(
        text(
            """
            SELECT ST_AsGeoJSON(ST_Boundary(n.geom), 6) AS geometry,
                   json_build_object('code', n.code, 'name', n.name) AS properties
            FROM area n
            WHERE n.valid_from <= :version AND (n.valid_to IS NULL OR n.valid_to > :version)
              AND n.layer = 'grid' AND NOT (n.code = ANY(:codes))
              AND EXISTS (SELECT 1 FROM area m
                          WHERE m.valid_from <= :version
                            AND (m.valid_to IS NULL OR m.valid_to > :version)
                            AND m.layer = 'grid' AND m.code = ANY(:codes)
                            AND m.geom && n.geom AND ST_Intersects(m.geom, n.geom))
            ORDER BY n.code LIMIT :max_grids
            """
        ),
        {"version": version_id, "codes": codes, "max_grids": MAX_GRIDS},
    ).all()
    buildings = session.execute(
        text(
            f"""
            SELECT ST_AsGeoJSON(b.point, 6) AS geometry,
                   json_build_object('code', b.code, 'households', b.households,
                                     'population', b.population, 'address', b.address,
                                     'kind', b.kind, 'grid_code', g.code) AS properties
            FROM building b
            JOIN area g ON g.layer = 'grid' AND g.code = ANY(:codes)
                 AND g.valid_from <= :version AND (g.valid_to IS NULL OR g.valid_to > :version)
                 AND g.county_code = b.county_code
                 AND b.point && g.geom AND ST_Intersects(b.point, g.geom)
            ORDER BY b.code LIMIT {MAX_BUILDINGS}
            """
        ),
        {"version": version_id, "codes": codes},
    ).all()
    return {
        "grids": _collection(mine),
        "neighbours": _collection(neighbours),
        "buildings": _collection(buildings),
    }


def team_tasks(
    session: Session, *, jurisdiction: Jurisdiction, team_id: int | None, limit: int = 200
) -> list[Event]:
    """The events the worker's team has to act on (assigned to it, or co-handled), the
    nearest deadline first; without a team, those waiting in the worker's areas. Always
    inside the jurisdiction (the rule every event list applies)."""
    stmt = select(Event).where(jurisdiction.event_clause(), Event.status.in_(TASK_STATES))
    if team_id is not None:
        stmt = stmt.where(
            or_(
                Event.team_id == team_id,
                Event.id.in_(
                    select(EventCoHandler.event_id).where(EventCoHandler.team_id == team_id)
                ),
            )
        )
    # No deadline last; then the oldest first.
    stmt = stmt.order_by(case((Event.due_at.is_(None), 1), else_=0), Event.due_at, Event.id).limit(
        limit
    )
    return list(session.scalars(stmt))


# What "today" counts, from the audit log (every write is recorded there with its actor):
# the worker's own reports and task actions. No second form to fill in.
TODAY_ACTIONS = {
    "reports_today": ("event.ingest",),
    "tasks_started": ("event.start",),
    "tasks_handled": ("event.report_back",),
    "tasks_returned": ("event.return",),
}


def today_counts(session: Session, *, actor: str) -> dict[str, int]:
    """The worker's counts since midnight, China time (the day the ledgers count)."""
    row = session.execute(
        text(
            """
            SELECT action, count(*) AS n FROM audit_log
            WHERE actor = :actor AND action = ANY(:actions)
              AND at >= (date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai')
                         AT TIME ZONE 'Asia/Shanghai')
            GROUP BY action
            """
        ),
        {"actor": actor, "actions": [a for acts in TODAY_ACTIONS.values() for a in acts]},
    ).all()
    by_action = {r.action: int(r.n) for r in row}
    return {key: sum(by_action.get(a, 0) for a in acts) for key, acts in TODAY_ACTIONS.items()}
