"""Response and handling deadlines of an event from its responsibility rule and priority.

Two clocks (issue #18): the response clock runs from receipt (`received_at`; registering
the case does not reset it, so an unregistered emergency is late after 30 minutes like any
other), the handling clock from the first assignment (`assigned_at`: a team cannot be late
with work it has not been given). Pure.

The responsibility list (权责清单) gives each category a response time and a handling
time limit; the whistle priority (吹哨) caps both: an emergency (应急哨) must have
a team on site within 30 minutes whatever the list says. The earlier deadline wins, so
raising an event's priority can only shorten its clock. Hours are calendar hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING

from gridmap.errors import InvalidInput
from gridmap.events import workflow as wf

if TYPE_CHECKING:
    from gridmap.models import Event


@dataclass(frozen=True, slots=True)
class PriorityLimit:
    response_minutes: int  # a team must respond (be on site / start) within this
    handling_hours: float | None  # handling must end within this; None: the rule decides


# The caps of each whistle category. Emergency "on site within 30 minutes" is the
# practice the domain names; the other response times follow common 12345 service
# levels (key within 2 h, routine within a working day, coordination within 4 h).
PRIORITY_LIMITS: dict[str, PriorityLimit] = {
    "emergency": PriorityLimit(response_minutes=30, handling_hours=24),
    "key": PriorityLimit(response_minutes=120, handling_hours=72),
    "routine": PriorityLimit(response_minutes=24 * 60, handling_hours=None),
    "coordination": PriorityLimit(response_minutes=4 * 60, handling_hours=None),
}
DEFAULT_HANDLING_HOURS = 72.0


@dataclass(frozen=True, slots=True)
class Deadlines:
    response_due_at: dt.datetime
    due_at: dt.datetime


def _lengths(
    priority: str, rule_response_minutes: int | None, rule_time_limit_hours: float | None
) -> tuple[dt.timedelta, dt.timedelta]:
    """The response and handling clocks' lengths."""
    d = compute_deadlines(
        start=_EPOCH,
        priority=priority,
        rule_response_minutes=rule_response_minutes,
        rule_time_limit_hours=rule_time_limit_hours,
    )
    return d.response_due_at - _EPOCH, d.due_at - _EPOCH


def response_limit(
    *, priority: str, rule_response_minutes: int | None, rule_time_limit_hours: float | None
) -> dt.timedelta:
    """How long after receipt a team must respond (the response clock's length)."""
    return _lengths(priority, rule_response_minutes, rule_time_limit_hours)[0]


def handling_limit(*, priority: str, rule_time_limit_hours: float | None) -> dt.timedelta:
    """How long after assignment handling must end (the handling clock's length)."""
    return _lengths(priority, None, rule_time_limit_hours)[1]


_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def compute_deadlines(
    *,
    start: dt.datetime,
    priority: str,
    rule_response_minutes: int | None,
    rule_time_limit_hours: float | None,
) -> Deadlines:
    """Both deadlines counted from one `start` (the two lengths; an event's own clocks
    start at receipt and at assignment: `response_limit`, `handling_limit`)."""
    if start.tzinfo is None:
        raise InvalidInput(
            "deadlines need a timezone-aware start time", details={"start": str(start)}
        )
    try:
        cap = PRIORITY_LIMITS[priority]
    except KeyError:
        raise InvalidInput(
            f"unknown priority {priority!r}; priorities: {', '.join(PRIORITY_LIMITS)}",
            details={"field": "priority", "value": priority},
        ) from None
    response = cap.response_minutes
    if rule_response_minutes is not None and rule_response_minutes > 0:
        response = min(response, rule_response_minutes)
    handling = rule_time_limit_hours if rule_time_limit_hours else DEFAULT_HANDLING_HOURS
    if cap.handling_hours is not None:
        handling = min(handling, cap.handling_hours)
    # Responding cannot be due after handling is: that would hide a late response.
    response_delta = min(dt.timedelta(minutes=response), dt.timedelta(hours=handling))
    return Deadlines(
        response_due_at=start + response_delta,
        due_at=start + dt.timedelta(hours=handling),
    )


def missed_deadline(
    *,
    now: dt.datetime,
    responded: bool,
    response_due_at: dt.datetime | None,
    due_at: dt.datetime | None,
) -> str | None:
    """Which deadline an open event has passed at `now`: "response", "handling" or None."""
    if due_at is not None and now > due_at:
        return "handling"
    if not responded and response_due_at is not None and now > response_due_at:
        return "response"
    return None


# The states of one clock, as the API sends them.
NOT_STARTED = "not_started"  # no deadline yet (handling before the first assignment)
RUNNING = "running"  # still within its deadline, not stopped
MET = "met"  # stopped within its deadline
MISSED = "missed"  # passed its deadline, stopped or not


@dataclass(frozen=True, slots=True)
class Clock:
    """One clock of an event at `now`: when it started, when it is due, when it stopped."""

    state: str
    started_at: dt.datetime | None
    due_at: dt.datetime | None
    stopped_at: dt.datetime | None
    # Running: seconds left (negative once missed). Stopped: seconds it took.
    left_s: float | None
    took_s: float | None

    def to_dict(self) -> dict[str, object]:
        # Without `left_s`: an answer must not change by the second (a resend is answered
        # as the first was); a page counts down from `due_at` itself.
        return {
            "state": self.state,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            "took_s": self.took_s,
        }


def clock(
    *,
    started_at: dt.datetime | None,
    due_at: dt.datetime | None,
    stopped_at: dt.datetime | None,
    now: dt.datetime,
) -> Clock:
    """The state of one clock. A clock that has stopped says how long it took, never a
    countdown; a running clock past its deadline is missed (never "time left")."""
    if due_at is None:
        took = (stopped_at - started_at).total_seconds() if stopped_at and started_at else None
        return Clock(NOT_STARTED, started_at, None, stopped_at, None, took)
    if stopped_at is not None:
        took = (stopped_at - started_at).total_seconds() if started_at else None
        state = MET if stopped_at <= due_at else MISSED
        return Clock(state, started_at, due_at, stopped_at, None, took)
    left = (due_at - now).total_seconds()
    return Clock(RUNNING if left >= 0 else MISSED, started_at, due_at, None, left, None)


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
