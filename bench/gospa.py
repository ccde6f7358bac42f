"""GOSPA: the generalised optimal sub-pattern assignment metric between two sets of points.

Rahmathullah, Garcia-Fernandez and Svensson, "Generalized optimal sub-pattern assignment
metric", FUSION 2017. For a truth set X (m points), an estimate set Y (n points), a base
distance d, a cut-off c > 0, an order p >= 1 and alpha = 2 (the value that makes it
decompose into localisation, missed and false targets):

    GOSPA(X, Y) = ( min over assignments g of
                    sum_{(i, j) in g} d(x_i, y_j)^p  +  c^p / 2 * (m + n - 2 |g|) )^(1/p)

where an assignment g pairs points one to one, and only pairs with d < c are worth
pairing (a pair at d >= c costs c^p, the same as one missed plus one false point). It is
computed as one optimal rectangular assignment on min(d, c)^p
(:func:`scipy.optimize.linear_sum_assignment`) plus c^p / 2 per unpaired point.

Units: whatever the distances are in (the benchmark uses metres of horizontal distance);
the result and the localisation part are in the same unit, the cardinality parts are
counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Gospa:
    """One GOSPA evaluation (alpha = 2).

    ``value``: the metric, in distance units. ``localisation``: sum of d^p over the
    paired points (distance units to the p). ``missed`` / ``false``: truth points left
    unpaired / estimates left unpaired. ``value ** p == localisation + c ** p / 2 *
    (missed + false)``. ``truth_idx`` / ``est_idx``: the pairs (int64[k]) with d < c.
    """

    value: float
    localisation: float
    missed: int
    false: int
    truth_idx: I64
    est_idx: I64


def gospa(dist: npt.ArrayLike, c: float, p: float = 2.0) -> Gospa:
    """GOSPA with alpha = 2 from a distance matrix ``dist`` [m truth, n estimates]
    (non-negative, same unit as ``c``); ``c`` > 0 the cut-off, ``p`` >= 1 the order.
    Either set may be empty (a [0, n] or [m, 0] matrix)."""
    if not c > 0.0 or not p >= 1.0:
        raise ValueError(f"need c > 0 and p >= 1, got c={c}, p={p}")
    d = np.asarray(dist, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"dist must be a 2-D [truth, estimate] matrix, got shape {d.shape}")
    if np.any(np.isnan(d)) or np.any(d < 0.0):
        raise ValueError("distances must be non-negative and not NaN")
    m, n = d.shape
    cp = c**p
    if m == 0 or n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Gospa(float((cp / 2.0 * (m + n)) ** (1.0 / p)), 0.0, m, n, empty, empty)
    cost = np.minimum(d, c) ** p
    rows, cols = linear_sum_assignment(cost)
    real = d[rows, cols] < c
    ti = rows[real].astype(np.int64)
    ej = cols[real].astype(np.int64)
    loc = float(np.sum(d[ti, ej] ** p))
    k = int(ti.size)
    missed, false = m - k, n - k
    value = (loc + cp / 2.0 * (missed + false)) ** (1.0 / p)
    return Gospa(float(value), loc, missed, false, ti, ej)


def pairwise_distance(x: F64, y: F64) -> F64:
    """Euclidean distances between points x [m, k] and y [n, k]: float64[m, n]."""
    x2 = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y2 = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    diff = x2[:, None, :] - y2[None, :, :]
    out: F64 = np.sqrt(np.sum(diff * diff, axis=-1))
    return out


def ospa(dist: npt.ArrayLike, c: float, p: float = 2.0) -> float:
    """OSPA (Schuhmacher, Vo and Vo 2008) from a distance matrix [m truth, n estimates]:

        OSPA = ( (min over assignments of sum min(d, c)^p  +  c^p |m - n|) / max(m, n) )^(1/p)

    in distance units; 0 when both sets are empty, c when exactly one is. Unlike GOSPA it
    is normalised per point, so a missed or false point costs c whatever the rest."""
    if not c > 0.0 or not p >= 1.0:
        raise ValueError(f"need c > 0 and p >= 1, got c={c}, p={p}")
    d = np.asarray(dist, dtype=np.float64)
    m, n = d.shape
    if m == 0 and n == 0:
        return 0.0
    if m == 0 or n == 0:
        return float(c)
    cost = np.minimum(d, c) ** p
    rows, cols = linear_sum_assignment(cost)
    total = float(cost[rows, cols].sum()) + c**p * abs(m - n)
    return float((total / max(m, n)) ** (1.0 / p))
