"""Logging in: password hashing, the key that signs CSRF tokens, login limits, browser sessions.

Secrets are stored only as hashes: passwords with Argon2id (argon2-cffi), session cookies
(and API tokens, `gridmap.access.accounts`) with SHA-256 (they are 256-bit random values,
so a fast hash is enough and look-ups stay one indexed equality). Functions flush; the
caller commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gridmap.errors import ConfigurationError, InvalidInput, RateLimited
from gridmap.models import AppUser, LoginAttempt, UserSession
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
