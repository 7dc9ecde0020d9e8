"""The field work summed per unit-chain and team over a range of local days, from the
monthly rollup `field_month` (migration 0022) for the range's whole calendar months and
the daily aggregate `field_day` (migration 0021) for its other days.

A county month is ~165,000 `field_day` rows in ~3,900 unit-chains and teams: summing them
is a quarter of the month view's budget; its `field_month` rows are those ~3,900 sums."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gridmap.patrols import DAILY_PATROLS

# A `field_day` row's worker-day met when whole (`alone`: the walker patrolled in no other
# unit-chain that day), as field.py's reader and migration 0022's `met` count it.
_DAY_MET = f"x.alone AND x.patrols >= {DAILY_PATROLS} AND extract(isodow FROM x.day) < 6"

# A row's unit-chain and team (field.py reads the same columns).
CHAIN = "x.township_code, x.community_code, x.grid_code, x.team_id"


def _month_up(day: dt.date) -> dt.date:
    """The first day of the first calendar month starting on or after `day`."""
    if day.day == 1:
        return day
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _month_down(day: dt.date) -> dt.date:
    """The first day of the calendar month holding `day`."""
    return day.replace(day=1)


def _months(
    first: dt.date | None, end: dt.date | None
) -> tuple[dt.date | None, dt.date | None] | None:
    """The whole calendar months inside [first, end) as [month first, month end), None on
    an unbounded side; None when the range holds no whole month."""
    lo = None if first is None else _month_up(first)
    hi = None if end is None else _month_down(end)
    if lo is not None and hi is not None and lo >= hi:
        return None
    return lo, hi


def _range(
    column: str, lo: dt.date | None, hi: dt.date | None, name: str
) -> tuple[str, dict[str, Any]]:
    """`column` in [lo, hi) (None: unbounded), with parameters fs_<name>_lo/_hi."""
    terms, params = [], {}
    if lo is not None:
        terms.append(f"{column} >= :fs_{name}_lo")
        params[f"fs_{name}_lo"] = lo
    if hi is not None:
        terms.append(f"{column} < :fs_{name}_hi")
        params[f"fs_{name}_hi"] = hi
    return " AND ".join(terms) or "TRUE", params


def chain_sums_sql(
    *, days: tuple[dt.date | None, dt.date | None], where: str
) -> tuple[str, dict[str, Any]]:
    """A statement giving, per (township_code, community_code, grid_code, team_id),
    `patrols`, `distance_m` (float8), `visits` and `met` (worker-days met by whole days:
    `field_day` rows with `alone`, ≥ DAILY_PATROLS patrols, a working day) summed over the
    local days [first, end) of `days` (None: unbounded on that side), in that column order;
    and its parameters (named fs_…).

    `where` is a condition on the alias `x` that both `field_month` and `field_day` answer
    (their codes and team: what `field_filter("x", None, …)` builds; its parameters are
    the caller's). The range's whole calendar months are read from `field_month`, the
    days before the first and after the last of them from `field_day`; no whole month:
    every day from `field_day`. Pure: the caller executes it."""
    first, end = days
    parts: list[str] = []
    params: dict[str, Any] = {}
    months = _months(first, end)
    # The days of `field_day` to read: the whole range, or its ends around the months.
    day_ranges: list[tuple[dt.date | None, dt.date | None]]
    if months is None:
        day_ranges = [(first, end)]
    else:
        lo, hi = months
        in_months, p = _range("x.month", lo, hi, "m")
        params.update(p)
        parts.append(
            f"SELECT {CHAIN}, x.patrols, x.distance_m, x.visits, x.met"
            f" FROM field_month x WHERE ({where}) AND {in_months}"
        )
        day_ranges = []
        if lo is not None and first is not None and first < lo:
            day_ranges.append((first, lo))
        if hi is not None and (end is None or hi < end):
            day_ranges.append((hi, end))
    for i, (lo, hi) in enumerate(day_ranges):
        in_days, p = _range("x.day", lo, hi, f"d{i}")
        params.update(p)
        parts.append(
            f"SELECT {CHAIN}, x.patrols, x.distance_m, x.visits, ({_DAY_MET})::int AS met"
            f" FROM field_day x WHERE ({where}) AND {in_days}"
        )
    union = "\n        UNION ALL\n        ".join(parts)
    sql = f"""
    SELECT township_code, community_code, grid_code, team_id,
           sum(patrols)::int AS patrols, sum(distance_m)::float8 AS distance_m,
           sum(visits)::int AS visits, sum(met)::int AS met
    FROM (
        {union}
    ) s
    GROUP BY 1, 2, 3, 4
    """
    return sql, params
