"""Closest point of approach and the loss-of-separation window of straight-line pairs.

Pure Numba over NumPy arrays; no I/O. Relative states are intruder minus ownship in a
local east-north-up frame: positions in metres, velocities in m/s, times in seconds from
now.

Conventions (shared by :func:`conflict_window_1` and :func:`conflict_window`):

* Loss of separation is strict: horizontal distance < D **and** vertical distance < H.
  Touching either boundary is not a loss (a grazing pass whose minimum horizontal
  distance is exactly D is no conflict; a level pair exactly H apart is none).
* The conflict window is the intersection of the open horizontal interval
  {t : |p_h + v_h t| < D}, the open vertical interval {t : |p_z + v_z t| < H} and the
  closed look-ahead [0, T]. ``t_in`` / ``t_out`` are its infimum and supremum, so a pair
  already inside has ``t_in = 0`` and a window running past the look-ahead has
  ``t_out = T``. An entry at exactly T (or later) is no conflict; with T = 0 only a pair
  losing separation right now is one (t_in = t_out = 0).
* No conflict gives ``t_in = +inf`` and ``t_out = -inf``.
* ``t_cpa`` is the time of minimum horizontal distance clamped to [0, T] (0 when the
  horizontal relative velocity is exactly zero), defined for every pair; ``d_cpa`` is the
  horizontal distance and ``dz_cpa`` the vertical separation |dz| at ``t_cpa``.
* NaN anywhere in a pair's inputs gives no conflict.

Numerics: the horizontal entry/exit times are the roots of |p + v t|^2 = D^2. The
discriminant is formed as a D^2 - (p x v)^2 (Lagrange's identity) rather than b^2 - a c,
so that a distant pair (|p| >> D) does not cancel b^2 against a c, both of order
|p|^2 |v|^2, and the two roots are taken as
q / a and c / q with q = -(b + sign(b) sqrt(disc)), so neither root is a difference of
nearly equal numbers. A horizontal speed below 2**-300 or above 2**300 m/s is first
scaled by a power of two (exactly), so that no square underflows or overflows; positions
and D must stay below 1e150 m, whose squares are formed as they are.
Decisions within a few units in the last place of a boundary may go either way.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit, prange

F64 = npt.NDArray[np.float64]
B1 = npt.NDArray[np.bool_]

# Horizontal speeds (m/s) between which a, b and the discriminant need no rescaling.
_V_SMALL = 2.0**-300
_V_LARGE = 2.0**300


class ConflictWindow(NamedTuple):
    """Per-pair result of :func:`conflict_window`; every field has shape [N].

    conflict: bool; t_in, t_out, t_cpa: s; d_cpa, dz_cpa: m.
    """

    conflict: B1
    t_in: F64
    t_out: F64
    t_cpa: F64
    d_cpa: F64
    dz_cpa: F64


@njit(cache=True)
def conflict_window_1(
    px: float, py: float, pz: float, vx: float, vy: float, vz: float, D: float, H: float, T: float
) -> tuple[bool, float, float, float, float, float]:
    """One pair: relative position (px, py, pz) m and velocity (vx, vy, vz) m/s in ENU,
    horizontal radius D m, vertical half-height H m, look-ahead T s.

    Returns (conflict, t_in, t_out, t_cpa, d_cpa, dz_cpa) with the conventions of the
    module docstring.
    """
    inf = math.inf
    # Horizontal open interval (h_lo, h_hi); empty is (+inf, -inf).
    h_lo = inf
    h_hi = -inf
    # Tested on the components, not on m, so that a NaN component cannot pass for zero.
    stationary = vx == 0.0 and vy == 0.0
    a = 1.0
    cross = 0.0
    if stationary:
        if px * px + py * py < D * D:
            h_lo = -inf
            h_hi = inf
        t_cpa = 0.0
    else:
        # Outside [2**-300, 2**300) the squares below could underflow or overflow: scale v
        # by a power of two (exact), v = v' * 2**exp2 with max|v'| in [0.5, 1), and bring
        # the times back exactly with ldexp(t', -exp2).
        exp2 = 0
        sx = vx
        sy = vy
        m = max(abs(vx), abs(vy))
        if not _V_SMALL <= m < _V_LARGE:
            exp2 = math.frexp(m)[1]
            sx = math.ldexp(vx, -exp2)
            sy = math.ldexp(vy, -exp2)
        a = sx * sx + sy * sy
        b = px * sx + py * sy
        cross = px * sy - py * sx
        disc = a * (D * D) - cross * cross
        if disc > 0.0:
            c = (px * px + py * py) - D * D
            q = -(b + math.copysign(math.sqrt(disc), b))
            r1 = q / a
            r2 = c / q
            if exp2 != 0:
                r1 = math.ldexp(r1, -exp2)
                r2 = math.ldexp(r2, -exp2)
            # Roots that overflowed to the same infinity leave the interval empty.
            if r1 < r2:
                h_lo = r1
                h_hi = r2
            elif r2 < r1:
                h_lo = r2
                h_hi = r1
        t_cpa = -b / a
        if exp2 != 0:
            t_cpa = math.ldexp(t_cpa, -exp2)

    # Vertical open interval (z_lo, z_hi).
    z_lo = inf
    z_hi = -inf
    if vz == 0.0:
        if abs(pz) < H:
            z_lo = -inf
            z_hi = inf
    else:
        r1 = (-H - pz) / vz
        r2 = (H - pz) / vz
        # Written as a comparison so that NaN leaves the interval empty.
        if r1 < r2:
            z_lo = r1
            z_hi = r2
        elif r2 < r1:
            z_lo = r2
            z_hi = r1

    lo = max(h_lo, z_lo)
    hi = min(h_hi, z_hi)
    # Explicit comparisons keep +0.0 (never -0.0) and make every NaN path fail.
    conflict = lo < hi and lo < T and hi > 0.0 and T >= 0.0
    if conflict:
        t_in = lo if lo > 0.0 else 0.0
        t_out = hi if hi < T else T
    else:
        t_in = inf
        t_out = -inf

    if not t_cpa > 0.0:
        t_cpa = 0.0
    elif t_cpa > T:
        t_cpa = T if T > 0.0 else 0.0
    if not stationary and 0.0 < t_cpa < T:
        # Interior minimum: |p x v| / |v| does not carry the rounding of t_cpa, so a grazing
        # pass given in exactly representable numbers reports exactly D.
        d_cpa = abs(cross) / math.sqrt(a)
    else:
        d_cpa = math.hypot(px + vx * t_cpa, py + vy * t_cpa)
    dz_cpa = abs(pz + vz * t_cpa)
    return conflict, t_in, t_out, t_cpa, d_cpa, dz_cpa


@njit(cache=True, parallel=True)
def conflict_window(rel_pos: F64, rel_vel: F64, D: float, H: float, T: float) -> ConflictWindow:
    """Loss-of-separation window of N straight-line pairs.

    rel_pos: float64[N, 3], metres; rel_vel: float64[N, 3], m/s (east, north, up;
    intruder minus ownship). D: horizontal radius, m; H: vertical half-height, m;
    T: look-ahead, s. Returns a :class:`ConflictWindow` of arrays of length N.
    """
    n = rel_pos.shape[0]
    if rel_pos.shape[1] != 3 or rel_vel.shape[0] != n or rel_vel.shape[1] != 3:
        raise ValueError("rel_pos and rel_vel must both have shape (N, 3)")
    conflict = np.empty(n, dtype=np.bool_)
    t_in = np.empty(n, dtype=np.float64)
    t_out = np.empty(n, dtype=np.float64)
    t_cpa = np.empty(n, dtype=np.float64)
    d_cpa = np.empty(n, dtype=np.float64)
    dz_cpa = np.empty(n, dtype=np.float64)
    for k in prange(n):
        conflict[k], t_in[k], t_out[k], t_cpa[k], d_cpa[k], dz_cpa[k] = conflict_window_1(
            rel_pos[k, 0],
            rel_pos[k, 1],
            rel_pos[k, 2],
            rel_vel[k, 0],
            rel_vel[k, 1],
            rel_vel[k, 2],
            D,
            H,
            T,
        )
    return ConflictWindow(conflict, t_in, t_out, t_cpa, d_cpa, dz_cpa)
