"""`gridmap serve` answers /health with the PostGIS version, on the real database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from gridmap.settings import Settings
from tests.conftest import ROOT


def test_health_reports_postgis_and_no_active_version(db_url: str, tmp_path) -> None:
    app = create_app(Settings(database_url=db_url, home=tmp_path))
    with TestClient(app) as client:
        body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["postgis_version"].startswith("3.")
    assert body["active_version"] is None
    assert body["database"]["role"] == "primary"  # a server that takes writes


def test_openapi_document_is_served(db_url: str, tmp_path) -> None:
    with TestClient(create_app(Settings(database_url=db_url, home=tmp_path))) as client:
        assert client.get("/openapi.json").json()["info"]["title"] == "gridmap"
        assert client.get("/docs").status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_gridmap_serve_answers_health(db_url: str, tmp_path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    env.update({"GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(tmp_path)})
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridmap_cli.main", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "gridmap serve did not answer in 60 s"
                time.sleep(0.3)
        assert response.status_code == 200
        assert response.json()["postgis_version"].startswith("3.")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
