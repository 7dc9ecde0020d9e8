"""Every boundary write route, walked by callers against areas outside their jurisdiction:
403 or 404, and nothing stored changes (issue #16 item 1, issue #15 item 1).

The small county (tests/factories.py): township T1 (communities C1, C2) and T2 (C3, C4),
plus county B beside it (tests/two_counties.py). A township planner and a township admin
of T1 walk every write against T2's objects; a planner of county A walks them against
county B. Each also holds a "stale" draft: one made in the other side's area before its
jurisdiction changed (made here through the domain), which every write must refuse too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString, box
from sqlalchemy import Engine, text

from gridmap.boundaries import activation, drafts
from gridmap.boundaries import versions as boundaries
from gridmap.boundaries.versions import AreaRow
from gridmap.db import session_factory
from tests import factories as f
from tests import two_counties as b
from tests.county_users import add_accounts
from tests.logins import login, service_with_login

C3_G1, C3_G2 = f"{f.C3}001", f"{f.C3}002"  # two grids of township T2
B_C1, B_G1 = b.b_code(f.C1), b.b_code(f.G1)
USERS = [
    ("t1-planner", "planner", [f.T1]),
    ("t1-admin", "admin", [f.T1]),
    ("planner-a", "planner", [f.COUNTY]),
    ("planner-b", "planner", [b.COUNTY_B]),
]


@dataclass
class World:
    url: str
    engine: Engine
    first: int  # county A's first version
    t2_change: int  # a later version of A that changed a grid of T2 only
    county_b: int


@pytest.fixture
def db_url(small_county_db_url: str) -> str:
    return small_county_db_url


@pytest.fixture
def world(small_county_db_url: str, engine: Engine) -> World:
    with session_factory(engine)() as s:
        active = boundaries.active_version(s, county_code=f.COUNTY)
        assert active is not None
        first = active.id
        county_b = b.load_county_b(s)
        s.commit()
        row = next(r for r in f.area_rows() if r.code == C3_G1)
        version = boundaries.create_version(
            s, name="T2 count", created_by="p", county_code=f.COUNTY
        )
        boundaries.stage_areas(
            s,
            version_id=version.id,
            rows=[AreaRow(f.COUNTY, "grid", C3_G1, row.name, row.geom, f.C3, 41)],
        )
        t2_change = activation.activate_version(
            s, version_id=version.id, activated_by="p"
        ).version_id
        s.commit()
    add_accounts(small_county_db_url, users=USERS)
    return World(small_county_db_url, engine, first, t2_change, county_b)


@pytest.fixture
def app(world: World, tmp_path: Path) -> Iterator[TestClient]:
    yield from service_with_login(world.url, tmp_path)


def stored(world: World) -> dict[str, Any]:
    """Everything a boundary write could change, as stored."""
    queries = {
        "area": "SELECT id, county_code, layer, code, name, parent_code, households, "
        "valid_from, valid_to, md5(ST_AsBinary(geom)) FROM area ORDER BY id",
        "version": "SELECT id, status, base_version_id, county_code, name, note, summary::text "
        "FROM boundary_version ORDER BY id",
        "draft_area": "SELECT version_id, action, layer, code, households, "
        "md5(coalesce(ST_AsBinary(geom), '')) FROM draft_area ORDER BY version_id, layer, code",
        "draft_edit": "SELECT id, version_id, seq, undone FROM draft_edit ORDER BY id",
        "event_log": "SELECT count(*) FROM event_log",
    }
    with world.engine.connect() as conn:
        return {k: [tuple(r) for r in conn.execute(text(q))] for k, q in queries.items()}


def stale_draft(world: World, *, author: str, community: str, grid: str, cut: float) -> int:
    """A draft of `community` by `author` with a split of `grid` staged and undone and
    redone (so undo and redo both have something to do), made through the domain."""
    with session_factory(world.engine)() as s:
        draft = drafts.create_draft(s, author=author, layer="community", code=community)
        line = LineString([(cut, 35.77), (cut, 35.81)])
        drafts.apply_edit(s, draft_id=draft.id, author=author, edit=drafts.Split(grid, line))
        s.commit()
        return draft.id


def grid_file(tmp_path: Path, *, code: str, parent: str, west: float) -> Path:
    path = tmp_path / f"{code}.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": code, "name": "网格", "parent_code": parent},
                        "geometry": json.loads(
                            json.dumps(box(west, 35.78, west + 0.01, 35.80).__geo_interface__)
                        ),
                    }
                ],
            }
        )
    )
    return path


def writes_on_a_draft(
    draft_id: int, *, grid: str, other: str, community: str, west: float, upload: Path
) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every write route of the editor on draft `draft_id`, aimed at `grid` (and its
    neighbour `other`) of `community`, whose west edge is at `west`."""
    d = f"/api/drafts/{draft_id}"
    line = {"type": "LineString", "coordinates": [[west + 0.005, 35.77], [west + 0.005, 35.81]]}
    square = box(west + 0.002, 35.782, west + 0.004, 35.784).__geo_interface__
    return [
        ("POST", f"{d}/edits", {"op": "split", "code": grid, "line": line}),
        ("POST", f"{d}/edits", {"op": "merge", "codes": [grid, other]}),
        ("POST", f"{d}/edits", {"op": "reshape", "code": grid, "geometry": square}),
        ("POST", f"{d}/edits", {"op": "delete", "code": grid, "into": other}),
        ("POST", f"{d}/edits", {"op": "add", "geometry": square, "community": community}),
        ("POST", f"{d}/edits", {"op": "regenerate", "community": community}),
        ("UPLOAD", f"{d}/upload", {"path": str(upload)}),
        ("POST", f"{d}/undo", None),
        ("POST", f"{d}/redo", None),
        ("POST", f"{d}/rebase", {"keep_mine": True}),
        ("POST", f"{d}/publish", {"reason": "mine", "accept_problems": True}),
    ]


