"""The operator's failover walkthrough of issue #22, scripted so that it can be rerun.

A primary and a synchronous standby from two embedded clusters (`gridmap db standby`,
`gridmap db primary --synchronous`), one `gridmap serve` on the multi-host URL
(`target_session_attrs=read-write`), and `gridmap simulate --rate R` (R events a MINUTE,
as that command counts) posting realistic events of a small county. After `--before`
seconds the primary's postmaster is SIGKILLed; `--outage` seconds later the operator runs
`gridmap db promote` on the standby (the command itself, its start-up included); the
storm goes on for `--after` seconds and is stopped. Then, from the simulator's log of every
answer and the rows on the new primary, it prints: events acknowledged (201 new, 200 already
known), stored, acknowledged and lost (must be 0), stored twice (must be 0), answers by
status (any 500 is a failure), seconds from the kill to the first event accepted again.

    .venv/bin/python bench/storm_failover.py --rate 200
    .venv/bin/python bench/storm_failover.py --rate 6000   # 100 events/s
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridmap.db import libpq_conninfo  # noqa: E402
from tests import factories as f  # noqa: E402
from tests.replicas import Pair, primary_and_standby  # noqa: E402
from tests.replicas import _load_small_county as load_small_county  # noqa: E402
from tests.servers import running_service  # noqa: E402

BENCH_HOME = ROOT / ".gridmap-bench"


def load_county_with_homes(url: str, homes: int = 400) -> None:
    """The small test county, and `homes` buildings with households spread over it: what
    the simulator draws its reporters' locations from."""
    load_small_county(url)
    with psycopg.connect(libpq_conninfo(url)) as conn:
        conn.execute(
            "INSERT INTO building (county_code, code, households, attributes, point) "
            "SELECT %s, 'B' || i, 1 + (i * 7919) %% 40, '{}'::jsonb, "
            "ST_SetSRID(ST_MakePoint(112.9005 + 0.039 * ((i * 0.618034) %% 1), "
            "35.7805 + 0.039 * ((i * 0.381966) %% 1)), 4326) "
            "FROM generate_series(1, %s) AS i",
            (f.COUNTY, homes),
        )


def start_simulator(pair: Pair, base: str, rate: float, log: Path, home: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    env.update({"GRIDMAP_DATABASE_URL": pair.service_url, "GRIDMAP_HOME": str(home)})
    args = ["--rate", f"{rate:g}", "--url", base, "--county", f.COUNTY, "--seed", "7"]
    return subprocess.Popen(
        [sys.executable, "-m", "gridmap_cli.main", "simulate", *args, "--log", str(log), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_log(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def storm(pair: Pair, base: str, work: Path, args: argparse.Namespace) -> dict[str, object]:
    log = work / "simulate.jsonl"
    sim = start_simulator(pair, base, args.rate, log, work / "sim-home")
    # Wait until the storm is on (the command's start-up is seconds), then `before` more.
    deadline = time.monotonic() + 300
    while not any(a["status"] in (200, 201) for a in read_log(log)):
        if sim.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"gridmap simulate did not start:\n{sim.stderr.read() if sim.stderr else ''}"
            )
        time.sleep(0.2)
    time.sleep(args.before)
    killed = time.time()
    pair.kill_primary()
    time.sleep(args.outage)
    promote_started = time.time()
    promoted = time.time() - (time.monotonic() - pair.promote_standby())
    promote_command_s = time.time() - promote_started
    time.sleep(args.after)
    # Stop the simulator where it stands; a ticket in hand then is not acknowledged and
    # is counted as stored-but-not-acknowledged if the service had committed it.
    sim.send_signal(signal.SIGINT)
    try:
        sim.wait(timeout=30)
    except subprocess.TimeoutExpired:
        sim.kill()
        sim.wait()
    answers = read_log(log)
    acknowledged = {a["external_id"]: a["id"] for a in answers if a["status"] in (200, 201)}
    with psycopg.connect(libpq_conninfo(pair.standby_url)) as conn:
        rows = conn.execute(
            "SELECT external_id, id FROM event WHERE external_id LIKE 'SIM-%%-7-%%'"
        ).fetchall()
        in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    stored = Counter(r[0] for r in rows)
    stored_id = {r[0]: r[1] for r in rows}
    lost = [e for e, i in acknowledged.items() if stored_id.get(e) != i]
    twice = [e for e, c in stored.items() if c > 1]
    first = min(
        (a["answered"] for a in answers if a["sent"] > killed and a["status"] in (200, 201)),
        default=float("nan"),
    )
    during = Counter(a["status"] for a in answers if killed <= a["answered"] < first)
    resent_ok = sum(1 for a in answers if a["status"] == 200)
    return {
        "rate_per_minute": args.rate,
        "acknowledged": len(acknowledged),
        "acknowledged_200_already_known": resent_ok,
        "stored": len(stored),
        "stored_not_acknowledged": len(set(stored) - set(acknowledged)),
        "lost": len(lost),
        "twice": len(twice),
        "answers": dict(sorted(Counter(a["status"] for a in answers).items())),
        "answers_kill_to_first_accepted": dict(sorted(during.items())),
        "kill_to_promoted_s": round(promoted - killed, 2),
        "promote_command_s": round(promote_command_s, 2),
        "kill_to_first_accepted_s": round(first - killed, 2),
        "promoted_to_first_accepted_s": round(first - promoted, 2),
        "new_primary_in_recovery": in_recovery[0] if in_recovery else None,
        "simulator_exit": sim.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="events a MINUTE offered")
    parser.add_argument("--before", type=float, default=15.0, help="storm seconds before the kill")
    parser.add_argument("--outage", type=float, default=2.0, help="seconds before `db promote`")
    parser.add_argument("--after", type=float, default=15.0, help="storm seconds after promotion")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    work = BENCH_HOME / f"storm-{uuid.uuid4().hex[:8]}"
    with primary_and_standby(work / "db", load=load_county_with_homes) as pair:
        env = {"GRIDMAP_OVERDUE_CHECK_SECONDS": "0", "GRIDMAP_AUTH_REQUIRED": "false"}
        with running_service(pair.service_url, work / "service", env=env) as base:
            result = storm(pair, base, work, args)
            health = __import__("httpx").get(f"{base}/health", timeout=10).json()
    for key, value in result.items():
        print(f"  {key}: {value}")
    print(f"  /health after: {json.dumps(health, ensure_ascii=False)[:300]}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ok = result["lost"] == 0 and result["twice"] == 0 and 500 not in result["answers"]  # type: ignore[operator]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
