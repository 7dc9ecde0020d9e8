"""Events in the closed loop: placing them, acting on them, deadlines, duplicates.

Taking them in is `gridmap.events.ingest`.

Every function takes a Session, flushes and never commits: the caller (an API route, a
CLI command) commits, and only then answers the sender. Each change writes the
append-only `event_log` and announces itself on the live stream in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import case, literal, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from gridmap import notify, teams
from gridmap.access.permissions import EVERYWHERE, Jurisdiction
from gridmap.access.scope import scope_for
from gridmap.boundaries import versions as boundaries
from gridmap.crs import parse_crs
from gridmap.errors import (
    Conflict,
    GridmapError,
    InvalidInput,
    NotFound,
    OutsideCoverage,
    PermissionDenied,
    VersionConflict,
)
from gridmap.events import record
from gridmap.events import workflow as wf
from gridmap.events.deadlines import Clock, clock, handling_limit, missed_deadline, response_limit
from gridmap.events.input import invalid_field, refuse_unstorable_text
from gridmap.events.joint_dispatch import JointPlan, plan_joint_dispatch
from gridmap.events.photos import StoredPhoto
from gridmap.events.placement import routing_columns
from gridmap.models import (
    PHOTO_AFTER,
    PHOTO_REPORT,
    PHOTO_STAGES,
    PRIORITIES,
    Duty,
    Event,
    EventCoHandler,
    EventLog,
    Photo,
    ResponsibilityRule,
    Team,
)
from gridmap.routing.types import PointRouter

log = logging.getLogger("gridmap.events")

SYSTEM_ACTOR = wf.SYSTEM_ACTOR


# --- placing an event -----------------------------------------------------------------

# The states an event can be placed from: not yet handed to anyone to handle.
PLACEABLE_STATES = (wf.REPORTED, wf.REGISTERED, wf.RETURNED)


def get_event(session: Session, *, event_id: int, for_update: bool = False) -> Event:
    stmt = select(Event).where(Event.id == event_id)
    if for_update:
        stmt = stmt.with_for_update()
    event = session.scalars(stmt.execution_options(populate_existing=True)).one_or_none()
    if event is None:
        raise NotFound(f"event {event_id} does not exist", details={"event_id": event_id})
    return event


def place_event(
    session: Session,
    *,
    router: PointRouter,
    event_id: int,
    lon: float,
    lat: float,
    crs: str,
    actor: str,
    scope: Jurisdiction = EVERYWHERE,
) -> Event:
    """An operator places an unassigned event on the map (the triage queue): route it now.

    The place must lie in the caller's jurisdiction `scope` (403, as `/api/locate` refuses
    it): a township cannot push its event into another township by placing it there."""
    event = get_event(session, event_id=event_id, for_update=True)
    if event.status not in PLACEABLE_STATES:
        raise Conflict(
            f"event {event_id} is {event.status}; only a reported, registered or returned "
            "event can be placed",
            details={"current_state": event.status},
            reason="not_placeable",
        )
    name = parse_crs(crs)
    result = router.route(lon, lat, crs=name, category=event.category_code)
    if not result.assigned:
        raise OutsideCoverage(
            f"({lon}, {lat}) in {name} is outside every grid; place the event inside the county",
            details={"lon": lon, "lat": lat, "crs": name},
        )
    columns = routing_columns(result)
    if not scope.covers_codes(
        county_code=columns["county_code"],
        township_code=columns["township_code"],
        community_code=columns["community_code"],
        grid_code=columns["grid_code"],
        team_id=columns["team_id"],
    ):
        raise PermissionDenied(
            "the point lies outside your areas: place the event inside them, or ask the "
            "county's command center",
            details={"lon": lon, "lat": lat, "crs": name},
            reason="place_outside_areas",
        )
    before = {"grid_code": event.grid_code, "team_id": event.team_id}
    for key, value in columns.items():
        setattr(event, key, value)
    event.input_lon, event.input_lat, event.input_crs = lon, lat, name
    touch(event)
    log_step(
        session,
        event,
        actor=actor,
        action="place",
        from_status=event.status,
        team_id=event.team_id,
        data={"before": before, "grid_code": event.grid_code},
    )
    session.flush()
    announce_event(session, "event.changed", event)
    return event


# --- acting on an event -----------------------------------------------------------------


def act(
    session: Session,
    *,
    event_id: int,
    action: str,
    actor: str,
    team_code: str | None = None,
    co_team_codes: Sequence[str] = (),
    reason: str | None = None,
    note: str | None = None,
    target_id: int | None = None,
    satisfaction: int | None = None,
    priority: str | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
    scope: Jurisdiction = EVERYWHERE,
    acting_team_id: int | None = None,
    note_code: str | None = None,
    note_params: dict[str, Any] | None = None,
) -> Event:
    """Take one workflow action; refuse it (409) if the current state does not allow it.

    `acting_team_id` is the caller's own team (a team's member): when that team only
    co-handles the event, the caller reports back on its part (`co_report_back`) and
    nothing else — the lead team moves the case (403 otherwise).

    `scope` is the caller's jurisdiction (the caller has checked that it covers the event
    itself): whatever else the caller names must be inside its reach too — the event it
    merges into (`scope.covers`) and the teams it assigns or brings in (`team_in_reach`),
    403 otherwise. Teams the rules choose (a default joint dispatch across a boundary,
    escalation to the next level's duty team) are the workflow's, not the caller's choice.
    """
    now = now or dt.datetime.now(dt.UTC)
    wf.rule_for(action)  # an unknown action fails before the row is locked
    refuse_unstorable_text(actor=actor, team=team_code, reason=reason, note=note)
    event = get_event(session, event_id=event_id, for_update=True)
    if expected_version is not None and event.row_version != expected_version:
        raise VersionConflict(
            f"event {event_id} changed (version {event.row_version}, you saw "
            f"{expected_version}); reload it",
            details={"row_version": event.row_version},
        )
    team = _team(session, event, team_code) if team_code else None
    if action == "report_back" and team is not None and team.id != event.team_id:
        action = "co_report_back"  # the older way to say it: report_back naming the team
    if (
        acting_team_id is not None
        and acting_team_id != event.team_id
        and acting_team_id in co_handler_team_ids(session, event_id=event.id)
    ):
        team = _co_handler_own_part(session, event, action, team, acting_team_id)
    if action == "escalate" and team is not None:
        # An escalation goes above the caller by nature: what limits its target is the
        # next level of the event's own areas (`escalation_targets`), not the caller's reach.
        escalate_to, team = team, None
    else:
        escalate_to = None
    if not scope.everywhere:
        named = [team] if team is not None else []
        named += [_team(session, event, code) for code in dict.fromkeys(co_team_codes)]
        for one in named:
            check_team_in_reach(session, scope=scope, team=one)

    if action == "co_report_back":
        if team is None:
            raise InvalidInput(
                "co_report_back needs team: the co-handling team whose part this is",
                details={"action": action, "missing": [wf.TEAM]},
                reason="action_needs",
                params={"action": action, "missing": [wf.TEAM]},
            )
        return _co_handler_report(
            session,
            event,
            team=team,
            actor=actor,
            note=note,
            now=now,
            on_behalf=acting_team_id != team.id,
        )

    joint: JointPlan | None = None
    if (
        action == "assign"
        and team is None
        and event.team_id is not None
        and event.status in wf.rule_for("assign").from_states  # else the 409 of assign
    ):
        # The default assignment of an event the rules call a joint dispatch for (on a
        # boundary, coordination priority) is that joint dispatch: no side can push it
        # to the other.
        joint = plan_joint_dispatch(session, event=event, lead=None)
        if joint is not None:
            action = "joint_dispatch"
    elif action == "joint_dispatch":
        if team is None and event.team_id is not None:
            team = session.get(Team, event.team_id)  # the lead: whoever has it now
        if not co_team_codes:
            joint = plan_joint_dispatch(session, event=event, lead=team)
    if joint is not None:
        team = joint.lead
        co_team_codes = [t.code for t in joint.co_teams]

    given: set[str] = set()
    if (
        team is not None
        or escalate_to is not None
        or (action == "assign" and event.team_id is not None)
    ):
        given.add(wf.TEAM)
    if (reason and reason.strip()) or note_code:
        given.add(wf.REASON)
    if (note and note.strip()) or note_code:
        given.add(wf.NOTE)
    if co_team_codes:
        given.add(wf.CO_TEAMS)
    if target_id is not None or (action == "merge" and event.duplicate_of is not None):
        given.add(wf.TARGET)
    if satisfaction is not None:
        given.add(wf.SATISFACTION)
    from_status = event.status
    to_status = wf.transition(from_status, action, given=given)
    # A step the system writes says why as a catalogue code (gridmap.messages), not a
    # sentence in one language.
    data: dict[str, Any] = (
        {"note_code": note_code, "note_params": note_params or {}} if note_code else {}
    )

    if action == "register":
        _register(session, event, priority=priority, now=now, data=data)
    elif action == "assign":
        event.team_id = team.id if team else event.team_id
        if team is not None and team.level in wf.LEVELS:
            event.escalation_level = team.level
    elif action == "close":
        _check_co_handlers_done(session, event)
        event.closed_at = now
    elif action == "return":
        data["returned_by_team_id"] = event.team_id
        event.team_id = None  # whoever assigns it next picks the right team
    elif action == "reopen":
        event.closed_at = None
    elif action == "escalate":
        team = _escalate(session, event, data=data, target=escalate_to)
    elif action == "joint_dispatch":
        assert team is not None
        data["co_teams"] = _joint_dispatch(session, event, lead=team, co_codes=co_team_codes)
        if joint is not None:
            data["reasons"] = list(joint.reasons)
        event.team_id = team.id
    elif action == "merge":
        _merge(
            session,
            event,
            target_id=target_id or event.duplicate_of,
            actor=actor,
            data=data,
            now=now,
            scope=scope,
        )
    elif action == "visit":
        if satisfaction is None or not 1 <= satisfaction <= 5:
            raise InvalidInput(
                "satisfaction: must be 1 (very dissatisfied) to 5 (very satisfied)",
                details={"field": "satisfaction", "value": satisfaction},
                reason="satisfaction_out_of_range",
            )
        event.satisfaction = satisfaction
        data["satisfaction"] = satisfaction

    event.status = to_status
    if to_status == wf.ASSIGNED and event.due_at is None:
        _start_handling_clock(session, event, now=now)
    _keep_assessment_clocks(event, action=action, to_status=to_status, now=now)
    touch(event, now)
    log_step(
        session,
        event,
        actor=actor,
        action=action,
        from_status=from_status,
        team_id=team.id if team else event.team_id,
        note=note,
        reason=reason,
        data=data,
        at=now,
    )
    session.flush()
    announce_event(session, "event.changed", event)
    return event


def _keep_assessment_clocks(event: Event, *, action: str, to_status: str, now: dt.datetime) -> None:
    """The moments and counts the assessment reads (gridmap.events.stats), kept on the event:
    the handling clock starts when it is first assigned, the response clock stops when a
    team first starts on it; returns and reopenings are counted."""
    if to_status == wf.ASSIGNED and event.assigned_at is None:
        event.assigned_at = now
    if action == "start" and event.responded_at is None:
        event.responded_at = now
    if action == "report_back":
        event.handled_at = now  # the handling clock stops at the lead's report
    elif action == "return":
        event.returned_count = (event.returned_count or 0) + 1
    elif action == "reopen":
        event.reopened_count = (event.reopened_count or 0) + 1
        event.handled_at = None


def _team(session: Session, event: Event, code: str) -> Team:
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


def _register(
    session: Session, event: Event, *, priority: str | None, now: dt.datetime, data: dict[str, Any]
) -> None:
    """Register the case. Its response clock keeps running from receipt: a priority
    changed here moves the deadline (from receipt), registering never restarts it."""
    if priority is not None:
        if priority not in PRIORITIES:
            raise invalid_field("priority", f"must be one of {', '.join(PRIORITIES)}", priority)
        event.priority = priority
    rule = _rule_for(session, event)
    event.response_due_at = event.received_at + response_limit(
        priority=event.priority,
        rule_response_minutes=rule.response_minutes if rule else None,
        rule_time_limit_hours=rule.time_limit_hours if rule else None,
    )
    data.update(
        priority=event.priority,
        response_due_at=event.response_due_at.isoformat(),
        rule_id=rule.id if rule else None,
    )


def _start_handling_clock(session: Session, event: Event, *, now: dt.datetime) -> None:
    """The handling deadline, counted from the first assignment (a team cannot be late
    with work not yet given to it)."""
    rule = _rule_for(session, event)
    event.due_at = now + handling_limit(
        priority=event.priority, rule_time_limit_hours=rule.time_limit_hours if rule else None
    )


def _rule_for(session: Session, event: Event) -> ResponsibilityRule | None:
    """The most specific rule: this grid's, community's, township's, else the county-wide one."""
    areas = [c for c in (event.grid_code, event.community_code, event.township_code) if c]
    # An event not yet placed has no areas: only a county-wide rule can fit (and a CASE
    # without a WHEN is not SQL).
    specificity = (
        case(
            *[(ResponsibilityRule.area_code == code, n) for n, code in enumerate(areas)],
            else_=len(areas),
        )
        if areas
        else literal(0)
    )
    stmt = select(ResponsibilityRule).where(
        ResponsibilityRule.category_code == event.category_code,
        or_(ResponsibilityRule.area_code.is_(None), ResponsibilityRule.area_code.in_(areas)),
    )
    if event.county_code:
        stmt = stmt.where(ResponsibilityRule.county_code == event.county_code)
    return session.scalars(stmt.order_by(specificity, ResponsibilityRule.id).limit(1)).first()


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


def _escalate(
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


def _joint_dispatch(
    session: Session, event: Event, *, lead: Team, co_codes: Sequence[str]
) -> list[str]:
    """Lead team plus co-handlers (联合哨); each co-handler reports back on its part."""
    codes = [c for c in dict.fromkeys(co_codes) if c != lead.code]
    if not codes:
        raise invalid_field(
            "co_teams", "name at least one co-handling team other than the lead", list(co_codes)
        )
    for code in codes:
        co = _team(session, event, code)
        session.execute(
            pg_insert(EventCoHandler)
            .values(event_id=event.id, team_id=co.id)
            .on_conflict_do_nothing(constraint="uq_event_co_handler")
        )
    return codes


def _co_handler_own_part(
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


def _co_handler_report(
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


def _check_co_handlers_done(session: Session, event: Event) -> None:
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


def _merge(
    session: Session,
    event: Event,
    *,
    target_id: int | None,
    actor: str,
    data: dict[str, Any],
    now: dt.datetime,
    scope: Jurisdiction = EVERYWHERE,
) -> None:
    if target_id is None or target_id == event.id:
        raise InvalidInput(
            "target: name another event to merge this one into",
            details={"field": "target", "value": target_id},
            reason="merge_target_invalid",
        )
    target = get_event(session, event_id=target_id, for_update=True)
    if not scope.everywhere and not scope.covers(
        target, co_handler_team_ids=co_handler_team_ids(session, event_id=target.id)
    ):
        raise PermissionDenied(
            f"event {target_id} lies outside your jurisdiction: merge only into an event of yours",
            details={"target": target_id},
            reason="event_outside_jurisdiction",
        )
    if target.status == wf.MERGED:
        raise Conflict(
            f"event {target_id} is itself merged into {target.duplicate_of}; merge into that",
            details={"current_state": target.status, "target": target_id},
            reason="merge_target_merged",
            params={"target": target.duplicate_of},
        )
    event.duplicate_of = target.id
    data["merged_into"] = target.id
    log_step(
        session,
        target,
        actor=actor,
        action="merged_in",
        from_status=target.status,
        data={
            "event_id": event.id,
            "note_code": "merged_in",
            "note_params": {"event_id": event.id},
        },
        at=now,
    )


def co_handler_team_ids(session: Session, *, event_id: int) -> list[int]:
    return list(
        session.scalars(select(EventCoHandler.team_id).where(EventCoHandler.event_id == event_id))
    )


def touch(event: Event, now: dt.datetime | None = None) -> None:
    event.updated_at = now or dt.datetime.now(dt.UTC)
    event.row_version = (event.row_version or 0) + 1


def log_step(
    session: Session,
    event: Event,
    *,
    actor: str,
    action: str,
    from_status: str | None,
    team_id: int | None = None,
    note: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Append one step to the event's timeline; `at` defaults to the database's now()."""
    payload = dict(data or {})
    if reason:
        payload["reason"] = reason
    session.add(
        EventLog(
            event_id=event.id,
            county_code=event.county_code,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=event.status,
            team_id=team_id,
            note=note,
            data=payload,
            **({"at": at} if at is not None else {}),
        )
    )


def photo_stage(value: str | None) -> str | None:
    """A photo stage as sent (None: not sent, the caller's default applies), checked."""
    if value is None or value == "":
        return None
    if value not in PHOTO_STAGES:
        raise InvalidInput(
            f"stage: {value!r} is not a photo stage; one of {', '.join(PHOTO_STAGES)}",
            details={"field": "stage", "value": value[:40], "allowed": list(PHOTO_STAGES)},
            reason="unknown_photo_stage",
            params={"stage": value[:40]},
        )
    return value


# Once a team has started, a photo from that team shows the work done (处置后照片).
_HANDLING_STATES = frozenset({wf.IN_PROGRESS, wf.REPORTED_BACK})


def default_photo_stage(session: Session, *, event: Event, team_id: int | None) -> str:
    """The stage of a photo uploaded without one: 'after' when the uploader belongs to the
    handling team (the event's team or a co-handler) and the event is in progress or
    reported back; else 'report' (a reporter's or an operator's picture of the problem)."""
    if team_id is None or event.status not in _HANDLING_STATES:
        return PHOTO_REPORT
    if team_id == event.team_id or team_id in co_handler_team_ids(session, event_id=event.id):
        return PHOTO_AFTER
    return PHOTO_REPORT


def attach_photo(
    session: Session,
    *,
    event: Event,
    photo: StoredPhoto,
    actor: str,
    stage: str = PHOTO_REPORT,
) -> tuple[Photo, bool]:
    """A stored photo becomes the event's, and joins the timeline like any other step:
    (the photo, True). The same picture sent again for the same event and stage — a phone
    resending after a lost answer — is the one attached already: (it, False), nothing new
    stored, logged or announced. Photos are kept by content hash, so "the same" is exact."""
    stage = photo_stage(stage) or PHOTO_REPORT  # the doors check it first; so does the domain
    known = session.scalars(
        select(Photo).where(
            Photo.event_id == event.id, Photo.sha256 == photo.sha256, Photo.stage == stage
        )
    ).first()
    if known is not None:
        return known, False
    row = Photo(
        event_id=event.id,
        sha256=photo.sha256,
        media_type=photo.media_type,
        size=photo.size,
        uploaded_by=actor,
        stage=stage,
    )
    session.add(row)
    session.flush()
    log_step(
        session,
        event,
        actor=actor,
        action="photo",
        from_status=event.status,
        data={
            "photo_id": row.id,
            "sha256": photo.sha256,
            "stage": stage,
            # The place the camera recorded: kept with the event, never in the stored file.
            **({"gps": photo.gps.to_dict()} if photo.gps else {}),
        },
    )
    touch(event)
    session.flush()
    announce_event(session, "event.changed", event)
    return row, True


def event_photos(session: Session, *, event_id: int) -> list[Photo]:
    """An event's photos, in the order they came."""
    return list(session.scalars(select(Photo).where(Photo.event_id == event_id).order_by(Photo.id)))


def photo_places(session: Session, *, event_id: int) -> dict[int, dict[str, float]]:
    """photo id → the GPS its camera recorded, for an event's photos that had one (kept in
    the timeline's photo step; the stored files carry no metadata)."""
    rows = session.execute(
        select(EventLog.data["photo_id"].as_integer(), EventLog.data["gps"]).where(
            EventLog.event_id == event_id,
            EventLog.action == "photo",
            EventLog.data.has_key("gps"),
        )
    )
    return {int(photo_id): gps for photo_id, gps in rows}


# --- deadlines --------------------------------------------------------------------------

# Overdue applies from receipt: an event nobody registered is late like any other.
_DEADLINE_STATES = (wf.REPORTED, wf.REGISTERED, wf.ASSIGNED, wf.IN_PROGRESS, wf.RETURNED)


def check_overdue(session: Session, *, now: dt.datetime) -> list[int]:
    """Mark events that passed a deadline, log and announce it, and escalate them one level.

    An event is marked once; it then stays marked (the statistics count it) and goes up
    one level automatically; further escalation is a person's decision.
    """
    candidates = session.scalars(
        select(Event)
        .where(
            Event.status.in_(_DEADLINE_STATES),
            Event.overdue.is_(False),
            or_(Event.due_at < now, Event.response_due_at < now),
        )
        .order_by(Event.id)
        .with_for_update(skip_locked=True)
    ).all()
    marked: list[int] = []
    for event in candidates:
        which = missed_deadline(
            now=now,
            responded=event.status not in wf.AWAITING_RESPONSE,
            response_due_at=event.response_due_at,
            due_at=event.due_at,
        )
        if which is None:
            continue
        event.overdue = True
        touch(event, now)
        log_step(
            session,
            event,
            actor=SYSTEM_ACTOR,
            action="overdue",
            from_status=event.status,
            team_id=event.team_id,
            data={"deadline": which, "note_code": "overdue", "note_params": {"deadline": which}},
            at=now,
        )
        log.warning("event %s is overdue (%s deadline); alerting", event.id, which)
        session.flush()
        announce_event(session, "event.overdue", event)
        _auto_escalate(session, event, which=which, now=now)
        marked.append(event.id)
    session.flush()
    return marked


def _auto_escalate(session: Session, event: Event, *, which: str, now: dt.datetime) -> None:
    if wf.next_level(event.escalation_level) is None:
        return
    # A savepoint: a missing duty team must not undo the overdue mark itself.
    try:
        with session.begin_nested():
            act(
                session,
                event_id=event.id,
                action="escalate",
                actor=SYSTEM_ACTOR,
                note_code="overdue_escalation",
                note_params={"deadline": which},
                now=now,
            )
    except GridmapError as exc:
        log.warning("event %s could not be escalated automatically: %s", event.id, exc.message)


def event_clocks(event: Event | SimpleNamespace, *, now: dt.datetime) -> dict[str, Clock]:
    """The response clock (receipt → a team starts) and the handling clock (first
    assignment → the lead reports back) of an event at `now`. An event that left the loop
    (closed, archived, merged) stops its clocks where it left, if they had not stopped."""
    left_at = None if wf.is_open(event.status) else (event.closed_at or event.updated_at)
    return {
        "response": clock(
            started_at=event.received_at,
            due_at=event.response_due_at,
            stopped_at=event.responded_at or left_at,
            now=now,
        ),
        "handling": clock(
            started_at=event.assigned_at,
            due_at=event.due_at,
            stopped_at=event.handled_at or left_at,
            now=now,
        ),
    }


def event_lonlat(event: Event) -> tuple[float, float] | None:
    if event.point is None:
        return None
    p = to_shape(event.point)
    assert isinstance(p, Point)
    return (float(p.x), float(p.y))


def announcement(event: Event) -> dict[str, Any]:
    """What the live stream says about an event (the command view's marker)."""
    columns = {name: getattr(event, name) for name in record.ANNOUNCED_COLUMNS}
    return record.announcement(columns, event_lonlat(event))


def announce_event(session: Session, kind: str, event: Event) -> None:
    # The co-handling teams ride along: the stream sends a message only to those who may
    # read the event (`Jurisdiction.covers_message`), and co-handlers may.
    payload = {
        **announcement(event),
        "co_team_ids": co_handler_team_ids(session, event_id=event.id),
    }
    notify.announce(
        session,
        kind=kind,
        payload=payload,
        county_code=event.county_code,
        township_code=event.township_code,
    )
