"""HTTP doors to accounts and the audit log: users and their areas, integration tokens
(admins), and querying the audit log (supervisors and admins). Every write is audited,
and a caller below the county sees and changes only the accounts inside its areas."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.auth import PrincipalDep, audit_write
from api.deps import SessionDep
from gridmap.access import (
    INTEGRATION,
    TOKEN_ROLES,
    AreaScope,
    Principal,
    account_scope,
    accounts,
    audit,
    check_token_role,
)
from gridmap.boundaries import versions as boundaries
from gridmap.errors import InvalidInput, PermissionDenied
from gridmap.events import ZonedTime
from gridmap.models import ApiToken, AppUser, AuditLog, Team

router = APIRouter(prefix="/api", tags=["administration"])

# Area codes are at most 40 characters (user_area.area_code); a person has a few areas.
AreaCode = Annotated[str, Field(min_length=1, max_length=40)]
AreaList = Annotated[list[AreaCode], Field(max_length=500)]


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    role: str = Field(min_length=1, max_length=20)
    password: str = Field(min_length=1, max_length=1024)
    areas: AreaList = []
    team: str | None = Field(default=None, max_length=40)
    display_name: str = Field(default="", max_length=100)


class PasswordIn(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


class AreasIn(BaseModel):
    areas: AreaList


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    role: str = Field(default=INTEGRATION, min_length=1, max_length=20)
    areas: AreaList = []
    days: int | None = Field(default=None, ge=1, le=3650, description="expire after N days")
    privileged: bool = Field(
        default=False,
        description="a county-wide administrator asks for a role other than integration or "
        "reader (audited)",
    )


# --- what the answers hold (never a password, its hash, or a token's secret) -----------


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _user_json(session: Session, user: AppUser) -> dict[str, Any]:
    team = session.get(Team, user.team_id) if user.team_id is not None else None
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "areas": [
            {"layer": a.layer, "code": a.code}
            for a in accounts.user_areas(session, user_id=user.id)
        ],
        "team": team.code if team else None,
        "disabled": user.disabled,
        "created_at": _iso(user.created_at),
    }


def _token_json(row: ApiToken) -> dict[str, Any]:
    return {
        "name": row.name,
        "role": row.role,
        "areas": [{"layer": a.layer, "code": a.code} for a in accounts.token_areas(row)],
        "created_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
        "revoked_at": _iso(row.revoked_at),
    }


def _audit_json(entry: AuditLog) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _iso(entry.at),
        "actor": entry.actor,
        "source_addr": entry.source_addr,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "details": entry.details,
    }


# --- what a caller's areas hold (the rule: gridmap/access/account_scope.py) -------------------


def _scope(session: Session, principal: Principal) -> AreaScope:
    """The caller's areas on the active map."""
    return boundaries.active_scope(session, principal.jurisdiction)


def _check_within(
    session: Session, principal: Principal, codes: list[str], *, team: str | None = None
) -> None:
    accounts.resolve_areas(session, codes=codes)  # a typo is a 422 naming it, not a 403
    account_scope.check_grant(session, _scope(session, principal), codes, team=team)


def _check_user_inside(session: Session, principal: Principal, username: str) -> None:
    """A user that does not exist is the domain's 404; one outside the caller's areas 403."""
    user = accounts.get_user(session, username=username)
    account_scope.check_user_inside(
        session, _scope(session, principal), user_id=user.id, username=username
    )


