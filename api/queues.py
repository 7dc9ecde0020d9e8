"""The operator's work queues (待办), header counters and alerts, and acknowledging an alert.

`GET /api/queues` answers the whole queue panel in one request (counts, each queue's first
rows, the header counters, the pending alerts) under the caller's jurisdiction and the
page's filters, so the panel, the counters and the alerts never disagree.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.auth import PrincipalDep, audit_write, check_event_scope
from api.deps import SessionDep
from gridmap.events import ZonedTime, queues
from gridmap.events import lifecycle as ev
from gridmap.models import Event

router = APIRouter(prefix="/api", tags=["queues"])


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def row(event: Event) -> dict[str, Any]:
    """A queue row: what the list shows and where to fly to; the panel reads the rest."""
    lonlat = ev.event_lonlat(event)
    return {
        "id": event.id,
        "status": event.status,
        "priority": event.priority,
        "category": event.category_code,
        "grid_code": event.grid_code,
        "township_code": event.township_code,
        "address": event.address,
        "description": (event.description or "")[:80],
        "received_at": event.received_at.isoformat(),
        "response_due_at": event.response_due_at.isoformat() if event.response_due_at else None,
        "due_at": event.due_at.isoformat() if event.due_at else None,
        "closed_at": event.closed_at.isoformat() if event.closed_at else None,
        "overdue": event.overdue,
        "escalation_level": event.escalation_level,
        "lon": lonlat[0] if lonlat else None,
        "lat": lonlat[1] if lonlat else None,
    }


@router.get("/queues", summary="The work queues (待办), header counters and pending alerts")
def get_queues(
    session: SessionDep,
    principal: PrincipalDep,
    priority: Annotated[str | None, Query(description="comma-separated priorities")] = None,
    category: Annotated[str | None, Query(description="comma-separated category codes")] = None,
    area: Annotated[str | None, Query(description="a grid/community/township/… code")] = None,
    today: Annotated[
        ZonedTime | None, Query(description="the caller's midnight (counters of today)")
    ] = None,
    alert: Annotated[
        str | None, Query(description="priorities that alert (default emergency,key)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="rows per queue")] = 50,
) -> dict[str, Any]:
    """Each queue: `name`, `count` and up to `limit` rows, soonest deadline first. `counters`
    are the header's four numbers under the same filters; `alerts` the open events someone
    must still acknowledge (a new alerting whistle, a new overdue; the last 24 h)."""
    now = dt.datetime.now(dt.UTC)
    scope = principal.jurisdiction
    filters = queues.Filters(priority=_csv(priority), category=_csv(category), area=area or None)
    midnight = today or now.replace(hour=0, minute=0, second=0, microsecond=0)
    alerting = _csv(alert) if alert is not None else list(queues.ALERT_PRIORITIES_DEFAULT)
    return {
        "at": now.isoformat(),
        "queues": [
            {"name": q.name, "count": q.count, "events": [row(e) for e in q.events]}
            for q in queues.all_queues(session, scope=scope, filters=filters, limit=limit)
        ],
        "counters": queues.header_counters(session, scope=scope, filters=filters, today=midnight),
        "alerts": [
            {"reason": a.reason, **row(a.event)}
            for a in queues.pending_alerts(session, scope=scope, priorities=alerting, now=now)
        ],
    }


@router.post(
    "/events/{event_id}/acknowledge",
    summary="Acknowledge an event's alert: who and when go on its timeline",
)
def post_acknowledge(
    event_id: int, session: SessionDep, request: Request, principal: PrincipalDep
) -> dict[str, Any]:
    check_event_scope(session, principal, event_id, acting=True)
    event = queues.acknowledge(session, event_id=event_id, actor=principal.actor)
    audit_write(
        session,
        request,
        principal,
        action="event.acknowledge",
        target_type="event",
        target_id=event_id,
        details={"overdue": event.overdue, "priority": event.priority},
    )
    session.commit()
    return {"id": event_id, "acknowledged": True, "by": principal.actor}
