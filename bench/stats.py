"""The assessment at real size: many events over two years in the Gaoping demo's shape.

Usage: python -m bench.stats DATABASE_URL [--events 1000000] [--runs 20] [--xlsx-rows 100000]
DATABASE_URL holds a loaded Gaoping demo (it is copied first; the copy is dropped).

1. Generates `--events` events over the two years before now with set-based SQL
   (`generate_series`, one INSERT … SELECT): spread over the demo's real grids, their
   communities, townships and grid teams, its categories and their departments, with
   clocks, deadlines, outcomes, satisfaction and returns drawn at random.
   Then the grid workers' patrols and household visits of the last two months
   (`generate_field`), if the database has none yet: bulk INSERT … SELECT statements, so
   the daily aggregate `field_day` (migration 0021) is filled by its triggers as every
   write fills it; it is then checked equal to the migration's fill of the same rows
   (`FILL_SELECT`), and so is the monthly rollup `field_month` (migration 0022).
2. Times the county's month view (the total and all seven groupings with the field
   work: `stats.assess`, and the daily series: `stats.series` — the domain calls, not the
   bench's own comparison of their figures) and a township's, `--runs` times each: p50
   and p95, side by side with the same figures computed by a plain GROUP BY over the
   event (and patrol) table without its indexes (a sequential scan, one query per
   grouping), and checks both give the same numbers. Each view twice, in the same run:
   its field work read from the raw `patrol` and `visit` rows and from the aggregates
   (`field_month` for whole months, `field_day` for other days), the two checked equal;
   and the field work alone (`field_figures`) both ways; the view with every row made the
   dict the API serves (`to_dict`; JSON and gzip aside); and what the page asks first (by
   township, with the previous period, and the series). Beside each line: the load
   average and a calibration (`calibration()`: a fixed piece of Python, timed) — this
   machine's speed was seen to vary by half within minutes.
3. Streams the event ledger of the most recent `--xlsx-rows` events to XLSX in a child
   process: seconds and the child's peak memory (max RSS), twice with the ledgers' writer
   (`gridmap.xlsx_stream`) and twice with XlsxWriter's constant-memory mode, alternating.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.db import make_engine, session_factory
from gridmap.events import stats
from gridmap.events.stats import event_figures

COUNTY = "140581"
ALL_GROUPS = list(stats.GROUPS)


def _admin(url: str) -> str:
    return (
        make_url(url)
        .set(database="postgres", drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def _copy(url: str) -> tuple[str, str]:
    base = make_url(url)
    name = f"bench_stats_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{base.database}"')
    return name, base.set(database=name).render_as_string(hide_password=False)


def _drop(url: str, name: str) -> None:
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


GENERATE = """
CREATE TEMP TABLE bench_grid AS
SELECT row_number() OVER (ORDER BY gr.code) AS n, gr.code AS grid, cm.code AS community,
       cm.parent_code AS township,
       (SELECT d.team_id FROM duty d WHERE d.layer = 'grid' AND d.area_code = gr.code
        ORDER BY d.id LIMIT 1) AS team_id
FROM area gr
JOIN area cm ON cm.layer = 'community' AND cm.code = gr.parent_code AND cm.valid_to IS NULL
WHERE gr.layer = 'grid' AND gr.valid_to IS NULL AND gr.county_code = :county;

CREATE TEMP TABLE bench_cat AS
SELECT row_number() OVER (ORDER BY c.code) AS n, c.code,
       (SELECT r.department_code FROM responsibility_rule r
        WHERE r.category_code = c.code AND r.area_code IS NULL LIMIT 1) AS department_code
FROM category c WHERE c.county_code = :county;

INSERT INTO event (
    county_code, source, external_id, category_code, priority, status, description,
    reported_at, received_at, updated_at, grid_code, community_code, township_code,
    on_boundary, outside_coverage, routing, department_code, team_id, escalation_level,
    response_due_at, due_at, overdue, closed_at, satisfaction, row_version,
    assigned_at, responded_at, returned_count, reopened_count)
