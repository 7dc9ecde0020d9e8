"""`gridmap simulate` during a failover: a ticket answered 503, or not answered at all, is
sent again unchanged (same external_id) until the service takes it, so the storm neither
loses an acknowledged event nor stores one twice (bench/storm_failover.py runs the real
failover; this checks the client's rule on its own)."""

from __future__ import annotations

import threading

import httpx

from gridmap_cli import simulate_command as sim


def test_resends_the_same_ticket_after_503_and_dropped_connection(monkeypatch) -> None:
    monkeypatch.setattr(sim, "MAX_RETRY_WAIT_S", 0.0)
    seen: list[str] = []
    answers = iter(["503", "drop", "201"])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.read().decode())
        what = next(answers)
        if what == "drop":
            raise httpx.ConnectError("connection refused", request=request)
        if what == "503":
            return httpx.Response(503, headers={"Retry-After": "5"}, json={"error": "no primary"})
        return httpx.Response(201, json={"id": 7})

    body = {"source": "12345", "external_id": "SIM-1", "category": "ROAD"}
    with httpx.Client(base_url="http://x", transport=httpx.MockTransport(handler)) as client:
        status = sim.post_until_answered(client, body, stop=threading.Event(), quiet=True)
    assert status == 201
    assert len(seen) == 3
    assert len(set(seen)) == 1  # the very same body each time


def test_a_known_ticket_answered_200_is_not_sent_again(monkeypatch) -> None:
    monkeypatch.setattr(sim, "MAX_RETRY_WAIT_S", 0.0)
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, json={"id": 7})

    with httpx.Client(base_url="http://x", transport=httpx.MockTransport(handler)) as client:
        status = sim.post_until_answered(
            client, {"external_id": "SIM-2"}, stop=threading.Event(), quiet=True
        )
    assert status == 200 and len(calls) == 1


def test_a_500_is_not_retried(monkeypatch) -> None:
    monkeypatch.setattr(sim, "MAX_RETRY_WAIT_S", 0.0)
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500)

    with httpx.Client(base_url="http://x", transport=httpx.MockTransport(handler)) as client:
        status = sim.post_until_answered(
            client, {"external_id": "SIM-3"}, stop=threading.Event(), quiet=True
        )
    assert status == 500 and len(calls) == 1
