"""Two counties in one database, through every boundary door: nothing one county's users
do changes or shows the other county.

County A is the small county (990101, tests/factories.py), county B its copy 0.04° east
(990102, tests/two_counties.py, every name marked 乙). The timeline: A's first version
(made before B existed), then B's import, then A renames grid G2 (A's second version).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gridmap import messages
from gridmap.boundaries import activation
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.versions import AreaRow
from gridmap.db import session_factory
from gridmap.events import ingest
from gridmap.events.input import EventInput
from gridmap.models import Event
from gridmap.routing.router import Router
from gridmap.settings import Settings
from tests import factories as f
from tests import two_counties as b
from tests.county_users import add_accounts
from tests.logins import login, service_with_login
from tests.test_boundaries_cli import gridmap

G2 = f"{f.C1}002"
NEW = f"{f.C1}003"  # the grid a split of G1 adds
B_G1 = b.b_code(f.G1)
B_C1 = b.b_code(f.C1)
USERS = [
    ("planner-a", "planner", [f.COUNTY]),
    ("planner-b", "planner", [b.COUNTY_B]),
    ("admin-a", "admin", [f.COUNTY]),
    ("operator-a", "operator", [f.COUNTY]),
    ("operator-b", "operator", [b.COUNTY_B]),
]


class Two:
    def __init__(self, url: str, engine: Engine, a1: int, b1: int, a2: int) -> None:
        self.url, self.engine = url, engine
        self.a1, self.b1, self.a2 = a1, b1, a2

    def session(self) -> Session:
        return session_factory(self.engine)()

    def rows(self, county: str) -> list[tuple[Any, ...]]:
        """Every stored row of a county's areas, as it is (ids, ranges, names, geometry)."""
        with self.engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT id, layer, code, name, parent_code, households, valid_from, "
                        "valid_to, md5(ST_AsBinary(geom)) FROM area WHERE county_code = :c "
                        "ORDER BY id"
                    ),
                    {"c": county},
                )
            ]

    def version_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM boundary_version")).scalar_one())


def _rename_g2(session: Session) -> int:
    row = next(r for r in f.area_rows() if r.code == G2)
    version = boundaries.create_version(
        session, name="rename G2", created_by="planner", county_code=f.COUNTY
    )
    boundaries.stage_areas(
        session,
        version_id=version.id,
        rows=[AreaRow(row.county_code, "grid", G2, "第2网格（新）", row.geom, f.C1, 40)],
    )
    return activation.activate_version(session, version_id=version.id, activated_by="p").version_id


@pytest.fixture
def db_url(small_county_db_url: str) -> str:
    return small_county_db_url


@pytest.fixture
def two(small_county_db_url: str, engine: Engine) -> Iterator[Two]:
    with session_factory(engine)() as s:
        a1 = boundaries.active_version(s, county_code=f.COUNTY)
        assert a1 is not None
        a1_id = a1.id
        b1 = b.load_county_b(s)
        s.commit()
        a2 = _rename_g2(s)
        s.commit()
    add_accounts(small_county_db_url, users=USERS)
    yield Two(small_county_db_url, engine, a1_id, b1, a2)


@pytest.fixture
def app(two: Two, tmp_path: Path) -> Iterator[TestClient]:
    yield from service_with_login(two.url, tmp_path)


def report(external_id: str, lon: float, lat: float) -> EventInput:
    return EventInput(
        source="12345",
        external_id=external_id,
        category="ROAD",
        reported_at=dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC),
        description="路面坑洼",
        lon=lon,
        lat=lat,
    )


def open_events(two: Two, tmp_path: Path, *points: tuple[str, float, float]) -> dict[str, int]:
    router = Router(session_factory(two.engine), Settings(database_url=two.url, home=tmp_path))
    ids = {}
    with two.session() as s:
        for name, lon, lat in points:
            event, _ = ingest.ingest_event(
                s, router=router, payload=report(name, lon, lat), actor="hotline"
            )
            ids[name] = event.id
        s.commit()
    return ids