SELECT :county, 'bench', 'B' || s.i, c.code,
       CASE WHEN s.r1 < 0.05 THEN 'emergency' WHEN s.r1 < 0.2 THEN 'key' ELSE 'routine' END,
       s.status, '基准测试事件', s.rec, s.rec, s.rec,
       g.grid, g.community, g.township, FALSE, FALSE, '{}'::jsonb, c.department_code,
       g.team_id, 'grid',
       s.rec + interval '24 hours', s.rec + interval '72 hours',
       (s.closed IS NOT NULL AND s.closed > s.rec + interval '72 hours')
         OR (s.closed IS NULL AND s.status <> 'merged' AND now() > s.rec + interval '72 hours'),
       s.closed,
       CASE WHEN s.closed IS NOT NULL AND s.r6 < 0.6
            THEN CASE WHEN s.r7 < 0.08 THEN 1 + floor(s.r7 * 25)::int
                      ELSE 3 + floor(s.r7 * 3)::int END END,
       1, s.assigned,
       CASE WHEN s.status IN ('assigned', 'merged') THEN NULL ELSE s.responded END,
       CASE WHEN s.r8 < 0.05 THEN 1 ELSE 0 END, CASE WHEN s.r8 > 0.98 THEN 1 ELSE 0 END
FROM (
    SELECT i, rec, r1, r6, r7, r8, rg, rc, status, assigned, responded,
           CASE WHEN status IN ('closed', 'archived')
                THEN responded + (r5 * r5 * 110) * interval '1 hour' END AS closed
    FROM (
        SELECT i, rec, r1, r5, r6, r7, r8, rg, rc,
               rec + (5 + r3 * 120) * interval '1 minute' AS assigned,
               rec + (5 + r3 * 120 + r4 * r4 * 900) * interval '1 minute' AS responded,
               CASE WHEN r2 < 0.03 THEN 'merged'
                    WHEN rec > now() - interval '12 days' AND r2 < 0.45 THEN
                         CASE WHEN r2 < 0.15 THEN 'assigned' ELSE 'in_progress' END
                    WHEN rec < now() - interval '30 days' THEN 'archived'
                    ELSE 'closed' END AS status
        FROM (
            SELECT i, now() - random() * interval '730 days' AS rec,
                   random() AS r1, random() AS r2, random() AS r3, random() AS r4,
                   random() AS r5, random() AS r6, random() AS r7, random() AS r8,
                   random() AS rg, random() AS rc
            FROM generate_series(1, :n) AS i
        ) raw
    ) timed
) s
JOIN bench_grid g ON g.n = 1 + floor(s.rg * (SELECT count(*) FROM bench_grid))::int
JOIN bench_cat c ON c.n = 1 + floor(s.rc * (SELECT count(*) FROM bench_cat))::int
ORDER BY s.rec;
"""


# The grid workers' field work over the last FIELD_DAYS days (the month measured and the
# days since): an account per grid worker on the roll, 0–3 patrols a working day (mostly
# two; fewer at weekends) and 0–2 household visits, started in the team's grid. The track
# itself is not generated: the assessment reads `patrol.distance_m` (the track's
# geography length, kept by every batch of points), drawn here at 1–6 km.
FIELD_DAYS = 62
GENERATE_FIELD = """
INSERT INTO app_user (username, display_name, password_hash, role, team_id, disabled)
SELECT 'bench-gw-' || m.id, m.name, 'x', 'grid_worker', m.team_id, FALSE
FROM member m WHERE m.role = 'grid_worker';

UPDATE member m SET user_id = u.id FROM app_user u
WHERE u.username = 'bench-gw-' || m.id;

CREATE TEMP TABLE bench_worker AS
SELECT DISTINCT ON (u.id) u.id AS user_id, u.username, u.team_id, gr.county_code,
       cm.parent_code AS township_code, cm.code AS community_code, gr.code AS grid_code
FROM app_user u
JOIN duty d ON d.team_id = u.team_id AND d.layer = 'grid'
JOIN area gr ON gr.layer = 'grid' AND gr.code = d.area_code AND gr.valid_to IS NULL
JOIN area cm ON cm.layer = 'community' AND cm.code = gr.parent_code AND cm.valid_to IS NULL
WHERE u.username LIKE 'bench-gw-%'
ORDER BY u.id, gr.code;

