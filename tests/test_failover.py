"""Failover: the primary's postmaster SIGKILLed under load, its synchronous standby promoted,
and the service carrying on against it without a restart, losing nothing it acknowledged."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from gridmap.db import libpq_conninfo
from tests import factories as f
from tests.conftest import TEST_HOME
from tests.replicas import Pair, primary_and_standby
from tests.servers import running_service


@pytest.fixture
def pair() -> Iterator[Pair]:
    with primary_and_standby(TEST_HOME / f"ha-{uuid.uuid4().hex[:8]}") as made:
        yield made


def ticket(external_id: str) -> dict[str, object]:
    lon, lat = f.SmallCounty.grid_center(f.G1)
    return {
        "source": "12345",
        "external_id": external_id,
        "category": "ROAD",
        "description": "路面坑洼",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reporter": {"name": "张三", "phone": "13812345678"},
        "reported_at": "2026-11-21T09:30:00+08:00",
    }


@dataclass
class Sender:
    """Posts tickets one after another; a ticket answered 503 is sent again, unchanged (the
    idempotent retry any integrator makes), until it gets an answer that is not 503."""

    base: str
    name: str
    stop: threading.Event
    answers: list[tuple[float, int]] = field(default_factory=list)
    acknowledged: dict[str, int] = field(default_factory=dict)  # external id -> event id
    known: dict[str, int] = field(default_factory=dict)  # answered 200: it was stored before

    def run(self) -> None:
        n = 0
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                n += 1
                external_id = f"{self.name}-{n}"
                while not self.stop.is_set():
                    try:
                        response = http.post(f"{self.base}/api/events", json=ticket(external_id))
                    except httpx.TransportError:
                        self.answers.append((time.monotonic(), 0))
                        time.sleep(0.1)
                        continue
                    self.answers.append((time.monotonic(), response.status_code))
                    if response.status_code == 201:
                        self.acknowledged[external_id] = response.json()["id"]
                    elif response.status_code == 200:
                        self.known[external_id] = response.json()["id"]
                    if response.status_code != 503:
                        break
                    time.sleep(0.1)  # sooner than Retry-After: we are measuring the gap


@dataclass
class StreamReader:
    """An SSE client, as a browser's EventSource is: on a lost connection it reconnects
    with the last id it saw in `Last-Event-ID`."""

    base: str
    stop: threading.Event
    # (message id, event id) of every event.created, in the order heard
    created: list[tuple[int, int]] = field(default_factory=list)
    connects: int = 0
    last_id: int = 0  # from the start: events posted before it first connects count too

    def run(self) -> None:
        while not self.stop.is_set():
            headers = {"Last-Event-ID": str(self.last_id)}
            try:
                with (
                    httpx.Client(timeout=httpx.Timeout(5, read=2)) as http,
                    http.stream("GET", f"{self.base}/api/stream", headers=headers) as response,
                ):
                    if response.status_code != 200:
                        time.sleep(0.2)
                        continue
                    self.connects += 1
                    self._read(response)
            except httpx.HTTPError:
                time.sleep(0.1)

    def _read(self, response: httpx.Response) -> None:
        message: dict[str, str] = {}
        for line in response.iter_lines():
            if self.stop.is_set():
                return
            if line:
                key, _, value = line.partition(": ")
                message[key] = value
                continue
            if "id" in message:
                self.last_id = int(message["id"])
                if message.get("event") == "event.created":
                    self.created.append((self.last_id, json.loads(message["data"])["id"]))
            message = {}


def replay_after(base: str, last_id: int, want: set[int], timeout: float = 10) -> set[int]:
    """A new stream opened with Last-Event-ID: the event.created ids it replays."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    with (
        httpx.Client(timeout=httpx.Timeout(5, read=3)) as http,
        http.stream(
            "GET", f"{base}/api/stream", headers={"Last-Event-ID": str(last_id)}
        ) as response,
    ):
        assert response.status_code == 200
        kind = ""
        with contextlib.suppress(httpx.ReadTimeout):  # nothing more came: report what did
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "event.created":
                    seen.add(json.loads(line[6:])["id"])
                if want <= seen or time.monotonic() > deadline:
                    break
    return seen


