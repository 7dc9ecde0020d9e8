"""The closed loop as a state machine, and deadlines from the rule and the whistle priority."""

from __future__ import annotations

import datetime as dt

import pytest

from gridmap.errors import IllegalTransition, InvalidInput
from gridmap.events import workflow as wf
from gridmap.events.deadlines import compute_deadlines, missed_deadline
from gridmap.models import EVENT_STATUSES

T0 = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_the_workflow_states_are_the_ones_the_database_accepts() -> None:
    assert set(wf.STATES) == set(EVENT_STATUSES)
    for rule in wf.RULES.values():
        assert rule.from_states <= set(wf.STATES)
        assert rule.to_state is None or rule.to_state in wf.STATES


def test_an_event_walks_the_six_steps_of_the_closed_loop() -> None:
    steps = [
        ("register", set()),
        ("assign", {wf.TEAM}),
        ("start", set()),
        ("report_back", {wf.NOTE}),
        ("close", set()),
        ("archive", set()),
    ]
    state = wf.REPORTED
    seen = [state]
    for action, given in steps:
        state = wf.transition(state, action, given=given)
        seen.append(state)
    assert seen == [
        "reported",
        "registered",
        "assigned",
        "in_progress",
        "reported_back",
        "closed",
        "archived",
    ]
    # A return visit after archiving leaves the state as it is.
    assert wf.transition(state, "visit", given={wf.SATISFACTION}) == "archived"


def test_an_illegal_step_names_the_current_state_and_what_is_allowed() -> None:
    with pytest.raises(IllegalTransition) as caught:
        wf.transition(wf.REPORTED, "close")
    err = caught.value
    assert "reported" in err.message
    assert err.details["current_state"] == "reported"
    assert err.details["allowed_actions"] == ["register", "escalate", "merge"]


def test_closed_and_merged_events_cannot_be_worked_on() -> None:
    for action in ("assign", "start", "escalate", "return"):
        with pytest.raises(IllegalTransition):
            wf.transition(wf.CLOSED, action, given={wf.TEAM, wf.REASON})
    assert wf.allowed_actions(wf.MERGED) == []


def test_returning_needs_a_reason_and_the_event_then_waits_for_a_new_team() -> None:
    with pytest.raises(InvalidInput) as caught:
        wf.transition(wf.ASSIGNED, "return")
    assert caught.value.details["missing"] == ["reason"]
    state = wf.transition(wf.ASSIGNED, "return", given={wf.REASON})
    assert state == wf.RETURNED
    assert wf.transition(state, "assign", given={wf.TEAM}) == wf.ASSIGNED


def test_joint_dispatch_needs_a_lead_and_co_handlers() -> None:
    with pytest.raises(InvalidInput) as caught:
        wf.transition(wf.REGISTERED, "joint_dispatch", given={wf.TEAM})
    assert caught.value.details["missing"] == ["co_teams"]
    assert wf.transition(wf.REGISTERED, "joint_dispatch", given={wf.TEAM, wf.CO_TEAMS}) == (
        wf.ASSIGNED
    )
    wf.check_co_handler_report(wf.IN_PROGRESS)
    with pytest.raises(IllegalTransition):
        wf.check_co_handler_report(wf.CLOSED)


def test_an_unknown_action_is_refused_with_the_list_of_actions() -> None:
    with pytest.raises(InvalidInput) as caught:
        wf.transition(wf.REPORTED, "teleport")
    assert "register" in caught.value.details["allowed"]


def test_escalation_climbs_the_four_levels_and_stops_at_the_county() -> None:
    climbed = ["grid"]
    while (up := wf.next_level(climbed[-1])) is not None:
        climbed.append(up)
    assert climbed == ["grid", "community", "township", "county"]


