"""A fresh copy of the small test county (tests/factories.py) per test, from a template.

Loading the county takes longer than copying a database, so the loaded county is built
once per code change (keyed like the conftest templates) and copied for each test.
Import both fixtures into a test module and override `db_url` with `small_county_db_url`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from gridmap.db import make_engine, session_factory
from tests import factories
from tests.conftest import (
    ROOT,
    _admin_conninfo,
    _counter,
    _fingerprint,
    create_database,
    drop_database,
)


@pytest.fixture(scope="session")
def small_county_template(server_url: str, template_name: str) -> str:
    name = f"gridmap_small_{_fingerprint(ROOT / 'gridmap', ROOT / 'tests' / 'factories.py')}"
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('gridmap-test-small-county'))")
        try:
            ready = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (name,),
            ).fetchone()
            if not ready or ready[0] != "ready":
                url = create_database(server_url, name, template=template_name)
                eng = make_engine(url, pool_size=1)
                with session_factory(eng)() as s:
                    factories.load_small_county(s)
                    s.commit()
                eng.dispose()
                conn.execute(f"COMMENT ON DATABASE \"{name}\" IS 'ready'")
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('gridmap-test-small-county'))")
    return name


@pytest.fixture
def small_county_db_url(server_url: str, small_county_template: str) -> Iterator[str]:
    """A fresh database holding the small county, loaded and activated."""
    name = f"gridmap_s{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    url = create_database(server_url, name, template=small_county_template)
    yield url
    drop_database(server_url, name)
