"""`gridmap db start|stop|status|migrate`: the embedded PostGIS and the schema."""

from __future__ import annotations

import json

import typer

from gridmap.db import check_database, make_engine, migrate, resolve_database_url
from gridmap.embedded_db import EmbeddedCluster
from gridmap_cli.common import console, friendly_errors, settings

app = typer.Typer(help="The database: the embedded PostGIS cluster and the schema.")


@app.command()
@friendly_errors
def start() -> None:
    """Start the embedded PostGIS (initialising it the first time) and migrate the schema."""
    s = settings()
    url = resolve_database_url(s)
    migrate(url)
    info = check_database(make_engine(url))
    where = "external server" if s.database_url else f"embedded cluster in {s.home}"
    console.print(f"database ready ({where}), PostGIS {info['postgis_version']}")


@app.command()
@friendly_errors
def stop() -> None:
    """Stop the embedded PostGIS."""
    s = settings()
    if s.database_url:
        console.print("GRIDMAP_DATABASE_URL is set: that server is not gridmap's to stop")
        raise typer.Exit(1)
    stopped = EmbeddedCluster(s.home, bindir=s.pg_bindir).stop()
    console.print("stopped" if stopped else "not running")


@app.command()
@friendly_errors
def status() -> None:
    """Say whether the embedded PostGIS is initialised and running."""
    s = settings()
    if s.database_url:
        info = check_database(make_engine(resolve_database_url(s)))
        print(json.dumps({"external": True, **info}))
        return
    print(json.dumps(EmbeddedCluster(s.home, bindir=s.pg_bindir).status()))


@app.command("migrate")
@friendly_errors
def migrate_command(revision: str = typer.Argument("head")) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    migrate(resolve_database_url(settings()), revision)
    console.print(f"schema at {revision}")
