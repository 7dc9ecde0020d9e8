"""`gridmap users`, `gridmap tokens` and `gridmap audit`: accounts, integration tokens, the log.

Every change is written to the audit log as `cli:<OS user>` from `local`: whoever runs
the command line on the server answers for it.
"""

from __future__ import annotations

import datetime as dt
import getpass
import sys
from contextlib import AbstractContextManager
from typing import Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from gridmap.access import TOKEN_ROLES, accounts, audit, check_token_role
from gridmap.db import session_factory, session_scope
from gridmap.errors import InvalidInput
from gridmap_cli.common import console, database, friendly_errors, settings

users_app = typer.Typer(help="Users: add, list, disable, reset a password.", no_args_is_help=True)
tokens_app = typer.Typer(help="Integration API tokens: create, list, revoke.", no_args_is_help=True)
audit_app = typer.Typer(help="Query the append-only audit log.")

SOURCE = "local"


def _audit(
    session: Session,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Every change made here is written to the audit log as the local system user."""
    audit.record(
        session,
        actor=_actor(),
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
        source_addr=SOURCE,
    )


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _password(from_stdin: bool) -> str:
    """The new password from standard input (one line) or a hidden, confirmed prompt."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise InvalidInput("--password-stdin: standard input held no password")
        return password
    value: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return value


def _sessions() -> AbstractContextManager[Session]:
    """One unit of work, committed at the end (the write and its audit entry together)."""
    _, engine = database(settings())
    return session_scope(session_factory(engine))


# --- users ------------------------------------------------------------------------------


@users_app.command("add")
@friendly_errors
def add_user(
    name: str = typer.Argument(..., help="the login name"),
    role: str = typer.Option(..., help="operator, planner, grid_worker, team_member, …"),
    area: list[str] = typer.Option(
        [], help="a county, township, community or grid code; repeat for several"
    ),
    team: str | None = typer.Option(None, help="team code (team members, grid workers)"),
    display_name: str = typer.Option("", help="the person's name"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from standard input"
    ),
) -> None:
    """Add a user with a role and the areas it answers for."""
    password = _password(password_stdin)
    with _sessions() as session:
        user = accounts.create_user(
            session,
            username=name,
            role=role,
            password=password,
            area_codes=area,
            team_code=team,
            display_name=display_name,
        )
        _audit(
            session,
            "user.add",
            "user",
            user.username,
            details={"role": role, "areas": list(area), "team": team},
        )
    console.print(f"user {name} ({role}) added")


@users_app.command("list")
@friendly_errors
def list_users() -> None:
    """Every user with role, areas, team and whether it is disabled."""
    table = Table("user", "role", "areas", "team", "disabled", "created")
    with _sessions() as session:
        for user, areas in accounts.list_users(session):
            table.add_row(
                user.username,
                user.role,
                ", ".join(f"{a.layer} {a.code}" for a in areas),
                str(user.team_id or ""),
                "yes" if user.disabled else "",
                f"{user.created_at:%Y-%m-%d}",
            )
    typer.echo(_render(table))


@users_app.command("disable")
@friendly_errors
def disable_user(name: str = typer.Argument(...)) -> None:
    """Disable a user; its open sessions end at once."""
    with _sessions() as session:
        accounts.disable_user(session, username=name)
        _audit(session, "user.disable", "user", name)
    console.print(f"user {name} disabled")


@users_app.command("reset-password")
@friendly_errors
def reset_password(
    name: str = typer.Argument(...),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from standard input"
    ),
) -> None:
    """Set a new password; the user's open sessions end."""
    password = _password(password_stdin)
    with _sessions() as session:
        accounts.reset_password(session, username=name, password=password)
        _audit(session, "user.reset_password", "user", name)
    console.print(f"password of {name} reset")


# --- tokens -----------------------------------------------------------------------------


@tokens_app.command("create")
@friendly_errors
def create_token(
    name: str = typer.Argument(..., help="what the token is for, e.g. 12345-hotline"),
    role: str = typer.Option("integration", help="usually integration"),
    area: list[str] = typer.Option([], help="area codes it may see; repeat"),
    days: int | None = typer.Option(None, min=1, help="expire after this many days"),
    privileged: bool = typer.Option(
        False,
        "--privileged-role",
        help="allow a role other than integration or reader (audited as privileged)",
    ),
) -> None:
    """Create a token; it is printed once, alone on the last line, and never again.

    A token is for an integration (role `integration`) or a reader (`reader`); any other
    role must be asked for with --privileged-role."""
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=days) if days else None
    check_token_role(role, privileged=privileged)
    with _sessions() as session:
        row, secret = accounts.create_token(
            session, name=name, role=role, area_codes=area, expires_at=expires
        )
        _audit(
            session,
            "token.create",
            "token",
            row.name,
            details={
                "role": role,
                "areas": list(area),
                "expires_at": str(expires),
                **({"privileged": True} if role not in TOKEN_ROLES else {}),
            },
        )
    console.print(f"token {name} ({role}) created; it is shown once, keep it now:")
    typer.echo(secret)


@tokens_app.command("list")
@friendly_errors
def list_tokens() -> None:
    """Every token (names and scopes, never the secrets)."""
    table = Table("token", "role", "areas", "created", "expires", "revoked")
    with _sessions() as session:
        for row in accounts.list_tokens(session):
            table.add_row(
                row.name,
                row.role,
                ", ".join(a["code"] for a in row.area_codes.get("areas", [])),
                f"{row.created_at:%Y-%m-%d}",
                f"{row.expires_at:%Y-%m-%d}" if row.expires_at else "",
                f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
            )
    typer.echo(_render(table))


@tokens_app.command("revoke")
@friendly_errors
def revoke_token(name: str = typer.Argument(...)) -> None:
    """Revoke a token: refused from the next request on."""
    with _sessions() as session:
        accounts.revoke_token(session, name=name)
        _audit(session, "token.revoke", "token", name)
    console.print(f"token {name} revoked")


# --- audit ------------------------------------------------------------------------------


@audit_app.callback(invoke_without_command=True)
@friendly_errors
def audit_command(
    actor: str | None = typer.Option(None, help="e.g. user:wang or token:12345-hotline"),
    action: str | None = typer.Option(None, help="an action or its prefix: event.close, user."),
    target_type: str | None = typer.Option(None, "--type", help="event, user, token, area, …"),
    target: str | None = typer.Option(None, help="an event id, a username, an area code"),
    since: dt.datetime | None = typer.Option(None, help="from this time on"),
    limit: int = typer.Option(100, min=1, max=10_000),
) -> None:
    """Who did what, when, from where: newest first."""
    table = Table("at", "actor", "from", "action", "target", "details")
    with _sessions() as session:
        for entry in audit.query(
            session,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target,
            since=since,
            limit=limit,
        ):
            table.add_row(
                f"{entry.at:%Y-%m-%d %H:%M:%S%z}",
                entry.actor,
                entry.source_addr or "",
                entry.action,
                f"{entry.target_type} {entry.target_id or ''}",
                ", ".join(f"{k}={v}" for k, v in entry.details.items()),
            )
    typer.echo(_render(table))


def _render(table: Table) -> str:
    from rich.console import Console

    out = Console(width=200, record=True, file=None, force_terminal=False)
    with out.capture() as captured:
        out.print(table)
    return captured.get()
