"""Shared pieces of the command line: settings, the database, and error printing."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console
from sqlalchemy import Engine

from gridmap.db import make_engine, migrate, resolve_database_url
from gridmap.errors import GridmapError
from gridmap.settings import Settings

console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def settings() -> Settings:
    return Settings()


def database(s: Settings | None = None, *, migrate_first: bool = True) -> tuple[str, Engine]:
    """Resolve (starting the embedded cluster if needed), migrate, and open an engine."""
    s = s or settings()
    url = resolve_database_url(s)
    if migrate_first:
        migrate(url)
    return url, make_engine(url)


def friendly_errors(fn: F) -> F:
    """Print a domain error as one clear line and exit 1, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GridmapError as exc:
            console.print(f"[bold red]error:[/] {exc.message}")
            for key, value in exc.details.items():
                if key != "problems":
                    console.print(f"  {key}: {value}")
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
