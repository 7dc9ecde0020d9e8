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

The package: `figures` (what each figure is), `periods`, `event_figures` (the events'
figures, the series, the drill-down) and `field` (the grid workers' field work); what
other modules use is exported here.
"""

from gridmap.events.stats.event_figures import (
    SeriesPoint,
    assess,
    event_filter,
    event_stats,
    figure_events,
    series,
    served_rows,
)
from gridmap.events.stats.field import field_figures, field_filter, field_scope_sql, field_zero
from gridmap.events.stats.figures import (
    AREA_GROUPS,
    COUNT_BY_NAME,
    COUNTS,
    DURATIONS,
    FIELD_BY_NAME,
    FIELD_FIGURES,
    FIELD_GROUPS,
    GRID_WORKER_KEYS_SQL,
    GRID_WORKERS_SQL,
    GROUP_LABELS,
    GROUPS,
    PERCENTILES,
    RATE_BY_NAME,
    RATES,
    WORKING_DAYS,
    Count,
    Duration,
    FieldFigure,
    Figures,
    Rate,
    definitions_markdown,
    rates,
    ratio,
)
from gridmap.events.stats.periods import (
    CHINA_TZ,
    PERIODS,
    Period,
    day_bounds,
    resolve_period,
    working_days,
)
from gridmap.patrols import DAILY_PATROLS

__all__ = [
    "AREA_GROUPS",
    "CHINA_TZ",
    "COUNTS",
    "COUNT_BY_NAME",
    "DAILY_PATROLS",
    "DURATIONS",
    "FIELD_BY_NAME",
    "FIELD_FIGURES",
    "FIELD_GROUPS",
    "GRID_WORKERS_SQL",
    "GRID_WORKER_KEYS_SQL",
    "GROUPS",
    "GROUP_LABELS",
    "PERCENTILES",
    "PERIODS",
    "RATES",
    "RATE_BY_NAME",
    "WORKING_DAYS",
    "Count",
    "Duration",
    "FieldFigure",
    "Figures",
    "Period",
    "Rate",
    "SeriesPoint",
    "assess",
    "day_bounds",
    "definitions_markdown",
    "event_filter",
    "event_stats",
    "field_figures",
    "field_filter",
    "field_scope_sql",
    "field_zero",
    "figure_events",
    "rates",
    "ratio",
    "resolve_period",
    "series",
    "served_rows",
    "working_days",
]
