"""A county's past month of events for the demo, walked through the real workflow in time order.

`load_history` generates the reports a county receives (`geodata.simulation.EventGenerator`:
categories from the responsibility list, points where households are, edges, duplicates,
emergencies), takes each in with `gridmap.events.ingest.ingest_event` at its simulated receipt
time, and then lets every event's handlers act on it with `gridmap.events.lifecycle.act` at
simulated
times, in one global time order, while `check_overdue` runs at the minute after any deadline
passes, exactly as the service's overdue watch would. Nothing is written around the
workflow: the log, the deadlines, the overdue marks and the automatic escalations are the
ones the real code writes, so statistics, heat maps and timelines show true histories.

Each event draws a fate (mostly on time; some late; a few escalated by hand; a few joint
dispatches; some returned and re-assigned; duplicates merged; some stalled). The fate says
how fast its handlers act relative to its deadlines; what they do next always follows the
event's current state, so an automatic escalation by the overdue check is handled by the
next level's team. Events whose next step would fall after `now` simply stay where they
are: the last days are naturally still open.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geodata.simulation import EventGenerator, load_picture
from gridmap.errors import Conflict, InvalidInput
from gridmap.events import (
    EventInput,
    EventPolicy,
    act,
    check_overdue,
    co_handlers,
    ingest_event,
    missed_deadline,
)
from gridmap.events import workflow as wf
from gridmap.models import Event
from gridmap.routing import PointRouter

ACTOR_OPERATOR = "demo-history:operator"
ACTOR_TEAM = "demo-history:team"
ACTOR_VISITOR = "demo-history:visitor"

# What happens to an event, and how often (the shares add up to 1). Duplicates the
# ingest links to an open original are merged whatever their draw.
FATES = (
    ("on_time", 0.74),  # responded and closed within the deadlines
    ("late", 0.09),  # handled past the deadline: marked overdue, escalated automatically
    ("escalated", 0.06),  # the grid asks the community (and sometimes the township) for help
    ("joint", 0.04),  # a joint dispatch (联合哨) with a county department
    ("returned", 0.03),  # the team says it is not theirs; the operator assigns it again
    ("stalled", 0.04),  # nobody gets to it: still open, overdue
)
# Events a day by default: a fraction of the few hundred a county of ~3,900 grids receives,
# because each one costs about seven real workflow calls (docs/demo-data.md, measured).
DEFAULT_PER_DAY = 20.0
# Reports that another caller repeats within the next one and a half hours.
ECHO_SHARE = 0.04
# Events a day, Beijing time of day: the hotline and the grid workers are busiest by day.
_HOUR_WEIGHTS = np.array(
    [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 13, 11, 9, 10, 12, 12, 11, 10, 8, 6, 5, 3, 2, 1], dtype=float
)
_BEIJING = dt.timezone(dt.timedelta(hours=8))
_NOTES = (
    "已到现场核实并处置完毕",
    "已联系相关责任人整改到位",
    "已清理完毕，现场恢复正常",
    "已协调物业处理，居民认可",
)
_ESCALATE_REASONS = (
    "超出网格处置能力，提请上级协调",
    "涉及多个主体，需要上级统筹",
)
# The states `check_overdue` looks at.
_DEADLINE_STATES = frozenset({wf.REPORTED, wf.REGISTERED, wf.ASSIGNED, wf.IN_PROGRESS, wf.RETURNED})
_RETURN_REASON = "不属于本网格职责，退回重新派单"


@dataclass
class HistorySummary:
    """What `load_history` wrote: counts by status and by what happened, and the time it took."""

    county_code: str
    start: dt.datetime
    end: dt.datetime
    events: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_fate: dict[str, int] = field(default_factory=dict)
    actions: int = 0
    overdue: int = 0
    closed_on_time: int = 0
    closed_late: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """One line for the CLI."""
        status = ", ".join(f"{n} {s}" for s, n in sorted(self.by_status.items()))
        return (
            f"{self.events} events from {self.start:%Y-%m-%d} to {self.end:%Y-%m-%d} "
            f"({status}); {self.closed_on_time} closed on time, {self.closed_late} late, "
            f"{self.overdue} overdue; {self.actions} workflow steps in {self.seconds:.1f}s"
        )


@dataclass
class _Walk:
    """One event on its way through the loop (what the simulation knows of it)."""

    event_id: int
    fate: str
    status: str
    team_code: str | None
    duplicate_of: int | None
    response_due_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    overdue: bool = False
    escalation_level: str = "grid"
    escalations_left: int = 0
    co_pending: list[str] = field(default_factory=list)
    returned_once: bool = False
    pending: int = 0  # the agenda entry of its next step; older entries are stale


def receipt_times(
    rng: np.random.Generator, *, start: dt.datetime, end: dt.datetime, per_day: float
) -> list[dt.datetime]:
    """Random receipt times in [start, end), `per_day` on average, more by day than by night."""
    if per_day <= 0:
        raise InvalidInput(f"per_day must be positive, not {per_day}", details={"per_day": per_day})
    hours = math.ceil((end - start).total_seconds() / 3600)
    first = start.astimezone(_BEIJING).replace(minute=0, second=0, microsecond=0)
    weights = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum() * per_day
    times: list[dt.datetime] = []
    for h in range(hours + 1):
        hour = first + dt.timedelta(hours=h)
        for _ in range(int(rng.poisson(weights[hour.hour]))):
            when = hour + dt.timedelta(seconds=float(rng.uniform(0, 3600)))
            if start <= when < end:
                times.append(when.astimezone(dt.UTC))
    times.sort()
    return times


def _input(body: dict[str, Any]) -> EventInput:
    location, reporter = body["location"], body.get("reporter") or {}
    return EventInput(
        source=body["source"],
        external_id=body["external_id"],
        category=body["category"],
        reported_at=dt.datetime.fromisoformat(body["reported_at"]),
        description=body.get("description", ""),
        lon=location["lon"],
        lat=location["lat"],
        crs=location.get("crs", "wgs84"),
        reporter_name=reporter.get("name"),
        reporter_phone=reporter.get("phone"),
    )


def _echo(body: dict[str, Any], when: dt.datetime, rng: np.random.Generator) -> dict[str, Any]:
    """A second report of the same problem from another caller (the ingest links it)."""
    location = dict(body["location"])
    location["lon"] = round(location["lon"] + float(rng.normal(0, 0.00004)), 7)
    location["lat"] = round(location["lat"] + float(rng.normal(0, 0.00003)), 7)
    return {
        **body,
        "source": "12345",
        "external_id": f"{body['external_id']}-R",
        "location": location,
        "reported_at": when.isoformat(),
    }


def _team_codes(session: Session, *, county_code: str) -> tuple[dict[int, str], dict[str, str]]:
    """Team id → code, and department code → its team's code (the co-handler of a joint)."""
    rows = session.execute(
        text(
            "SELECT t.id, t.code, d.code AS department FROM team t "
            "LEFT JOIN department d ON d.id = t.department_id "
            "WHERE t.county_code = :c AND t.active ORDER BY t.id"
        ),
        {"c": county_code},
    ).all()
    by_department: dict[str, str] = {}
    for r in rows:
        if r.department and r.department not in by_department:
            by_department[r.department] = r.code
    return {r.id: r.code for r in rows}, by_department


