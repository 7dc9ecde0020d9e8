"""The field work's daily aggregate `field_day` (migration 0021) on real PostGIS.

Hand-made patrols and visits, recorded as the phone records them (gridmap.patrols,
gridmap.visits: tracks sent in batches, the distance growing with the second), plus what
no route does but the database allows (a patrol and a visit deleted, a patrol moved to
another grid by hand): the triggers keep `field_day` equal to the sums the test makes
itself from the raw rows; the migration's fill gives the same table; and the assessment's
field figures read from it equal the test's own arithmetic from the raw rows and the
figures from the raw rows (`aggregate=False`) for every grouping, scope and period —
days around local midnight (UTC+8) included, a worker-day split over two grids too.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap import patrols, visits
from gridmap.access import accounts
from gridmap.access.permissions import EVERYWHERE, Jurisdiction
from gridmap.db import downgrade, migrate
from gridmap.events import stats
from tests import factories as f
from tests.conftest import module_database, rolled_back_session

CHINA = dt.timezone(dt.timedelta(hours=8))
G = sorted(f.GRIDS)  # G[0], G[1] in community C1; G[0..3] in T1, G[4..7] in T2
WORKERS = {"gw-a": G[0], "gw-b": G[1], "gw-c": G[4]}
MONDAY = dt.date(2026, 11, 16)
GROUPINGS = ["township", "community", "grid", "team", "grid_worker"]


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> dt.datetime:
    """A local moment (UTC+8) `day` days after Monday 16 November 2026."""
    return dt.datetime.combine(MONDAY + dt.timedelta(days=day), dt.time(hh, mm, ss), CHINA)


def chain(grid: str | None, township: str | None = None) -> patrols.Chain:
    if grid is None:  # a chain without a community and grid: NULL codes in the key
        return patrols.Chain(f.COUNTY, township, None, None)
    return patrols.Chain(f.COUNTY, grid[:9], f.GRIDS[grid][0], grid)


# (client id, worker, grid (None: the township only), moment)
PATROLS: list[tuple[str, str, str | None, dt.datetime]] = [
    ("p01", "gw-a", G[0], at(0, 8)),  # Monday: G0 and G1 (one community): met in C1
    ("p02", "gw-a", G[1], at(0, 15)),  # and T1, in neither grid
    ("p03", "gw-a", G[0], at(1, 23, 59, 59)),  # Tuesday, one second before midnight
    ("p04", "gw-a", G[0], at(2, 0, 0, 0)),  # Wednesday 00:00 local (Tuesday 16:00 UTC)
    ("p05", "gw-a", G[0], at(2, 10)),  # Wednesday: met in G0 (not Tuesday)
    ("p06", "gw-b", G[1], at(3, 9)),  # Thursday twice, the second's track grows
    ("p07", "gw-b", G[1], at(3, 11)),
    ("p08", "gw-b", G[1], at(4, 9)),  # Friday twice, then one deleted: not met
    ("p09", "gw-b", G[1], at(4, 10)),
    ("p10", "gw-c", G[4], at(0, 7)),  # the east township, Monday: twice
    ("p11", "gw-c", G[4], at(0, 0, 30)),
    ("p12", "gw-c", None, at(1, 9)),  # Tuesday twice with no grid (NULL codes): met in T2
    ("p13", "gw-c", None, at(1, 14)),
    ("p14", "gw-c", G[4], at(5, 9)),  # Saturday twice: patrols, no working day
    ("p15", "gw-c", G[4], at(5, 15)),
    ("p16", "gw-c", G[4], at(-1, 23, 59)),  # Sunday before the week: outside it
    ("p17", "gw-a", G[2], at(4, 8)),  # moved by hand to G[0] below: Friday met in G0
    ("p18", "gw-a", G[0], at(4, 18)),
    ("p19", "gw-c", G[4], at(3, 8)),  # Thursday twice in G4 and twice in G5 (one community):
    ("p20", "gw-c", G[4], at(3, 9)),  # met in each grid, once in C3, T2, the team, the total
    ("p21", "gw-c", G[5], at(3, 14)),
    ("p22", "gw-c", G[5], at(3, 15)),
]
DELETED_PATROL = "p09"
MOVED_PATROL = ("p17", G[0])
# (client id, worker, grid, moment)
VISITS: list[tuple[str, str, str, dt.datetime]] = [
    ("v01", "gw-a", G[0], at(0, 10)),
    ("v02", "gw-a", G[0], at(1, 23, 30)),  # Tuesday
    ("v03", "gw-a", G[0], at(2, 0, 30)),  # Wednesday (Tuesday 16:30 UTC)
    ("v04", "gw-b", G[1], at(5, 10)),  # a Saturday of visits alone
    ("v05", "gw-c", G[4], at(1, 10)),
    ("v06", "gw-c", G[4], at(1, 11)),  # deleted below
    ("v07", "gw-c", G[4], at(7, 0, 10)),  # the Monday after
]
DELETED_VISIT = "v06"


def track(grid: str | None, seed: int, n: int) -> list[tuple[float, float]]:
    lon, lat = f.SmallCounty.grid_center(grid or G[4])
    return [(lon + 0.001 * ((seed * 7 + k * 3) % 5), lat + 0.002 * k) for k in range(n)]


def _record(session: Session) -> dict[str, int]:
    """The hand-made field work, through the domain functions the phone's routes call."""
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
    for i, (client, who, grid, start) in enumerate(PATROLS):
        patrols.start_patrol(
            session,
            user_id=users[who],
            username=who,
            team_id=teams[who],
            client_id=client,
            chain=chain(grid, "990101002" if grid is None else None),
            started_at=start,
        )
        points = track(grid, i, 4)
        for seq, part in ((1, points[:2]), (2, points[2:]), (2, points[2:])):  # one resent
            fixes = [
                patrols.Fix(lon, lat, start + dt.timedelta(minutes=5 * k + 10 * seq))
                for k, (lon, lat) in enumerate(part)
            ]
            patrols.add_points(session, user_id=users[who], client_id=client, seq=seq, fixes=fixes)
        patrols.end_patrol(
            session, user_id=users[who], client_id=client, ended_at=start + dt.timedelta(hours=1)
        )
    for client, who, grid, moment in VISITS:
        visits.record_visit(
            session,
            user_id=users[who],
            username=who,
            team_id=teams[who],
            client_id=client,
            chain=chain(grid),
            building_code=None,
            kind="routine",
            note="走访",
            lon=None,
            lat=None,
            visited_at=moment,
            jurisdiction=EVERYWHERE,
        )
    # What no route does, and the database allows: deleted rows, a patrol moved by hand.
    session.execute(text("DELETE FROM patrol WHERE client_id = :c"), {"c": DELETED_PATROL})
    session.execute(text("DELETE FROM visit WHERE client_id = :c"), {"c": DELETED_VISIT})
    client, grid = MOVED_PATROL
    session.execute(
        text(
            "UPDATE patrol SET grid_code = :g, community_code = :c, township_code = :t"
            " WHERE client_id = :p"
        ),
        {"g": grid, "c": f.GRIDS[grid][0], "t": grid[:9], "p": client},
    )
    return users


