"""The assessment (考核): every figure supervisors read, defined once, computed in PostGIS.

What each figure counts is written here and nowhere else: `COUNTS` holds the SQL
predicate of every count (the same predicate lists the events behind a number, so a
drill-down always equals the figure), `DURATIONS` the clock of every time, and the rates
are pure functions of the counts (`rates`). `docs/assessment.md` carries the table
`definitions_markdown()` prints.

The events of a period are those *received* in it (the period is a range of local days in
China Standard Time, UTC+8); what became of them is read as it stands now. Two clocks
run on an event (docs/assessment.md): the response clock from receipt until a team first
starts on it (调查落实), the handling clock from the first assignment (任务指派) until it
is closed (结案). Every query takes the caller's jurisdiction and applies it in SQL
(`Jurisdiction.event_sql`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.errors import InvalidInput
from gridmap.events import workflow as wf
from gridmap.patrols import DAILY_PATROLS

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
_OPEN = "(" + ", ".join(f"'{s}'" for s in sorted(wf.OPEN_STATES)) + ")"


@dataclass(frozen=True, slots=True)
class Count:
    """A count of events: `predicate` (SQL on the event alias `e`) says which."""

    name: str
    zh: str
    en: str
    predicate: str
    definition: str


@dataclass(frozen=True, slots=True)
class Duration:
    """A time in hours between two moments of an event, over the events where both exist."""

    name: str
    zh: str
    en: str
    start: str
    end: str
    definition: str


@dataclass(frozen=True, slots=True)
class Rate:
    name: str
    zh: str
    en: str
    numerator: str
    denominator: str
    definition: str


COUNTS: tuple[Count, ...] = (
    Count("received", "受理", "received", "TRUE", "received in the period (duplicates too)"),
    Count(
        "merged",
        "重复合并",
        "duplicates merged",
        "e.status = 'merged'",
        "merged into another event as its duplicate",
    ),
    Count(
        "assessed",
        "应考核",
        "assessed",
        "e.status <> 'merged'",
        "received and not merged: the base of the overdue and returned rates",
    ),
    Count(
        "open",
        "在办",
        "open",
        f"e.status IN {_OPEN}",
        "still someone's work now (reported … reported back, or returned)",
    ),
    Count(
        "closed",
        "办结",
        "closed",
        "e.closed_at IS NOT NULL",
        "closed (结案) or archived, and not reopened since",
    ),
    Count(
        "closed_on_time",
        "按期办结",
        "closed on time",
        "e.closed_at IS NOT NULL AND (e.due_at IS NULL OR e.closed_at <= e.due_at)",
        "closed no later than its handling deadline (`due_at`)",
    ),
    Count(
        "closed_late",
        "超期办结",
        "closed late",
        "e.closed_at IS NOT NULL AND e.due_at IS NOT NULL AND e.closed_at > e.due_at",
        "closed after its handling deadline",
    ),
    Count(
        "overdue",
        "超期",
        "overdue",
        "e.overdue",
        "ever marked overdue by the deadline watch (response or handling deadline "
        "passed while open), closed late included",
    ),
    Count(
        "open_overdue",
        "超期在办",
        "overdue, still open",
        f"e.overdue AND e.status IN {_OPEN}",
        "marked overdue and still open: what needs attention now",
    ),
    Count(
        "responded",
        "已响应",
        "responded",
        "e.responded_at IS NOT NULL",
        "a team has started on it (调查落实): the response clock stopped",
    ),
    Count(
        "responded_on_time",
        "按时响应",
        "responded on time",
        "e.responded_at IS NOT NULL "
        "AND (e.response_due_at IS NULL OR e.responded_at <= e.response_due_at)",
        "started no later than its response deadline (`response_due_at`)",
    ),
    Count(
        "visited",
        "已回访",
        "return-visited",
        "e.satisfaction IS NOT NULL",
        "return visit made and satisfaction rated (回访, 1–5)",
    ),
    Count(
        "satisfied",
        "满意",
        "satisfied",
        "e.satisfaction >= 4",
        "rated 4 (satisfied) or 5 (very satisfied)",
    ),
    Count(
        "returned",
        "退回/重办",
        "returned or reopened",
        "(e.returned_count > 0 OR e.reopened_count > 0)",
        "returned by a team as not theirs (退回) or reopened after closing, at least once",
    ),
)
COUNT_BY_NAME: dict[str, Count] = {c.name: c for c in COUNTS}

DURATIONS: tuple[Duration, ...] = (
    Duration(
        "response",
        "响应用时",
        "response time",
        "e.received_at",
        "e.responded_at",
        "the response clock: from receipt (`received_at`; registering does not reset it) "
        "to the first start of handling (`responded_at`), for the events responded",
    ),
    Duration(
        "handling",
        "办理用时",
        "handling time",
        "e.assigned_at",
        "e.closed_at",
        "the handling clock: from the first assignment (`assigned_at`) to closing "
        "(`closed_at`), for the events closed after being assigned",
    ),
)
# The percentiles reported of every duration: linear interpolation between the two
# nearest events (PostgreSQL's percentile_cont).
PERCENTILES: dict[str, float] = {"median": 0.5, "p90": 0.9}

RATES: tuple[Rate, ...] = (
    Rate(
        "on_time_rate",
        "按期办结率",
        "on-time closure rate",
        "closed_on_time",
        "closed",
        "closed on time ÷ closed",
    ),
    Rate("closure_rate", "办结率", "closure rate", "closed", "assessed", "closed ÷ assessed"),
    Rate("overdue_rate", "超期率", "overdue rate", "overdue", "assessed", "overdue ÷ assessed"),
    Rate(
        "response_on_time_rate",
        "按时响应率",
        "on-time response rate",
        "responded_on_time",
        "responded",
        "responded on time ÷ responded",
    ),
    Rate(
        "visit_rate",
        "回访率",
        "return-visit rate",
        "visited",
        "closed",
        "return-visited ÷ closed",
    ),
    Rate(
        "satisfied_rate",
        "满意率",
        "satisfied rate",
        "satisfied",
        "visited",
        "rated 4 or 5 ÷ return-visited",
    ),
    Rate(
        "returned_rate",
        "退回重办率",
        "returned/reopened rate",
        "returned",
        "assessed",
        "returned or reopened ÷ assessed",
    ),
)
RATE_BY_NAME: dict[str, Rate] = {r.name: r for r in RATES}

# --- field work: patrols (巡查) and household visits (走访), from the phone -------------------


@dataclass(frozen=True, slots=True)
class FieldFigure:
    """A figure of the grid workers' field work (tables `patrol` and `visit`)."""

    name: str
    zh: str
    en: str
    definition: str


