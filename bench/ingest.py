"""Ingest benchmark: POST /api/events over loopback against `gridmap serve`, with open maps.

Starts the real service (`gridmap serve --workers N`) on a fresh database holding the
small test county, drives it with concurrent clients for a fixed time (loopback only,
bounded), and prints events/s, p50/p99 latency, acknowledged versus stored counts, and how
soon the open maps heard each event on /api/stream. The clients are lean keep-alive
HTTP/1.1 connections written by hand (`lean_client_loop`): httpx spends about a millisecond
of CPU per request, which on shared cores measures the client. The same run repeats with
httpx clients and with one worker, the obvious alternatives. Figures go to
docs/performance.md, section "Ingest".

    .venv/bin/python bench/ingest.py [--rate 500] [--duration 60] [--clients 32] [--maps 20]

The load generator shares the machine with the service and PostgreSQL, as in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridmap.access.accounts import create_token  # noqa: E402
from gridmap.db import make_engine, migrate  # noqa: E402
from gridmap.embedded_db import EmbeddedCluster  # noqa: E402
from gridmap.notify import STREAM_CHANNEL, announce  # noqa: E402
from tests.conftest import TEST_HOME, create_database, drop_database  # noqa: E402
from tests.factories import COUNTY, load_small_county  # noqa: E402
from tests.servers import free_port  # noqa: E402

CATEGORIES = ("ROAD", "VEND", "CONS")
# The event id in an `event.created` message of the live stream (its "id" key; "team_id"
# and the like do not match, as the quote must come right before `id`).
CREATED_ID = re.compile(rb'event: event\.created\ndata: \{[^\n]*?"id": ?(\d+)')
WARMUP_SECONDS = 3.0
PERFORMANCE_DOC = ROOT / "docs" / "performance.md"


@dataclass
class Run:
    label: str
    workers: int
    duration: float
    client: str = "lean"  # "lean" (lean_client_loop) or "httpx"
    # Events/s offered in an open loop (paced_loop), or None: closed loop, as fast as answered.
    rate_offered: float | None = None
    clients: int = 32
    # An integration token's secret, sent as a bearer token (None: no credential, as the
    # service runs with authentication off): the lookup every authenticated sender costs.
    token: str | None = None
    latencies_ms: list[float] = field(default_factory=list)
    acknowledged: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    stored: int = 0
    # event id -> when its 201 arrived; then how long after that each map heard it.
    acked_at: dict[int, float] = field(default_factory=dict)
    heard_at: dict[int, list[float]] = field(default_factory=dict)
    heard_ms: list[float] = field(default_factory=list)
    announced_per_map: list[int] = field(default_factory=list)
    # CPU seconds used during the drive: the service's processes, their PostgreSQL backends.
    cpu_service: float = 0.0
    cpu_postgres: float = 0.0
    cpu_client: float = 0.0
    # Share of the machine's CPU time the hypervisor gave to other guests during the drive:
    # on a shared virtual machine the cores this run had were that much smaller.
    stolen_pct: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.duration

    def pct(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def service(db_url: str, home: Path, workers: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [sys.executable, "-m", "gridmap_cli.main", "serve"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    env.update({"GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(home)})
    env["GRIDMAP_AUTH_REQUIRED"] = "false"  # measures ingest, not the login
    home.mkdir(parents=True, exist_ok=True)
    log = (home / f"serve-{workers}.log").open("wb")
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        engine = make_engine(db_url, pool_size=1)
        deadline = time.monotonic() + 120
        while True:  # ready when every worker's stream listener is connected
            with engine.connect() as conn:
                listening = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name = 'gridmap-stream-listener'"
                    )
                ).scalar_one()
            if listening >= workers:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gridmap serve did not start; see {home}/serve-{workers}.log")
            time.sleep(0.3)
        engine.dispose()
        yield base, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # open streams hold a graceful shutdown
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 when it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_times() -> tuple[int, int]:
    """(steal, total) jiffies of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return fields[7], sum(fields)


def service_pids(root: int) -> list[int]:
    """`gridmap serve` and its worker processes."""
    children = Path(f"/proc/{root}/task/{root}/children")
    found = [root]
    with contextlib.suppress(FileNotFoundError):
        for child in children.read_text().split():
            found += service_pids(int(child))
    return found


def backend_pids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            ).scalars()
        )


