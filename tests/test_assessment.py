"""The assessment (考核) on real PostGIS: the service's figures against figures the test
computes itself from the event rows, for a hand-made set of events walked through the
real workflow at known moments; and a township supervisor sees only its township."""

from __future__ import annotations

import datetime as dt
import random
import re
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from gridmap.access.permissions import EVERYWHERE
from gridmap.db import make_engine, session_factory
from gridmap.errors import InvalidInput
from gridmap.events import check_overdue, ingest, stats
from gridmap.events import lifecycle as ev
from gridmap.events.input import EventInput
from gridmap.models import Event
from gridmap.routing.router import Router
from gridmap.settings import Settings
from tests import factories as f
from tests.county_users import county_with_accounts
from tests.logins import login, service_with_login

# Monday 16 November 2026, 09:00 in China (01:00 UTC): the week the events arrive in.
T0 = dt.datetime(2026, 11, 16, 1, 0, tzinfo=dt.UTC)
WEEK = {"period": "custom", "from": "2026-11-16", "to": "2026-11-22"}
ROOT = Path(__file__).resolve().parents[1]


def _walk(session: Session, router: Router, n: int, seed: int = 21) -> None:
    """`n` events spread over the grids, each taken a random way through the loop at
    known moments (minutes after its receipt)."""
    rng = random.Random(seed)
    grids = sorted(f.GRIDS)
    for i in range(n):
        grid = grids[i % len(grids)]
        lon, lat = f.SmallCounty.grid_center(grid)
        received = T0 + dt.timedelta(hours=i * 3, minutes=rng.randint(0, 59))
        event, _ = ingest.ingest_event(
            session,
            router=router,
            payload=EventInput(
                source="12345",
                external_id=f"A{i}",
                category="ROAD" if i % 3 else "VEND",
                reported_at=received,
                description="路面坑洼",
                lon=lon + rng.uniform(-0.003, 0.003),
                lat=lat + rng.uniform(-0.005, 0.005),
            ),
            actor="test",
            now=received,
        )
        session.execute(update(Event).where(Event.id == event.id).values(received_at=received))
        t = received
        fate = rng.random()
        steps: list[tuple[str, dict[str, Any]]] = [("register", {}), ("assign", {})]
        if fate > 0.1:
            steps.append(("start", {}))
        if fate > 0.25:
            if rng.random() < 0.15:
                steps += [("return", {"reason": "不归我们"}), ("assign", {}), ("start", {})]
            steps += [("report_back", {"note": "ok"}), ("close", {})]
            if rng.random() < 0.6:
                steps.append(("visit", {"satisfaction": rng.randint(2, 5)}))
            if rng.random() < 0.1:
                steps.append(("reopen", {"reason": "群众不满意"}))
        for action, kw in steps:
            # Some close within the deadline (72 h), some after it.
            t += dt.timedelta(minutes=rng.choice([7, 45, 300, 1500, 2400]))
            if action == "assign" and kw == {}:
                kw = {"team_code": f"T-{grid}"}
            ev.act(session, event_id=event.id, action=action, actor="op", now=t, **kw)
        if fate < 0.2:
            check_overdue(session, now=T0 + dt.timedelta(days=6))
    # One duplicate merged into the first event.
    dup, _ = ingest.ingest_event(
        session,
        router=router,
        payload=EventInput(
            source="12345",
            external_id="DUP",
            category="ROAD",
            reported_at=T0,
            description="重复",
            lon=f.SmallCounty.grid_center(grids[0])[0],
            lat=f.SmallCounty.grid_center(grids[0])[1],
        ),
        actor="test",
        now=T0,
    )
    session.execute(update(Event).where(Event.id == dup.id).values(received_at=T0))
    first = session.scalars(select(Event.id).where(Event.external_id == "A0")).one()
    ev.act(session, event_id=dup.id, action="register", actor="op", now=T0)
    ev.act(session, event_id=dup.id, action="merge", actor="op", target_id=first, now=T0)


@pytest.fixture(scope="module")
def county_url(server_url: str, small_county_template: str) -> Iterator[str]:
    users = [
        ("county-sup", "supervisor", [f.COUNTY]),
        ("west-sup", "supervisor", [f.T1]),
    ]
    yield from county_with_accounts(server_url, small_county_template, prefix="assess", users=users)


