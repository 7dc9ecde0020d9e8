"""The events' figures per unit of a period (`assess`, one statement for the total and
every grouping, exact percentiles), the daily series, and the events behind a figure, in
the caller's jurisdiction (`Jurisdiction.event_sql`, in the query)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.errors import InvalidInput
from gridmap.events.stats.field import field_figures, field_zero
from gridmap.events.stats.figures import (
    COUNT_BY_NAME,
    COUNTS,
    DURATIONS,
    FIELD_GROUPS,
    GRID_WORKER_KEYS_SQL,
    GRID_WORKERS_SQL,
    GROUPS,
    PERCENTILES,
    Figures,
    grouping_mask,
    rates,
)
from gridmap.events.stats.periods import Period

# The names of the keys that are codes, looked up after grouping (current names: codes
# never change meaning once issued).
# The keys of a lookup, passed as one text joined by a control character no code holds
# (`_names`), split again in SQL.
_UNIT_SEPARATOR = chr(31)
_KEYS = f"ANY(string_to_array(:keys, chr({ord(_UNIT_SEPARATOR)})))"
_NAME_SQL: dict[str, str] = {
    "township": f"SELECT code, name FROM area WHERE layer = 'township' AND code = {_KEYS} "
    "AND valid_to IS NULL",
    "community": f"SELECT code, name FROM area WHERE layer = 'community' AND code = {_KEYS} "
    "AND valid_to IS NULL",
    "grid": f"SELECT code, name FROM area WHERE layer = 'grid' AND code = {_KEYS} "
    "AND valid_to IS NULL",
    "department": f"SELECT code, name FROM department WHERE code = {_KEYS}",
    "team": f"SELECT code, name FROM team WHERE code = {_KEYS}",
    "grid_worker": "SELECT key, name FROM (SELECT string_agg(id::text, '+' ORDER BY id) AS key, "
    "string_agg(name, '、' ORDER BY id) AS name FROM member WHERE role = 'grid_worker' "
    f"GROUP BY team_id) gw WHERE key = {_KEYS}",
    "category": f"SELECT code, name FROM category WHERE code = {_KEYS}",
}


_HOUR_NAMES = [f"{d.name}_{p}" for d in DURATIONS for p in (*PERCENTILES, "mean")]


_COUNT_NAMES = [c.name for c in COUNTS]


# The figures' columns at the end of a row of `_assess_sql`: counts, per clock its
# percentiles and mean, the satisfaction.
_N_FIGURES = len(COUNTS) + len(_HOUR_NAMES) + 1
_N_COUNTS = len(COUNTS)


def _row_figures(
    row: Any, *, key: str | None, name: str | None, field: dict[str, Any] | None = None
) -> Figures:
    """Figures from a result row whose last columns are the figures (by position: a
    county's month has thousands of grid rows)."""
    values = tuple(row)[-_N_FIGURES:]
    sat = values[-1]
    return Figures(
        key,
        name,
        dict(zip(_COUNT_NAMES, values[:_N_COUNTS], strict=True)),
        {
            h: (None if v is None else round(v, 2))
            for h, v in zip(_HOUR_NAMES, values[_N_COUNTS:-1], strict=True)
        },
        None if sat is None else round(sat, 2),
        None,
        field,
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
    whole: Any = None
    found: dict[str, list[Any]] = {b: [] for b in by}
    masks = {grouping_mask(list(by), b): b for b in by}
    total_mask = grouping_mask(list(by), None)
    for r in rows:
        if r[0] == total_mask:
            whole = r
        else:
            found[masks[r[0]]].append(r)
    assert whole is not None  # the empty grouping set: always one row
    field = field_figures(
        session, by=by, period=period, area=area, county_code=county_code, scope=scope
    )
    total = _row_figures(whole, key=None, name=None, field=field[None][None])
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
        has_field = b in FIELD_GROUPS
        rows_b = []
        for k in keys:
            hit = mine.get(k)
            unit_field = (work.get(k) or field_zero()) if has_field else None
            rows_b.append(
                _row_figures(hit, key=k, name=names.get(k, hit[2]), field=unit_field)
                if hit is not None
                else _empty(k, names.get(k), unit_field)
            )
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


def _names(session: Session, *, by: str | None, keys: Sequence[str | None]) -> dict[Any, str]:
    sql = _NAME_SQL.get(by or "")
    wanted = sorted({k for k in keys if k is not None})
    if sql is None or not wanted:
        return {}
    # The keys as one text (codes hold no control character): a county's thousands of
    # grids are one parameter, not an array adapted value by value.
    found = session.execute(text(sql), {"keys": _UNIT_SEPARATOR.join(wanted)}).all()
    return {code: name for code, name in found}


def _empty(key: str | None, name: str | None, field: dict[str, Any] | None) -> Figures:
    """A unit with no event in the period (it has field work)."""
    return Figures(
        key, name, dict.fromkeys(_COUNT_NAMES, 0), dict.fromkeys(_HOUR_NAMES), None, None, field
    )


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
