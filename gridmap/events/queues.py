"""The operator's work queues (待办) and alerts: what waits for whom, soonest deadline first.

Each queue is a WHERE clause on `event`; the lists and the counts take the caller's
jurisdiction and the page's filters in the same query, so a township operator counts only
its township and a filter changes counters and queues alike. Alerts are the events a
person has to notice (a new emergency, a new overdue) until someone acknowledges them;
the acknowledgement is a step on the event's timeline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, true
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.events import workflow as wf
from gridmap.events.input import invalid_field
from gridmap.events.lifecycle import PLACEABLE_STATES, get_event
from gridmap.events.steps import announce_event, log_step
from gridmap.models import PRIORITIES, Event, EventCoHandler, EventLog

ACKNOWLEDGE = "acknowledge"
# An alert older than this is history, not news: the page is not flooded on opening by
# every emergency of last month that was never acknowledged.
ALERT_WINDOW = dt.timedelta(hours=24)
ALERT_PRIORITIES_DEFAULT = ("emergency", "key")
OPEN = sorted(wf.OPEN_STATES)


def _co_pending() -> ColumnElement[bool]:
    return exists(
        select(EventCoHandler.id).where(
            EventCoHandler.event_id == Event.id, EventCoHandler.reported_back_at.is_(None)
        )
    )


def _unplaced() -> ColumnElement[bool]:
    # The triage queue's rule (gridmap.events.queries.triage_queue).
    return and_(
        Event.status.in_(PLACEABLE_STATES),
        Event.grid_code.is_(None),
        Event.dedicated_code.is_(None),
    )


# The queues in the order the panel shows them: name -> which events.
QUEUES: dict[str, ColumnElement[bool]] = {
    "to_register": Event.status == wf.REPORTED,  # 待立案
    "to_dispatch": Event.status == wf.REGISTERED,  # 待派遣
    "handling": Event.status.in_([wf.ASSIGNED, wf.IN_PROGRESS]),  # 处置中
    "to_close": Event.status == wf.REPORTED_BACK,  # 待结案
    "overdue": and_(Event.status.in_(OPEN), Event.overdue.is_(True)),  # 超期
    # Closed without a return visit yet (the visit records satisfaction).
    "to_visit": and_(Event.status == wf.CLOSED, Event.satisfaction.is_(None)),  # 待回访
    "returned": Event.status == wf.RETURNED,  # 退回
    "co_pending": and_(Event.status.in_(OPEN), _co_pending()),  # 协办待反馈
    "unplaced": _unplaced(),  # 待定位
}


def _deadline() -> ColumnElement[Any]:
    """The deadline that matters now: the response deadline while no one has started, the
    handling deadline after (a closed event waiting for its visit: when it closed)."""
    return case(
        (
            Event.status.in_(sorted(wf.AWAITING_RESPONSE | {wf.REPORTED})),
            func.coalesce(Event.response_due_at, Event.due_at),
        ),
        (Event.status.in_([wf.IN_PROGRESS, wf.REPORTED_BACK]), Event.due_at),
        (Event.status == wf.CLOSED, Event.closed_at),
        else_=None,
    )


@dataclass(frozen=True, slots=True)
class Filters:
    """The command view's filters, as the queues apply them."""

    priority: Sequence[str] = ()
    category: Sequence[str] = ()
    area: str | None = None

    def clause(self) -> ColumnElement[bool]:
        unknown = sorted(set(self.priority) - set(PRIORITIES))
        if unknown:
            raise invalid_field("priority", f"unknown: {', '.join(unknown)}", unknown)
        terms: list[ColumnElement[bool]] = []
        if self.priority:
            terms.append(Event.priority.in_(list(self.priority)))
        if self.category:
            terms.append(Event.category_code.in_(list(self.category)))
        if self.area:
            a = self.area
            terms.append(
                or_(
                    Event.grid_code == a,
                    Event.community_code == a,
                    Event.township_code == a,
                    Event.county_code == a,
                    Event.zone_code == a,
                    Event.dedicated_code == a,
                )
            )
        return and_(true(), *terms)


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    count: int
    events: list[Event]


def counts(
    session: Session, *, scope: Jurisdiction, filters: Filters = Filters()
) -> dict[str, int]:
    """Each queue's size, in one pass over the caller's events."""
    row = session.execute(
        select(*[func.count().filter(clause).label(name) for name, clause in QUEUES.items()]).where(
            scope.event_clause(), filters.clause()
        )
    ).one()
    return {name: int(row._mapping[name]) for name in QUEUES}


