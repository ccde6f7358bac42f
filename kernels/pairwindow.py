"""The exact pair test again, on a given list of pairs, each with its own minima.

Pure Numba; no I/O. The screening kernels (:mod:`kernels.screen`) take one horizontal
radius D and one vertical half-height H for the whole table. Where the minima differ per
pair (airspace volumes: 3 NM in a terminal area, 5 NM en route), the detection cycle
screens once with the largest minima, which finds a superset of the pairs, and then
re-tests each of those K pairs with its own (D_k, H_k) here. The test is
:func:`kernels.pairtest.pair_conflict` on rows of :func:`kernels.broadphase.track_table`,
the very function and geometry of the brute force, so a pair (i, j), i < j, gets exactly
the numbers ``screen_all_pairs(..., D_k, H_k, T)`` gives it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from kernels.pairtest import pair_conflict, store_result

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]


@njit(cache=True)
def pair_windows(tab: F64, i: I64, j: I64, D: F64, H: F64, T: float) -> tuple[B1, F64]:
    """Conflict window of each pair (i[k], j[k]) with its own minima.

    tab: float64[N, 16], :func:`kernels.broadphase.track_table` of the tracks;
    i, j: int64[K], rows of tab, measured in ENU of i (give i < j to match the brute
    force bit for bit); D, H: float64[K], horizontal radius and vertical half-height, m;
    T: look-ahead, s.

    Returns (conflict bool[K], res float64[K, 7]) with res columns t_in, t_out, t_cpa (s),
    d_cpa, dz_cpa, d_now, dz_now (m), as :class:`kernels.screen.Conflicts`. A row without
    conflict has t_in = inf, t_out = -inf, and its other numbers are not meaningful (the
    test may stop before computing them). Serial: K is the few conflicts of a cycle.
    """
    k = i.shape[0]
    if j.shape[0] != k or D.shape[0] != k or H.shape[0] != k:
        raise ValueError("pair_windows: i, j, D and H must have the same length")
    n = tab.shape[0]
    alt = np.ascontiguousarray(tab[:, 12])
    ve = np.ascontiguousarray(tab[:, 13])
    vn = np.ascontiguousarray(tab[:, 14])
    vu = np.ascontiguousarray(tab[:, 15])
    conflict = np.zeros(k, dtype=np.bool_)
    res = np.empty((k, 7), dtype=np.float64)
    for p in range(k):
        a = i[p]
        b = j[p]
        if a < 0 or b < 0 or a >= n or b >= n:
            raise IndexError("pair_windows: a pair index is outside the table")
        r = pair_conflict(a, b, tab, alt, ve, vn, vu, D[p], H[p], T)
        conflict[p] = r[0]
        store_result(res, p, r)
    return conflict, res
