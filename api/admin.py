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
from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    column,
    exists,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TextualSelect

from api.auth import PrincipalDep, audit_write
from api.deps import SessionDep
from gridmap import area_scope, audit, boundaries
from gridmap import auth as accounts
from gridmap.errors import InvalidInput, PermissionDenied
from gridmap.event_input import ZonedTime
from gridmap.models import ApiToken, AppUser, AuditLog, Duty, Team, UserArea
from gridmap.permissions import INTEGRATION, TOKEN_ROLES, Principal, check_token_role

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


# --- what a caller's areas hold ---------------------------------------------------------
#
# An account is inside a caller's areas when it has areas and every one of them lies in
# the caller's map scope (`area_scope.scope_for` on the active version), and its team, if
# any, is on duty only there: what the caller could have granted (`_check_within`). A
# caller whose scope is a whole county (the county among its areas, a team without areas,
# or the unscoped system) sees every account.


def _scope(session: Session, principal: Principal) -> area_scope.AreaScope:
    """The caller's areas on the active map."""
    if principal.jurisdiction.everywhere:
        return area_scope.EVERYWHERE
    active = boundaries.active_version(session)
    if active is None:
        return area_scope.AreaScope(everywhere=False)
    return area_scope.scope_for(session, jurisdiction=principal.jurisdiction, version_id=active.id)


def _county_wide(scope: area_scope.AreaScope) -> bool:
    return scope.everywhere or bool(scope.county_codes)


def _codes_inside(scope: area_scope.AreaScope) -> TextualSelect:
    """The codes of the current areas in `scope`, as a subquery."""
    where, params = scope.sql("a")
    return (
        text(f"SELECT a.code FROM area a WHERE a.valid_to IS NULL AND {where}")
        .bindparams(**params)
        .columns(code=String)
    )


def _teams_inside(scope: area_scope.AreaScope) -> ColumnElement[bool]:
    """A WHERE clause on `team`: teams on duty only for areas in `scope`. A user's team
    reaches the events assigned to it wherever they are: a township's administrator must
    not hand out (or take over, by resetting a password) a county department's reach."""
    if _county_wide(scope):
        return true()
    own = Duty.team_id == Team.id
    return and_(
        exists().where(own),
        ~exists().where(own, Duty.area_code.not_in(_codes_inside(scope))),
    )


def _users_inside(scope: area_scope.AreaScope) -> ColumnElement[bool]:
    """A WHERE clause on `app_user`: the users inside `scope` (areas and team)."""
    if _county_wide(scope):
        return true()
    own = UserArea.user_id == AppUser.id
    return and_(
        exists().where(own),
        ~exists().where(own, UserArea.area_code.not_in(_codes_inside(scope))),
        or_(
            AppUser.team_id.is_(None),
            AppUser.team_id.in_(select(Team.id).where(_teams_inside(scope))),
        ),
    )


def _tokens_inside(scope: area_scope.AreaScope) -> ColumnElement[bool]:
    """A WHERE clause on `api_token`: the tokens inside `scope` (areas kept as JSON)."""
    if _county_wide(scope):
        return true()
    code = func.jsonb_array_elements(ApiToken.area_codes["areas"]).table_valued(
        column("value", JSONB)
    )
    listed = select(code.c.value["code"].astext)
    return and_(
        exists(listed),
        ~exists(listed.where(code.c.value["code"].astext.not_in(_codes_inside(scope)))),
    )


def _check_within(
    session: Session, principal: Principal, codes: list[str], *, team: str | None = None
) -> None:
    """An admin with areas may grant only areas (and a team) inside them: a township's
    administrator must not make a county-wide account, nor one without areas (which would
    then be outside its own reach); a county's administrator may grant anything in its county."""
    accounts.resolve_areas(session, codes=codes)  # a typo is a 422 naming it, not a 403
    scope = _scope(session, principal)
    if scope.everywhere:
        return
    if not _county_wide(scope):
        if not codes:
            raise PermissionDenied(
                "give at least one area inside your own: an account without areas is the county's",
                details={"areas": []},
            )
        if team is not None:
            _check_team_inside(session, scope, team)
    current = _codes_inside(scope).subquery()
    inside = set(session.scalars(select(current.c.code).where(current.c.code.in_(codes))))
    outside = [code for code in codes if code not in inside]
    if outside:
        raise PermissionDenied(
            f"area {outside[0]} lies outside your own areas: you may grant only areas inside them",
            details={"areas": outside},
        )


def _check_team_inside(session: Session, scope: area_scope.AreaScope, team: str) -> None:
    found = session.execute(select(Team.id, _teams_inside(scope)).where(Team.code == team)).first()
    if found is not None and not found[1]:  # an unknown team is the domain's 422
        raise PermissionDenied(
            f"team {team} is on duty outside your areas: you may give only a team of yours",
            details={"team": team},
        )


def _check_user_inside(session: Session, principal: Principal, username: str) -> None:
    """Refuse a change to an existing user outside the caller's areas (403, as acting on
    an event elsewhere); a user that does not exist is the domain's 404."""
    user = accounts.get_user(session, username=username)
    inside = session.scalar(
        select(AppUser.id).where(AppUser.id == user.id, _users_inside(_scope(session, principal)))
    )
    if inside is None:
        raise PermissionDenied(
            f"user {username} lies outside your areas: ask the county's administrator",
            details={"username": username},
        )


def _check_token_inside(session: Session, principal: Principal, name: str) -> None:
    """As `_check_user_inside`, for a token (one that does not exist is the domain's 404)."""
    found = session.execute(
        select(ApiToken.id, _tokens_inside(_scope(session, principal))).where(ApiToken.name == name)
    ).first()
    if found is not None and not found[1]:
        raise PermissionDenied(
            f"token {name} lies outside your areas: ask the county's administrator",
            details={"name": name},
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
    users = session.scalars(
        select(AppUser).where(_users_inside(_scope(session, principal))).order_by(AppUser.username)
    )
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
    rows = session.scalars(
        select(ApiToken).where(_tokens_inside(_scope(session, principal))).order_by(ApiToken.name)
    )
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
    if body.role not in TOKEN_ROLES and not _county_wide(_scope(session, principal)):
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
    _check_token_inside(session, principal, name)
    row = accounts.revoke_token(session, name=name)
    audit_write(
        session, request, principal, action="token.revoke", target_type="token", target_id=name
    )
    session.commit()
    return _token_json(row)


# --- the audit log ----------------------------------------------------------------------


def _audit_inside(scope: area_scope.AreaScope) -> ColumnElement[bool] | None:
    """A WHERE clause on `audit_log` for a caller below the county: entries about events
    (the events themselves are filtered by `events_in`), users and tokens inside its
    areas; nothing about boundaries or anything else, which is the county's business."""
    if _county_wide(scope):
        return None
    return or_(
        AuditLog.target_type == "event",
        and_(
            AuditLog.target_type == "user",
            AuditLog.target_id.in_(select(AppUser.username).where(_users_inside(scope))),
        ),
        and_(
            AuditLog.target_type == "token",
            AuditLog.target_id.in_(select(ApiToken.name).where(_tokens_inside(scope))),
        ),
    )


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
        where=_audit_inside(_scope(session, principal)),
        limit=limit + 1,  # one more than asked: is there a next page?
    )
    page = entries[:limit]
    more = len(entries) > limit
    return {
        "entries": [_audit_json(e) for e in page],
        "next": page[-1].id if more else None,
    }
