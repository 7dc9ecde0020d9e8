"""Connecting to PostGIS: choosing the database, engines, sessions, migrations, driver errors.

Query functions take a `Session` and flush; whoever opened the unit of work commits
(`session_scope` or the API's request dependency).
"""

from __future__ import annotations

import contextlib
import re
import select
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gridmap.embedded_db import DB_NAME, EmbeddedCluster
from gridmap.errors import ConfigurationError, DatabaseUnavailable
from gridmap.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


# libpq's multi-host form: `scheme://[userinfo@]host1[:port1],host2[:port2]/database?...`.
_MULTI_HOST = re.compile(
    r"^(?P<scheme>[^:/]+)://(?P<user>[^@/]*@)?(?P<hosts>[^/?@]*,[^/?@]*)(?P<rest>[/?].*)?$"
)


def _multi_host_to_query(url: str) -> str:
    """libpq's `h1:p1,h2:p2` host list as SQLAlchemy's `?host=h1:p1&host=h2:p2`.

    SQLAlchemy's URL parser reads one host and one port (it fails on `5432,h2:5433`), but
    its PostgreSQL dialects take repeated `host` query parameters and hand libpq the list
    (`host=h1,h2 port=p1,p2`), which then tries each in turn (`target_session_attrs`
    says which one it keeps).
    """
    match = _MULTI_HOST.match(url)
    if match is None:
        return url
    rest = match["rest"] or "/"
    path, _, query = rest.partition("?")
    hosts = "&".join(f"host={quote(h.strip(), safe='')}" for h in match["hosts"].split(","))
    query = f"{hosts}&{query}" if query else hosts
    return f"{match['scheme']}://{match['user'] or ''}{path or '/'}?{query}"


def normalise_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` URLs and use the psycopg 3 driver.

    A URL may list several hosts, as libpq does (`postgresql://u:p@h1:5432,h2:5432/gridmap?
    target_session_attrs=read-write`): every connection gridmap opens goes to whichever
    of them is the primary at that moment (docs/deployment.md).
    """
    try:
        parsed = make_url(_multi_host_to_query(url))
    except Exception as exc:  # SQLAlchemy raises ArgumentError with a terse message
        raise ConfigurationError(f"GRIDMAP_DATABASE_URL is not a database URL: {url!r}") from exc
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"GRIDMAP_DATABASE_URL must point at PostgreSQL with PostGIS, not {parsed.drivername}"
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def resolve_database_url(settings: Settings, *, start: bool = True) -> str:
    """The URL to use: the configured server, or the embedded cluster (started if asked)."""
    if settings.database_url:
        return normalise_url(settings.database_url)
    cluster = EmbeddedCluster(settings.home, bindir=settings.pg_bindir)
    info = cluster.start() if start else cluster.info()
    _ensure_database(info.url)
    return info.url


def _ensure_database(url: str) -> None:
    """Create the gridmap database in a fresh embedded cluster."""
    admin = make_url(url).set(database="postgres", drivername="postgresql")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


# A pooled connection idle longer than this is checked with a round trip before use.
IDLE_PING_SECONDS = 10.0


def libpq_conninfo(database_url: str) -> str:
    """A SQLAlchemy URL (`postgresql+psycopg://…`) as the libpq conninfo psycopg connects with.

    Built the way SQLAlchemy's engine builds its own connections, so a connection opened
    directly (the ingest batcher's, the stream listener's) goes where the pool's do: with
    several hosts, `host=h1,h2 port=p1,p2` and the URL's `target_session_attrs`.
    """
    url = make_url(_multi_host_to_query(database_url)).set(drivername="postgresql+psycopg")
    _, params = url.get_dialect()().create_connect_args(url)
    return make_conninfo("", **{k: v for k, v in params.items() if isinstance(v, str | int)})


def make_engine(url: str, *, idle_ping_seconds: float = IDLE_PING_SECONDS, **kwargs: Any) -> Engine:
    """An engine whose pool checks a connection only when it may be dead, not every checkout.

    `pool_pre_ping` cost a round trip per request. Instead a connection is pinged at
    checkout when it sat idle (`idle_ping_seconds`) or when its socket has something to
    read although no statement is running: a server that stopped, restarted or ended the
    connection has sent its goodbye (or closed the socket), so the first request after a
    database restart gets a fresh connection instead of a 503. The check is one `poll()`
    system call (about a microsecond). A connection that dies while in use still fails
    loudly: the error becomes `DatabaseUnavailable` (503) and SQLAlchemy then discards
    every pooled connection older than the failure.
    """
    options: dict[str, Any] = {
        "pool_size": 10,
        "max_overflow": 20,
        "connect_args": {"connect_timeout": 10},
    }
    options.update(kwargs)
    engine = create_engine(url, **options)
    if not options.get("pool_pre_ping"):
        _ping_when_suspect(engine, idle_ping_seconds)
    return engine


def _socket_readable(dbapi_connection: Any) -> bool:
    """Whether the server sent something on an idle connection (or its socket is gone)."""
    try:
        fd = dbapi_connection.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True  # no usable socket: let the ping decide


def needs_reconnect(connection: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection of our own (not LISTENing) must be opened anew before use:
    closed, broken, or its server has said goodbye (a restart, an administrator's kill),
    so the first statement after a database restart does not fail on the dead one."""
    return connection.closed or connection.broken or _socket_readable(connection)