# 一日双巡 (DAILY_PATROLS patrols a grid worker's working day), as the phone counts it.
WORKING_DAYS = "Monday to Friday (local days, UTC+8); public holidays are not modelled"
FIELD_FIGURES: tuple[FieldFigure, ...] = (
    FieldFigure(
        "patrols",
        "巡查次数",
        "patrols",
        "patrols started in the period (`patrol.started_at`, any day), counted where each "
        "started (its area chain) and for the walker's team",
    ),
    FieldFigure(
        "patrols_required",
        "应巡次数",
        "patrols due",
        f"{DAILY_PATROLS} × `patrol_days_required` (一日双巡)",
    ),
    FieldFigure(
        "patrol_days_required",
        "应巡人天",
        "worker-days due",
        "the unit's grid workers (`member` rows of role grid_worker: a team's own, an "
        "area's those of the teams on duty for its grids) × the working days of the period "
        f"up to today; working days: {WORKING_DAYS}",
    ),
    FieldFigure(
        "patrol_days_met",
        "双巡达标人天",
        "worker-days met",
        f"a worker (the logged-in walker) and a working day with at least {DAILY_PATROLS} "
        "patrols started that day in the unit",
    ),
    FieldFigure(
        "patrol_rate",
        "一日双巡达标率",
        "twice-a-day rate",
        "worker-days met ÷ worker-days due (above 100% only when more people patrol than "
        "the teams list as grid workers)",
    ),
    FieldFigure(
        "patrol_km",
        "巡查里程（公里）",
        "patrol distance (km)",
        "the sum of the patrols' track lengths on the ellipsoid (`ST_Length(track::geography)`, "
        "kept in `patrol.distance_m` by every batch of points), in km",
    ),
    FieldFigure(
        "household_visits",
        "入户走访",
        "household visits",
        "visits recorded in the period (`visit.visited_at`), counted where each was made "
        "and for the visitor's team",
    ),
)
FIELD_BY_NAME: dict[str, FieldFigure] = {f.name: f for f in FIELD_FIGURES}
# The groupings field work has: not a department's or a category's.
FIELD_GROUPS = ("township", "community", "grid", "team", "grid_worker")


# What a figure may be grouped by → (SQL of the key, SQL of the name, joins it needs).
# A grid worker answers for the events of their grid's team. Each event is counted once:
# a team with two grid workers is one row naming both ("张三、李四", key "12+13"), not a
# row per worker each credited with every event (which made the rows add up to twice the
# events); a team with one grid worker is that worker's row (key: the member's id).
GROUPS: dict[str, tuple[str, str]] = {
    "township": ("e.township_code", "NULL"),
    "community": ("e.community_code", "NULL"),
    "grid": ("e.grid_code", "NULL"),
    "team": ("t.code", "t.name"),
    "grid_worker": ("gw.key", "gw.name"),
    "department": ("e.department_code", "NULL"),
    "category": ("e.category_code", "NULL"),
}
# The names of the keys that are codes, looked up after grouping (current names: codes
# never change meaning once issued).
_NAME_SQL: dict[str, str] = {
    "township": "SELECT code, name FROM area WHERE layer = 'township' AND code = ANY(:keys) "
    "AND valid_to IS NULL",
    "community": "SELECT code, name FROM area WHERE layer = 'community' AND code = ANY(:keys) "
    "AND valid_to IS NULL",
    "grid": "SELECT code, name FROM area WHERE layer = 'grid' AND code = ANY(:keys) "
    "AND valid_to IS NULL",
    "department": "SELECT code, name FROM department WHERE code = ANY(:keys)",
    "team": "SELECT code, name FROM team WHERE code = ANY(:keys)",
    "grid_worker": "SELECT key, name FROM (SELECT string_agg(id::text, '+' ORDER BY id) AS key, "
    "string_agg(name, '、' ORDER BY id) AS name FROM member WHERE role = 'grid_worker' "
    "GROUP BY team_id) gw WHERE key = ANY(:keys)",
    "category": "SELECT code, name FROM category WHERE code = ANY(:keys)",
}
GROUP_LABELS: dict[str, tuple[str, str]] = {
    "township": ("乡镇（街道）", "township"),
    "community": ("社区", "community"),
    "grid": ("网格", "grid"),
    "team": ("处置队伍", "team"),
    "grid_worker": ("网格员", "grid worker"),
    "department": ("职能部门", "department"),
    "category": ("事件类别", "category"),
}
# The map layer of a grouping (a choropleth can colour it).
AREA_GROUPS = ("township", "community", "grid")


# --- periods ------------------------------------------------------------------------------

