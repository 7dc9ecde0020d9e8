"""Who may take an event: the teams a caller may hand it to (`team_in_reach`) and the
level and teams an escalation reaches (`escalation_targets`, `escalate`) in the four-level
cycle (四级循环). `gridmap.events.lifecycle.act` enforces them; `gridmap.events.team_picker`
offers them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gridmap import teams
from gridmap.access.permissions import Jurisdiction
from gridmap.access.scope import scope_for
from gridmap.boundaries import versions as boundaries
from gridmap.errors import Conflict, InvalidInput, PermissionDenied
from gridmap.events import workflow as wf
from gridmap.models import Duty, Event, Team


def named_team(session: Session, event: Event, code: str) -> Team:
    stmt = select(Team).where(Team.code == code)
    if event.county_code:
        stmt = stmt.where(Team.county_code == event.county_code)
    found = session.scalars(stmt.limit(2)).all()
    if len(found) != 1:
        raise InvalidInput(
            f"team: no team with code {code!r}" + (" in this county" if event.county_code else ""),
            details={"field": "team", "value": code},
            reason="unknown_team",
            params={"team": code},
        )
    if not found[0].active:
        raise InvalidInput(
            f"team: team {code!r} is inactive",
            details={"field": "team", "value": code},
            reason="team_inactive",
            params={"team": code},
        )
    return found[0]


# Teams that serve a whole county: the departments a township blows the whistle for
# (吹哨报到) and the enforcement units.
COUNTY_UNITS = ("department", "enforcement")


def team_in_reach(session: Session, *, scope: Jurisdiction, team: Team) -> bool:
    """Whether a caller of `scope` may hand an event to `team` (assign, joint dispatch).

    Its own team; a department or enforcement team of a county its areas lie in; or a
    team on duty for an area inside its areas on the active map (`area_scope`, the map's
    rule). Not another township's grid or duty team, nor one a level above the caller.
    """
    if scope.everywhere or team.id == scope.team_id:
        return True
    if team.level in COUNTY_UNITS and team.county_code in scope.home_counties:
        return True
    active = boundaries.active_version(session)
    if active is None:
        return False
    where, params = scope_for(session, jurisdiction=scope, version_id=active.id).sql("a")
    codes = list(session.scalars(select(Duty.area_code).where(Duty.team_id == team.id)))
    if not codes:
        return False
    inside = session.execute(
        text(
            f"SELECT 1 FROM area a WHERE a.valid_to IS NULL AND a.code = ANY(:codes) "
            f"AND {where} LIMIT 1"
        ),
        {"codes": codes, **params},
    ).first()
    return inside is not None


def check_team_in_reach(session: Session, *, scope: Jurisdiction, team: Team) -> None:
    if not team_in_reach(session, scope=scope, team=team):
        raise PermissionDenied(
            f"team {team.code} is on duty outside your areas: hand the event to a team of "
            "yours, a county department, or escalate it",
            details={"team": team.code},
            reason="team_out_of_reach",
            params={"team": team.code},
        )


def escalation_targets(session: Session, event: Event) -> tuple[str | None, list[Team]]:
    """The level an escalation of `event` reaches (None at the top) and the teams it may
    go to there, the default first: the teams on duty for the event's community, township
    or county at that level (the responsible or lead one first); at the county also the
    county's departments and enforcement teams (the county blows the whistle and
    departments report for duty), the category's department first."""
    up = wf.next_level(event.escalation_level)
    if up is None or not event.county_code:
        return up, []
    area_code = {
        "community": event.community_code,
        "township": event.township_code,
        "county": event.county_code,
    }[up]
    found: list[Team] = []
    default = (
        teams.responsible_team(
            session, county_code=event.county_code, layer=up, area_code=area_code
        )
        if area_code
        else None
    )
    if default is not None:
        found.append(default)
    if area_code:
        found += session.scalars(
            select(Team)
            .join(Duty, Duty.team_id == Team.id)
            .where(
                Duty.county_code == event.county_code,
                Duty.layer == up,
                Duty.area_code == area_code,
                Team.active.is_(True),
            )
            .order_by(Team.id)
        ).all()
    if up == "county":
        if event.department_code:
            dept = teams.department_team(
                session, county_code=event.county_code, department_code=event.department_code
            )
            if dept is not None:
                found.append(dept)
        found += session.scalars(
            select(Team)
            .where(
                Team.county_code == event.county_code,
                Team.level.in_(("county", *COUNTY_UNITS)),
                Team.active.is_(True),
            )
            .order_by(Team.level, Team.code)
        ).all()
    by_id = {t.id: t for t in found}
    return up, [by_id[i] for i in dict.fromkeys(t.id for t in found)]


def escalate(
    session: Session, event: Event, *, data: dict[str, Any], target: Team | None = None
) -> Team:
    """Hand the event one level up the four-level cycle (四级循环): to `target` when the
    operator picked one of that level's teams (`escalation_targets`), else to the level's
    duty team."""
    up, targets = escalation_targets(session, event)
    if up is None:
        raise Conflict(
            f"event {event.id} is already with the county, the top of the four-level cycle",
            details={"current_state": event.status, "escalation_level": event.escalation_level},
            reason="escalation_at_top",
        )
    area_code = {
        "community": event.community_code,
        "township": event.township_code,
        "county": event.county_code,
    }[up]
    if target is not None and target.id not in {t.id for t in targets}:
        raise InvalidInput(
            f"team {target.code} does not answer at the {up} level for event {event.id}: "
            "escalate to that level's duty team or, at the county, a department",
            details={"team": target.code, "level": up},
            reason="escalation_target_invalid",
            params={"team": target.code, "level": up},
        )
    team = target or (
        teams.responsible_team(
            session, county_code=event.county_code, layer=up, area_code=area_code
        )
        if area_code and event.county_code
        else None
    )
    if team is None:
        raise Conflict(
            f"no duty team answers for the {up} of event {event.id} ({area_code or 'unknown'})",
            details={"level": up, "area_code": area_code},
            reason="no_duty_team",
            params={"level": up},
        )
    data.update(from_level=event.escalation_level, to_level=up, area_code=area_code)
    event.escalation_level = up
    event.team_id = team.id
    return team
