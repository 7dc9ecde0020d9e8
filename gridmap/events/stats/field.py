"""The field work's figures (patrols 巡查, household visits 走访, 一日双巡) per unit of a
period, from the daily aggregate `field_day` or the raw `patrol` and `visit` rows, in the
caller's jurisdiction (`Jurisdiction.field_sql`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.db_columns import read_columns
from gridmap.events.stats import grouped
from gridmap.events.stats.field_sums import CHAIN, chain_sums_sql
from gridmap.events.stats.figures import FIELD_GROUPS
from gridmap.events.stats.periods import Period, day_bounds, working_days
from gridmap.events.stats.teams import Team, team_keys, teams_by_id
from gridmap.gc_pause import collector_paused
from gridmap.patrols import DAILY_PATROLS


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


# The field work's rows as the assessment reads them: per unit-chain and team, the
# patrols, metres, visits and worker-days met of the walker-days that lie in one
# unit-chain (`chains`); and each walker-day split over unit-chains, per unit-chain
# (`split`: whether such a day is met depends on the unit it is counted in).
_CHAIN_COLUMNS: dict[str, Any] = {
    "township": str,
    "community": str,
    "grid": str,
    "team": "float64",  # an id, NaN: none
    "patrols": "int64",
    "distance_m": "float64",
    "visits": "int64",
    "met": "int64",
}
_SPLIT_COLUMNS: dict[str, Any] = {
    "user_id": "int64",
    "day": str,
    "workday": "int64",
    "township": str,
    "community": str,
    "grid": str,
    "team": "float64",
    "patrols": "int64",
}
_ROSTER_COLUMNS: dict[str, Any] = {
    "township": str,
    "community": str,
    "grid": str,
    "team": "float64",
}
_WORKDAY = "(extract(isodow FROM day) < 6)::int"


def _field_rows_aggregate(
    session: Session,
    *,
    days: tuple[dt.date | None, dt.date | None],
    where: str,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(chains, split) from the daily aggregate `field_day` (migration 0021: one row per
    walker, local day, unit-chain and team, kept by triggers on every write of `patrol`
    and `visit`).

    A row with `alone` (the walker patrolled in no other unit-chain that day) is the
    walker's whole day in every unit that holds it, so whether the day is met is the row's
    own count, in every grouping: its counts, sums and days met are summed per unit-chain
    and team (`chain_sums_sql`: whole months from the monthly rollup `field_month`, a few
    thousand rows a county month). The few rows of days split over unit-chains (NOT
    alone; a partial index) are read as they are."""
    sums_sql, sums_params = chain_sums_sql(days=days, where=where)
    chains = read_columns(session, sums_sql, {**params, **sums_params}, _CHAIN_COLUMNS)
    first, end = days
    if first is not None:
        where += " AND x.day >= :d_first"
        params["d_first"] = first
    if end is not None:
        where += " AND x.day < :d_end"
        params["d_end"] = end
    split = read_columns(
        session,
        f"""
        SELECT x.user_id, x.day, {_WORKDAY}, {CHAIN}, x.patrols
        FROM field_day x WHERE {where} AND NOT x.alone AND x.patrols > 0
        """,
        params,
        _SPLIT_COLUMNS,
    )
    return chains, split


