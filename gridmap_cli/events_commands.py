"""`gridmap events import FILE` (a 12345 hotline export) and `gridmap events check-overdue`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer
from sqlalchemy import select

from gridmap.db import session_factory, session_scope
from gridmap.events import EventPolicy, check_overdue, import_events, read_hotline_export
from gridmap.models import Area
from gridmap.routing import Router
from gridmap_cli.common import console, database, friendly_errors, settings

app = typer.Typer(help="Events: import a hotline export, check deadlines.")


@app.command("import")
@friendly_errors
def import_command(
    file: Path = typer.Argument(..., help="12345 export: .csv (header row) or .json"),
    all_or_nothing: bool = typer.Option(
        True,
        "--all-or-nothing/--skip-bad",
        help="refuse the whole file if any row is bad (default), or import the good rows",
    ),
    source: str = typer.Option("12345", help="source name for rows without a source column"),
    actor: str = typer.Option("import", help="who is recorded in each event's log"),
    county: str | None = typer.Option(
        None,
        help="the county whose address register geocodes address-only rows and whose "
        "triage queue gets rows that cannot be placed (default: the only county loaded)",
    ),
) -> None:
    """Route and store every row of a hotline export in one transaction.

    Rows with only an address are geocoded against the county's address register: placed
    and routed at or above the auto-place confidence, else left in its triage queue with
    their candidates (docs/geocoding.md). Bad rows are listed by line number with the
    reason. The same ticket imported twice stays one event. Columns: docs/events.md.
    """
    s = settings()
    rows = read_hotline_export(file, default_source=source)
    _, engine = database(s)
    sessions = session_factory(engine)
    router = Router(sessions, s)
    router.reload()
    with session_scope(sessions) as session:
        if county is None:
            counties = session.scalars(
                select(Area.code)
                .where(Area.layer == "county", Area.valid_to.is_(None))
                .distinct()
                .limit(2)
            ).all()
            county = counties[0] if len(counties) == 1 else None
        address_only = sum(
            1 for r in rows if r.payload is not None and r.payload.address and r.payload.lon is None
        )
        if county is None and address_only:
            console.print(
                f"[yellow]{file}: {address_only} row(s) have only an address: with several "
                "counties loaded, name the county (--county) so they are geocoded[/]"
            )
        report = import_events(
            session,
            router=router,
            rows=rows,
            actor=actor,
            all_or_nothing=all_or_nothing,
            policy=EventPolicy.from_settings(s),
            source_name=str(file),
            county_code=county,
        )
    for line, reason in report.bad:
        console.print(f"[yellow]{file}: line {line}:[/] {reason} (skipped)")
    print(
        json.dumps(
            {
                "file": str(file),
                "created": len(report.created),
                "already_known": len(report.existing),
                "unplaced": len(report.unplaced),
                "placed_by_address": len(report.placed_by_address),
                "triage_with_candidates": len(report.triage_with_candidates),
                "bad": [{"line": line, "reason": reason} for line, reason in report.bad],
            },
            ensure_ascii=False,
        )
    )


@app.command("check-overdue")
@friendly_errors
def check_overdue_command() -> None:
    """Mark events past a deadline, alert on the live stream, escalate them one level."""
    s = settings()
    _, engine = database(s)
    with session_scope(session_factory(engine)) as session:
        marked = check_overdue(session, now=dt.datetime.now(dt.UTC))
    print(json.dumps({"overdue": marked}))
