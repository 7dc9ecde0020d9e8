"""What every figure of the assessment is, written once: the counts (`COUNTS`, each the SQL
predicate that picks its events, so a drill-down always equals the figure), the clocks
(`DURATIONS`), the rates (pure functions of the counts), the field work's figures, the
groupings (units) and a unit's figures (`Figures`). docs/assessment.md carries the table
`definitions_markdown()` prints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridmap.events import workflow as wf
from gridmap.patrols import DAILY_PATROLS

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


def ratio(numerator: int, denominator: int) -> float | None:
    """A rate in [0, 1], rounded to 4 places; None when nothing is counted below it."""
    return round(numerator / denominator, 4) if denominator else None


def rates(counts: Mapping[str, int]) -> dict[str, float | None]:
    """Every rate of `RATES` from the counts. Pure."""
    return {r.name: ratio(counts[r.numerator], counts[r.denominator]) for r in RATES}


# A unit's events' figures in the order the API serves them (`Figures.events`): the
# counts, the rates, each clock's percentiles and mean in hours, the mean rating, and two
# older names (the handling clock's mean; the visited count as `visits`).
HOUR_NAMES: tuple[str, ...] = tuple(
    f"{d.name}_{p}" for d in DURATIONS for p in (*PERCENTILES, "mean")
)
EVENT_FIGURE_NAMES: tuple[str, ...] = (
    *(c.name for c in COUNTS),
    *(r.name for r in RATES),
    *(f"{h}_hours" for h in HOUR_NAMES),
    "satisfaction",
    "mean_handling_hours",
    "visits",
)


# The events' figures of a unit with no event (it has field work): no count, no rate,
# no time, no rating.
NO_EVENTS: dict[str, Any] = {
    n: 0 if n in COUNT_BY_NAME or n == "visits" else None for n in EVENT_FIGURE_NAMES
}


_NO_FIELD: dict[str, Any] = {f.name: None for f in FIELD_FIGURES}


@dataclass(slots=True)
class Figures:
    """The assessment of one unit (or the total, key None). Not frozen: a county's view
    builds some 12,000 of them, and a frozen dataclass's __init__ costs four times as
    much (~0.9 µs against 0.2 µs a row); nothing changes one once built.

    The events' figures are one dict in the order the API serves them (EVENT_FIGURE_NAMES),
    built for all units of a grouping at once: `to_dict` then adds the key, the name and
    the field work, where building the counts, the rates and the hours of each row one by
    one cost a county's view ~100 ms (docs/performance.md)."""

    key: str | None
    name: str | None
    events: dict[str, Any]  # EVENT_FIGURE_NAMES
    previous: Figures | None = None
    # The field work (FIELD_FIGURES by name, in their order); None where a grouping has
    # none (a department, a category).
    field: dict[str, Any] | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {c.name: self.events[c.name] for c in COUNTS}

    @property
    def hours(self) -> dict[str, float | None]:
        """Each clock's percentiles and mean: "response_median", "handling_p90", …"""
        return {h: self.events[f"{h}_hours"] for h in HOUR_NAMES}

    @property
    def rates(self) -> dict[str, float | None]:
        return {r.name: self.events[r.name] for r in RATES}

    @property
    def satisfaction(self) -> float | None:
        """The mean rating 1–5 of the return-visited."""
        rating: float | None = self.events["satisfaction"]
        return rating

    def __getattr__(self, name: str) -> Any:
        # Counts read as attributes (row.received), as the older StatRow had them.
        if name in COUNT_BY_NAME or name == "visits":
            return self.events[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "name": self.name, **self.events}
        out.update(self.field or _NO_FIELD)
        if self.previous is not None:
            previous = self.previous.to_dict()
            previous.pop("previous", None)
            out["previous"] = previous
        return out


# The grid workers of each team, one row per team (see GROUPS).
GRID_WORKERS_SQL = (
    "SELECT team_id, string_agg(id::text, '+' ORDER BY id) AS key, "
    "string_agg(name, '、' ORDER BY id) AS name "
    "FROM member WHERE role = 'grid_worker' GROUP BY team_id"
)


def grouping_mask(by: list[str], b: str | None) -> int:
    """GROUPING(k_1, …, k_n) of the grouping set of `b` (None: the total): bit i (from the
    left) is 1 when key i is not grouped by."""
    n = len(by)
    full = (1 << n) - 1
    return full if b is None else full & ~(1 << (n - 1 - by.index(b)))


# The key of each team's grid-worker row (see GROUPS), without the names.
GRID_WORKER_KEYS_SQL = (
    "SELECT team_id, string_agg(id::text, '+' ORDER BY id) AS key "
    "FROM member WHERE role = 'grid_worker' GROUP BY team_id"
)


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
