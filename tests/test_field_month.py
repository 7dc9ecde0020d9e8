"""The field work's monthly rollup `field_month` (migration 0022) on real PostGIS.

The week of hand-made patrols and visits of tests/test_field_day.py (recorded through
gridmap.patrols and gridmap.visits), then what the database allows besides: a bulk
INSERT … SELECT over three months, a patrol moved by hand to another grid, day and month,
deletions, a walker's day split over two unit-chains and whole again, an upsert written
straight into `field_day`, TRUNCATE, two transactions adding to one key at once: after
each, the rollup the triggers keep equals the migration's fill over `field_day`
(`FILL_SELECT`), and the migration's fill equals the kept table. And `chain_sums_sql`
(gridmap.events.stats.field_sums) gives for every kind of range exactly the sums of a
plain GROUP BY over `field_day`.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.access.permissions import Jurisdiction
from gridmap.db import downgrade, make_engine, migrate
from gridmap.events import stats
from gridmap.events.stats.field import field_filter
from gridmap.events.stats.field_sums import chain_sums_sql
from gridmap.patrols import DAILY_PATROLS
from tests import factories as f
from tests.conftest import module_database, rolled_back_session
from tests.test_field_day import MONDAY, G, _record

Sums = dict[tuple[Any, ...], tuple[int, float, int, int]]


def _migration() -> Any:
    path = Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0022_field_month.py"
    spec = importlib.util.spec_from_file_location("migration_0022", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILL_SELECT: str = _migration().FILL_SELECT
KEY = "county_code, month, township_code, community_code, grid_code, team_id"


@pytest.fixture(scope="module")
def url(server_url: str, small_county_template: str) -> Iterator[str]:
    yield from module_database(server_url, small_county_template, "gridmap_field_month", _record)


@pytest.fixture
def db(url: str) -> Iterator[Session]:
    yield from rolled_back_session(url)


def _rows(db: Session, sql: str) -> Sums:
    rows = db.execute(text(f"SELECT {KEY}, patrols, distance_m, visits, met FROM ({sql}) r")).all()
    out = {tuple(r[:6]): (r[6], r[7], r[8], r[9]) for r in rows}
    assert len(out) == len(rows)  # one row a key, NULL codes too
    return out


def _kept(db: Session) -> Sums:
    return _rows(db, "SELECT * FROM field_month")


def _same(a: Sums, b: Sums) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k][0], a[k][2], a[k][3]) == (b[k][0], b[k][2], b[k][3]), k
        assert abs(a[k][1] - b[k][1]) < 1e-6, k  # metres: float sums in another order


def _check(db: Session) -> Sums:
    """The kept rollup equals the migration's fill over `field_day`; the kept rows."""
    kept = _kept(db)
    _same(kept, _rows(db, FILL_SELECT))
    return kept


def _users(db: Session) -> dict[str, int]:
    return dict(db.execute(text("SELECT username, id FROM app_user")).all())


def _patrol(
    db: Session, client: str, who: str, grid: str, start: dt.datetime, metres: float = 500.0
) -> None:
    """A patrol written straight into the table (as a hand-made fix or a bulk load would),
    with the walker's own team."""
    db.execute(
        text(
            """INSERT INTO patrol (client_id, user_id, username, team_id, county_code,
                                   township_code, community_code, grid_code, started_at,
                                   distance_m)
               SELECT :c, id, username, team_id, :county, :t, :cm, :g, :at, :m
               FROM app_user WHERE username = :who"""
        ),
        {
            "c": client,
            "who": who,
            "county": f.COUNTY,
            "t": grid[:9],
            "cm": f.GRIDS[grid][0],
            "g": grid,
            "at": start,
            "m": metres,
        },
    )


CHINA = dt.timezone(dt.timedelta(hours=8))
BULK_FIRST, BULK_DAYS = dt.date(2026, 10, 20), 52  # 20 October to 10 December 2026

