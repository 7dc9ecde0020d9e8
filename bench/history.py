"""How long the demo's 30-day history takes to load, and where the time goes.

Usage: python -m bench.history DATABASE_URL [--days 30] [--per-day 240]
DATABASE_URL holds a loaded Gaoping demo (it is copied first; the copy is dropped).
Prints events, workflow steps, seconds, and the time per event and per step. It does not
yet compare against an alternative (a bulk writer that plans each timeline with the pure
workflow rules and COPYs the rows would be the one to measure next).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid

import psycopg
from sqlalchemy.engine import make_url

from geodata.history import load_history
from gridmap.db import make_engine, session_factory
from gridmap.routing.router import Router
from gridmap.settings import Settings


def _copy(url: str) -> tuple[str, str]:
    base = make_url(url)
    name = f"bench_history_{uuid.uuid4().hex[:6]}"
    admin = base.set(database="postgres", drivername="postgresql").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{base.database}"')
    return name, base.set(database=name).render_as_string(hide_password=False)


def _drop(url: str, name: str) -> None:
    admin = (
        make_url(url)
        .set(database="postgres", drivername="postgresql")
        .render_as_string(hide_password=False)
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=float, default=240.0)
    args = parser.parse_args()
    name, url = _copy(args.url)
    try:
        engine = make_engine(url)
        sessions = session_factory(engine)
        router = Router(sessions, Settings())
        started = time.perf_counter()
        router.reload()
        print(f"routing snapshot: {time.perf_counter() - started:.1f}s")
        now = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
        with sessions() as session:
            started = time.perf_counter()
            summary = load_history(
                session,
                router=router,
                county_code="140581",
                days=args.days,
                per_day=args.per_day,
                now=now,
            )
            walked = time.perf_counter() - started
            started = time.perf_counter()
            session.commit()
            committed = time.perf_counter() - started
        print(summary.line())
        print(f"fates: {summary.by_fate}")
        print(
            f"walk {walked:.1f}s + commit {committed:.1f}s; "
            f"{walked / max(summary.events, 1) * 1000:.2f} ms per event, "
            f"{walked / max(summary.actions, 1) * 1000:.2f} ms per workflow step"
        )
        engine.dispose()
    finally:
        _drop(args.url, name)


if __name__ == "__main__":
    main()
