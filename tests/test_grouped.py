"""The assessment's column arithmetic (gridmap.events.stats.grouped, gridmap.db_columns,
gridmap.gc_pause) against PostgreSQL's own: percentiles, means and counts computed by
numpy must equal, to the last bit, what the SQL they replaced computes on the same rows."""

from __future__ import annotations

import gc
import math
import random
import threading

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gridmap.db_columns import read_columns
from gridmap.events.stats import grouped
from gridmap.gc_pause import collector_paused


def _rows(n: int, seed: int) -> list[tuple[str | None, float | None]]:
    """Ugly rows: a few big groups, many of one row, a group of NULLs only, equal values,
    negative and huge values, codes with leading zeros, rows with no key."""
    rng = random.Random(seed)
    keys = ["0123", "123", "a,b", 'q"t', "组", None, *(f"g{i}" for i in range(40))]
    out: list[tuple[str | None, float | None]] = []
    for _ in range(n):
        key = rng.choice(keys)
        kind = rng.random()
        value: float | None
        if kind < 0.1:
            value = None
        elif kind < 0.2:
            value = 2.5  # ties
        elif kind < 0.25:
            value = rng.uniform(-1e6, 1e6)
        else:
            value = rng.expovariate(1 / 30) / 3600.0 * rng.randint(1, 7200)
        out.append((key, value))
    out.append(("only-null", None))
    out.append(("single", 7.125))
    return out


@pytest.fixture
def facts(session: Session) -> Session:
    session.execute(text("CREATE TEMP TABLE f (k text, v float8, n int)"))
    session.execute(
        text("INSERT INTO f VALUES (:k, :v, :n)"),
        [{"k": k, "v": v, "n": i % 5} for i, (k, v) in enumerate(_rows(3000, 21))],
    )
    return session


def _read(session: Session) -> pd.DataFrame:
    return read_columns(
        session, "SELECT k, v, n FROM f ORDER BY n, v", {}, {"k": str, "v": "float64", "n": "int64"}
    )


def test_percentiles_and_means_equal_postgresql_s_to_the_bit(facts: Session) -> None:
    columns = _read(facts)
    grouping = grouped.group_by(columns["k"])
    values = columns["v"].to_numpy()
    pct = grouped.percentiles(grouping, grouped.ranked(values), [0.5, 0.9, 0.0, 1.0])
    mean = grouped.means(grouping, values)
    want = {
        r[0]: r[1:]
        for r in facts.execute(
            text(
                "SELECT k, percentile_cont(ARRAY[0.5, 0.9, 0.0, 1.0]) WITHIN GROUP (ORDER BY v),"
                # A float sum depends on its order: the rows in the order they were read.
                " avg(v ORDER BY n, v) FROM f GROUP BY k"
            )
        ).all()
    }
    assert set(want) == set(grouping.keys)
    for i, key in enumerate(grouping.keys):
        got = [None if math.isnan(x) else x for x in pct[i].tolist()]
        assert got == (want[key][0] or [None] * 4), key
        assert (None if math.isnan(mean[i]) else mean[i]) == want[key][1], key


def test_keys_are_read_as_text_and_null_as_no_key(facts: Session) -> None:
    columns = _read(facts)
    grouping = grouped.group_by(columns["k"])
    assert "0123" in grouping.keys and "123" in grouping.keys  # not both the number 123
    assert {"a,b", 'q"t', "组"} <= set(grouping.keys)
    assert grouping.keys[-1] is None  # the rows with no key: the last group
    counts = np.bincount(grouping.index, minlength=grouping.size)
    rows = facts.execute(text("SELECT k, count(*) FROM f GROUP BY k")).all()
    want = {k: n for k, n in rows}
    assert dict(zip(grouping.keys, counts.tolist(), strict=True)) == want


def test_an_empty_result_is_empty_columns(session: Session) -> None:
    empty = read_columns(session, "SELECT 'x'::text, 1 WHERE false", {}, {"k": str, "n": "int64"})
    assert len(empty) == 0 and list(empty.columns) == ["k", "n"]
    grouping = grouped.one_group(0)
    assert grouped.int_sums(grouping, empty["n"].to_numpy()) == [0]


def test_parameters_are_bound_on_the_client(session: Session) -> None:
    found = read_columns(
        session,
        "SELECT x FROM unnest(CAST(:xs AS text[])) x WHERE x <> :skip",
        {"xs": ["a'b", "NA", "", "c"], "skip": "c"},
        {"x": str},
    )
    # "NA" is a text, not a missing value; an empty text reads as missing (no code is '').
    assert found["x"].tolist()[:2] == ["a'b", "NA"]
    assert len(found) == 3


def test_bit_counts_count_each_flag() -> None:
    flags = np.array([0b101, 0b001, 0b110, 0, 0b111], dtype=np.int64)
    grouping = grouped.group_by(pd.Series(["a", "b", "a", None, "b"], dtype=object))
    counts = grouped.bit_counts(grouping, grouped.set_bits(flags, 3))
    assert dict(zip(grouping.keys, counts.tolist(), strict=True)) == {
        "a": [1, 1, 2],
        "b": [2, 1, 1],
        None: [0, 0, 0],
    }


def test_set_bits_tells_each_rows_set_of_flags() -> None:
    rng = np.random.default_rng(7)
    flags = rng.choice([0, 1, 5, 2**13 + 3, 2**14 - 1], size=1000).astype(np.int64)
    bits = grouped.set_bits(flags, 14)
    # Each row's bits, read back from its kind, are its flags.
    assert ((bits.table[bits.kinds] << np.arange(14)).sum(axis=1) == flags).all()
    assert len(bits.table) == 5
    assert grouped.set_bits(np.array([], dtype=np.int64), 14).table.shape == (0, 14)
    with pytest.raises(ValueError, match="flags outside"):
        grouped.set_bits(np.array([2**14], dtype=np.int64), 14)
    with pytest.raises(ValueError, match="flags outside"):
        grouped.set_bits(np.array([-1], dtype=np.int64), 14)


def test_regroup_merges_groups_with_one_new_key() -> None:
    grouping = grouped.group_by(pd.Series([1.0, 2.0, 3.0, np.nan, 2.0]), as_key=int)
    merged = grouped.regroup(grouping, lambda k: {1: "T1", 2: "T1", 3: None}.get(k))
    assert [merged.keys[i] for i in merged.index] == ["T1", "T1", None, None, "T1"]


def test_rounded_rounds_as_python_does() -> None:
    rng = random.Random(5)
    values = [rng.uniform(-500, 500) for _ in range(20000)]
    values += [k / 1000 for k in range(-5000, 5000)]  # every third-place tie
    values += [2.675, 1.005, 0.125, 0.375, 1e14 + 0.125, -0.0, float("nan")]
    got = grouped.rounded(np.array(values), 2)
    assert got == [None if v != v else round(v, 2) for v in values]
    assert grouped.rounded(np.array([0.12345, 0.99995]), 4) == [round(0.12345, 4), 1.0]


def test_the_collector_is_paused_while_nested_and_overlapping_pauses_last() -> None:
    assert gc.isenabled()
    entered = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with collector_paused():
            entered.set()
            leave.wait(5)

    worker = threading.Thread(target=other)
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
        worker.start()
        assert entered.wait(5)
    assert not gc.isenabled()  # the other thread's pause still holds
    leave.set()
    worker.join(5)
    assert gc.isenabled()