# Each worker's patrols and visits of every day from BULK_FIRST: 0 to 3 patrols a day in its
# own grid (the grid of its first recorded patrol), and every fifth day one more in G[2]
# (a day split over two unit-chains, met in neither grid when 1 + 1).
BULK = """
WITH w AS (
    SELECT DISTINCT ON (user_id) user_id, username, team_id, county_code, township_code,
           community_code, grid_code
    FROM patrol WHERE grid_code IS NOT NULL ORDER BY user_id, started_at
), d AS (
    SELECT n, :first + n AS day FROM generate_series(0, :days - 1) AS n
), p AS (
    SELECT 'bulk-' || w.user_id || '-' || d.n || '-' || k AS client, w.*, d.n, d.day, k
    FROM w CROSS JOIN d CROSS JOIN LATERAL generate_series(0, (d.n + w.user_id) % 4 - 1) AS k
)
INSERT INTO patrol (client_id, user_id, username, team_id, county_code, township_code,
                    community_code, grid_code, started_at, distance_m)
SELECT client, user_id, username, team_id, county_code, township_code, community_code,
       grid_code, (day + time '07:00' + k * interval '3 hours') AT TIME ZONE 'Asia/Shanghai',
       100.5 + 37.25 * k + n
FROM p
UNION ALL
SELECT 'bulk-split-' || w.user_id || '-' || d.n, w.user_id, w.username, w.team_id,
       w.county_code, :t2, :c2, :g2,
       (d.day + time '20:00') AT TIME ZONE 'Asia/Shanghai', 333.125
FROM w CROSS JOIN d WHERE d.n % 5 = 0;

INSERT INTO visit (client_id, user_id, username, team_id, county_code, township_code,
                   community_code, grid_code, kind, note, visited_at)
SELECT 'bulk-' || w.user_id || '-' || d.n, w.user_id, w.username, w.team_id, w.county_code,
       w.township_code, w.community_code, w.grid_code, 'routine', '',
       (d.day + time '16:00') AT TIME ZONE 'Asia/Shanghai'
FROM (
    SELECT DISTINCT ON (user_id) * FROM patrol WHERE grid_code IS NOT NULL
    ORDER BY user_id, started_at
) w CROSS JOIN (SELECT n, :first + n AS day FROM generate_series(0, :days - 1) AS n) d
WHERE (d.n + w.user_id) % 3 <> 0
"""


def _bulk(db: Session) -> None:
    for statement in BULK.split(";\n"):
        db.execute(
            text(statement),
            {
                "first": BULK_FIRST,
                "days": BULK_DAYS,
                "t2": G[2][:9],
                "c2": f.GRIDS[G[2]][0],
                "g2": G[2],
            },
        )


# --- keeping the rollup ---------------------------------------------------------------------


def test_the_recorded_week_rolls_up(db: Session) -> None:
    kept = _check(db)
    november = {k: v for k, v in kept.items() if k[1] == dt.date(2026, 11, 1)}
    assert november and len(november) == len(kept)  # the week is in November
    assert any(k[4] is None for k in kept)  # the patrols with no grid: NULL codes
    # The week's worker-days met by whole days (tests/test_field_day.py: 7 in all, two
    # of them split days, met in the community and township only).
    assert sum(v[3] for v in kept.values()) == 5
    assert sum(v[0] for v in kept.values()) == 21  # 22 patrols, one deleted