def _change_user(
    session: Session,
    request: Request,
    principal: Principal,
    *,
    username: str,
    action: str,
    change: Callable[[], AppUser],
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The shape of every change to a user: find it (404) inside the caller's areas (403),
    change it, audit the change, commit, answer with the user as it is now."""
    _check_user_inside(session, principal, username)
    user = change()
    audit_write(
        session,
        request,
        principal,
        action=action,
        target_type="user",
        target_id=username,
        details=details,
    )
    session.commit()
    return _user_json(session, user)


# --- users ------------------------------------------------------------------------------


@router.get("/admin/users", summary="Users inside your areas: role, areas, team, disabled")
def list_users(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    users = account_scope.users_in(session, _scope(session, principal))
    return {"users": [_user_json(session, u) for u in users]}


@router.post("/admin/users", status_code=201, summary="Add a user with a role and areas")
def add_user(
    body: UserIn, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    _check_within(session, principal, body.areas, team=body.team)
    user = accounts.create_user(
        session,
        username=body.username,
        role=body.role,
        password=body.password,
        area_codes=body.areas,
        team_code=body.team,
        display_name=body.display_name,
    )
    audit_write(
        session,
        request,
        principal,
        action="user.add",
        target_type="user",
        target_id=user.username,
        details={"role": user.role, "areas": list(body.areas), "team": body.team},
    )
    session.commit()
    return _user_json(session, user)


@router.post("/admin/users/{username}/disable", summary="Disable a user; its sessions end")
def disable_user(
    username: str, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    if principal.kind == "user" and principal.name == username:
        raise InvalidInput(
            "you cannot disable yourself: ask another administrator",
            details={"username": username},
        )
    return _change_user(
        session,
        request,
        principal,
        username=username,
        action="user.disable",
        change=lambda: accounts.disable_user(session, username=username),
    )


@router.post("/admin/users/{username}/enable", summary="Let a disabled user log in again")
def enable_user(
    username: str, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return _change_user(
        session,
        request,
        principal,
        username=username,
        action="user.enable",
        change=lambda: accounts.enable_user(session, username=username),
    )


@router.post(
    "/admin/users/{username}/password", summary="Set a new password; the user's sessions end"
)
def reset_password(
    username: str,
    body: PasswordIn,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    return _change_user(
        session,
        request,
        principal,
        username=username,
        action="user.reset_password",
        change=lambda: accounts.reset_password(session, username=username, password=body.password),
    )


@router.put("/admin/users/{username}/areas", summary="Replace a user's areas (its jurisdiction)")
def set_areas(
    username: str,
    body: AreasIn,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    _check_within(session, principal, body.areas)
    user_id = accounts.get_user(session, username=username).id
    before = [a.code for a in accounts.user_areas(session, user_id=user_id)]
    return _change_user(
        session,
        request,
        principal,
        username=username,
        action="user.set_areas",
        change=lambda: accounts.set_user_areas(session, username=username, area_codes=body.areas),
        details={"before": before, "after": list(dict.fromkeys(body.areas))},
    )


# --- integration tokens -----------------------------------------------------------------


@router.get("/admin/tokens", summary="Tokens inside your areas: name, role, areas, dates")
def list_tokens(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    rows = account_scope.tokens_in(session, _scope(session, principal))
    return {"tokens": [_token_json(row) for row in rows]}


@router.post(
    "/admin/tokens",
    status_code=201,
    summary="Create a token; its secret is in this answer once and never again",
)
def create_token(
    body: TokenIn, request: Request, session: SessionDep, principal: PrincipalDep
) -> JSONResponse:
    check_token_role(body.role, privileged=body.privileged)
    if body.role not in TOKEN_ROLES and not account_scope.county_wide(_scope(session, principal)):
        raise PermissionDenied(
            f"only a county-wide administrator may make a token of role {body.role}",
            details={"field": "role", "value": body.role},
        )
    _check_within(session, principal, body.areas)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=body.days) if body.days else None
    row, secret = accounts.create_token(
        session, name=body.name, role=body.role, area_codes=body.areas, expires_at=expires
    )
    audit_write(
        session,
        request,
        principal,
        action="token.create",
        target_type="token",
        target_id=row.name,
        details={
            "role": row.role,
            "areas": list(body.areas),
            "expires_at": _iso(expires),
            **({"privileged": True} if row.role not in TOKEN_ROLES else {}),
        },
    )
    session.commit()
    # Not cached anywhere on the way: the secret exists only in this answer.
    return JSONResponse(
        {**_token_json(row), "token": secret},
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


@router.post("/admin/tokens/{name}/revoke", summary="Revoke a token: refused from now on")
def revoke_token(
    name: str, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    account_scope.check_token_inside(session, _scope(session, principal), name=name)
    row = accounts.revoke_token(session, name=name)
    audit_write(
        session, request, principal, action="token.revoke", target_type="token", target_id=name
    )
    session.commit()
    return _token_json(row)


# --- the audit log ----------------------------------------------------------------------


@router.get("/audit", summary="The audit log, newest first: who, action, object, time; paged")
def audit_log(
    session: SessionDep,
    principal: PrincipalDep,
    actor: Annotated[str | None, Query(max_length=100, description="user:NAME, token:NAME")] = None,
    action: Annotated[
        str | None, Query(max_length=100, description="an action or its prefix: event.")
    ] = None,
    target_type: Annotated[
        str | None, Query(alias="type", max_length=40, description="event, user, token, area")
    ] = None,
    target: Annotated[
        str | None, Query(max_length=80, description="an event id, a username, an area code")
    ] = None,
    since: Annotated[ZonedTime | None, Query(description="from (inclusive)")] = None,
    until: Annotated[ZonedTime | None, Query(description="to (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="`next` of the previous page")
    ] = None,
) -> dict[str, Any]:
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(
                f"{name}: give a time zone, e.g. 2026-11-01T00:00:00+08:00",
                details={"field": name},
            )
    entries = audit.query(
        session,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target,
        since=since,
        until=until,
        before_id=cursor,
        # A township's supervisor reads about the events of its township, as in the lists.
        events_in=None
        if principal.jurisdiction.everywhere
        else principal.jurisdiction.event_clause(),
        where=account_scope.audit_inside(_scope(session, principal)),
        limit=limit + 1,  # one more than asked: is there a next page?
    )
    page = entries[:limit]
    more = len(entries) > limit
    return {
        "entries": [_audit_json(e) for e in page],
        "next": page[-1].id if more else None,
    }