def load_history(
    session: Session,
    *,
    router: PointRouter,
    county_code: str,
    days: int = 30,
    per_day: float = DEFAULT_PER_DAY,
    seed: int = 0,
    now: dt.datetime | None = None,
    policy: EventPolicy | None = None,
) -> HistorySummary:
    """Generate `days` of past events (about `per_day` a day) and walk them up to `now`.

    Deterministic for a seed and `now`. Flushes, never commits (the caller commits). The
    live-stream announcements the steps make are removed again before returning: they
    describe the past, and a command view catching up must not replay a month of it.
    For the same reason the overdue warnings of `gridmap.events.lifecycle` are silenced while it
    runs (it is a loading step: the CLI and tests call it, never a serving process).
    """
    if days < 1:
        raise InvalidInput(f"days must be at least 1, not {days}", details={"days": days})
    started = time.perf_counter()
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    start = now - dt.timedelta(days=days)
    policy = policy or EventPolicy()
    rng = np.random.default_rng(seed)
    picture = load_picture(session, county_code=county_code)
    generator = EventGenerator(picture, seed=seed)
    team_code_of, department_team = _team_codes(session, county_code=county_code)
    fate_names = [f for f, _ in FATES]
    fate_p = np.array([p for _, p in FATES])
    stream_mark = session.execute(
        text("SELECT coalesce(max(id), 0) FROM stream_message")
    ).scalar_one()

    walks: dict[int, _Walk] = {}
    # The agenda: (when, tie-breaker, kind, key): "receive" (key: index of its receipt
    # time), "echo" (index of a repeated report), "step" and "check" (an event id).
    agenda: list[tuple[dt.datetime, int, str, int]] = []
    seq = 0

    def schedule(when: dt.datetime, kind: str, event_id: int) -> None:
        nonlocal seq
        seq += 1
        if kind == "step":
            walks[event_id].pending = seq
        heapq.heappush(agenda, (when, seq, kind, event_id))

    def minutes(lo: float, hi: float) -> dt.timedelta:
        return dt.timedelta(minutes=float(rng.uniform(lo, hi)))

    def sync(walk: _Walk, event: Event) -> None:
        walk.status = event.status
        if event.team_id is not None:  # a returned event keeps its last team for re-assigning
            walk.team_code = team_code_of.get(event.team_id)
        walk.overdue = event.overdue
        walk.escalation_level = event.escalation_level
        walk.response_due_at, walk.due_at = event.response_due_at, event.due_at

    counts: Counter[str] = Counter()
    arrivals = receipt_times(rng, start=start, end=now, per_day=per_day)
    # Receipts enter the agenda as they happen, so duplicates meet their open originals.
    for i, when in enumerate(arrivals):
        schedule(when, "receive", i)

    def run_check(at: dt.datetime) -> None:
        marked = check_overdue(session, now=at)
        counts["overdue_marks"] += len(marked)
        if not marked:
            return
        for event in session.scalars(select(Event).where(Event.id.in_(marked))):
            walk = walks.get(event.id)
            if walk is None:  # an event from before the history: not ours to walk
                continue
            sync(walk, event)
            # Handed up by the check: the next level's team takes it from here (a stalled
            # event stays where it is).
            if walk.fate != "stalled" and at < now:
                schedule(at + minutes(20, 240), "step", event.id)

    def watch_deadlines(walk: _Walk, at: dt.datetime, *, registered: bool) -> None:
        # The service checks every minute: the first check after an event becomes past
        # due marks it. That is the minute after a deadline, or after a step that puts a
        # late event back to waiting for a team (escalated, returned).
        deadlines = [walk.response_due_at, walk.due_at] if registered else [at]
        for deadline in deadlines:
            if deadline is not None:
                tick = deadline.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
                # A deadline that passed before this step (the response clock runs from
                # receipt) is noticed by the next check after it, never before it.
                tick = max(tick, at.replace(second=0, microsecond=0) + dt.timedelta(minutes=1))
                if tick <= now and (registered or _past_due(walk, tick)):
                    schedule(tick, "check", walk.event_id)

    def pending_co_handlers(event_id: int) -> list[str]:
        return [
            t.code
            for t, co in co_handlers(session, event_id=event_id)
            if co.reported_back_at is None
        ]

    def step(walk: _Walk, at: dt.datetime) -> None:
        """The next action on this event, decided by its state and its fate."""
        kwargs: dict[str, Any] = {}
        status, fate = walk.status, walk.fate
        if status == wf.REPORTED:
            if walk.duplicate_of is not None:
                action = "merge"
                kwargs["note"] = "重复上报，合并到原事件"
            elif walk.team_code is None:
                return  # unplaced: it waits in the triage queue for an operator
            else:
                action = "register"
        elif status == wf.REGISTERED and fate == "joint" and walk.team_code and walk.co_pending:
            action = "joint_dispatch"
            kwargs.update(team_code=walk.team_code, co_team_codes=tuple(walk.co_pending))
        elif status == wf.REGISTERED:
            action = "assign"
        elif status == wf.RETURNED:
            action = "assign"
            kwargs["team_code"] = walk.team_code
        elif status == wf.ASSIGNED:
            if fate == "returned" and not walk.returned_once:
                walk.returned_once = True
                action = "return"
                kwargs["reason"] = _RETURN_REASON
            else:
                action = "start"
        elif status == wf.IN_PROGRESS:
            # Only the co-handlers the event really has report back: a receipt's planned
            # department may never have been dispatched (registration assigned the event,
            # or an escalation took it first).
            walk.co_pending = pending_co_handlers(walk.event_id)
            if walk.co_pending:
                co = walk.co_pending.pop(0)
                event = act(
                    session,
                    event_id=walk.event_id,
                    action="report_back",
                    actor=ACTOR_TEAM,
                    team_code=co,
                    note="配合部门已完成本部门事项",
                    now=at,
                )
                counts["actions"] += 1
                sync(walk, event)
                schedule(at + minutes(20, 180), "step", walk.event_id)
                return
            if (
                fate == "escalated"
                and walk.escalations_left > 0
                and wf.next_level(walk.escalation_level) is not None
            ):
                walk.escalations_left -= 1
                action = "escalate"
                kwargs["reason"] = _ESCALATE_REASONS[int(rng.integers(len(_ESCALATE_REASONS)))]
            else:
                action = "report_back"
                kwargs["note"] = _NOTES[int(rng.integers(len(_NOTES)))]
        elif status == wf.REPORTED_BACK:
            action = "close"
        elif status in (wf.CLOSED, wf.ARCHIVED):
            action = "visit"
            # Most residents are satisfied; a late or bounced case less often.
            happy = 0.85 if fate == "on_time" else 0.55
            kwargs["satisfaction"] = 5 if rng.random() < happy else int(rng.integers(2, 5))
        else:
            return
        try:
            event = act(
                session,
                event_id=walk.event_id,
                action=action,
                actor=_actor(action),
                now=at,
                **kwargs,
            )
        except Conflict:
            if action != "escalate":
                raise
            # No duty team above this one: the team finishes the job itself.
            walk.escalations_left = 0
            schedule(at + minutes(30, 120), "step", walk.event_id)
            return
        counts["actions"] += 1
        sync(walk, event)
        if action in ("assign", "joint_dispatch"):
            # An assignment the rules make joint (a boundary, coordination) brings co-handlers.
            walk.co_pending = pending_co_handlers(walk.event_id)
        # Deadlines are set at receipt and registration (response) and at the first
        # assignment (handling): watch them from then.
        watch_deadlines(
            walk, at, registered=action in ("register", "assign", "joint_dispatch", "escalate")
        )
        if action in ("visit", "merge") or (walk.status == wf.CLOSED and rng.random() > 0.7):
            return  # done: merged, visited, or closed without a return visit
        if fate == "stalled" and walk.status == wf.ASSIGNED:
            return  # nobody starts it: the deadlines pass, the overdue check finds it
        nxt = _next_time(walk, at, rng)
        if nxt <= now:
            schedule(nxt, "step", walk.event_id)

    def _actor(action: str) -> str:
        if action in ("register", "assign", "joint_dispatch", "merge", "close"):
            return ACTOR_OPERATOR
        return ACTOR_VISITOR if action == "visit" else ACTOR_TEAM

    echoes: list[dict[str, Any]] = []

    def receive(at: dt.datetime, kind: str, index: int) -> None:
        if kind == "echo":
            body = echoes[index]
        else:
            body = generator.next(arrivals[index])
            if rng.random() < ECHO_SHARE:
                # A neighbour calls about the same thing a little later, a few metres away.
                echo_at = at + minutes(5, 90)
                if echo_at < now:
                    echoes.append(_echo(body, echo_at, rng))
                    schedule(echo_at, "echo", len(echoes) - 1)
        event, _ = ingest_event(
            session,
            router=router,
            payload=_input(body),
            actor=body["source"],
            policy=policy,
            now=at,
        )
        fate = str(fate_names[int(rng.choice(len(fate_names), p=fate_p))])
        team_code = team_code_of.get(event.team_id) if event.team_id else None
        dept = department_team.get(event.department_code or "")
        co = [dept] if fate == "joint" and dept and dept != team_code else []
        if event.duplicate_of is not None:
            fate = "duplicate"
        elif fate == "joint" and not co:
            fate = "on_time"  # no department shares this category: handled alone
        walks[event.id] = _Walk(
            event_id=event.id,
            fate=fate,
            status=event.status,
            team_code=team_code,
            duplicate_of=event.duplicate_of,
            escalation_level=event.escalation_level,
            escalations_left=1 + int(rng.random() < 0.3),
            co_pending=co,
        )
        counts[fate] += 1
        schedule(at + minutes(2, 30), "step", event.id)

    # The overdue marks of the past are history, not alarms: keep them out of the log.
    alerts = logging.getLogger("gridmap.events")
    level = alerts.level
    alerts.setLevel(logging.ERROR)
    try:
        while agenda:
            at, tie, kind, key = heapq.heappop(agenda)
            if kind in ("receive", "echo"):
                receive(at, kind, key)
            elif kind == "check":
                if _past_due(walks[key], at):
                    run_check(at)
            elif walks[key].pending == tie:
                step(walks[key], at)
        # Whatever is past a deadline now is marked, as the running service would have done.
        run_check(now)
    finally:
        alerts.setLevel(level)
    session.flush()
    session.execute(text("DELETE FROM stream_message WHERE id > :mark"), {"mark": stream_mark})

    stats = session.execute(
        text(
            "SELECT count(*) FILTER (WHERE overdue) AS overdue, "
            "count(*) FILTER (WHERE closed_at IS NOT NULL AND closed_at <= due_at) AS on_time, "
            "count(*) FILTER (WHERE closed_at IS NOT NULL AND closed_at > due_at) AS late "
            "FROM event WHERE id = ANY(:ids)"
        ),
        {"ids": list(walks)},
    ).one()
    return HistorySummary(
        county_code=county_code,
        start=start,
        end=now,
        events=len(walks),
        by_status=dict(Counter(w.status for w in walks.values())),
        by_fate={f: counts[f] for f in [*fate_names, "duplicate"] if counts[f]},
        actions=counts["actions"],
        overdue=int(stats.overdue),
        closed_on_time=int(stats.on_time),
        closed_late=int(stats.late),
        seconds=time.perf_counter() - started,
    )


