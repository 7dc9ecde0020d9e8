"""The live stream: announcements reach every open map, across worker processes, in order,
and a map that reconnects catches up on exactly what it missed."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.requests import Request

from api.listener import StreamListener, Subscription
from api.stream import stream_scope
from gridmap.access.permissions import SYSTEM, Jurisdiction, Principal
from gridmap.db import make_engine
from gridmap.errors import InvalidInput
from gridmap.notify import (
    RETENTION_LOCK_KEY,
    StreamMessage,
    announce,
    delete_messages_older_than,
    messages_after,
    start_stream_retention,
    trim_stream,
)
from gridmap.settings import Settings
from tests.conftest import ROOT, create_database, drop_database

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- a running service and SSE clients --------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def service_db(server_url: str, template_name: str) -> Iterator[str]:
    """One fresh migrated database for the module's running service (starting one is slow)."""
    name = f"gridmap_stream_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = create_database(server_url, name, template=template_name)
    yield url
    drop_database(server_url, name)


@pytest.fixture(scope="module")
def service_engine(service_db: str) -> Iterator[Engine]:
    engine = make_engine(service_db, pool_size=2)
    yield engine
    engine.dispose()


def _listeners(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'gridmap-stream-listener' "
                    "AND datname = current_database()"
                )
            ).scalar_one()
        )


@pytest.fixture(scope="module")
def service(
    service_db: str, service_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`gridmap serve --workers 2` on its own database; yields its base URL."""
    home = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    env.update({"GRIDMAP_DATABASE_URL": service_db, "GRIDMAP_HOME": str(home)})
    env["GRIDMAP_AUTH_REQUIRED"] = "false"  # the stream's own behaviour, not access control
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridmap_cli.main", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        # Ready when both worker processes have their listener connected.
        while _listeners(service_engine) < 2:
            assert proc.poll() is None, (home / "serve.log").read_text()
            if time.monotonic() > deadline:
                served = (home / "serve.log").read_text()
                hint = (
                    " (uvicorn kept killing workers that did not answer its start-up health"
                    " check in time: a slow import; see timeout_worker_healthcheck)"
                    if "died" in served
                    else ""
                )
                raise AssertionError(f"gridmap serve did not start 2 listeners{hint}:\n{served}")
            time.sleep(0.2)
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@dataclass
class Received:
    id: int
    kind: str
    data: str
    at: float  # time.monotonic() on arrival


@dataclass
class MapClient:
    """What a command view does: hold /api/stream open and collect what arrives."""

    pid: int | None = None
    status: int | None = None
    messages: list[Received] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, message_id: int, timeout: float) -> Received:
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages:
                if m.id == message_id:
                    return m
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"message {message_id} did not arrive in {timeout} s; "
                    f"got {[m.id for m in self.messages]}"
                )
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)


async def _read(
    http: httpx.AsyncClient, client: MapClient, url: str, headers: dict[str, str]
) -> None:
    async with http.stream("GET", url, headers=headers) as response:
        client.status = response.status_code
        if response.status_code != 200:
            client.connected.set()
            return
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(": connected pid="):
                client.pid = int(line.split("=", 1)[1])
                client.connected.set()
            elif line.startswith(":"):
                continue
            elif line == "":
                if "id" in fields and "event" in fields:
                    client.messages.append(
                        Received(
                            id=int(fields["id"]),
                            kind=fields["event"],
                            data=fields.get("data", ""),
                            at=time.monotonic(),
                        )
                    )
                    client.arrived.set()
                fields = {}
            else:
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value


@contextlib.asynccontextmanager
async def open_maps(
    base: str, count: int, *, last_event_id: int | None = None, query: str = "", workers: int = 1
) -> AsyncIterator[list[MapClient]]:
    """Open `count` maps, and more (up to 40) until `workers` worker processes serve them."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    # A fresh TCP connection per map, so the worker processes share them out.
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None), limits=limits) as http:
        clients: list[MapClient] = []
        tasks: list[asyncio.Task[None]] = []

        async def one_more() -> None:
            client = MapClient()
            clients.append(client)
            url = f"{base}/api/stream{query}"
            tasks.append(asyncio.create_task(_read(http, client, url, headers)))
            await asyncio.wait_for(client.connected.wait(), 10)

        try:
            await asyncio.gather(*(one_more() for _ in range(count)))
            # A worker may still be starting (a fresh checkout compiles the index code in
            # each process): keep opening maps for up to a minute.
            deadline = time.monotonic() + 60
            while len({c.pid for c in clients}) < workers and time.monotonic() < deadline:
                await one_more()
                if len(clients) % 10 == 0:
                    await asyncio.sleep(1)
            assert len({c.pid for c in clients}) >= workers, "one worker took every connection"
            yield clients
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _announce(engine: Engine, kind: str = "event.created", **payload: Any) -> int:
    with Session(engine) as session:
        message_id = announce(session, kind=kind, payload=payload, township_code="140581101")
        session.commit()
    return message_id