def test_an_emergency_must_be_answered_within_30_minutes_whatever_the_list_says() -> None:
    d = compute_deadlines(
        start=T0, priority="emergency", rule_response_minutes=240, rule_time_limit_hours=72
    )
    assert d.response_due_at - T0 == dt.timedelta(minutes=30)
    assert d.due_at - T0 == dt.timedelta(hours=24)


def test_a_routine_event_follows_the_responsibility_list() -> None:
    d = compute_deadlines(
        start=T0, priority="routine", rule_response_minutes=120, rule_time_limit_hours=48
    )
    assert d.response_due_at - T0 == dt.timedelta(minutes=120)
    assert d.due_at - T0 == dt.timedelta(hours=48)


def test_a_response_is_never_due_after_the_handling_limit() -> None:
    d = compute_deadlines(
        start=T0, priority="routine", rule_response_minutes=None, rule_time_limit_hours=4
    )
    assert d.response_due_at == d.due_at == T0 + dt.timedelta(hours=4)


def test_deadlines_refuse_a_naive_time_and_an_unknown_priority() -> None:
    with pytest.raises(InvalidInput):
        compute_deadlines(
            start=T0.replace(tzinfo=None),
            priority="routine",
            rule_response_minutes=None,
            rule_time_limit_hours=None,
        )
    with pytest.raises(InvalidInput, match="urgent"):
        compute_deadlines(
            start=T0, priority="urgent", rule_response_minutes=None, rule_time_limit_hours=None
        )


def test_which_deadline_is_missed() -> None:
    d = compute_deadlines(
        start=T0, priority="key", rule_response_minutes=None, rule_time_limit_hours=10
    )
    one_h = dt.timedelta(hours=1)
    kw = {"response_due_at": d.response_due_at, "due_at": d.due_at}
    assert missed_deadline(now=T0 + one_h, responded=False, **kw) is None
    assert missed_deadline(now=T0 + 3 * one_h, responded=False, **kw) == "response"
    assert missed_deadline(now=T0 + 3 * one_h, responded=True, **kw) is None
    assert missed_deadline(now=T0 + 11 * one_h, responded=True, **kw) == "handling"


def test_the_response_clock_counts_from_receipt_and_the_handling_clock_from_assignment() -> None:
    from gridmap.events.deadlines import handling_limit, response_limit

    assert response_limit(
        priority="emergency", rule_response_minutes=240, rule_time_limit_hours=72
    ) == dt.timedelta(minutes=30)
    assert handling_limit(priority="emergency", rule_time_limit_hours=72) == dt.timedelta(hours=24)
    assert handling_limit(priority="routine", rule_time_limit_hours=48) == dt.timedelta(hours=48)


def test_a_clock_running_met_missed_and_not_started() -> None:
    from gridmap.events.deadlines import MET, MISSED, NOT_STARTED, RUNNING, clock

    due = T0 + dt.timedelta(minutes=30)
    running = clock(started_at=T0, due_at=due, stopped_at=None, now=T0 + dt.timedelta(minutes=10))
    assert running.state == RUNNING and running.left_s == 20 * 60 and running.took_s is None
    # Past its deadline and not stopped: missed, and no "time left" is offered as such.
    late = clock(started_at=T0, due_at=due, stopped_at=None, now=T0 + dt.timedelta(minutes=31))
    assert late.state == MISSED and late.left_s is not None and late.left_s < 0
    # Stopped: how long it took, never a countdown, whatever the time now.
    met = clock(
        started_at=T0,
        due_at=due,
        stopped_at=T0 + dt.timedelta(minutes=12),
        now=T0 + dt.timedelta(days=3),
    )
    assert (met.state, met.took_s, met.left_s) == (MET, 12 * 60, None)
    missed = clock(started_at=T0, due_at=due, stopped_at=T0 + dt.timedelta(hours=2), now=T0)
    assert (missed.state, missed.took_s) == (MISSED, 2 * 3600)
    assert clock(started_at=None, due_at=None, stopped_at=None, now=T0).state == NOT_STARTED
    assert met.to_dict()["state"] == "met"