@pytest.fixture(scope="module")
def url(server_url: str, small_county_template: str) -> Iterator[str]:
    yield from module_database(server_url, small_county_template, "gridmap_field_day", _record)


@pytest.fixture
def db(url: str) -> Iterator[Session]:
    yield from rolled_back_session(url)


# --- the test's own sums, from the raw rows ----------------------------------------------

KEY = ("county_code", "township_code", "community_code", "grid_code", "team_id", "user_id")


def _raw(db: Session, table: str) -> list[Any]:
    moment = "started_at" if table == "patrol" else "visited_at"
    distance = "distance_m" if table == "patrol" else "0::float8"
    return list(
        db.execute(
            text(f"SELECT {', '.join(KEY)}, {moment} AS at, {distance} AS m FROM {table}")
        ).all()
    )


def _own_aggregate(db: Session) -> dict[tuple[Any, ...], tuple[int, float, int, bool]]:
    out: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0.0, 0])
    for table in ("patrol", "visit"):
        for r in _raw(db, table):
            key = (*(getattr(r, k) for k in KEY), r.at.astimezone(CHINA).date())
            o = out[key]
            if table == "patrol":
                o[0] += 1
                o[1] += r.m
            else:
                o[2] += 1
    # alone: the walker patrolled in no other unit-chain that day.
    chains: dict[tuple[Any, ...], int] = defaultdict(int)
    for k, v in out.items():
        chains[(k[5], k[6])] += v[0] > 0
    return {k: (v[0], v[1], v[2], chains[(k[5], k[6])] <= 1) for k, v in out.items()}


def _table(db: Session) -> dict[tuple[Any, ...], tuple[int, float, int, bool]]:
    rows = db.execute(
        text(f"SELECT {', '.join(KEY)}, day, patrols, distance_m, visits, alone FROM field_day")
    ).all()
    out = {tuple(r[:7]): (r[7], r[8], r[9], r[10]) for r in rows}
    assert len(out) == len(rows)  # one row a key, NULL codes too
    return out


def _same(
    a: dict[Any, tuple[int, float, int, bool]], b: dict[Any, tuple[int, float, int, bool]]
) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k][0], a[k][2], a[k][3]) == (b[k][0], b[k][2], b[k][3]), k
        assert abs(a[k][1] - b[k][1]) < 1e-6, k  # metres: float sums in another order


