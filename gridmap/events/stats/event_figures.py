"""The events' figures per unit of a period (`assess`: the scope's events read once as
columns, every grouping computed from them, exact percentiles), the daily series, and the
events behind a figure, in the caller's jurisdiction (`Jurisdiction.event_sql`, in the
query)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.db_columns import read_columns, read_rows
from gridmap.errors import InvalidInput
from gridmap.events.stats import grouped
from gridmap.events.stats.field import (
    field_units,
    field_zero,
    read_field,
    team_grouping,
    team_ids,
)
from gridmap.events.stats.figures import (
    COUNT_BY_NAME,
    COUNTS,
    DURATIONS,
    EVENT_FIGURE_NAMES,
    FIELD_GROUPS,
    GRID_WORKERS_SQL,
    GROUPS,
    NO_EVENTS,
    PERCENTILES,
    RATES,
    Figures,
    rates,
)
from gridmap.events.stats.periods import CHINA_TZ, Period
from gridmap.events.stats.teams import Team, team_keys, teams_by_id
from gridmap.gc_pause import collector_paused

# The names of the keys that are codes, looked up after grouping (current names: codes
# never change meaning once issued): per grouping, a SELECT of (code, name) joined with
# `{keys}`, the set of codes wanted (`_names`).
_UNIT_SEPARATOR = chr(31)
_NAME_SQL: dict[str, str] = {
    "township": "SELECT a.code, a.name FROM {keys} JOIN area a ON a.code = k.code "
    "WHERE a.layer = 'township' AND a.valid_to IS NULL",
    "community": "SELECT a.code, a.name FROM {keys} JOIN area a ON a.code = k.code "
    "WHERE a.layer = 'community' AND a.valid_to IS NULL",
    "grid": "SELECT a.code, a.name FROM {keys} JOIN area a ON a.code = k.code "
    "WHERE a.layer = 'grid' AND a.valid_to IS NULL",
    "department": "SELECT d.code, d.name FROM {keys} JOIN department d ON d.code = k.code",
    "team": "SELECT t.code, t.name FROM {keys} JOIN team t ON t.code = k.code",
    "grid_worker": "SELECT gw.key, gw.name FROM {keys} JOIN (SELECT string_agg(id::text, '+' "
    "ORDER BY id) AS key, string_agg(name, '、' ORDER BY id) AS name FROM member "
    "WHERE role = 'grid_worker' GROUP BY team_id) gw ON gw.key = k.code",
    "category": "SELECT c.code, c.name FROM {keys} JOIN category c ON c.code = k.code",
}


_COUNT_NAMES = [c.name for c in COUNTS]


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


# The events' facts, one row per event of the scope, read as columns (`read_columns`):
# the keys of the groupings asked for (a team by its id: its code and its grid workers'
# row are looked up for the few thousand ids after grouping), the counts' predicates as
# the bits of one integer (bit i: COUNTS[i]; a NULL predicate counts as false), each
# clock in seconds, the rating.
_FACT_KEYS: dict[str, tuple[str, str, Any]] = {
    # grouping: (column, SQL, dtype)
    "township": ("township", "e.township_code", str),
    "community": ("community", "e.community_code", str),
    "grid": ("grid", "e.grid_code", str),
    "team": ("team", "e.team_id", "float64"),  # an id, NaN: none
    "grid_worker": ("team", "e.team_id", "float64"),
    "department": ("department", "e.department_code", str),
    "category": ("category", "e.category_code", str),
}
# The counts' predicates and the clocks are stored on the event (migration 0024: generated
# columns, computed when the event is written; a test keeps them equal to COUNTS and
# DURATIONS).
_FACT_FIGURES: list[tuple[str, str, Any]] = [
    ("flags", "e.assess_flags", "int64"),
    *((f"s_{d.name}", f"e.{d.name}_seconds", "float64") for d in DURATIONS),
    ("satisfaction", "e.satisfaction", "float64"),
]


@dataclass(frozen=True, slots=True)
class _Facts:
    """A scope's events as columns (_FACT_KEYS, _FACT_FIGURES), each clock ranked once."""

    columns: pd.DataFrame
    flags: grouped.Bits  # COUNTS' predicates
    hours: list[npt.NDArray[np.float64]]  # per DURATIONS, NaN where the clock has none
    ranked: list[grouped.Ranked]  # the same, sorted
    satisfaction: npt.NDArray[np.float64]


