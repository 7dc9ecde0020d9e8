"""Which accounts lie in a jurisdiction: what an administrator below the county may see,
grant and change (users, integration tokens, their audit entries).

An account is inside a caller's areas when it has areas and every one of them lies in the
caller's map scope (`AreaScope` on the active version, `boundaries.active_scope`), and
its team, if any, is on duty only there: exactly what the caller could have granted
(`check_grant`). A caller whose scope is a whole county (the county among its areas, a
team without areas, or the unscoped system) sees every account. The rules are SQLAlchemy
clauses, so lists filter in the database and single checks ask the same clause.
"""

from __future__ import annotations

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

from gridmap.access.scope import AreaScope
from gridmap.errors import PermissionDenied
from gridmap.models import ApiToken, AppUser, AuditLog, Duty, Team, UserArea


def county_wide(scope: AreaScope) -> bool:
    return scope.everywhere or bool(scope.county_codes)


def codes_inside(scope: AreaScope) -> TextualSelect:
    """The codes of the current areas in `scope`, as a subquery."""
    where, params = scope.sql("a")
    return (
        text(f"SELECT a.code FROM area a WHERE a.valid_to IS NULL AND {where}")
        .bindparams(**params)
        .columns(code=String)
    )


def teams_inside(scope: AreaScope) -> ColumnElement[bool]:
    """A WHERE clause on `team`: teams on duty only for areas in `scope`. A user's team
    reaches the events assigned to it wherever they are: a township's administrator must
    not hand out (or take over, by resetting a password) a county department's reach."""
    if county_wide(scope):
        return true()
    own = Duty.team_id == Team.id
    return and_(
        exists().where(own),
        ~exists().where(own, Duty.area_code.not_in(codes_inside(scope))),
    )


def users_inside(scope: AreaScope) -> ColumnElement[bool]:
    """A WHERE clause on `app_user`: the users inside `scope` (areas and team)."""
    if county_wide(scope):
        return true()
    own = UserArea.user_id == AppUser.id
    return and_(
        exists().where(own),
        ~exists().where(own, UserArea.area_code.not_in(codes_inside(scope))),
        or_(
            AppUser.team_id.is_(None),
            AppUser.team_id.in_(select(Team.id).where(teams_inside(scope))),
        ),
    )


def tokens_inside(scope: AreaScope) -> ColumnElement[bool]:
    """A WHERE clause on `api_token`: the tokens inside `scope` (areas kept as JSON)."""
    if county_wide(scope):
        return true()
    code = func.jsonb_array_elements(ApiToken.area_codes["areas"]).table_valued(
        column("value", JSONB)
    )
    listed = select(code.c.value["code"].astext)
    return and_(
        exists(listed),
        ~exists(listed.where(code.c.value["code"].astext.not_in(codes_inside(scope)))),
    )


def audit_inside(scope: AreaScope) -> ColumnElement[bool] | None:
    """A WHERE clause on `audit_log` for a caller below the county: entries about events
    (the events themselves are filtered by the events rule), users and tokens inside its
    areas; nothing about boundaries or anything else, which is the county's business.
    None: no filter."""
    if county_wide(scope):
        return None
    return or_(
        AuditLog.target_type == "event",
        and_(
            AuditLog.target_type == "user",
            AuditLog.target_id.in_(select(AppUser.username).where(users_inside(scope))),
        ),
        and_(
            AuditLog.target_type == "token",
            AuditLog.target_id.in_(select(ApiToken.name).where(tokens_inside(scope))),
        ),
    )


def check_grant(
    session: Session, scope: AreaScope, codes: list[str], *, team: str | None = None
) -> None:
    """An admin with areas may grant only areas (and a team) inside them: a township's
    administrator must not make a county-wide account, nor one without areas (which would
    then be outside its own reach); a county's administrator may grant anything in its
    county. `codes` are known area codes (`accounts.resolve_areas` refuses the others)."""
    if scope.everywhere:
        return
    if not county_wide(scope):
        if not codes:
            raise PermissionDenied(
                "give at least one area inside your own: an account without areas is the county's",
                details={"areas": []},
            )
        if team is not None:
            found = session.execute(
                select(Team.id, teams_inside(scope)).where(Team.code == team)
            ).first()
            if found is not None and not found[1]:  # an unknown team is the domain's 422
                raise PermissionDenied(
                    f"team {team} is on duty outside your areas: you may give only a team of yours",
                    details={"team": team},
                )
    current = codes_inside(scope).subquery()
    inside = set(session.scalars(select(current.c.code).where(current.c.code.in_(codes))))
    outside = [code for code in codes if code not in inside]
    if outside:
        raise PermissionDenied(
            f"area {outside[0]} lies outside your own areas: you may grant only areas inside them",
            details={"areas": outside},
        )


def check_user_inside(session: Session, scope: AreaScope, *, user_id: int, username: str) -> None:
    """Refuse a change to an existing user outside `scope` (403, as acting on an event
    elsewhere)."""
    inside = session.scalar(select(AppUser.id).where(AppUser.id == user_id, users_inside(scope)))
    if inside is None:
        raise PermissionDenied(
            f"user {username} lies outside your areas: ask the county's administrator",
            details={"username": username},
        )


def check_token_inside(session: Session, scope: AreaScope, *, name: str) -> None:
    """As `check_user_inside`, for a token (one that does not exist passes: the domain
    answers 404 for it)."""
    found = session.execute(
        select(ApiToken.id, tokens_inside(scope)).where(ApiToken.name == name)
    ).first()
    if found is not None and not found[1]:
        raise PermissionDenied(
            f"token {name} lies outside your areas: ask the county's administrator",
            details={"name": name},
        )


def users_in(session: Session, scope: AreaScope) -> list[AppUser]:
    """The users inside `scope` (`users_inside`), by username."""
    return list(
        session.scalars(select(AppUser).where(users_inside(scope)).order_by(AppUser.username))
    )


def tokens_in(session: Session, scope: AreaScope) -> list[ApiToken]:
    """The integration tokens inside `scope` (`tokens_inside`), by name."""
    return list(
        session.scalars(select(ApiToken).where(tokens_inside(scope)).order_by(ApiToken.name))
    )
