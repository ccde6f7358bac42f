"""All-pairs conflict screening of a whole track table.

Pure Numba over NumPy arrays; no I/O. Simple: every pair i < j goes through
:func:`kernels.cpa.conflict_window_1`, after two cheap tests that skip pairs out of
vertical or horizontal reach within T by a clear margin (they change no result). Time is
O(N^2) (parallel over i), memory O(N + conflicts): a first pass counts each row's
conflicts, a prefix sum gives each row its slice of the output, and a second pass fills
the slices. The output is sorted by (i, j) and does not depend on the thread count.

Method, for a pair (i, j), i < j:

* The frame is ENU_i, the east-north-up frame at track i's sub-point (its latitude and
  longitude at zero ellipsoid height).
* Horizontal relative position: east and north components in ENU_i of
  ECEF_j - ECEF_i, both points taken at zero height, so that a difference in altitude
  does not leak into horizontal distance. The up component (the Earth's curvature) is
  dropped.
* Horizontal relative velocity: track j's velocity, given in its own ENU, is rotated
  into ECEF and then into ENU_i; track i's own east/north velocity is subtracted.
* Vertical relative position and velocity: alt_j - alt_i and vu_j - vu_i.
* Both then move in straight lines (:mod:`kernels.cpa`, whose conventions apply).

Error of straight-line motion in the tangent plane over the look-ahead. The plane
leaves the ellipsoid by about d^2 / (2R) at distance d from the sub-point (R ~ 6371 km:
70 m at 30 km, 500 m at 80 km). That departure lies along the up axis, which the
method drops in favour of altitude, so it does not enter the horizontal geometry. What
remains horizontally is of relative order (rho/R)^2, rho being how far from track i's
sub-point either aircraft gets during the look-ahead: the predicted separation s is off
by about s * rho^2 / R^2 + L^2 * rho / R^2 (L the distance flown). Against two aircraft
flying geodesics at constant ground speed (pyproj.Geod; T = 120 s, up to 300 m/s, rho up
to 130 km) the predicted separation was within 0.7 m whenever the true one was under
20 km, and within 8 m at 100 km. Ground speeds are used as given, not scaled to the
sub-points by R / (R + h) (0.2 % at 12 km).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from kernels.cpa import conflict_window, conflict_window_1
from kernels.geo import enu_basis_1, geodetic_to_ecef_1

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class Conflicts(NamedTuple):
    """Conflicting pairs of :func:`screen_all_pairs`, sorted by (i, j); shape [K] each.

    i, j: int64 track indices, i < j; t_in, t_out, t_cpa: s; d_cpa, dz_cpa, d_now,
    dz_now: m (horizontal distance, |vertical separation|, at t_cpa and now).
    """

    i: I64
    j: I64
    t_in: F64
    t_out: F64
    t_cpa: F64
    d_cpa: F64
    dz_cpa: F64
    d_now: F64
    dz_now: F64


# Relative slack of the cheap rejection tests in _pair. conflict_window_1's answer is exact
# for some D (H) within a few eps * (|p| + D) of the one given; a pair rejected here stays
# outside the cylinder by more than 1e-6 * (|p| + D) throughout [0, T], so
# conflict_window_1 would reject it too: the tests change no result.
_REJECT_SLACK = 1e-6

_NO_CONFLICT = (False, math.inf, -math.inf, 0.0, 0.0, 0.0, 0.0, 0.0)


@njit(cache=True)
def _pair(
    i: int, j: int, geom: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, D: float, H: float, T: float
) -> tuple[bool, float, float, float, float, float, float, float]:
    """Pair (i, j) in ENU_i: conflict_window_1's tuple, then d_now (m), dz_now (m).

    Only the first field is meaningful when it is False.
    """
    pz = alt_m[j] - alt_m[i]
    vz = vu[j] - vu[i]
    # Most pairs are out of vertical reach within T: skip the rest of the work for them.
    if abs(pz) - H > abs(vz) * T + _REJECT_SLACK * (abs(pz) + H):
        return _NO_CONFLICT
    # geom columns: 0-2 sub-point ECEF, 3-5 east, 6-8 north, 9-11 velocity in ECEF.
    dx = geom[j, 0] - geom[i, 0]
    dy = geom[j, 1] - geom[i, 1]
    dz = geom[j, 2] - geom[i, 2]
    px = geom[i, 3] * dx + geom[i, 4] * dy + geom[i, 5] * dz
    py = geom[i, 6] * dx + geom[i, 7] * dy + geom[i, 8] * dz
    vx = geom[i, 3] * geom[j, 9] + geom[i, 4] * geom[j, 10] + geom[i, 5] * geom[j, 11] - ve[i]
    vy = geom[i, 6] * geom[j, 9] + geom[i, 7] * geom[j, 10] + geom[i, 8] * geom[j, 11] - vn[i]
    d_now = math.hypot(px, py)
    if d_now - D > math.hypot(vx, vy) * T + _REJECT_SLACK * (d_now + D):
        return _NO_CONFLICT
    conflict, t_in, t_out, t_cpa, d_cpa, dz_cpa = conflict_window_1(px, py, pz, vx, vy, vz, D, H, T)
    return conflict, t_in, t_out, t_cpa, d_cpa, dz_cpa, d_now, abs(pz)


@njit(cache=True, parallel=True)
def screen_all_pairs(
    lat_deg: F64,
    lon_deg: F64,
    alt_m: F64,
    ve: F64,
    vn: F64,
    vu: F64,
    D: float,
    H: float,
    T: float,
) -> Conflicts:
    """Every pair (i < j) that loses separation within the look-ahead.

    lat_deg, lon_deg: float64[N], degrees (WGS-84); alt_m: float64[N], metres;
    ve, vn, vu: float64[N], m/s east/north/up in each track's own ENU frame.
    D: horizontal radius, m; H: vertical half-height, m; T: look-ahead, s.
    Returns :class:`Conflicts` over the K conflicting pairs, sorted by (i, j).
    """
    n = lat_deg.shape[0]
    if (
        lon_deg.shape[0] != n
        or alt_m.shape[0] != n
        or ve.shape[0] != n
        or vn.shape[0] != n
        or vu.shape[0] != n
    ):
        raise ValueError("screen_all_pairs: all inputs must have the same length")

    geom = np.empty((n, 12), dtype=np.float64)
    for k in prange(n):
        x, y, z = geodetic_to_ecef_1(lat_deg[k], lon_deg[k], 0.0)
        ex, ey, ez, nx, ny, nz, ux, uy, uz = enu_basis_1(lat_deg[k], lon_deg[k])
        geom[k, 0] = x
        geom[k, 1] = y
        geom[k, 2] = z
        geom[k, 3] = ex
        geom[k, 4] = ey
        geom[k, 5] = ez
        geom[k, 6] = nx
        geom[k, 7] = ny
        geom[k, 8] = nz
        geom[k, 9] = ve[k] * ex + vn[k] * nx + vu[k] * ux
        geom[k, 10] = ve[k] * ey + vn[k] * ny + vu[k] * uy
        geom[k, 11] = ve[k] * ez + vn[k] * nz + vu[k] * uz

    # Row i has n-1-i pairs. prange hands each thread a contiguous block of iterations,
    # so visit rows as 0, n-1, 1, n-2, ...: any block then holds a fair share of pairs.
    order = np.empty(n, dtype=np.int64)
    for m in range((n + 1) // 2):
        order[2 * m] = m
        if 2 * m + 1 < n:
            order[2 * m + 1] = n - 1 - m

    counts = np.zeros(n, dtype=np.int64)
    for kk in prange(n):
        i = order[kk]
        c = 0
        for j in range(i + 1, n):
            if _pair(i, j, geom, alt_m, ve, vn, vu, D, H, T)[0]:
                c += 1
        counts[i] = c

    offsets = np.zeros(n + 1, dtype=np.int64)
    for row in range(n):
        offsets[row + 1] = offsets[row] + counts[row]
    total = offsets[n]

    oi = np.empty(total, dtype=np.int64)
    oj = np.empty(total, dtype=np.int64)
    t_in = np.empty(total, dtype=np.float64)
    t_out = np.empty(total, dtype=np.float64)
    t_cpa = np.empty(total, dtype=np.float64)
    d_cpa = np.empty(total, dtype=np.float64)
    dz_cpa = np.empty(total, dtype=np.float64)
    d_now = np.empty(total, dtype=np.float64)
    dz_now = np.empty(total, dtype=np.float64)
    for kk in prange(n):
        i = order[kk]
        k = offsets[i]
        for j in range(i + 1, n):
            r = _pair(i, j, geom, alt_m, ve, vn, vu, D, H, T)
            if r[0]:
                oi[k] = i
                oj[k] = j
                t_in[k] = r[1]
                t_out[k] = r[2]
                t_cpa[k] = r[3]
                d_cpa[k] = r[4]
                dz_cpa[k] = r[5]
                d_now[k] = r[6]
                dz_now[k] = r[7]
                k += 1
    return Conflicts(oi, oj, t_in, t_out, t_cpa, d_cpa, dz_cpa, d_now, dz_now)


def warm_up() -> None:
    """Compile (or load from the cache) the kernels on tiny float64 inputs, so that the
    first detection cycle does not pay for it."""
    z3 = np.zeros((2, 3), dtype=np.float64)
    conflict_window(z3, z3, 9260.0, 304.8, 120.0)
    z = np.zeros(2, dtype=np.float64)
    screen_all_pairs(z, np.array([0.0, 0.01]), z, z, z, z, 9260.0, 304.8, 120.0)
