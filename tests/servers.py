"""Run the real service (`gridmap serve`) in a subprocess for tests that need HTTP on a port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_service(
    db_url: str, home: Path, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start `gridmap serve` on a free port against `db_url`; yield its base URL."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    clean.update({"GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(home)})
    clean["GRIDMAP_AUTH_REQUIRED"] = os.environ.get("GRIDMAP_AUTH_REQUIRED", "true")
    clean.update(env or {})
    log_path = home / f"serve-{port}.log"
    home.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gridmap_cli.main",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env=clean,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gridmap serve did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