@contextlib.contextmanager
def _bitmap_scans(session: Session) -> Iterator[None]:
    """A period's events of a scope read by bitmap scans, not a plain index scan.

    The event table grows in time order, so PostgreSQL judges a scan of `ix_event_received`
    over the whole period cheap and filters the scope's rows out of it: a township's month
    was read by scanning the county's (12 ms) where a bitmap scan of
    `ix_event_township_received` takes 6 ms; both read the same heap pages in order. For a
    county the two are alike (docs/performance.md). The setting holds for the one statement
    and is then put back as it was (`set_config(…, true)`: this transaction only)."""
    before = session.execute(text("SELECT current_setting('enable_indexscan')")).scalar_one()
    session.execute(text("SELECT set_config('enable_indexscan', 'off', true)"))
    try:
        yield
    finally:
        session.execute(
            text("SELECT set_config('enable_indexscan', :before, true)"), {"before": before}
        )


def _read_facts(session: Session, where: str, params: dict[str, Any], by: Sequence[str]) -> _Facts:
    """The facts of the events of `where`, with the key columns `by` needs (fewer
    columns to send and parse: the page asks for one grouping at a time)."""
    keys = {_FACT_KEYS[b][0]: _FACT_KEYS[b] for b in by}
    wanted = [*keys.values(), *_FACT_FIGURES]
    with _bitmap_scans(session):
        columns = read_columns(
            session,
            f"SELECT {', '.join(sql for _, sql, _ in wanted)} FROM event e WHERE {where}",
            params,
            {name: dtype for name, _, dtype in wanted},
        )
    # Hours as the SQL computed them before: the clock's seconds (float8) / 3600.0.
    hours = [columns[f"s_{d.name}"].to_numpy() / 3600.0 for d in DURATIONS]
    return _Facts(
        columns,
        grouped.set_bits(columns["flags"].to_numpy(), len(COUNTS)),
        hours,
        [grouped.ranked(h) for h in hours],
        columns["satisfaction"].to_numpy(),
    )


@dataclass(frozen=True, slots=True)
class _Units:
    """The events' figures of every group of a grouping (EVENT_FIGURE_NAMES), by position
    (`at`: key → position)."""

    at: dict[Any, int]
    events: list[dict[str, Any]]

    def figures(self, key: Any, name: str | None, field: dict[str, Any] | None) -> Figures:
        return Figures(key, name, self.events[self.at[key]], None, field)


def _unit_figures(facts: _Facts, grouping: grouped.Grouping) -> _Units:
    """Every group's counts, rates, hours (per clock its percentiles and mean) and mean
    rating, computed as columns and then made one dict a group, in the order served."""
    counts = grouped.bit_counts(grouping, facts.flags)
    column = {c.name: counts[:, i] for i, c in enumerate(COUNTS)}
    served: dict[str, list[Any]] = {c.name: column[c.name].tolist() for c in COUNTS}
    for r in RATES:
        # ratio(): numerator ÷ denominator rounded to 4 places, None where it is 0 (an
        # integer's true division and float64's agree below 2**53: both correctly rounded).
        numerator, denominator = column[r.numerator], column[r.denominator]
        with np.errstate(invalid="ignore", divide="ignore"):
            served[r.name] = grouped.rounded(
                np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan), 4
            )
    for d, hours, ranked in zip(DURATIONS, facts.hours, facts.ranked, strict=True):
        per_q = grouped.percentiles(grouping, ranked, list(PERCENTILES.values()))
        for j, p in enumerate(PERCENTILES):
            served[f"{d.name}_{p}_hours"] = grouped.rounded(per_q[:, j], 2)
        served[f"{d.name}_mean_hours"] = grouped.rounded(grouped.means(grouping, hours), 2)
    served["satisfaction"] = grouped.rounded(grouped.means(grouping, facts.satisfaction), 2)
    served["mean_handling_hours"] = served["handling_mean_hours"]
    served["visits"] = served["visited"]
    names = EVENT_FIGURE_NAMES
    return _Units(
        {k: i for i, k in enumerate(grouping.keys)},
        [
            dict(zip(names, row, strict=True))
            for row in zip(*(served[n] for n in names), strict=True)
        ],
    )


