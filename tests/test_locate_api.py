"""GET/POST /api/locate over HTTP on the small test county."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from gridmap.crs import from_wgs84
from gridmap.settings import Settings
from tests import factories as f


@pytest.fixture
def client(db_url: str, session: Session, tmp_path) -> Iterator[TestClient]:
    f.load_small_county(session)
    session.commit()
    with TestClient(create_app(Settings(database_url=db_url, home=tmp_path))) as c:
        yield c


def test_locate_names_grid_community_township_zone_team_and_department(
    client: TestClient,
) -> None:
    lon, lat = f.SmallCounty.grid_center(f"{f.C4}001")
    gx, gy = from_wgs84(np.array([lon]), np.array([lat]), "gcj02")
    body = client.get(
        "/api/locate",
        params={"lon": float(gx[0]), "lat": float(gy[0]), "crs": "gcj02", "category": "VEND"},
    ).json()
    assert body["grid"]["code"] == f"{f.C4}001"
    assert body["chain"]["community"]["code"] == f.C4
    assert body["chain"]["township"]["code"] == f.T2
    assert body["chain"]["county"]["code"] == f.COUNTY
    assert body["enforcement_zone"]["code"] == f.ZONE_EAST
    assert body["team"]["code"] == f"T-{f.C4}001"
    assert body["decision"]["mode"] == "cooperate"
    assert body["decision"]["department"]["code"] == "ZF"
    assert body["input"]["crs"] == "gcj02"
    assert abs(body["point"]["lon"] - lon) < 1e-7


def test_batch_locate_keeps_input_order_for_points_and_geojson(client: TestClient) -> None:
    codes = [f"{f.C3}001", f"{f.C1}002", f"{f.C2}001"]
    points = [list(f.SmallCounty.grid_center(c)) for c in codes]
    answer = client.post("/api/locate", json={"crs": "wgs84", "points": points}).json()
    assert [r["grid"]["code"] for r in answer["results"]] == codes
    fc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": p}}
            for p in points
        ],
    }
    answer = client.post("/api/locate", json=fc).json()
    assert [r["grid"]["code"] for r in answer["results"]] == codes


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({"lon": 112.9, "lat": 95}, 422, "latitude 95"),
        ({"lon": "nan", "lat": 35.8}, 422, "numbers"),
        ({"lon": 112.9, "lat": 35.8, "crs": "mars"}, 422, "mars"),
        ({"lon": 112.9, "lat": 35.8, "category": "NOPE"}, 422, "NOPE"),
        ({"lon": "east", "lat": 35.8}, 422, "lon"),
    ],
)
def test_bad_single_points_get_a_4xx_saying_what_was_wrong(
    client: TestClient, params: dict[str, object], status: int, fragment: str
) -> None:
    response = client.get("/api/locate", params=params)
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]


def test_bad_batches_are_refused(client: TestClient) -> None:
    r = client.post("/api/locate", json={"points": [[112.9, 35.8], ["x", 1]]})
    assert r.status_code == 422 and "points[1]" in r.json()["error"]["message"]
    r = client.post("/api/locate", json={"points": [[112.9, 35.8], [112.9, 91]]})
    assert r.status_code == 422 and "point 1" in r.json()["error"]["message"]
    r = client.post(
        "/api/locate", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    huge = b'{"points": [' + b",".join([b"[112.9,35.8]"] * 2_000_000) + b"]}"
    r = client.post("/api/locate", content=huge, headers={"content-type": "application/json"})
    assert r.status_code == 413
    many = {"points": [[112.9, 35.8]] * 100_001}
    r = client.post("/api/locate", json=many)
    assert r.status_code == 413 and "100000" in r.json()["error"]["message"]
