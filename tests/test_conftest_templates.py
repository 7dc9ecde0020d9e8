"""Template databases of past code versions do not pile up on the test cluster: a session
drops the ones no live session uses, and never one that another session may clone from."""

from __future__ import annotations

import uuid

import psycopg

from tests.conftest import (
    TemplateUse,
    _admin_conninfo,
    create_database,
    drop_database,
    drop_stale_templates,
)


def databases(server_url: str) -> set[str]:
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


def template_of_an_earlier_version(server_url: str) -> str:
    """What a run of older code leaves behind: a finished template under its fingerprint."""
    name = f"gridmap_small_{uuid.uuid4().hex[:12]}"
    create_database(server_url, name)
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS 'ready'")
    return name


def test_a_template_left_by_earlier_code_goes_and_this_sessions_templates_stay(
    server_url: str, template_name: str, small_county_template: str
) -> None:
    stale = template_of_an_earlier_version(server_url)
    # A database of a test in progress is not a template: never touched.
    in_progress = create_database(server_url, f"gridmap_t_{uuid.uuid4().hex[:8]}")
    in_progress_name = in_progress.rsplit("/", 1)[1]

    dropped = drop_stale_templates(server_url)

    assert stale in dropped
    left = databases(server_url)
    assert stale not in left
    assert {template_name, small_county_template, in_progress_name} <= left
    assert not {template_name, small_county_template} & set(dropped)
    drop_database(server_url, in_progress_name)


def test_a_template_another_live_session_uses_stays_until_that_session_ends(
    server_url: str, template_name: str
) -> None:
    stale = template_of_an_earlier_version(server_url)
    other_session = TemplateUse(server_url)
    other_session.claim(stale)
    try:
        assert stale not in drop_stale_templates(server_url)
        # The other session can still clone from it.
        copy = f"gridmap_c_{uuid.uuid4().hex[:8]}"
        create_database(server_url, copy, template=stale)
        drop_database(server_url, copy)
    finally:
        other_session.close()

    # That session ended (or crashed: its connection closed the same way).
    assert stale in drop_stale_templates(server_url)
    assert stale not in databases(server_url)
