"""Accounts: users and integration tokens, the areas they are given and the principal a
request acts as, and the demo users.

Passwords, sessions and login limits are `gridmap.access.logins`. API tokens are stored
only as their SHA-256. Functions flush; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gridmap.access.logins import _now, _sha256, hash_password
from gridmap.access.permissions import (
    ADMIN,
    GRID_WORKER,
    INTEGRATION,
    JURISDICTION_LAYERS,
    OPERATOR,
    PLANNER,
    SUPERVISOR,
    TEAM_MEMBER,
    Jurisdiction,
    Principal,
    check_role,
)
from gridmap.errors import Conflict, InvalidInput, NotFound
from gridmap.models import ApiToken, AppUser, Area, Team, UserArea, UserSession

# --- areas and jurisdictions ------------------------------------------------------------


@dataclass(frozen=True)
class GrantedArea:
    county_code: str
    layer: str
    code: str


def resolve_areas(session: Session, *, codes: Iterable[str]) -> list[GrantedArea]:
    """The current county/township/community/grid with each code; unknown codes refused."""
    refs: list[GrantedArea] = []
    for code in codes:
        if not code or len(code) > 40 or not code.isprintable():
            raise InvalidInput(
                f"area {code!r}: an area code is 1 to 40 printable characters",
                details={"field": "area", "value": code[:60]},
            )
        rows = session.execute(
            select(Area.county_code, Area.layer).where(
                Area.code == code, Area.valid_to.is_(None), Area.layer.in_(JURISDICTION_LAYERS)
            )
        ).all()
        if not rows:
            raise InvalidInput(
                f"area {code!r}: no current county, township, community or grid has this code",
                details={"field": "area", "value": code},
            )
        refs.append(GrantedArea(county_code=rows[0][0], layer=rows[0][1], code=code))
    return refs


def _parents(session: Session, *, county_code: str, layer: str, codes: Sequence[str]) -> set[str]:
    """Parent codes of the current areas of `layer` with these codes."""
    if not codes:
        return set()
    rows = session.scalars(
        select(Area.parent_code).where(
            Area.county_code == county_code,
            Area.layer == layer,
            Area.code.in_(codes),
            Area.valid_to.is_(None),
        )
    )
    return {r for r in rows if r}


def jurisdiction_for(
    session: Session, *, areas: Sequence[GrantedArea], team_id: int | None
) -> Jurisdiction:
    """The jurisdiction of these areas (and team), with the townships the stream filters by,
    found from the current boundary hierarchy."""
    by_layer: dict[str, set[str]] = {layer: set() for layer in JURISDICTION_LAYERS}
    for ref in areas:
        by_layer[ref.layer].add(ref.code)
    county_wide = set(by_layer["county"])
    home_counties = {ref.county_code for ref in areas}
    if team_id is not None:
        team = session.get(Team, team_id)
        if team is not None:
            home_counties.add(team.county_code)
            if not areas:
                # A department team works county-wide: its stream is the county's.
                county_wide.add(team.county_code)
    townships: set[str] = set(by_layer["township"])
    for county in {ref.county_code for ref in areas}:
        grid_parents = _parents(
            session, county_code=county, layer="grid", codes=sorted(by_layer["grid"])
        )
        townships |= _parents(
            session,
            county_code=county,
            layer="community",
            codes=sorted(by_layer["community"] | grid_parents),
        )
    if county_wide:
        townships |= set(
            session.scalars(
                select(Area.code).where(
                    Area.county_code.in_(sorted(county_wide)),
                    Area.layer == "township",
                    Area.valid_to.is_(None),
                )
            )
        )
    return Jurisdiction(
        county_codes=frozenset(by_layer["county"]),
        township_codes=frozenset(by_layer["township"]),
        community_codes=frozenset(by_layer["community"]),
        grid_codes=frozenset(by_layer["grid"]),
        team_id=team_id,
        stream_townships=frozenset(townships),
        home_counties=frozenset(home_counties),
    )


def user_areas(session: Session, *, user_id: int) -> list[GrantedArea]:
    rows = session.scalars(
        select(UserArea).where(UserArea.user_id == user_id).order_by(UserArea.id)
    )
    return [GrantedArea(county_code=r.county_code, layer=r.layer, code=r.area_code) for r in rows]


def user_principal(session: Session, *, user: AppUser) -> Principal:
    areas = user_areas(session, user_id=user.id)
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        role=user.role,
        jurisdiction=jurisdiction_for(session, areas=areas, team_id=user.team_id),
        team_id=user.team_id,
        areas=tuple((a.layer, a.code) for a in areas),
    )


def token_areas(token: ApiToken) -> list[GrantedArea]:
    """The areas a token was given when it was made."""
    return [GrantedArea(**a) for a in token.area_codes.get("areas", [])]


# A token's principal, kept for at most this long per process. Only the jurisdiction is
# reused: whether the token is live (revoked, expired) is read from the database on every
# request by `token_row`, so revocation takes effect at once in every worker. What may lag
# by up to this long is a change of the boundaries under the token's areas (the townships
# its stream shows). Working it out took about 0.8 ms of CPU per request (bench figures in
# docs/performance.md, "Ingest").
TOKEN_PRINCIPAL_SECONDS = 2.0
_token_principals: dict[tuple[object, ...], tuple[float, Principal]] = {}


def token_principal(session: Session, *, token: ApiToken) -> Principal:
    areas = token_areas(token)
    area_pairs = tuple((a.layer, a.code) for a in areas)
    # The database is part of the key: ids start at 1 in every database.
    key = (
        session.get_bind().engine.url.render_as_string(),
        token.id,
        token.name,
        token.role,
        area_pairs,
    )
    now = time.monotonic()
    cached = _token_principals.get(key)
    if cached is not None and now - cached[0] < TOKEN_PRINCIPAL_SECONDS:
        return cached[1]
    principal = Principal(
        kind="token",
        id=token.id,
        name=token.name,
        role=token.role,
        jurisdiction=jurisdiction_for(session, areas=areas, team_id=None),
        areas=area_pairs,
    )
    if len(_token_principals) >= 1000:  # bounded: stale entries go in one sweep
        _token_principals.clear()
    _token_principals[key] = (now, principal)
    return principal


# --- users ------------------------------------------------------------------------------


def _check_username(username: str, *, what: str = "username", field: str = "username") -> str:
    name = username.strip()
    if (
        not name
        or len(name) > 80
        or not name.isprintable()
        or any(c.isspace() or c == ":" for c in name)
    ):
        raise InvalidInput(
            f"{what} {username[:100]!r}: 1 to 80 printable characters, no spaces or colons",
            details={"field": field},
        )
    return name


def _check_display_name(display_name: str) -> str:
    if len(display_name) > 100 or not display_name.isprintable():
        raise InvalidInput(
            "display name: at most 100 printable characters", details={"field": "display_name"}
        )
    return display_name


_Row = TypeVar("_Row", AppUser, Team, ApiToken)


def _named(session: Session, model: type[_Row], column: Any, name: str) -> _Row | None:
    """The row whose unique text `column` is `name`, or None. PostgreSQL text cannot hold
    NUL: a name that is not printable cannot exist (and must not reach the driver)."""
    return session.scalar(select(model).where(column == name)) if name.isprintable() else None


def _add_areas(session: Session, user: AppUser, areas: Sequence[GrantedArea]) -> None:
    for ref in areas:
        session.add(
            UserArea(
                user_id=user.id, county_code=ref.county_code, layer=ref.layer, area_code=ref.code
            )
        )


def get_user(session: Session, *, username: str) -> AppUser:
    user = _named(session, AppUser, AppUser.username, username)
    if user is None:
        raise NotFound(f"no user {username!r}", details={"username": username})
    return user


def _team_id(session: Session, team_code: str | None) -> int | None:
    if team_code is None:
        return None
    team = _named(session, Team, Team.code, team_code)
    if team is None:
        raise InvalidInput(f"team {team_code!r}: no such team", details={"field": "team"})
    return team.id


def create_user(
    session: Session,
    *,
    username: str,
    role: str,
    password: str,
    area_codes: Sequence[str] = (),
    team_code: str | None = None,
    display_name: str = "",
) -> AppUser:
    """A new user with its jurisdiction. Integrations get tokens, not users."""
    name = _check_username(username)
    check_role(role)
    if role == INTEGRATION:
        raise InvalidInput(
            "role integration is for API tokens: use `gridmap tokens create`",
            details={"field": "role"},
        )
    if session.scalar(select(AppUser.id).where(AppUser.username == name)) is not None:
        raise Conflict(f"user {name!r} exists already", details={"username": name})
    areas = resolve_areas(session, codes=list(dict.fromkeys(area_codes)))
    user = AppUser(
        username=name,
        display_name=_check_display_name(display_name),
        password_hash=hash_password(password),
        role=role,
        team_id=_team_id(session, team_code),
        disabled=False,
    )
    session.add(user)
    session.flush()
    _add_areas(session, user, areas)
    session.flush()
    return user


def list_users(session: Session) -> list[tuple[AppUser, list[GrantedArea]]]:
    users = session.scalars(select(AppUser).order_by(AppUser.username))
    return [(u, user_areas(session, user_id=u.id)) for u in users]


def disable_user(session: Session, *, username: str) -> AppUser:
    """Disable a user and end its sessions at once."""
    user = get_user(session, username=username)
    user.disabled = True
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.flush()
    return user


def enable_user(session: Session, *, username: str) -> AppUser:
    """Let a disabled user log in again (with its old password; reset it if in doubt)."""
    user = get_user(session, username=username)
    user.disabled = False
    session.flush()
    return user


def set_user_areas(session: Session, *, username: str, area_codes: Sequence[str]) -> AppUser:
    """Replace a user's areas. Effective from the user's next request: the jurisdiction
    is read from `user_area` on every request, so its sessions need not end."""
    user = get_user(session, username=username)
    areas = resolve_areas(session, codes=list(dict.fromkeys(area_codes)))
    session.execute(delete(UserArea).where(UserArea.user_id == user.id))
    _add_areas(session, user, areas)
    session.flush()
    return user


def reset_password(session: Session, *, username: str, password: str) -> AppUser:
    """A new password; every open session of the user ends (it may have been stolen)."""
    user = get_user(session, username=username)
    user.password_hash = hash_password(password)
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.flush()
    return user


# --- integration tokens -----------------------------------------------------------------


def create_token(
    session: Session,
    *,
    name: str,
    role: str,
    area_codes: Sequence[str] = (),
    expires_at: dt.datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new bearer token; the secret is returned once and stored only as its SHA-256."""
    check_role(role)
    name = _check_username(name, what="token name", field="name")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise Conflict(f"a token named {name!r} exists already", details={"name": name})
    areas = resolve_areas(session, codes=list(dict.fromkeys(area_codes)))
    secret = "gm_" + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=_sha256(secret),
        role=role,
        area_codes={"areas": [a.__dict__ for a in areas]},
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, secret


