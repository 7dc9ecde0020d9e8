"""Who handles an event together (联合哨): the lead and the co-handlers the rules call for.

An event on the boundary between grids would otherwise be pushed from one side to the
other; a coordination-priority event (协调哨) needs its category's department beside the
grid. So an event the rules mark goes to its own team as lead, with the teams of the grids
it touches and its category's department as co-handlers. `gridmap.events.lifecycle.act` uses this
when an operator assigns such an event without naming a team, and to fill in a joint
dispatch whose teams are not named.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from gridmap import teams
from gridmap.errors import Conflict, InvalidInput, PermissionDenied
from gridmap.events import workflow as wf
from gridmap.events.escalation import named_team
from gridmap.events.input import invalid_field
from gridmap.events.steps import announce_event, log_step, touch
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


# --- the co-handlers at work ----------------------------------------------------------


def bring_in_co_handlers(
    session: Session, event: Event, *, lead: Team, co_codes: Sequence[str]
) -> list[str]:
    """Lead team plus co-handlers (联合哨); each co-handler reports back on its part."""
    codes = [c for c in dict.fromkeys(co_codes) if c != lead.code]
    if not codes:
        raise invalid_field(
            "co_teams", "name at least one co-handling team other than the lead", list(co_codes)
        )
    for code in codes:
        co = named_team(session, event, code)
        session.execute(
            pg_insert(EventCoHandler)
            .values(event_id=event.id, team_id=co.id)
            .on_conflict_do_nothing(constraint="uq_event_co_handler")
        )
    return codes


def co_handler_own_part(
    session: Session, event: Event, action: str, named: Team | None, own_team_id: int
) -> Team:
    """A co-handling team's member acts on the lead's case: only its own report, for its
    own team. The team it reports for."""
    lead = session.get(Team, event.team_id) if event.team_id else None
    lead_code = lead.code if lead else ""
    if action not in wf.CO_HANDLER_ACTIONS:
        raise PermissionDenied(
            f"your team co-handles event {event.id}: report back on your part "
            f"(co_report_back); only the lead team {lead_code} may {action} the case",
            details={"event_id": event.id, "action": action, "lead": lead_code},
            reason="co_handler_not_lead",
            params={"action": action, "lead": lead_code},
        )
    own = session.get(Team, own_team_id)
    assert own is not None
    if named is not None and named.id != own.id:
        raise PermissionDenied(
            f"you report for your own team {own.code}, not for {named.code}",
            details={"team": named.code, "own_team": own.code},
            reason="co_handler_own_team_only",
            params={"team": named.code, "own_team": own.code},
        )
    return own


def co_handler_report(
    session: Session,
    event: Event,
    *,
    team: Team,
    actor: str,
    note: str | None,
    now: dt.datetime,
    on_behalf: bool,
) -> Event:
    """A co-handler's report on its part; `on_behalf` when someone else (the operator,
    told by phone) records it for that team: the timeline says so."""
    co = session.scalars(
        select(EventCoHandler).where(
            EventCoHandler.event_id == event.id, EventCoHandler.team_id == team.id
        )
    ).one_or_none()
    if co is None:
        raise InvalidInput(
            f"team: team {team.code!r} is neither the lead nor a co-handler of event {event.id}",
            details={"field": "team", "value": team.code},
            reason="not_a_co_handler",
            params={"team": team.code, "event_id": event.id},
        )
    if co.reported_back_at is not None:
        raise Conflict(
            f"team {team.code} has reported back on event {event.id} already",
            details={"team": team.code, "reported_back_at": co.reported_back_at.isoformat()},
            reason="co_handler_reported_already",
            params={"team": team.code},
        )
    wf.check_co_handler_report(event.status)
    if not note or not note.strip():
        raise InvalidInput(
            "co_report_back needs note",
            details={"action": "co_report_back", "missing": ["note"]},
            reason="action_needs",
            params={"action": "co_report_back", "missing": ["note"]},
        )
    co.reported_back_at = now
    co.note = note
    touch(event, now)
    log_step(
        session,
        event,
        actor=actor,
        action="co_report_back",
        from_status=event.status,
        team_id=team.id,
        note=note,
        data={"team": team.code, **({"on_behalf_of": team.code} if on_behalf else {})},
        at=now,
    )
    session.flush()
    announce_event(session, "event.changed", event)
    return event


def check_co_handlers_done(session: Session, event: Event) -> None:
    waiting = session.scalars(
        select(Team.code)
        .join(EventCoHandler, EventCoHandler.team_id == Team.id)
        .where(EventCoHandler.event_id == event.id, EventCoHandler.reported_back_at.is_(None))
        .order_by(Team.code)
    ).all()
    if waiting:
        raise Conflict(
            f"event {event.id} cannot close: co-handlers have not reported back: "
            + ", ".join(waiting),
            details={"current_state": event.status, "waiting_for": list(waiting)},
            reason="co_handlers_waiting",
            params={"waiting_for": list(waiting)},
        )