# The days a custom period may name (a date near year 1 or 9999 would overflow).
EARLIEST_DAY, LATEST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
PERIODS = ("today", "yesterday", "week", "last_week", "month", "last_month", "custom", "all")


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in time; `days` the local dates it covers (for a daily series)."""

    name: str
    start: dt.datetime | None
    end: dt.datetime | None

    @property
    def first_day(self) -> dt.date | None:
        return self.start.astimezone(CHINA_TZ).date() if self.start else None

    @property
    def last_day(self) -> dt.date | None:
        return (
            (self.end - dt.timedelta(microseconds=1)).astimezone(CHINA_TZ).date()
            if self.end
            else None
        )

    def previous(self) -> Period | None:
        """The period of the same length just before (this week → last week); a month's
        previous is the calendar month before."""
        if self.start is None or self.end is None:
            return None
        if self.name in ("month", "last_month"):
            first = self.start.astimezone(CHINA_TZ).date()
            prev_first = (first - dt.timedelta(days=1)).replace(day=1)
            return Period("previous", _local_midnight(prev_first), self.start)
        return Period("previous", self.start - (self.end - self.start), self.start)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from": self.first_day.isoformat() if self.first_day else None,
            "to": self.last_day.isoformat() if self.last_day else None,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), CHINA_TZ)


def resolve_period(
    *,
    period: str | None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    now: dt.datetime | None = None,
) -> Period:
    """A named period (today, week: Monday to now, month, …) or `date_from`..`date_to`
    inclusive (local days). Pure."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(CHINA_TZ)
    today = now.date()
    name = period or ("custom" if date_from or date_to else "all")
    if name not in PERIODS:
        raise InvalidInput(
            f"period: must be one of {', '.join(PERIODS)}",
            details={"field": "period", "value": name},
        )
    if name == "custom":
        if date_from is None or date_to is None:
            raise InvalidInput(
                "a custom period needs from and to (dates, inclusive)",
                details={"field": "from" if date_from is None else "to"},
            )
        for field_name, day in (("from", date_from), ("to", date_to)):
            if not EARLIEST_DAY <= day <= LATEST_DAY:
                raise InvalidInput(
                    f"{field_name}: a day from {EARLIEST_DAY} to {LATEST_DAY}",
                    details={"field": field_name, "value": day.isoformat()},
                )
        if date_to < date_from:
            raise InvalidInput(
                "to is before from", details={"field": "to", "value": date_to.isoformat()}
            )
        if (date_to - date_from).days > 3 * 366:
            raise InvalidInput("a period is at most three years", details={"field": "to"})
        return Period(name, _local_midnight(date_from), _local_midnight(date_to + dt.timedelta(1)))
    if name == "all":
        return Period(name, None, None)
    if name in ("today", "yesterday"):
        day = today if name == "today" else today - dt.timedelta(days=1)
        return Period(name, _local_midnight(day), _local_midnight(day + dt.timedelta(days=1)))
    if name in ("week", "last_week"):
        monday = today - dt.timedelta(days=today.weekday())
        if name == "last_week":
            monday -= dt.timedelta(days=7)
        return Period(name, _local_midnight(monday), _local_midnight(monday + dt.timedelta(7)))
    first = today.replace(day=1)
    if name == "last_month":
        first = (first - dt.timedelta(days=1)).replace(day=1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    return Period(name, _local_midnight(first), _local_midnight(nxt))


# --- figures ------------------------------------------------------------------------------


def ratio(numerator: int, denominator: int) -> float | None:
    """A rate in [0, 1], rounded to 4 places; None when nothing is counted below it."""
    return round(numerator / denominator, 4) if denominator else None


def rates(counts: Mapping[str, int]) -> dict[str, float | None]:
    """Every rate of `RATES` from the counts. Pure."""
    return {r.name: ratio(counts[r.numerator], counts[r.denominator]) for r in RATES}


@dataclass(frozen=True, slots=True)
class Figures:
    """The assessment of one unit (or the total, key None)."""

    key: str | None
    name: str | None
    counts: dict[str, int]
    hours: dict[str, float | None]  # "response_median", "handling_p90", …
    satisfaction: float | None  # mean rating 1–5 of the return-visited
    previous: Figures | None = None
    # The field work (FIELD_FIGURES by name); None where a grouping has none (a
    # department, a category).
    field: dict[str, Any] | None = None

    @property
    def rates(self) -> dict[str, float | None]:
        return rates(self.counts)

    def __getattr__(self, name: str) -> Any:
        # Counts read as attributes (row.received), as the older StatRow had them.
        if name in COUNT_BY_NAME:
            return self.counts[name]
        if name == "visits":
            return self.counts["visited"]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "name": self.name, **self.counts}
        out.update(self.rates)
        out.update({f"{k}_hours": v for k, v in self.hours.items()})
        out["satisfaction"] = self.satisfaction
        # Kept for the command view and older callers: the mean of the handling clock.
        out["mean_handling_hours"] = self.hours.get("handling_mean")
        out["visits"] = self.counts["visited"]
        out.update({f.name: (self.field or {}).get(f.name) for f in FIELD_FIGURES})
        if self.previous is not None:
            out["previous"] = self.previous.to_dict()
            out["previous"].pop("previous", None)
        return out


_HOUR_NAMES = [f"{d.name}_{p}" for d in DURATIONS for p in (*PERCENTILES, "mean")]


_COUNT_NAMES = [c.name for c in COUNTS]
# The figures' columns at the end of a row of `_assess_sql`: counts, per clock its
# percentiles and mean, the satisfaction.
_N_FIGURES = len(COUNTS) + len(_HOUR_NAMES) + 1


def _row_figures(row: Any, *, key: str | None, name: str | None) -> Figures:
    """Figures from a result row whose last columns are the figures (by position: a
    county's month has thousands of grid rows)."""
    values = tuple(row)[-_N_FIGURES:]
    n = len(COUNTS)
    hours = values[n : n + len(_HOUR_NAMES)]
    sat = values[-1]
    return Figures(
        key=key,
        name=name,
        counts=dict(zip(_COUNT_NAMES, values[:n], strict=True)),
        hours={
            h: (round(v, 2) if v is not None else None)
            for h, v in zip(_HOUR_NAMES, hours, strict=True)
        },
        satisfaction=round(sat, 2) if sat is not None else None,
    )


def _check_groups(by: Sequence[str]) -> None:
    for b in by:
        if b not in GROUPS:
            raise InvalidInput(
                f"by: must be one of {', '.join(GROUPS)}", details={"field": "by", "value": b}
            )


def event_filter(
    *,
    period: Period,
    area: str | None,
    county_code: str | None = None,
    scope: Jurisdiction | None = None,
) -> tuple[str, dict[str, Any]]:
    """The events of a period, an area and a jurisdiction (the caller's, in the query)."""
    scope_sql, params = scope.event_sql("e") if scope is not None else ("TRUE", {})
    terms = [scope_sql]
    if period.start is not None:
        terms.append("e.received_at >= :p_start")
        params["p_start"] = period.start
    if period.end is not None:
        terms.append("e.received_at < :p_end")
        params["p_end"] = period.end
    if county_code:
        terms.append("e.county_code = :p_county")
        params["p_county"] = county_code
    if area:
        terms.append(
            "(e.township_code = :p_area OR e.community_code = :p_area "
            "OR e.grid_code = :p_area OR e.county_code = :p_area)"
        )
        params["p_area"] = area
    return " AND ".join(terms), params


