"""`gridmap ledger KIND`: a ledger (台账) generated from the data, written to a file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from gridmap.db import session_factory
from gridmap.events import ledgers, stats
from gridmap_cli.common import database, friendly_errors, settings


@friendly_errors
def ledger(
    kind: str = typer.Argument(..., help="events | assessment | return_visits | patrols | visits"),
    output: Path = typer.Option(..., "-o", "--output", help="the file to write"),
    fmt: str = typer.Option("", "-f", "--format", help="xlsx | csv | json (default: by -o)"),
    period: str = typer.Option("week", help=" | ".join(stats.PERIODS)),
    date_from: str = typer.Option("", "--from", help="custom period: first day (YYYY-MM-DD)"),
    date_to: str = typer.Option("", "--to", help="custom period: last day (YYYY-MM-DD)"),
    area: str = typer.Option("", help="a county, township, community or grid code"),
    by: str = typer.Option("grid", help="the assessment table's unit"),
    lang: str = typer.Option("zh", help="zh | en (the headers)"),
) -> None:
    """Write a ledger for a period and area: every row from the data, none typed.

    Run on the server, the command sees the whole county (it is the system, not a user).
    """
    chosen = stats.resolve_period(
        period=period if not (date_from or date_to) else "custom",
        date_from=dt.date.fromisoformat(date_from) if date_from else None,
        date_to=dt.date.fromisoformat(date_to) if date_to else None,
    )
    kind_of_file = fmt or output.suffix.lstrip(".").lower() or "xlsx"
    _, engine = database(settings())
    with session_factory(engine)() as session:
        book = ledgers.build_ledger(
            session, kind=kind, period=chosen, area=area or None, by=by, lang=lang
        )
        if kind_of_file == "xlsx":
            n = ledgers.write_xlsx(book, output, lang=lang)
        elif kind_of_file == "csv":
            with output.open("w", encoding="utf-8", newline="") as out:
                lines = ledgers.csv_lines(book, lang=lang)
                n = sum(1 for line in lines if out.write(line)) - 1  # the header is no row
        elif kind_of_file == "json":
            rows = ledgers.json_rows(book)
            n = len(rows)
            output.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
        else:
            raise typer.BadParameter("format: xlsx, csv or json")
    span = chosen.to_dict()
    print(json.dumps({"kind": kind, "file": str(output), "rows": n, "period": span}))
