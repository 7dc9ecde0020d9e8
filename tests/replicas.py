"""A primary and a streaming standby from two embedded clusters on this machine, made with
the commands an operator runs (`gridmap db standby`, `gridmap db primary --synchronous`),
for the failover test and bench/failover.py. Both clusters are stopped and deleted on exit,
whatever happened (a SIGKILLed postmaster's backends end by themselves once they see it
gone)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from gridmap.db import _ensure_database, libpq_conninfo, make_engine, migrate, session_factory
from gridmap.embedded_db import EmbeddedCluster

ROOT = Path(__file__).resolve().parent.parent
STANDBY = "standby1"


def gridmap_cli(home: Path, *args: str, timeout: float = 180) -> str:
    """Run `gridmap ARGS` with GRIDMAP_HOME=home (and no external database); its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    env["GRIDMAP_HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-m", "gridmap_cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"gridmap {' '.join(args[:2])} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@dataclass
class Pair:
    primary: EmbeddedCluster
    standby: EmbeddedCluster

    @property
    def primary_url(self) -> str:
        return self.primary.info().url

    @property
    def standby_url(self) -> str:
        return self.standby.info().url

    @property
    def service_url(self) -> str:
        """Both servers in one URL: whichever is the primary gets the connections."""
        p, s = self.primary.info(), self.standby.info()
        return (
            f"postgresql+psycopg://{p.user}:{p.password}@127.0.0.1:{p.port},127.0.0.1:{s.port}"
            "/gridmap?target_session_attrs=read-write"
        )

    def kill_primary(self) -> int:
        """SIGKILL the primary's postmaster (a machine lost, as far as PostgreSQL can tell)."""
        pid = self.primary.pid()
        assert pid is not None, "the primary is not running"
        os.kill(pid, signal.SIGKILL)
        return pid

    def promote_standby(self) -> float:
        """`gridmap db promote` on the standby; returns the moment (time.monotonic()) it was
        seen taking writes, not when the command exited (its start-up is seconds here)."""
        done = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                gridmap_cli(self.standby.home, "db", "promote")
            except BaseException as exc:
                failure.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=run)
        thread.start()
        promoted_at = None
        with psycopg.connect(libpq_conninfo(self.standby_url), autocommit=True) as conn:
            while promoted_at is None and not done.is_set():
                if conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,):
                    promoted_at = time.monotonic()
                time.sleep(0.02)
        thread.join()
        if failure:
            raise failure[0]
        return promoted_at or time.monotonic()


def _load_small_county(url: str) -> None:
    from tests import factories

    engine = make_engine(url, pool_size=1)
    try:
        with session_factory(engine)() as session:
            factories.load_small_county(session)
            session.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def primary_and_standby(
    base: Path,
    *,
    synchronous: bool = True,
    load: Callable[[str], None] | None = _load_small_county,
) -> Iterator[Pair]:
    """A primary under base/primary (schema migrated, `load(url)` run) and a standby of it
    under base/standby, synchronous unless told otherwise."""
    pair = Pair(EmbeddedCluster(base / "primary"), EmbeddedCluster(base / "standby"))
    try:
        info = pair.primary.start()
        _ensure_database(info.url)
        migrate(info.url)
        if load is not None:
            load(info.url)
        gridmap_cli(pair.standby.home, "db", "standby", "--primary", info.url, "--name", STANDBY)
        if synchronous:
            gridmap_cli(pair.primary.home, "db", "primary", "--synchronous", STANDBY)
        yield pair
    finally:
        for cluster in (pair.standby, pair.primary):
            with contextlib.suppress(Exception):
                cluster.stop()
        _wait_for_orphans(pair.primary)
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_orphans(cluster: EmbeddedCluster, timeout: float = 10.0) -> None:
    """A killed postmaster's backends exit on their own once they notice; wait for them so
    nothing of this test outlives it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            # Every PostgreSQL process works in its data directory.
            with contextlib.suppress(OSError):
                if os.readlink(proc / "cwd") == str(cluster.data_dir):
                    alive.append(int(proc.name))
        if not alive:
            return
        time.sleep(0.1)