# --- the stream across processes --------------------------------------------------------


async def test_every_open_map_hears_an_event_from_another_process_within_a_second(
    service: str, service_engine: Engine
) -> None:
    engine = service_engine
    async with open_maps(service, 8, workers=2) as maps:
        # Both worker processes serve some of the maps; each map hears every announcement.
        assert len({m.pid for m in maps}) == 2
        first = _announce(engine, event_id=1, category="garbage")
        committed = time.monotonic()
        for m in maps:
            got = await m.wait_for(first, timeout=1.0)
            assert got.kind == "event.created"
            assert json.loads(got.data) == {"event_id": 1, "category": "garbage"}
            assert got.at - committed < 1.0
        second = _announce(engine, kind="event.changed", event_id=1, status="assigned")
        for m in maps:
            assert (await m.wait_for(second, timeout=1.0)).kind == "event.changed"
            assert [r.id for r in m.messages] == [first, second]


async def test_a_map_that_reconnects_gets_exactly_the_messages_it_missed(
    service: str, service_engine: Engine
) -> None:
    engine = service_engine
    async with open_maps(service, 1) as (m,):
        seen = _announce(engine, event_id=1)
        await m.wait_for(seen, timeout=2)
    # The map is closed while three things happen, one of them rolled back.
    missed = [_announce(engine, event_id=2), _announce(engine, event_id=3)]
    with Session(engine) as session:
        announce(session, kind="event.created", payload={"event_id": "never"})
        session.rollback()
    missed.append(_announce(engine, kind="event.overdue", event_id=2))

    async with open_maps(service, 2, last_event_id=seen) as maps:
        for m in maps:
            await m.wait_for(missed[-1], timeout=2)
        live = _announce(engine, event_id=4)
        for m in maps:
            await m.wait_for(live, timeout=2)
            assert [r.id for r in m.messages] == [*missed, live]
            assert [r.kind for r in m.messages][:3] == [
                "event.created",
                "event.created",
                "event.overdue",
            ]
    # `?last_id=` does the same for clients that cannot set the header.
    async with open_maps(service, 1, query=f"?last_id={missed[0]}") as (m,):
        await m.wait_for(live, timeout=2)
        assert [r.id for r in m.messages] == [*missed[1:], live]


async def test_a_rolled_back_change_is_never_announced(
    service: str, service_engine: Engine
) -> None:
    engine = service_engine
    async with open_maps(service, 2) as maps:
        with Session(engine) as session:
            announce(session, kind="event.created", payload={"event_id": "rolled back"})
            session.rollback()
        after = _announce(engine, event_id=5)
        for m in maps:
            await m.wait_for(after, timeout=2)
            assert [r.id for r in m.messages] == [after]
    with engine.connect() as conn:
        payloads = conn.execute(text("SELECT payload FROM stream_message")).scalars().all()
        assert {"event_id": 5} in payloads
        assert {"event_id": "rolled back"} not in payloads


async def test_a_later_message_waits_for_an_earlier_one_still_committing(
    service: str, service_engine: Engine
) -> None:
    engine = service_engine
    async with open_maps(service, 2) as maps:
        slow = Session(engine)
        earlier = announce(slow, kind="event.created", payload={"event_id": 6})
        later = _announce(engine, event_id=7)  # committed first
        assert later > earlier
        await asyncio.sleep(0.5)
        # Delivering `later` now would let a reconnect with Last-Event-ID=later skip `earlier`.
        assert all(m.messages == [] for m in maps)
        slow.commit()
        slow.close()
        for m in maps:
            await m.wait_for(later, timeout=2)
            assert [r.id for r in m.messages] == [earlier, later]