def _from(by: str | None) -> str:
    joins = "event e"
    if by == "team":
        joins += " LEFT JOIN team t ON t.id = e.team_id"  # unassigned: the row of key None
    if by == "grid_worker":
        joins += f" JOIN ({GRID_WORKERS_SQL}) gw ON gw.team_id = e.team_id"
    return joins


# The grid workers of each team, one row per team (see GROUPS).
GRID_WORKERS_SQL = (
    "SELECT team_id, string_agg(id::text, '+' ORDER BY id) AS key, "
    "string_agg(name, '、' ORDER BY id) AS name "
    "FROM member WHERE role = 'grid_worker' GROUP BY team_id"
)


def _mask(by: list[str], b: str | None) -> int:
    """GROUPING(k_1, …, k_n) of the grouping set of `b` (None: the total): bit i (from the
    left) is 1 when key i is not grouped by."""
    n = len(by)
    full = (1 << n) - 1
    return full if b is None else full & ~(1 << (n - 1 - by.index(b)))


def _assess_sql(by: list[str], where: str) -> str:
    """One statement for the total and every grouping in `by`, exact.

    The events of the scope are read once into `facts`, narrow: each grouping's key, a 0/1
    per count, both clocks in hours (no names: they are looked up for the few keys after
    grouping). The counts and means are summed over it by hashed GROUPING SETS, one pass
    for all of them; the percentiles need their values sorted, so they are another
    GROUPING SETS over the keys and the two clocks only (a projection the planner cannot
    fold into the CTE scan, so each of its sorts moves narrow rows), with one sort per
    clock and group for both percentiles (`percentile_cont(ARRAY[…])`). The two are
    joined by grouping set (GROUPING mask) and key (a code is never '', so '' stands for
    no key: a hash join). Measured in docs/performance.md."""
    keys = [f"{_FACT_KEYS[b]} AS k_{b}" for b in by]
    flags = [f"({c.predicate})::int AS f_{c.name}" for c in COUNTS]
    hours = [f"date_part('epoch', {d.end} - {d.start}) / 3600.0 AS h_{d.name}" for d in DURATIONS]
    joins = ""
    if "team" in by:
        joins += " LEFT JOIN team t ON t.id = e.team_id"
    if "grid_worker" in by:
        joins += f" LEFT JOIN ({GRID_WORKER_KEYS_SQL}) gw ON gw.team_id = e.team_id"
    sets = ", ".join(["()", *(f"(k_{b})" for b in by)])
    grouping = f"GROUPING({', '.join(f'k_{b}' for b in by)})" if by else "0"
    key = f"coalesce({', '.join(f'k_{b}::text' for b in by)})" if by else "NULL::text"
    sums = [f"coalesce(sum(f_{c.name}), 0) AS {c.name}" for c in COUNTS]
    means = [f"avg(h_{d.name}) AS {d.name}_mean" for d in DURATIONS]
    qs = ", ".join(str(q) for q in PERCENTILES.values())
    pcts = [
        f"percentile_cont(ARRAY[{qs}]) WITHIN GROUP (ORDER BY h_{d.name}) AS {d.name}_pct"
        for d in DURATIONS
    ]
    narrow = ", ".join([*(f"k_{b}" for b in by), *(f"h_{d.name}" for d in DURATIONS)])
    pct_cols = [
        f"p.{d.name}_pct[{i + 1}] AS {d.name}_{label}"
        for d in DURATIONS
        for i, label in enumerate(PERCENTILES)
    ]
    # The figures in _row_figures' order: counts, per clock its percentiles and mean,
    # the satisfaction.
    hour_cols = []
    for d in DURATIONS:
        hour_cols += [c for c in pct_cols if f" AS {d.name}_" in c]
        hour_cols.append(f"c.{d.name}_mean")
    return f"""
        WITH facts AS MATERIALIZED (
            SELECT {", ".join([*keys, *flags, *hours])}, e.satisfaction AS sat
            FROM event e{joins}
            WHERE {where}
        ),
        c AS (
            SELECT {grouping} AS g, {key} AS k,
                   {", ".join([*sums, *means])}, avg(sat)::float8 AS satisfaction
            FROM facts GROUP BY GROUPING SETS ({sets})
        ),
        p AS (
            SELECT {grouping} AS g, {key} AS k, {", ".join(pcts)}
            FROM (SELECT {narrow} FROM facts OFFSET 0) f GROUP BY GROUPING SETS ({sets})
        )
        SELECT c.g, c.k, NULL::text AS name, {", ".join(f"c.{n}" for n in _COUNT_NAMES)},
               {", ".join(hour_cols)}, c.satisfaction
        FROM c JOIN p ON p.g = c.g AND coalesce(p.k, '') = coalesce(c.k, '')
    """


# The key of each team's grid-worker row (see GROUPS), without the names.
GRID_WORKER_KEYS_SQL = (
    "SELECT team_id, string_agg(id::text, '+' ORDER BY id) AS key "
    "FROM member WHERE role = 'grid_worker' GROUP BY team_id"
)


# The key of each grouping on the event's facts (see GROUPS).
_FACT_KEYS = {
    "township": "e.township_code",
    "community": "e.community_code",
    "grid": "e.grid_code",
    "team": "t.code",
    "grid_worker": "gw.key",
    "department": "e.department_code",
    "category": "e.category_code",
}