def event_body(run_id: str, n: int, rng: random.Random) -> dict[str, object]:
    return {
        "source": "bench",
        "external_id": f"{run_id}-{n}",
        "category": rng.choice(CATEGORIES),
        "priority": "routine",
        "description": "路灯不亮，影响夜间通行",
        "location": {
            "lon": rng.uniform(112.9005, 112.9395),
            "lat": rng.uniform(35.7805, 35.8195),
            "crs": "wgs84",
        },
        "reporter": {"name": "张三", "phone": "13800005678"},
        "reported_at": "2026-11-21T09:30:00+08:00",
    }


async def client_loop(
    http: httpx.AsyncClient, base: str, run: Run, run_id: str, seq: list[int], start: float
) -> None:
    rng = random.Random(hash((run_id, id(seq), time.perf_counter_ns())))
    end = start + WARMUP_SECONDS + run.duration
    while (now := time.perf_counter()) < end:
        seq[0] += 1
        body = event_body(run_id, seq[0], rng)
        t0 = time.perf_counter()
        try:
            response = await http.post(f"{base}/api/events", json=body)
        except httpx.HTTPError as exc:
            run.errors[type(exc).__name__] = run.errors.get(type(exc).__name__, 0) + 1
            continue
        t1 = time.perf_counter()
        record(run, response.status_code, response.content, now >= start + WARMUP_SECONDS, t1 - t0)


def record(run: Run, status: int, content: bytes, measured: bool, seconds: float) -> None:
    if status == 201:
        run.acknowledged += 1
        run.acked_at[json.loads(content)["id"]] = time.monotonic()
        if measured:
            run.latencies_ms.append(seconds * 1000)
    else:
        key = f"HTTP {status}"
        run.errors[key] = run.errors.get(key, 0) + 1


class LeanConnection:
    """One keep-alive HTTP/1.1 connection, requests written and responses read by hand.

    httpx costs about a millisecond of CPU per request; on 2 shared cores that is the
    load generator measuring itself. This client does the same POSTs for a fraction of it.
    """

    def __init__(self, base: str, token: str | None = None) -> None:
        self.host, self.port = base.removeprefix("http://").split(":")
        self.head = (
            f"POST /api/events HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\n"
            + (f"Authorization: Bearer {token}\r\n" if token else "")
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, int(self.port))
        try:
            self.writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = await self.reader.readline()
            headers = await self.reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", headers).group(1))  # type: ignore[union-attr]
            content = await self.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, AttributeError):
            self.close()  # the next post connects afresh
            raise
        return int(status_line.split()[1]), content

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def lean_client_loop(base: str, run: Run, run_id: str, seq: list[int], start: float) -> None:
    """A closed-loop sender: the next request as soon as the last one is answered."""
    rng = random.Random(hash((run_id, id(seq), time.perf_counter_ns())))
    connection = LeanConnection(base)
    end = start + WARMUP_SECONDS + run.duration
    try:
        while (now := time.perf_counter()) < end:
            seq[0] += 1
            body = json.dumps(event_body(run_id, seq[0], rng), ensure_ascii=False).encode()
            t0 = time.perf_counter()
            try:
                status, content = await connection.post(body)
            except (OSError, asyncio.IncompleteReadError, AttributeError) as exc:
                run.errors[type(exc).__name__] = run.errors.get(type(exc).__name__, 0) + 1
                continue
            record(run, status, content, now >= start + WARMUP_SECONDS, time.perf_counter() - t0)
    finally:
        connection.close()


async def paced_loop(
    base: str, run: Run, run_id: str, seq: list[int], start: float, rate: float
) -> None:
    """One connection of an open-loop drive: request n is due at `start + n / rate`.

    Connections take the next due request as they come free. Latency counts from when a
    request was due, not from when it was sent: a service that falls behind makes later
    requests late, and that lateness is its latency (no coordinated omission).
    """
    rng = random.Random(hash((run_id, id(seq), time.perf_counter_ns())))
    connection = LeanConnection(base, run.token)
    end = start + WARMUP_SECONDS + run.duration
    try:
        while True:
            seq[0] += 1
            due = start + seq[0] / rate
            if due >= end:
                return
            body = json.dumps(event_body(run_id, seq[0], rng), ensure_ascii=False).encode()
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            try:
                status, content = await connection.post(body)
            except (OSError, asyncio.IncompleteReadError, AttributeError) as exc:
                run.errors[type(exc).__name__] = run.errors.get(type(exc).__name__, 0) + 1
                continue
            record(run, status, content, due >= start + WARMUP_SECONDS, time.perf_counter() - due)
    finally:
        connection.close()


