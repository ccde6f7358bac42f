"""The exact test of one pair of tracks, shared by the brute force and the broad phase.

Pure Numba; no I/O. :func:`pair_conflict` measures pair (i, j), i < j, in ENU_i, track i's
east-north-up frame at its sub-point (the method and its error bound are in
:mod:`kernels.screen`), and hands the straight-line problem to
:func:`kernels.cpa.conflict_window_1`. Both :func:`kernels.screen.screen_all_pairs` and
:func:`kernels.screen.screen_conflicts` call it on geometry rows built by the same
operations (:func:`kernels.broadphase.track_row`), which is what makes them agree bit for
bit.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from kernels.cpa import conflict_window_1
from kernels.geo import WGS84_A, WGS84_B

F64 = npt.NDArray[np.float64]

# Relative slack of the cheap rejection tests in pair_conflict. conflict_window_1's answer is exact
# for some D (H) within a few eps * (|p| + D) of the one given; a pair rejected here stays
# outside the cylinder by more than 1e-6 * (|p| + D) throughout [0, T], so
# conflict_window_1 would reject it too: the tests change no result.
REJECT_SLACK = 1e-6

# Depth (m) below track i's tangent plane beyond which track j's sub-point counts as on
# the far side of the Earth: rho = b^2 / a, the smallest radius of curvature of WGS-84.
# A near-side sub-point at chord c lies at most c^2 / (2 rho) below the plane
# (kernels/broadphase.py), so the gate only removes pairs more than sqrt(2) rho = 8,960 km
# apart; the point where i's normal line leaves the Earth again lies ~12,700 km below
# (the broad phase relies on the gate to skip those: see its docstring).
FAR_GATE = WGS84_B * WGS84_B / WGS84_A

NO_CONFLICT = (False, math.inf, -math.inf, 0.0, 0.0, 0.0, 0.0, 0.0)


@njit(cache=True, inline="always")
def _norm(x: float, y: float) -> float:
    """|(x, y)| within a few ulp: the square root of the sum of squares where no square
    can overflow or lose the larger term (much cheaper than math.hypot), math.hypot
    elsewhere. The rejection tests' slack covers the difference."""
    m = max(abs(x), abs(y))
    if 1e-140 < m < 1e140:
        return math.sqrt(x * x + y * y)
    return math.hypot(x, y)


@njit(cache=True)
def pair_conflict(
    i: int, j: int, geom: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, D: float, H: float, T: float
) -> tuple[bool, float, float, float, float, float, float, float]:
    """Pair (i, j) in ENU_i (geom: float64[N, >=12], see kernels.broadphase.track_table;
    alt_m (m), ve, vn, vu (m/s) float64[N]; D, H (m), T (s)): conflict_window_1's
    tuple, then d_now (m), dz_now (m).

    Only the first field is meaningful when it is False.
    """
    pz = alt_m[j] - alt_m[i]
    vz = vu[j] - vu[i]
    # Most pairs are out of vertical reach within T: skip the rest of the work for them.
    if abs(pz) - H > abs(vz) * T + REJECT_SLACK * (abs(pz) + H):
        return NO_CONFLICT
    # geom columns: 0-2 sub-point ECEF, 3-5 east, 6-8 north, 9-11 velocity in ECEF.
    dx = geom[j, 0] - geom[i, 0]
    dy = geom[j, 1] - geom[i, 1]
    dz = geom[j, 2] - geom[i, 2]
    px = geom[i, 3] * dx + geom[i, 4] * dy + geom[i, 5] * dz
    py = geom[i, 6] * dx + geom[i, 7] * dy + geom[i, 8] * dz
    vx = geom[i, 3] * geom[j, 9] + geom[i, 4] * geom[j, 10] + geom[i, 5] * geom[j, 11] - ve[i]
    vy = geom[i, 6] * geom[j, 9] + geom[i, 7] * geom[j, 10] + geom[i, 8] * geom[j, 11] - vn[i]
    d_now = _norm(px, py)
    if d_now - D > _norm(vx, vy) * T + REJECT_SLACK * (d_now + D):
        return NO_CONFLICT
    # Far-side gate: near the antipode the tangent-plane projection is small again. A
    # sub-point more than FAR_GATE below i's tangent plane is on the far side of the
    # globe (more than ~90 degrees of arc away) and is never a conflict.
    ux = geom[i, 4] * geom[i, 8] - geom[i, 5] * geom[i, 7]
    uy = geom[i, 5] * geom[i, 6] - geom[i, 3] * geom[i, 8]
    uz = geom[i, 3] * geom[i, 7] - geom[i, 4] * geom[i, 6]
    if ux * dx + uy * dy + uz * dz < -FAR_GATE:
        return NO_CONFLICT
    conflict, t_in, t_out, t_cpa, d_cpa, dz_cpa = conflict_window_1(px, py, pz, vx, vy, vz, D, H, T)
    if not conflict:
        return NO_CONFLICT
    return conflict, t_in, t_out, t_cpa, d_cpa, dz_cpa, math.hypot(px, py), abs(pz)


@njit(cache=True, inline="always")
def store_result(
    res: F64, p: int, r: tuple[bool, float, float, float, float, float, float, float]
) -> None:
    """Row p of res (float64[K, 7]) := the seven numbers of a pair_conflict result."""
    res[p, 0] = r[1]
    res[p, 1] = r[2]
    res[p, 2] = r[3]
    res[p, 3] = r[4]
    res[p, 4] = r[5]
    res[p, 5] = r[6]
    res[p, 6] = r[7]