def assess(
    session: Session,
    *,
    by: Sequence[str] = (),
    period: Period,
    area: str | None = None,
    county_code: str | None = None,
    scope: Jurisdiction | None = None,
    compare: bool = False,
) -> dict[str, Any]:
    """The total and the rows per unit of each grouping in `by`, for a period; with
    `compare`, each with the figures of the previous period beside it.

    Returns {"total": Figures, "groups": {by: [Figures, …]}}; rows with no key (events not
    placed or not assigned) come last, key None.
    """
    _check_groups(by)
    where, params = event_filter(period=period, area=area, county_code=county_code, scope=scope)
    rows = session.execute(text(_assess_sql(list(by), where)), params).all()
    # Columns by position: the set's mask, its key, the unit's name, the figures.
    total: Figures | None = None
    found: dict[str, list[Any]] = {b: [] for b in by}
    masks = {_mask(list(by), b): b for b in by}
    for r in rows:
        if r[0] == _mask(list(by), None):
            total = _row_figures(r, key=None, name=None)
        else:
            found[masks[r[0]]].append(r)
    assert total is not None  # the empty grouping set: always one row
    field = field_figures(
        session, by=by, period=period, area=area, county_code=county_code, scope=scope
    )
    total = _with_field(total, field[None][None])
    groups: dict[str, list[Figures]] = {}
    for b in by:
        # A grid worker's row is a team's grid workers: events of teams without any are
        # not a grid worker's (the row of key None is left out).
        mine = {r[1]: r for r in found[b] if not (b == "grid_worker" and r[1] is None)}
        work = field.get(b, {})
        # A unit with field work and no event is a row too (its counts zero).
        keys = sorted(
            {*mine, *(k for k in work if not (b == "grid_worker" and k is None))},
            key=lambda k: (k is None, k or ""),
        )
        names = _names(session, by=b, keys=keys)
        rows_b = []
        for k in keys:
            hit = mine.get(k)
            f = (
                _row_figures(hit, key=k, name=names.get(k, hit[2]))
                if hit is not None
                else _empty(k, names.get(k))
            )
            if b in FIELD_GROUPS:
                f = _with_field(f, work.get(k) or _field_zero())
            rows_b.append(f)
        groups[b] = rows_b
    if compare:
        prev = period.previous()
        if prev is not None:
            before = assess(
                session, by=by, period=prev, area=area, county_code=county_code, scope=scope
            )
            total = _with_previous(total, before["total"])
            for b in by:
                old = {f.key: f for f in before["groups"][b]}
                groups[b] = [_with_previous(f, old.get(f.key)) for f in groups[b]]
    return {"total": total, "groups": groups}


# --- the field work's figures --------------------------------------------------------------


def working_days(period: Period, *, today: dt.date | None = None) -> int | None:
    """The working days (WORKING_DAYS) of a bounded period up to today; None unbounded."""
    first, last = period.first_day, period.last_day
    if first is None or last is None:
        if first is None:
            return None
        last = today or dt.datetime.now(CHINA_TZ).date()
    last = min(last, today or dt.datetime.now(CHINA_TZ).date())
    n, day = 0, first
    while day <= last:
        n += day.weekday() < 5
        day += dt.timedelta(days=1)
    return n


def field_scope_sql(scope: Jurisdiction | None, alias: str) -> tuple[str, dict[str, Any]]:
    """The jurisdiction rule on a field-work row's area chain and team, in SQL (a patrol, a
    visit, a `field_day` row, a grid worker of the roster): `Jurisdiction.field_sql`."""
    return ("TRUE", {}) if scope is None else scope.field_sql(alias)


def field_filter(
    alias: str,
    at: str | None,
    *,
    period: Period,
    area: str | None,
    county_code: str | None,
    scope: Jurisdiction | None,
) -> tuple[str, dict[str, Any]]:
    """The field-work rows of a period (by the moment column `at`), an area, a county and
    a jurisdiction: `event_filter`'s rule on the row's own area chain and team."""
    where, params = field_scope_sql(scope, alias)
    terms = [where]
    if at is not None and period.start is not None:
        terms.append(f"{alias}.{at} >= :p_start")
        params["p_start"] = period.start
    if at is not None and period.end is not None:
        terms.append(f"{alias}.{at} < :p_end")
        params["p_end"] = period.end
    if county_code:
        terms.append(f"{alias}.county_code = :p_county")
        params["p_county"] = county_code
    if area:
        terms.append(
            f"({alias}.township_code = :p_area OR {alias}.community_code = :p_area "
            f"OR {alias}.grid_code = :p_area OR {alias}.county_code = :p_area)"
        )
        params["p_area"] = area
    return " AND ".join(terms), params


# The grid workers on the roll: each grid worker once, with the area chain of the grid
# (or dedicated grid, whose parent is a grid) its team is on duty for — of several, the
# first by code; a team on none: its county only.
ROSTER_SQL = """
    SELECT DISTINCT ON (m.id) m.id AS member_id, m.team_id,
           coalesce(gr.county_code, tm.county_code) AS county_code,
           cm.parent_code AS township_code, cm.code AS community_code, gr.code AS grid_code
    FROM member m
    JOIN team tm ON tm.id = m.team_id
    LEFT JOIN duty d ON d.team_id = m.team_id AND d.layer IN ('grid', 'dedicated_grid')
    LEFT JOIN area gr ON gr.layer = d.layer AND gr.code = d.area_code AND gr.valid_to IS NULL
    LEFT JOIN area up ON up.code = gr.parent_code AND up.valid_to IS NULL
                     AND up.layer IN ('grid', 'community')
    LEFT JOIN area cm ON cm.layer = 'community' AND cm.valid_to IS NULL
                     AND cm.code = CASE WHEN up.layer = 'grid' THEN up.parent_code ELSE up.code END
    WHERE m.role = 'grid_worker'
    ORDER BY m.id, gr.code NULLS LAST
"""


def _field_sets(keys: Sequence[str], *always: str) -> tuple[str, str, str]:
    """(GROUPING SETS, GROUPING(…) mask, coalesced key) over k_<grouping> columns."""
    head = list(always)
    sets = ", ".join("(" + ", ".join(c) + ")" for c in [head, *([*head, f"k_{b}"] for b in keys)])
    mask = f"GROUPING({', '.join(f'k_{b}' for b in keys)})" if keys else "0"
    key = f"coalesce({', '.join(f'k_{b}::text' for b in keys)})" if keys else "NULL::text"
    return sets, mask, key


