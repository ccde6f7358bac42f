"""Conflict screening of a whole track table.

Pure Numba over NumPy arrays; no I/O. Two functions with the same inputs, output and
results (bit for bit):

* :func:`screen_all_pairs`, the brute force: every pair i < j goes through
  :func:`kernels.cpa.conflict_window_1` (through :func:`kernels.pairtest.pair_conflict`),
  after two cheap tests that skip pairs out of
  vertical or horizontal reach within T by a clear margin (they change no result). Time
  O(N^2) (parallel over i), memory O(N + conflicts): a first pass counts each row's
  conflicts, a prefix sum gives each row its slice of the output, and a second pass
  fills the slices.
* :func:`screen_conflicts`, the one to use: the broad phase of :mod:`kernels.broadphase`
  proposes candidate pairs, a proven superset of the pairs the exact test flags, and the
  same exact test (:func:`kernels.pairtest.pair_conflict`, on geometry computed with the
  same operations) runs on those only. Time and memory O(N + candidates), never O(N^2).

Both outputs are sorted by (i, j) and do not depend on the thread count.

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

The broad phase adds no error of its own: it works in ECEF (no poles or antimeridian to
care about) and inflates each track's swept box by D/2 plus a bound on the difference
between the tangent-plane separation above and the ECEF one, s_k = 2.5 (1 + eta)^2
(D/2 + T |v_k|)^2 / rho (rho = b^2 / a = 6335 km; 0.1-0.6 km at airliner speeds over
120 s), derived in kernels/broadphase.py; a pair it drops cannot be flagged here.

One property of the tangent-plane method needs a guard: the projection of
ECEF_j - ECEF_i on east_i, north_i is also small when track j is near the point where
track i's normal line leaves the Earth again, about the antipode. ``pair_conflict`` drops a
pair whose sub-point j lies more than rho = b^2 / a = 6,335 km below i's tangent plane
(the far side of the globe); a near-side pair is only that deep beyond 8,960 km of chord,
far outside any look-ahead, so the gate changes nothing else.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from kernels.broadphase import (
    build_grid,
    check_inputs,
    grid_pairs,
    no_conflict_possible,
    pair_order,
    parameters_supported,
    track_row,
)
from kernels.cpa import conflict_window
from kernels.geo import enu_basis_1, geodetic_to_ecef_1
from kernels.pairtest import pair_conflict, store_result

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F32 = npt.NDArray[np.float32]
B1 = npt.NDArray[np.bool_]


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
            if pair_conflict(i, j, geom, alt_m, ve, vn, vu, D, H, T)[0]:
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
            r = pair_conflict(i, j, geom, alt_m, ve, vn, vu, D, H, T)
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


@njit(cache=True)
def _empty_conflicts() -> Conflicts:
    e = np.empty(0, dtype=np.float64)
    ei = np.empty(0, dtype=np.int64)
    return Conflicts(ei, ei.copy(), e, e.copy(), e.copy(), e.copy(), e.copy(), e.copy(), e.copy())


@njit(cache=True)
def _wild_row(
    w: int,
    is_wild: B1,
    lat_deg: F64,
    lon_deg: F64,
    alt_m: F64,
    ve: F64,
    vn: F64,
    vu: F64,
    D: float,
    H: float,
    T: float,
    oi: I64,
    oj: I64,
    res: F64,
    p0: int,
    write: bool,
) -> int:
    """Wild track w against every track (a pair of wild tracks only from the lower one):
    counted, or written from row p0. Returns the count. Rows of the track table are built
    on the fly (kernels.broadphase.track_row), the lower track index first."""
    loc = np.empty((2, 16), dtype=np.float64)
    lalt = loc[:, 12]
    lve = loc[:, 13]
    lvn = loc[:, 14]
    lvu = loc[:, 15]
    p = p0
    for k in range(lat_deg.shape[0]):
        if k == w or (is_wild[k] and k < w):
            continue
        i = min(w, k)
        j = max(w, k)
        track_row(lat_deg, lon_deg, alt_m, ve, vn, vu, i, loc, 0)
        track_row(lat_deg, lon_deg, alt_m, ve, vn, vu, j, loc, 1)
        r = pair_conflict(0, 1, loc, lalt, lve, lvn, lvu, D, H, T)
        if r[0]:
            if write:
                oi[p] = i
                oj[p] = j
                store_result(res, p, r)
            p += 1
    return p - p0


@njit(cache=True)
def _wild_conflicts(
    wild: I64,
    reg: B1,
    lat_deg: F64,
    lon_deg: F64,
    alt_m: F64,
    ve: F64,
    vn: F64,
    vu: F64,
    D: float,
    H: float,
    T: float,
) -> tuple[I64, I64, F64]:
    """Conflicts of the wild tracks (those the grid leaves out) with every track:
    counted, then written; unsorted. Serial: wild tracks are rare, and a parallel loop
    would cost compile time."""
    nw = wild.shape[0]
    is_wild = ~reg
    counts = np.zeros(nw, dtype=np.int64)
    none_i = np.empty(0, dtype=np.int64)
    none_r = np.empty((0, 7), dtype=np.float64)
    write = nw < 0
    for m in range(nw):
        counts[m] = _wild_row(
            wild[m], is_wild, lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T, none_i, none_i,
            none_r, 0, write,
        )  # fmt: skip
    off = np.zeros(nw + 1, dtype=np.int64)
    for r in range(nw):
        off[r + 1] = off[r] + counts[r]
    oi = np.empty(off[nw], dtype=np.int64)
    oj = np.empty(off[nw], dtype=np.int64)
    res = np.empty((off[nw], 7), dtype=np.float64)
    for m in range(nw):
        _wild_row(
            wild[m], is_wild, lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T, oi, oj, res,
            off[m], not write,
        )  # fmt: skip
    return oi, oj, res


@njit(cache=True)
def _gather(perm: I64, oi: I64, oj: I64, res: F64, si: I64, sj: I64, cols: F64) -> None:
    """si, sj, cols[f] := oi, oj, res[:, f] in the order perm."""
    for q in range(perm.shape[0]):
        p = perm[q]
        si[q] = oi[p]
        sj[q] = oj[p]
        for f in range(7):
            cols[f, q] = res[p, f]


def _sorted(oi: I64, oj: I64, res: F64, n: int) -> Conflicts:
    """Conflicts from unsorted pairs oi, oj (int64[K]) and their seven numbers res
    (float64[K, 7]), sorted by (i, j)."""
    k = oi.shape[0]
    si = np.empty(k, dtype=np.int64)
    sj = np.empty(k, dtype=np.int64)
    cols = np.empty((7, k), dtype=np.float64)
    _gather(pair_order(oi, oj, n), oi, oj, res, si, sj, cols)
    return Conflicts(si, sj, *cols)


def screen_conflicts(
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
    """Every pair (i < j) that loses separation within the look-ahead: the same inputs,
    output and results (bit for bit) as :func:`screen_all_pairs`, without its O(N^2).

    lat_deg, lon_deg: float64[N], degrees (WGS-84); alt_m: float64[N], metres;
    ve, vn, vu: float64[N], m/s east/north/up in each track's own ENU frame.
    D: horizontal radius, m; H: vertical half-height, m; T: look-ahead, s.
    Returns :class:`Conflicts` over the K conflicting pairs, sorted by (i, j).

    Method: the broad phase of :mod:`kernels.broadphase` (swept boxes in a 2-D grid,
    altitude-sorted cells, a same-time test) yields candidate pairs, a proven superset of
    the pairs the exact test flags; the exact test is then
    :func:`kernels.pairtest.pair_conflict`, the very function screen_all_pairs runs on
    every pair, on geometry rows computed with the very same operations, so the numbers
    are identical. Horizontal separation is that of screen_all_pairs: pair (i, j) in
    ENU_i, with the error bound of this module's docstring; the broad phase only drops
    pairs that provably cannot be flagged.

    Parallel over groups of grid rows (candidates and exact tests in one pass, each group
    writing into room reserved for it; a group that needs more is run again into exact
    room). Memory O(N + conflicts): about 180 bytes per track and 72 per conflict (a few
    copies); no candidate list is kept. Tracks the broad phase leaves out (non-finite
    inputs, over 10 km/s, reach T |v| over 200 km, |alt| over 1000 km) are paired with
    every track (O(N) each); if they are more than 1/8 of the table, or D, H, T lie
    outside what the broad phase covers (D or H negative, infinite, above 1000 km /
    100 km; T infinite), this falls back to :func:`screen_all_pairs`. Deterministic, and
    independent of the thread count. A Python function (the large arrays are allocated
    by NumPy, see kernels.broadphase.build_grid) over Numba kernels.
    """
    check_inputs(lat_deg, lon_deg, alt_m, ve, vn, vu)
    n = lat_deg.shape[0]
    if no_conflict_possible(D, H, T) and not (D < 0.0 or H < 0.0):
        return _empty_conflicts()
    if not parameters_supported(D, H, T) or not math.isfinite(T):
        return screen_all_pairs(lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T)

    grid = build_grid(lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T)
    wild = grid.wild
    nw = wild.shape[0]
    if 8 * nw > n + 64:
        return screen_all_pairs(lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T)
    oi, oj, res = grid_pairs(grid, D, H, T, True)
    if nw > 0:
        reg = np.ones(n, dtype=np.bool_)
        reg[wild] = False
        wi, wj, wres = _wild_conflicts(wild, reg, lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T)
        oi = np.concatenate((oi, wi))
        oj = np.concatenate((oj, wj))
        res = np.concatenate((res, wres))
    return _sorted(oi, oj, res, n)


def warm_up() -> None:
    """Compile (or load from the cache) the kernels on tiny float64 inputs, so that the
    first detection cycle does not pay for it."""
    z3 = np.zeros((2, 3), dtype=np.float64)
    conflict_window(z3, z3, 9260.0, 304.8, 120.0)
    z = np.zeros(2, dtype=np.float64)
    screen_all_pairs(z, np.array([0.0, 0.01]), z, z, z, z, 9260.0, 304.8, 120.0)
    # Three tracks, one of them invalid (NaN altitude): the grid and the wild-track path.
    z = np.zeros(3, dtype=np.float64)
    alt = np.array([0.0, 0.0, np.nan])
    screen_conflicts(z, np.array([0.0, 0.01, 0.02]), alt, z, z, z, 9260.0, 304.8, 120.0)