def send(client: TestClient, method: str, path: str, body: dict[str, Any] | None) -> Any:
    if method == "UPLOAD":
        assert body is not None
        upload = Path(body["path"])
        return client.post(
            path,
            files={"file": (upload.name, upload.read_bytes(), "application/geo+json")},
            data={"crs": "wgs84"},
        )
    return client.post(path, json=body) if body is not None else client.post(path)


def walk(
    client: TestClient, calls: Sequence[tuple[str, str, dict[str, Any] | None]], allowed: set[int]
) -> list[str]:
    """Send each call; the ones answered outside `allowed`, or naming county B."""
    wrong = []
    for method, path, body in calls:
        answer = send(client, method, path, body)
        if answer.status_code not in allowed or b.MARK in answer.text:
            wrong.append(f"{method} {path} {body and body.get('op')}: {answer.status_code}")
    return wrong


@pytest.mark.parametrize("username", ["t1-planner", "t1-admin"])
def test_a_township_user_writes_nothing_of_another_township(
    world: World, app: TestClient, tmp_path: Path, username: str
) -> None:
    user = login(app, username)
    own = user.post("/api/drafts", json={"layer": "township", "code": f.T1})
    assert own.status_code == 201, own.text
    own_id = own.json()["id"]
    stale = stale_draft(world, author=f"user:{username}", community=f.C3, grid=C3_G1, cut=112.925)
    others = login(app, "planner-a").post("/api/drafts", json={"layer": "township", "code": f.T2})
    assert others.status_code == 201
    upload = grid_file(tmp_path, code=f"{f.C3}009", parent=f.C3, west=112.92)
    before = stored(world)

    creates: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/api/drafts", {"layer": "community", "code": f.C3}),
        ("POST", "/api/drafts", {"layer": "township", "code": f.T2}),
        ("POST", "/api/drafts", {"layer": "community", "code": B_C1}),
    ]
    restores: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", f"/api/versions/{world.first}/restore", {"reason": "back"}),
        ("POST", f"/api/versions/{world.county_b}/restore", {"reason": "back"}),
    ]
    aimed: dict[str, Any] = {
        "grid": C3_G1,
        "other": C3_G2,
        "community": f.C3,
        "west": 112.92,
        "upload": upload,
    }
    wrong = walk(user, creates + restores, {403})
    # Its own draft, aimed at T2's grids: what is not in the draft is not found, what it
    # names outside its areas is forbidden.
    wrong += walk(
        user, writes_on_a_draft(own_id, **aimed)[:4], {404}
    )  # split, merge, reshape, delete
    wrong += walk(user, writes_on_a_draft(own_id, **aimed)[4:7], {403})  # add, regenerate, upload
    wrong += walk(user, writes_on_a_draft(others.json()["id"], **aimed), {404})
    wrong += walk(user, writes_on_a_draft(stale, **aimed), {403})
    assert wrong == []
    assert stored(world) == before

    # The scoped lists: only versions that changed its areas, counts of those only.
    listed = user.get("/api/versions").json()["versions"]
    assert [v["id"] for v in listed] == [world.first]
    assert listed[0]["summary"]["added"] < len(f.area_rows())
    # The same user does work in its own township.
    line = {"type": "LineString", "coordinates": [[112.905, 35.77], [112.905, 35.81]]}
    split = user.post(
        f"/api/drafts/{own_id}/edits", json={"op": "split", "code": f.G1, "line": line}
    )
    assert split.status_code == 200, split.text
    published = user.post(
        f"/api/drafts/{own_id}/publish", json={"reason": "split", "accept_problems": True}
    )
    assert published.status_code == 200, published.text


def test_a_county_planner_writes_nothing_of_another_county(
    world: World, app: TestClient, tmp_path: Path
) -> None:
    planner = login(app, "planner-a")
    own = planner.post("/api/drafts", json={"layer": "community", "code": f.C1})
    assert own.status_code == 201
    stale = stale_draft(
        world, author="user:planner-a", community=B_C1, grid=B_G1, cut=112.905 + b.SHIFT
    )
    others = login(app, "planner-b").post("/api/drafts", json={"layer": "community", "code": B_C1})
    assert others.status_code == 201
    upload = grid_file(tmp_path, code=f"{B_C1}009", parent=B_C1, west=112.90 + b.SHIFT)
    aimed: dict[str, Any] = {
        "grid": B_G1,
        "other": b.b_code(f"{f.C1}002"),
        "community": B_C1,
        "west": 112.90 + b.SHIFT,
        "upload": upload,
    }
    before = stored(world)
    wrong = walk(
        planner,
        [
            ("POST", "/api/drafts", {"layer": "community", "code": B_C1}),
            ("POST", "/api/drafts", {"layer": "township", "code": b.b_code(f.T1)}),
            ("POST", f"/api/versions/{world.county_b}/restore", {"reason": "back"}),
        ],
        {403},
    )
    # B's codes do not exist in county A, where its own draft lives: not found there.
    wrong += walk(planner, writes_on_a_draft(own.json()["id"], **aimed)[:7], {404})
    wrong += walk(planner, writes_on_a_draft(others.json()["id"], **aimed), {404})
    wrong += walk(planner, writes_on_a_draft(stale, **aimed), {403})
    assert wrong == []
    assert stored(world) == before