def queue(
    session: Session,
    name: str,
    *,
    scope: Jurisdiction,
    filters: Filters = Filters(),
    limit: int = 50,
) -> list[Event]:
    """One queue's events, soonest deadline first (no deadline last, then oldest first)."""
    if name not in QUEUES:
        raise invalid_field("queue", f"unknown; known: {', '.join(QUEUES)}", name)
    if not 1 <= limit <= 500:
        raise invalid_field("limit", "must be 1 to 500", limit)
    return list(
        session.scalars(
            select(Event)
            .where(QUEUES[name], scope.event_clause(), filters.clause())
            .order_by(_deadline().asc().nulls_last(), Event.received_at, Event.id)
            .limit(limit)
        )
    )


def all_queues(
    session: Session, *, scope: Jurisdiction, filters: Filters = Filters(), limit: int = 50
) -> list[Queue]:
    sizes = counts(session, scope=scope, filters=filters)
    return [
        Queue(name, sizes[name], queue(session, name, scope=scope, filters=filters, limit=limit))
        if sizes[name]
        else Queue(name, 0, [])
        for name in QUEUES
    ]


def header_counters(
    session: Session,
    *,
    scope: Jurisdiction,
    filters: Filters = Filters(),
    today: dt.datetime,
) -> dict[str, int]:
    """The header's four counters under the same scope and filters as the queues:
    received and closed on time since `today` (the caller's local midnight), open and
    overdue whenever received."""
    row = session.execute(
        select(
            func.count().filter(Event.received_at >= today).label("received"),
            func.count().filter(Event.status.in_(OPEN)).label("open"),
            func.count().filter(Event.status.in_(OPEN), Event.overdue.is_(True)).label("overdue"),
            func.count()
            .filter(
                Event.status.in_([wf.CLOSED, wf.ARCHIVED]),
                Event.closed_at >= today,
                Event.overdue.is_(False),
            )
            .label("closed_on_time"),
        ).where(scope.event_clause(), filters.clause())
    ).one()
    return {k: int(v) for k, v in row._mapping.items()}


# --- alerts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    event: Event
    reason: str  # "new" (a whistle that alerts) or "overdue"


def pending_alerts(
    session: Session,
    *,
    scope: Jurisdiction,
    priorities: Sequence[str] = ALERT_PRIORITIES_DEFAULT,
    now: dt.datetime,
    limit: int = 50,
) -> list[Alert]:
    """Open events someone must notice and no one has acknowledged since: received in the
    last day with an alerting whistle, or marked overdue in the last day. Newest first."""
    unknown = sorted(set(priorities) - set(PRIORITIES))
    if unknown:
        raise invalid_field("alert", f"unknown: {', '.join(unknown)}", unknown)
    since = now - ALERT_WINDOW
    last_ack = (
        select(func.max(EventLog.at))
        .where(EventLog.event_id == Event.id, EventLog.action == ACKNOWLEDGE)
        .scalar_subquery()
    )
    last_overdue = (
        select(func.max(EventLog.at))
        .where(EventLog.event_id == Event.id, EventLog.action == "overdue")
        .scalar_subquery()
    )
    ack = func.coalesce(last_ack, dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    is_new = and_(
        Event.priority.in_(list(priorities)) if priorities else true().is_(False),
        Event.received_at >= since,
        last_ack.is_(None),
    )
    is_overdue = and_(Event.overdue.is_(True), last_overdue >= since, last_overdue > ack)
    rows = session.execute(
        select(Event, is_overdue.label("is_overdue"))
        .where(Event.status.in_(OPEN), scope.event_clause(), or_(is_new, is_overdue))
        .order_by(Event.received_at.desc(), Event.id.desc())
        .limit(limit)
    ).all()
    return [Alert(e, "overdue" if od else "new") for e, od in rows]


def acknowledge(session: Session, *, event_id: int, actor: str) -> Event:
    """Someone saw the alert: who and when go on the timeline (the state does not move)."""
    event = get_event(session, event_id=event_id, for_update=True)
    log_step(
        session,
        event,
        actor=actor,
        action=ACKNOWLEDGE,
        from_status=event.status,
        team_id=event.team_id,
        data={"overdue": bool(event.overdue), "priority": event.priority},
    )
    session.flush()
    # Every open map hears it, so the toast goes from the other operators' screens too.
    announce_event(session, "event.changed", event, extra={"acknowledged": True})
    return event
