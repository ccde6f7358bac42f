"""kernels.lookup against the NumPy calls it replaces: np.searchsorted lookups,
np.argsort(kind="stable") and np.maximum.at."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.systracks import _Index
from kernels.lookup import group_by_row, hash_find, hash_table, scatter_max

I64 = npt.NDArray[np.int64]


def find_ref(keys: I64, values: I64, queries: I64) -> I64:
    """values of the sorted keys at each query, -1 where absent (np.searchsorted)."""
    if keys.size == 0:
        return np.full(queries.shape, -1, dtype=np.int64)
    order = np.argsort(keys)
    k, v = keys[order], values[order]
    pos = np.minimum(np.searchsorted(k, queries), k.size - 1)
    return np.where(k[pos] == queries, v[pos], -1)


@st.composite
def key_sets(draw: st.DrawFn) -> tuple[I64, I64, I64]:
    """Distinct keys (ICAO-like, sensor-track-like, negative, extreme, colliding in
    their low bits), values, and queries half of which are keys."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(0, 3000))
    style = draw(st.sampled_from(["icao", "sensor", "wide", "stride"]))
    if style == "icao":
        pool = rng.choice(1 << 24, size=n, replace=False)
    elif style == "sensor":
        pool = ((rng.integers(1, 5, n) << 32) | rng.integers(0, 1 << 20, n)).astype(np.int64)
    elif style == "stride":
        pool = np.arange(n, dtype=np.int64) << 40  # equal low bits
    else:
        pool = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n)
        pool[: min(n, 3)] = [-1, 0, np.iinfo(np.int64).max][: min(n, 3)]
    keys = np.unique(np.asarray(pool, dtype=np.int64))
    rng.shuffle(keys)
    values = rng.integers(-1, 100_000, keys.size).astype(np.int64)
    others = rng.integers(-(1 << 40), 1 << 40, keys.size + 5).astype(np.int64)
    queries = np.concatenate([keys[rng.random(keys.size) < 0.5], others])
    rng.shuffle(queries)
    return keys, values, queries


@settings(max_examples=80, deadline=None)
@given(key_sets())
def test_hash_find_matches_searchsorted(case: tuple[I64, I64, I64]) -> None:
    keys, values, queries = case
    table = hash_table(keys)
    assert table.shape[0] >= max(16, 2 * keys.size)
    assert table.shape[0] & (table.shape[0] - 1) == 0
    assert np.array_equal(hash_find(table, values, queries), find_ref(keys, values, queries))
    # Values may change without a rebuild: the table holds positions.
    values2 = values[::-1].copy()
    assert np.array_equal(hash_find(table, values2, queries), find_ref(keys, values2, queries))


def test_index_find_after_changes() -> None:
    """The fuser's index: bindings set, replaced, dropped by key and by row, rows
    remapped in place; find agrees with a dictionary throughout."""
    rng = np.random.default_rng(3)
    idx = _Index()
    ref: dict[int, int] = {}
    assert idx.find(np.array([5, -1])).tolist() == [-1, -1]
    for _ in range(30):
        k = rng.integers(0, 500, 40)
        r = rng.integers(0, 100, 40)
        idx.set(k, r)
        for a, b in zip(k.tolist(), r.tolist(), strict=True):
            ref[a] = b  # the last binding wins
        drop = rng.integers(0, 500, 5)
        idx.drop_keys(drop)
        for a in drop.tolist():
            ref.pop(a, None)
        gone = rng.integers(0, 100, 2)
        idx.drop_rows(gone)
        ref = {a: b for a, b in ref.items() if b not in gone.tolist()}
        remap = rng.permutation(100)
        idx.rows = remap[idx.rows]
        ref = {a: int(remap[b]) for a, b in ref.items()}
        q = rng.integers(-5, 505, 300)
        assert idx.find(q).tolist() == [ref.get(a, -1) for a in q.tolist()]
    assert idx.find(np.array([[1, 2], [3, 4]])).shape == (2, 2)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 5000), st.integers(1, 3000))
def test_group_by_row_is_the_stable_argsort(seed: int, n: int, n_rows: int) -> None:
    rng = np.random.default_rng(seed)
    row = rng.integers(0, n_rows, n).astype(np.int64)
    assert np.array_equal(group_by_row(row, n_rows), np.argsort(row, kind="stable"))


def test_group_by_row_rejects_rows_outside() -> None:
    with pytest.raises(ValueError):
        group_by_row(np.array([0, 3], dtype=np.int64), 3)
    with pytest.raises(ValueError):
        group_by_row(np.array([-1], dtype=np.int64), 3)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2000))
def test_scatter_max_is_maximum_at(seed: int, m: int) -> None:
    rng = np.random.default_rng(seed)
    table = rng.choice([-np.inf, 0.0, -0.0, 1.0, np.nan, 5.0], size=(300, 4))
    index = rng.integers(-300, 300, m).astype(np.int64)
    values = rng.choice([-np.inf, -2.0, 0.0, -0.0, 3.0, np.nan, np.inf], size=m)
    for col in range(4):  # a strided column, as the fuser passes
        got = table.copy()
        want = table.copy()
        scatter_max(got[:, col], index, values)
        with np.errstate(invalid="ignore"):  # NaN inputs are part of the test
            np.maximum.at(want[:, col], index, values)
        assert np.array_equal(got, want, equal_nan=True)
        assert np.array_equal(np.signbit(got), np.signbit(want))


def test_scatter_max_rejects_out_of_bounds() -> None:
    with pytest.raises(IndexError):
        scatter_max(np.zeros(3), np.array([3], dtype=np.int64), np.zeros(1))
