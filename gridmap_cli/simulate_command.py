"""`gridmap simulate --rate N`: post realistic events to a running service, as integrations do."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import IO, Any

import httpx
import typer

from geodata.simulation import EventGenerator, load_picture
from gridmap.db import session_factory, session_scope
from gridmap_cli.common import console, database, friendly_errors, settings

# Answers after which the same ticket is sent again, unchanged: the service has no primary
# (503, during a failover) or could not be reached. Re-sending the same (source,
# external_id) is safe: the service answers 200 with the stored event when it already has
# it, so an event committed but whose answer was lost is neither lost nor stored twice.
RETRY_STATUSES = frozenset({0, 502, 503, 504})
MAX_RETRY_WAIT_S = 1.0


def _retry_wait(response: httpx.Response | None) -> float:
    """Retry-After, but at most a second: a storm's sender wants back in quickly."""
    if response is not None:
        try:
            return min(float(response.headers.get("Retry-After", "1")), MAX_RETRY_WAIT_S)
        except ValueError:
            pass
    return MAX_RETRY_WAIT_S


def post_until_answered(
    client: httpx.Client,
    body: dict[str, Any],
    *,
    stop: threading.Event,
    log: IO[str] | None = None,
    quiet: bool = False,
    give_up_s: float = 600.0,
) -> int:
    """POST one event, re-sent unchanged while the answer is a 503 or no answer at all;
    the final HTTP status (0 if never answered within `give_up_s` or stopped twice over)."""
    deadline = time.monotonic() + give_up_s
    while True:
        sent = time.time()
        response: httpx.Response | None = None
        try:
            response = client.post("/api/events", json=body)
            status = response.status_code
        except httpx.TransportError as exc:
            status = 0
            if not quiet:
                console.print(f"[yellow]service not reachable ({type(exc).__name__}); retrying[/]")
        if log is not None:
            event_id = response.json().get("id") if status in (200, 201) and response else None
            log.write(
                json.dumps(
                    {
                        "external_id": body["external_id"],
                        "status": status,
                        "sent": sent,
                        "answered": time.time(),
                        "id": event_id,
                    }
                )
                + "\n"
            )
            log.flush()
        if status not in RETRY_STATUSES or time.monotonic() > deadline:
            return status
        if not quiet and status:
            console.print(f"[yellow]{status} {body['external_id']}; sending it again[/]")
        # Stopping does not abandon a ticket in hand: it is sent until answered.
        time.sleep(_retry_wait(response))


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
    log_path: Path | None = None,
) -> int:
    """Post events at `rate_per_minute` until `duration_s` passes or `stop` is set; the
    number of events the service took (201 new, 200 already known).

    Paced by slots: the next event is due one interval after the last one was due, so a
    slow answer does not lower the rate, and a client that fell behind sends as fast as
    it is answered instead of piling requests up."""
    _, engine = database(settings(), migrate_first=False)
    with session_scope(session_factory(engine)) as session:
        generator = EventGenerator(load_picture(session, county_code=county_code), seed=seed)
    engine.dispose()
    stop = stop or threading.Event()
    interval = 60.0 / rate_per_minute
    started = time.monotonic()
    slot = started
    taken = 0
    log = log_path.open("a", encoding="utf-8") if log_path else None
    try:
        with httpx.Client(base_url=url, timeout=10, headers=headers or {}) as client:
            while not stop.is_set():
                if duration_s is not None and time.monotonic() - started > duration_s:
                    break
                body = generator.next(dt.datetime.now(dt.UTC))
                status = post_until_answered(client, body, stop=stop, log=log, quiet=quiet)
                taken += status in (200, 201)
                if not quiet:
                    console.print(
                        f"{status} {body['source']:<12} {body['category']} "
                        f"{body['description'][:30]}"
                    )
                slot = max(slot + interval, time.monotonic() - interval)
                stop.wait(max(0.0, slot - time.monotonic()))
    finally:
        if log is not None:
            log.close()
    return taken


@friendly_errors
def simulate(
    rate: float = typer.Option(6.0, help="events per minute"),
    url: str = typer.Option("http://127.0.0.1:8000", help="the running gridmap service"),
    county: str = typer.Option("140581", help="county code to simulate"),
    duration: float = typer.Option(None, help="stop after this many seconds"),
    seed: int = typer.Option(0, help="random seed"),
    token: str = typer.Option(None, envvar="GRIDMAP_TOKEN", help="an integration API token"),
    log: Path = typer.Option(None, help="append every answer here as a JSON line"),
    quiet: bool = typer.Option(False, help="print only the total"),
) -> None:
    """Post realistic events (categories from the responsibility list, points where
    households are, some on grid edges, some duplicates, some emergencies). An event
    answered 503 or not answered is sent again unchanged until the service takes it."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    taken = run_simulation(
        url=url,
        rate_per_minute=rate,
        county_code=county,
        seed=seed,
        duration_s=duration,
        headers=headers,
        quiet=quiet,
        log_path=log,
    )
    console.print(f"{taken} events taken by the service")
