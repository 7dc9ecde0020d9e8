"""Response and handling deadlines of an event from its responsibility rule and priority.

Pure. The responsibility list (权责清单) gives each category a response time and a
handling time limit; the whistle priority (吹哨) caps both: an emergency (应急哨) must have
a team on site within 30 minutes whatever the list says. The earlier deadline wins, so
raising an event's priority can only shorten its clock. Hours are calendar hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gridmap.errors import InvalidInput


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


def compute_deadlines(
    *,
    start: dt.datetime,
    priority: str,
    rule_response_minutes: int | None,
    rule_time_limit_hours: float | None,
) -> Deadlines:
    """Deadlines counted from `start` (when the case is registered)."""
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
