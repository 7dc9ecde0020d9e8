"""Who handles an event together (联合哨): the lead and the co-handlers the rules call for.

An event on the boundary between grids would otherwise be pushed from one side to the
other; a coordination-priority event (协调哨) needs its category's department beside the
grid. So an event the rules mark goes to its own team as lead, with the teams of the grids
it touches and its category's department as co-handlers. `gridmap.events.lifecycle.act` uses this
when an operator assigns such an event without naming a team, and to fill in a joint
dispatch whose teams are not named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridmap import teams
from gridmap.models import Event, EventCoHandler, Team

ON_BOUNDARY = "on_boundary"
COORDINATION = "coordination"


@dataclass(frozen=True, slots=True)
class JointPlan:
    """A lead, its co-handlers (never the lead) and why each rule applied."""

    lead: Team
    co_teams: tuple[Team, ...]
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lead": self.lead.code,
            "co_teams": [t.code for t in self.co_teams],
            "reasons": list(self.reasons),
        }


def boundary_grid_codes(routing: dict[str, Any] | None) -> list[str]:
    """The other grids an on-boundary routing result names (its candidates)."""
    flags = (routing or {}).get("flags") or {}
    if not flags.get("on_boundary"):
        return []
    return [c["code"] for c in flags.get("candidates") or () if c.get("code")]


def plan_joint_dispatch(session: Session, *, event: Event, lead: Team | None) -> JointPlan | None:
    """The joint dispatch the rules call for with `lead` (default: the event's team), or
    None: the event is on no boundary with another team, is not coordination priority, or
    already has co-handlers."""
    lead = lead or (session.get(Team, event.team_id) if event.team_id else None)
    if lead is None or event.county_code is None or _has_co_handlers(session, event):
        return None
    found: dict[int, Team] = {}
    reasons: list[str] = []
    for code in boundary_grid_codes(event.routing):
        team = teams.responsible_team(
            session, county_code=event.county_code, layer="grid", area_code=code
        )
        if team is not None and team.id != lead.id:
            found.setdefault(team.id, team)
            if ON_BOUNDARY not in reasons:
                reasons.append(ON_BOUNDARY)
    if event.priority == COORDINATION and event.department_code:
        team = teams.department_team(
            session, county_code=event.county_code, department_code=event.department_code
        )
        if team is not None and team.id != lead.id:
            found.setdefault(team.id, team)
            reasons.append(COORDINATION)
    if not found:
        return None
    return JointPlan(lead=lead, co_teams=tuple(found.values()), reasons=tuple(reasons))


def _has_co_handlers(session: Session, event: Event) -> bool:
    stmt = select(EventCoHandler.id).where(EventCoHandler.event_id == event.id).limit(1)
    return session.scalar(stmt) is not None