def event_row(two: Two, event_id: int) -> dict[str, Any]:
    with two.session() as s:
        e = s.get(Event, event_id)
        assert e is not None
        team = s.execute(text("SELECT code FROM team WHERE id = :i"), {"i": e.team_id}).scalar()
        # A system step is stored as a catalogue code and its parameters; the reader sees
        # the sentence in their language, so the test reads it the same way.
        log = [
            (
                r.action,
                messages.note_text(r.data["note_code"], r.data.get("note_params"), "en")
                if r.data and "note_code" in r.data
                else r.note,
            )
            for r in s.execute(
                text("SELECT action, note, data FROM event_log WHERE event_id = :i ORDER BY id"),
                {"i": event_id},
            )
        ]
        return {
            "county": e.county_code,
            "grid": e.grid_code,
            "team": team,
            "version": e.version_id,
            "log": log,
        }


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


# --- the API's restore ------------------------------------------------------------------


def test_a_restore_of_a_version_from_before_the_other_county_leaves_that_county_alone(
    two: Two, app: TestClient
) -> None:
    before_b = two.rows(b.COUNTY_B)
    planner_a = login(app, "planner-a")
    answer = planner_a.post(f"/api/versions/{two.a1}/restore", json={"reason": "undo rename"})
    published = ok(answer)
    # Only A's grid G2 came back; B is stored exactly as it was and named nowhere.
    assert [(c["code"], c["change"]) for c in published["diff"]["changes"]] == [(G2, "changed")]
    assert b.MARK not in answer.text and b.COUNTY_B not in answer.text
    assert two.rows(b.COUNTY_B) == before_b
    with two.session() as s:
        active = boundaries.active_versions(s)
        assert active == {f.COUNTY: published["version"], b.COUNTY_B: two.b1}
        grid_names = {
            (r.county_code, r.code): r.name
            for r in boundaries.areas_in_version(
                s, version_id=published["version"], layers=["grid"]
            )
        }
    assert grid_names[(f.COUNTY, G2)] == "第2网格" and len(grid_names) == 16


def test_a_planner_of_one_county_cannot_restore_see_or_list_the_other(
    two: Two, app: TestClient
) -> None:
    before = (two.rows(f.COUNTY), two.rows(b.COUNTY_B), two.version_count())
    planner_a = login(app, "planner-a")
    for who in (planner_a, login(app, "admin-a")):
        refused = who.post(f"/api/versions/{two.b1}/restore", json={"reason": "mine now"})
        assert refused.status_code == 403, refused.text
        assert b.MARK not in refused.text
        assert who.get(f"/api/versions/{two.b1}").status_code == 403
        geojson = who.get(f"/api/versions/{two.b1}", params={"f": "geojson"})
        assert geojson.status_code == 403 and b.MARK not in geojson.text
    assert (two.rows(f.COUNTY), two.rows(b.COUNTY_B), two.version_count()) == before

    listed = ok(planner_a.get("/api/versions"))["versions"]
    assert [v["id"] for v in listed] == [two.a1, two.a2]
    assert {v["county_code"] for v in listed} == {f.COUNTY}
    assert [v["id"] for v in ok(login(app, "planner-b").get("/api/versions"))["versions"]] == [
        two.b1
    ]
    # A's own export holds A only, each feature saying its county.
    features = ok(planner_a.get(f"/api/versions/{two.a2}", params={"f": "geojson"}))["features"]
    assert {feat["properties"]["county_code"] for feat in features} == {f.COUNTY}
    # Search finds nothing of B for A's users, and B's names for B's.
    found = ok(login(app, "operator-a").get("/api/search", params={"q": b.MARK}))
    assert found["results"] == []
    found_b = ok(login(app, "operator-b").get("/api/search", params={"q": b.MARK}))
    assert found_b["results"] and b.MARK in json.dumps(found_b["results"], ensure_ascii=False)


# --- the editor -------------------------------------------------------------------------


