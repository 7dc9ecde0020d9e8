"""Accounts: password hashing, users, integration tokens, browser sessions, login limits.

Secrets are stored only as hashes: passwords with Argon2id (argon2-cffi), session cookies
and API tokens with SHA-256 (they are 256-bit random values, so a fast hash is enough and
look-ups stay one indexed equality). Functions flush; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

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
from gridmap.errors import ConfigurationError, Conflict, InvalidInput, NotFound, RateLimited
from gridmap.models import ApiToken, AppUser, Area, LoginAttempt, Team, UserArea, UserSession
from gridmap.settings import Settings

_hasher = PasswordHasher()
# Verified against when the username is unknown, so that a failed login takes as long
# whether or not the user exists (the answer must not tell which).
_DUMMY_HASH = _hasher.hash("gridmap: no such user")

MIN_PASSWORD_CHARS = 10
PLACEHOLDER_SECRETS = frozenset({"", "secret", "changeme", "change-me", "please-change-me", "xxx"})
MIN_SECRET_CHARS = 32


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sha256(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


# --- passwords --------------------------------------------------------------------------


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def check_password(password: str) -> None:
    """Refuse a password too short to resist guessing (the message never repeats it)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(
            f"password: at least {MIN_PASSWORD_CHARS} characters, got {len(password)}",
            details={"field": "password"},
        )


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- the secret key ---------------------------------------------------------------------


# Keys already read by this process, by setting or file: every request checks CSRF, and
# reading the file each time cost about 5% of a worker's CPU under load.
_secret_keys: dict[tuple[str | None, str], bytes] = {}


def secret_key(settings: Settings) -> bytes:
    """The key that signs CSRF tokens: from settings, else generated once under `home`.

    A placeholder or a short key is refused: a guessable key makes CSRF tokens forgeable.
    Read once per process (a changed key takes effect when the service restarts).
    """
    # Not resolve(): a file-system walk per request was what the cache is here to save.
    cache_key = (settings.secret_key, str(settings.home))
    cached = _secret_keys.get(cache_key)
    if cached is None:
        cached = _secret_keys[cache_key] = _read_secret_key(settings)
    return cached


def _read_secret_key(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        key = settings.secret_key.strip()
        if key.lower() in PLACEHOLDER_SECRETS or len(key) < MIN_SECRET_CHARS:
            raise ConfigurationError(
                f"GRIDMAP_SECRET_KEY is a placeholder or shorter than {MIN_SECRET_CHARS} "
                "characters; set a random one (python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))') or unset it to have one generated",
                details={"setting": "secret_key"},
            )
        return key.encode()
    path = Path(settings.home) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a private file, then linked into place: link() fails when the
        # name exists, so workers starting together agree on one key, and none of them
        # can read a half-written file (measured: O_EXCL alone let a reader see it empty).
        tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if len(key) < MIN_SECRET_CHARS:
        raise ConfigurationError(
            f"{path} holds a key shorter than {MIN_SECRET_CHARS} characters; delete it to "
            "have a new one generated",
            details={"file": str(path)},
        )
    return key.encode()


def csrf_token(key: bytes, session_token: str) -> str:
    """The CSRF token of a session: bound to it, so a token from another session fails."""
    return hmac.new(key, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, session_token: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_token(key, session_token), given)


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


def get_user(session: Session, *, username: str) -> AppUser:
    # PostgreSQL text cannot hold NUL: such a name cannot exist (and must not reach the driver).
    user = (
        session.scalar(select(AppUser).where(AppUser.username == username))
        if username.isprintable()
        else None
    )
    if user is None:
        raise NotFound(f"no user {username!r}", details={"username": username})
    return user


def _team_id(session: Session, team_code: str | None) -> int | None:
    if team_code is None:
        return None
    team = (
        session.scalar(select(Team).where(Team.code == team_code))
        if team_code.isprintable()
        else None
    )
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
    for ref in areas:
        session.add(
            UserArea(
                user_id=user.id, county_code=ref.county_code, layer=ref.layer, area_code=ref.code
            )
        )
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
    for ref in areas:
        session.add(
            UserArea(
                user_id=user.id, county_code=ref.county_code, layer=ref.layer, area_code=ref.code
            )
        )
    session.flush()
    return user


def reset_password(session: Session, *, username: str, password: str) -> AppUser:
    """A new password; every open session of the user ends (it may have been stolen)."""
    user = get_user(session, username=username)
    user.password_hash = hash_password(password)
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.flush()
    return user


# --- logging in -------------------------------------------------------------------------


def start_login_attempt(
    session: Session, *, username: str, source_addr: str, settings: Settings
) -> LoginAttempt:
    """Count a login attempt before its password is checked, or refuse it (429).

    The attempt is recorded as failed at once, under a transaction-level advisory lock on
    its source address, so concurrent attempts are counted one after another: of 200 sent
    together, only `login_max_failures` reach the password check. Refused after too many
    recent failures for this username from this address (and, ten times as many, from this
    address for any username). The caller commits at once (ending the lock) and then checks
    the password with `authenticate`, which marks the attempt succeeded.
    """
    username, source_addr = username[:80], source_addr[:64]
    session.execute(
        select(
            func.pg_advisory_xact_lock(func.hashtext("gridmap login"), func.hashtext(source_addr))
        )
    )
    since = _now() - dt.timedelta(minutes=settings.login_window_minutes)
    failed_here = (
        LoginAttempt.source_addr == source_addr,
        LoginAttempt.at >= since,
        LoginAttempt.succeeded.is_(False),
    )
    failures = session.scalar(
        select(func.count()).where(LoginAttempt.username == username, *failed_here)
    )
    from_addr = session.scalar(select(func.count()).where(*failed_here))
    if (failures or 0) >= settings.login_max_failures or (
        from_addr or 0
    ) >= 10 * settings.login_max_failures:
        raise RateLimited(
            f"too many failed logins; try again in {settings.login_window_minutes} minutes",
            details={"retry_after_minutes": settings.login_window_minutes},
        )
    attempt = LoginAttempt(username=username, source_addr=source_addr, succeeded=False)
    session.add(attempt)
    session.flush()
    return attempt


def authenticate(
    session: Session, *, username: str, password: str, attempt: LoginAttempt
) -> AppUser | None:
    """The user these credentials name, or None; `attempt` (from `start_login_attempt`,
    counted as a failure until now) is marked succeeded when they are right.

    Unknown users cost one hash verification like known ones, and a disabled user is
    refused only after the password checks out, so timing and answers do not tell
    whether an account exists.
    """
    user = session.scalar(select(AppUser).where(AppUser.username == username))
    good = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    ok = user is not None and good and not user.disabled
    if ok:
        attempt.succeeded = True
        session.flush()
    if ok and user is not None and _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user if ok else None


def start_session(session: Session, *, user: AppUser, source_addr: str, hours: float) -> str:
    """A new session for `user`; returns the cookie value (stored only as its hash)."""
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            id_hash=_sha256(token),
            user_id=user.id,
            expires_at=_now() + dt.timedelta(hours=hours),
            source_addr=source_addr[:64],
        )
    )
    session.flush()
    return token


def session_user(session: Session, *, token: str) -> AppUser | None:
    """The enabled user of an unexpired session, else None."""
    row = session.get(UserSession, _sha256(token))
    if row is None or row.expires_at <= _now():
        return None
    user = session.get(AppUser, row.user_id)
    return None if user is None or user.disabled else user


def end_session(session: Session, *, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.id_hash == _sha256(token)))
    session.flush()


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
    row = (
        session.scalar(select(ApiToken).where(ApiToken.name == name))
        if name.isprintable()
        else None
    )
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