@pytest.fixture(scope="module")
def walked(county_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    engine = make_engine(county_url, pool_size=2)
    sessions = session_factory(engine)
    router = Router(sessions, Settings(home=tmp_path_factory.mktemp("home")))
    router.reload()
    with sessions() as session:
        _walk(session, router, 48)
        _field_work(session)
        session.commit()
    engine.dispose()
    return county_url


# --- field work: hand-made patrols and household visits ----------------------------------

G = sorted(f.GRIDS)  # G[0..3] in the west township (T1), G[4..7] in the east (T2)
WORKERS = {"gw-a": G[0], "gw-b": G[1], "gw-c": G[4]}  # each in its grid's team
# (worker, grid where it started, day of the week 0 = Monday 16 November, hour, track)
PATROLS: list[tuple[str, str, int, int, int]] = [
    ("gw-a", G[0], 0, 8, 5),  # Monday: twice in G0 → a worker-day met
    ("gw-a", G[0], 0, 15, 3),
    ("gw-a", G[0], 1, 9, 4),  # Tuesday: once → not met
    ("gw-a", G[0], 2, 9, 2),  # Wednesday: once in G0 and once in G1 → met in the county
    ("gw-a", G[1], 2, 16, 6),  # and in the west township, met in neither grid
    ("gw-a", G[0], 5, 9, 3),  # Saturday: twice → patrols, but no working day
    ("gw-a", G[0], 5, 14, 3),
    ("gw-b", G[1], 3, 8, 4),  # Thursday: three times → met
    ("gw-b", G[1], 3, 12, 5),
    ("gw-b", G[1], 3, 17, 2),
    ("gw-c", G[4], 0, 8, 7),  # the east township: Monday twice, Friday once
    ("gw-c", G[4], 0, 16, 2),
    ("gw-c", G[4], 4, 10, 3),
    ("gw-c", G[4], 9, 10, 3),  # the week after: outside the period
]
VISITS: list[tuple[str, str, int]] = [
    ("gw-a", G[0], 0),
    ("gw-a", G[0], 2),
    ("gw-a", G[1], 3),
    ("gw-b", G[1], 3),
    ("gw-c", G[4], 1),
    ("gw-c", G[4], 12),  # outside the period
]


def _community(grid: str) -> str:
    return f.GRIDS[grid][0]


def _track(grid: str, n: int, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    lon, lat = f.SmallCounty.grid_center(grid)
    return [(lon + rng.uniform(-0.004, 0.004), lat + rng.uniform(-0.008, 0.008)) for _ in range(n)]


def _field_work(session: Session) -> None:
    """The hand-made patrols and visits, recorded as the phone records them."""
    from gridmap import patrols, visits
    from gridmap.access import accounts

    for name, grid in WORKERS.items():
        accounts.create_user(
            session,
            username=name,
            role="grid_worker",
            password="x" * 12,
            area_codes=[grid],
            team_code=f"T-{grid}",
        )
    users = dict(session.execute(text("SELECT username, id FROM app_user")).all())
    teams = dict(session.execute(text("SELECT username, team_id FROM app_user")).all())
    for i, (who, grid, day, hour, n) in enumerate(PATROLS):
        start = T0 + dt.timedelta(days=day, hours=hour - 9)
        chain = patrols.Chain(f.COUNTY, grid[:9], _community(grid), grid)
        client = f"patrol-{i:04d}"
        patrols.start_patrol(
            session,
            user_id=users[who],
            username=who,
            team_id=teams[who],
            client_id=client,
            chain=chain,
            started_at=start,
        )
        points = _track(grid, n, i)
        half = len(points) // 2 or 1  # in two batches, the second sent twice
        for seq, part in ((1, points[:half]), (2, points[half:]), (2, points[half:])):
            fixes = [
                patrols.Fix(lon, lat, start + dt.timedelta(minutes=5 * k + 5 * seq))
                for k, (lon, lat) in enumerate(part)
            ]
            patrols.add_points(session, user_id=users[who], client_id=client, seq=seq, fixes=fixes)
        patrols.end_patrol(
            session, user_id=users[who], client_id=client, ended_at=start + dt.timedelta(hours=1)
        )
    for i, (who, grid, day) in enumerate(VISITS):
        lon, lat = f.SmallCounty.grid_center(grid)
        visits.record_visit(
            session,
            user_id=users[who],
            username=who,
            team_id=teams[who],
            client_id=f"visit-{i:04d}",
            chain=patrols.Chain(f.COUNTY, grid[:9], _community(grid), grid),
            building_code=None,
            kind="routine",
            note="走访",
            lon=lon,
            lat=lat,
            visited_at=T0 + dt.timedelta(days=day, hours=2),
            jurisdiction=EVERYWHERE,  # recorded as the phone's door would, after its check
        )


@pytest.fixture(scope="module")
def app(walked: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from service_with_login(walked, tmp_path_factory.mktemp("svc"))


@pytest.fixture
def db(walked: str) -> Iterator[Session]:
    engine = make_engine(walked, pool_size=1)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


# --- the test's own arithmetic, from the rows --------------------------------------------


def _percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between the nearest ranks (as percentile_cont)."""
    if not values:
        return None
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _hours(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds() / 3600


def _expected(rows: list[Any]) -> dict[str, Any]:
    assessed = [r for r in rows if r.status != "merged"]
    closed = [r for r in rows if r.closed_at is not None]
    on_time = [r for r in closed if r.due_at is None or r.closed_at <= r.due_at]
    rated = [r.satisfaction for r in rows if r.satisfaction is not None]
    response = [_hours(r.received_at, r.responded_at) for r in rows if r.responded_at]
    handling = [_hours(r.assigned_at, r.closed_at) for r in closed if r.assigned_at]
    returned = [r for r in assessed if r.returned_count or r.reopened_count]
    return {
        "received": len(rows),
        "merged": len(rows) - len(assessed),
        "closed": len(closed),
        "closed_on_time": len(on_time),
        "overdue": sum(1 for r in rows if r.overdue),
        "on_time_rate": round(len(on_time) / len(closed), 4) if closed else None,
        "overdue_rate": (
            round(sum(1 for r in assessed if r.overdue) / len(assessed), 4) if assessed else None
        ),
        "visit_rate": round(len(rated) / len(closed), 4) if closed else None,
        "returned_rate": round(len(returned) / len(assessed), 4) if assessed else None,
        "satisfaction": round(statistics.fmean(rated), 2) if rated else None,
        "response_median_hours": _round(_percentile(response, 0.5)),
        "response_p90_hours": _round(_percentile(response, 0.9)),
        "handling_median_hours": _round(_percentile(handling, 0.5)),
        "handling_p90_hours": _round(_percentile(handling, 0.9)),
    }


def _round(v: float | None) -> float | None:
    return round(v, 2) if v is not None else None


def _rows(db: Session, where: str = "TRUE", **params: Any) -> list[Any]:
    return list(
        db.execute(
            text("SELECT * FROM event WHERE received_at >= :a AND received_at < :b AND " + where),
            {"a": T0 - dt.timedelta(hours=1), "b": T0 + dt.timedelta(days=7), **params},
        ).all()
    )


def _pick(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        k: answer[k]
        for k in (
            "received",
            "merged",
            "closed",
            "closed_on_time",
            "overdue",
            "on_time_rate",
            "overdue_rate",
            "visit_rate",
            "returned_rate",
            "satisfaction",
            "response_median_hours",
            "response_p90_hours",
            "handling_median_hours",
            "handling_p90_hours",
        )
    }


# --- the figures --------------------------------------------------------------------------


def test_the_walk_covers_every_case(db: Session) -> None:
    rows = _rows(db)
    assert len(rows) == 49
    assert any(r.overdue for r in rows) and any(r.returned_count for r in rows)
    assert any(r.reopened_count for r in rows) and any(r.status == "merged" for r in rows)
    assert any(r.closed_at and r.closed_at > r.due_at for r in rows)
    assert any(r.closed_at and r.closed_at <= r.due_at for r in rows)
    assert sum(1 for r in rows if r.satisfaction) >= 10


def test_the_stored_facts_are_the_figures_definitions(db: Session) -> None:
    """Migration 0024 stores each event's counts' predicates (`assess_flags`) and clocks
    (`*_seconds`), which the assessment reads: they must be what `stats.COUNTS` and
    `stats.DURATIONS` say, on every case of the walk (changing either needs a migration
    that redefines the columns)."""
    predicates = ", ".join(f"coalesce({c.predicate}, false)" for c in stats.COUNTS)
    clocks = ", ".join(
        f"e.{d.name}_seconds, date_part('epoch', {d.end} - {d.start})" for d in stats.DURATIONS
    )
    rows = db.execute(text(f"SELECT e.assess_flags, {predicates}, {clocks} FROM event e")).all()
    n = len(stats.COUNTS)
    seen: list[set[bool]] = [set() for _ in range(n)]
    for row in rows:
        flags, truths, clocks_row = row[0], row[1 : n + 1], row[n + 1 :]
        assert [bool(flags >> i & 1) for i in range(n)] == list(truths), row
        assert clocks_row[0::2] == clocks_row[1::2], row
        for i, truth in enumerate(truths):
            seen[i].add(truth)
    # Every count is both true and false somewhere in the walk (but "received": always).
    assert all(s == {True, False} for s in seen[1:]) and seen[0] == {True}


def test_the_planner_settings_are_left_as_they_were(db: Session) -> None:
    """The events of a scope are read by bitmap scans (event_figures._bitmap_scans); the
    setting must not outlive the statement, nor clobber a caller's own."""
    month = stats.resolve_period(period="month")
    stats.assess(db, by=["township"], period=month, scope=EVERYWHERE)
    stats.series(db, by=None, period=month, scope=EVERYWHERE)
    assert db.execute(text("SHOW enable_indexscan")).scalar() == "on"
    db.execute(text("SET LOCAL enable_indexscan = off"))
    stats.assess(db, by=["grid"], period=month, scope=EVERYWHERE)
    assert db.execute(text("SHOW enable_indexscan")).scalar() == "off"
    db.rollback()


def test_the_county_total_equals_the_test_s_own_arithmetic(app: TestClient, db: Session) -> None:
    sup = login(app, "county-sup")
    answer = sup.get("/api/stats", params={**WEEK, "by": "grid"}).json()
    assert _pick(answer["total"]) == _expected(_rows(db))


@pytest.mark.parametrize("by", ["township", "grid", "community", "category", "department", "team"])
def test_every_unit_s_figures_equal_the_test_s_own(app: TestClient, db: Session, by: str) -> None:
    sup = login(app, "county-sup")
    answer = sup.get("/api/stats", params={**WEEK, "by": by}).json()
    column = {
        "township": "township_code",
        "grid": "grid_code",
        "community": "community_code",
        "category": "category_code",
        "department": "department_code",
    }.get(by)
    assert answer["rows"], by
    for row in answer["rows"]:
        if column is None:  # team: by the team's code
            own = _rows(db, "team_id = (SELECT id FROM team WHERE code = :k)", k=row["key"])
        elif row["key"] is None:
            own = _rows(db, f"{column} IS NULL")
        else:
            own = _rows(db, f"{column} = :k", k=row["key"])
        assert _pick(row) == _expected(own), (by, row["key"])
    assert sum(r["received"] for r in answer["rows"]) == answer["total"]["received"] or by == "team"


def test_the_grid_worker_is_credited_with_the_events_of_their_grid_team(
    app: TestClient, db: Session
) -> None:
    sup = login(app, "county-sup")
    rows = sup.get("/api/stats", params={**WEEK, "by": "grid_worker"}).json()["rows"]
    assert {r["name"] for r in rows} == {"李网格"}
    own = _rows(db, "team_id IN (SELECT id FROM team WHERE level = 'grid')")
    assert sum(r["received"] for r in rows) == len(own)


def test_a_team_with_two_grid_workers_counts_its_events_once(app: TestClient, db: Session) -> None:
    """Two grid workers in one grid's team: one row naming both, each event once, and the
    rows add up to the grid teams' events (each worker credited with every event made
    them add up to more)."""
    grid = sorted(f.GRIDS)[0]
    team_id = db.execute(text("SELECT id FROM team WHERE code = :c"), {"c": f"T-{grid}"}).scalar()
    db.execute(
        text("INSERT INTO member (team_id, name, role) VALUES (:t, '赵网格', 'grid_worker')"),
        {"t": team_id},
    )
    db.commit()
    try:
        sup = login(app, "county-sup")
        rows = sup.get("/api/stats", params={**WEEK, "by": "grid_worker"}).json()["rows"]
        own = _rows(db, "team_id IN (SELECT id FROM team WHERE level = 'grid')")
        assert sum(r["received"] for r in rows) == len(own)
        both = [r for r in rows if "赵网格" in (r["name"] or "")]
        assert len(both) == 1 and both[0]["name"] == "李网格、赵网格"
        assert both[0]["received"] == len(_rows(db, "team_id = :t", t=team_id))
        # The drill-down behind the row lists the same events.
        found = sup.get(
            "/api/stats/events",
            params={**WEEK, "by": "grid_worker", "key": both[0]["key"], "figure": "received"},
        )
        assert found.status_code == 200, found.text
        assert found.json()["count"] == both[0]["received"]
    finally:
        db.execute(text("DELETE FROM member WHERE name = '赵网格'"))
        db.commit()


# --- field work: the test's own arithmetic from the hand-made patrols and visits ---------

WEEK_DAYS = 5  # 16–22 November 2026: Monday to Friday, all before today


def _km(who_index: int, grid: str, n: int) -> float:
    from pyproj import Geod

    lons, lats = zip(*_track(grid, n, who_index), strict=True)
    return float(Geod(ellps="WGS84").line_length(lons, lats)) / 1000


def _grid_worker_key(db: Session, grid: str) -> str:
    ids = db.execute(
        text(
            "SELECT m.id FROM member m JOIN team t ON t.id = m.team_id"
            " WHERE t.code = :c AND m.role = 'grid_worker' ORDER BY m.id"
        ),
        {"c": f"T-{grid}"},
    ).scalars()
    return "+".join(str(i) for i in ids)


def _units(db: Session, by: str, who: str, grid: str) -> str | None:
    return {
        "township": grid[:9],
        "community": _community(grid),
        "grid": grid,
        "team": f"T-{WORKERS[who]}",
        "grid_worker": _grid_worker_key(db, WORKERS[who]),
        "total": None,
    }[by]


def _roster(by: str, key: str | None) -> int:
    """Grid workers on the roll: one in each grid's team and one in the school's (a
    dedicated grid inside the first grid, so in C1 and the west township)."""
    grids = [*f.GRIDS, f.SCHOOL]
    chain = {g: (_community(g if g != f.SCHOOL else f.G1), g) for g in grids}
    if by == "total":
        return len(grids)
    if by == "township":
        return sum(1 for g in grids if chain[g][0][:9] == key)
    if by == "community":
        return sum(1 for g in grids if chain[g][0] == key)
    return 1  # a grid, a team, a team's grid worker


def _expected_field(db: Session, by: str, *, township: str | None = None) -> dict[Any, Any]:
    week = [p for p in enumerate(PATROLS) if p[1][2] < 7 and (township in (None, p[1][1][:9]))]
    out: dict[Any, dict[str, Any]] = {}
    days: dict[tuple[Any, str, int], int] = {}
    for i, (who, grid, day, _hour, n) in week:
        unit = _units(db, by, who, grid)
        o = out.setdefault(unit, {"patrols": 0, "km": 0.0, "household_visits": 0})
        o["patrols"] += 1
        o["km"] += _km(i, grid, n)
        days[(unit, who, day)] = days.get((unit, who, day), 0) + 1
    for who, grid, day in VISITS:
        if day < 7 and township in (None, grid[:9]):
            unit = _units(db, by, who, grid)
            o = out.setdefault(unit, {"patrols": 0, "km": 0.0, "household_visits": 0})
            o["household_visits"] += 1
    for unit, o in out.items():
        o["patrol_days_met"] = sum(
            1 for (u, _w, day), n in days.items() if u == unit and n >= 2 and day < 5
        )
        due = _roster(by, unit) * WEEK_DAYS
        o["patrol_days_required"], o["patrols_required"] = due, 2 * due
        o["patrol_rate"] = round(o["patrol_days_met"] / due, 4)
    return out


def _check_field(row: dict[str, Any], want: dict[str, Any]) -> None:
    for k in ("patrols", "household_visits", "patrol_days_met", "patrol_days_required"):
        assert row[k] == want[k], (row["key"], k)
    assert row["patrols_required"] == want["patrols_required"] == 2 * want["patrol_days_required"]
    assert row["patrol_rate"] == want["patrol_rate"], row["key"]
    assert abs(row["patrol_km"] - want["km"]) <= 0.0051, (row["key"], row["patrol_km"], want)


def test_the_walk_has_patrols_of_every_kind(db: Session) -> None:
    rows = db.execute(text("SELECT count(*), sum(points) FROM patrol")).one()
    assert rows[0] == len(PATROLS) and rows[1] == sum(p[4] for p in PATROLS)  # no resend added
    # The stored distance is the track's length on the ellipsoid.
    assert db.execute(
        text("SELECT bool_and(abs(distance_m - ST_Length(track::geography)) < 0.001) FROM patrol")
    ).scalar()


@pytest.mark.parametrize("by", ["township", "community", "grid", "team", "grid_worker"])
def test_patrols_and_visits_equal_the_test_s_own(app: TestClient, db: Session, by: str) -> None:
    sup = login(app, "county-sup")
    answer = sup.get("/api/stats", params={**WEEK, "by": by}).json()
    want = _expected_field(db, by)
    rows = {r["key"]: r for r in answer["rows"]}
    for key, w in want.items():
        _check_field(rows[key], w)
    # Units on the roll with no field work: nothing done, the duty still counted.
    for key, row in rows.items():
        if key not in want and row["patrol_days_required"]:
            assert row["patrols"] == row["patrol_days_met"] == row["household_visits"] == 0
            assert row["patrol_rate"] == 0.0
            assert row["patrol_days_required"] == _roster(by, key) * WEEK_DAYS
    _check_field(answer["total"], _expected_field(db, "total")[None])
    assert sum(r["patrols"] for r in answer["rows"]) == answer["total"]["patrols"]
    # A department does not patrol.
    other = sup.get("/api/stats", params={**WEEK, "by": "department"}).json()
    assert all(r["patrols"] is None for r in other["rows"])


def test_all_groupings_at_once_equal_each_alone(app: TestClient) -> None:
    """The page asks for one grouping, the bench and the ledgers for several: one statement
    of grouping sets must give each the rows it gives alone (a team and its grid workers
    are both keyed by the team's id while grouping)."""
    sup = login(app, "county-sup")
    every = list(stats.GROUPS)
    together = sup.get("/api/stats", params={**WEEK, "by": every}).json()
    for by in every:
        alone = sup.get("/api/stats", params={**WEEK, "by": by}).json()
        assert together["groups"][by] == alone["rows"], by
    assert any(r["household_visits"] for r in together["groups"]["grid_worker"])


def test_every_row_serves_the_same_figures_and_its_rates_are_its_counts(app: TestClient) -> None:
    """The rates are computed for a whole grouping at once (numpy): each must be what
    `ratio` makes of the row's own counts; and every row, with events or with field work
    alone, serves the same figures in the same order."""
    sup = login(app, "county-sup")
    answer = sup.get("/api/stats", params={**WEEK, "by": list(stats.GROUPS)}).json()
    rows = [answer["total"], *(r for rows in answer["groups"].values() for r in rows)]
    names = ["key", "name", *(f.name for f in stats.FIELD_FIGURES)]
    order = list(rows[0])
    assert order[:2] == ["key", "name"] and set(names) < set(order)
    assert any(r["received"] == 0 for r in rows)  # a unit with field work alone
    for row in rows:
        assert list(row) == order, row["key"]
        counts = {c.name: row[c.name] for c in stats.COUNTS}
        assert {r.name: row[r.name] for r in stats.RATES} == stats.rates(counts), row["key"]
    assert sum(1 for r in rows if r["closure_rate"] not in (None, 0.0, 1.0)) > 3


def test_a_township_supervisor_sees_only_its_township_s_field_work(
    app: TestClient, db: Session
) -> None:
    west = login(app, "west-sup")
    answer = west.get("/api/stats", params={**WEEK, "by": "grid"}).json()
    want = _expected_field(db, "grid", township=f.T1)
    assert {r["key"][:9] for r in answer["rows"]} == {f.T1}
    for key, w in want.items():
        _check_field({r["key"]: r for r in answer["rows"]}[key], w)
    total = _expected_field(db, "township", township=f.T1)[f.T1]
    _check_field({**answer["total"], "key": None}, total)
    assert answer["total"]["patrol_days_required"] == 5 * WEEK_DAYS  # 4 grids and the school
    # Its ledgers: its township's patrols and visits only, as many as its figures count.
    patrols = west.get("/api/ledgers/patrols", params={**WEEK, "f": "json"}).json()["rows"]
    assert {r["grid_code"][:9] for r in patrols} == {f.T1}
    assert len(patrols) == answer["total"]["patrols"]
    visited = west.get("/api/ledgers/visits", params={**WEEK, "f": "json"}).json()["rows"]
    assert len(visited) == answer["total"]["household_visits"] == total["household_visits"]
    # The other township's area gives nothing.
    east = west.get("/api/stats", params={**WEEK, "area": f.T2}).json()["total"]
    assert east["patrols"] == east["household_visits"] == 0


def test_the_patrol_and_visit_ledgers_add_up_to_the_figures(app: TestClient) -> None:
    sup = login(app, "county-sup")
    rows = sup.get("/api/stats", params={**WEEK, "by": "grid"}).json()["rows"]
    patrols = sup.get("/api/ledgers/patrols", params={**WEEK, "f": "json"}).json()["rows"]
    visited = sup.get("/api/ledgers/visits", params={**WEEK, "f": "json"}).json()["rows"]
    for r in rows:
        mine = [p for p in patrols if p["grid_code"] == r["key"]]
        assert len(mine) == r["patrols"], r["key"]
        assert abs(sum(p["distance_km"] for p in mine) - r["patrol_km"]) <= 0.01, r["key"]
        assert sum(1 for v in visited if v["grid_code"] == r["key"]) == r["household_visits"]
    sheet = _xlsx(sup, "patrols")
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0][0] == "网格员" and len(lines) - 1 == len(patrols)
    assert all(isinstance(x[lines[0].index("开始")], dt.datetime) for x in lines[1:])


def test_the_previous_period_is_beside_this_one(app: TestClient, db: Session) -> None:
    sup = login(app, "county-sup")
    nxt = {"period": "custom", "from": "2026-11-23", "to": "2026-11-29", "compare": "true"}
    answer = sup.get("/api/stats", params={**nxt, "by": "township"}).json()
    assert answer["previous_period"]["from"] == "2026-11-16"
    assert answer["previous_period"]["to"] == "2026-11-22"
    assert answer["total"]["received"] == 0
    assert answer["total"]["previous"]["received"] == len(_rows(db))


def test_the_daily_series_adds_up_to_the_total(app: TestClient, db: Session) -> None:
    sup = login(app, "county-sup")
    points = sup.get("/api/stats/series", params=WEEK).json()["points"]
    assert [p["day"] for p in points] == [f"2026-11-{d}" for d in range(16, 23)]
    assert sum(p["received"] for p in points) == len(_rows(db))
    assert sum(p["closed_on_time"] for p in points) == _expected(_rows(db))["closed_on_time"]
    by_grid = sup.get("/api/stats/series", params={**WEEK, "by": "grid"}).json()["points"]
    assert sum(p["received"] for p in by_grid) == len(_rows(db))


@pytest.mark.parametrize("figure", ["overdue", "closed_on_time", "closed_late", "returned"])
def test_a_figure_drills_down_to_exactly_its_events(
    app: TestClient, db: Session, figure: str
) -> None:
    sup = login(app, "county-sup")
    rows = sup.get("/api/stats", params={**WEEK, "by": "grid"}).json()["rows"]
    worst = max(rows, key=lambda r: (r[figure], r["key"]))
    listed = sup.get(
        "/api/stats/events",
        params={**WEEK, "figure": figure, "by": "grid", "key": worst["key"]},
    ).json()
    assert listed["count"] == worst[figure] == len(listed["events"])
    predicate = stats.COUNT_BY_NAME[figure].predicate.replace("e.", "")
    own = _rows(db, f"grid_code = :k AND {predicate}", k=worst["key"])
    assert sorted(e["id"] for e in listed["events"]) == sorted(r.id for r in own)


def test_a_township_supervisor_sees_only_its_township(app: TestClient, db: Session) -> None:
    west = login(app, "west-sup")
    answer = west.get("/api/stats", params={**WEEK, "by": "grid"}).json()
    assert {r["key"][:9] for r in answer["rows"]} == {f.T1}
    assert answer["total"]["received"] == len(_rows(db, "township_code = :t", t=f.T1))
    town = west.get("/api/stats", params={**WEEK, "by": "township"}).json()["rows"]
    assert [r["key"] for r in town] == [f.T1]
    points = west.get("/api/stats/series", params={**WEEK, "by": "township"}).json()["points"]
    assert {p["key"] for p in points} == {f.T1}
    # Asking for the other township's area, or its events, gives nothing of it.
    other = west.get("/api/stats", params={**WEEK, "area": f.T2}).json()
    assert other["total"]["received"] == 0
    listed = west.get(
        "/api/stats/events", params={**WEEK, "figure": "received", "by": "township", "key": f.T2}
    ).json()
    assert listed["count"] == 0 and listed["events"] == []


def test_periods_are_local_days_and_bad_ones_are_refused() -> None:
    now = dt.datetime(2026, 11, 18, 17, 0, tzinfo=dt.UTC)  # Thursday 01:00 in China
    week = stats.resolve_period(period="week", now=now)
    assert (week.first_day, week.last_day) == (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    today = stats.resolve_period(period="today", now=now)
    assert today.first_day == dt.date(2026, 11, 19)
    month = stats.resolve_period(period="month", now=now)
    prev = month.previous()
    assert prev is not None and (prev.first_day, prev.last_day) == (
        dt.date(2026, 10, 1),
        dt.date(2026, 10, 31),
    )
    with pytest.raises(InvalidInput):
        stats.resolve_period(period="fortnight")
    with pytest.raises(InvalidInput):  # would overflow a date
        stats.resolve_period(period=None, date_from=dt.date(2026, 1, 1), date_to=dt.date.max)
    with pytest.raises(InvalidInput):
        stats.resolve_period(period="custom", date_from=dt.date(2026, 11, 2))
    with pytest.raises(InvalidInput):
        stats.resolve_period(
            period="custom", date_from=dt.date(2026, 11, 2), date_to=dt.date(2026, 11, 1)
        )


def test_bad_questions_get_a_stable_error(app: TestClient) -> None:
    sup = login(app, "county-sup")
    for params in ({"by": "planet"}, {"period": "fortnight"}, {"figure": "x"}):
        url = "/api/stats/events" if "figure" in params else "/api/stats"
        answer = sup.get(url, params=params)
        assert answer.status_code == 422, params
        assert answer.json()["error"]["code"]


def test_the_definitions_are_written_once_and_in_the_docs() -> None:
    doc = (ROOT / "docs" / "assessment.md").read_text()
    assert stats.definitions_markdown() in doc


# --- ledgers ------------------------------------------------------------------------------


def _xlsx(client: TestClient, kind: str, **params: str) -> Any:
    import io

    import openpyxl

    answer = client.get(f"/api/ledgers/{kind}", params={**WEEK, "f": "xlsx", **params})
    assert answer.status_code == 200, answer.text
    assert "spreadsheetml" in answer.headers["content-type"]
    assert "attachment" in answer.headers["content-disposition"]
    return openpyxl.load_workbook(io.BytesIO(answer.content)).active


def test_the_event_ledger_xlsx_opens_and_its_rows_equal_the_api_s(
    app: TestClient, db: Session
) -> None:
    sup = login(app, "county-sup")
    sheet = _xlsx(sup, "events")
    assert sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("事件编号", "来源", "工单号", "类别")
    assert sheet.column_dimensions["G"].width > 30  # the description is wide
    api_rows = sup.get("/api/ledgers/events", params={**WEEK, "f": "json"}).json()["rows"]
    assert len(rows) - 1 == len(api_rows) == len(_rows(db))
    received = rows[0].index("受理时间")
    closed = rows[0].index("办结时间")
    for got, want in zip(rows[1:], api_rows, strict=True):
        assert got[0] == want["id"]
        # Dates are dates, in local time (UTC+8).
        at = dt.datetime.fromisoformat(want["received_at"]).astimezone(stats.CHINA_TZ)
        assert got[received] == at.replace(tzinfo=None, second=0, microsecond=0) or abs(
            got[received] - at.replace(tzinfo=None)
        ) < dt.timedelta(seconds=1)
        assert (got[closed] is None) == (want["closed_at"] is None)
        assert got[rows[0].index("满意度")] == want["satisfaction"]
    # The same events as the figure `received` drills down to.
    listed = sup.get("/api/stats/events", params={**WEEK, "figure": "received"}).json()
    assert sorted(r[0] for r in rows[1:]) == sorted(e["id"] for e in listed["events"])


def test_the_assessment_table_equals_the_api_s_figures(app: TestClient) -> None:
    sup = login(app, "county-sup")
    sheet = _xlsx(sup, "assessment", by="grid")
    rows = list(sheet.iter_rows(values_only=True))
    head = rows[0]
    assert head[0] == "网格" and "按期办结率" in head and "一日双巡达标率" in head
    api_rows = sup.get("/api/stats", params={**WEEK, "by": "grid"}).json()["rows"]
    body = rows[1:-1]
    assert [r[1] for r in body] == [r["key"] for r in api_rows]
    for got, want in zip(body, api_rows, strict=True):
        assert got[head.index("受理")] == want["received"]
        assert got[head.index("按期办结率")] == want["on_time_rate"]
        assert got[head.index("满意度")] == want["satisfaction"]
        assert got[head.index("巡查次数")] == want["patrols"]
        assert got[head.index("应巡次数（一日双巡）")] == want["patrols_required"]
        assert got[head.index("一日双巡达标率")] == want["patrol_rate"]
        assert got[head.index("巡查里程（公里）")] == want["patrol_km"]
        assert got[head.index("入户走访")] == want["household_visits"]
    assert rows[-1][0] == "合计"
    assert sum(r[head.index("巡查次数")] for r in body) == rows[-1][head.index("巡查次数")] > 0


def test_the_return_visit_and_csv_ledgers(app: TestClient, db: Session) -> None:
    sup = login(app, "county-sup")
    sheet = _xlsx(sup, "return_visits")
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) - 1 == sum(1 for r in _rows(db) if r.satisfaction is not None)
    assert all(isinstance(r[7], dt.datetime) for r in rows[1:])  # the visit's moment
    answer = sup.get("/api/ledgers/events", params={**WEEK, "f": "csv"})
    lines = answer.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("事件编号,来源") and len(lines) == len(_rows(db)) + 1


def test_a_township_supervisor_s_ledgers_hold_only_its_township(
    app: TestClient, db: Session
) -> None:
    west = login(app, "west-sup")
    rows = list(_xlsx(west, "events").iter_rows(values_only=True))
    township = rows[0].index("乡镇（街道）")
    assert {r[township] for r in rows[1:]} == {"西镇"}
    assert len(rows) - 1 == len(_rows(db, "township_code = :t", t=f.T1))
    table = list(_xlsx(west, "assessment", by="township").iter_rows(values_only=True))
    assert [r[1] for r in table[1:-1]] == [f.T1]
    report = west.get("/api/ledgers/weekly", params=WEEK).text
    assert "网格化管理周报" in report and "东镇" not in report
    page = west.get("/stats")
    assert page.status_code == 200 and "考核" in page.text


def test_the_page_needs_a_login_and_has_no_inline_script(app: TestClient) -> None:
    assert app.get("/stats", follow_redirects=False).status_code in (302, 303, 307)
    page = login(app, "county-sup").get("/stats")
    assert page.status_code == 200
    # No inline script and no inline handler: the page runs under a strict CSP.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)
    assert not re.search(r"\son[a-z]+=", page.text)


def test_the_ledger_command_writes_the_same_rows(
    walked: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    import openpyxl
    from typer.testing import CliRunner

    from gridmap_cli.main import app as cli

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", walked)
    monkeypatch.setenv("GRIDMAP_HOME", str(tmp_path))
    out = tmp_path / "台账.xlsx"
    args = ["ledger", "events", "-o", str(out), "--from", "2026-11-16", "--to", "2026-11-22"]
    result = CliRunner().invoke(cli, [*args, "--area", f.T2])
    assert result.exit_code == 0, result.output
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    own = _rows(db, "township_code = :t", t=f.T2)
    assert sorted(r[0] for r in rows[1:]) == sorted(r.id for r in own)