def _grouped_units(facts: _Facts, by: Sequence[str], teams: dict[str, Team]) -> dict[str, _Units]:
    """Each grouping of `by` over the facts, with its units' figures. A team's row and
    its grid workers' row are the team's figures under its code or their key: computed
    once by the team's id and relabelled (`_relabelled`), or grouped again where two
    teams would share a row (`team_grouping`)."""
    out: dict[str, _Units] = {}
    by_id: _Units | None = None
    for b in by:
        if b not in ("team", "grid_worker"):
            out[b] = _unit_figures(facts, grouped.group_by(facts.columns[_FACT_KEYS[b][0]]))
            continue
        if by_id is None:
            by_id = _unit_figures(facts, team_ids(facts.columns["team"]))
        relabelled = _relabelled(
            by_id,
            team_keys(teams, b).get,
            # A grid worker's row is a team's grid workers: the events of teams without
            # any (key None) are no grid worker's (their row is left out).
            keep_none=b == "team",
        )
        out[b] = (
            relabelled
            if relabelled is not None
            else _unit_figures(facts, team_grouping(facts.columns["team"], b, teams))
        )
    return out


def _relabelled(units: _Units, key_of: Callable[[Any], Any], *, keep_none: bool) -> _Units | None:
    """The same units under the keys `key_of(key)` (those of key None dropped unless
    `keep_none`), or None when two units would get the same key: they would be one unit,
    whose percentiles must be computed from its events."""
    at: dict[Any, int] = {}
    for key, i in units.at.items():
        new = key_of(key)
        if new is None and not keep_none:
            continue
        if new in at:
            return None
        at[new] = i
    return _Units(at, units.events)


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

    The scope's events are read once as columns and every grouping computed from them
    (`grouped`: counts, means, exact percentiles as percentile_cont), and so is the field
    work (`read_field`, `field_units`). Returns {"total": Figures, "groups": {by:
    [Figures, …]}}; rows with no key (events not placed or not assigned) come last, key
    None.
    """
    _check_groups(by)
    # Thousands of rows, no reference cycle among them (gc_pause).
    with collector_paused():
        return _assess(
            session,
            by=by,
            period=period,
            area=area,
            county_code=county_code,
            scope=scope,
            compare=compare,
        )


def served_rows(groups: dict[str, list[Figures]]) -> dict[str, list[dict[str, Any]]]:
    """Each grouping's rows as the API serves them (`Figures.to_dict`): a county's 12,000
    dicts, made with the collector paused as the rows were (gc_pause)."""
    with collector_paused():
        return {b: [f.to_dict() for f in rows] for b, rows in groups.items()}


def _assess(
    session: Session,
    *,
    by: Sequence[str],
    period: Period,
    area: str | None,
    county_code: str | None,
    scope: Jurisdiction | None,
    compare: bool,
) -> dict[str, Any]:
    where, params = event_filter(period=period, area=area, county_code=county_code, scope=scope)
    facts = _read_facts(session, where, params, by)
    work_rows = read_field(session, period=period, area=area, county_code=county_code, scope=scope)
    teams: dict[str, Team] = {}
    if "team" in by or "grid_worker" in by:
        ids = {str(int(i)) for i in facts.columns["team"].dropna().unique().tolist()}
        teams = teams_by_id(session, ids | work_rows.team_ids())
    field = field_units(work_rows, by=by, teams=teams)
    total = _unit_figures(facts, grouped.one_group(len(facts.columns))).figures(
        None, None, field[None][None]
    )
    groups: dict[str, list[Figures]] = {}
    for b, units in _grouped_units(facts, by, teams).items():
        work = field.get(b, {})
        # A unit with field work and no event is a row too (its counts zero). A grid
        # worker's row is a team's grid workers: events of teams without any are not a
        # grid worker's (the row of key None is left out).
        found = {*units.at, *work}
        keys: list[Any] = sorted(k for k in found if k is not None)
        if None in found and b != "grid_worker":
            keys.append(None)
        names = (
            _team_names(teams, b)
            if b in ("team", "grid_worker")
            else _names(session, by=b, keys=keys)
        )
        has_field = b in FIELD_GROUPS
        at, events = units.at, units.events
        groups[b] = [
            Figures(
                k,
                names.get(k),
                # A unit with field work alone: no event.
                events[at[k]] if k in at else dict(NO_EVENTS),
                None,
                (work.get(k) or field_zero()) if has_field else None,
            )
            for k in keys
        ]
    if compare:
        prev = period.previous()
        if prev is not None:
            before = _assess(
                session,
                by=by,
                period=prev,
                area=area,
                county_code=county_code,
                scope=scope,
                compare=False,
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
    # grids are one parameter, not an array adapted value by value; joined with the
    # table, a hash join: 5 ms for a county's grids; never prepared (`read_rows`):
    # planned for the keys given. (`code = ANY(string_to_array(:keys, …))` took 8 ms, and
    # 1 s where the array is not a constant — a generic plan's parameter — since it is
    # then split again for every row.)
    keys_sql = f"unnest(string_to_array(:keys, chr({ord(_UNIT_SEPARATOR)}))) AS k(code)"
    found = read_rows(session, sql.format(keys=keys_sql), {"keys": _UNIT_SEPARATOR.join(wanted)})
    return {code: name for code, name in found}


def _team_names(teams: dict[str, Team], by: str) -> dict[str | None, str | None]:
    if by == "team":
        return {t.code: t.name for t in teams.values()}
    return {t.grid_workers_key: t.grid_workers_name for t in teams.values()}


def _with_previous(now: Figures, before: Figures | None) -> Figures:
    return Figures(now.key, now.name, now.events, before, now.field)


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
    # A grid's series is tens of thousands of points (gc_pause).
    with collector_paused():
        return _series(
            session, by=by, period=period, area=area, county_code=county_code, scope=scope
        )


def _series(
    session: Session,
    *,
    by: str | None,
    period: Period,
    area: str | None,
    county_code: str | None,
    scope: Jurisdiction | None,
) -> list[SeriesPoint]:
    where, params = event_filter(period=period, area=area, county_code=county_code, scope=scope)
    # The local day of receipt: a day's bin from a local midnight (the county's time is
    # UTC+8 all year, CHINA_TZ: its days are 24 hours), dated in Python. (Converting
    # each event's time to local with AT TIME ZONE cost 6 ms of a county month's 29.)
    day_sql = "date_bin('1 day', e.received_at, TIMESTAMPTZ '2000-01-01 00:00:00+08')"
    if by is None:
        key_sql, name_sql = "NULL::text", "NULL::text"
    else:
        key_sql, name_sql = GROUPS[by]
    # The events per day, unit and set of counts they are in (the stored flags, migration
    # 0024: a few hundred rows a county month), each count then summed from its bit.
    with _bitmap_scans(session):
        found = session.execute(
            text(
                f"""
                SELECT {day_sql} AS day, {key_sql} AS key, max({name_sql}) AS name,
                       e.assess_flags, count(*)
                FROM {_from(by)}
                WHERE {where}
                GROUP BY 1, 2, 4
                """
            ),
            params,
        ).all()
    rows = [(start.astimezone(CHINA_TZ).date(), *rest) for start, *rest in found]
    units = grouped.group_by(pd.Series([(day, key) for day, key, *_ in rows], dtype=object))
    flags = np.array([r[3] for r in rows], dtype=np.int64)
    events = np.array([r[4] for r in rows], dtype=np.float64)
    # Each row's events counted in every count whose bit its flags have.
    counts = grouped.bit_counts(
        units, grouped.set_bits(flags, len(COUNTS)), weights=events
    ).tolist()
    unit_names = {(day, key): name for day, key, name, *_ in rows}
    names = _names(session, by=by, keys=[key for _, key in units.keys])
    order = sorted(range(units.size), key=lambda i: _day_key_order(units.keys[i]))
    points = [
        SeriesPoint(
            units.keys[i][0],
            units.keys[i][1],
            names.get(units.keys[i][1], unit_names[units.keys[i]]),
            dict(zip(_COUNT_NAMES, counts[i], strict=True)),
        )
        for i in order
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


def _day_key_order(unit: tuple[dt.date, str | None]) -> tuple[dt.date, bool, str]:
    """A series' order: by day, then by key, no key last."""
    return (unit[0], unit[1] is None, unit[1] or "")


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
