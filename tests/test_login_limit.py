"""The login limit against a real served app (`gridmap serve`): forged forwarding headers do
not reset it or forge the audit log, and parallel guesses are counted before any password
is checked."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from gridmap.access import accounts
from gridmap.db import make_engine, session_factory
from gridmap.errors import ConfigurationError
from gridmap.models import AuditLog, LoginAttempt
from gridmap.settings import Settings
from tests.logins import PASSWORD
from tests.servers import running_service


def _add_user(db_url: str, username: str) -> None:
    engine = make_engine(db_url, pool_size=1)
    with session_factory(engine)() as s:
        accounts.create_user(s, username=username, role="operator", password=PASSWORD)
        s.commit()
    engine.dispose()


def _login(base: str, username: str, password: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{base}/api/auth/login",
        json={"username": username, "password": password},
        headers=headers,
        timeout=60,
    )


def test_forged_forwarding_headers_neither_reset_the_limit_nor_forge_the_audit_log(
    db_url: str, tmp_path: Path
) -> None:
    _add_user(db_url, "target")
    with running_service(db_url, tmp_path / "home") as base:
        answers = []
        for n in range(8):
            forged = {"X-Forwarded-For": f"203.0.113.{n}", "X-Real-IP": f"198.51.100.{n}"}
            answers.append(_login(base, "target", "a wrong guess", forged).status_code)
        assert answers == [401] * 5 + [429] * 3
        right = _login(base, "target", PASSWORD, {"X-Forwarded-For": "203.0.113.99"})
        assert right.status_code == 429, right.text
        # Another user from the same address can still log in (the limit is per user and
        # address), and the audit log names the real address.
        _add_user(db_url, "bystander")
        ok = _login(base, "bystander", PASSWORD, {"X-Forwarded-For": "203.0.113.7"})
        assert ok.status_code == 200, ok.text
    engine = make_engine(db_url, pool_size=1)
    with session_factory(engine)() as s:
        addrs = set(s.scalars(select(LoginAttempt.source_addr)))
        logged = s.scalars(select(AuditLog.source_addr).where(AuditLog.action == "auth.login"))
        assert addrs == {"127.0.0.1"}
        assert list(logged) == ["127.0.0.1"]
    engine.dispose()


def test_a_trusted_proxy_forwards_the_client_address(db_url: str, tmp_path: Path) -> None:
    _add_user(db_url, "target")
    env = {"GRIDMAP_TRUSTED_PROXIES": "127.0.0.1/32, ::1"}
    with running_service(db_url, tmp_path / "home", env=env) as base:
        # Five failures from one client behind the proxy...
        for _ in range(5):
            forged = {"X-Forwarded-For": "1.2.3.4, 203.0.113.1"}  # the proxy appended .1
            assert _login(base, "target", "a wrong guess", forged).status_code == 401
        assert _login(base, "target", PASSWORD, forged).status_code == 429
        # ...do not lock out another client behind the same proxy; what the client itself
        # put first in the header (1.2.3.4) is not believed.
        other = {"X-Forwarded-For": "203.0.113.2"}
        assert _login(base, "target", PASSWORD, other).status_code == 200
    engine = make_engine(db_url, pool_size=1)
    with session_factory(engine)() as s:
        addrs = sorted(set(s.scalars(select(LoginAttempt.source_addr))))
        assert addrs == ["203.0.113.1", "203.0.113.2"]
    engine.dispose()


def test_parallel_guesses_are_counted_before_any_password_is_checked(
    db_url: str, tmp_path: Path
) -> None:
    _add_user(db_url, "target")
    with (
        running_service(db_url, tmp_path / "home", workers=2) as base,
        concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool,
    ):
        futures = [pool.submit(_login, base, "target", f"guess number {n}", {}) for n in range(100)]
        statuses = sorted(fut.result().status_code for fut in futures)
    # The limit is 5 failures: exactly 5 passwords were checked, everything else waited
    # its turn and was refused without a check.
    assert statuses.count(401) == 5, statuses
    assert statuses.count(429) == 95, statuses
    engine = make_engine(db_url, pool_size=1)
    with session_factory(engine)() as s:
        checked = s.scalars(select(LoginAttempt).where(LoginAttempt.username == "target")).all()
        assert len(checked) == 5
    engine.dispose()


@pytest.mark.parametrize("value", ["not-an-address", "10.0.0.0/33", "10.0.0.1,,x"])
def test_a_bad_trusted_proxies_setting_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="GRIDMAP_TRUSTED_PROXIES"):
        Settings(trusted_proxies=value)