async def test_the_stream_carries_on_after_losing_its_database_connection(
    service: str, service_engine: Engine
) -> None:
    engine = service_engine
    async with open_maps(service, 4) as maps:
        with engine.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'gridmap-stream-listener' "
                    "AND datname = current_database()"
                )
            ).scalar_one()
        assert killed == 2  # one listener per worker process
        message = _announce(engine, event_id=8)
        for m in maps:
            await m.wait_for(message, timeout=5)


async def test_a_malformed_last_event_id_is_refused_with_a_clear_error(service: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{service}/api/stream", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "Last-Event-ID" in error["message"]


# --- the listener in-process: boundaries, slow clients, jurisdictions -------------------


async def test_publishing_boundaries_calls_every_registered_refresh(
    db_url: str, engine: Engine
) -> None:
    listener = StreamListener(db_url)
    refreshed_sync: list[int] = []
    refreshed_async = asyncio.Event()

    async def refresh_async() -> None:
        refreshed_async.set()

    listener.on_boundaries(lambda: refreshed_sync.append(1))
    listener.on_boundaries(refresh_async)
    await listener.start()
    try:
        assert await listener.wait_ready(timeout=10)
        sub, _ = listener.subscribe(
            scope=Jurisdiction(township_codes=frozenset({"140581102"})), last_id=None
        )
        published = _announce(engine, kind="boundaries.published", version=2)
        await asyncio.wait_for(refreshed_async.wait(), 5)
        assert refreshed_sync == [1]
        # Boundaries concern every map, whatever its jurisdiction.
        message = await asyncio.wait_for(sub.queue.get(), 5)
        assert (message.id, message.kind, message.payload) == (
            published,
            "boundaries.published",
            {"version": 2},
        )
    finally:
        await listener.stop()


async def test_a_slow_map_falls_behind_and_the_others_still_hear_everything(
    db_url: str, engine: Engine
) -> None:
    listener = StreamListener(db_url, queue_size=2)
    await listener.start()
    try:
        assert await listener.wait_ready(timeout=10)
        slow, _ = listener.subscribe(scope=None, last_id=None)
        fast, _ = listener.subscribe(scope=None, last_id=None)
        ids = []
        for n in range(3):
            ids.append(_announce(engine, event_id=n))
            assert (await asyncio.wait_for(fast.queue.get(), 5)).id == ids[-1]
        assert slow.behind  # its queue held 2; the 3rd message did not fit
        assert not fast.behind
        # Back on the live queue, it reads from the table what it was not sent.
        replay_to = listener.catch_up(slow)
        assert replay_to == ids[-1] and slow.queue.empty() and not slow.behind
        with Session(engine) as session:
            assert [m.id for m in messages_after(session, last_id=0, up_to=replay_to)] == ids
        later = _announce(engine, event_id=3)
        assert (await asyncio.wait_for(slow.queue.get(), 5)).id == later
    finally:
        await listener.stop()


def _read_until(sock: socket.socket, marker: bytes, seconds: float = 60) -> bytes:
    received = b""
    deadline = time.monotonic() + seconds
    while marker not in received[-(1 << 16) :]:
        assert time.monotonic() < deadline, f"the slow map got up to {_sse_ids(received)[-1:]}"
        received += sock.recv(1 << 20)
    return received


def _sse_ids(raw: bytes) -> list[int]:
    """The message ids in a chunked SSE response, read raw."""
    return [int(line[4:]) for line in raw.split(b"\n") if line.startswith(b"id: ")]


async def test_a_map_that_stops_reading_during_a_burst_later_gets_all_of_it_in_order(
    service: str, service_engine: Engine
) -> None:
    # A map on a congested link: it reads nothing while 6,000 messages of 2 kB go out
    # (more than the kernel buffers on the way, at most 4 MB here), so the service cannot
    # send and that map's queue (1,000) overflows. Once it reads
    # again it must get every message once, in order, and then the live ones.
    host, port = service.removeprefix("http://").split(":")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    slow.connect((host, int(port)))
    slow.sendall(f"GET /api/stream HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    slow.settimeout(10)
    assert slow.recv(4096).startswith(b"HTTP/1.1 200")
    try:
        async with open_maps(service, 1) as (fast,):
            padding = "网格" * 350
            burst = []
            for _ in range(4):
                with Session(service_engine) as session:
                    burst += [
                        announce(session, kind="event.created", payload={"n": n, "p": padding})
                        for n in range(1500)
                    ]
                    session.commit()
            await fast.wait_for(burst[-1], timeout=20)
            assert [r.id for r in fast.messages] == burst
            live = _announce(service_engine, event_id="after the burst")
            await fast.wait_for(live, timeout=5)
        received = await asyncio.to_thread(_read_until, slow, b"\nid: %d\n" % live)
        assert _sse_ids(received) == [*burst, live]
    finally:
        slow.close()


async def test_a_later_message_held_back_by_one_that_rolls_back_still_goes_out(
    db_url: str, engine: Engine
) -> None:
    listener = StreamListener(db_url)
    await listener.start()
    try:
        assert await listener.wait_ready(timeout=10)
        sub, _ = listener.subscribe(scope=None, last_id=None)
        abandoned = Session(engine)
        held_back_by = announce(abandoned, kind="event.created", payload={"n": "abandoned"})
        later = _announce(engine, event_id=9)
        await asyncio.sleep(0.3)
        assert sub.queue.empty() and listener.delivered < held_back_by
        abandoned.rollback()  # no NOTIFY comes from a rollback: the listener must notice
        abandoned.close()
        message = await asyncio.wait_for(sub.queue.get(), 5)
        assert message.id == later and sub.queue.empty()
    finally:
        await listener.stop()


def _message(id: int, kind: str, township: str | None) -> StreamMessage:
    return StreamMessage(
        id=id,
        at=dt.datetime.now(dt.UTC),
        kind=kind,
        county_code="140581",
        township_code=township,
        payload={},
    )


def test_a_township_map_sees_only_its_townships_and_the_boundaries(session: Session) -> None:
    for township in ("140581101", "140581102", None):
        announce(session, kind="event.created", payload={"t": township}, township_code=township)
    announce(session, kind="boundaries.published", payload={"version": 2})
    session.commit()
    mine = Jurisdiction(township_codes=frozenset({"140581101"}))

    caught_up = messages_after(session, last_id=0, scope=mine)
    assert [(m.kind, m.township_code) for m in caught_up] == [
        ("event.created", "140581101"),
        ("boundaries.published", None),
    ]
    assert len(messages_after(session, last_id=0)) == 4

    live = Subscription(queue=asyncio.Queue(), scope=mine, after=0)
    for n, (kind, township) in enumerate(
        [
            ("event.created", "140581101"),
            ("event.changed", "140581102"),
            ("event.overdue", None),
            ("boundaries.published", None),
        ],
        start=1,
    ):
        live.offer(_message(n, kind, township))
    assert [live.queue.get_nowait().id for _ in range(live.queue.qsize())] == [1, 4]


def test_a_map_hears_only_about_events_its_user_may_read(session: Session) -> None:
    """The events list's rule, not the township: a grid worker hears its grid's events, a
    team member those its team handles or co-handles, in the replay and live alike."""
    township = "140581101"
    events = [
        {"grid_code": "140581101001001", "community_code": "140581101001", "team_id": 1},
        {"grid_code": "140581101001002", "community_code": "140581101001", "team_id": 2},
        {
            "grid_code": "140581101002001",
            "community_code": "140581101002",
            "team_id": 3,
            "co_team_ids": [7],
        },
        {"grid_code": None, "community_code": None, "team_id": 7, "co_team_ids": []},
    ]
    ids = [
        announce(
            session,
            kind="event.changed",
            payload=payload,
            county_code="140581",
            township_code=township if payload["grid_code"] else None,
        )
        for payload in events
    ]
    ids.append(announce(session, kind="boundaries.published", payload={"version": 2}))
    session.commit()
    after = ids[0] - 1
    readers = {
        "grid worker": (Jurisdiction(grid_codes=frozenset({"140581101001001"})), [0, 4]),
        "community": (Jurisdiction(community_codes=frozenset({"140581101001"})), [0, 1, 4]),
        "team member": (Jurisdiction(team_id=7), [2, 3, 4]),
        "county": (Jurisdiction(county_codes=frozenset({"140581"})), [0, 1, 2, 3, 4]),
        "nobody": (Jurisdiction(), [4]),
    }
    for who, (scope, expected) in readers.items():
        replayed = [m.id for m in messages_after(session, last_id=after, scope=scope)]
        assert replayed == [ids[i] for i in expected], who
        live = Subscription(queue=asyncio.Queue(), scope=scope, after=after)
        for message in messages_after(session, last_id=after):
            live.offer(message)
        assert [m.id for m in live.take()] == [ids[i] for i in expected], who


def test_the_stream_filters_by_the_callers_jurisdiction() -> None:
    def request_from(principal: Principal | None) -> Any:
        scope: dict[str, Any] = {"type": "http", "state": {}}
        if principal is not None:
            scope["state"]["principal"] = principal
        return Request(scope)

    mine = Jurisdiction(township_codes=frozenset({"140581101"}))
    township_officer = Principal(kind="user", id=7, name="li", role=SYSTEM.role, jurisdiction=mine)
    assert stream_scope(request_from(township_officer)) == mine
    assert stream_scope(request_from(SYSTEM)) is None  # authentication off: everything
    assert stream_scope(request_from(None)) == Jurisdiction()  # no principal: fail closed


def test_catch_up_pages_and_stops_at_a_settled_id(session: Session) -> None:
    ids = [announce(session, kind="event.created", payload={"n": n}) for n in range(5)]
    session.commit()
    assert [m.id for m in messages_after(session, last_id=ids[0], limit=2)] == ids[1:3]
    assert [m.id for m in messages_after(session, last_id=ids[0], up_to=ids[3])] == ids[1:4]
    with pytest.raises(InvalidInput, match="limit must be at least 1"):
        messages_after(session, last_id=0, limit=0)


def test_announcements_refuse_unknown_kinds_and_payloads_that_are_not_json(
    session: Session,
) -> None:
    with pytest.raises(InvalidInput, match=r"unknown announcement kind 'event\.craeted'"):
        announce(session, kind="event.craeted", payload={})
    with pytest.raises(InvalidInput, match=r"'event\.created': payload is not JSON-serialisable"):
        announce(session, kind="event.created", payload={"photo": b"\x89PNG"})
    at = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    message_id = announce(session, kind="event.created", payload={"reported_at": at, "名": "路灯"})
    session.commit()
    (message,) = messages_after(session, last_id=message_id - 1)
    assert message.payload == {"reported_at": "2026-11-21T09:30:00+08:00", "名": "路灯"}


def test_retention_deletes_only_messages_older_than_the_limit(session: Session) -> None:
    old = announce(session, kind="event.created", payload={"n": "old"})
    new = announce(session, kind="event.created", payload={"n": "new"})
    session.execute(
        text("UPDATE stream_message SET at = now() - interval '31 days' WHERE id = :id"),
        {"id": old},
    )
    assert delete_messages_older_than(session, days=30) == 1
    session.commit()
    assert [m.id for m in messages_after(session, last_id=0)] == [new]
    with pytest.raises(InvalidInput, match="retention must be positive"):
        delete_messages_older_than(session, days=0)


def _age_days(engine: Engine, message_id: int, days: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE stream_message SET at = now() - make_interval(days => :d) WHERE id = :id"),
            {"d": days, "id": message_id},
        )


def _kept(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(text("SELECT id FROM stream_message ORDER BY id")))


def _announced(engine: Engine, n: int) -> list[int]:
    with Session(engine) as writer:
        ids = [announce(writer, kind="event.created", payload={"n": i}) for i in range(n)]
        writer.commit()
    return ids


def test_retention_runs_in_one_process_at_a_time(engine: Engine) -> None:
    old, new = _announced(engine, 2)
    _age_days(engine, old, 31)
    with Session(engine) as other_process:
        other_process.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": RETENTION_LOCK_KEY}
        )
        assert trim_stream(engine, days=30) is None  # the other one is trimming
        assert _kept(engine) == [old, new]
    assert trim_stream(engine, days=30) == 1
    assert _kept(engine) == [new]


def test_the_service_trims_the_stream_on_its_own_and_zero_days_keeps_everything(
    engine: Engine,
) -> None:
    assert start_stream_retention(engine, days=0) is None
    old, new = _announced(engine, 2)
    _age_days(engine, old, 8)
    job = start_stream_retention(engine, days=7, interval_s=0.1)
    assert job is not None
    try:
        deadline = time.monotonic() + 20
        while old in _kept(engine) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        job.stop()
    assert _kept(engine) == [new]
    assert job.runs >= 1


def test_the_retention_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().stream_retention_days == 30
    monkeypatch.setenv("GRIDMAP_STREAM_RETENTION_DAYS", "0")
    assert Settings().stream_retention_days == 0
    monkeypatch.setenv("GRIDMAP_STREAM_RETENTION_DAYS", "-1")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        Settings()
