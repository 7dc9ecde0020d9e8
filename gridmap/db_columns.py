"""A query's result read as columns (`read_columns`: `COPY (query) TO STDOUT` in CSV, parsed
by pandas' C reader into one array per column), or as rows planned for their parameters
every time (`read_rows`).

For the assessment's tens of thousands of rows, building a Python object per value (what
fetching rows does) was most of a view's time (docs/performance.md); COPY sends the rows as
one stream and the C parser turns each column into one array.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session


def _compiled(session: Session, sql: str, params: Mapping[str, Any]) -> tuple[str, Any]:
    """`sql` (SQLAlchemy text with `:name` parameters) in the driver's form, and its
    parameters."""
    compiled = text(sql).bindparams(**params).compile(dialect=session.get_bind().dialect)
    return compiled.string, compiled.params


def read_rows(session: Session, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of `sql` (SQLAlchemy text with `:name` parameters), on the session's
    connection, in its transaction, never as a prepared statement.

    psycopg prepares a statement run five times, and PostgreSQL may then plan it once for
    any parameters (a generic plan): for a statement whose parameter is a set of
    thousands of keys joined in one text, the generic plan cannot know their number and
    was slower (a county's teams: 11 → 16 ms from the eleventh run; docs/performance.md).
    """
    statement, bound = _compiled(session, sql, params)
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(statement, bound, prepare=False)
        return cur.fetchall()


def read_columns(
    session: Session, sql: str, params: Mapping[str, Any], dtypes: Mapping[str, Any]
) -> pd.DataFrame:
    """The rows of `sql` (SQLAlchemy text with `:name` parameters) as a DataFrame whose
    columns are `dtypes`' keys, in the query's column order, each of its dtype: `str` for
    a text column (read as text, never guessed: a code "0123" stays "0123"; NULL is NaN),
    a numpy type for numbers (NULL must not reach an integer column: coalesce it).

    Runs on the session's connection, in its transaction (the caller's snapshot and
    settings). The parameters are bound on the client (COPY takes none of its own)."""
    query, bound = _compiled(session, sql, params)
    raw = session.connection().connection.driver_connection
    assert raw is not None
    buf = io.BytesIO()
    statement = f"COPY ({query}) TO STDOUT (FORMAT csv)"
    with raw.cursor() as cur, cur.copy(statement, bound) as copy:
        for chunk in copy:
            buf.write(chunk)
    names = list(dtypes)
    if buf.tell() == 0:
        return pd.DataFrame({n: pd.Series([], dtype=dtypes[n]) for n in names})
    buf.seek(0)
    # Only an empty field is NULL (COPY's CSV writes NULL so): not a text that reads "NA".
    return pd.read_csv(
        buf,
        header=None,
        names=names,
        dtype=dict(dtypes),
        engine="c",
        keep_default_na=False,
        na_values=[""],
    )