def _unit_of(db: Session, by: str, r: Any) -> Any:
    if by in ("township", "community", "grid"):
        return getattr(r, f"{by}_code")
    team = db.execute(
        text(
            "SELECT t.code, (SELECT string_agg(m.id::text, '+' ORDER BY m.id) FROM member m"
            " WHERE m.team_id = t.id AND m.role = 'grid_worker') FROM team t WHERE t.id = :t"
        ),
        {"t": r.team_id},
    ).one()
    return team[0] if by == "team" else team[1]


def _own_figures(
    db: Session, by: str | None, first: dt.date, last: dt.date, township: str | None = None
) -> dict[Any, dict[str, Any]]:
    """patrols, km, visits and worker-days met per unit, from the raw rows."""
    out: dict[Any, dict[str, Any]] = defaultdict(
        lambda: {"patrols": 0, "patrol_km": 0.0, "household_visits": 0, "patrol_days_met": 0}
    )
    days: dict[tuple[Any, int, dt.date], int] = defaultdict(int)
    for table in ("patrol", "visit"):
        for r in _raw(db, table):
            day = r.at.astimezone(CHINA).date()
            if not first <= day <= last or township not in (None, r.township_code):
                continue
            unit = None if by is None else _unit_of(db, by, r)
            o = out[unit]
            if table == "patrol":
                o["patrols"] += 1
                o["patrol_km"] += r.m / 1000
                days[(unit, r.user_id, day)] += 1
            else:
                o["household_visits"] += 1
    for (unit, _user, day), n in days.items():
        if n >= 2 and day.weekday() < 5:
            out[unit]["patrol_days_met"] += 1
    for o in out.values():
        o["patrol_km"] = round(o["patrol_km"], 2)
    return dict(out)


def _pick(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: figures[k] for k in ("patrols", "patrol_km", "household_visits", "patrol_days_met")}


def _period(first: dt.date, last: dt.date) -> stats.Period:
    return stats.resolve_period(period="custom", date_from=first, date_to=last)


# --- the tests ----------------------------------------------------------------------------


def test_the_triggers_keep_the_aggregate_equal_to_the_rows(db: Session) -> None:
    own = _own_aggregate(db)
    _same(_table(db), own)
    # The cases are there: a split day, NULL codes, days around local midnight.
    assert any(k[2] is None and v[0] == 2 for k, v in own.items())
    # gw-a's Monday (G0, G1), gw-c's Thursday (G4, G5): days split over unit-chains
    assert sum(1 for v in own.values() if not v[3]) == 4
    tuesday, wednesday = MONDAY + dt.timedelta(1), MONDAY + dt.timedelta(2)
    a = dict(db.execute(text("SELECT username, id FROM app_user")).all())["gw-a"]
    assert own[(f.COUNTY, f.T1, f.GRIDS[G[0]][0], G[0], _team(db, G[0]), a, tuesday)][0] == 1
    assert own[(f.COUNTY, f.T1, f.GRIDS[G[0]][0], G[0], _team(db, G[0]), a, wednesday)][:3:2] == (
        2,
        1,
    )


def _team(db: Session, grid: str) -> int:
    return int(db.execute(text("SELECT id FROM team WHERE code = :c"), {"c": f"T-{grid}"}).scalar())


def test_a_growing_track_a_deletion_and_a_move_reach_the_aggregate(db: Session) -> None:
    users = dict(db.execute(text("SELECT username, id FROM app_user")).all())
    row = f"SELECT {', '.join(KEY)} FROM patrol WHERE client_id = :c"
    start = at(6, 9)  # a Sunday of its own
    patrols.start_patrol(
        db,
        user_id=users["gw-b"],
        username="gw-b",
        team_id=_team(db, G[1]),
        client_id="grows",
        chain=chain(G[1]),
        started_at=start,
    )
    key = (*db.execute(text(row), {"c": "grows"}).one(), start.date())

    def held() -> tuple[int, float, int, bool] | None:
        return _table(db).get(key)

    assert held() == (1, 0.0, 0, True)
    lon, lat = f.SmallCounty.grid_center(G[1])
    for seq in (1, 2):
        fixes = [patrols.Fix(lon, lat + 0.003 * (k + 2 * seq), start) for k in range(2)]
        patrols.add_points(db, user_id=users["gw-b"], client_id="grows", seq=seq, fixes=fixes)
        distance = db.execute(
            text("SELECT distance_m FROM patrol WHERE client_id = 'grows'")
        ).scalar_one()
        assert distance > 0 and held() == (1, pytest.approx(distance), 0, True)
    assert distance > 900  # the second batch made it longer than the first's ~330 m
    patrols.end_patrol(db, user_id=users["gw-b"], client_id="grows", ended_at=start)
    assert held() == (1, pytest.approx(distance), 0, True)
    # A second patrol of that Sunday in another grid splits the walker's day, and
    # deleting it makes the first alone again.
    patrols.start_patrol(
        db,
        user_id=users["gw-b"],
        username="gw-b",
        team_id=_team(db, G[1]),
        client_id="elsewhere",
        chain=chain(G[0]),
        started_at=start + dt.timedelta(hours=1),
    )
    assert held() == (1, pytest.approx(distance), 0, False)
    _same(_table(db), _own_aggregate(db))
    db.execute(text("DELETE FROM patrol WHERE client_id = 'elsewhere'"))
    assert held() == (1, pytest.approx(distance), 0, True)
    _same(_table(db), _own_aggregate(db))
    db.execute(text("DELETE FROM patrol WHERE client_id = 'grows'"))
    assert held() is None  # a key emptied is gone
    _same(_table(db), _own_aggregate(db))
    # TRUNCATE clears its table's part and keeps the other's.
    db.execute(text("TRUNCATE visit"))
    assert all(v[2] == 0 and v[0] > 0 for v in _table(db).values())
    _same(_table(db), _own_aggregate(db))


