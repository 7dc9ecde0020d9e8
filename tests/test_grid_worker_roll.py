"""The kept roll of grid workers `grid_worker_roll` (migration 0023) on real PostGIS.

The small county (tests/factories.py: a grid worker in each grid's team and in the
school's dedicated grid's team), then the writes the roll depends on: grid workers added,
their role changed to and from grid worker, moved to another team, deleted; a team's duty
moved to another grid and to a dedicated grid (whose parent is a grid), a second duty, no
duty; a team's county changed, a team deleted; a publication moving a grid to another
community (gridmap.boundaries' own staging and activation); TRUNCATE; gridmap.teams'
row-by-row imports; two transactions adding grid workers at once, and one adding a worker
while another moves its team's duty (both orders): after each, the kept table equals the
migration's fill (`FILL_SELECT`, the roster query as of 0023) run afresh. The migration's
downgrade and upgrade leave the same table. And a township's month of events is read by
`ix_event_township_received`.
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
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap import teams
from gridmap.boundaries import activation
from gridmap.boundaries import versions as boundaries
from gridmap.db import downgrade, make_engine, migrate
from tests import factories as f
from tests.conftest import module_database, rolled_back_session

Roll = dict[int, tuple[Any, ...]]


def _migration() -> Any:
    path = (
        Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0023_grid_worker_roll.py"
    )
    spec = importlib.util.spec_from_file_location("migration_0023", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILL_SELECT: str = _migration().FILL_SELECT
COLUMNS = "member_id, team_id, county_code, township_code, community_code, grid_code"
G1, G2 = f.G1, f"{f.C1}002"
G_EAST = f"{f.C3}001"


@pytest.fixture(scope="module")
def url(server_url: str, small_county_template: str) -> Iterator[str]:
    yield from module_database(server_url, small_county_template, "gridmap_roll")


@pytest.fixture
def db(url: str) -> Iterator[Session]:
    yield from rolled_back_session(url)


def _rows(db: Session, sql: str) -> Roll:
    rows = db.execute(text(f"SELECT {COLUMNS} FROM ({sql}) r")).all()
    out = {r[0]: tuple(r[1:]) for r in rows}
    assert len(out) == len(rows)  # one row a member
    return out


def _check(db: Session) -> Roll:
    """The kept roll equals the roster query run afresh; the kept rows."""
    kept = _rows(db, "SELECT * FROM grid_worker_roll")
    assert kept == _rows(db, FILL_SELECT)
    return kept


def _team(db: Session, code: str) -> int:
    return int(
        db.execute(
            text("SELECT id FROM team WHERE county_code = :c AND code = :t"),
            {"c": f.COUNTY, "t": code},
        ).scalar_one()
    )


def _add(db: Session, team_code: str, role: str = "grid_worker", name: str = "新网格员") -> int:
    return int(
        db.execute(
            text("INSERT INTO member (team_id, name, role) VALUES (:t, :n, :r) RETURNING id"),
            {"t": _team(db, team_code), "n": name, "r": role},
        ).scalar_one()
    )


def _chain(grid: str) -> tuple[str, str, str, str]:
    community = f.GRIDS[grid][0]
    return (f.COUNTY, community[:9], community, grid)


def test_the_migration_fills_the_roll(db: Session) -> None:
    kept = _check(db)
    # A grid worker in each grid's team and the school's (a dedicated grid in G1).
    assert len(kept) == len(f.GRIDS) + 1
    school = _team(db, f"T-{f.SCHOOL}")
    assert [r[1:] for r in kept.values() if r[0] == school] == [(*_chain(G1)[:3], f.SCHOOL)]


def test_members_added_changed_moved_and_deleted(db: Session) -> None:
    new = _add(db, f"T-{G1}")
    assert _check(db)[new] == (_team(db, f"T-{G1}"), *_chain(G1))
    leader = _add(db, f"T-{G1}", role="grid_leader")
    assert leader not in _check(db)
    db.execute(text("UPDATE member SET role = 'grid_worker' WHERE id = :m"), {"m": leader})
    assert leader in _check(db)
    db.execute(text("UPDATE member SET role = 'auxiliary' WHERE id = :m"), {"m": new})
    assert new not in _check(db)
    db.execute(text("UPDATE member SET role = 'grid_worker' WHERE id = :m"), {"m": new})
    east = _team(db, f"T-{G_EAST}")
    db.execute(text("UPDATE member SET team_id = :t WHERE id = :m"), {"t": east, "m": new})
    assert _check(db)[new] == (east, *_chain(G_EAST))
    # A change the roll does not read writes nothing (and breaks nothing).
    db.execute(text("UPDATE member SET phone = '13900000000', user_id = 7"))
    before = _check(db)
    db.execute(text("DELETE FROM member WHERE id = ANY(:m)"), {"m": [new, leader]})
    after = _check(db)
    assert after.keys() == before.keys() - {new, leader}


def test_duties_moved_doubled_and_removed(db: Session) -> None:
    team = _team(db, f"T-{G1}")
    (worker,) = [m for m, r in _check(db).items() if r[0] == team]
    db.execute(text("UPDATE duty SET area_code = :g WHERE team_id = :t"), {"g": G_EAST, "t": team})
    assert _check(db)[worker] == (team, *_chain(G_EAST))
    # A dedicated grid whose parent is a grid: the grid's community and township.
    db.execute(
        text("UPDATE duty SET layer = 'dedicated_grid', area_code = :g WHERE team_id = :t"),
        {"g": f.SCHOOL, "t": team},
    )
    assert _check(db)[worker] == (team, *_chain(G1)[:3], f.SCHOOL)
    # Two duties: the first grid by code.
    db.execute(
        text(
            "INSERT INTO duty (county_code, layer, area_code, team_id, role) "
            "VALUES (:c, 'grid', :g, :t, 'responsible')"
        ),
        {"c": f.COUNTY, "g": G2, "t": team},
    )
    assert _check(db)[worker] == (team, *_chain(G2)[:3], min(G2, f.SCHOOL))
    # A duty for a community is not read.
    db.execute(
        text(
            "INSERT INTO duty (county_code, layer, area_code, team_id, role) "
            "VALUES (:c, 'community', :g, :t, 'member')"
        ),
        {"c": f.COUNTY, "g": f.C4, "t": team},
    )
    _check(db)
    # No duty for a grid: the team's county only.
    db.execute(text("DELETE FROM duty WHERE team_id = :t AND layer <> 'community'"), {"t": team})
    assert _check(db)[worker] == (team, f.COUNTY, None, None, None)


def test_teams_changed_and_deleted(db: Session) -> None:
    team = _team(db, f"T-{G1}")
    (worker,) = [m for m, r in _check(db).items() if r[0] == team]
    db.execute(text("DELETE FROM duty WHERE team_id = :t"), {"t": team})
    db.execute(text("UPDATE team SET county_code = '990102' WHERE id = :t"), {"t": team})
    assert _check(db)[worker] == (team, "990102", None, None, None)
    db.execute(text("UPDATE team SET name = '改名' WHERE id = :t"), {"t": team})
    _check(db)
    db.execute(text("DELETE FROM team WHERE id = :t"), {"t": team})  # members cascade
    assert worker not in _check(db)


def test_a_publication_moving_a_grid_to_another_community(db: Session) -> None:
    team = _team(db, f"T-{G1}")
    school = _team(db, f"T-{f.SCHOOL}")
    version = boundaries.create_version(
        db, name="G1 to C2", created_by="test", county_code=f.COUNTY
    )
    west, south = f.GRIDS[G1][1:]
    boundaries.stage_areas(
        db,
        version_id=version.id,
        rows=[
            boundaries.AreaRow(
                f.COUNTY,
                "grid",
                G1,
                "第1网格",
                box(west, south, west + 0.01, south + 0.02),
                f.C2,
                households=40,
            )
        ],
    )
    activation.activate_version(db, version_id=version.id, activated_by="test")
    kept = _check(db)
    moved = (f.COUNTY, f.T1, f.C2)
    assert {r[1:4] for r in kept.values() if r[0] in (team, school)} == {moved}


def test_truncate(db: Session) -> None:
    db.execute(text("TRUNCATE member"))
    assert _check(db) == {}
    db.rollback()
    db.execute(text("TRUNCATE duty"))
    assert {r[1:] for r in _check(db).values()} == {(f.COUNTY, None, None, None)}


def _at_once(url: str, first: str, second: str, params: dict[str, Any]) -> None:
    """`first` in one transaction, `second` in another meanwhile (it must wait for the
    first's lock), then the first commits, then the second."""
    engine = make_engine(url, pool_size=2)
    try:
        with engine.connect() as one, engine.connect() as two:
            one.execute(text(first), params)
            pid = two.execute(text("SELECT pg_backend_pid()")).scalar_one()
            done: list[Exception | None] = []

            def run() -> None:
                try:
                    two.execute(text(second), params)
                    two.commit()
                    done.append(None)
                except Exception as e:  # handed to the test's thread
                    done.append(e)

            worker = threading.Thread(target=run)
            worker.start()
            waited = False
            for _ in range(100):
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
            one.commit()
            worker.join(10)
            assert done == [None] and waited
    finally:
        engine.dispose()


def test_two_transactions_writing_the_roster_at_once(url: str, db: Session) -> None:
    """Two grid workers added at once: both rows there, once. A grid worker added while
    another transaction moves its team's duty, in either order: the worker's row has the
    new grid (whichever recomputes last sees the other's committed write)."""
    add = (
        "INSERT INTO member (team_id, name, role) "
        "SELECT id, :n, 'grid_worker' FROM team WHERE code = :t"
    )
    move = (
        "UPDATE duty SET area_code = :g "
        "WHERE team_id = (SELECT id FROM team WHERE code = :t) AND layer = 'grid'"
    )
    team = _team(db, f"T-{G1}")
    db.rollback()
    try:
        _at_once(url, add, add.replace(":n", "'并发乙'"), {"n": "并发甲", "t": f"T-{G1}"})
        kept = _check(db)
        name = dict(db.execute(text("SELECT id, name FROM member")).all())
        added = [name[m] for m, r in kept.items() if r[0] == team and name[m].startswith("并发")]
        assert sorted(added) == ["并发乙", "并发甲"]
        db.rollback()
        _at_once(url, add, move, {"n": "并发丙", "t": f"T-{G1}", "g": G2})
        assert {r[1:] for r in _check(db).values() if r[0] == team} == {_chain(G2)}
        db.rollback()
        _at_once(url, move, add, {"n": "并发丁", "t": f"T-{G1}", "g": G1})
        assert {r[1:] for r in _check(db).values() if r[0] == team} == {_chain(G1)}
    finally:
        db.rollback()
        db.execute(text("DELETE FROM member WHERE name LIKE '并发%'"))
        db.execute(
            text("UPDATE duty SET area_code = :g WHERE team_id = :t AND layer = 'grid'"),
            {"g": G1, "t": team},
        )
        db.commit()
    assert _check(db)


def test_a_roster_import_row_by_row(db: Session) -> None:
    """gridmap.teams' imports write one statement a row (executemany): each keeps it."""
    ids = {f"T-{g}": _team(db, f"T-{g}") for g in f.GRIDS}
    members = [(code, f"员{i}", "grid_worker", None) for i, code in enumerate(sorted(ids) * 2)]
    teams.replace_members(db, team_ids=ids, members=members)
    assert len(_check(db)) == 2 * len(f.GRIDS) + 1
    db.execute(text("DELETE FROM duty WHERE layer = 'grid'"))
    teams.set_duties(
        db,
        county_code=f.COUNTY,
        duties=[teams.DutyRow("grid", g, f"T-{g}") for g in f.GRIDS],
    )
    teams.set_duties(db, county_code=f.COUNTY, duties=[teams.DutyRow("grid", G_EAST, f"T-{G1}")])
    kept = _check(db)
    assert {r[1:] for r in kept.values() if r[0] == ids[f"T-{G1}"]} == {_chain(G1)}


def test_downgrade_and_upgrade_leave_the_same_roll(url: str, db: Session) -> None:
    kept = _check(db)
    db.rollback()
    downgrade(url, "0022")
    indexes = set(
        db.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'event'")).scalars()
    )
    assert "ix_event_township" in indexes and "ix_event_township_received" not in indexes
    assert db.execute(text("SELECT to_regclass('grid_worker_roll')")).scalar_one() is None
    db.rollback()
    migrate(url)
    assert _check(db) == kept


def test_a_townships_month_of_events_is_read_by_its_index(db: Session) -> None:
    """Two years of events over 40 townships (not stored in time order), enough that the
    planner weighs the indexes."""
    db.execute(
        text(
            """INSERT INTO event (county_code, source, external_id, category_code, priority,
                                  status, description, reported_at, received_at,
                                  township_code, on_boundary, outside_coverage, routing,
                                  escalation_level, overdue, row_version)
               SELECT CAST(:c AS text), 'roll', 'R' || i, 'X', 'routine', 'closed', '', at, at,
                      CAST(:c AS text) || lpad((i % 40)::text, 3, '0'), FALSE, FALSE, '{}',
                      'grid', FALSE, 1
               FROM generate_series(1, 20000) i, LATERAL (
                   SELECT timestamptz '2025-12-01' + (i * 7919 % 20000) * interval '52 minutes'
                   AS at) t"""
        ),
        {"c": f.COUNTY},
    )
    db.execute(text("ANALYZE event"))
    plan = "\n".join(
        db.execute(
            text(
                """EXPLAIN SELECT e.id, e.status, e.category_code, e.received_at
                   FROM event e WHERE e.township_code = ANY(:t)
                   AND e.received_at >= :a AND e.received_at < :b"""
            ),
            {
                "t": [f.T1],
                "a": dt.datetime(2026, 10, 31, 16, tzinfo=dt.UTC),
                "b": dt.datetime(2026, 11, 30, 16, tzinfo=dt.UTC),
            },
        ).scalars()
    )
    assert "ix_event_township_received" in plan, plan