def test_bulk_writes_a_move_a_split_day_and_truncate_keep_the_rollup(db: Session) -> None:
    _bulk(db)
    kept = _check(db)
    months = {k[1] for k in kept}
    assert months == {dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)}
    assert sum(v[3] for v in kept.values()) > 20

    # A patrol moved by hand to another grid, day and month.
    db.execute(
        text(
            "UPDATE patrol SET grid_code = :g, community_code = :c, township_code = :t,"
            " started_at = started_at + interval '18 days'"
            " WHERE client_id = (SELECT min(client_id) FROM patrol"
            "                    WHERE client_id LIKE 'bulk-%' AND started_at >= :nov25"
            "                      AND started_at < :nov26)"
        ),
        {
            "g": G[6],
            "c": f.GRIDS[G[6]][0],
            "t": G[6][:9],
            "nov25": dt.datetime(2026, 11, 25, tzinfo=CHINA),
            "nov26": dt.datetime(2026, 11, 26, tzinfo=CHINA),
        },
    )
    moved = _check(db)
    assert any(k[1] == dt.date(2026, 12, 1) and k[4] == G[6] for k in moved)

    # Deletions: a whole day of one walker, and every visit of October.
    db.execute(
        text("DELETE FROM patrol WHERE started_at >= :a AND started_at < :b"),
        {"a": dt.datetime(2026, 11, 3, tzinfo=CHINA), "b": dt.datetime(2026, 11, 4, tzinfo=CHINA)},
    )
    db.execute(
        text("DELETE FROM visit WHERE visited_at < :a"),
        {"a": dt.datetime(2026, 11, 1, tzinfo=CHINA)},
    )
    _check(db)

    # A walker's whole met day split over two unit-chains: `met` drops in its grid's month.
    users = _users(db)
    day = dt.date(2026, 12, 8)  # a Tuesday
    start = dt.datetime.combine(day, dt.time(6), CHINA)
    _patrol(db, "own-1", "gw-b", G[1], start)
    _patrol(db, "own-2", "gw-b", G[1], start + dt.timedelta(minutes=30))
    db.execute(
        text(
            "DELETE FROM patrol WHERE user_id = :u AND started_at >= :a AND started_at < :b"
            " AND client_id NOT LIKE 'own-%'"
        ),
        {"u": users["gw-b"], "a": start, "b": start + dt.timedelta(days=1)},
    )
    before = _check(db)
    key = next(k for k in before if k[1] == dt.date(2026, 12, 1) and k[4] == G[1])
    alone = "SELECT alone FROM field_day WHERE user_id = :u AND day = :d AND grid_code = :g"
    assert db.execute(text(alone), {"u": users["gw-b"], "d": day, "g": G[1]}).scalar_one()
    _patrol(db, "elsewhere", "gw-b", G[3], start + dt.timedelta(hours=2))
    split = _check(db)
    assert not db.execute(text(alone), {"u": users["gw-b"], "d": day, "g": G[1]}).scalar_one()
    assert split[key][3] == before[key][3] - 1 and split[key][0] == before[key][0]
    db.execute(text("DELETE FROM patrol WHERE client_id = 'elsewhere'"))
    _same(_check(db), before)  # whole again: met back

    # TRUNCATE of the patrols leaves the visits' rows; of the visits too: nothing.
    db.execute(text("TRUNCATE patrol"))
    kept = _check(db)
    assert kept and all(v[0] == 0 and v[3] == 0 and v[2] > 0 for v in kept.values())
    db.execute(text("TRUNCATE visit"))
    assert _check(db) == {}


def test_an_upsert_into_field_day_fires_the_insert_and_the_update_trigger(db: Session) -> None:
    """INSERT … ON CONFLICT DO UPDATE (what field_day's own triggers run) fires the INSERT
    statement trigger with the rows it inserted and the UPDATE one with the rows it
    updated, on this server."""
    assert int(db.execute(text("SHOW server_version_num")).scalar_one()) >= 150000
    before = _check(db)
    written = db.execute(
        text(
            """INSERT INTO field_day AS f (county_code, township_code, community_code,
                                           grid_code, team_id, user_id, day, patrols,
                                           distance_m, visits)
               SELECT county_code, township_code, community_code, grid_code, team_id,
                      user_id, day + s, 3, 250, 1
               FROM (SELECT * FROM field_day WHERE grid_code IS NOT NULL
                     ORDER BY day, user_id LIMIT 2) x
               CROSS JOIN (VALUES (0), (40)) AS t(s)
               ON CONFLICT (county_code, day, township_code, community_code, grid_code,
                            team_id, user_id)
               DO UPDATE SET patrols = f.patrols + EXCLUDED.patrols,
                             distance_m = f.distance_m + EXCLUDED.distance_m,
                             visits = f.visits + EXCLUDED.visits
               RETURNING xmax = 0 AS inserted"""
        )
    ).all()
    assert sorted(r.inserted for r in written) == [False, False, True, True]
    after = _check(db)
    assert sum(v[0] for v in after.values()) == sum(v[0] for v in before.values()) + 12


def test_the_migration_fills_the_rollup_the_triggers_keep(url: str, db: Session) -> None:
    kept = _kept(db)
    db.rollback()
    downgrade(url, "0021")
    migrate(url)  # 0022 again: the table created and filled from field_day
    db.rollback()
    _same(_kept(db), kept)


