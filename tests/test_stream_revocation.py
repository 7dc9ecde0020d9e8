"""Who hears what on the live stream, and for how long.

An open stream ends within a few seconds of the credential it was opened with: a token
revoked, a session logged out, a user disabled or given a new password. And each map
hears only about the events its user may read: a grid worker its grid's, a team member
its team's, not the whole township's or county's.

The real service (`gridmap serve`, login required) on the small county (tests/factories.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridmap.access import accounts
from gridmap.db import make_engine, session_factory
from tests import factories as f
from tests.county_users import county_with_accounts
from tests.logins import PASSWORD
from tests.servers import running_service

pytestmark = pytest.mark.anyio

# The service asks every 2 s; a few seconds is the promise.
ENDS_WITHIN_S = 6.0
G2 = f"{f.C1}002"  # G1's neighbour in the same community and township
G_EAST = f"{f.C3}001"
USERS = [
    ("county-operator", "operator", [f.COUNTY]),
    ("leaving-operator", "operator", [f.COUNTY]),
    ("forgetful-operator", "operator", [f.COUNTY]),
    ("logout-operator", "operator", [f.COUNTY]),
    ("g1-worker", "grid_worker", [f.G1]),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def county_url(server_url: str, small_county_template: str) -> Iterator[str]:
    yield from county_with_accounts(server_url, small_county_template, prefix="sse", users=USERS)


@pytest.fixture(scope="module")
def tokens(county_url: str) -> dict[str, str]:
    engine = make_engine(county_url, pool_size=1)
    out: dict[str, str] = {}
    with session_factory(engine)() as s:
        for name in ("hotline", "screen"):
            _, out[name] = accounts.create_token(
                s, name=name, role="integration", area_codes=[f.COUNTY]
            )
        accounts.create_user(
            s,
            username="east-team-member",
            role="team_member",
            password=PASSWORD,
            team_code=f"T-{G_EAST}",
        )
        s.commit()
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def service(
    county_url: str, tokens: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("sse")
    with running_service(county_url, home, env={"GRIDMAP_AUTH_REQUIRED": "true"}) as base:
        yield base


def in_db(county_url: str, change: Any) -> None:
    engine = make_engine(county_url, pool_size=1)
    with session_factory(engine)() as s:
        change(s)
        s.commit()
    engine.dispose()


@dataclass
class OpenStream:
    """One open /api/stream: what arrived, and whether the server ended it."""

    events: list[dict[str, Any]] = field(default_factory=list)
    status: int | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def ids(self) -> set[int]:
        return {e["id"] for e in self.events if "id" in e}


async def _read(http: httpx.AsyncClient, base: str, stream: OpenStream) -> None:
    try:
        async with http.stream("GET", f"{base}/api/stream") as response:
            stream.status = response.status_code
            stream.connected.set()
            if response.status_code != 200:
                return
            data = None
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data = json.loads(line[5:].strip())
                elif line == "" and data is not None:
                    stream.events.append(data)
                    data = None
    finally:
        stream.connected.set()
        stream.ended.set()


@contextlib.asynccontextmanager
async def open_stream(
    base: str, *, headers: dict[str, str] | None = None, cookies: httpx.Cookies | None = None
) -> AsyncIterator[OpenStream]:
    stream = OpenStream()
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(10, read=None), headers=headers, cookies=cookies
    ) as http:
        task = asyncio.create_task(_read(http, base, stream))
        try:
            await asyncio.wait_for(stream.connected.wait(), 10)
            assert stream.status == 200
            yield stream
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def logged_in(base: str, username: str) -> tuple[httpx.Cookies, str]:
    answer = httpx.post(f"{base}/api/auth/login", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return answer.cookies, answer.json()["csrf_token"]


def report(base: str, hotline: str, point: tuple[float, float]) -> int:
    body = {
        "source": "12345",
        "external_id": f"S-{uuid.uuid4().hex[:10]}",
        "category": "ROAD",
        "reported_at": "2026-11-20T09:30:00+08:00",
        "location": {"lon": point[0], "lat": point[1]},
    }
    answer = httpx.post(
        f"{base}/api/events", json=body, headers={"Authorization": f"Bearer {hotline}"}
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def heard(stream: OpenStream, event_id: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while event_id not in stream.ids():
        assert time.monotonic() < deadline, f"event {event_id} never arrived: {stream.ids()}"
        await asyncio.sleep(0.05)


async def ends_soon(stream: OpenStream) -> float:
    started = time.monotonic()
    await asyncio.wait_for(stream.ended.wait(), ENDS_WITHIN_S)
    return time.monotonic() - started


async def test_a_stream_ends_when_its_token_is_revoked(
    service: str, county_url: str, tokens: dict[str, str]
) -> None:
    hotline = tokens["hotline"]
    async with open_stream(service, headers={"Authorization": f"Bearer {tokens['screen']}"}) as s:
        await heard(s, report(service, hotline, f.SmallCounty.grid_center(f.G1)))
        in_db(county_url, lambda db: accounts.revoke_token(db, name="screen"))
        await ends_soon(s)
        after = {report(service, hotline, f.SmallCounty.grid_center(f.G1)) for _ in range(3)}
        await asyncio.sleep(1.0)
        assert not after & s.ids()


@pytest.mark.parametrize(
    ("username", "how"),
    [
        ("logout-operator", "logout"),
        ("leaving-operator", "disable"),
        ("forgetful-operator", "password"),
    ],
)
async def test_a_stream_ends_when_its_session_ends(
    service: str, county_url: str, tokens: dict[str, str], username: str, how: str
) -> None:
    cookies, csrf = logged_in(service, username)
    async with open_stream(service, cookies=cookies) as s:
        await heard(s, report(service, tokens["hotline"], f.SmallCounty.grid_center(f.G1)))
        if how == "logout":
            out = httpx.post(
                f"{service}/api/auth/logout", cookies=cookies, headers={"X-CSRF-Token": csrf}
            )
            assert out.status_code == 200, out.text
        elif how == "disable":
            in_db(county_url, lambda db: accounts.disable_user(db, username=username))
        else:
            in_db(
                county_url,
                lambda db: accounts.reset_password(db, username=username, password=PASSWORD + "!"),
            )
        await ends_soon(s)
        late = report(service, tokens["hotline"], f.SmallCounty.grid_center(f.G1))
        await asyncio.sleep(1.0)
        assert late not in s.ids()


async def test_each_map_hears_only_about_the_events_its_user_may_read(
    service: str, tokens: dict[str, str]
) -> None:
    worker_cookies, _ = logged_in(service, "g1-worker")
    team_cookies, _ = logged_in(service, "east-team-member")
    county_cookies, _ = logged_in(service, "county-operator")
    async with (
        open_stream(service, cookies=worker_cookies) as worker,
        open_stream(service, cookies=team_cookies) as team,
        open_stream(service, cookies=county_cookies) as county,
    ):
        hotline = tokens["hotline"]
        in_g1 = report(service, hotline, f.SmallCounty.grid_center(f.G1))
        in_g2 = report(service, hotline, f.SmallCounty.grid_center(G2))
        in_east = report(service, hotline, f.SmallCounty.grid_center(G_EAST))
        for event_id in (in_g1, in_g2, in_east):
            await heard(county, event_id)
        await heard(worker, in_g1)
        await heard(team, in_east)
        await asyncio.sleep(0.5)
        assert worker.ids() & {in_g1, in_g2, in_east} == {in_g1}
        assert team.ids() & {in_g1, in_g2, in_east} == {in_east}
        # What the worker may not read, it cannot read by id either: the same rule.
        seen = httpx.get(f"{service}/api/events/{in_g2}", cookies=worker_cookies)
        assert seen.status_code == 404