def test_drafts_of_the_other_county_are_refused_and_a_publish_changes_one_county(
    two: Two, app: TestClient, tmp_path: Path
) -> None:
    events = open_events(
        two,
        tmp_path,
        ("A-G1-EAST", 112.908, 35.79),
        ("B-G1-EAST", 112.908 + b.SHIFT, 35.79),
    )
    planner_a, planner_b = login(app, "planner-a"), login(app, "planner-b")
    before = (two.rows(f.COUNTY), two.rows(b.COUNTY_B), two.version_count())
    for layer, code in (("community", B_C1), ("township", b.b_code(f.T1))):
        refused = planner_a.post("/api/drafts", json={"layer": layer, "code": code})
        assert refused.status_code == 403, refused.text
        assert b.MARK not in refused.text
    assert (two.rows(f.COUNTY), two.rows(b.COUNTY_B), two.version_count()) == before

    draft = ok(planner_b.post("/api/drafts", json={"layer": "community", "code": B_C1}), 201)
    line = {"type": "LineString", "coordinates": [[112.905 + b.SHIFT, 35.78], [112.945, 35.80]]}
    ok(
        planner_b.post(
            f"/api/drafts/{draft['id']}/edits", json={"op": "split", "code": B_G1, "line": line}
        )
    )
    published = ok(
        planner_b.post(
            f"/api/drafts/{draft['id']}/publish",
            json={"reason": "split", "accept_problems": True},
        )
    )
    assert two.rows(f.COUNTY) == before[0]
    moved = event_row(two, events["B-G1-EAST"])
    assert (moved["grid"], moved["version"]) == (b.b_code(NEW), published["version"])
    untouched = event_row(two, events["A-G1-EAST"])
    assert (untouched["grid"], untouched["version"]) == (f.G1, two.a2)
    assert [r["event"] for r in published["rerouted"]] == [events["B-G1-EAST"]]


# --- routing as of a moment, and every county at once -----------------------------------


def test_routing_shows_every_county_and_answers_as_of_each_countys_version_then(
    two: Two, tmp_path: Path
) -> None:
    with two.session() as s:
        when: dict[int, dt.datetime] = dict(
            s.execute(
                text("SELECT id, activated_at FROM boundary_version WHERE id IN (:b, :a)"),
                {"b": two.b1, "a": two.a2},
            ).all()
        )
    between = when[two.b1] + (when[two.a2] - when[two.b1]) / 2
    router = Router(session_factory(two.engine), Settings(database_url=two.url, home=tmp_path))
    a_lon, a_lat = f.SmallCounty.grid_center(G2)
    b_lon, b_lat = b.b_grid_center(b.b_code(G2))

    now_a, now_b = router.route(a_lon, a_lat), router.route(b_lon, b_lat)
    assert (now_a.grid and now_a.grid.name, now_a.version) == ("第2网格（新）", two.a2)
    assert (now_b.grid and now_b.grid.code, now_b.version) == (b.b_code(G2), two.b1)
    assert now_b.team is not None and now_b.team.code == f"T-{b.b_code(G2)}"

    then_a, then_b = router.route(a_lon, a_lat, at=between), router.route(b_lon, b_lat, at=between)
    assert (then_a.grid and then_a.grid.name, then_a.version) == ("第2网格", two.a1)
    assert (then_b.grid and then_b.grid.code, then_b.version) == (b.b_code(G2), two.b1)
    # Before B was loaded, its place was outside every county.
    before_b = when[two.b1] - dt.timedelta(microseconds=1)
    assert router.route(b_lon, b_lat, at=before_b).grid is None
    # The features every GIS reads hold both counties' active grids.
    from api.app import create_app

    with TestClient(create_app(Settings(database_url=two.url, home=tmp_path))) as client:
        items = ok(client.get("/ogc/collections/grid/items", params={"limit": 100}))
    assert {feat["properties"]["county_code"] for feat in items["features"]} == {
        f.COUNTY,
        b.COUNTY_B,
    }
    assert len(items["features"]) == 2 * len(f.GRIDS)


# --- the command line -------------------------------------------------------------------