async def map_loop(base: str, run: Run, heard: list[int]) -> None:
    """An open command view: count event.created messages and when they arrived.

    Read by hand like the lean clients (a chunked HTTP/1.1 body, split into lines), so
    that 20 maps hearing hundreds of events a second measure the service, not httpx.
    """
    index = len(heard)
    heard.append(0)
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /api/stream HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    try:
        headers = await reader.readuntil(b"\r\n\r\n")
        if not headers.startswith(b"HTTP/1.1 200") or b"chunked" not in headers.lower():
            raise SystemExit(f"/api/stream answered {headers[:200]!r}")
        pending = b""
        while size := int((await reader.readline()).strip() or b"0", 16):
            pending += await reader.readexactly(size)
            await reader.readexactly(2)  # the CRLF after each chunk
            # Whole messages only (they end with a blank line); the rest waits for more.
            cut = pending.rfind(b"\n\n") + 2
            if cut < 2:
                continue
            done, pending = pending[:cut], pending[cut:]
            # A regex over the whole chunk, not a JSON parse per message: 20 maps hear
            # 10,000 messages a second here, on the cores the service is measured on.
            arrived = time.monotonic()
            for event_id in CREATED_ID.findall(done):
                run.heard_at.setdefault(int(event_id), []).append(arrived)
                heard[index] += 1
    finally:
        writer.close()


