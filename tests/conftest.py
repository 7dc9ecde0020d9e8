"""Test fixtures: one real embedded PostGIS for the whole run, a fresh database per test.

Set GRIDMAP_TEST_DATABASE_URL to run against another PostGIS server instead (it must
allow CREATE DATABASE).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
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


def module_database(
    server_url: str,
    template: str,
    prefix: str,
    fill: Callable[[Session], object] | None = None,
) -> Iterator[str]:
    """A database of a test module's own, copied from `template` and filled by `fill`
    (committed), dropped after: for a module-scoped fixture to yield from."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    db_url = create_database(server_url, name, template=template)
    try:
        if fill is not None:
            _load_with(fill)(db_url)
        yield db_url
    finally:
        drop_database(server_url, name)


def rolled_back_session(url: str) -> Iterator[Session]:
    """A session on `url` whose work is rolled back at the end: for a fixture to yield from."""
    engine = make_engine(url, pool_size=1)
    with session_factory(engine)() as session:
        yield session
        session.rollback()
    engine.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop on the main thread for
    the rest of the session, which the asyncio tests would otherwise trip over."""
    items.sort(key=lambda item: "tests/browser/" in str(item.path).replace("\\", "/"))


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


# Template databases are named by a fingerprint of the code they were built from, so every
# code change used to leave the old ones behind (gigabytes after a day of work). A session
# now drops the templates of this project that no live session uses. "Uses" is a shared
# advisory lock that a session takes on each of its templates before it builds or clones
# from one, held on one connection until the session ends; the cleaner drops a template
# only while it holds the exclusive form of that lock. PostgreSQL releases a session's
# locks when its connection closes, so a crashed run protects nothing forever, and no age
# threshold has to guess how long a run may last: a template goes exactly when no session
# can be cloning from it. (Two-key advisory locks are a key space apart from the one-key
# build lock in `_built_once`, so claiming a template never blocks building it.)
TEMPLATE_NAME = re.compile(r"gridmap_(?:tpl|small|gaoping)_[0-9a-f]{12}")
_IN_USE_KEYS = "hashtext('gridmap test template in use'), hashtext(%s)"


class TemplateUse:
    """A test session's claim on the template databases it builds and clones from."""

    def __init__(self, server_url: str) -> None:
        self._conn = psycopg.connect(_admin_conninfo(server_url), autocommit=True)

    def claim(self, name: str) -> None:
        """No session drops `name` while this claim is open (see `drop_stale_templates`)."""
        self._conn.execute(f"SELECT pg_advisory_lock_shared({_IN_USE_KEYS})", (name,))

    def close(self) -> None:
        """End every claim: what this session used may go at the next session's start."""
        self._conn.close()


def drop_stale_templates(server_url: str) -> list[str]:
    """Drop the template databases no live session claims; the names dropped."""
    dropped: list[str] = []
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
        for name in sorted(n for n in names if TEMPLATE_NAME.fullmatch(n)):
            free = conn.execute(f"SELECT pg_try_advisory_lock({_IN_USE_KEYS})", (name,))
            if not free.fetchone()[0]:  # type: ignore[index]
                continue
            try:
                # Without FORCE: a connection nobody announced (a person in psql, say)
                # makes the drop fail, and the template stays.
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                dropped.append(name)
            except psycopg.errors.ObjectInUse:
                pass
            finally:
                conn.execute(f"SELECT pg_advisory_unlock({_IN_USE_KEYS})", (name,))
    return dropped


def _built_once(
    server_url: str, name: str, build: Callable[[str], None], *, template: str | None = None
) -> str:
    """Database `name`, built by `build(url)` unless a finished one is already there.

    Several test runs may share the server (parallel sessions): names carry a fingerprint
    of the code they were built from, and building happens under an advisory lock.
    """
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        try:
            ready = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (name,),
            ).fetchone()
            if not ready or ready[0] != "ready":
                build(create_database(server_url, name, template=template))
                conn.execute(f"COMMENT ON DATABASE \"{name}\" IS 'ready'")
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))
    return name


def _load_with(load: Callable[[Session], object]) -> Callable[[str], None]:
    def build(url: str) -> None:
        eng = make_engine(url, pool_size=1)
        with session_factory(eng)() as s:
            load(s)
            s.commit()
        eng.dispose()

    return build


def _copy(server_url: str, template: str, prefix: str) -> Iterator[str]:
    name = f"gridmap_{prefix}{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    url = create_database(server_url, name, template=template)
    yield url
    drop_database(server_url, name)


@pytest.fixture(scope="session")
def template_names() -> dict[str, str]:
    """This code's template databases by kind, each named by a fingerprint of what it is
    built from; computed once, so a file edited during the run cannot change them."""
    # The loaded templates are built on the schema: a migration changes them too.
    schema = _fingerprint(ROOT / "migrations", ROOT / "gridmap" / "models.py")
    small = _fingerprint(ROOT / "migrations", ROOT / "gridmap", ROOT / "tests" / "factories.py")
    gaoping = _fingerprint(ROOT / "migrations", ROOT / "geodata", ROOT / "gridmap")
    return {
        "schema": f"gridmap_tpl_{schema}",
        "small": f"gridmap_small_{small}",
        "gaoping": f"gridmap_gaoping_{gaoping}",
    }


@pytest.fixture(scope="session")
def template_use(server_url: str, template_names: dict[str, str]) -> Iterator[TemplateUse]:
    """Claims this session's templates (even those it has not built yet), then drops the
    templates of other code versions that no live session claims."""
    use = TemplateUse(server_url)
    for name in template_names.values():
        use.claim(name)
    drop_stale_templates(server_url)
    yield use
    use.close()


@pytest.fixture(scope="session")
def template_name(
    server_url: str, template_names: dict[str, str], template_use: TemplateUse
) -> str:
    """A database migrated to head, copied for each test (much faster than migrating)."""
    return _built_once(server_url, template_names["schema"], migrate)


@pytest.fixture(scope="session")
def small_county_template(
    server_url: str, template_name: str, template_names: dict[str, str]
) -> str:
    from tests import factories

    return _built_once(
        server_url,
        template_names["small"],
        _load_with(factories.load_small_county),
        template=template_name,
    )


@pytest.fixture(scope="session")
def gaoping_template(server_url: str, template_name: str, template_names: dict[str, str]) -> str:
    """The loaded Gaoping demo, built once per code change."""
    from geodata.demo import load_gaoping

    return _built_once(
        server_url, template_names["gaoping"], _load_with(load_gaoping), template=template_name
    )


@pytest.fixture
def small_county_db_url(server_url: str, small_county_template: str) -> Iterator[str]:
    """A fresh database holding the small county (tests/factories.py), loaded and active."""
    yield from _copy(server_url, small_county_template, "s")


@pytest.fixture
def gaoping_db_url(server_url: str, gaoping_template: str) -> Iterator[str]:
    """A fresh copy of the loaded Gaoping demo."""
    yield from _copy(server_url, gaoping_template, "g")


@pytest.fixture
def db_url(server_url: str, template_name: str) -> Iterator[str]:
    """A fresh, empty database migrated to head."""
    yield from _copy(server_url, template_name, "t")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url, pool_size=5)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s