INSERT INTO patrol (client_id, user_id, username, team_id, county_code, township_code,
                    community_code, grid_code, started_at, ended_at, last_fix_at,
                    last_seq, points, distance_m)
SELECT 'bench-' || w.user_id || '-' || d.n || '-' || k.k, w.user_id, w.username, w.team_id,
       w.county_code, w.township_code, w.community_code, w.grid_code,
       d.day + (7 + k.k * 5 + random() * 3) * interval '1 hour',
       d.day + (8 + k.k * 5 + random() * 3) * interval '1 hour',
       d.day + (8 + k.k * 5) * interval '1 hour', 4, 240, 1000 + random() * 5000
FROM bench_worker w
CROSS JOIN (
    SELECT n, date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai')
              AT TIME ZONE 'Asia/Shanghai' - n * interval '1 day' AS day,
           random() AS r
    FROM generate_series(0, :days - 1) AS n
) d
CROSS JOIN LATERAL (
    SELECT k FROM generate_series(0, 2) AS k
    WHERE k < CASE WHEN extract(isodow FROM d.day AT TIME ZONE 'Asia/Shanghai') > 5
                   THEN floor(random() * 2)::int
                   ELSE floor(random() * 10 + w.user_id % 3)::int / 4 + 1 END
) k
ORDER BY 9;

INSERT INTO visit (client_id, user_id, username, team_id, county_code, township_code,
                   community_code, grid_code, kind, note, visited_at)
SELECT 'bench-' || w.user_id || '-' || n || '-' || k, w.user_id, w.username, w.team_id,
       w.county_code, w.township_code, w.community_code, w.grid_code, 'routine', '',
       now() - n * interval '1 day' - random() * interval '8 hours'
