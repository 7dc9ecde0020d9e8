"""Test fixtures: one real embedded PostGIS for the whole run, a fresh database per test.

Set GRIDMAP_TEST_DATABASE_URL to run against another PostGIS server instead (it must
allow CREATE DATABASE).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gridmap.db import make_engine, migrate, session_factory
from gridmap.embedded_db import EmbeddedCluster

ROOT = Path(__file__).resolve().parent.parent
# Tests that are not about access control call the API without logging in; the ones that
# are (tests/test_auth.py, tests/test_permissions.py) pass `auth_required=True` themselves.
# The service's own default stays on (gridmap.settings.Settings.auth_required).
os.environ.setdefault("GRIDMAP_AUTH_REQUIRED", "false")
TEST_HOME = ROOT / ".gridmap-test"
_counter = itertools.count()


def _admin_conninfo(url: str) -> str:
    return (
        make_url(url)
        .set(database="postgres", drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def _with_db(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def create_database(server_url: str, name: str, *, template: str | None = None) -> str:
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    return _with_db(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def cluster_home() -> Iterator[Path]:
    """A home for a throw-away embedded cluster. Not under pytest's tmp_path: pytest resets
    its base directory to mode 700 when another run starts, and the server (running as
    the postgres user when we are root) would lose its way in mid-flight."""
    home = TEST_HOME / f"home-{uuid.uuid4().hex[:8]}"
    yield home
    EmbeddedCluster(home).stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def server_url() -> str:
    """A URL of a PostGIS server the tests may create databases on."""
    external = os.environ.get("GRIDMAP_TEST_DATABASE_URL")
    if external:
        return (
            make_url(external)
            .set(drivername="postgresql+psycopg")
            .render_as_string(hide_password=False)
        )
    return EmbeddedCluster(TEST_HOME).start().url


def _fingerprint(*paths: Path) -> str:
    digest = hashlib.sha1()
    for path in paths:
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


@pytest.fixture(scope="session")
def template_name(server_url: str) -> str:
    """A database migrated to head, copied for each test (much faster than migrating).

    Several test runs may share the server (parallel sessions): the template is keyed by
    the schema's fingerprint and built once under an advisory lock.
    """
    name = f"gridmap_tpl_{_fingerprint(ROOT / 'migrations', ROOT / 'gridmap' / 'models.py')}"
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('gridmap-test-template'))")
        try:
            ready = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (name,),
            ).fetchone()
            if not ready or ready[0] != "ready":
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
                url = _with_db(server_url, name)
                migrate(url)
                conn.execute(f"COMMENT ON DATABASE \"{name}\" IS 'ready'")
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('gridmap-test-template'))")
    return name


@pytest.fixture(scope="session")
def gaoping_template(server_url: str, template_name: str) -> str:
    """A database holding the loaded Gaoping demo, built once per code change and copied
    for each test that needs it (`gaoping_db_url`)."""
    name = f"gridmap_gaoping_{_fingerprint(ROOT / 'geodata', ROOT / 'gridmap')}"
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('gridmap-test-gaoping'))")
        try:
            ready = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (name,),
            ).fetchone()
            if not ready or ready[0] != "ready":
                from geodata.demo import load_gaoping

                url = create_database(server_url, name, template=template_name)
                eng = make_engine(url, pool_size=1)
                with session_factory(eng)() as s:
                    load_gaoping(s)
                    s.commit()
                eng.dispose()
                conn.execute(f"COMMENT ON DATABASE \"{name}\" IS 'ready'")
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('gridmap-test-gaoping'))")
    return name


@pytest.fixture
def gaoping_db_url(server_url: str, gaoping_template: str) -> Iterator[str]:
    """A fresh copy of the loaded Gaoping demo."""
    name = f"gridmap_g{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    url = create_database(server_url, name, template=gaoping_template)
    yield url
    drop_database(server_url, name)


@pytest.fixture
def db_url(server_url: str, template_name: str) -> Iterator[str]:
    name = f"gridmap_t{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    url = create_database(server_url, name, template=template_name)
    yield url
    drop_database(server_url, name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url, pool_size=5)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s
