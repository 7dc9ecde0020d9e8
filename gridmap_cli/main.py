"""`gridmap`: the single command-line entry point."""

from __future__ import annotations

import os
import time

import typer

from gridmap_cli import (
    basemap_commands,
    boundaries_commands,
    county_commands,
    db_commands,
    demo_command,
    events_commands,
    ledger_command,
    route_command,
    simulate_command,
    users_commands,
)
from gridmap_cli.common import console, database, friendly_errors, settings

app = typer.Typer(
    help="gridmap: grids, routing, events and the command view for a county.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_commands.app, name="db")
app.add_typer(boundaries_commands.app, name="boundaries")
app.add_typer(county_commands.app, name="county")
app.add_typer(basemap_commands.app, name="basemap")
app.add_typer(events_commands.app, name="events")
app.add_typer(users_commands.users_app, name="users")
app.add_typer(users_commands.tokens_app, name="tokens")
app.add_typer(users_commands.audit_app, name="audit")
app.command("route")(route_command.route)
app.command("demo")(demo_command.demo_command)
app.command("simulate")(simulate_command.simulate)
app.command("ledger")(ledger_command.ledger)


def _simulator_token(county_code: str) -> str:
    """A day-long integration token for the built-in simulator: it posts through the API
    like any 12345 gateway, with no special door."""
    import datetime as dt

    from gridmap.access import accounts as auth
    from gridmap.db import session_factory, session_scope

    _, engine = database(migrate_first=False)
    with session_scope(session_factory(engine)) as session:
        _, secret = auth.create_token(
            session,
            name=f"simulator-{int(time.time())}",
            role="integration",
            area_codes=[county_code],
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )
    engine.dispose()
    return secret


@app.command()
@friendly_errors
def serve(
    host: str = typer.Option(None, help="address to listen on (default 127.0.0.1)"),
    port: int = typer.Option(None, help="port (default 8000)"),
    workers: int = typer.Option(None, help="worker processes"),
    simulate: float = typer.Option(
        0, "--simulate", help="also post N simulated events a minute (a demo that moves)"
    ),
    simulate_county: str = typer.Option("140581", help="county the simulation reports in"),
    access_log: bool = typer.Option(
        False, "--access-log", help="log every request (off by default: a line per request)"
    ),
) -> None:
    """Run the HTTP service (the API and the map pages)."""
    import threading

    import uvicorn

    s = settings()
    url, _ = database(s)
    # Workers are separate processes: hand them the resolved URL so none of them
    # tries to start the embedded cluster again.
    os.environ["GRIDMAP_RESOLVED_DATABASE_URL"] = url
    bind_host, bind_port = host or s.host, port or s.port
    if simulate > 0:
        token = _simulator_token(simulate_county)
        threading.Thread(
            target=simulate_command.run_simulation,
            kwargs={
                "url": f"http://{'127.0.0.1' if bind_host == '0.0.0.0' else bind_host}:{bind_port}",
                "rate_per_minute": simulate,
                "county_code": simulate_county,
                "seed": int(time.time()),
                "headers": {"Authorization": f"Bearer {token}"},
                "quiet": True,
            },
            daemon=True,
        ).start()
    console.print(f"gridmap: the command view is at http://{bind_host}:{bind_port}/")
    uvicorn.run(
        "api.app:app_from_environment",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers or s.workers,
        log_level="info",
        # A log line per request cost a measurable share of a worker's CPU under load.
        access_log=access_log,
        # A worker imports the whole stack (numba, geopandas): seconds on a busy machine,
        # more than uvicorn's default 5 s start-up check allows.
        timeout_worker_healthcheck=60,
        # Open event streams would hold a shutdown forever; maps reconnect and catch up.
        timeout_graceful_shutdown=5,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 by default, letting any
        # local client pick its address (login limit, audit log): gridmap reads it itself,
        # only from GRIDMAP_TRUSTED_PROXIES (api.auth.source_addr).
        proxy_headers=False,
    )


if __name__ == "__main__":
    app()
