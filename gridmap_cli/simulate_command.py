"""`gridmap simulate --rate N`: post realistic events to a running service, as integrations do."""

from __future__ import annotations

import datetime as dt
import threading
import time

import httpx
import typer

from geodata.simulation import EventGenerator, load_picture
from gridmap.db import session_factory, session_scope
from gridmap_cli.common import console, database, friendly_errors, settings


def run_simulation(
    *,
    url: str,
    rate_per_minute: float,
    county_code: str,
    seed: int,
    duration_s: float | None = None,
    headers: dict[str, str] | None = None,
    stop: threading.Event | None = None,
    quiet: bool = False,
) -> int:
    """Post events at `rate_per_minute` until `duration_s` passes or `stop` is set."""
    _, engine = database(settings(), migrate_first=False)
    with session_scope(session_factory(engine)) as session:
        generator = EventGenerator(load_picture(session, county_code=county_code), seed=seed)
    engine.dispose()
    stop = stop or threading.Event()
    interval = 60.0 / rate_per_minute
    started = time.monotonic()
    sent = 0
    with httpx.Client(base_url=url, timeout=10, headers=headers or {}) as client:
        while not stop.is_set():
            if duration_s is not None and time.monotonic() - started > duration_s:
                break
            body = generator.next(dt.datetime.now(dt.UTC))
            try:
                response = client.post("/api/events", json=body)
                sent += 1
                if not quiet:
                    console.print(
                        f"{response.status_code} {body['source']:<12} {body['category']} "
                        f"{body['description'][:30]}"
                    )
            except httpx.TransportError as exc:  # the service restarting: keep trying
                if not quiet:
                    console.print(f"[yellow]service not reachable ({exc}); retrying[/]")
            stop.wait(interval)
    return sent


@friendly_errors
def simulate(
    rate: float = typer.Option(6.0, help="events per minute"),
    url: str = typer.Option("http://127.0.0.1:8000", help="the running gridmap service"),
    county: str = typer.Option("140581", help="county code to simulate"),
    duration: float = typer.Option(None, help="stop after this many seconds"),
    seed: int = typer.Option(0, help="random seed"),
    token: str = typer.Option(None, envvar="GRIDMAP_TOKEN", help="an integration API token"),
) -> None:
    """Post realistic events (categories from the responsibility list, points where
    households are, some on grid edges, some duplicates, some emergencies)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    sent = run_simulation(
        url=url,
        rate_per_minute=rate,
        county_code=county,
        seed=seed,
        duration_s=duration,
        headers=headers,
    )
    console.print(f"{sent} events posted")
