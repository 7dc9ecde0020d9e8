"""The work queues, header counters and alerts over HTTP, on the small county: each queue
holds what its name says, soonest deadline first, only the caller's jurisdiction; an alert
stays pending until someone acknowledges it, and the acknowledgement is on the timeline."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.county_users import county_with_accounts
from tests.logins import login, service_with_login

G_EAST = f"{f.C3}001"
USERS = [
    ("q-county-operator", "operator", [f.COUNTY]),
    ("q-west-operator", "operator", [f.T1]),
    ("q-west-planner", "planner", [f.T1]),
]


@pytest.fixture(scope="module")
def county_url(server_url: str, small_county_template: str) -> Iterator[str]:
    yield from county_with_accounts(server_url, small_county_template, prefix="queues", users=USERS)


@pytest.fixture(scope="module")
def app(county_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from service_with_login(county_url, tmp_path_factory.mktemp("queues"))


def report(client: TestClient, grid: str, *, priority: str = "routine") -> int:
    lon, lat = f.SmallCounty.grid_center(grid)
    body = {
        "source": "12345",
        "external_id": f"q-{uuid.uuid4()}",
        "category": "ROAD",
        "priority": priority,
        "description": "路面坑洼",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reported_at": "2026-11-21T09:30:00+08:00",
    }
    answer = client.post("/api/events", json=body)
    assert answer.status_code in (200, 201), answer.text
    return int(answer.json()["id"])


def act(client: TestClient, event_id: int, action: str, **body: Any) -> None:
    answer = client.post(f"/api/events/{event_id}/actions/{action}", json=body)
    assert answer.status_code == 200, answer.text


def queues(client: TestClient, **params: str) -> dict[str, Any]:
    answer = client.get("/api/queues", params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def ids(body: dict[str, Any], name: str) -> list[int]:
    (q,) = [q for q in body["queues"] if q["name"] == name]
    assert q["count"] >= len(q["events"])
    return [e["id"] for e in q["events"]]


def test_each_queue_holds_its_events_in_the_callers_jurisdiction(app: TestClient) -> None:
    county = login(app, "q-county-operator")
    west = login(app, "q-west-operator")
    reported = report(county, f.G1)
    registered = report(county, f.G1)
    act(county, registered, "register")
    east = report(county, G_EAST)
    body = queues(county)
    assert [q["name"] for q in body["queues"]] == [
        "to_register",
        "to_dispatch",
        "handling",
        "to_close",
        "overdue",
        "to_visit",
        "returned",
        "co_pending",
        "unplaced",
    ]
    assert reported in ids(body, "to_register") and east in ids(body, "to_register")
    assert registered in ids(body, "to_dispatch") and registered not in ids(body, "to_register")
    # The west township's operator sees the west events only, in counts and rows alike.
    mine = queues(west)
    assert reported in ids(mine, "to_register") and east not in ids(mine, "to_register")
    total = {q["name"]: q["count"] for q in body["queues"]}
    west_total = {q["name"]: q["count"] for q in mine["queues"]}
    assert west_total["to_register"] < total["to_register"]
    # A filter narrows queues and counters alike.
    emergency_only = queues(county, priority="emergency")
    assert reported not in ids(emergency_only, "to_register")
    assert emergency_only["counters"]["open"] <= body["counters"]["open"]
    assert body["counters"]["open"] >= 3


def test_an_alert_stays_pending_until_acknowledged_and_goes_on_the_timeline(
    app: TestClient,
) -> None:
    county = login(app, "q-county-operator")
    gas = report(county, f.G1, priority="emergency")
    routine = report(county, f.G1)
    pending = [a["id"] for a in queues(county)["alerts"]]
    assert gas in pending and routine not in pending
    # Which priorities alert is the caller's choice.
    assert routine in [a["id"] for a in queues(county, alert="routine")["alerts"]]
    answer = county.post(f"/api/events/{gas}/acknowledge")
    assert answer.status_code == 200, answer.text
    assert gas not in [a["id"] for a in queues(county)["alerts"]]
    log = county.get(f"/api/events/{gas}/log").json()["entries"]
    ack = [e for e in log if e["action"] == "acknowledge"]
    assert len(ack) == 1 and ack[0]["actor"] == "user:q-county-operator" and ack[0]["at"]


def test_acknowledging_outside_the_jurisdiction_or_without_the_right_is_refused(
    app: TestClient,
) -> None:
    county = login(app, "q-county-operator")
    east = report(county, G_EAST, priority="emergency")
    west = login(app, "q-west-operator")
    assert west.post(f"/api/events/{east}/acknowledge").status_code == 403
    planner = login(app, "q-west-planner")
    west_event = report(county, f.G1, priority="emergency")
    assert planner.post(f"/api/events/{west_event}/acknowledge").status_code == 403
    log = county.get(f"/api/events/{east}/log").json()["entries"]
    assert not [e for e in log if e["action"] == "acknowledge"]


def test_a_new_overdue_alerts_until_acknowledged_even_for_a_routine_whistle(
    app: TestClient, county_url: str
) -> None:
    import datetime as dt

    from sqlalchemy import text

    from gridmap.db import make_engine, session_factory
    from gridmap.events import check_overdue

    county = login(app, "q-county-operator")
    late = report(county, f.G1)
    act(county, late, "register")
    engine = make_engine(county_url, pool_size=1)
    with session_factory(engine)() as s:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        s.execute(
            text("UPDATE event SET response_due_at = :t, due_at = :t WHERE id = :id"),
            {"t": past, "id": late},
        )
        assert late in check_overdue(s, now=dt.datetime.now(dt.UTC))
        s.commit()
    engine.dispose()
    alerts = {a["id"]: a for a in queues(county)["alerts"]}
    assert alerts[late]["reason"] == "overdue"
    assert late in ids(queues(county), "overdue")
    assert county.post(f"/api/events/{late}/acknowledge").status_code == 200
    assert late not in [a["id"] for a in queues(county)["alerts"]]
