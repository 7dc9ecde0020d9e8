"""The field work's figures (patrols 巡查, household visits 走访, 一日双巡) per unit of a
period, from the daily aggregate `field_day` or the raw `patrol` and `visit` rows, in the
caller's jurisdiction (`Jurisdiction.field_sql`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.events.stats.figures import FIELD_GROUPS, GRID_WORKER_KEYS_SQL, grouping_mask, ratio
from gridmap.events.stats.periods import Period, day_bounds, working_days
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
    masks: dict[int, str | None] = {grouping_mask(keys, b): b for b in keys}
    masks[grouping_mask(keys, None)] = None
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
    roll: Sequence[Any] = []
    if days is not None:
        where, params = field_filter(
            "x", None, period=period, area=area, county_code=county_code, scope=scope
        )
        sets, mask, _key = _field_sets(keys)
        roll = session.execute(
            text(
                f"""
                SELECT {mask} AS g, {_key_text(keys)} AS k, count(*)::int FROM (
                    SELECT x.member_id{cols} FROM ({ROSTER_SQL}) x WHERE {where}
                ) r GROUP BY GROUPING SETS ({sets})
                """
            ),
            params,
        ).all()
    # The teams' codes and grid-worker keys, for both statements' team rows at once.
    teams = _team_keys(
        session, [r[1] for r in [*found, *roll] if masks[r[0]] in ("team", "grid_worker")]
    )
    out: dict[str | None, dict[str | None, dict[str, Any]]] = {b: {} for b in [None, *keys]}

    def unit(b: str | None, key: Any) -> dict[str, Any]:
        if b in ("team", "grid_worker"):
            key = teams.get(key, (None, None))[0 if b == "team" else 1]
        return out[b].setdefault(key if b is not None else None, field_zero())

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
            " ON gw.team_id = t.id WHERE t.id = ANY(string_to_array(:ids, ',')::int[])"
        ),
        # One text, not an array of thousands of parameters to adapt one by one.
        {"ids": ",".join(map(str, wanted))},
    ).all()
    return {str(r[0]): (r[1], r[2]) for r in rows}


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
