"""Two service nodes (`gridmap serve` on two ports) sharing one database coordinate through
PostgreSQL alone: an event posted to one is on a map connected to the other within a
second, and a boundary publish on one re-routes on the other."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from tests import factories as f
from tests.servers import running_service

CUT = 112.905
NEW = f"{f.C1}003"  # the grid the split makes (the next code in community C1)
PLANNER = {"X-Gridmap-User": "planner-a"}


def add_buildings(db_url: str) -> None:
    """80 households in G1, 40 each side of lon 112.905, so the split makes two valid grids."""
    conninfo = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        for i, lon in enumerate([112.9020, 112.9030, 112.9040, 112.9045]):
            for j, x in enumerate([lon, lon + 0.005]):
                conn.execute(
                    "INSERT INTO building (county_code, code, households, point, attributes) "
                    "VALUES (%s, %s, 10, ST_SetSRID(ST_MakePoint(%s, 35.79), 4326), '{}')",
                    (f.COUNTY, f"B{i}{j}", x),
                )


def ticket(external_id: str, lon: float, lat: float) -> dict[str, object]:
    return {
        "source": "12345",
        "external_id": external_id,
        "category": "ROAD",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reported_at": "2026-11-21T09:30:00+08:00",
    }


@dataclass
class Map:
    """A command view's stream on one node: when each event.created reached it."""

    base: str
    heard: dict[int, float] = field(default_factory=dict)
    connected: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(5, read=1)) as http,
            http.stream("GET", f"{self.base}/api/stream") as response,
        ):
            assert response.status_code == 200
            kind = ""
            lines = response.iter_lines()
            while not self.stop.is_set():
                try:
                    line = next(lines)
                except (httpx.ReadTimeout, StopIteration):
                    return
                self.connected.set()
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "event.created":
                    self.heard[json.loads(line[6:])["id"]] = time.monotonic()


def test_two_nodes_share_the_stream_and_the_routing_index(
    small_county_db_url: str, tmp_path: Path
) -> None:
    add_buildings(small_county_db_url)
    env = {"GRIDMAP_OVERDUE_CHECK_SECONDS": "0"}
    with (
        running_service(small_county_db_url, tmp_path / "a", env=env) as node_a,
        running_service(small_county_db_url, tmp_path / "b", env=env) as node_b,
    ):
        on_b = Map(node_b)
        reader = threading.Thread(target=on_b.run)
        reader.start()
        try:
            assert on_b.connected.wait(10), "the map on node B did not connect"
            # Events posted to node A, heard on node B.
            sent: dict[int, float] = {}
            with httpx.Client(base_url=node_a, timeout=10) as a:
                for n in range(5):
                    lon, lat = f.SmallCounty.grid_center(f.G1)
                    t0 = time.monotonic()
                    response = a.post("/api/events", json=ticket(f"TWO-{n}", lon, lat))
                    assert response.status_code == 201, response.text
                    sent[response.json()["id"]] = t0
                    time.sleep(0.2)
            deadline = time.monotonic() + 5
            while not set(sent) <= set(on_b.heard) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            on_b.stop.set()
            reader.join(timeout=10)
        delays = {i: on_b.heard[i] - t0 for i, t0 in sent.items() if i in on_b.heard}
        assert set(delays) == set(sent), f"node B's map missed {set(sent) - set(delays)}"
        assert max(delays.values()) < 1.0, f"posted on A, on B's map after {delays} s"

        # A planner publishes a split of G1 on node A; node B routes by the new boundary.
        with httpx.Client(timeout=30) as http:
            before = http.get(f"{node_b}/api/locate", params={"lon": 112.908, "lat": 35.79})
            assert before.json()["grid"]["code"] == f.G1
            draft = http.post(
                f"{node_a}/api/drafts",
                json={"layer": "community", "code": f.C1},
                headers=PLANNER,
            ).json()
            line = {"type": "LineString", "coordinates": [[CUT, 35.78], [CUT, 35.80]]}
            split = http.post(
                f"{node_a}/api/drafts/{draft['id']}/edits",
                json={"op": "split", "code": f.G1, "line": line},
                headers=PLANNER,
            )
            assert split.status_code == 200, split.text
            published = http.post(
                f"{node_a}/api/drafts/{draft['id']}/publish",
                json={"reason": "G1 grew past 50 households"},
                headers=PLANNER,
            )
            assert published.status_code == 200, published.text
            published_at = time.monotonic()
            # The events posted on A in the east half were re-routed in the publish.
            assert {r["to_grid"] for r in published.json()["rerouted"]} <= {NEW, f.G1}
            while True:
                located = http.get(f"{node_b}/api/locate", params={"lon": 112.908, "lat": 35.79})
                if located.json()["grid"]["code"] == NEW:
                    break
                assert time.monotonic() - published_at < 10, "node B still routes by the old grid"
                time.sleep(0.05)
            reloaded_after = time.monotonic() - published_at
            new_event = http.post(f"{node_b}/api/events", json=ticket("TWO-EAST", 112.908, 35.79))
            assert new_event.status_code == 201, new_event.text
            assert new_event.json()["grid_code"] == NEW
    print(
        f"A -> B stream delays {sorted(round(d, 3) for d in delays.values())} s; "
        f"B routes by A's publish {reloaded_after:.2f} s after it answered"
    )