def _stage_split_of_g1(two: Two) -> int:
    """A staged version of county A that splits G1 at lon 112.905 (40 households each)."""
    g1 = next(r for r in f.area_rows() if r.code == f.G1)
    west, south, east, north = g1.geom.bounds
    from shapely.geometry import box

    with two.session() as s:
        version = boundaries.create_version(
            s, name="split G1", created_by="planner", county_code=f.COUNTY, status="staged"
        )
        boundaries.stage_areas(
            s,
            version_id=version.id,
            rows=[
                AreaRow(
                    f.COUNTY, "grid", f.G1, "第1网格", box(west, south, 112.905, north), f.C1, 40
                ),
                AreaRow(
                    f.COUNTY, "grid", NEW, "第9网格", box(112.905, south, east, north), f.C1, 40
                ),
            ],
        )
        s.commit()
        return version.id


def test_a_cli_activation_reroutes_open_events_and_a_cli_restore_touches_one_county(
    two: Two, tmp_path: Path
) -> None:
    events = open_events(
        two,
        tmp_path,
        ("A-G1-EAST", 112.908, 35.79),
        ("A-G1-WEST", 112.902, 35.79),
        ("B-G1-EAST", 112.908 + b.SHIFT, 35.79),
    )
    staged = _stage_split_of_g1(two)
    before_b = two.rows(b.COUNTY_B)
    activated = gridmap(two.url, tmp_path, "boundaries", "activate", str(staged))
    assert activated.returncode == 0, activated.stdout + activated.stderr
    with two.session() as s:
        version = boundaries.active_version(s, county_code=f.COUNTY)
        assert version is not None
        new_version = version.id
    moved = event_row(two, events["A-G1-EAST"])
    assert (moved["grid"], moved["team"], moved["version"]) == (NEW, f"T-{f.C1}", new_version)
    assert (
        "reroute",
        f"Re-routed from grid {f.G1} to grid {NEW} by version {new_version}",
    ) in moved["log"]
    assert event_row(two, events["A-G1-WEST"])["grid"] == f.G1
    assert event_row(two, events["B-G1-EAST"])["version"] == two.b1
    assert two.rows(b.COUNTY_B) == before_b

    restored = gridmap(
        two.url, tmp_path, "boundaries", "restore", str(two.a1), "--publish", "--note", "back"
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert b.MARK not in restored.stdout and b.COUNTY_B not in restored.stdout
    assert two.rows(b.COUNTY_B) == before_b
    back = event_row(two, events["A-G1-EAST"])
    assert back["grid"] == f.G1 and back["version"] > new_version


def test_exports_and_route_output_carry_the_county(two: Two, tmp_path: Path) -> None:
    own = tmp_path / "a.geojson"
    done = gridmap(two.url, tmp_path, "boundaries", "export", str(two.a2), "-o", str(own))
    assert done.returncode == 0, done.stderr
    features = json.loads(own.read_text())["features"]
    assert {feat["properties"]["county_code"] for feat in features} == {f.COUNTY}
    assert len(features) == len(f.area_rows())

    both = tmp_path / "all.gpkg"
    done = gridmap(
        two.url, tmp_path, "boundaries", "export", str(two.a2), "-o", str(both), "--county", "all"
    )
    assert done.returncode == 0, done.stderr
    import pyogrio

    frame = pyogrio.read_dataframe(both)
    assert set(frame["county_code"]) == {f.COUNTY, b.COUNTY_B}
    # Importing that file for one county takes that county's rows only: nothing changes.
    again = gridmap(
        two.url, tmp_path, "boundaries", "import", str(both), "--county", b.COUNTY_B, "--force"
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"0 added, 0 changed, 0 removed, {len(f.area_rows())} unchanged" in again.stdout

    missing = tmp_path / "missing.geojson"
    done = gridmap(two.url, tmp_path, "boundaries", "export", "9999", "-o", str(missing))
    assert done.returncode != 0 and not missing.exists()
    assert "9999" in done.stdout + done.stderr

    points = tmp_path / "points.csv"
    a_lon, a_lat = f.SmallCounty.grid_center(G2)
    b_lon, b_lat = b.b_grid_center(b.b_code(G2))
    points.write_text(f"lon,lat\n{a_lon},{a_lat}\n{b_lon},{b_lat}\n")
    routed = tmp_path / "routed.csv"
    done = gridmap(two.url, tmp_path, "route", str(points), "-o", str(routed))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(routed.open()))
    assert [(r["county_code"], r["grid_code"]) for r in rows] == [
        (f.COUNTY, G2),
        (b.COUNTY_B, b.b_code(G2)),
    ]


def test_a_publish_in_one_county_leaves_the_other_countys_drafts_current(
    two: Two, app: TestClient
) -> None:
    planner_a, planner_b = login(app, "planner-a"), login(app, "planner-b")
    draft_a = ok(planner_a.post("/api/drafts", json={"layer": "community", "code": f.C1}), 201)
    line = {"type": "LineString", "coordinates": [[112.905, 35.77], [112.905, 35.81]]}
    ok(
        planner_a.post(
            f"/api/drafts/{draft_a['id']}/edits", json={"op": "split", "code": f.G1, "line": line}
        )
    )
    # County B publishes meanwhile (a later id than A's draft).
    draft_b = ok(planner_b.post("/api/drafts", json={"layer": "community", "code": B_C1}), 201)
    line_b = {"type": "LineString", "coordinates": [[112.945, 35.77], [112.945, 35.81]]}
    ok(
        planner_b.post(
            f"/api/drafts/{draft_b['id']}/edits", json={"op": "split", "code": B_G1, "line": line_b}
        )
    )
    published_b = ok(
        planner_b.post(
            f"/api/drafts/{draft_b['id']}/publish", json={"reason": "b", "accept_problems": True}
        )
    )
    # A's draft is still on A's active version: nothing changed since, a rebase is a no-op.
    diff = ok(planner_a.get(f"/api/drafts/{draft_a['id']}/diff"))
    assert diff["changed_since_base"] == []
    rebased = ok(planner_a.post(f"/api/drafts/{draft_a['id']}/rebase"))
    assert rebased["base_version"] == two.a2
    published_a = ok(
        planner_a.post(
            f"/api/drafts/{draft_a['id']}/publish", json={"reason": "a", "accept_problems": True}
        )
    )
    # Published after B's version, A's gets a later id: ids follow publication.
    assert published_a["version"] > published_b["version"] > draft_a["id"]
    with two.session() as s:
        assert boundaries.active_versions(s) == {
            f.COUNTY: published_a["version"],
            b.COUNTY_B: published_b["version"],
        }
        draft_row = boundaries.get_version(s, version_id=draft_a["id"])
        assert draft_row.summary.get("published_as") == published_a["version"]
        grids = {
            r.code
            for r in boundaries.areas_in_version(
                s, version_id=published_a["version"], layers=["grid"]
            )
        }
    assert {NEW, b.b_code(NEW)} <= grids


def test_versions_from_before_counties_get_their_county_without_loss(two: Two) -> None:
    """Migration 0011 on data as it was stored before: versions without a county, one
    active version for the whole database (here: A's rename, after B's import)."""
    from gridmap.db import downgrade, migrate

    with two.session() as s:
        empty = boundaries.create_version(s, name="empty legacy draft", created_by="p")
        s.commit()
        empty_id = empty.id
    areas = two.rows(f.COUNTY) + two.rows(b.COUNTY_B)
    two.engine.dispose()
    downgrade(two.url, "0010")
    with two.engine.begin() as conn:
        conn.execute(text("UPDATE boundary_version SET county_code = NULL"))
        legacy: dict[int, str] = dict(
            conn.execute(text("SELECT id, status FROM boundary_version")).all()
        )
    assert legacy[two.a2] == "active" and legacy[two.b1] == "retired"
    two.engine.dispose()
    migrate(two.url)
    with two.session() as s:
        counties: dict[int, str | None] = dict(
            s.execute(text("SELECT id, county_code FROM boundary_version")).all()
        )
        assert counties == {
            two.a1: f.COUNTY,
            two.b1: b.COUNTY_B,
            two.a2: f.COUNTY,
            empty_id: None,  # no rows, two counties: nothing says whose it is
        }
        assert boundaries.active_versions(s) == {f.COUNTY: two.a2, b.COUNTY_B: two.b1}
        assert boundaries.get_version(s, version_id=two.a1).status == "retired"
    assert two.rows(f.COUNTY) + two.rows(b.COUNTY_B) == areas
