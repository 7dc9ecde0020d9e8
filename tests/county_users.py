"""The small county (tests/factories.py) in a database of its own, with users and tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

from gridmap.access import accounts
from gridmap.db import make_engine, session_factory
from tests.conftest import create_database, drop_database
from tests.logins import PASSWORD

# (name, role, area codes)
Account = tuple[str, str, Sequence[str]]


def add_accounts(
    url: str, *, users: Sequence[Account] = (), tokens: Sequence[Account] = ()
) -> None:
    """Users (password `tests.logins.PASSWORD`) and tokens, committed."""
    engine = make_engine(url, pool_size=1)
    with session_factory(engine)() as s:
        for username, role, areas in users:
            accounts.create_user(
                s, username=username, role=role, password=PASSWORD, area_codes=areas
            )
        for name, role, areas in tokens:
            accounts.create_token(s, name=name, role=role, area_codes=areas)
        s.commit()
    engine.dispose()


def county_with_accounts(
    server_url: str,
    template: str,
    *,
    prefix: str,
    users: Sequence[Account] = (),
    tokens: Sequence[Account] = (),
) -> Iterator[str]:
    """A copy of the small county with these accounts (for a module-scoped fixture)."""
    name = f"gridmap_{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=template)
    try:
        add_accounts(url, users=users, tokens=tokens)
        yield url
    finally:
        drop_database(server_url, name)
