"""The embedded PostGIS: a private PostgreSQL cluster under GRIDMAP_HOME, started on demand.

Used when no GRIDMAP_DATABASE_URL is given. The cluster listens on loopback only, on a
port chosen once and remembered, with a generated password (scram-sha-256), so other
local users cannot walk in. PostgreSQL refuses to run as root; when gridmap runs as root
the server runs as the unprivileged `postgres` user that Debian's package creates.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gridmap.errors import EmbeddedDatabaseError

if TYPE_CHECKING:
    from gridmap.replication import ReplicationGrant

DB_NAME = "gridmap"
DB_USER = "gridmap"
_INSTALL_HINT = "install postgresql-15-postgis-3 (apt-get install -y postgresql-15-postgis-3)"


@dataclass(frozen=True)
class ClusterInfo:
    """What a client needs to reach the embedded cluster."""

    home: Path
    port: int
    password: str
    user: str = DB_USER

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/{DB_NAME}"


def find_bindir(explicit: Path | None = None) -> Path:
    """The newest PostgreSQL server binary directory (`pg_config --bindir` points elsewhere)."""
    candidates = [explicit] if explicit else []
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    for bindir in candidates:
        if bindir and (bindir / "postgres").exists() and (bindir / "initdb").exists():
            return bindir
    raise EmbeddedDatabaseError(f"PostgreSQL server binaries not found: {_INSTALL_HINT}")


def _check_postgis(bindir: Path) -> None:
    version = bindir.parent.name
    control = Path(f"/usr/share/postgresql/{version}/extension/postgis.control")
    if not control.exists():
        raise EmbeddedDatabaseError(
            f"PostGIS is not installed for PostgreSQL {version}: "
            f"apt-get install -y postgresql-{version}-postgis-3"
        )


class EmbeddedCluster:
    """Initialise, start, find, stop the cluster living in `home/pgdata`."""

    def __init__(self, home: Path, *, bindir: Path | None = None) -> None:
        self.home = home.resolve()
        self.data_dir = self.home / "pgdata"
        self.state_file = self.home / "cluster.json"
        self.log_file = self.home / "postgres.log"
        self._bindir_hint = bindir

    # --- who runs the server ---------------------------------------------------------

    @property
    def _run_as(self) -> str | None:
        """`postgres` when we are root (PostgreSQL refuses root), else None (ourselves)."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise EmbeddedDatabaseError(
                "running as root, and there is no 'postgres' user to run the server as: "
                + _INSTALL_HINT
            ) from exc
        return "postgres"

    def _cmd(self, *args: str) -> list[str]:
        user = self._run_as
        if user is None:
            return list(args)
        return ["runuser", "-u", user, "--", *args]

    def _run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self._cmd(*args),
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **env} if env else None,
        )
        if check and proc.returncode != 0:
            raise EmbeddedDatabaseError(
                f"{Path(args[0]).name} failed: {(proc.stderr or proc.stdout).strip()}"
                f" (log: {self.log_file})"
            )
        return proc

    def _prepare_dirs(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        user = self._run_as
        if user is None:
            return
        pw = pwd.getpwnam(user)
        # The server user must reach the data directory through every parent.
        for parent in [self.home, *self.home.parents]:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(parent, mode | stat.S_IXOTH)
        for path in (self.home,):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        if self.log_file.exists():
            os.chown(self.log_file, pw.pw_uid, pw.pw_gid)

    # --- state -----------------------------------------------------------------------

    def _load_state(self) -> dict[str, object] | None:
        if not self.state_file.exists():
            return None
        return json.loads(self.state_file.read_text())

    def _save_state(self, port: int, password: str, **more: str) -> None:
        self.state_file.write_text(json.dumps({"port": port, "password": password, **more}))
        os.chmod(self.state_file, 0o600)

    @staticmethod
    def _free_port() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self.state_file.exists()

    def info(self) -> ClusterInfo:
        state = self._load_state()
        if state is None:
            raise EmbeddedDatabaseError(
                f"no embedded database under {self.home}: run `gridmap db start`"
            )
        return ClusterInfo(
            self.home,
            int(str(state["port"])),
            str(state["password"]),
            str(state.get("user") or DB_USER),
        )

    # --- lifecycle -------------------------------------------------------------------

    def init(self) -> None:
        bindir = find_bindir(self._bindir_hint)
        _check_postgis(bindir)
        self._prepare_dirs()
        if self.initialised:
            return
        if self.data_dir.exists():
            # A half-made cluster from an interrupted init: nothing in it can be trusted.
            shutil.rmtree(self.data_dir)
        password = secrets.token_urlsafe(24)
        pwfile = self.home / ".pwfile"
        pwfile.write_text(password + "\n")
        user = self._run_as
        if user is not None:
            pw = pwd.getpwnam(user)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        os.chmod(pwfile, 0o600)
        try:
            self._run(
                str(bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                DB_USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        port = self._free_port()
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# gridmap embedded cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {port}\n"
                "unix_socket_directories = ''\n"
                "max_connections = 200\n"
                "shared_buffers = 256MB\n"
                "work_mem = 32MB\n"
                "maintenance_work_mem = 256MB\n"
                "synchronous_commit = on\n"
                "fsync = on\n"
            )
        self._save_state(port, password)

    def init_standby(
        self, grant: ReplicationGrant, *, user: str, password: str, replace: bool = False
    ) -> None:
        """Make this home's cluster a streaming replica of the primary `grant` names.

        `pg_basebackup -R` copies the primary and writes `standby.signal`; the slot
        (`-C -S`) keeps the WAL this standby has not received yet on the primary. The copy
        carries the primary's port and its synchronous_standby_names: this cluster gets its
        own port, and waits for no standby of its own (after a promotion it would stop
        every write). `user`/`password` are the primary's database user: a standby has the
        same roles, and serves them once promoted.
        """
        bindir = find_bindir(self._bindir_hint)
        _check_postgis(bindir)
        if self.initialised or self.data_dir.exists():
            if not replace:
                raise EmbeddedDatabaseError(
                    f"{self.home} already holds a cluster; a standby starts from an empty home "
                    "(--replace deletes this one)"
                )
            self.stop()
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.state_file.unlink(missing_ok=True)
        self._prepare_dirs()
        self._run(
            str(bindir / "pg_basebackup"),
            "-D",
            str(self.data_dir),
            "-h",
            grant.host,
            "-p",
            str(grant.port),
            "-U",
            grant.user,
            "-w",
            "-R",
            "-C",
            "-S",
            grant.slot,
            "-X",
            "stream",
            "-c",
            "fast",
            env={"PGPASSWORD": grant.password},
        )
        auto = self.data_dir / "postgresql.auto.conf"
        dropped = ("primary_conninfo", "primary_slot_name", "synchronous_standby_names")
        kept = [
            line for line in auto.read_text().splitlines() if not line.strip().startswith(dropped)
        ]
        conninfo = grant.primary_conninfo().replace("'", "''")
        kept += [f"primary_conninfo = '{conninfo}'", f"primary_slot_name = '{grant.slot}'"]
        auto.write_text("\n".join(kept) + "\n")
        port = self._free_port()
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# gridmap standby of {grant.host}:{grant.port}\nport = {port}\n")
        self._save_state(port, password, user=user, standby_of=f"{grant.host}:{grant.port}")

    def pid(self) -> int | None:
        """The running postmaster's pid, or None (a stale pid file counts as not running)."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            first = pidfile.read_text().splitlines()[0]
        except (FileNotFoundError, IndexError):
            return None
        if not re.fullmatch(r"\d+", first.strip()):
            return None
        pid = int(first)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        # The pid may have been reused by another program after a crash.
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"postgres" in cmdline else None

    def _port_open(self, port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0

    def start(self, *, timeout: float = 60.0) -> ClusterInfo:
        """Start the cluster (initialising it first if needed); harmless when running."""
        self.init()
        info = self.info()
        if self.pid() is not None:
            return info
        stale = self.data_dir / "postmaster.pid"
        if stale.exists():
            # The server died without cleaning up (kill -9, power loss): the pid in the
            # file is gone, so the lock is stale and PostgreSQL will recover from its WAL.
            stale.unlink()
            # Its orphaned backends inherited the listening socket and hold the port
            # until they notice the postmaster is gone: give them a moment.
            deadline = time.monotonic() + 30
            while self._port_open(info.port) and time.monotonic() < deadline:
                time.sleep(0.2)
        bindir = find_bindir(self._bindir_hint)
        if self._port_open(info.port):
            raise EmbeddedDatabaseError(
                f"port {info.port} on 127.0.0.1 is taken by another program; "
                f"stop it, or delete {self.state_file} to pick a new port"
            )
        self._prepare_dirs()
        self._run(
            str(bindir / "pg_ctl"),
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(int(timeout)),
        )
        deadline = time.monotonic() + timeout
        while not self._port_open(info.port):
            if time.monotonic() > deadline:
                raise EmbeddedDatabaseError(
                    f"the embedded PostgreSQL did not open port {info.port}; see {self.log_file}"
                )
            time.sleep(0.1)
        return info

    def stop(self) -> bool:
        """Stop the server; returns False when it was not running."""
        if self.pid() is None:
            return False
        bindir = find_bindir(self._bindir_hint)
        self._run(str(bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w")
        return True

    def status(self) -> dict[str, object]:
        state = self._load_state() or {}
        return {
            "home": str(self.home),
            "initialised": self.initialised,
            "running": self.pid() is not None,
            "pid": self.pid(),
            "port": state.get("port"),
        }
