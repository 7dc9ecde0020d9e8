"""`gridmap db start|stop|status|migrate|standby|primary|promote`: the database, its schema
and its replication."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import typer
from sqlalchemy import Connection, Engine, text

from gridmap.db import (
    check_database,
    hint_for,
    make_engine,
    migrate,
    resolve_database_url,
    translate_errors,
)
from gridmap.embedded_db import EmbeddedCluster
from gridmap.replication import (
    app_credentials,
    grant_replication,
    replication_status,
    set_synchronous,
)
from gridmap.replication import promote as promote_standby
from gridmap_cli.common import console, friendly_errors, settings

app = typer.Typer(help="The database: the embedded PostGIS cluster and the schema.")


@contextlib.contextmanager
def _connected(engine: Engine) -> Iterator[Connection]:
    # The hint says what to do about a database that does not answer: start the embedded
    # one, or check (or unset) GRIDMAP_DATABASE_URL.
    url = engine.url.render_as_string(hide_password=False)
    with translate_errors(url, hint=hint_for(settings())), engine.connect() as c:
        yield c


def _in_recovery(engine: Engine) -> bool:
    with _connected(engine) as conn:
        return bool(conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one())


@app.command()
@friendly_errors
def start() -> None:
    """Start the embedded PostGIS (initialising it the first time) and migrate the schema."""
    s = settings()
    url = resolve_database_url(s)
    engine = make_engine(url, pool_size=1)
    if _in_recovery(engine):
        console.print("this cluster is a standby: the schema comes from its primary")
    else:
        migrate(url)
    info = check_database(engine)
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


def _replication(engine: Engine) -> dict[str, Any]:
    with _connected(engine) as conn:
        return replication_status(conn)


@app.command()
@friendly_errors
def status() -> None:
    """Whether the database is running; its role (primary or standby), lag and sync state."""
    s = settings()
    if s.database_url:
        engine = make_engine(resolve_database_url(s), pool_size=1)
        info = check_database(engine)
        print(json.dumps({"external": True, **info, **_replication(engine)}, default=str))
        return
    cluster = EmbeddedCluster(s.home, bindir=s.pg_bindir)
    out: dict[str, Any] = cluster.status()
    if out["running"]:
        out.update(_replication(make_engine(cluster.info().url, pool_size=1)))
    print(json.dumps(out, default=str))


@app.command()
@friendly_errors
def standby(
    primary_url: str = typer.Option(
        ..., "--primary", help="the primary's database URL, as a superuser (gridmap's own user)"
    ),
    name: str = typer.Option(
        "standby1", help="this standby's name: its slot, and what --synchronous refers to"
    ),
    replace: bool = typer.Option(False, help="delete a cluster already in GRIDMAP_HOME"),
    wait: float = typer.Option(60.0, help="seconds to wait until it streams"),
) -> None:
    """Make the embedded cluster a streaming replica of PRIMARY (pg_basebackup, a slot)."""
    s = settings()
    if s.database_url:
        console.print(
            "GRIDMAP_DATABASE_URL is set: make that server a standby with its own tooling "
            "(pg_basebackup -R -C -S NAME; docs/deployment.md)"
        )
        raise typer.Exit(1)
    user, password = app_credentials(primary_url)
    grant = grant_replication(primary_url, name)
    cluster = EmbeddedCluster(s.home, bindir=s.pg_bindir)
    cluster.init_standby(grant, user=user, password=password, replace=replace)
    info = cluster.start()
    engine = make_engine(info.url, pool_size=1)
    deadline = time.monotonic() + wait
    state = _replication(engine)
    while state.get("receiver") != "streaming" and time.monotonic() < deadline:
        time.sleep(0.2)
        state = _replication(engine)
    if state.get("receiver") != "streaming":
        console.print(f"[bold red]error:[/] the standby does not stream yet: {state}")
        raise typer.Exit(1)
    console.print(
        f"standby {name!r} streaming from {grant.host}:{grant.port}, listening on "
        f"127.0.0.1:{info.port}; make the primary wait for it with "
        f"`gridmap db primary --synchronous {name}`"
    )


@app.command()
@friendly_errors
def primary(
    synchronous: list[str] = typer.Option(
        [], help="a standby the primary waits for at each commit (repeat: the first alive)"
    ),
    asynchronous: bool = typer.Option(False, help="stop waiting for any standby"),
    remote_apply: bool = typer.Option(
        False, help="wait until the standby has applied a commit, not only flushed it"
    ),
) -> None:
    """Make this database wait for a synchronous standby (synchronous_standby_names)."""
    if synchronous and asynchronous:
        console.print("--synchronous and --asynchronous contradict each other")
        raise typer.Exit(2)
    engine = make_engine(resolve_database_url(settings()), pool_size=1)
    if synchronous or asynchronous:
        with _connected(engine) as conn:
            set_synchronous(conn, synchronous, commit="remote_apply" if remote_apply else "on")
    state = _replication(engine)
    # The walsenders take the new setting at their next reload: show it once they have.
    deadline = time.monotonic() + 5
    while synchronous and time.monotonic() < deadline:
        if any(sb["sync_state"] in ("sync", "quorum") for sb in state["standbys"]):
            break
        time.sleep(0.1)
        state = _replication(engine)
    print(json.dumps(state, default=str))


@app.command()
@friendly_errors
def promote() -> None:
    """Promote this standby to primary (pg_promote); it stops following its old primary."""
    engine = make_engine(resolve_database_url(settings()), pool_size=1)
    with _connected(engine) as conn:
        promoted = promote_standby(conn)
    console.print("promoted: this is the primary now" if promoted else "already a primary")


@app.command("migrate")
@friendly_errors
def migrate_command(revision: str = typer.Argument("head")) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    migrate(resolve_database_url(settings()), revision)
    console.print(f"schema at {revision}")