# The key of each field grouping on a patrol's or visit's row: a team (and its grid
# workers' row) by the team's id, an int, turned into the team's code and the grid
# workers' key after grouping (two joins fewer over every row).
_FIELD_ROW_KEYS = {
    "township": "township_code",
    "community": "community_code",
    "grid": "grid_code",
    "team": "team_id",
    "grid_worker": "team_id::bigint",  # another expression: grouping sets keep both
}


def day_bounds(period: Period) -> tuple[dt.date | None, dt.date | None] | None:
    """The period as local days [first, end) when its bounds are local midnights (every
    named or custom period is), so the daily aggregate `field_day` answers it exactly;
    None when a bound falls inside a day (the older `since=` form): the raw rows then."""
    out: list[dt.date | None] = []
    for bound in (period.start, period.end):
        if bound is None:
            out.append(None)
            continue
        local = bound.astimezone(CHINA_TZ)
        if local.timetz().replace(tzinfo=None) != dt.time():
            return None
        out.append(local.date())
    return out[0], out[1]


# Both sources of the field rows end alike: a walker-day of a working day with at least
# DAILY_PATROLS patrols is met, and each unit's rows are its whole days plus its split ones.
_WORKDAY_MET = f"extract(isodow FROM day) < 6 AND n >= {DAILY_PATROLS}"
_FIELD_ROWS_OUT = """SELECT w.g, w.k, coalesce(w.n, 0), coalesce(w.m, 0)::float8, coalesce(w.v, 0),
                   w.met + coalesce(s.met, 0)
            FROM whole w LEFT JOIN split s ON s.g = w.g AND s.k IS NOT DISTINCT FROM w.k"""


def _field_rows_aggregate(
    session: Session,
    *,
    keys: Sequence[str],
    days: tuple[dt.date | None, dt.date | None],
    where: str,
    params: dict[str, Any],
) -> list[Any]:
    """(g, k, patrols, metres, visits, worker-days met) per unit of each grouping set,
    from the daily aggregate `field_day` (migration 0021: one row per walker, local day,
    unit-chain and team, kept by triggers on every write of `patrol` and `visit`).

    A row with `alone` (the walker patrolled in no other unit-chain that day) is the
    walker's whole day in every unit that holds it, so whether the day is met is the row's
    own count, in every grouping; its counts, sums and days met are first summed per
    unit-chain and team (one hashed pass over the rows, a few thousand groups a county),
    and the grouping sets run over those. The few rows of days
    split over unit-chains (NOT alone; a partial index) are summed per walker, day and
    unit in `split`, as the raw rows are (`_field_rows_raw`)."""
    first, end = days
    if first is not None:
        where += " AND x.day >= :d_first"
        params["d_first"] = first
    if end is not None:
        where += " AND x.day < :d_end"
        params["d_end"] = end
    cols = "".join(f", x.{_FIELD_ROW_KEYS[b]} AS k_{b}" for b in keys)
    all_sets, mask, key = _field_sets(keys)
    day_sets, _, _ = _field_sets(keys, "user_id", "day")
    workday = _WORKDAY_MET
    return list(
        session.execute(
            text(
                f"""
            WITH whole AS (
                SELECT {mask} AS g, {key} AS k, sum(n)::int AS n, sum(m)::float8 AS m,
                       sum(v)::int AS v, coalesce(sum(met), 0)::int AS met
                FROM (
                    SELECT n, m, v, met{cols} FROM (
                        SELECT x.township_code, x.community_code, x.grid_code, x.team_id,
                               sum(x.patrols) AS n, sum(x.distance_m) AS m,
                               sum(x.visits) AS v,
                               count(*) FILTER (WHERE x.alone AND x.patrols >= {DAILY_PATROLS}
                                                AND extract(isodow FROM x.day) < 6) AS met
                        FROM field_day x WHERE {where}
                        GROUP BY 1, 2, 3, 4
                    ) x
                ) r
                GROUP BY GROUPING SETS ({all_sets})
            ),
            split AS (
                SELECT g, k, count(*) FILTER (WHERE {workday})::int AS met FROM (
                    SELECT {mask} AS g, {key} AS k, day, sum(n) AS n FROM (
                        SELECT x.user_id, x.day, x.patrols AS n{cols}
                        FROM field_day x WHERE {where} AND NOT x.alone AND x.patrols > 0
                    ) r
                    GROUP BY GROUPING SETS ({day_sets})
                ) wd GROUP BY g, k
            )
            {_FIELD_ROWS_OUT}
            """
            ),
            params,
        ).all()
    )


def _field_rows_raw(
    session: Session,
    *,
    keys: Sequence[str],
    period: Period,
    area: str | None,
    county_code: str | None,
    scope: Jurisdiction | None,
) -> list[Any]:
    """The same rows as `_field_rows_aggregate`, from the raw `patrol` and `visit` rows
    (a period cut inside a day; and the reference the tests and the bench compare to)."""
    cols = "".join(f", x.{_FIELD_ROW_KEYS[b]} AS k_{b}" for b in keys)
    kcols = "".join(f", k_{b}" for b in keys)
    where, params = field_filter(
        "x", "started_at", period=period, area=area, county_code=county_code, scope=scope
    )
    # The same terms on the visit's moment (and the same parameters).
    vwhere, _ = field_filter(
        "x", "visited_at", period=period, area=area, county_code=county_code, scope=scope
    )
    all_sets, mask, key = _field_sets(keys)
    day_sets, _, _ = _field_sets(keys, "user_id", "day")
    workday = _WORKDAY_MET
    # pd: a walker's patrols (and visits) of a local day in one unit-chain; parts: in how
    # many unit-chains it patrolled that day (nearly always one: then whether the day is
    # met is the row's own count, in every grouping; a day split over units is summed per
    # unit in `split`; a row of visits alone, n = 0, is never met and splits nothing).
    return list(
        session.execute(
            text(
                f"""
            WITH pd AS MATERIALIZED (
                SELECT user_id, day{kcols}, sum(n) AS n, sum(m) AS m, sum(v) AS v FROM (
                    SELECT x.user_id, (x.started_at AT TIME ZONE 'Asia/Shanghai')::date AS day
                           {cols}, 1 AS n, x.distance_m AS m, 0 AS v
                    FROM patrol x WHERE {where}
                    UNION ALL
                    SELECT x.user_id, (x.visited_at AT TIME ZONE 'Asia/Shanghai')::date AS day
                           {cols}, 0, 0::float8, 1
                    FROM visit x WHERE {vwhere}
                ) r GROUP BY 1, 2{kcols}
            ),
            parts AS (
                SELECT user_id, day, count(*) AS parts FROM pd WHERE n > 0 GROUP BY 1, 2
            ),
            whole AS (
                SELECT {mask} AS g, {key} AS k, sum(n)::int AS n,
                       sum(m)::float8 AS m, sum(v)::int AS v,
                       count(*) FILTER (WHERE parts = 1 AND {workday})::int AS met
                FROM pd LEFT JOIN parts USING (user_id, day)
                GROUP BY GROUPING SETS ({all_sets})
            ),
            split AS (
                SELECT g, k, count(*) FILTER (WHERE {workday})::int AS met FROM (
                    SELECT {mask} AS g, {key} AS k, day, sum(n) AS n
                    FROM pd JOIN parts USING (user_id, day) WHERE parts > 1 AND n > 0
                    GROUP BY GROUPING SETS ({day_sets})
                ) wd GROUP BY g, k
            )
            {_FIELD_ROWS_OUT}
            """
            ),
            params,
        ).all()
    )


