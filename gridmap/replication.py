"""Streaming replication with PostgreSQL's own machinery: standbys, synchronous commit, promotion.

gridmap invents nothing here. A standby is `pg_basebackup` of the primary plus a
replication slot (the primary keeps the WAL the standby has not received yet) and a
`primary_conninfo` naming the standby (`application_name`), which is the name the
primary's `synchronous_standby_names` refers to. Promotion is `pg_promote()`.

The embedded cluster does this through `gridmap db standby|primary|promote|status`
(gridmap_cli/db_commands.py); an external cluster is set up the same way with its own
tooling (docs/deployment.md), and `replication_status` reads either.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gridmap.db import libpq_conninfo, normalise_url, translate_errors
from gridmap.errors import ConfigurationError, Conflict, InvalidInput

# A standby's name is its application_name, its replication slot and part of its role's name.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
ROLE_PREFIX = "gridmap_replication_"
CommitLevel = Literal["on", "remote_apply"]


def check_standby_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"a standby name is 1-40 lower-case letters, digits or '_', starting with a "
            f"letter (it names the replication slot), not {name!r}",
            details={"name": name},
        )
    return name


@dataclass(frozen=True)
class ReplicationGrant:
    """What a standby needs to stream from its primary."""

    host: str
    port: int
    user: str
    password: str
    slot: str

    def primary_conninfo(self) -> str:
        # application_name is how the primary knows the standby (synchronous_standby_names).
        return psycopg.conninfo.make_conninfo(
            "",
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            application_name=self.slot,
        )


def app_credentials(primary_url: str) -> tuple[str, str]:
    """The user and password of a database URL (a standby serves the same roles)."""
    url = make_url(normalise_url(primary_url))
    if not url.username or url.password is None:
        raise ConfigurationError(
            "--primary must be a URL with a user and password, e.g. "
            "postgresql://gridmap:PASSWORD@127.0.0.1:5432/gridmap"
        )
    return url.username, str(url.password)


def grant_replication(primary_url: str, name: str) -> ReplicationGrant:
    """On the primary: a replication role for standby `name` (a new password each time) and
    a clean slot name. Needs a superuser URL (the embedded cluster's own user is one)."""
    check_standby_name(name)
    url = normalise_url(primary_url)
    hosts = make_url(url).query.get("host")
    if isinstance(hosts, tuple) and len(hosts) > 1:
        raise ConfigurationError("--primary must name one server, not a list of hosts")
    role = ROLE_PREFIX + name
    password = secrets.token_urlsafe(24)
    with (
        translate_errors(url),
        psycopg.connect(libpq_conninfo(url), autocommit=True, connect_timeout=10) as conn,
    ):
        if conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,):
            raise Conflict("--primary points at a standby: give the primary's URL")
        wal_level = conn.execute("SHOW wal_level").fetchone()
        if wal_level is None or wal_level[0] not in ("replica", "logical"):
            raise ConfigurationError(
                "the primary has wal_level = minimal: set it to replica and restart it"
            )
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} WITH REPLICATION LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        slot = conn.execute(
            "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (name,)
        ).fetchone()
        if slot is not None:
            if slot[0]:
                raise Conflict(
                    f"a standby named {name!r} is streaming from this primary now; "
                    "choose another --name"
                )
            # A slot left by an earlier standby of this name keeps WAL for nobody.
            conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
        host = conn.info.host
        port = conn.info.port
    return ReplicationGrant(host=host, port=int(port), user=role, password=password, slot=name)


def set_synchronous(conn: Connection, names: list[str], *, commit: CommitLevel = "on") -> None:
    """Make the primary wait for one of `names` at every commit (none: stop waiting)."""
    for name in names:
        check_standby_name(name)
    standby_names = ("FIRST 1 (" + ", ".join(f'"{n}"' for n in names) + ")") if names else ""
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.autocommit = True  # ALTER SYSTEM cannot run in a transaction block
    raw.execute(
        sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(
            sql.Literal(standby_names)
        )
    )
    raw.execute(sql.SQL("ALTER SYSTEM SET synchronous_commit = {}").format(sql.Literal(commit)))
    raw.execute("SELECT pg_reload_conf()")


def promote(conn: Connection, *, wait_seconds: int = 60) -> bool:
    """Promote the standby at the other end of `conn`; False when it already is a primary."""
    if not conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one():
        return False
    done = conn.execute(text("SELECT pg_promote(true, :wait)"), {"wait": wait_seconds}).scalar_one()
    if not done:
        raise Conflict(f"the standby did not finish promotion within {wait_seconds} s")
    # Nothing streams from the new primary yet: waiting for a standby would stop every write.
    names = conn.execute(text("SHOW synchronous_standby_names")).scalar_one()
    if names:
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.autocommit = True
        raw.execute("ALTER SYSTEM RESET synchronous_standby_names")
        raw.execute("SELECT pg_reload_conf()")
    return True


_PRIMARY_SQL = text(
    """
    SELECT application_name, state, sync_state,
           extract(epoch FROM replay_lag)::float8 AS replay_lag_s,
           pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS replay_lag_bytes
    FROM pg_stat_replication ORDER BY application_name
    """
)
_STANDBY_SQL = text(
    """
    SELECT (SELECT status FROM pg_stat_wal_receiver) AS receiver,
           (SELECT slot_name FROM pg_stat_wal_receiver) AS slot,
           CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
                THEN 0.0
                ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
           END AS replay_lag_s,
           pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint
               AS replay_lag_bytes
    """
)


def replication_status(conn: Connection | Session) -> dict[str, Any]:
    """Role (primary or standby), and the standbys' sync state and lag, or this standby's lag.

    Replay lag on a primary is PostgreSQL's own measure (`pg_stat_replication.replay_lag`,
    null when nothing was written lately); on a standby, the age of the last transaction
    replayed while WAL received is still waiting to be replayed (0 when caught up).
    """
    if conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one():
        row = conn.execute(_STANDBY_SQL).mappings().one()
        return {
            "role": "standby",
            "receiver": row["receiver"],
            "slot": row["slot"],
            "replay_lag_s": row["replay_lag_s"],
            "replay_lag_bytes": row["replay_lag_bytes"],
        }
    standbys = [dict(r) for r in conn.execute(_PRIMARY_SQL).mappings()]
    return {
        "role": "primary",
        "synchronous_standby_names": conn.execute(
            text("SHOW synchronous_standby_names")
        ).scalar_one(),
        "synchronous_commit": conn.execute(text("SHOW synchronous_commit")).scalar_one(),
        "standbys": standbys,
    }