def stored_events(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        rows = conn.execute("SELECT id, external_id FROM event WHERE source = '12345'").fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def test_sigkill_of_the_primary_loses_no_acknowledged_event_and_answers_no_500(
    pair: Pair,
) -> None:
    # The standby is synchronous: the primary waits for it at every commit.
    with psycopg.connect(libpq_conninfo(pair.primary_url)) as conn:
        sync = conn.execute("SELECT sync_state FROM pg_stat_replication").fetchall()
    assert sync == [("sync",)]

    home = pair.primary.home.parent / "service"
    env = {"GRIDMAP_OVERDUE_CHECK_SECONDS": "0"}
    with running_service(pair.service_url, home, env=env) as base:
        assert httpx.get(f"{base}/health", timeout=30).json()["database"]["role"] == "primary"
        stop_stream, stop_senders = threading.Event(), threading.Event()
        reader = StreamReader(base, stop_stream)
        senders = [Sender(base, f"s{i}", stop_senders) for i in range(4)]
        runs = [reader.run, *(sender.run for sender in senders)]
        threads = [threading.Thread(target=run) for run in runs]
        for thread in threads:
            thread.start()
        try:
            deadline = time.monotonic() + 30
            while sum(len(s.acknowledged) for s in senders) < 40:
                assert time.monotonic() < deadline, "no events acknowledged before the kill"
                time.sleep(0.05)
            last_before = reader.last_id
            killed_at = time.monotonic()
            pair.kill_primary()
            time.sleep(1.0)  # an outage: no primary at all
            outage_health = httpx.get(f"{base}/health", timeout=30)
            promoted_at = pair.promote_standby()
            # Sending on until the service has taken events in from the new primary.
            deadline = promoted_at + 20
            while not any(
                t > promoted_at and status == 201 for s in senders for t, status in s.answers
            ):
                assert time.monotonic() < deadline, "no event accepted 20 s after promotion"
                time.sleep(0.05)
            time.sleep(1.0)
        finally:
            stop_senders.set()
            for thread in threads[1:]:
                thread.join(timeout=60)

        acknowledged = {k: v for s in senders for k, v in s.acknowledged.items()}
        answers = [a for s in senders for a in s.answers]
        first_after = min(t for t, status in answers if t > promoted_at and status == 201)
        health = httpx.get(f"{base}/health", timeout=30).json()

        # The open stream hears every acknowledged event (resuming by itself if it had to).
        want = set(acknowledged.values()) | {v for s in senders for v in s.known.values()}
        deadline = time.monotonic() + 10
        while not want <= {e for _, e in reader.created} and time.monotonic() < deadline:
            time.sleep(0.1)
        stop_stream.set()
        threads[0].join(timeout=10)
        # A stream opened anew with the last id seen before the kill misses nothing after it.
        heard_before = {e for m, e in reader.created if m <= last_before}
        after_kill = want - heard_before
        replayed = replay_after(base, last_before, after_kill)

    print(
        f"acknowledged {len(acknowledged)}, answers {Counter(s for _, s in answers)}, "
        f"first 201 {first_after - promoted_at:.2f} s after promotion, "
        f"{first_after - killed_at:.2f} s after the kill; stream connects {reader.connects}"
    )
    # While no server takes writes, /health says so: 503 with Retry-After, like every route.
    assert outage_health.status_code == 503, outage_health.text
    assert outage_health.headers.get("Retry-After")
    statuses = sorted({status for _, status in answers})
    assert 500 not in statuses, statuses
    assert set(statuses) <= {0, 200, 201, 503}, statuses
    assert any(t > killed_at and status == 503 for t, status in answers), "no outage was seen"
    assert first_after - promoted_at < 10, f"new events only {first_after - promoted_at:.1f} s on"
    assert health["database"]["role"] == "primary"

    stored = stored_events(pair.standby_url)  # the new primary
    stored_ids = [event_id for event_id, _ in stored]
    external_ids = [external_id for _, external_id in stored]
    assert len(stored_ids) == len(set(stored_ids))
    assert len(external_ids) == len(set(external_ids)), "an event stored twice"
    by_external = dict((e, i) for i, e in stored)
    lost = {e: i for e, i in acknowledged.items() if by_external.get(e) != i}
    assert not lost, f"acknowledged but not on the new primary: {lost}"
    assert len(acknowledged) >= 40

    heard = [e for _, e in reader.created]
    assert want <= set(heard), f"the open stream missed {sorted(want - set(heard))[:10]}"
    assert len(heard) == len(set(heard)), "a message heard twice"
    assert after_kill <= replayed, f"Last-Event-ID replay missed {sorted(after_kill - replayed)}"
