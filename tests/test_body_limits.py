"""Every body is bounded, and an unauthenticated one is refused before it is read: raw HTTP
against a real served app (`gridmap serve`), sending only part of a declared body and
waiting for the answer."""

from __future__ import annotations

import select
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from gridmap.access import accounts
from gridmap.db import make_engine, session_factory
from tests import factories as f
from tests.conftest import create_database, drop_database
from tests.servers import running_service

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def served(
    server_url: str, small_county_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    name = f"gridmap_body_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=small_county_template)
    engine = make_engine(url, pool_size=1)
    with session_factory(engine)() as s:
        _, token = accounts.create_token(s, name="body", role="admin", area_codes=[f.COUNTY])
        s.commit()
    engine.dispose()
    try:
        env = {"GRIDMAP_AUTH_REQUIRED": "true"}
        with running_service(url, tmp_path_factory.mktemp("body"), env=env) as base:
            yield base, token
    finally:
        drop_database(server_url, name)


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def send_partly(
    base: str,
    path: str,
    *,
    declared: int | None,
    send: int,
    headers: dict[str, str] | None = None,
    wait: float = 10.0,
) -> tuple[int, int, bytes]:
    """POST with `Content-Length: declared` (None: chunked) but only `send` bytes of body,
    then wait for an answer. Returns (status, bytes of body sent, answer); status 0 when
    the server did not answer within `wait` seconds (it was waiting for the rest)."""
    parts = urlsplit(base)
    head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    head.append(
        f"Content-Length: {declared}" if declared is not None else "Transfer-Encoding: chunked"
    )
    sock = socket.create_connection((parts.hostname, parts.port), timeout=wait)
    sent = 0
    answer = b""
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        chunk = b"[" + b"0," * (64 * 1024 // 2 - 1) + b"0"  # 64 KiB of JSON-ish bytes
        while sent < send:
            piece = chunk[: send - sent]
            framed = piece if declared is not None else b"%x\r\n%s\r\n" % (len(piece), piece)
            try:
                sock.sendall(framed)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            if select.select([sock], [], [], 0)[0]:
                break  # answered already
        ready = select.select([sock], [], [], wait)[0]
        if not ready:
            return 0, sent, b""
        try:
            while True:  # the head, then the body by its Content-Length
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
                head_end = answer.find(b"\r\n\r\n")
                if head_end < 0:
                    continue
                length = 0
                for line in answer[:head_end].split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if len(answer) >= head_end + 4 + length:
                    break
        except ConnectionResetError:
            pass
    finally:
        sock.close()
    return (_status(answer) if answer else 0), sent, answer


def test_an_anonymous_body_is_refused_before_it_is_read(served: tuple[str, str]) -> None:
    base, _ = served
    for path in ("/api/admin/users", "/api/drafts", "/api/events/1/actions/accept", "/nowhere"):
        status, _, answer = send_partly(base, path, declared=400_000_000, send=64 * 1024)
        assert status == 401, (path, answer[:300])
        assert b"authentication_required" in answer
    # A token that does not exist is no better than none.
    status, _, answer = send_partly(
        base,
        "/api/admin/users",
        declared=400_000_000,
        send=64 * 1024,
        headers={"Authorization": "Bearer gm_not-a-token"},
    )
    assert status == 401, answer[:300]
    # Chunked, anonymous: refused before the first chunk is read.
    status, _, answer = send_partly(base, "/api/admin/users", declared=None, send=64 * 1024)
    assert status == 401, answer[:300]


def test_the_public_login_takes_at_most_64_KiB(served: tuple[str, str]) -> None:
    base, _ = served
    status, _, answer = send_partly(base, "/api/auth/login", declared=400_000_000, send=1024)
    assert status == 413, answer[:300]
    assert b"payload_too_large" in answer
    status, _, answer = send_partly(base, "/api/auth/login", declared=None, send=2 * MIB)
    assert status == 413, answer[:300]


def test_every_route_has_a_limit_declared_or_counted(served: tuple[str, str]) -> None:
    base, token = served
    bearer = {"Authorization": f"Bearer {token}"}
    for path, limit in [
        ("/api/admin/users", MIB),
        ("/api/events/1/actions/accept", MIB),
        ("/api/drafts", 8 * MIB),
        ("/api/locate", 16 * MIB),
        ("/api/events/1/photos", 10 * MIB + 64 * 1024),
        ("/api/drafts/1/upload", 64 * MIB + 64 * 1024),
    ]:
        # Declared over the limit: 413 before anything is read.
        status, _, answer = send_partly(
            base, path, declared=limit + 1, send=64 * 1024, headers=bearer
        )
        assert status == 413, (path, answer[:300])
        assert f'"max_bytes":{limit}'.encode() in answer, answer[:400]
    for path in ("/api/admin/users", "/api/drafts", "/api/locate"):
        limit = {"/api/admin/users": MIB, "/api/drafts": 8 * MIB, "/api/locate": 16 * MIB}[path]
        status, sent, answer = send_partly(
            base, path, declared=None, send=limit + 2 * MIB, headers=bearer
        )
        assert status == 413, (path, sent, answer[:300])


def test_bodies_within_their_limits_are_served(served: tuple[str, str]) -> None:
    base, token = served
    bearer = {"Authorization": f"Bearer {token}"}
    made = httpx.post(
        f"{base}/api/admin/users",
        headers=bearer,
        json={
            "username": "newcomer",
            "role": "operator",
            "password": "long enough pw",
            "areas": [f.T1],
        },
    )
    assert made.status_code == 201, made.text
    lon, lat = f.SmallCounty.grid_center(f.G1)
    located = httpx.post(f"{base}/api/locate", headers=bearer, json={"points": [[lon, lat]]})
    assert located.status_code == 200, located.text
    logged_in = httpx.post(
        f"{base}/api/auth/login", json={"username": "newcomer", "password": "long enough pw"}
    )
    assert logged_in.status_code == 200, logged_in.text


def test_malformed_anonymous_requests_are_told_to_authenticate_first(
    served: tuple[str, str],
) -> None:
    base, _ = served
    for method, path, content in [
        ("GET", "/api/events/99999999999999999999", None),
        ("GET", "/api/versions/99999999999", None),
        ("POST", "/api/admin/users", b"{not json"),
        ("POST", "/api/events/1/actions/accept", b"[]"),
        ("PUT", "/api/admin/users/x/areas", b'{"areas": 5}'),
    ]:
        got = httpx.request(
            method, f"{base}{path}", content=content, headers={"Content-Type": "application/json"}
        )
        assert got.status_code == 401, (method, path, got.text)


def test_a_served_request_carries_its_caller_from_the_guard_to_the_route(
    served: tuple[str, str],
) -> None:
    """A bearer body POST works end to end once (the guard's look-up is reused)."""
    base, token = served
    got = httpx.post(
        f"{base}/api/events/999999/actions/accept",
        headers={"Authorization": f"Bearer {token}"},
        json={},
    )
    assert got.status_code in (404, 422), got.text