def test_the_migration_fills_the_aggregate_the_triggers_keep(url: str, db: Session) -> None:
    kept = _table(db)
    db.rollback()
    downgrade(url, "0020")
    migrate(url)  # 0021 again: the table created and filled from the rows
    db.rollback()
    _same(_table(db), kept)


WEEK = (MONDAY, MONDAY + dt.timedelta(6))
PERIODS = [WEEK, *((MONDAY + dt.timedelta(d),) * 2 for d in range(-1, 8))]


@pytest.mark.parametrize("first,last", PERIODS)
def test_the_figures_from_the_aggregate_equal_the_raw_rows(
    db: Session, first: dt.date, last: dt.date
) -> None:
    period = _period(first, last)
    for scope, township in (
        (None, None),
        (Jurisdiction(county_codes=frozenset({f.COUNTY})), None),
        (Jurisdiction(township_codes=frozenset({f.T1})), f.T1),
        (Jurisdiction(township_codes=frozenset({f.T2})), f.T2),
    ):
        fast = stats.field_figures(db, by=GROUPINGS, period=period, scope=scope)
        raw = stats.field_figures(db, by=GROUPINGS, period=period, scope=scope, aggregate=False)
        assert fast == raw, (first, scope)
        own_total = _own_figures(db, None, first, last, township).get(None)
        assert _pick(fast[None][None]) == (own_total or _pick(stats.field_zero()))
        for by in GROUPINGS:
            own = _own_figures(db, by, first, last, township)
            done = {
                k: _pick(v) for k, v in fast[by].items() if v["patrols"] or v["household_visits"]
            }
            assert done == own, (first, by, scope)


def test_the_week_s_worker_days(db: Session) -> None:
    """The rule's cases, by hand: a split day met in the community and township only,
    midnight on the right side, a deletion unmeeting a day, a weekend never met."""
    fast = stats.field_figures(db, by=GROUPINGS, period=_period(*WEEK))
    met = {
        by: {k: v["patrol_days_met"] for k, v in fast[by].items() if v["patrol_days_met"]}
        for by in GROUPINGS
    }
    # gw-a: Monday (split G0/G1: C1, T1), Wednesday (G0), Friday (G0, after the move).
    # gw-b: Thursday (G1); Friday unmet (one deleted). gw-c: Monday (G4, one of them at
    # 00:30 local), Tuesday (no grid: the units of key None, and T2), Thursday (G4 and G5
    # each, once in C3).
    assert met["grid"] == {G[0]: 2, G[1]: 1, G[4]: 2, G[5]: 1, None: 1}
    assert met["community"] == {f.GRIDS[G[0]][0]: 4, f.GRIDS[G[4]][0]: 2, None: 1}
    assert met["township"] == {f.T1: 4, f.T2: 3}
    assert met["team"] == {f"T-{G[0]}": 3, f"T-{G[1]}": 1, f"T-{G[4]}": 3}
    assert fast[None][None]["patrol_days_met"] == 7
    assert fast[None][None]["household_visits"] == 5  # v06 deleted, v07 the week after


def test_a_period_cut_inside_a_day_reads_the_raw_rows(db: Session) -> None:
    since = stats.Period("since", at(1, 12), None)
    assert stats.day_bounds(since) is None
    assert stats.day_bounds(_period(*WEEK)) == (WEEK[0], WEEK[1] + dt.timedelta(1))
    fast = stats.field_figures(db, by=["grid"], period=since)
    raw = stats.field_figures(db, by=["grid"], period=since, aggregate=False)
    assert fast == raw
    later = [p for p in PATROLS if p[3] >= at(1, 12) and p[0] != DELETED_PATROL]
    assert fast[None][None]["patrols"] == len(later)