FROM bench_worker w
CROSS JOIN generate_series(0, :days - 1) AS n
-- random() per worker and day: tied to both (uncorrelated, PostgreSQL may draw it once
-- for the whole statement, and a 0 drawn once left the tables without a visit).
CROSS JOIN LATERAL generate_series(1, floor(random() * 3 + 0 * (w.user_id + n))::int) AS k
ORDER BY 11;
"""


def generate_field(session: Session) -> float:
    started = time.perf_counter()
    for statement in GENERATE_FIELD.split(";\n"):
        if statement.strip():
            session.execute(text(statement), {"days": FIELD_DAYS})
    session.commit()
    session.execute(text("ANALYZE patrol"))
    session.execute(text("ANALYZE visit"))
    session.commit()
    return time.perf_counter() - started


def generate(session: Session, n: int) -> float:
    started = time.perf_counter()
    for statement in GENERATE.split(";\n"):
        if statement.strip():
            session.execute(text(statement), {"county": COUNTY, "n": n})
    session.commit()
    session.execute(text("ANALYZE event"))
    session.commit()
    return time.perf_counter() - started


def _migration(name: str) -> Any:
    path = Path(__file__).resolve().parents[1] / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"migration_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_fill(session: Session, table: str, fill: str, cols: str, sums: str) -> int:
    """`table` as the triggers left it equals its migration's fill of the same rows
    (metres to the millimetre: float sums in another order); returns its row count."""
    rows = f"SELECT {cols}, {sums} FROM"
    differ = session.execute(
        text(
            f"""SELECT (SELECT count(*) FROM ({rows} {table} EXCEPT {rows} ({fill}) f) a),
                       (SELECT count(*) FROM ({rows} ({fill}) f EXCEPT {rows} {table}) b)"""
        )
    ).one()
    assert tuple(differ) == (0, 0), (table, differ)
    return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def check_field_day(session: Session) -> int:
    return _check_fill(
        session,
        "field_day",
        _migration("0021_field_day").FILL_SELECT,
        "county_code, township_code, community_code, grid_code, team_id, user_id, day",
        "patrols, round(distance_m::numeric, 3), visits",
    )


def check_field_month(session: Session) -> int:
    return _check_fill(
        session,
        "field_month",
        _migration("0022_field_month").FILL_SELECT,
        "county_code, month, township_code, community_code, grid_code, team_id",
        "patrols, round(distance_m::numeric, 3), visits, met",
    )


@contextlib.contextmanager
def raw_field_rows() -> Any:
    """`stats.assess` with its field work read from the raw patrol and visit rows (as
    before migration 0021): the "before" column, in the same run."""
    # The name `assess` calls (its module's, not the package's re-export).
    fast = event_figures.read_field
    event_figures.read_field = functools.partial(fast, aggregate=False)  # type: ignore[assignment]
    try:
        yield
    finally:
        event_figures.read_field = fast  # type: ignore[assignment]


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _view(session: Session, period: stats.Period, scope: Jurisdiction) -> dict[str, Any]:
    """What the view computes (timed): the figures and the daily series."""
    found = stats.assess(session, by=ALL_GROUPS, period=period, scope=scope)
    stats.series(session, by=None, period=period, scope=scope)
    return found


def _comparable(found: dict[str, Any]) -> dict[str, Any]:
    """The figures the bench checks against the plain GROUP BY (not timed)."""
    out: dict[str, Any] = {
        "field": {
            b: {f.key: f.field for f in rows if f.field is not None}
            for b, rows in found["groups"].items()
        },
        "field:total": found["total"].field,
    }
    out |= {
        b: {
            f.key: (f.counts["received"], f.counts["closed_on_time"], f.hours["handling_p90"])
            for f in rows
            if f.counts["received"]  # a unit with field work alone has no event row
        }
        for b, rows in found["groups"].items()
    }
    for b in FIELD_PLAIN:
        out[f"patrols:{b}"] = {
            f.key: f.field["patrols"]
            for f in found["groups"][b]
            if f.field is not None and f.field["patrols"]
        }
    return out


def _served_view(session: Session, period: stats.Period, scope: Jurisdiction) -> int:
    """The view with every row as the API serves it (`served_rows`; JSON and gzip aside)."""
    found = stats.assess(session, by=ALL_GROUPS, period=period, scope=scope)
    served = stats.served_rows(found["groups"])
    points = [p.to_dict() for p in stats.series(session, by=None, period=period, scope=scope)]
    return sum(map(len, served.values())) + len(points)


def _page_view(session: Session, period: stats.Period, scope: Jurisdiction) -> dict[str, Any]:
    found = stats.assess(session, by=["township"], period=period, scope=scope, compare=True)
    stats.series(session, by=None, period=period, scope=scope)
    return {"rows": len(found["groups"]["township"])}


PLAIN = """
SELECT {key} AS key, count(*) AS received,
       count(*) FILTER (WHERE e.closed_at IS NOT NULL
                        AND (e.due_at IS NULL OR e.closed_at <= e.due_at)) AS closed_on_time,
       percentile_cont(0.9) WITHIN GROUP (
           ORDER BY extract(epoch FROM e.closed_at - e.assigned_at) / 3600.0)
           FILTER (WHERE e.assigned_at IS NOT NULL AND e.closed_at IS NOT NULL) AS p90,
       count(*) FILTER (WHERE e.overdue) AS overdue,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM e.responded_at - e.received_at) / 3600.0)
           FILTER (WHERE e.responded_at IS NOT NULL) AS r50,
       avg(e.satisfaction) AS satisfaction
