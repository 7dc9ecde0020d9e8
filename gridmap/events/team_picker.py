"""Which teams an operator may hand an event to, best first (the team picker, issue #18).

Typing a team's code ("T-ZHZF") was the only way to assign or dispatch jointly. This
suggests, in order: the event's current team, the team on duty for its grid (the routed
team), the teams of the grids that touch it, the community's and the township's duty
teams, the department its category belongs to; with a search text, then every other team
of the county whose code, name or department's name holds it (a department's name finds
its teams). Each comes with its open load (the open events it leads) so the operator sees
who is swamped. Only teams the caller may hand the event to are offered
(`gridmap.events.escalation.team_in_reach`, the rule `act` enforces).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from gridmap import teams
from gridmap.access.permissions import Jurisdiction
from gridmap.boundaries import versions as boundaries
from gridmap.events import workflow as wf
from gridmap.events.escalation import escalation_targets, team_in_reach
from gridmap.models import Department, Event, Team

# Why a team is suggested, in the order they are offered.
CURRENT = "current"
ROUTED = "routed"
NEIGHBOUR = "neighbour"
COMMUNITY = "community"
TOWNSHIP = "township"
DEPARTMENT = "department"
SEARCH = "search"
ESCALATION = "escalation"  # on duty at the level an escalation reaches

MAX_CANDIDATES = 50


@dataclass(frozen=True, slots=True)
class Candidate:
    team: Team
    why: str
    department_name: str | None
    open_events: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.team.code,
            "name": self.team.name,
            "level": self.team.level,
            "department": self.department_name,
            "why": self.why,
            "open_events": self.open_events,
        }


def _neighbour_grid_codes(session: Session, event: Event) -> list[str]:
    """The grids of the active map that touch the event's grid, by code."""
    if not event.grid_code or not event.county_code:
        return []
    version = boundaries.active_version(session, county_code=event.county_code)
    if version is None:
        return []
    rows = session.execute(
        text(
            "SELECT DISTINCT b.code FROM area a JOIN area b "
            "ON b.layer = 'grid' AND b.county_code = a.county_code AND b.code <> a.code "
            f"AND {boundaries.valid_in('v', alias='b')} AND ST_Intersects(a.geom, b.geom) "
            f"WHERE a.layer = 'grid' AND a.code = :grid AND {boundaries.valid_in('v', alias='a')} "
            "ORDER BY b.code"
        ),
        {"grid": event.grid_code, "v": version.id},
    )
    return [str(code) for (code,) in rows]


def _suggested(session: Session, event: Event) -> list[tuple[Team, str]]:
    found: list[tuple[Team, str]] = []
    if event.team_id is not None:
        current = session.get(Team, event.team_id)
        if current is not None:
            found.append((current, CURRENT))
    county = event.county_code
    if county is None:
        return found

    def duty(layer: str, code: str | None, why: str) -> None:
        if code:
            team = teams.responsible_team(session, county_code=county, layer=layer, area_code=code)
            if team is not None:
                found.append((team, why))

    duty("grid", event.grid_code, ROUTED)
    for code in _neighbour_grid_codes(session, event):
        duty("grid", code, NEIGHBOUR)
    duty("community", event.community_code, COMMUNITY)
    duty("township", event.township_code, TOWNSHIP)
    if event.department_code:
        dept = teams.department_team(
            session, county_code=county, department_code=event.department_code
        )
        if dept is not None:
            found.append((dept, DEPARTMENT))
    return found


def _matches(team: Team, department_name: str | None, q: str) -> bool:
    q = q.casefold()
    return any(q in (s or "").casefold() for s in (team.code, team.name, department_name))


def team_candidates(
    session: Session, *, event: Event, scope: Jurisdiction, q: str | None = None
) -> list[Candidate]:
    """The teams to offer for `event`, best first, each once, within the caller's reach."""
    q = (q or "").strip() or None
    ordered = _suggested(session, event)
    if q is not None and event.county_code is not None:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = "%" + escaped + "%"
        others = session.scalars(
            select(Team)
            .outerjoin(Department, Department.id == Team.department_id)
            .where(
                Team.county_code == event.county_code,
                Team.active.is_(True),
                or_(
                    Team.code.ilike(pattern),
                    Team.name.ilike(pattern),
                    Department.name.ilike(pattern),
                ),
            )
            .order_by(Team.level, Team.code)
            .limit(MAX_CANDIDATES * 2)
        ).all()
        ordered += [(t, SEARCH) for t in others]
    seen: set[int] = set()
    unique: list[tuple[Team, str]] = []
    for team, why in ordered:
        if team.id not in seen and team.active:
            seen.add(team.id)
            unique.append((team, why))
    dept_names = _department_names(session, [t for t, _ in unique])
    picked = [
        (t, why)
        for t, why in unique
        if (q is None or _matches(t, dept_names.get(t.department_id or -1), q))
        and (scope.everywhere or team_in_reach(session, scope=scope, team=t))
    ][:MAX_CANDIDATES]
    return _with_load(session, picked, dept_names)


def _department_names(session: Session, found: list[Team]) -> dict[int, str]:
    dept_ids = {t.department_id for t in found if t.department_id is not None}
    if not dept_ids:
        return {}
    return dict(
        session.execute(
            select(Department.id, Department.name).where(Department.id.in_(dept_ids))
        ).all()
    )


def _with_load(
    session: Session, picked: list[tuple[Team, str]], dept_names: dict[int, str]
) -> list[Candidate]:
    ids = [t.id for t, _ in picked]
    load = (
        dict(
            session.execute(
                select(Event.team_id, func.count())
                .where(Event.team_id.in_(ids), Event.status.in_(sorted(wf.OPEN_STATES)))
                .group_by(Event.team_id)
            ).all()
        )
        if ids
        else {}
    )
    return [
        Candidate(
            team=t,
            why=why,
            department_name=dept_names.get(t.department_id or -1),
            open_events=int(load.get(t.id, 0)),
        )
        for t, why in picked
    ]


def escalation_candidates(
    session: Session, *, event: Event, q: str | None = None
) -> list[Candidate]:
    """The teams an escalation of `event` may go to, the default (the next level's duty
    team) first, then that level's other duty teams and, at the county, the departments —
    the category's first (`gridmap.events.escalation.escalation_targets`, the rule `act`
    enforces). Not limited to the caller's reach: an escalation goes above it by nature.
    Empty at the top of the four-level cycle."""
    q = (q or "").strip() or None
    up, targets = escalation_targets(session, event)
    dept_names = _department_names(session, targets)
    picked = [
        (t, ESCALATION if t.level == up else DEPARTMENT)
        for t in targets
        if q is None or _matches(t, dept_names.get(t.department_id or -1), q)
    ][:MAX_CANDIDATES]
    return _with_load(session, picked, dept_names)