def field_figures(
    session: Session,
    *,
    by: Sequence[str],
    period: Period,
    area: str | None = None,
    county_code: str | None = None,
    scope: Jurisdiction | None = None,
    aggregate: bool = True,
) -> dict[str | None, dict[str | None, dict[str, Any]]]:
    """The field work of a period: {grouping (None: the total): {key: figures}} for the
    groupings of `by` that have field work (FIELD_GROUPS). Two statements: the patrols
    and visits per unit with the worker-days met, and the roll of grid workers. The first
    reads the daily aggregate `field_day` (`_field_rows_aggregate`) when the period is
    whole local days (every named and custom period is); with `aggregate=False` or a
    period cut inside a day, the raw `patrol` and `visit` rows (`_field_rows_raw`): the
    same figures (tests/test_field_day.py)."""
    keys = [b for b in by if b in FIELD_GROUPS]
    masks: dict[int, str | None] = {_mask(keys, b): b for b in keys}
    masks[_mask(keys, None)] = None
    cols = "".join(f", x.{_FIELD_ROW_KEYS[b]} AS k_{b}" for b in keys)
    bounds = day_bounds(period) if aggregate else None
    if bounds is not None:
        where, params = field_filter(
            "x", None, period=period, area=area, county_code=county_code, scope=scope
        )
        rows = _field_rows_aggregate(session, keys=keys, days=bounds, where=where, params=params)
    else:
        rows = _field_rows_raw(
            session, keys=keys, period=period, area=area, county_code=county_code, scope=scope
        )
    found: list[Any] = [tuple(r) for r in rows]
    days = working_days(period)
    roll: list[Any] = []
    if days is not None:
        where, params = field_filter(
            "x", None, period=period, area=area, county_code=county_code, scope=scope
        )
        sets, mask, _key = _field_sets(keys)
        roll = [
            tuple(r)
            for r in session.execute(
                text(
                    f"""
                SELECT {mask} AS g, {_key_text(keys)} AS k, count(*)::int FROM (
                    SELECT x.member_id{cols} FROM ({ROSTER_SQL}) x WHERE {where}
                ) r GROUP BY GROUPING SETS ({sets})
                """
                ),
                params,
            )
        ]
    # The teams' codes and grid-worker keys, for both statements' team rows at once.
    teams = _team_keys(
        session, [r[1] for r in [*found, *roll] if masks[r[0]] in ("team", "grid_worker")]
    )
    out: dict[str | None, dict[str | None, dict[str, Any]]] = {b: {} for b in [None, *keys]}

    def unit(b: str | None, key: Any) -> dict[str, Any]:
        if b in ("team", "grid_worker"):
            key = teams.get(key, (None, None))[0 if b == "team" else 1]
        return out[b].setdefault(key if b is not None else None, _field_zero())

    for g, k, n, m, v, met in found:
        f = unit(masks[g], k)
        f["patrols"] += n
        f["patrol_km"] += m / 1000
        f["household_visits"] += v
        f["patrol_days_met"] += met
    unit(None, None)  # the total: always a row
    if days is not None:
        for g, k, workers in roll:
            f = unit(masks[g], k)
            f["patrol_days_required"] += workers * days
            f["patrols_required"] += DAILY_PATROLS * workers * days
    for units in out.values():
        for f in units.values():
            f["patrol_km"] = round(f["patrol_km"], 2)
            if days is None:
                f["patrol_days_required"] = f["patrols_required"] = None
            f["patrol_rate"] = (
                ratio(f["patrol_days_met"], f["patrol_days_required"])
                if f["patrol_days_required"] is not None
                else None
            )
    return out


def _key_text(keys: Sequence[str]) -> str:
    return f"coalesce({', '.join(f'k_{b}::text' for b in keys)})" if keys else "NULL::text"


def _team_keys(session: Session, ids: Sequence[Any]) -> dict[Any, tuple[str, str | None]]:
    """A team's id (as text) → (its code, its grid workers' row key, or None)."""
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.execute(
        text(
            f"SELECT t.id, t.code, gw.key FROM team t LEFT JOIN ({GRID_WORKER_KEYS_SQL}) gw"
            " ON gw.team_id = t.id WHERE t.id = ANY(:ids)"
        ),
        {"ids": wanted},
    ).all()
    return {str(r[0]): (r[1], r[2]) for r in rows}


def _field_zero() -> dict[str, Any]:
    return {
        "patrols": 0,
        "patrols_required": 0,
        "patrol_days_required": 0,
        "patrol_days_met": 0,
        "patrol_rate": None,
        "patrol_km": 0.0,
        "household_visits": 0,
    }


def _names(session: Session, *, by: str | None, keys: Sequence[str | None]) -> dict[Any, str]:
    sql = _NAME_SQL.get(by or "")
    wanted = sorted({k for k in keys if k is not None})
    if sql is None or not wanted:
        return {}
    return {code: name for code, name in session.execute(text(sql), {"keys": wanted}).all()}


