"""The foundation: the schema migrates both ways, the embedded cluster lives and recovers,
bad database URLs fail clearly, and the domain stays free of the web stack."""

from __future__ import annotations

import ast
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from gridmap.db import downgrade, make_engine, migrate
from gridmap.embedded_db import EmbeddedCluster
from gridmap.models import Base
from tests.conftest import ROOT, create_database, drop_database

GRIDMAP = [sys.executable, "-m", "gridmap_cli.main"]


def test_migrations_upgrade_a_fresh_database_and_downgrade_back(server_url: str) -> None:
    url = create_database(server_url, "gridmap_migrations_test")
    try:
        migrate(url)
        eng = make_engine(url)
        tables = set(inspect(eng).get_table_names())
        assert {"area", "area_part", "boundary_version", "event", "event_log", "team"} <= tables
        # The models and the migrations describe the same schema.
        with eng.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if "spatial_ref_sys" not in str(d)] == []

        downgrade(url, "base")
        left = set(inspect(eng).get_table_names()) - {"spatial_ref_sys", "alembic_version"}
        assert left == set()

        migrate(url)  # and up again
        assert "event" in inspect(eng).get_table_names()
        eng.dispose()
    finally:
        drop_database(server_url, "gridmap_migrations_test")


def test_event_log_is_append_only(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO event (source, external_id, category_code, priority, status, "
                "description, reported_at, on_boundary, outside_coverage, routing, "
                "escalation_level, overdue, row_version) VALUES ('t', '1', 'c', 'routine', "
                "'reported', '', now(), false, false, '{}', 'grid', false, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO event_log (event_id, actor, action, data) "
                "SELECT id, 'tester', 'report', '{}' FROM event"
            )
        )
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE event_log SET actor = 'someone else'"))
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM event_log"))


def test_embedded_cluster_starts_is_found_again_stops_and_recovers_from_a_kill(
    cluster_home: Path,
) -> None:
    cluster = EmbeddedCluster(cluster_home)
    info = cluster.start()
    try:
        first_pid = cluster.pid()
        assert first_pid is not None

        # A second start finds the running server instead of starting another.
        again = EmbeddedCluster(cluster_home).start()
        assert again.port == info.port
        assert cluster.pid() == first_pid

        assert cluster.stop() is True
        assert cluster.pid() is None
        assert cluster.stop() is False  # stopping twice is harmless

        cluster.start()
        pid = cluster.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # a crash: the pid file stays behind
        deadline = time.monotonic() + 10
        while cluster.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (cluster.data_dir / "postmaster.pid").exists()

        cluster.start()
        assert cluster.pid() not in (None, pid)
        url = make_url(cluster.info().url).set(database="postgres")
        eng = make_engine(url.render_as_string(hide_password=False))
        with eng.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        eng.dispose()
    finally:
        cluster.stop()


