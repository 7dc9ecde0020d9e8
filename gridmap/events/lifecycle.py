"""Events in the closed loop: placing them and acting on them (`act`, the workflow's
dispatcher: registering, assigning, returning, merging, closing …).

Taking them in is `gridmap.events.ingest`; who may take an event and where an escalation
goes, `gridmap.events.escalation`; co-handlers, `gridmap.events.joint_dispatch`; photos,
`gridmap.events.photos`; the overdue check, `gridmap.events.overdue_watch`.

Every function takes a Session, flushes and never commits: the caller (an API route, a
CLI command) commits, and only then answers the sender. Each change writes the
append-only `event_log` and announces itself on the live stream in the same transaction
(`gridmap.events.steps`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, literal, or_, select
from sqlalchemy.orm import Session

from gridmap.access.permissions import EVERYWHERE, Jurisdiction
from gridmap.crs import parse_crs
from gridmap.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    OutsideCoverage,
    PermissionDenied,
    VersionConflict,
)
from gridmap.events import workflow as wf

# Read here by api/queues.py and the tests (`lifecycle as ev`): an event's marker and clocks.
from gridmap.events.deadlines import event_clocks as event_clocks
from gridmap.events.deadlines import handling_limit, response_limit
from gridmap.events.escalation import (
    check_team_in_reach,
    escalate,
    named_team,
)
from gridmap.events.input import invalid_field, refuse_unstorable_text
from gridmap.events.joint_dispatch import (
    JointPlan,
    bring_in_co_handlers,
    check_co_handlers_done,
    co_handler_own_part,
    co_handler_report,
    plan_joint_dispatch,
)
from gridmap.events.placement import routing_columns
from gridmap.events.steps import (
    announce_event,
    co_handler_team_ids,
    log_step,
    touch,
)
from gridmap.events.steps import announcement as announcement
from gridmap.events.steps import event_lonlat as event_lonlat
from gridmap.models import (
    PRIORITIES,
    Event,
    ResponsibilityRule,
    Team,
)
from gridmap.routing.types import PointRouter

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
    team = named_team(session, event, team_code) if team_code else None
    if action == "report_back" and team is not None and team.id != event.team_id:
        action = "co_report_back"  # the older way to say it: report_back naming the team
    if (
        acting_team_id is not None
        and acting_team_id != event.team_id
        and acting_team_id in co_handler_team_ids(session, event_id=event.id)
    ):
        team = co_handler_own_part(session, event, action, team, acting_team_id)
    if action == "escalate" and team is not None:
        # An escalation goes above the caller by nature: what limits its target is the
        # next level of the event's own areas (`escalation_targets`), not the caller's reach.
        escalate_to, team = team, None
    else:
        escalate_to = None
    if not scope.everywhere:
        named = [team] if team is not None else []
        named += [named_team(session, event, code) for code in dict.fromkeys(co_team_codes)]
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
        return co_handler_report(
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
        check_co_handlers_done(session, event)
        event.closed_at = now
    elif action == "return":
        data["returned_by_team_id"] = event.team_id
        event.team_id = None  # whoever assigns it next picks the right team
    elif action == "reopen":
        event.closed_at = None
    elif action == "escalate":
        team = escalate(session, event, data=data, target=escalate_to)
    elif action == "joint_dispatch":
        assert team is not None
        data["co_teams"] = bring_in_co_handlers(session, event, lead=team, co_codes=co_team_codes)
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