def test_two_transactions_adding_to_one_key_lose_nothing(url: str, db: Session) -> None:
    """Two walkers' patrols in one unit-chain, team and month, written at once: the second
    waits for the first's row of `field_month` and adds to it (a new key, then a key the
    first empties and deletes)."""
    users = _users(db)
    assert users["gw-a"] % 64 != users["gw-c"] % 64  # field_day's own lock does not order them
    day = dt.datetime(2027, 3, 9, 9, tzinfo=CHINA)
    engine = make_engine(url, pool_size=2)

    def at_once(first: list[str], second: list[str], then: tuple[str, ...] = ()) -> None:
        """`first` in one transaction, `second` in another meanwhile (it must wait), then
        `then` in the first, which commits."""
        with engine.connect() as one, engine.connect() as two:
            for statement in first:
                one.execute(text(statement))
            pid = two.execute(text("SELECT pg_backend_pid()")).scalar_one()
            done: list[Exception | None] = []

            def run() -> None:
                try:
                    for statement in second:
                        two.execute(text(statement))
                    two.commit()
                    done.append(None)
                except Exception as e:  # handed to the test's thread
                    done.append(e)

            worker = threading.Thread(target=run)
            worker.start()
            waited = False
            for _ in range(100):  # the second transaction waits for the first
                with engine.connect() as look:
                    waited = bool(
                        look.execute(
                            text("SELECT count(*) FROM pg_locks WHERE pid = :p AND NOT granted"),
                            {"p": pid},
                        ).scalar_one()
                    )
                if waited:
                    break
                time.sleep(0.05)
            for statement in then:
                one.execute(text(statement))
            one.commit()
            worker.join(10)
            assert done == [None] and waited

    def insert(client: str, who: str, grid: str = G[0]) -> str:
        return f"""INSERT INTO patrol (client_id, user_id, username, team_id, county_code,
                                       township_code, community_code, grid_code, started_at,
                                       distance_m)
                   SELECT '{client}', id, username,
                          (SELECT team_id FROM app_user WHERE username = 'gw-a'),
                          '{f.COUNTY}', '{grid[:9]}', '{f.GRIDS[grid][0]}', '{grid}',
                          '{day.isoformat()}', 1000
                   FROM app_user WHERE username = '{who}'"""

    db.rollback()
    try:
        at_once([insert("race-a", "gw-a")], [insert("race-c", "gw-c")])
        key = next(k for k, v in _check(db).items() if k[1] == dt.date(2027, 3, 1))
        assert _kept(db)[key][:3] == (2, 2000.0, 0)
        db.execute(text("DELETE FROM patrol WHERE client_id = 'race-c'"))
        db.commit()
        # The first empties the key (its row deleted), the second adds to it meanwhile:
        # it waits, then inserts the key afresh (another walker: field_day's own lock
        # does not order them).
        at_once(["DELETE FROM patrol WHERE client_id = 'race-a'"], [insert("race-c2", "gw-c")])
        assert _check(db)[key][:3] == (1, 1000.0, 0)
        db.rollback()
        # Two transactions of one team's walkers, each writing two of its unit-chains in
        # the other's order (a phone sending two patrols at once): without the team's
        # lock each would hold one key's row and wait for the other's, a deadlock.
        at_once(
            [insert("race-a3", "gw-a", G[0])],
            [insert("race-c3", "gw-c", G[1]), insert("race-c4", "gw-c", G[0])],
            then=(insert("race-a4", "gw-a", G[1]),),
        )
        assert _check(db)[key][:3] == (3, 3000.0, 0)
    finally:
        db.rollback()
        db.execute(text("DELETE FROM patrol WHERE client_id LIKE 'race-%'"))
        db.commit()
        engine.dispose()
    assert not any(k[1] == dt.date(2027, 3, 1) for k in _check(db))


# --- reading it -----------------------------------------------------------------------------

