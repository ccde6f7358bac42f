"""Batched bookkeeping for the fuser: identity lookups and grouping by track row.

Pure Numba over NumPy arrays; no I/O. Both replace NumPy calls that were a large part of
a release at tens of thousands of reports:

* :func:`hash_table` / :func:`hash_find`: an open-addressing hash table over distinct
  int64 keys (ICAO addresses, sensor-track keys), for lookups that
  ``np.searchsorted`` did in about 120 ns each at 50,000 keys (a binary search whose
  branches the CPU cannot predict); here one probe, usually one cache line.
* :func:`group_by_row`: the stable order of reports by track row, by counting, in
  O(n + rows) where ``np.argsort(kind="stable")`` sorts in O(n log n);
* :func:`scatter_max`: ``np.maximum.at``, which takes a slow path on a strided target
  (a column of the tracks' ``seen`` table).

Each gives exactly what the NumPy call gives (tested against them).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Fibonacci hashing: the key times 2^64 / golden ratio, its top bits the slot. Spreads
# consecutive keys (ICAO addresses handed out in blocks, track numbers 1, 2, 3...) evenly.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = -1  # position of an empty slot


@njit(cache=True, inline="always")
def _slot(key: int, shift: np.uint64) -> int:
    # int64 at the end: uint64 mixed with int64 would make Numba compute in float64.
    return int(np.int64((np.uint64(key) * _GOLDEN) >> shift))


@njit(cache=True)
def _bits(size: int) -> int:
    b = 0
    while (1 << b) < size:
        b += 1
    return b


@njit(cache=True)
def hash_table(keys: I64) -> I64:
    """Open-addressing table (linear probing) over keys, int64[n] all distinct.

    Returns int64[2^b, 2] with 2^b >= max(16, 2 n): rows (key, position of the key in
    ``keys``); position -1 marks an empty slot. A table holds positions rather than
    values so that values may change without a rebuild.
    """
    n = keys.shape[0]
    b = max(4, _bits(2 * n))
    size = 1 << b
    mask = size - 1
    shift = np.uint64(64 - b)
    table = np.empty((size, 2), dtype=np.int64)
    for h in range(size):
        table[h, 0] = 0
        table[h, 1] = _EMPTY
    for p in range(n):
        key = keys[p]
        h = _slot(key, shift)
        while table[h, 1] != _EMPTY:
            h = (h + 1) & mask
        table[h, 0] = key
        table[h, 1] = p
    return table


@njit(cache=True)
def hash_find(table: I64, values: I64, queries: I64) -> I64:
    """values[position of each query's key] (int64[m]), -1 where a query is not a key.

    table: from :func:`hash_table` over keys (int64[n]); values: int64[n], one per key
    (same order); queries: int64[m]."""
    size = table.shape[0]
    mask = size - 1
    shift = np.uint64(64 - _bits(size))
    m = queries.shape[0]
    out = np.empty(m, dtype=np.int64)
    for i in range(m):
        q = queries[i]
        h = _slot(q, shift)
        v = -1
        while True:
            p = table[h, 1]
            if p == _EMPTY:
                break
            if table[h, 0] == q:
                v = values[p]
                break
            h = (h + 1) & mask
        out[i] = v
    return out


@njit(cache=True)
def group_by_row(row: I64, n_rows: int) -> I64:
    """The permutation that orders row (int64[n], each in [0, n_rows)) ascending, equal
    rows in their given order: ``np.argsort(row, kind="stable")``, by counting."""
    n = row.shape[0]
    start = np.zeros(n_rows + 1, dtype=np.int64)
    for i in range(n):
        r = row[i]
        if r < 0 or r >= n_rows:
            raise ValueError("group_by_row: a row is outside [0, n_rows)")
        start[r + 1] += 1
    for r in range(n_rows):
        start[r + 1] += start[r]
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        r = row[i]
        out[start[r]] = i
        start[r] += 1
    return out


@njit(cache=True)
def scatter_max(target: F64, index: I64, values: F64) -> None:
    """target[index[i]] = max(target[index[i]], values[i]) for each i in turn, in place:
    ``np.maximum.at(target, index, values)`` (NaN wins, as in np.maximum), without its
    slow path for a strided target. target: float64[N] (any stride); index: int64[m]
    in [0, N); values: float64[m]."""
    n = target.shape[0]
    for i in range(index.shape[0]):
        j = index[i]
        if j < 0:
            j += n  # negative indices count from the end, as in NumPy
        if j < 0 or j >= n:
            raise IndexError("scatter_max: index out of bounds")
        a = target[j]
        b = values[i]
        target[j] = a if (a > b or a != a) else b  # np.maximum: b on a tie (signed zeros)
