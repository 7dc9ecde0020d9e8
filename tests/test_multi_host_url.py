"""A database URL listing several hosts, as libpq writes it, reaches every connection gridmap
opens: the engine's pool and the connections the batcher and the stream listener open."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from gridmap.db import libpq_conninfo, make_engine, normalise_url

MULTI = "postgresql://gridmap:p%40ss@10.0.0.1:5432,10.0.0.2:5433/gridmap?target_session_attrs=read-write"


def test_libpq_multi_host_urls_are_accepted_and_keep_every_host() -> None:
    url = normalise_url(MULTI)
    params = conninfo_to_dict(libpq_conninfo(url))
    assert params["host"] == "10.0.0.1,10.0.0.2"
    assert params["port"] == "5432,5433"
    assert params["target_session_attrs"] == "read-write"
    assert params["password"] == "p@ss" and params["dbname"] == "gridmap"


def test_the_engine_connects_with_the_same_host_list() -> None:
    engine = make_engine(normalise_url(MULTI))
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    assert (kwargs["host"], kwargs["port"]) == ("10.0.0.1,10.0.0.2", "5432,5433")
    assert kwargs["target_session_attrs"] == "read-write"
    engine.dispose()


def test_single_host_urls_are_unchanged() -> None:
    url = normalise_url("postgres://u:p@127.0.0.1:5432/gridmap")
    assert url == "postgresql+psycopg://u:p@127.0.0.1:5432/gridmap"
    assert conninfo_to_dict(libpq_conninfo(url))["port"] == "5432"
