"""Failover under a storm, and the price of synchronous commit.

Builds a primary and a synchronous standby from two embedded clusters on this machine
(`gridmap db standby`, `gridmap db primary --synchronous`), serves gridmap on both hosts
(`target_session_attrs=read-write`) and:

1. measures closed-loop ingest throughput with the standby synchronous, then without
   (`gridmap db primary --asynchronous`), alternating, `--rounds` times each;
2. offers `--rate` events/s (each sender re-sends a ticket answered 503 unchanged, as an
   integrator does), SIGKILLs the primary's postmaster, promotes the standby after
   `--outage` seconds, and prints: events acknowledged, stored, lost (must be 0), stored
   twice, answers by status during the outage, seconds from the kill to the first accepted
   event, and from the promotion to it.

    .venv/bin/python bench/failover.py --duration 10 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridmap.db import libpq_conninfo, make_engine  # noqa: E402
from gridmap.replication import promote, replication_status, set_synchronous  # noqa: E402
from tests import factories as f  # noqa: E402
from tests.replicas import STANDBY, Pair, primary_and_standby  # noqa: E402
from tests.servers import running_service  # noqa: E402

BENCH_HOME = ROOT / ".gridmap-bench"


def ticket(external_id: str, n: int) -> dict[str, object]:
    grid = sorted(f.GRIDS)[n % len(f.GRIDS)]
    lon, lat = f.SmallCounty.grid_center(grid)
    return {
        "source": "bench-failover",
        "external_id": external_id,
        "category": "ROAD",
        "description": "路面坑洼",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "reporter": {"name": "张三", "phone": "13812345678"},
        "reported_at": "2026-11-21T09:30:00+08:00",
    }


@dataclass
class Tally:
    # (sent at, answered at, HTTP status; 0: no answer, the error's name in `errors`)
    answers: list[tuple[float, float, int]] = field(default_factory=list)
    acknowledged: dict[str, int] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)


async def send_until_answered(
    http: httpx.AsyncClient, base: str, external_id: str, n: int, tally: Tally, end: float
) -> None:
    """One ticket, re-sent unchanged after a 503 or a dropped connection until answered
    (after Retry-After, but at most 1 s: the gap is what is measured)."""
    while time.monotonic() < end + 30:
        sent = time.monotonic()
        try:
            response = await http.post(f"{base}/api/events", json=ticket(external_id, n))
            status = response.status_code
        except httpx.TransportError as exc:
            status = 0
            tally.errors[type(exc).__name__] += 1
        tally.answers.append((sent, time.monotonic(), status))
        if status == 201:
            tally.acknowledged[external_id] = response.json()["id"]
        if status not in (0, 503):
            return
        await asyncio.sleep(1.0)


async def offered(
    base: str, rate: float, end: list[float], run: str, tally: Tally, senders: int = 16
) -> None:
    """`rate` new tickets a second until `end[0]`, from `senders` paced senders (each sends
    its next ticket at its next slot, or when its last one is answered if that is later:
    a client that cannot keep up does not pile up requests), each sent until answered."""
    interval = senders / rate

    async def sender(i: int, http: httpx.AsyncClient) -> None:
        n = 0
        slot = time.monotonic() + i * interval / senders
        while time.monotonic() < end[0]:
            if slot > time.monotonic():
                await asyncio.sleep(slot - time.monotonic())
            n += 1
            await send_until_answered(http, base, f"{run}-{i}-{n}", n, tally, end[0])
            slot += interval

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(sender(i, http) for i in range(senders)))


async def closed_loop(base: str, clients: int, seconds: float, run: str) -> int:
    """As fast as answered by `clients` senders; the number of 201s."""
    done = 0

    async def one(i: int) -> None:
        nonlocal done
        n = 0
        async with httpx.AsyncClient(timeout=30) as http:
            while time.monotonic() < end:
                n += 1
                response = await http.post(f"{base}/api/events", json=ticket(f"{run}-{i}-{n}", n))
                done += response.status_code == 201

    end = time.monotonic() + seconds
    await asyncio.gather(*(one(i) for i in range(clients)))
    return done


def promote_in_process(pair: Pair) -> float:
    engine = make_engine(pair.standby_url, pool_size=1)
    with engine.connect() as conn:
        promote(conn)
    engine.dispose()
    return time.monotonic()


def wait_for(pair: Pair, mode: str) -> None:
    """Switch the primary's standby to `mode` (what `gridmap db primary --synchronous NAME`
    / `--asynchronous` run, in process: the command's start-up is seconds here) and wait
    until the walsender reports it."""
    engine = make_engine(pair.primary_url, pool_size=1)
    want = "sync" if mode == "synchronous" else "async"
    with engine.connect() as conn:
        set_synchronous(conn, [STANDBY] if mode == "synchronous" else [])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            states = [s["sync_state"] for s in replication_status(conn)["standbys"]]
        if states == [want]:
            break
        time.sleep(0.05)
    engine.dispose()


def throughput(pair: Pair, base: str, seconds: float, rounds: int, clients: int) -> dict[str, list]:
    asyncio.run(closed_loop(base, clients, 2.0, f"warm-{uuid.uuid4().hex[:6]}"))  # not counted
    rates: dict[str, list[float]] = {"synchronous": [], "asynchronous": []}
    for r in range(rounds):
        # ABBA: the event table grows and the load drifts over the run; alternating the
        # order spreads that over both modes.
        order = ("synchronous", "asynchronous")
        for mode in order if r % 2 == 0 else order[::-1]:
            wait_for(pair, mode)
            run = f"tp-{mode[:4]}-{r}-{uuid.uuid4().hex[:6]}"
            done = asyncio.run(closed_loop(base, clients, seconds, run))
            rates[mode].append(done / seconds)
            print(f"  round {r + 1}: {mode} standby {done / seconds:7.1f} events/s", flush=True)
    wait_for(pair, "synchronous")
    return rates


def commit_rate(url: str, clients: int, seconds: float) -> float:
    """Single-row INSERT + COMMIT, as fast as answered, from `clients` connections: the
    commits a second. What synchronous commit costs, without the service around it."""
    import threading

    done = [0] * clients
    end = time.monotonic() + seconds

    def one(i: int) -> None:
        with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
            while time.monotonic() < end:
                conn.execute("INSERT INTO bench_commit (client) VALUES (%s)", (i,))
                done[i] += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / seconds


def commit_price(pair: Pair, seconds: float, rounds: int, clients: list[int]) -> None:
    """Commits a second with the standby synchronous and asynchronous, in ABBA order per
    round (sync, async, async, sync, …) so a drift of the machine's load over the run
    weighs on both modes alike; the median of each."""
    with psycopg.connect(libpq_conninfo(pair.primary_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_commit (id bigserial, client int)")
    for n in clients:
        got: dict[str, list[float]] = {"synchronous": [], "asynchronous": []}
        for r in range(rounds):
            order = ("synchronous", "asynchronous")
            for mode in order if r % 2 == 0 else order[::-1]:
                wait_for(pair, mode)
                got[mode].append(commit_rate(pair.primary_url, n, seconds))
        sync, asyn = statistics.median(got["synchronous"]), statistics.median(got["asynchronous"])
        print(
            f"  {n:>2} connection(s): synchronous {sync:8.0f} commits/s "
            f"({1000 * n / sync:.2f} ms a commit), asynchronous {asyn:8.0f} commits/s "
            f"({1000 * n / asyn:.2f} ms); runs: sync "
            + " ".join(f"{x:.0f}" for x in got["synchronous"])
            + ", async "
            + " ".join(f"{x:.0f}" for x in got["asynchronous"]),
            flush=True,
        )
    wait_for(pair, "synchronous")


def failover(pair: Pair, base: str, rate: float, outage: float, after: float) -> None:
    tally = Tally()
    run = f"fo-{uuid.uuid4().hex[:8]}"
    marks: dict[str, float] = {}

    async def drive() -> None:
        warmup = 3.0
        end = [time.monotonic() + 3600.0]  # until `after` seconds past the promotion
        sending = asyncio.create_task(offered(base, rate, end, run, tally))
        await asyncio.sleep(warmup)
        marks["kill"] = time.monotonic()
        pair.kill_primary()
        await asyncio.sleep(outage)
        # What `gridmap db promote` runs, in process: the command's start-up took 20-70 s
        # on this loaded machine, which is the operator's delay, not the service's.
        marks["promoted"] = await asyncio.to_thread(promote_in_process, pair)
        end[0] = max(time.monotonic(), marks["promoted"] + after)
        await sending

    asyncio.run(drive())
    kill, promoted = marks["kill"], marks["promoted"]
    # The first event accepted that was sent after the kill (not one in flight before it).
    first = min(done for sent, done, s in tally.answers if sent > kill and s == 201)
    during = Counter(s for _, done, s in tally.answers if kill <= done < first)
    with psycopg.connect(libpq_conninfo(pair.standby_url)) as conn:
        rows = conn.execute(
            "SELECT external_id, id FROM event WHERE source = 'bench-failover' "
            "AND external_id LIKE %s",
            (f"{run}-%",),
        ).fetchall()
    stored = Counter(r[0] for r in rows)
    by_external = {r[0]: r[1] for r in rows}
    lost = [e for e, i in tally.acknowledged.items() if by_external.get(e) != i]
    twice = [e for e, c in stored.items() if c > 1]
    print(f"failover at {rate:g} events/s offered, primary SIGKILLed, promoted {outage:g} s later")
    print(f"  events acknowledged (201): {len(tally.acknowledged)}")
    print(f"  events stored on the new primary: {len(stored)}")
    print(f"  acknowledged and lost: {len(lost)}")
    print(f"  stored twice: {len(twice)}")
    print(
        "  answers during the outage (kill to first 201): "
        + ", ".join(f"{'no answer' if s == 0 else s}: {c}" for s, c in sorted(during.items()))
    )
    print(f"  all answers: {dict(sorted(Counter(s for *_, s in tally.answers).items()))}")
    if tally.errors:
        print(f"  no answer (client side): {dict(tally.errors)}")
    print(f"  seconds from kill to first accepted event: {first - kill:.2f}")
    print(f"  seconds from promotion to first accepted event: {first - promoted:.2f}")
    print(f"  seconds from kill to promotion: {promoted - kill:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per throughput run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16, help="closed-loop senders")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s offered at failover")
    parser.add_argument("--commit-rounds", type=int, default=0, help="commit-price rounds")
    parser.add_argument("--commit-seconds", type=float, default=3.0)
    parser.add_argument("--outage", type=float, default=1.0, help="seconds without a primary")
    parser.add_argument("--after", type=float, default=5.0, help="seconds sent after promotion")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"load average before: {load:.2f} on {os.cpu_count()} CPUs", flush=True)
    print(f"load average before (1, 5, 15 min): {os.getloadavg()}", flush=True)
    base_dir = BENCH_HOME / f"failover-{uuid.uuid4().hex[:8]}"
    with primary_and_standby(base_dir) as pair:
        env = {"GRIDMAP_OVERDUE_CHECK_SECONDS": "0", "GRIDMAP_AUTH_REQUIRED": "false"}
        with running_service(pair.service_url, base_dir / "service", env=env) as base:
            if args.rounds > 0:
                print(f"closed-loop ingest, {args.clients} senders, {args.duration:g} s a run:")
                rates = throughput(pair, base, args.duration, args.rounds, args.clients)
                sync = statistics.median(rates["synchronous"])
                asyn = statistics.median(rates["asynchronous"])
                print(
                    f"  median: synchronous {sync:.1f} events/s, asynchronous {asyn:.1f} "
                    f"events/s ({100 * (1 - sync / asyn):+.1f} % cost of synchronous commit)"
                )
            if args.commit_rounds > 0:
                print(f"single-row commits on the primary, {args.commit_seconds:g} s a run:")
                commit_price(pair, args.commit_seconds, args.commit_rounds, [1, 8])
            if args.rate > 0:
                failover(pair, base, args.rate, args.outage, args.after)
    print(f"load average after (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
