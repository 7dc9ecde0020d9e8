"""`gridmap`: the single command-line entry point."""

from __future__ import annotations

import os

import typer

from gridmap_cli import (
    boundaries_commands,
    db_commands,
    demo_command,
    events_commands,
    route_command,
    users_commands,
)
from gridmap_cli.common import database, friendly_errors, settings

app = typer.Typer(
    help="gridmap: grids, routing, events and the command view for a county.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_commands.app, name="db")
app.add_typer(boundaries_commands.app, name="boundaries")
app.add_typer(events_commands.app, name="events")
app.add_typer(users_commands.users_app, name="users")
app.add_typer(users_commands.tokens_app, name="tokens")
app.add_typer(users_commands.audit_app, name="audit")
app.command("route")(route_command.route)
app.command("demo")(demo_command.demo_command)


@app.command()
@friendly_errors
def serve(
    host: str = typer.Option(None, help="address to listen on (default 127.0.0.1)"),
    port: int = typer.Option(None, help="port (default 8000)"),
    workers: int = typer.Option(None, help="worker processes"),
) -> None:
    """Run the HTTP service (the API and the map pages)."""
    import uvicorn

    s = settings()
    url, _ = database(s)
    # Workers are separate processes: hand them the resolved URL so none of them
    # tries to start the embedded cluster again.
    os.environ["GRIDMAP_RESOLVED_DATABASE_URL"] = url
    uvicorn.run(
        "api.app:app_from_environment",
        factory=True,
        host=host or s.host,
        port=port or s.port,
        workers=workers or s.workers,
        log_level="info",
    )


if __name__ == "__main__":
    app()
