"""Bearer tokens checked on the event loop: the caller known from memory, still live per the
database at every request, concurrent requests sharing one look.

An integration (the 12345 hotline bridge, an alarm gateway) sends every event with its
token. Looking the token up through the ORM on a worker thread cost ~3 ms of CPU per
request and capped authenticated ingest far below the anonymous one (docs/performance.md,
"Ingest"). Here the principal a token resolved to is kept for `TOKEN_PRINCIPAL_SECONDS`
(as `gridmap.access.accounts.token_principal` keeps it), and what must never be stale, whether the
token is still live (not revoked, not expired), is asked of the database for every request
on the gate's own asyncio connection: requests waiting at the same moment share one query
(`gridmap.coalesce`), which starts after each of them arrived, so a token revoked before
a request arrives refuses that request, in every worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from gridmap.access.accounts import TOKEN_PRINCIPAL_SECONDS
from gridmap.access.permissions import Principal
from gridmap.coalesce import Coalescer
from gridmap.db import libpq_conninfo, needs_reconnect, translate_errors

# The rule of `gridmap.access.accounts.token_row`: not revoked, not past its expiry.
_LIVE_SQL = (
    "SELECT id FROM api_token WHERE id = ANY(%s) AND revoked_at IS NULL "
    "AND (expires_at IS NULL OR expires_at > now())"
)
# The rule of `gridmap.access.logins.session_user`: not ended (logout, password reset and
# disabling
# delete the row), not expired, its user not disabled.
_SESSIONS_LIVE_SQL = (
    "SELECT s.id_hash FROM user_session s JOIN app_user u ON u.id = s.user_id "
    "WHERE s.id_hash = ANY(%s) AND s.expires_at > now() AND NOT u.disabled"
)
_MAX_KNOWN = 1000


class TokenGate:
    """Per worker process: the tokens seen lately, and their liveness asked per request."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conninfo = libpq_conninfo(database_url)
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._known: dict[bytes, tuple[float, Principal]] = {}
        self._checks: Coalescer[int, bool] = Coalescer(self._live, max_batch=256)
        self._session_checks: Coalescer[bytes, bool] = Coalescer(self._sessions_live, max_batch=256)
        self._connecting = asyncio.Lock()

    def known(self, secret: str) -> Principal | None:
        """The principal this secret resolved to lately (not a liveness check)."""
        entry = self._known.get(_digest(secret))
        if entry is None or time.monotonic() - entry[0] >= TOKEN_PRINCIPAL_SECONDS:
            return None
        return entry[1]

    def remember(self, secret: str, principal: Principal) -> None:
        if len(self._known) >= _MAX_KNOWN:  # bounded: stale entries go in one sweep
            self._known.clear()
        self._known[_digest(secret)] = (time.monotonic(), principal)

    async def live(self, token_id: int) -> bool:
        """Whether the token is live now: asked of the database after this call began."""
        return await self._checks.submit(token_id)

    async def session_live(self, cookie: str) -> bool:
        """Whether the browser session with this cookie is live now (an open live stream
        asks every few seconds; every stream of the worker shares one query)."""
        return await self._session_checks.submit(_digest(cookie))

    async def _connected(self) -> psycopg.AsyncConnection[Any]:
        async with self._connecting:
            if self._connection is None or needs_reconnect(self._connection):
                if self._connection is not None:
                    await self._connection.close()
                self._connection = await psycopg.AsyncConnection.connect(
                    self._conninfo,
                    autocommit=True,
                    application_name="gridmap-token-gate",
                    connect_timeout=10,
                )
            return self._connection

    async def _live(self, token_ids: Sequence[int]) -> list[bool]:
        with translate_errors(self._url):
            connection = await self._connected()
            cursor = await connection.execute(_LIVE_SQL, (sorted(set(token_ids)),))
            live = {row[0] for row in await cursor.fetchall()}
        return [token_id in live for token_id in token_ids]

    async def _sessions_live(self, hashes: Sequence[bytes]) -> list[bool]:
        with translate_errors(self._url):
            connection = await self._connected()
            cursor = await connection.execute(_SESSIONS_LIVE_SQL, (sorted(set(hashes)),))
            live = {bytes(row[0]) for row in await cursor.fetchall()}
        return [h in live for h in hashes]

    async def close(self) -> None:
        await self._checks.drain()
        await self._session_checks.drain()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