def token_row(session: Session, *, secret: str) -> ApiToken | None:
    """The live token with this secret: None when unknown, revoked or expired."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _sha256(secret)))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= _now():
        return None
    return row


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def revoke_token(session: Session, *, name: str) -> ApiToken:
    row = _named(session, ApiToken, ApiToken.name, name)
    if row is None:
        raise NotFound(f"no token named {name!r}", details={"name": name})
    if row.revoked_at is None:
        row.revoked_at = _now()
        session.flush()
    return row


# --- demo users -------------------------------------------------------------------------


def create_demo_users(session: Session, *, county_code: str) -> list[tuple[str, str, str, str]]:
    """One user per role with a jurisdiction in the county, plus an integration token.

    Returns (username, role, area code or team, password or token) to print once. Run
    again, it gives the existing demo users new passwords (the old ones were shown once).
    """
    township = session.scalar(
        select(Area.code)
        .where(Area.county_code == county_code, Area.layer == "township", Area.valid_to.is_(None))
        .order_by(Area.code)
    )
    if township is None:
        raise NotFound(
            f"county {county_code}: no current townships; load the demo boundaries first",
            details={"county_code": county_code},
        )
    community = session.scalar(
        select(Area.code)
        .where(Area.layer == "community", Area.parent_code == township, Area.valid_to.is_(None))
        .order_by(Area.code)
    )
    grid = session.scalar(
        select(Area.code)
        .where(Area.layer == "grid", Area.parent_code == community, Area.valid_to.is_(None))
        .order_by(Area.code)
    )
    dept_team = session.scalar(
        select(Team.code)
        .where(Team.county_code == county_code, Team.level == "department")
        .order_by(Team.code)
    )
    plan: list[tuple[str, str, list[str], str | None]] = [
        ("demo-admin", ADMIN, [county_code], None),
        ("demo-operator", OPERATOR, [county_code], None),
        ("demo-township-operator", OPERATOR, [township], None),
        ("demo-supervisor", SUPERVISOR, [township], None),
        ("demo-planner", PLANNER, [county_code], None),
        ("demo-grid-worker", GRID_WORKER, [grid] if grid else [], None),
        ("demo-team-member", TEAM_MEMBER, [], dept_team),
    ]
    out: list[tuple[str, str, str, str]] = []
    for username, role, areas, team in plan:
        password = secrets.token_urlsafe(12)
        if session.scalar(select(AppUser.id).where(AppUser.username == username)) is None:
            create_user(
                session,
                username=username,
                role=role,
                password=password,
                area_codes=areas,
                team_code=team,
            )
        else:
            reset_password(session, username=username, password=password)
        out.append((username, role, ",".join(areas) or f"team {team}", password))
    token_name = f"demo-12345-{county_code}"
    old = session.scalar(select(ApiToken).where(ApiToken.name == token_name))
    if old is not None:
        session.delete(old)
        session.flush()
    _, secret = create_token(session, name=token_name, role=INTEGRATION, area_codes=[county_code])
    out.append((token_name, INTEGRATION, county_code, secret))
    return out


def display_names(session: Session, *, usernames: Iterable[str]) -> dict[str, str]:
    """The display names of those users that have one (username → name)."""
    wanted = sorted(set(usernames))
    if not wanted:
        return {}
    rows = session.execute(
        select(AppUser.username, AppUser.display_name).where(AppUser.username.in_(wanted))
    )
    return {u: d for u, d in rows if d}