FROM {joins}
WHERE e.received_at >= :a AND e.received_at < :b AND {scope}
GROUP BY 1
"""


FIELD_PLAIN = ("township", "community", "grid")
FIELD_GROUPS = [b for b in ALL_GROUPS if b in stats.FIELD_GROUPS]
PLAIN_PATROLS = """
SELECT p.{b}_code AS key, count(*) AS patrols FROM patrol p
WHERE p.started_at >= :a AND p.started_at < :b AND p.{b}_code IS NOT NULL AND {scope}
GROUP BY 1
"""


def _plain(session: Session, period: stats.Period, scope: Jurisdiction) -> dict[str, Any]:
    """The same figures by a plain GROUP BY per grouping, the indexes switched off."""
    session.execute(text("SET LOCAL enable_indexscan = off"))
    session.execute(text("SET LOCAL enable_bitmapscan = off"))
    scope_sql, params = scope.event_sql("e")
    out: dict[str, Any] = {}
    for b in ALL_GROUPS:
        key = stats.GROUPS[b][0]
        joins = "event e"
        if b == "team":
            joins += " LEFT JOIN team t ON t.id = e.team_id"
        if b == "grid_worker":
            joins += f" JOIN ({stats.GRID_WORKERS_SQL}) gw ON gw.team_id = e.team_id"
        rows = session.execute(
            text(PLAIN.format(key=key, joins=joins, scope=scope_sql)),
            {**params, "a": period.start, "b": period.end},
        ).all()
        out[b] = {
            r.key: (r.received, r.closed_on_time, round(r.p90, 2) if r.p90 is not None else None)
            for r in rows
        }
    field_sql, field_params = stats.field_scope_sql(scope, "p")
    for b in FIELD_PLAIN:
        rows = session.execute(
            text(PLAIN_PATROLS.format(b=b, scope=field_sql)),
            {**field_params, "a": period.start, "b": period.end},
        ).all()
        out[f"patrols:{b}"] = {r.key: r.patrols for r in rows}
    session.rollback()
    return out


def calibration() -> float:
    """Milliseconds for a fixed piece of pure Python (3,000,000 additions): this machine's
    speed at the moment. A shared virtual machine's CPU was seen to vary by half from one
    minute to the next; the figure printed beside each view says which speed it had."""
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i
    return (time.perf_counter() - started) * 1000


def timed(fn: Any, runs: int) -> tuple[list[float], Any]:
    """`runs` timings of fn() after one untimed call (which warms the caches), and that
    call's result."""
    result = fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def xlsx_child(url: str, start: str, end: str, out: str, writer: str) -> None:
    """In a child process: stream the event ledger of [start, end) to `out`, with the
    ledgers' writer (`gridmap.xlsx_stream`) or, to compare, XlsxWriter's constant-memory
    mode (what the ledgers used before)."""
    from gridmap.events import ledgers

    engine = make_engine(url)
    period = stats.Period(
        "custom", dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)
    )
    started = time.perf_counter()
    with session_factory(engine)() as session:
        book = ledgers.build_ledger(session, kind="events", period=period)
        write = ledgers.write_xlsx if writer == "gridmap" else _xlsxwriter
        n = write(book, out)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n} {seconds:.2f} {peak:.0f}")


def _xlsxwriter(ledger: Any, out: str) -> int:
    """The event ledger through XlsxWriter (constant memory), as the ledgers wrote it
    until 4 December 2026: the obvious alternative to `gridmap.xlsx_stream`."""
    import xlsxwriter

    from gridmap.events import ledgers

    book = xlsxwriter.Workbook(out, {"constant_memory": True, "remove_timezone": True})
    try:
        sheet = book.add_worksheet(ledger.title("zh")[:31])
        head = book.add_format({"bold": True, "bg_color": "#DBEAFE", "border": 1})
        formats = {
            ledgers.TIME: book.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
            ledgers.RATE: book.add_format({"num_format": "0.0%"}),
            ledgers.NUM: book.add_format({"num_format": "0.00"}),
        }
        for i, c in enumerate(ledger.columns):
            sheet.set_column(i, i, c.width)
        sheet.write_row(0, 0, ledger.header("zh"), head)
        sheet.freeze_panes(1, 0)
        plan = [(i, c.kind, formats.get(c.kind)) for i, c in enumerate(ledger.columns)]
        n = 0
        for n, row in enumerate(ledger.rows, 1):
            for i, kind, fmt in plan:
                value = row[i]
                if value is None:
                    continue
                if kind == ledgers.TEXT or type(value) is str:
                    sheet.write_string(n, i, str(value))
                elif kind == ledgers.TIME:
                    sheet.write_number(n, i, value.timestamp() / 86400.0 + 25569.0 + 8 / 24, fmt)
                else:
                    sheet.write_number(n, i, value, fmt)
        if n:
            sheet.autofilter(0, 0, n, len(ledger.columns) - 1)
    finally:
        book.close()
    return n


