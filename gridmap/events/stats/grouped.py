"""Figures per group from columns, with numpy: a grouping of rows by a key, the counts of
each flag bit, sums, means and exact percentiles with PostgreSQL's `percentile_cont`
arithmetic. Pure.

The assessment reads a scope's events (and its field work) once as columns
(`gridmap.db_columns`) and computes every grouping here: each is a few passes over
arrays, where the same figures in SQL were a sort per group and clock (~12,000 groups a
county month) and a Python object per value fetched (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Grouping:
    """Rows grouped by a key: `index[i]` is row i's group, `keys[g]` group g's key (None:
    the rows with no key, then the last group)."""

    index: npt.NDArray[np.intp]
    keys: list[Any]

    @property
    def size(self) -> int:
        return len(self.keys)


def group_by(column: Any, *, as_key: Callable[[Any], Hashable] | None = None) -> Grouping:
    """The rows grouped by the values of `column` (NaN/None: no key); `as_key` turns each
    distinct value into its key (numpy's float 12.0 into the team id "12", say)."""
    codes, uniques = pd.factorize(column)
    keys: list[Any] = uniques.tolist()
    if as_key is not None:
        keys = [as_key(u) for u in keys]
    index = codes.astype(np.intp, copy=False)
    if (index < 0).any():
        index = np.where(index < 0, len(keys), index)
        keys.append(None)
    return Grouping(index, keys)


def one_group(n_rows: int) -> Grouping:
    """All rows as one group of key None (the total)."""
    return Grouping(np.zeros(n_rows, dtype=np.intp), [None])


def regroup(grouping: Grouping, key_of: Callable[[Any], Any]) -> Grouping:
    """The same rows grouped by `key_of(key)` of their group's key: groups whose new keys
    are equal merge (a team's id → its code; → its grid workers' row, None for none)."""
    new_keys = [key_of(k) for k in grouping.keys]
    merged = group_by(pd.Series(new_keys, dtype=object))
    return Grouping(merged.index[grouping.index], merged.keys)


@dataclass(frozen=True, slots=True)
class Bits:
    """A column of flags by their distinct values: `kinds[i]` is row i's value's position
    and `table[k]` that value's bits (0/1, lowest first). A month's events hold a few dozen
    distinct sets of counts, so counting per group is one bincount over rows and a small
    product (`bit_counts`), not a pass over every set bit."""

    kinds: npt.NDArray[np.intp]
    table: Ints


def set_bits(flags: Ints, n_bits: int) -> Bits:
    """The flags (non-negative, below 2**n_bits) by their distinct values."""
    if len(flags) and (flags.min() < 0 or flags.max() >= 1 << n_bits):
        raise ValueError(f"flags outside 0 … 2**{n_bits} - 1")
    # The distinct values by counting them (a pass; np.unique sorts the rows).
    values = np.flatnonzero(np.bincount(flags, minlength=1))
    position = np.zeros(values[-1] + 1 if len(values) else 1, dtype=np.intp)
    position[values] = np.arange(len(values))
    kinds = position[flags]
    table = (values[:, None] >> np.arange(n_bits)) & 1
    return Bits(kinds.astype(np.intp, copy=False), table.astype(np.int64, copy=False))


def bit_counts(grouping: Grouping, flags: Bits, weights: Floats | None = None) -> Ints:
    """(groups × bits): how many rows of each group have each bit set (with `weights`:
    the sum of their weights, whole numbers)."""
    k = len(flags.table)
    per_kind = np.bincount(
        grouping.index * k + flags.kinds, weights=weights, minlength=grouping.size * k
    ).reshape(grouping.size, k)
    return (per_kind.astype(np.int64) @ flags.table).astype(np.int64, copy=False)


def sums(grouping: Grouping, values: Floats) -> Floats:
    """Per group the sum of its values, added in row order."""
    return np.bincount(grouping.index, weights=values, minlength=grouping.size).astype(
        np.float64, copy=False
    )


def int_sums(grouping: Grouping, values: Ints) -> list[int]:
    """Per group the sum of its integers (exact below 2**53, as counts are)."""
    return sums(grouping, values.astype(np.float64)).astype(np.int64).tolist()


def counts_and_sums(grouping: Grouping, values: Floats) -> tuple[Ints, Floats]:
    """Per group: how many rows have a value (not NaN), and the sum of those values, added
    in row order (as PostgreSQL's `sum`/`avg` over float8 adds them in scan order)."""
    has = ~np.isnan(values)
    index = grouping.index[has]
    counts = np.bincount(index, minlength=grouping.size).astype(np.int64, copy=False)
    sums = np.bincount(index, weights=values[has], minlength=grouping.size)
    return counts, sums.astype(np.float64, copy=False)


def means(grouping: Grouping, values: Floats) -> Floats:
    """Per group the mean of its values (NaN: none), as PostgreSQL's avg(float8)."""
    counts, sums = counts_and_sums(grouping, values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True, slots=True)
class Ranked:
    """A column's values that are not NaN, in ascending order (`values`), and the row each
    came from (`rows`): sorted once, then grouped by any grouping (`percentiles`)."""

    values: Floats
    rows: npt.NDArray[np.intp]


def ranked(values: Floats) -> Ranked:
    rows = np.flatnonzero(~np.isnan(values))
    # Equal values in any order: a percentile depends on the values alone.
    order = rows[np.argsort(values[rows])]
    return Ranked(values[order], order)


def percentiles(grouping: Grouping, column: Ranked, qs: Sequence[float]) -> Floats:
    """(groups × len(qs)): each group's percentiles of the column by linear interpolation
    between the two nearest ranks, with the arithmetic of PostgreSQL's percentile_cont
    (float8): position q·(n−1), first = floor, second = ceil, first + (second − first) ×
    (position − floor); NaN for a group with no value."""
    index = grouping.index[column.rows]
    # A stable sort by group of the values already in order: each group's values stay
    # ascending (numpy sorts 16-bit keys by radix).
    small = np.int16 if grouping.size < 2**15 else np.int64
    by_group = np.argsort(index.astype(small), kind="stable")
    values = column.values[by_group]
    n = np.bincount(index, minlength=grouping.size)
    start = np.cumsum(n) - n
    has = n > 0
    out = np.full((grouping.size, len(qs)), np.nan)
    for j, q in enumerate(qs):
        position = q * (n[has] - 1).astype(np.float64)
        first_row = np.floor(position)
        second_row = np.ceil(position)
        first = values[start[has] + first_row.astype(np.intp)]
        second = values[start[has] + second_row.astype(np.intp)]
        out[has, j] = np.where(
            first_row == second_row, first, first + (second - first) * (position - first_row)
        )
    return out


def rounded(values: Floats, places: int) -> list[float | None]:
    """The values rounded as Python's round() rounds them (correctly, from the binary
    value: what the figures' tests compute), NaN as None.

    numpy's round scales by 10**places first, which can land a value on the other side
    of a tie; so it is used where the scaled value is far from a tie, and Python's round
    for the few that are near one."""
    scale = 10.0**places
    scaled = values * scale
    fast = np.round(values, places)
    # (Past 1e12 a scaled value's spacing nears the margin: Python's round there too.)
    near_tie = (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6) | (np.abs(scaled) >= 1e12)
    out: list[float | None] = fast.tolist()
    for i in np.flatnonzero(near_tie).tolist():
        out[i] = round(float(values[i]), places)
    for i in np.flatnonzero(np.isnan(values)).tolist():
        out[i] = None
    return out