async def drive(base: str, run: Run, maps: int) -> None:
    clients, lean = run.clients, run.client == "lean"
    run_id = uuid.uuid4().hex[:8]
    limits = httpx.Limits(max_connections=clients + maps + 4)
    timeout = httpx.Timeout(30, read=None)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as http:
        heard: list[int] = []
        watchers = [asyncio.create_task(map_loop(base, run, heard)) for _ in range(maps)]
        await asyncio.sleep(1.0)
        seq = [0]
        start = time.perf_counter()
        if run.rate_offered:
            await asyncio.gather(
                *(
                    paced_loop(base, run, run_id, seq, start, run.rate_offered)
                    for _ in range(clients)
                )
            )
        elif lean:
            await asyncio.gather(
                *(lean_client_loop(base, run, run_id, seq, start) for _ in range(clients))
            )
        else:
            await asyncio.gather(
                *(client_loop(http, base, run, run_id, seq, start) for _ in range(clients))
            )
        await asyncio.sleep(2.0)  # let the last announcements reach the maps
        for w in watchers:
            w.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        run.announced_per_map = heard
        # Negative when a map heard of the event before its sender read the 201.
        run.heard_ms = [
            (at - run.acked_at[event_id]) * 1000
            for event_id, times in run.heard_at.items()
            if event_id in run.acked_at
            for at in times
        ]


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """The client's event loop: uvloop when installed (as the service uses), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def bench_one(db_url: str, home: Path, run: Run, maps: int) -> None:
    engine = make_engine(db_url, pool_size=1)
    with engine.begin() as conn:
        before = conn.execute(text("SELECT count(*) FROM event")).scalar_one()
    with service(db_url, home, run.workers) as (base, proc):
        workers = service_pids(proc.pid)
        backends = backend_pids(engine)
        cpu_before = {pid: cpu_seconds(pid) for pid in workers + backends}
        client_before = time.process_time()
        steal_before, total_before = cpu_times()
        run_loop(drive(base, run, maps))
        run.cpu_client = time.process_time() - client_before
        steal_after, total_after = cpu_times()
        run.stolen_pct = 100 * (steal_after - steal_before) / max(total_after - total_before, 1)
        # Backends opened during the run count from zero (their start-up is in the figure).
        backends = sorted(set(backends) | set(backend_pids(engine)))
        run.cpu_service = sum(cpu_seconds(p) - cpu_before.get(p, 0.0) for p in workers)
        run.cpu_postgres = sum(cpu_seconds(p) - cpu_before.get(p, 0.0) for p in backends)
    with engine.begin() as conn:
        run.stored = conn.execute(text("SELECT count(*) FROM event")).scalar_one() - before
    engine.dispose()


def _commit_loop(
    engine: Engine, work: Callable[[Session], None], stop: float, counts: list[int]
) -> None:
    n = 0
    while time.perf_counter() < stop:
        with Session(engine) as session:
            work(session)
            session.commit()
        n += 1
    counts.append(n)


def commit_rates(
    db_url: str, *, threads: int = 16, seconds: float = 5.0, rounds: int = 3
) -> dict[str, float]:
    """Commits/s of concurrent announcing transactions: as shipped (the row only) versus
    the obvious alternative, a NOTIFY in every transaction (which PostgreSQL serialises)."""

    def plain(session: Session) -> None:
        announce(session, kind="event.created", payload={"id": 0})

    def notifying(session: Session) -> None:
        message_id = announce(session, kind="event.created", payload={"id": 0})
        notify = text("SELECT pg_notify(:c, :m)")
        session.execute(notify, {"c": STREAM_CHANNEL, "m": str(message_id)})

    engine = make_engine(db_url, pool_size=threads)
    rates: dict[str, float] = {}
    for label, work in (("row only", plain), ("row + NOTIFY", notifying)) * rounds:
        stop = time.perf_counter() + seconds
        counts: list[int] = []
        pool = [
            threading.Thread(target=_commit_loop, args=(engine, work, stop, counts))
            for _ in range(threads)
        ]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        # Rounds interleaved; keep each one's best (the least disturbed by other work).
        rates[label] = max(rates.get(label, 0.0), sum(counts) / seconds)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM stream_message"))
    engine.dispose()
    return rates


def report(runs: list[Run]) -> str:
    lines = [
        "| service | events/s | p50 ms | p99 ms | acknowledged | stored | errors "
        "| maps heard each | heard p50 / p99 ms after the 201 "
        "| CPU ms per event: service / PostgreSQL / load generator | CPU stolen |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- | ---: |",
    ]
    for r in runs:
        n = max(r.acknowledged, 1)
        errors = ", ".join(f"{k} {v}" for k, v in r.errors.items()) or "none"
        per_map = sorted(set(r.announced_per_map))
        lines.append(
            f"| {r.label} | {r.rate:.0f} | {r.pct(r.latencies_ms, 0.5):.1f} "
            f"| {r.pct(r.latencies_ms, 0.99):.1f} | {r.acknowledged} | {r.stored} | {errors} "
            f"| {'/'.join(str(n) for n in per_map)} of {r.acknowledged} "
            f"| {r.pct(r.heard_ms, 0.5):.0f} / {r.pct(r.heard_ms, 0.99):.0f} "
            f"| {r.cpu_service * 1000 / n:.1f} / {r.cpu_postgres * 1000 / n:.1f} "
            f"/ {r.cpu_client * 1000 / n:.1f} | {r.stolen_pct:.0f} % |"
        )
    return "\n".join(lines)


def write_section(table: str, args: argparse.Namespace, load: tuple[float, float]) -> None:
    cores = os.cpu_count()
    section = (
        "## Ingest\n\n"
        f"`bench/ingest.py` on {platform.machine()}, {cores} cores, Python "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}, load average "
        f"{load[0]:.1f} before and {load[1]:.1f} after: the first row offers "
        f"{args.rate:g} events/s in an open loop ({args.connections} keep-alive connections "
        "each sending the next due request, `paced_loop`; latency counts from when a request "
        "was due, so a service falling behind pays for its lateness); the closed-loop rows "
        f"send as fast as {args.clients} senders are answered (their latency is mostly "
        "queueing: senders / rate). Each POSTs /api/events over loopback (small test county, "
        f"random points, 3 categories) while {args.maps} command views hold /api/stream open; "
        "the load generator, the service and PostgreSQL share the same cores. `gridmap serve` "
        "runs on httptools and uvloop. 'lean': hand-written keep-alive HTTP/1.1 clients and "
        "stream readers (`LeanConnection`, `map_loop`); 'httpx': the same requests through "
        f"httpx. Figures after {WARMUP_SECONDS:.0f} s of warm-up; 'stored' counts rows in "
        "`event` afterwards; 'heard' is how long after the 201 a map received "
        "`event.created`.\n\n"
        f"{table}\n\n"
        "Target: ≥ 500 events/s with p99 < 100 ms on 2 cores.\n"
        + (f"\n{args.note}\n" if args.note else "")
    )
    old = PERFORMANCE_DOC.read_text() if PERFORMANCE_DOC.exists() else "# Performance\n"
    # The measured part only: the section's own subsections (### …) are kept.
    pattern = re.compile(r"^## Ingest\n.*?(?=^## |^### |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: section + "\n", old, count=1).rstrip("\n") + "\n"
    else:
        new = old.rstrip("\n") + "\n\n" + section
    PERFORMANCE_DOC.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds, 2 workers")
    parser.add_argument(
        "--compare-duration", type=float, default=20.0, help="seconds, httpx client; 1 worker"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes, main run")
    parser.add_argument("--rate", type=float, default=500.0, help="events/s offered, main run")
    parser.add_argument(
        "--connections", type=int, default=64, help="connections pacing the main run"
    )
    parser.add_argument("--clients", type=int, default=32, help="closed-loop senders")
    parser.add_argument("--maps", type=int, default=20)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--note", default="", help="a line to add under the figures")
    args = parser.parse_args()
    if not 1 <= args.duration <= 300 or not 0 <= args.compare_duration <= 300:
        raise SystemExit("durations are bounded to 300 s")

    load_before = os.getloadavg()[0]
    server = EmbeddedCluster(TEST_HOME).start().url
    name = f"gridmap_bench_ingest_{os.getpid()}"
    db_url = create_database(server, name)
    home = ROOT / "bench" / "out" / "ingest"
    try:
        migrate(db_url)
        engine = make_engine(db_url, pool_size=1)
        with Session(engine) as session:
            load_small_county(session)
            _, token = create_token(
                session, name="bench-hotline", role="integration", area_codes=[COUNTY]
            )
            session.commit()
        engine.dispose()
        workers = f"{args.workers} worker{'s' if args.workers != 1 else ''}"
        runs = [
            Run(
                f"{workers}, {args.rate:g} events/s offered (open loop, {args.connections} "
                "lean connections)",
                workers=args.workers,
                duration=args.duration,
                rate_offered=args.rate,
                clients=args.connections,
            )
        ]
        if args.compare_duration > 0:
            # The same offer from a sender with a bearer token; as fast as answered (closed
            # loop); then the obvious alternatives in the same run: httpx, one worker.
            closed = f"closed loop, {args.clients}"
            runs += [
                Run(
                    f"{workers}, {args.rate:g} events/s offered, open loop, bearer token",
                    workers=args.workers,
                    duration=args.compare_duration,
                    rate_offered=args.rate,
                    clients=args.connections,
                    token=token,
                ),
                Run(
                    f"{workers}, {closed} lean clients",
                    workers=args.workers,
                    duration=args.compare_duration,
                    clients=args.clients,
                ),
                Run(
                    f"{workers}, {closed} httpx clients",
                    workers=args.workers,
                    duration=args.compare_duration,
                    client="httpx",
                    clients=args.clients,
                ),
            ]
            if args.workers != 1:
                runs.append(
                    Run(
                        f"1 worker, {closed} lean clients",
                        workers=1,
                        duration=args.compare_duration,
                        clients=args.clients,
                    )
                )
        for run in runs:
            print(f"{run.label}: {run.duration:.0f} s …", flush=True)
            bench_one(db_url, home, run, args.maps)
            print(
                f"  {run.rate:.0f} events/s, p50 {run.pct(run.latencies_ms, 0.5):.1f} ms, "
                f"p99 {run.pct(run.latencies_ms, 0.99):.1f} ms, "
                f"mean {statistics.fmean(run.latencies_ms or [0]):.1f} ms; "
                f"acknowledged {run.acknowledged}, stored {run.stored}, errors {run.errors}",
                flush=True,
            )
        table = report(runs)
        print(table)
        rates = commit_rates(db_url)
        commits = (
            "Announcing transactions committed by 16 threads for 5 s (best of 3, same run): "
            + ", ".join(f"{label} {rate:.0f}/s" for label, rate in rates.items())
            + ". This is why `announce()` writes the row only and the listeners poll."
        )
        print(commits)
        table = f"{table}\n\n{commits}"
        if not args.no_write:
            write_section(table, args, (load_before, os.getloadavg()[0]))
            print(f"wrote {PERFORMANCE_DOC.relative_to(ROOT)}")
    finally:
        drop_database(server, name)


if __name__ == "__main__":
    main()