D = dt.date
RANGES: list[tuple[D | None, D | None]] = [
    (D(2026, 11, 3), D(2026, 11, 21)),  # inside one month
    (D(2026, 10, 25), D(2026, 11, 10)),  # across a month's end
    (D(2026, 10, 31), D(2026, 11, 1)),  # a month's last day
    (D(2026, 11, 1), D(2026, 12, 1)),  # exactly one whole month
    (D(2026, 10, 1), D(2026, 12, 1)),  # exactly two
    (D(2026, 10, 15), D(2026, 12, 5)),  # a whole month and days on both sides
    (D(2026, 11, 1), D(2026, 11, 16)),  # a month's first half
    (D(2026, 11, 16), D(2026, 12, 1)),  # a month's second half
    (None, D(2026, 11, 10)),  # open before
    (D(2026, 11, 10), None),  # open after
    (None, D(2026, 11, 1)),
    (D(2026, 12, 1), None),
    (None, None),  # everything
    (D(2026, 11, 5), D(2026, 11, 5)),  # no day
]

PLAIN = f"""
SELECT x.township_code, x.community_code, x.grid_code, x.team_id,
       sum(x.patrols)::int, sum(x.distance_m)::float8, sum(x.visits)::int,
       count(*) FILTER (WHERE x.alone AND x.patrols >= {DAILY_PATROLS}
                        AND extract(isodow FROM x.day) < 6)::int
FROM field_day x
WHERE {{where}} AND (CAST(:lo AS date) IS NULL OR x.day >= :lo)
      AND (CAST(:hi AS date) IS NULL OR x.day < :hi)
GROUP BY 1, 2, 3, 4
"""


def _by_chain(rows: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    out = {tuple(r[:4]): tuple(r[4:]) for r in rows}
    assert len(out) == len(rows)
    return out


@pytest.mark.parametrize("first,end", RANGES)
def test_chain_sums_equal_a_plain_sum_over_field_day(
    db: Session, first: D | None, end: D | None
) -> None:
    _bulk(db)
    period = stats.resolve_period(period="custom", date_from=MONDAY, date_to=MONDAY)
    for scope, county in (
        (None, None),
        (None, f.COUNTY),
        (Jurisdiction(township_codes=frozenset({f.T1})), None),
    ):
        where, params = field_filter(
            "x", None, period=period, area=None, county_code=county, scope=scope
        )
        sql, extra = chain_sums_sql(days=(first, end), where=where)
        assert not set(extra) & set(params) and all(k.startswith("fs_") for k in extra)
        fast = db.execute(text(sql), {**params, **extra})
        assert list(fast.keys()) == [
            "township_code",
            "community_code",
            "grid_code",
            "team_id",
            "patrols",
            "distance_m",
            "visits",
            "met",
        ]
        got = _by_chain(fast.all())
        want = _by_chain(
            db.execute(text(PLAIN.format(where=where)), {**params, "lo": first, "hi": end}).all()
        )
        assert got.keys() == want.keys(), (first, end, scope)
        for k in want:
            assert (got[k][0], got[k][2], got[k][3]) == (want[k][0], want[k][2], want[k][3])
            assert abs(got[k][1] - want[k][1]) < 1e-6
        if (first, end) == (None, None):
            assert sum(v[3] for v in got.values()) > 20


def test_chain_sums_read_whole_months_from_the_rollup() -> None:
    """Which table answers which days: a month wholly inside the range from field_month,
    the rest from field_day, by the range's own bounds."""
    sql, params = chain_sums_sql(days=(D(2026, 10, 15), D(2026, 12, 5)), where="TRUE")
    assert sql.count("FROM field_month") == 1 and sql.count("FROM field_day") == 2
    assert params == {
        "fs_m_lo": D(2026, 11, 1),
        "fs_m_hi": D(2026, 12, 1),
        "fs_d0_lo": D(2026, 10, 15),
        "fs_d0_hi": D(2026, 11, 1),
        "fs_d1_lo": D(2026, 12, 1),
        "fs_d1_hi": D(2026, 12, 5),
    }
    sql, params = chain_sums_sql(days=(D(2026, 11, 1), D(2026, 12, 1)), where="TRUE")
    assert "field_day" not in sql
    sql, params = chain_sums_sql(days=(D(2026, 11, 3), D(2026, 11, 21)), where="TRUE")
    assert "field_month" not in sql
    sql, params = chain_sums_sql(days=(D(2026, 12, 10), None), where="TRUE")
    assert params == {
        "fs_m_lo": D(2027, 1, 1),
        "fs_d0_lo": D(2026, 12, 10),
        "fs_d0_hi": D(2027, 1, 1),
    }