def _field_rows_raw(
    session: Session,
    *,
    period: Period,
    area: str | None,
    county_code: str | None,
    scope: Jurisdiction | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same (chains, split) as `_field_rows_aggregate`, from the raw `patrol` and
    `visit` rows (a period cut inside a day; and the reference the tests and the bench
    compare to)."""
    where, params = field_filter(
        "x", "started_at", period=period, area=area, county_code=county_code, scope=scope
    )
    # The same terms on the visit's moment (and the same parameters).
    vwhere, _ = field_filter(
        "x", "visited_at", period=period, area=area, county_code=county_code, scope=scope
    )
    # pd: a walker's patrols (and visits) of a local day in one unit-chain; parts: in how
    # many unit-chains it patrolled that day (nearly always one: then whether the day is
    # met is the row's own count; a row of visits alone, n = 0, is never met and splits
    # nothing).
    pd_sql = f"""
        WITH pd AS MATERIALIZED (
            SELECT user_id, day, township_code, community_code, grid_code, team_id,
                   sum(n) AS n, sum(m) AS m, sum(v) AS v FROM (
                SELECT x.user_id, (x.started_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
                       {CHAIN}, 1 AS n, x.distance_m AS m, 0 AS v
                FROM patrol x WHERE {where}
                UNION ALL
                SELECT x.user_id, (x.visited_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
                       {CHAIN}, 0, 0::float8, 1
                FROM visit x WHERE {vwhere}
            ) r GROUP BY 1, 2, 3, 4, 5, 6
        ),
        parts AS (
            SELECT user_id, day, count(*) AS parts FROM pd WHERE n > 0 GROUP BY 1, 2
        )
    """
    chains = read_columns(
        session,
        f"""{pd_sql}
        SELECT township_code, community_code, grid_code, team_id, sum(n), sum(m)::float8,
               sum(v), count(*) FILTER (WHERE parts = 1 AND n >= {DAILY_PATROLS}
                                        AND extract(isodow FROM day) < 6)
        FROM pd LEFT JOIN parts USING (user_id, day)
        GROUP BY 1, 2, 3, 4
        """,
        params,
        _CHAIN_COLUMNS,
    )
    split = read_columns(
        session,
        f"""{pd_sql}
        SELECT user_id, day, {_WORKDAY}, township_code, community_code, grid_code, team_id, n
        FROM pd JOIN parts USING (user_id, day) WHERE parts > 1 AND n > 0
        """,
        params,
        _SPLIT_COLUMNS,
    )
    return chains, split


@dataclass(frozen=True, slots=True)
class FieldRows:
    """A period's field work as read (`read_field`): the walker-days per unit-chain and
    team (`chains`), the split ones (`split`), the roll of grid workers (`roster`, None
    for an unbounded period) and the working days (`days`)."""

    chains: pd.DataFrame
    split: pd.DataFrame
    roster: pd.DataFrame | None
    days: int | None

    def team_ids(self) -> set[str]:
        frames = [self.chains, self.split, *([self.roster] if self.roster is not None else [])]
        return {str(int(i)) for f in frames for i in f["team"].dropna().unique().tolist()}


def read_field(
    session: Session,
    *,
    period: Period,
    area: str | None = None,
    county_code: str | None = None,
    scope: Jurisdiction | None = None,
    aggregate: bool = True,
) -> FieldRows:
    """The field work of a period, in the caller's jurisdiction. The walker-days come from
    the daily aggregate `field_day` (`_field_rows_aggregate`) when the period is whole
    local days (every named and custom period is); with `aggregate=False` or a period cut
    inside a day, from the raw `patrol` and `visit` rows (`_field_rows_raw`): the same
    figures (tests/test_field_day.py)."""
    bounds = day_bounds(period) if aggregate else None
    if bounds is not None:
        where, params = field_filter(
            "x", None, period=period, area=area, county_code=county_code, scope=scope
        )
        chains, split = _field_rows_aggregate(session, days=bounds, where=where, params=params)
    else:
        chains, split = _field_rows_raw(
            session, period=period, area=area, county_code=county_code, scope=scope
        )
    days = working_days(period)
    roster = None
    if days is not None:
        where, params = field_filter(
            "x", None, period=period, area=area, county_code=county_code, scope=scope
        )
        roster = read_columns(
            session,
            # The roll of grid workers (migration 0023: each grid worker once, with the
            # area chain of its team's grid, kept by triggers): indexed for the scope.
            f"SELECT {CHAIN} FROM grid_worker_roll x WHERE {where}",
            params,
            _ROSTER_COLUMNS,
        )
    return FieldRows(chains, split, roster, days)


def field_units(
    rows: FieldRows, *, by: Sequence[str], teams: dict[str, Team]
) -> dict[str | None, dict[str | None, dict[str, Any]]]:
    """{grouping (None: the total): {key: figures}} for the groupings of `by` that have
    field work (FIELD_GROUPS), every grouping computed from the rows (`grouped`); `teams`
    holds every team of the rows when `by` has a team or grid-worker grouping."""
    chains, days = rows.chains, rows.days
    out: dict[str | None, dict[str | None, dict[str, Any]]] = {}
    for b in [None, *(b for b in by if b in FIELD_GROUPS)]:
        grouping = _field_grouping(chains, b, teams)
        split_met = _split_met(rows.split, b, teams)
        on_roll = _field_grouping(rows.roster, b, teams) if rows.roster is not None else None
        # The units: those with field work or grid workers (the total always).
        keys = list(
            dict.fromkeys(
                [*grouping.keys, *split_met, *(on_roll.keys if on_roll is not None else [])]
            )
        )
        at = {k: i for i, k in enumerate(keys)}
        # Each source's groups at their unit's position.
        here = np.array([at[k] for k in grouping.keys], dtype=np.intp)
        patrols, metres, visits, met = (
            _aligned(grouped.sums(grouping, chains[c].to_numpy(np.float64)), here, len(keys))
            for c in ("patrols", "distance_m", "visits", "met")
        )
        for key, n in split_met.items():
            met[at[key]] += n
        if on_roll is None or days is None:
            due: list[Any] = [None] * len(keys)
            required: list[Any] = due
            rate: list[Any] = due
        else:
            workers = np.zeros(len(keys))
            np.add.at(
                workers,
                np.array([at[k] for k in on_roll.keys], dtype=np.intp),
                np.bincount(on_roll.index, minlength=on_roll.size),
            )
            due_days = workers * days
            due = due_days.astype(np.int64).tolist()
            required = (due_days * DAILY_PATROLS).astype(np.int64).tolist()
            # ratio(): met ÷ due rounded to 4 places, None where nothing is due.
            with np.errstate(invalid="ignore", divide="ignore"):
                rate = grouped.rounded(np.where(due_days > 0, met / due_days, np.nan), 4)
        out[b] = {
            key: {
                "patrols": p,
                "patrols_required": r,
                "patrol_days_required": d,
                "patrol_days_met": m,
                "patrol_rate": q,
                "patrol_km": km,
                "household_visits": v,
            }
            for key, p, r, d, m, q, km, v in zip(
                keys,
                patrols.astype(np.int64).tolist(),
                required,
                due,
                met.astype(np.int64).tolist(),
                rate,
                grouped.rounded(metres / 1000, 2),
                visits.astype(np.int64).tolist(),
                strict=True,
            )
        }
    return out


def _aligned(
    values: npt.NDArray[np.float64], here: npt.NDArray[np.intp], n: int
) -> npt.NDArray[np.float64]:
    """`values` (one per group) at their units' positions `here` among `n` units; 0 else."""
    out = np.zeros(n)
    out[here] = values
    return out


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
    """The field work of a period (`read_field`) by the groupings of `by` (`field_units`)."""
    with collector_paused():
        rows = read_field(
            session,
            period=period,
            area=area,
            county_code=county_code,
            scope=scope,
            aggregate=aggregate,
        )
        teams = teams_by_id(session, rows.team_ids()) if "team" in by or "grid_worker" in by else {}
        return field_units(rows, by=by, teams=teams)


_FIELD_COLUMN = {"township": "township", "community": "community", "grid": "grid"}


def _field_grouping(rows: pd.DataFrame, by: str | None, teams: dict[str, Team]) -> grouped.Grouping:
    """The rows (of unit-chains and teams) grouped by the unit of `by` (None: the total);
    a team and its grid workers' row by the team's id, then by its code or key."""
    if by is None:
        return grouped.one_group(len(rows))
    if by in _FIELD_COLUMN:
        return grouped.group_by(rows[_FIELD_COLUMN[by]])
    return team_grouping(rows["team"], by, teams)


def _split_met(split: pd.DataFrame, by: str | None, teams: dict[str, Team]) -> dict[Any, int]:
    """The worker-days met in each unit of `by` of the days split over unit-chains: a
    walker's patrols of a working day summed over the unit's parts of it (few rows)."""
    if split.empty:
        return {}
    grouping = _field_grouping(split, by, teams)
    per_day: dict[tuple[Any, ...], int] = {}
    for user, day, workday, g, n in zip(
        split["user_id"].tolist(),
        split["day"].tolist(),
        split["workday"].tolist(),
        grouping.index.tolist(),
        split["patrols"].tolist(),
        strict=True,
    ):
        k = (user, day, workday, g)
        per_day[k] = per_day.get(k, 0) + n
    met: dict[Any, int] = {}
    for (_user, _day, workday, g), n in per_day.items():
        if workday and n >= DAILY_PATROLS:
            key = grouping.keys[g]
            met[key] = met.get(key, 0) + 1
    return met


def team_grouping(ids: pd.Series, by: str, teams: dict[str, Team]) -> grouped.Grouping:
    """Rows grouped by their team's id (NaN: none), then by the team's code (`by` team) or
    its grid workers' key (`by` grid_worker; None for a team with none), as the SQL
    joined them (figures.GROUPS)."""
    # (None, or an id not in `teams`: the row of key None.)
    return grouped.regroup(team_ids(ids), team_keys(teams, by).get)


def team_ids(ids: pd.Series) -> grouped.Grouping:
    """Rows grouped by their team's id (read as a number, NaN: none), keyed by the id as
    text (the keys of `teams_by_id`)."""
    return grouped.group_by(ids, as_key=lambda v: str(int(v)))


def field_zero() -> dict[str, Any]:
    return {
        "patrols": 0,
        "patrols_required": 0,
        "patrol_days_required": 0,
        "patrol_days_met": 0,
        "patrol_rate": None,
        "patrol_km": 0.0,
        "household_visits": 0,
    }
