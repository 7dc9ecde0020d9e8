"""After a boundary version is activated: move open events whose point now lies in another grid.

Closed, archived and merged events keep the grid they were handled under. An open event
that moves gets the new grid and its chain; its team follows the grid only while the
event is still with a grid team (not escalated, not handed to a department), the move is
written to its timeline ("re-routed from grid X to grid Y by version V") and announced as
`event.changed`, so the teams on both sides see it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from gridmap.errors import Conflict
from gridmap.events import record
from gridmap.events import workflow as wf
from gridmap.events.placement import routing_columns
from gridmap.events.steps import announce_event, event_lonlat, log_step, touch
from gridmap.models import Event
from gridmap.routing.router import Router
from gridmap.settings import Settings


@dataclass(frozen=True, slots=True)
class Rerouted:
    event_id: int
    from_grid: str | None
    to_grid: str | None
    from_team_id: int | None
    to_team_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event_id,
            "from_grid": self.from_grid,
            "to_grid": self.to_grid,
            "from_team": self.from_team_id,
            "to_team": self.to_team_id,
        }


def router_in_transaction(session: Session, settings: Settings) -> Router:
    """A router that reads through the caller's connection, so it sees the version this
    transaction has just activated (before it commits): publish and re-route are atomic."""
    return Router(sessionmaker(bind=session.connection()), settings)


def reroute_open_events(
    session: Session,
    *,
    router: Router,
    version_id: int,
    actor: str,
    county_code: str | None = None,
) -> list[Rerouted]:
    """Re-route every open event whose grid differs under `version_id` (the router's);
    with `county_code`, only that county's events (and those not placed in any county
    yet), since a version changes one county."""
    snapshot = router.snapshot
    if snapshot.version_id != version_id:
        raise Conflict(
            f"the router holds version {snapshot.version_id}, not {version_id}: reload it first",
            details={"router_version": snapshot.version_id, "version": version_id},
        )
    query = select(Event).where(Event.status.in_(sorted(wf.OPEN_STATES)), Event.point.is_not(None))
    if county_code is not None:
        query = query.where(or_(Event.county_code == county_code, Event.county_code.is_(None)))
    events = list(session.scalars(query.order_by(Event.id).with_for_update()))
    if not events:
        return []
    lonlats = [event_lonlat(e) or (np.nan, np.nan) for e in events]
    lons = np.array([p[0] for p in lonlats])
    lats = np.array([p[1] for p in lonlats])
    batch = router.route_many(lons, lats, crs="wgs84")
    moved: list[Rerouted] = []
    for i, event in enumerate(events):
        gid = int(batch.grid_ids[i])
        new_code = snapshot.refs[gid].code if gid >= 0 else None
        did = int(batch.dedicated_ids[i])
        new_dedicated = snapshot.refs[did].code if did >= 0 else None
        if (new_code, new_dedicated) == (event.grid_code, event.dedicated_code):
            continue
        result = router.result_at(
            batch,
            i,
            input_lon=float(lons[i]),
            input_lat=float(lats[i]),
            crs="wgs84",
            category=event.category_code,
        )
        columns = routing_columns(result)
        before_grid, before_team = event.grid_code, event.team_id
        for key in record.PLACE_COLUMNS:
            setattr(event, key, columns[key])
        if event.county_code is None:  # an event outside coverage that a new county covers
            event.county_code = columns["county_code"]
        # The team follows the grid only while a grid team holds the event: an escalated
        # event or one handed to a department stays where it was sent.
        if event.escalation_level == "grid" and event.handling_mode != "department":
            event.team_id = columns["team_id"]
            event.escalation_level = columns["escalation_level"]
        touch(event)
        log_step(
            session,
            event,
            actor=actor,
            action="reroute",
            from_status=event.status,
            team_id=event.team_id,
            data={
                "version": version_id,
                "from_grid": before_grid,
                "to_grid": event.grid_code,
                "from_team_id": before_team,
                "to_team_id": event.team_id,
                # The sentence is the catalogue's, in the reader's language.
                "note_code": "rerouted",
                "note_params": {
                    "version": version_id,
                    "from_grid": before_grid,
                    "to_grid": event.grid_code,
                },
            },
        )
        moved.append(Rerouted(event.id, before_grid, event.grid_code, before_team, event.team_id))
    session.flush()
    for event in events:
        if any(m.event_id == event.id for m in moved):
            announce_event(session, "event.changed", event)
    return moved