def _ping_when_suspect(engine: Engine, seconds: float) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checked_in = record.info.get("checked_in")
        if checked_in is None:
            return  # just connected
        idle = time.monotonic() - checked_in >= seconds
        if not idle and not _socket_readable(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
            dbapi_connection.rollback()  # the ping's implicit transaction must not linger
        except Exception as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError("pooled connection is gone (server restarted?)") from exc


EXTERNAL_HINT = "is it running? unset GRIDMAP_DATABASE_URL to use the embedded database"
EMBEDDED_HINT = "is it running? start it with `gridmap db start`"


# Driver errors that mean "the database cannot be reached": the server is down, restarting,
# refusing connections, or a connection died under a statement. (psycopg's OperationalError
# also covers a cancelled statement; that too is the database not answering, a 503.)
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    DisconnectionError,
    psycopg.OperationalError,
)


def is_connection_failure(exc: BaseException) -> bool:
    """Whether `exc` is the database being unreachable (rather than a bug or bad input)."""
    if isinstance(exc, CONNECTION_ERRORS):
        return True
    # A statement on a connection the driver found dead (e.g. InterfaceError "the
    # connection is closed"): SQLAlchemy marks the connection invalidated.
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def database_unavailable(
    exc: BaseException, url: str | None = None, *, hint: str | None = None
) -> DatabaseUnavailable:
    """The `DatabaseUnavailable` (503) a connection failure becomes, saying what to do."""
    where = f" at {_safe(url)}" if url else ""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return DatabaseUnavailable(
        f"cannot connect to the database{where}" + (f": {hint}" if hint else ""),
        details={"reason": reason[0][:300] if reason else ""},
    )


@contextlib.contextmanager
def translate_errors(url: str | None = None, *, hint: str | None = None) -> Iterator[None]:
    """Turn driver connection failures into `DatabaseUnavailable` saying what to do."""
    try:
        yield
    except Exception as exc:
        if not is_connection_failure(exc):
            raise
        raise database_unavailable(exc, url, hint=hint) from exc


def hint_for(settings: Settings) -> str:
    return EXTERNAL_HINT if settings.database_url else EMBEDDED_HINT


def check_database(engine: Engine, *, hint: str | None = EXTERNAL_HINT) -> dict[str, Any]:
    """Connect once and report the server and PostGIS versions; refuse a server without it."""
    url = engine.url.render_as_string(hide_password=False)
    with translate_errors(url, hint=hint), engine.connect() as conn:
        server = conn.execute(text("SHOW server_version")).scalar_one()
        has_postgis = conn.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
        ).first()
        if not has_postgis:
            raise DatabaseUnavailable(
                f"PostGIS is not available on the server at {_safe(url)}: "
                "install postgresql-15-postgis-3 there"
            )
        installed = conn.execute(
            text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
        ).scalar()
    return {"server_version": server, "postgis_version": installed}


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        with translate_errors():
            yield session
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest)."""
    from alembic import command

    with translate_errors(url, hint=EXTERNAL_HINT):
        command.upgrade(_alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    with translate_errors(url):
        command.downgrade(_alembic_config(url), revision)
