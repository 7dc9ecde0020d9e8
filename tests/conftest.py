"""Test fixtures: one real embedded PostGIS for the whole run, a fresh database per test.

Set GRIDMAP_TEST_DATABASE_URL to run against another PostGIS server instead (it must
allow CREATE DATABASE).
"""

from __future__ import annotations

import itertools
import os
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
TEST_HOME = ROOT / ".gridmap-test"
TEMPLATE = "gridmap_template"
_counter = itertools.count()


def _admin_conninfo(url: str) -> str:
    return make_url(url).set(database="postgres", drivername="postgresql").render_as_string(
        hide_password=False
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


@pytest.fixture(scope="session")
def server_url() -> str:
    """A URL of a PostGIS server the tests may create databases on."""
    external = os.environ.get("GRIDMAP_TEST_DATABASE_URL")
    if external:
        return make_url(external).set(drivername="postgresql+psycopg").render_as_string(
            hide_password=False
        )
    return EmbeddedCluster(TEST_HOME).start().url


@pytest.fixture(scope="session")
def template_url(server_url: str) -> str:
    """A database migrated to head, copied for each test (much faster than migrating)."""
    url = create_database(server_url, TEMPLATE)
    migrate(url)
    return url


@pytest.fixture
def db_url(server_url: str, template_url: str) -> Iterator[str]:
    name = f"gridmap_t{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    make_engine(template_url).dispose()  # no connection may hold the template open
    url = create_database(server_url, name, template=TEMPLATE)
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