def _timed_line(label: str, sessions: Any, view: Any, runs: int) -> None:
    """One line of the table: `view(session)` timed `runs` times (field work from the
    aggregates), with the load and the calibration before it."""
    load, speed = os.getloadavg()[0], calibration()
    with sessions() as session:
        times, _ = timed(lambda: view(session), runs)
    print(
        f"{label:<34}{'field_day':<17}{statistics.median(times):>9.0f}"
        f"{_pct(times, 0.95):>9.0f}   {'':>19}{'':>8}   {load:.1f}, {speed:.0f}",
        flush=True,
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--xlsx-child":
        xlsx_child(*sys.argv[2:7])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--xlsx-rows", type=int, default=100_000, help="0: no XLSX ledger")
    parser.add_argument("--keep", action="store_true", help="keep the generated database")
    parser.add_argument(
        "--reuse", action="store_true", help="URL is a database this bench generated (--keep)"
    )
    args = parser.parse_args()
    print(f"load average before (1, 5, 15 min): {os.getloadavg()}", flush=True)
    print(f"calibration (3,000,000 Python additions): {calibration():.0f} ms", flush=True)
    name, url = (make_url(args.url).database or "", args.url) if args.reuse else _copy(args.url)
    try:
        engine = make_engine(url)
        sessions = session_factory(engine)
        with sessions() as session:
            if not args.reuse:
                seconds = generate(session, args.events)
                print(f"generated {args.events} events in {seconds:.1f}s", flush=True)
            total = session.execute(text("SELECT count(*) FROM event")).scalar_one()
            print(f"{total} events in the table", flush=True)
            if not session.execute(text("SELECT count(*) FROM patrol")).scalar_one():
                seconds = generate_field(session)
                print(f"generated the field work in {seconds:.1f}s", flush=True)
            field = session.execute(
                text("SELECT (SELECT count(*) FROM patrol), (SELECT count(*) FROM visit)")
            ).one()
            print(f"{field[0]} patrols, {field[1]} visits in the tables", flush=True)
            started = time.perf_counter()
            days = check_field_day(session)
            months = check_field_month(session)
            print(
                f"field_day: {days} rows, field_month: {months} rows, each equal to its"
                f" migration's fill of the rows (checked in {time.perf_counter() - started:.1f}s)",
                flush=True,
            )
            month = stats.resolve_period(period="last_month")
            in_month = session.execute(
                text("SELECT count(*) FROM event WHERE received_at >= :a AND received_at < :b"),
                {"a": month.start, "b": month.end},
            ).scalar_one()
            township = session.execute(
                text(
                    "SELECT township_code FROM event WHERE received_at >= :a AND received_at < :b"
                    " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
                ),
                {"a": month.start, "b": month.end},
            ).scalar_one()
            in_township = session.execute(
                text(
                    "SELECT count(*) FROM event WHERE received_at >= :a AND received_at < :b"
                    " AND township_code = :t"
                ),
                {"a": month.start, "b": month.end, "t": township},
            ).scalar_one()
            month_days = stats.day_bounds(month)
            assert month_days is not None
            in_field = session.execute(
                text(
                    "SELECT (SELECT count(*) FROM patrol WHERE started_at >= :a"
                    " AND started_at < :b), (SELECT count(*) FROM visit WHERE visited_at >= :a"
                    " AND visited_at < :b), (SELECT count(*) FROM field_day WHERE day >= :da"
                    " AND day < :db)"
                ),
                {"a": month.start, "b": month.end, "da": month.first_day, "db": month_days[1]},
            ).one()
        print(
            f"month {month.first_day}..{month.last_day}: {in_month} events in the county, "
            f"{in_township} in township {township}; {in_field[0]} patrols and {in_field[1]}"
            f" visits in the county, {in_field[2]} field_day rows"
        )
        print(
            f"{'view':<34}{'field work from':<17}{'p50 ms':>9}{'p95 ms':>9}   "
            f"{'plain GROUP BY p50':>19}{'p95':>8}   load (1 min), calibration ms"
        )
        for label, scope in (
            ("county month, all groupings", Jurisdiction(county_codes=frozenset({COUNTY}))),
            ("township month, all groupings", Jurisdiction(township_codes=frozenset({township}))),
        ):
            found: dict[str, Any] = {}
            for source in ("patrol, visit", "field_day"):
                load, speed = os.getloadavg()[0], calibration()
                with sessions() as session:
                    with raw_field_rows() if source != "field_day" else contextlib.nullcontext():
                        ours, a = timed(lambda s=session, j=scope: _view(s, month, j), args.runs)
                    plain, b = timed(lambda s=session, j=scope: _plain(s, month, j), args.runs)
                a = _comparable(a)
                for g in ALL_GROUPS:
                    assert {k: v[:2] for k, v in a[g].items()} == {
                        k: v[:2] for k, v in b[g].items()
                    }, g
                    assert {k: v[2] for k, v in a[g].items()} == {
                        k: v[2] for k, v in b[g].items()
                    }, g
                for g in FIELD_PLAIN:
                    assert a[f"patrols:{g}"] == b[f"patrols:{g}"], g
                found[source] = a
                print(
                    f"{label:<34}{source:<17}{statistics.median(ours):>9.0f}"
                    f"{_pct(ours, 0.95):>9.0f}   {statistics.median(plain):>19.0f}"
                    f"{_pct(plain, 0.95):>8.0f}   {load:.1f}, {speed:.0f}   (same figures)",
                    flush=True,
                )
            assert found["patrol, visit"] == found["field_day"], "raw rows and field_day differ"
            for aggregate in (False, True):
                load, speed = os.getloadavg()[0], calibration()
                with sessions() as session:
                    alone, _ = timed(
                        lambda s=session, j=scope, agg=aggregate: stats.field_figures(
                            s, by=FIELD_GROUPS, period=month, scope=j, aggregate=agg
                        ),
                        args.runs,
                    )
                source = "field_day" if aggregate else "patrol, visit"
                print(
                    f"{'  its field work alone':<34}{source:<17}{statistics.median(alone):>9.0f}"
                    f"{_pct(alone, 0.95):>9.0f}   {'':>19}{'':>8}   {load:.1f}, {speed:.0f}",
                    flush=True,
                )
            _timed_line(
                "  its rows as the API serves them",
                sessions,
                lambda s, j=scope: _served_view(s, month, j),
                args.runs,
            )
            # What the page asks first: one grouping (its default, township) with the
            # previous period beside it, and the daily series (web_map/static/js/stats.js).
            _timed_line(
                "  the page: township + previous",
                sessions,
                lambda s, j=scope: _page_view(s, month, j),
                args.runs,
            )
        if args.xlsx_rows <= 0:
            print(f"load average after (1, 5, 15 min): {os.getloadavg()}")
            return
        with sessions() as session:
            start = session.execute(
                text("SELECT received_at FROM event ORDER BY received_at DESC OFFSET :n LIMIT 1"),
                {"n": args.xlsx_rows - 1},
            ).scalar_one()
        end = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        # Both writers, alternating, in the same run: each in its own child process (its
        # peak memory is its own), reading the same rows.
        for writer in ("gridmap", "XlsxWriter", "gridmap", "XlsxWriter"):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "ledger.xlsx"
                load = os.getloadavg()[0]
                child = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.stats",
                        "--xlsx-child",
                        url,
                        start.isoformat(),
                        end.isoformat(),
                        str(out),
                        writer,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                rows, secs, peak = child.stdout.split()
                size = out.stat().st_size / 1e6
            print(
                f"XLSX event ledger ({writer:>10}): {rows} rows in {float(secs):.1f}s, "
                f"peak memory (max RSS of the process) {peak} MB, file {size:.1f} MB, "
                f"load {load:.1f}"
            )
        print(f"load average after (1, 5, 15 min): {os.getloadavg()}")
        print(f"calibration (3,000,000 Python additions): {calibration():.0f} ms")
    finally:
        if args.keep or args.reuse:
            print(f"kept: {url}")
        else:
            _drop(args.url, name)


if __name__ == "__main__":
    main()