def _cli(*args: str, env_extra: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    env.update(env_extra)
    return subprocess.run(
        [*GRIDMAP, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_cli_db_start_status_stop(cluster_home: Path) -> None:
    env = {"GRIDMAP_HOME": str(cluster_home)}
    try:
        started = _cli("db", "start", env_extra=env, cwd=ROOT)
        assert started.returncode == 0, started.stderr
        assert "PostGIS 3" in started.stderr
        status = json.loads(_cli("db", "status", env_extra=env, cwd=ROOT).stdout)
        assert status["running"] is True
    finally:
        stopped = _cli("db", "stop", env_extra=env, cwd=ROOT)
    assert stopped.returncode == 0 and "stopped" in stopped.stderr
    assert json.loads(_cli("db", "status", env_extra=env, cwd=ROOT).stdout)["running"] is False


def test_an_external_url_pointing_at_nothing_gives_a_clear_error(tmp_path: Path) -> None:
    env = {"GRIDMAP_DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:9/nothing"}
    result = _cli("db", "start", env_extra=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot connect to the database at" in result.stderr
    assert "unset GRIDMAP_DATABASE_URL to use the embedded database" in result.stderr
    assert "secret" not in result.stderr  # the password is never printed


def test_a_url_that_is_not_postgresql_is_refused(tmp_path: Path) -> None:
    env = {"GRIDMAP_DATABASE_URL": "sqlite:///gridmap.db"}
    result = _cli("db", "status", env_extra=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "must point at PostgreSQL with PostGIS" in result.stderr


FORBIDDEN = {"fastapi", "starlette", "folium"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", ["gridmap", "geodata"])
def test_domain_packages_import_no_web_stack(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_modules(path) & FORBIDDEN)
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    # And not indirectly either: importing every module pulls in none of them.
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / package).rglob("*.py")
        if p.name != "__main__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m.removesuffix('.__init__'))\n"
        f"print(sorted(set(m.split('.')[0] for m in sys.modules) & {FORBIDDEN!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"


# --- layering: the domain's packages and who may import what --------------------------

DOMAIN_PACKAGES = {"access": 0, "boundaries": 1, "routing": 2, "events": 3}
# (importing module, imported module) that goes up a rank, each with its reason.
ALLOWED_UPWARD = {
    # Publishing a version re-routes the open events (gridmap/boundaries/publishing.py):
    # imported at the call, never at load, so the packages load in one order.
    ("gridmap.boundaries.publishing", "gridmap.events.rerouting"),
}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path, *, load_time_only: bool) -> list[tuple[str, list[str]]]:
    """(module, names) of each absolute `from M import names` / `import M`; with
    `load_time_only`, leave out imports inside functions and `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes: list[ast.AST] = []
    if load_time_only:
        pending: list[ast.AST] = list(tree.body)
        while pending:
            node = pending.pop()
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            nodes.append(node)
            pending.extend(ast.iter_child_nodes(node))
    else:
        nodes = list(ast.walk(tree))
    out: list[tuple[str, list[str]]] = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


def _package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "gridmap" and len(parts) > 1 and parts[1] in DOMAIN_PACKAGES:
        return parts[1]
    return None


def test_the_domain_packages_are_what_ls_shows() -> None:
    for package in DOMAIN_PACKAGES:
        assert (ROOT / "gridmap" / package / "__init__.py").exists(), package


@pytest.mark.parametrize("layer", ["api", "gridmap_cli", "geodata", "web_map"])
def test_outer_layers_use_only_the_packages_entry_points(layer: str) -> None:
    """api/, gridmap_cli/, geodata/ and web_map/ import a domain package only as
    `from gridmap.PKG import NAME`, with NAME in its `__all__`: never a module inside."""
    public = {
        package: set(importlib.import_module(f"gridmap.{package}").__all__)
        for package in DOMAIN_PACKAGES
    }
    offenders: list[str] = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for module, names in _imports(path, load_time_only=False):
            package = _package(module)
            if package is None:
                continue
            if module != f"gridmap.{package}":
                offenders.append(f"{path.relative_to(ROOT)}: {module}")
            offenders += [
                f"{path.relative_to(ROOT)}: {module}.{n} (not in __all__)"
                for n in names
                if n not in public[package]
            ]
    assert offenders == []


def test_nothing_imports_upward() -> None:
    """gridmap imports none of the layers above it, geodata none of api/cli/pages; inside
    gridmap, a package imports no package of a higher rank when it loads
    (access < boundaries < routing < events)."""
    above = {
        "gridmap": {"api", "geodata", "gridmap_cli", "web_map", "tests", "bench"},
        "geodata": {"api", "gridmap_cli", "web_map", "tests", "bench"},
    }
    offenders: list[str] = []
    for layer, forbidden in above.items():
        for path in sorted((ROOT / layer).rglob("*.py")):
            importer = _module_name(path)
            for module, _ in _imports(path, load_time_only=False):
                if module.split(".")[0] in forbidden:
                    offenders.append(f"{importer} imports {module}")
            own = _package(importer)
            if own is None:
                continue
            for module, names in _imports(path, load_time_only=True):
                targets = [module] + [f"{module}.{n}" for n in names]
                for target in targets:
                    other = _package(target)
                    if other is None or DOMAIN_PACKAGES[other] <= DOMAIN_PACKAGES[own]:
                        continue
                    if (importer, target) not in ALLOWED_UPWARD:
                        offenders.append(f"{importer} imports {target} ({own} < {other})")
    assert offenders == []


def test_every_package_loads_first_on_its_own() -> None:
    """Each package imported first in a fresh interpreter: no order of first use may
    meet an import cycle."""
    for package in DOMAIN_PACKAGES:
        subprocess.run([sys.executable, "-c", f"import gridmap.{package}"], cwd=ROOT, check=True)


# Building queries is the domain's work; a route calls a named query function. Looking up
# one row by its key (`session.get`) is not a query written in the route.
QUERY_BUILDERS = {"select", "text", "insert", "update", "delete", "func", "literal_column"}
QUERY_RUNNERS = {"execute", "scalars", "scalar"}
# The stream's listener speaks to PostgreSQL's LISTEN/NOTIFY on its own connection.
API_WITH_SQL = {"api/listener.py"}


def test_the_api_routes_write_no_queries() -> None:
    offenders: list[str] = []
    for path in sorted((ROOT / "api").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        if where in API_WITH_SQL:
            continue
        tree = ast.parse(path.read_text(), filename=where)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                offenders += [
                    f"{where}:{node.lineno} imports {a.name}"
                    for a in node.names
                    if a.name in QUERY_BUILDERS
                ]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in QUERY_RUNNERS
            ):
                offenders.append(f"{where}:{node.lineno} calls .{node.func.attr}()")
    assert offenders == []
