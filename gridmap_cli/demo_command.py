"""`gridmap demo [gaoping|monaco]`: load a demo county, with progress bars."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from geodata import demo
from gridmap.access import create_demo_users
from gridmap.db import session_factory, session_scope
from gridmap.errors import InvalidInput
from gridmap_cli.common import console, database, friendly_errors, settings

COUNTIES = {"gaoping": "140581", "monaco": "MC"}


@friendly_errors
def demo_command(
    county: str = typer.Argument("gaoping", help="gaoping (default) or monaco"),
    if_missing: bool = typer.Option(
        False, "--if-missing", help="do nothing when the county is already loaded"
    ),
    history_days: int = typer.Option(
        30, min=0, help="Gaoping: days of past events walked through the workflow (0: none)"
    ),
    history_per_day: float = typer.Option(
        demo.DEFAULT_HISTORY_PER_DAY, min=0.1, help="Gaoping: past events a day, on average"
    ),
) -> None:
    """Load a demo county: Gaoping (高平市, synthetic geometry inside a real outline) or
    Monaco (real OpenStreetMap buildings)."""
    if county not in COUNTIES:
        raise InvalidInput(f"unknown demo {county!r}: choose gaoping or monaco")
    s = settings()
    _, engine = database(s)
    with session_scope(session_factory(engine)) as session:
        if if_missing and demo.demo_loaded(session, county_code=COUNTIES[county]):
            console.print(f"the {county} demo is already loaded")
            # Passwords are shown once and stored only as hashes: a second `./dev run`
            # would otherwise leave a newcomer without a way in.
            _print_credentials(session, COUNTIES[county])
            return

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:

        @contextlib.contextmanager
        def report(name: str, total: int) -> Iterator[Any]:
            task = progress.add_task(name, total=total)

            class Bar:
                def advance(self, n: int = 1) -> None:
                    progress.advance(task, n)

            yield Bar()

        with session_scope(session_factory(engine)) as session:
            if county == "gaoping":
                summary = demo.load_gaoping(
                    session,
                    households_range=(s.households_min, s.households_max),
                    report=report,
                    history_days=history_days,
                    history_per_day=history_per_day,
                    settings=s,
                )
            else:
                summary = demo.load_monaco(
                    session, households_range=(s.households_min, s.households_max), report=report
                )
    counts = ", ".join(f"{v} {k}" for k, v in summary.counts.items())
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in summary.seconds.items())
    console.print(f"[bold]{county}[/] loaded as version {summary.version_id}: {counts}")
    console.print(f"grids: {summary.grid_report}")
    console.print(f"time: {timing}")
    if summary.history is not None:
        console.print(f"history: {summary.history.line()}", highlight=False)
    if summary.disclaimer:
        console.print(summary.disclaimer)
    with session_scope(session_factory(engine)) as session:
        _print_credentials(session, COUNTIES[county])


def _print_credentials(session: Session, county_code: str) -> None:
    """Create (or give new passwords to) the demo users and print them once."""
    credentials = create_demo_users(session, county_code=county_code)
    console.print("demo users (new passwords, shown once; log in at /login):")
    for username, role, area, secret in credentials:
        console.print(f"  {username:28} {role:12} {area:24} {secret}", highlight=False)