def _past_due(walk: _Walk, at: dt.datetime) -> bool:
    """Whether the overdue check would mark this event at `at` (saves a query otherwise)."""
    return (
        walk.status in _DEADLINE_STATES
        and not walk.overdue
        and missed_deadline(
            now=at,
            responded=walk.status not in wf.AWAITING_RESPONSE,
            response_due_at=walk.response_due_at,
            due_at=walk.due_at,
        )
        is not None
    )


def _next_time(walk: _Walk, at: dt.datetime, rng: np.random.Generator) -> dt.datetime:
    """When the next step happens: on-time fates keep inside the deadlines, the others not."""
    status, fate = walk.status, walk.fate
    response_due, due = walk.response_due_at, walk.due_at

    def share_of(
        until: dt.datetime | None, lo: float, hi: float, fallback_min: float
    ) -> dt.datetime:
        if until is None or until <= at:
            return at + dt.timedelta(minutes=fallback_min * float(rng.uniform(0.5, 1.5)))
        return at + (until - at) * float(rng.uniform(lo, hi))

    if status == wf.REGISTERED or status == wf.RETURNED:
        return at + dt.timedelta(minutes=float(rng.uniform(3, 30)))
    if walk.overdue:
        # Taken over after the alarm: the new team moves within hours.
        return at + dt.timedelta(minutes=float(rng.uniform(30, 360)))
    if status == wf.ASSIGNED:
        return share_of(response_due, 0.1, 0.7, 60)
    if status == wf.IN_PROGRESS:
        if fate == "late":
            assert due is not None
            return due + dt.timedelta(hours=float(rng.uniform(1, 36)))
        return share_of(due, 0.1, 0.6, 120)
    if status == wf.REPORTED_BACK:
        return share_of(due, 0.05, 0.5, 60)
    # Closed: the return visit comes a day or two later.
    return at + dt.timedelta(hours=float(rng.uniform(4, 48)))
