"""Conflict screening of a whole track table.

Pure Numba over NumPy arrays; no I/O. Two functions with the same inputs, output and
results (bit for bit):

* :func:`screen_all_pairs`, the brute force: every pair i < j goes through
  :func:`kernels.cpa.conflict_window_1`, after two cheap tests that skip pairs out of
  vertical or horizontal reach within T by a clear margin (they change no result). Time
  O(N^2) (parallel over i), memory O(N + conflicts): a first pass counts each row's
  conflicts, a prefix sum gives each row its slice of the output, and a second pass
  fills the slices.
* :func:`screen_conflicts`, the one to use: the broad phase of :mod:`kernels.broadphase`
  proposes candidate pairs, a proven superset of the pairs the exact test flags, and the
  same exact test (:func:`_pair`, on geometry computed with the same operations) runs on
  those only. Time and memory O(N + candidates), never O(N^2).

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
track i's normal line leaves the Earth again, about the antipode. :func:`_pair` drops a
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
    chunk_scratch,
    far_side_possible,
    no_conflict_possible,
    pair_order,
    parameters_supported,
    tile_chunks,
    tile_pairs,
    track_row,
)
from kernels.cpa import conflict_window, conflict_window_1
from kernels.geo import WGS84_A, WGS84_B, enu_basis_1, geodetic_to_ecef_1

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


# Relative slack of the cheap rejection tests in _pair. conflict_window_1's answer is exact
# for some D (H) within a few eps * (|p| + D) of the one given; a pair rejected here stays
# outside the cylinder by more than 1e-6 * (|p| + D) throughout [0, T], so
# conflict_window_1 would reject it too: the tests change no result.
_REJECT_SLACK = 1e-6

# Depth (m) below track i's tangent plane beyond which track j's sub-point counts as on
# the far side of the Earth: rho = b^2 / a, the smallest radius of curvature of WGS-84.
# A near-side sub-point at chord c lies at most c^2 / (2 rho) below the plane
# (kernels/broadphase.py), so the gate only removes pairs more than sqrt(2) rho = 8,960 km
# apart; the point where i's normal line leaves the Earth again lies ~12,700 km below.
_FAR_GATE = WGS84_B * WGS84_B / WGS84_A

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
    # Far-side gate: near the antipode the tangent-plane projection is small again. A
    # sub-point more than _FAR_GATE below i's tangent plane is on the far side of the
    # globe (more than ~90 degrees of arc away) and is never a conflict.
    ux = geom[i, 4] * geom[i, 8] - geom[i, 5] * geom[i, 7]
    uy = geom[i, 5] * geom[i, 6] - geom[i, 3] * geom[i, 8]
    uz = geom[i, 3] * geom[i, 7] - geom[i, 4] * geom[i, 6]
    if ux * dx + uy * dy + uz * dz < -_FAR_GATE:
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


@njit(cache=True)
def _empty_conflicts() -> Conflicts:
    e = np.empty(0, dtype=np.float64)
    ei = np.empty(0, dtype=np.int64)
    return Conflicts(ei, ei.copy(), e, e.copy(), e.copy(), e.copy(), e.copy(), e.copy(), e.copy())


@njit(cache=True)
def _conflict_chunk(
    t0: int,
    t1: int,
    tstart: I64,
    members: I32,
    mo: F32,
    inp: F64,
    n: int,
    far_run: bool,
    gp: F64,
    D: float,
    H: float,
    T: float,
    oi: I64,
    oj: I64,
    res: F64,
    o0: int,
    cap: int,
) -> int:
    """Conflicts among the candidates of tiles [t0, t1) (kernels.broadphase.tile_pairs):
    counted, and the first cap written from row o0 of oi, oj, res. Returns the count.

    Each candidate's two rows of the track table are built on the spot from the tile's
    copy of the inputs (kernels.broadphase.track_row: the geometry with
    screen_all_pairs' very operations, then alt_m, ve, vn, vu), the lower track index
    first as screen_all_pairs orders a pair, so that _pair computes the same numbers as
    there.
    """
    lin, lm, lbox, lcr, cnt, cfill, si, sf, surv, ent, pairs = chunk_scratch(tstart, t0, t1, gp)
    llat = lin[:, 0]
    llon = lin[:, 1]
    lalt_in = lin[:, 2]
    lve_in = lin[:, 3]
    lvn_in = lin[:, 4]
    lvu_in = lin[:, 5]
    loc = np.empty((2, 16), dtype=np.float64)
    lalt = loc[:, 12]
    lve = loc[:, 13]
    lvn = loc[:, 14]
    lvu = loc[:, 15]
    k = 0
    for t in range(t0, t1):
        npair, ent, pairs = tile_pairs(
            t, tstart, members, mo, n, far_run, gp, inp, lin, lm, lbox, lcr, cnt, cfill,
            si, sf, surv, ent, pairs,
        )  # fmt: skip
        s0 = tstart[t]
        for q in range(npair):
            pa = int(pairs[q, 0])
            pb = int(pairs[q, 1])
            a = members[s0 + pa] % n
            b = members[s0 + pb] % n
            if a > b:
                a, b = b, a
                pa, pb = pb, pa
            track_row(llat, llon, lalt_in, lve_in, lvn_in, lvu_in, pa, loc, 0)
            track_row(llat, llon, lalt_in, lve_in, lvn_in, lvu_in, pb, loc, 1)
            r = _pair(0, 1, loc, lalt, lve, lvn, lvu, D, H, T)
            i = a
            j = b
            if r[0]:
                if k < cap:
                    oi[o0 + k] = i
                    oj[o0 + k] = j
                    _store(res, o0 + k, r)
                k += 1
    return k


@njit(cache=True)
def _copy_rows(
    oi: I64, oj: I64, res: F64, s0: int, di: I64, dj: I64, dres: F64, d0: int, m: int
) -> None:
    """Rows [s0, s0 + m) of (oi, oj, res) to rows [d0, d0 + m) of (di, dj, dres)."""
    for t in range(m):
        di[d0 + t] = oi[s0 + t]
        dj[d0 + t] = oj[s0 + t]
        for f in range(7):
            dres[d0 + t, f] = res[s0 + t, f]


@njit(cache=True, parallel=True)
def _run_conflicts(
    tstart: I64,
    members: I32,
    mo: F32,
    inp: F64,
    n: int,
    far_run: bool,
    gp: F64,
    D: float,
    H: float,
    T: float,
) -> tuple[I64, I64, F64]:
    """Conflicts (i < j, and their seven numbers float64[K, 7]) of one run of the grid,
    unsorted: parallel over chunks of tiles, each writing into room reserved for it
    (half a row per member); the chunks that find more are run again (in parallel) into
    exact room."""
    bounds = tile_chunks(tstart)
    nchunk = bounds.shape[0] - 1
    room = np.zeros(nchunk + 1, dtype=np.int64)
    for b in range(nchunk):
        room[b + 1] = room[b] + (tstart[bounds[b + 1]] - tstart[bounds[b]]) // 2 + 64
    bi = np.empty(room[nchunk], dtype=np.int64)
    bj = np.empty(room[nchunk], dtype=np.int64)
    bres = np.empty((room[nchunk], 7), dtype=np.float64)
    cnt = np.zeros(nchunk, dtype=np.int64)
    for qq in prange(nchunk):
        q = int(np.int64(qq))
        cnt[q] = _conflict_chunk(
            bounds[q], bounds[q + 1], tstart, members, mo, inp, n, far_run, gp, D, H, T, bi,
            bj, bres, room[q], room[q + 1] - room[q],
        )  # fmt: skip
    off = np.zeros(nchunk + 1, dtype=np.int64)
    for b in range(nchunk):
        off[b + 1] = off[b] + cnt[b]
    oi = np.empty(off[nchunk], dtype=np.int64)
    oj = np.empty(off[nchunk], dtype=np.int64)
    res = np.empty((off[nchunk], 7), dtype=np.float64)
    # The chunks that fitted are copied (serially: a copy); those that did not (dense
    # traffic: more conflicts than half a row per member) run again, into exact room.
    n_over = 0
    for b in range(nchunk):
        if cnt[b] <= room[b + 1] - room[b]:
            _copy_rows(bi, bj, bres, room[b], oi, oj, res, off[b], cnt[b])
        else:
            n_over += 1
    over = np.empty(n_over, dtype=np.int64)
    n_over = 0
    for b in range(nchunk):
        if cnt[b] > room[b + 1] - room[b]:
            over[n_over] = b
            n_over += 1
    for rr in prange(n_over):
        q = over[rr]
        _conflict_chunk(
            bounds[q], bounds[q + 1], tstart, members, mo, inp, n, far_run, gp, D, H, T, oi,
            oj, res, off[q], cnt[q],
        )  # fmt: skip
    return oi, oj, res


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
        r = _pair(0, 1, loc, lalt, lve, lvn, lvu, D, H, T)
        if r[0]:
            if write:
                oi[p] = i
                oj[p] = j
                _store(res, p, r)
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
def _sorted(oi: I64, oj: I64, res: F64, n: int) -> Conflicts:
    """Conflicts from unsorted pairs oi, oj (int64[K]) and their seven numbers res
    (float64[K, 7]), sorted by (i, j). Serial: K is small next to the work before."""
    total = oi.shape[0]
    perm = pair_order(oi, oj, n)
    si = np.empty(total, dtype=np.int64)
    sj = np.empty(total, dtype=np.int64)
    cols = np.empty((7, total), dtype=np.float64)
    for q in range(total):
        p = perm[q]
        si[q] = oi[p]
        sj[q] = oj[p]
        for f in range(7):
            cols[f, q] = res[p, f]
    return Conflicts(si, sj, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6])


@njit(cache=True, inline="always")
def _store(
    res: F64, p: int, r: tuple[bool, float, float, float, float, float, float, float]
) -> None:
    """Row p of res (float64[K, 7]) := the seven numbers of a _pair result."""
    res[p, 0] = r[1]
    res[p, 1] = r[2]
    res[p, 2] = r[3]
    res[p, 3] = r[4]
    res[p, 4] = r[5]
    res[p, 5] = r[6]
    res[p, 6] = r[7]


@njit(cache=True)
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

    Method: the broad phase of :mod:`kernels.broadphase` (swept boxes in a 3-D grid of
    tiles, altitude-sorted cells, a same-time test) yields candidate pairs, a proven
    superset of the pairs the exact test flags; the exact test is then :func:`_pair`, the
    very function screen_all_pairs runs on every pair, on geometry rows computed with the
    very same operations (kernels.broadphase.track_row), so the numbers are identical.
    Horizontal separation is that of screen_all_pairs: pair (i, j) in ENU_i, with the
    error bound of this module's docstring; the broad phase only drops pairs that provably
    cannot be flagged.

    Parallel over chunks of tiles (candidates and exact tests in one pass, each chunk
    writing into room reserved for it; a chunk that needs more is run again into exact
    room) and over wild tracks. Memory O(N + conflicts): per track its float32 motion,
    packed inputs and tile memberships (about 120 bytes), per conflict 72 bytes (a few
    copies); no candidate list is kept. Tracks the broad phase leaves out (non-finite
    inputs, over 10 km/s, reach T |v| over 200 km, |alt| over 1000 km) are paired with
    every track (O(N) each); if they are more than 1/8 of the table, or D, H, T lie
    outside what the broad phase covers (D or H negative, infinite, above 1000 km /
    100 km; T infinite), this falls back to :func:`screen_all_pairs`. Deterministic, and
    independent of the thread count.
    """
    check_inputs(lat_deg, lon_deg, alt_m, ve, vn, vu)
    n = lat_deg.shape[0]
    if no_conflict_possible(D, H, T) and not (D < 0.0 or H < 0.0):
        return _empty_conflicts()
    if not parameters_supported(D, H, T) or not math.isfinite(T):
        return screen_all_pairs(lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T)

    # Run-time values rather than literals: numba compiles a function once per literal
    # argument value, and these are passed down a long chain.
    far_run = n < 0
    no_reach = 0.0 * n
    reg, mo, inp, tstart, members, summary, gp = build_grid(
        lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T, far_run, no_reach
    )
    wild = np.nonzero(~reg)[0]
    nw = wild.shape[0]
    if 8 * nw > n + 64:
        return screen_all_pairs(lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T)
    oi, oj, res = _run_conflicts(tstart, members, mo, inp, n, far_run, gp, D, H, T)
    # Pairs on opposite sides of the Earth (kernels.broadphase): a second run, only for
    # pictures spanning about half the globe.
    if far_side_possible(summary, gp, D):
        _, fmo, finp, ftstart, fmembers, _, fgp = build_grid(
            lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T, not far_run, summary[13]
        )
        fi, fj, fres = _run_conflicts(ftstart, fmembers, fmo, finp, n, not far_run, fgp, D, H, T)
        oi = np.concatenate((oi, fi))
        oj = np.concatenate((oj, fj))
        res = np.concatenate((res, fres))
    if nw > 0:
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