def _with_field(now: Figures, field: dict[str, Any]) -> Figures:
    return Figures(now.key, now.name, now.counts, now.hours, now.satisfaction, now.previous, field)


def _empty(key: str | None, name: str | None) -> Figures:
    """A unit with no event in the period (it has field work)."""
    return Figures(key, name, {c: 0 for c in _COUNT_NAMES}, dict.fromkeys(_HOUR_NAMES), None)


def _with_previous(now: Figures, before: Figures | None) -> Figures:
    return Figures(now.key, now.name, now.counts, now.hours, now.satisfaction, before, now.field)


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    day: dt.date
    key: str | None
    name: str | None
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "key": self.key,
            "name": self.name,
            **self.counts,
            **rates(self.counts),
        }


def series(
    session: Session,
    *,
    by: str | None,
    period: Period,
    area: str | None = None,
    county_code: str | None = None,
    scope: Jurisdiction | None = None,
    interval: str = "day",
) -> list[SeriesPoint]:
    """The counts per local day of receipt (per unit of `by`, or in total), every day of
    the period present (zeros included) for the total."""
    if interval != "day":
        raise InvalidInput(
            "interval: only day is supported", details={"field": "interval", "value": interval}
        )
    if period.start is None or period.end is None:
        raise InvalidInput(
            "a series needs a bounded period (today, week, month or from/to)",
            details={"field": "period", "value": period.name},
        )
    if by is not None:
        _check_groups([by])
    where, params = event_filter(period=period, area=area, county_code=county_code, scope=scope)
    counts = ", ".join(f"count(*) FILTER (WHERE {c.predicate}) AS {c.name}" for c in COUNTS)
    day_sql = "(e.received_at AT TIME ZONE 'Asia/Shanghai')::date"
    if by is None:
        key_sql, name_sql = "NULL::text", "NULL::text"
    else:
        key_sql, name_sql = GROUPS[by]
    rows = (
        session.execute(
            text(
                f"""
            SELECT {day_sql} AS day, {key_sql} AS key, max({name_sql}) AS name, {counts}
            FROM {_from(by)}
            WHERE {where}
            GROUP BY 1, 2
            ORDER BY 1, 2 NULLS LAST
            """
            ),
            params,
        )
        .mappings()
        .all()
    )
    names = _names(session, by=by, keys=[r["key"] for r in rows])
    points = [
        SeriesPoint(
            r["day"],
            r["key"],
            names.get(r["key"], r["name"]),
            {c.name: int(r[c.name]) for c in COUNTS},
        )
        for r in rows
    ]
    if by is None:
        seen = {p.day for p in points}
        first, last = period.first_day, period.last_day
        assert first is not None and last is not None
        day = first
        zero = {c.name: 0 for c in COUNTS}
        while day <= last:
            if day not in seen:
                points.append(SeriesPoint(day, None, None, dict(zero)))
            day += dt.timedelta(days=1)
        points.sort(key=lambda p: p.day)
    return points


def figure_events(
    session: Session,
    *,
    figure: str,
    period: Period,
    by: str | None = None,
    key: str | None = None,
    area: str | None = None,
    county_code: str | None = None,
    scope: Jurisdiction | None = None,
    limit: int = 500,
) -> tuple[list[int], int]:
    """The ids of the events behind one count (newest first, at most `limit`) and how
    many there are: the same predicate as the figure, so the list adds up to it."""
    try:
        count = COUNT_BY_NAME[figure]
    except KeyError:
        raise InvalidInput(
            f"figure: must be one of {', '.join(COUNT_BY_NAME)}",
            details={"field": "figure", "value": figure},
        ) from None
    if not 1 <= limit <= 5000:
        raise InvalidInput("limit: must be 1 to 5000", details={"field": "limit", "value": limit})
    where, params = event_filter(period=period, area=area, county_code=county_code, scope=scope)
    key_term = "TRUE"
    if by is not None:
        _check_groups([by])
        key_sql = GROUPS[by][0]
        if key is None:
            key_term = f"{key_sql} IS NULL"
        else:
            key_term = f"{key_sql} = :p_key"
            params["p_key"] = key
    sql = f"""
        SELECT DISTINCT e.id, count(*) OVER () AS n FROM {_from(by)}
        WHERE {where} AND {key_term} AND {count.predicate}
        ORDER BY e.id DESC LIMIT :p_limit
    """
    rows = session.execute(text(sql), {**params, "p_limit": limit}).all()
    return [r[0] for r in rows], (int(rows[0][1]) if rows else 0)


# --- the older per-group call (the command view's counters use it) -------------------------


def event_stats(
    session: Session,
    *,
    by: str,
    since: dt.datetime | None = None,
    county_code: str | None = None,
    scope: Jurisdiction | None = None,
) -> list[Figures]:
    """The figures per unit of `by` for the events received since `since` (all if None)."""
    period = Period("since" if since else "all", since, None)
    found = assess(session, by=[by], period=period, county_code=county_code, scope=scope)
    rows: list[Figures] = found["groups"][by]
    return rows


# --- the definitions, for docs/assessment.md ---------------------------------------------


def definitions_markdown() -> str:
    """The table of every figure's definition (docs/assessment.md holds this text)."""
    lines = ["| figure | 中文 | what it counts |", "| --- | --- | --- |"]
    for c in COUNTS:
        lines.append(f"| `{c.name}` | {c.zh} | {c.definition} |")
    for d in DURATIONS:
        pct = ", ".join(f"`{d.name}_{p}_hours`" for p in (*PERCENTILES, "mean"))
        lines.append(f"| {pct} | {d.zh} | {d.definition} |")
    lines.append("| `satisfaction` | 满意度 | the mean rating (1–5) of the return-visited events |")
    for r in RATES:
        lines.append(f"| `{r.name}` | {r.zh} | {r.definition} |")
    for f in FIELD_FIGURES:
        lines.append(f"| `{f.name}` | {f.zh} | {f.definition} |")
    return "\n".join(lines) + "\n"
