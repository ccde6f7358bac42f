"""Broad phase of conflict screening: candidate pairs without O(N^2) work.

Pure Numba over NumPy arrays; no I/O. :func:`build_grid` and :func:`grid_pairs` find the
pairs (i < j) that :func:`kernels.screen.screen_all_pairs` can flag, in time and memory
O(N + candidates); :func:`kernels.screen.screen_conflicts` runs the exact pair test
(:func:`kernels.pairtest.pair_conflict`) on them as they are found, and
:func:`candidate_pairs` lists them.

Method
------
* Frame: ECEF, rotated so that its third axis points at the centroid of (a fixed sample
  of) the tracks' sub-points and translated there (a regional picture then lies nearly
  flat in the first two axes, and float32 coordinates keep metre resolution). Distances
  are those of ECEF, so the poles and the antimeridian need no special case.
* Motion: track k's sub-point P_k (sea level, as in screen.py) moving with its horizontal
  velocity V_k (east/north only, in ECEF) sweeps the segment P_k + t V_k, t in [0, T],
  with a radius r_k = D/2 + s_k (+ 1 m and 1e-6 relative for rounding), s_k the
  tangent-plane slack below; its altitude sweeps alt_k + t vu_k, with a half-width H/2
  (+ 1 mm and 1e-6 relative). Stored once in float32 (start, displacement, radius,
  altitude, climb, half-width; the radius and half-width absorb the rounding), this
  "motion" is the track for everything after: boxes, altitude bounds and tests all
  derive from it, so they agree to the bit wherever they are computed.
* Grid: uniform square cells over the first two frame axes, the cell edge S about the
  largest swept-box extent (the 99.9th percentile of a sample; at most 2N + 64 cells:
  memory O(N)). A track whose box spans at most two cells per axis is "normal" and is
  filed under the cell of its box's lower corner; two normal boxes that overlap then sit
  in the same cell or in adjacent ones (the cell map is monotone and a normal box spans
  at most one cell boundary per axis), so each cell is paired with itself and four of its
  eight neighbours (+x with any y offset, and +y): every pair of neighbours once. The
  few "big" tracks (boxes over two cells wide) are paired with the normal tracks of the
  cells their box spans, widened by one cell downwards (where an overlapping normal
  box's lower corner can be), and with each other.
* Order: a counting sort files the tracks by cell; within a cell they are sorted by the
  lower end of their altitude interval over [0, T]. Two cells are then swept together in
  that order (a merge), each track meeting only the tracks whose altitude intervals
  overlap its own: flight levels prune most pairs before any geometry. A pair that
  overlaps in altitude must overlap in the three box axes and pass the same-time test
  (the least distance between the two segments, over the part of [0, T] where the
  altitudes are within reach, is below the sum of the radii) to be a candidate.
* Parallel over work items (groups of grid rows of about equal membership, and groups
  of big tracks), dealt to the threads in bit-reversed order so that dense regions spread
  over both; each item writes into room reserved for it, and items that find more are run
  again into exact room. The result is sorted afterwards and does not depend on the
  thread count.
* Candidates per track at 1 aircraft per 100 km^2 (bench.traffic): about 0.5, with 0.45
  conflicts per track (5 NM, 950 ft, 120 s).

Why the inflation is enough (all tracks "regular", see below)
-------------------------------------------------------------
screen_all_pairs measures pair (i, j), i < j, in ENU_i: horizontal relative position
p(t) = E_i^T (P_j - P_i + t (W_j - W_i)), E_i = [east_i, north_i], W_k the full ECEF
velocity (including vu_k up_k). Let u_i be the up vector (the ellipsoid normal), theta the
angle between u_i and u_j, c = |P_j - P_i|, rho = b^2 / a = 6335.4 km the smallest radius
of curvature of WGS-84, L_k = T |(ve_k, vn_k)|, U_k = T |vu_k|, A_k = L_k + U_k. With
x(t) = (P_j + t V_j) - (P_i + t V_i):

* E_i^T x(t) = p(t) - t vu_j E_i^T u_j, so |E_i^T x| < D + U_j sin(theta) at a conflict;
* u_i . x(t) = u_i . (P_j - P_i) + t u_i . V_j (u_i . V_i = 0), and for two points of the
  ellipsoid x^T G x = 1 (G = diag(a^-2, a^-2, b^-2)) the identity
  (P_j - P_i)^T G (P_j - P_i) = -2 |G P_i| u_i . (P_j - P_i) with |G P_i| >= 1/a gives
  |u_i . (P_j - P_i)| <= c^2 / (2 rho); also |u_i . V_j| <= |V_j| sin(theta);
* u = G P / |G P| gives |u_i - u_j| <= a |G (P_i - P_j)| <= c / rho, so
  sin(theta) <= c / rho;
* hence |x(t)| < D + A_j c / rho + c^2 / (2 rho).

It remains to bound c. Writing P_j = P_i + s u_i + w (w _|_ u_i, |w| = h) in the ellipsoid
equation gives alpha s^2 + 2 s (gamma + eps) + w^T G w = 0, with alpha = u_i^T G u_i,
gamma = |G P_i| >= 1/a and |eps| = |u_i^T G w| <= h tau_i,
tau_i = |sin(lat) cos(lat)| (b^-2 - a^-2). At a conflict h = |E_i^T x(0)| <
D + L_i + A_j <= G_ij := D + A_i + A_j. So s is one of two roots:

* the small one (the near side): |s| <= h^2 / (rho (1 - a h tau)), so
  c = sqrt(h^2 + s^2) <= (1 + eta) G_ij with eta of order (G / rho)^2 (1e-3 at 400 km);
  then A_j G + G^2 / 2 <= 2.5 (g_i^2 + g_j^2) with g_k = D/2 + A_k gives the separable
  slack s_k = 2.5 (1 + eta)^2 g_k^2 / rho, s_i + s_j >= the pair's excess over D. At
  100-260 m/s, |vu| <= 15 m/s, T = 120 s, D = 5 NM: s_k = 0.1-0.6 km on boxes of
  10-40 km. Then |x(t)| < r_i + r_j at the conflict time: the boxes overlap (on every
  axis, |x|_inf <= |x|) and the same-time test passes.
* the large one (the far side) is never flagged: screen_all_pairs' far-side gate
  (kernels.pairtest) drops pairs with s < -rho. The two roots sum to
  -2 (gamma + eps) / alpha, and alpha <= b^-2, gamma >= 1/a, so the large one is at most
  -2 rho + 2 h tau b^2 + |small root| <= -2 rho + 9.4 km + 310 km < -rho for any
  h <= D_MAX + 2 A_MAX = 1400 km (2 tau b^2 <= e^2 = 0.0067). Aircraft on the far side
  of the Earth, whose tangent-plane projections can come within D, therefore need no
  search of their own.

Tracks outside the analysis ("wild": any non-finite input, |alt| > 1000 km, a speed
component above 10 km/s, or A_k > 200 km) are not put in the grid: every pair with a
wild track is a candidate (O(N W)). Parameters the analysis does not cover (D or H
negative, infinite or above 1000 km / 100 km, T infinite) are refused by
:func:`candidate_pairs`; :func:`kernels.screen.screen_conflicts` then falls back to the
brute force.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from kernels.geo import WGS84_A, WGS84_B, enu_basis_1, geodetic_to_ecef_1
from kernels.pairtest import pair_conflict, store_result

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
B1 = npt.NDArray[np.bool_]

# One track's geometry (see _geometry_1): sub-point ECEF, east and north unit vectors,
# velocity in ECEF.
Geometry = tuple[float, float, float, float, float, float, float, float, float, float, float, float]

# Smallest radius of curvature of the ellipsoid (meridian at the equator), m.
_RHO = WGS84_B * WGS84_B / WGS84_A
_INV_A2 = 1.0 / (WGS84_A * WGS84_A)
_INV_B2 = 1.0 / (WGS84_B * WGS84_B)
# Largest tau = |sin(lat) cos(lat)| (b^-2 - a^-2), 1/m^2.
_TAU_MAX = 0.5 * (_INV_B2 - _INV_A2)

# Limits of a "regular" track (one the grid takes); the others are paired with every
# track. A_MAX bounds T (|v_h| + |v_u|), the reach over the look-ahead, m.
A_MAX = 200e3
SPEED_MAX = 1e4
ALT_MAX = 1e6
# Parameters the analysis covers; beyond them candidate_pairs refuses.
D_MAX = 1e6
H_MAX = 1e5

# Rounding margins: the exact test decides within a few ulp of D, H and |p| (<< 1 mm
# here), the geometry is exact to ~1e-9 m; these dwarf both.
_ABS_MARGIN = 1.0
_ALT_ABS_MARGIN = 1e-3
_REL_MARGIN = 1e-6
# float32 values: subtracting 2^-22 |v| before rounding to nearest guarantees a result
# below v (the float32 rounding error is at most 2^-24 |v|).
_F32_REL = 2.0**-22

# Cell edge: this quantile of the sampled boxes' extents. Every box up to it is normal;
# a larger cell would make every cell pair longer, a smaller one many tracks big.
_CELL_QUANTILE = 0.999
_CELLS_PER_TRACK = 2
# Tracks per chunk of the per-track pass; most grid-row groups and big-track groups of
# the pair search (fixed numbers rather than the thread count: numba.get_num_threads()
# inside a kernel would stop it being cached, and fixed chunks split the work the same
# way everywhere).
_CHUNK = 4096
_ROW_GROUPS = 256
_BIG_GROUP = 32
# Output rows reserved per track of a work item before it must run again.
_ROOM_PER_TRACK = 1
# Tracks sampled to plan the grid (frame, extent, cell size).
_PLAN_SAMPLES = 4096
# Cells up to this many tracks are sorted by insertion; larger ones by merge sort.
_INSERTION_MAX = 32


@njit(cache=True, inline="always")
def _geometry_1(
    lat_deg: float, lon_deg: float, ve: float, vn: float, vu: float
) -> tuple[float, float, float, float, float, float, float, float, float, float, float, float]:
    """One track's geometry, with exactly the operations of screen_all_pairs (so the
    exact pair test gives bit-identical results): sub-point ECEF (m), east and north
    unit vectors, velocity in ECEF (m/s)."""
    x, y, z = geodetic_to_ecef_1(lat_deg, lon_deg, 0.0)
    ex, ey, ez, nx, ny, nz, ux, uy, uz = enu_basis_1(lat_deg, lon_deg)
    return (
        x, y, z, ex, ey, ez, nx, ny, nz,
        ve * ex + vn * nx + vu * ux,
        ve * ey + vn * ny + vu * uy,
        ve * ez + vn * nz + vu * uz,
    )  # fmt: skip


@njit(cache=True, inline="always")
def track_row(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, k: int, out: F64, t: int
) -> None:
    """out[t] := track k's row of the track table (see :func:`track_table`)."""
    g = _geometry_1(lat_deg[k], lon_deg[k], ve[k], vn[k], vu[k])
    for c in range(12):
        out[t, c] = g[c]
    out[t, 12] = alt_m[k]
    out[t, 13] = ve[k]
    out[t, 14] = vn[k]
    out[t, 15] = vu[k]


@njit(cache=True, parallel=True)
def track_table(lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64) -> F64:
    """Per-track table float64[N, 16]: columns 0-11 the geometry exactly as
    screen_all_pairs builds it: 0-2 sub-point ECEF (m), 3-5 east and 6-8 north unit
    vectors, 9-11 velocity in ECEF (m/s); then 12 alt_m (m), 13-15 ve, vn, vu (m/s).
    Inputs float64[N]: degrees, m, m/s in each track's own ENU."""
    n = lat_deg.shape[0]
    tab = np.empty((n, 16), dtype=np.float64)
    for k in prange(n):
        track_row(lat_deg, lon_deg, alt_m, ve, vn, vu, k, tab, k)
    return tab


@njit(cache=True)
def parameters_supported(D: float, H: float, T: float) -> bool:
    """Whether the broad phase covers (D, H, T) (m, m, s): D and H finite, in [0, D_MAX]
    and [0, H_MAX]; T anything (T < 0 or NaN simply has no conflicts)."""
    return 0.0 <= D <= D_MAX and 0.0 <= H <= H_MAX


@njit(cache=True)
def no_conflict_possible(D: float, H: float, T: float) -> bool:
    """True when the strict test can flag nothing: D or H zero or NaN, T negative or NaN
    (for D, H >= 0; see kernels.cpa)."""
    return not (D > 0.0 and H > 0.0 and T >= 0.0)


@njit(cache=True, inline="always")
def _f32_down(v: float) -> np.float32:
    """A float32 <= v (v finite, |v| < 3e38)."""
    return np.float32(v - (abs(v) * _F32_REL + 1e-30))


@njit(cache=True, inline="always")
def _f32_up(v: float) -> np.float32:
    """A float32 >= v."""
    return np.float32(v + (abs(v) * _F32_REL + 1e-30))


@njit(cache=True, inline="always")
def _cell(v: np.float32, lo: float, inv: float, n: int) -> int:
    """Grid coordinate of a float32 box coordinate: floor((v - lo) * inv) clamped to
    [0, n-1]. Monotone in v, and computed the same way everywhere, so a box's cell range
    and the cell of an intersection corner always agree."""
    c = math.floor((np.float64(v) - lo) * inv)
    if c < 0.0:
        return 0
    if c > n - 1:
        return n - 1
    return int(c)


@njit(cache=True)
def slack_coefficient(D: float) -> float:
    """c such that the tangent-plane slack of a track is s_k = c g_k^2, g_k = D/2 + A_k
    (m), for every track the grid takes (A_k <= A_MAX); 1/m. See the module docstring:
    2.5 (1 + eta)^2 / rho with eta bounded at G = D + 2 A_MAX."""
    big = D + 2.0 * A_MAX
    q = big / (_RHO * (1.0 - WGS84_A * big * _TAU_MAX))
    eta = math.sqrt(1.0 + q * q) - 1.0
    return 2.5 * (1.0 + eta) ** 2 / _RHO


@njit(cache=True, inline="always")
def _regular(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, k: int, T: float
) -> tuple[bool, float]:
    """Whether track k is regular (the grid takes it), and its reach
    A_k = T (|(ve, vn)| + |vu|) (m)."""
    a = T * (math.sqrt(ve[k] * ve[k] + vn[k] * vn[k]) + abs(vu[k]))
    # Finite latitude and longitude make the geometry finite; written so that NaN fails
    # every test, and without branches (& rather than and).
    ok = (
        (abs(lat_deg[k]) < math.inf)
        & (abs(lon_deg[k]) < math.inf)
        & (abs(alt_m[k]) <= ALT_MAX)
        & (abs(ve[k]) <= SPEED_MAX)
        & (abs(vn[k]) <= SPEED_MAX)
        & (abs(vu[k]) <= SPEED_MAX)
        & (a >= 0.0)
        & (a <= A_MAX)
    )
    return ok, a


@njit(cache=True, inline="always")
def _box(
    mo: F32, k: int
) -> tuple[np.float32, np.float32, np.float32, np.float32, np.float32, np.float32]:
    """Swept box (xlo, xhi, ylo, yhi, zlo, zhi; float32, rounded outwards; m) of the
    float32 motion row k (see _place): every user derives it from the motion alone, so
    boxes, cell ranges and the same-time test agree to the bit."""
    r = np.float64(mo[k, 6])
    px = np.float64(mo[k, 0])
    py = np.float64(mo[k, 1])
    pz = np.float64(mo[k, 2])
    qx = px + np.float64(mo[k, 3])
    qy = py + np.float64(mo[k, 4])
    qz = pz + np.float64(mo[k, 5])
    return (
        _f32_down(min(px, qx) - r),
        _f32_up(max(px, qx) + r),
        _f32_down(min(py, qy) - r),
        _f32_up(max(py, qy) + r),
        _f32_down(min(pz, qz) - r),
        _f32_up(max(pz, qz) + r),
    )


@njit(cache=True, inline="always")
def _same_time(pm: F32, a: int, b: int) -> bool:
    """Whether objects a and b (rows of float32 motions pm, see _place) can be within
    the sum of their radii horizontally and within the sum of their altitude
    half-widths vertically at one and the same time of [0, T]: the swept boxes and
    altitude intervals only say "somewhere, at some times". Exact arithmetic on the
    float32 motions, whose rounding the radii and half-widths include; the time window
    is widened by 1e-9 (of T) against the rounding here."""
    # Vertical: the window of tau = t / T in [0, 1] with |dz| <= hm.
    dz0 = np.float64(pm[b, 7]) - np.float64(pm[a, 7])
    dv = np.float64(pm[b, 8]) - np.float64(pm[a, 8])
    hm = np.float64(pm[a, 9]) + np.float64(pm[b, 9])
    lo = 0.0
    hi = 1.0
    if dv == 0.0:
        if not abs(dz0) <= hm:
            return False
    else:
        t1 = (-hm - dz0) / dv
        t2 = (hm - dz0) / dv
        lo = max(lo, min(t1, t2) - 1e-9)
        hi = min(hi, max(t1, t2) + 1e-9)
        if lo > hi:
            return False
    # Horizontal: the least distance over that window.
    x0 = np.float64(pm[b, 0]) - np.float64(pm[a, 0])
    y0 = np.float64(pm[b, 1]) - np.float64(pm[a, 1])
    z0 = np.float64(pm[b, 2]) - np.float64(pm[a, 2])
    wx = np.float64(pm[b, 3]) - np.float64(pm[a, 3])
    wy = np.float64(pm[b, 4]) - np.float64(pm[a, 4])
    wz = np.float64(pm[b, 5]) - np.float64(pm[a, 5])
    ww = wx * wx + wy * wy + wz * wz
    t = lo
    if ww > 0.0:
        t = min(max(-(x0 * wx + y0 * wy + z0 * wz) / ww, lo), hi)
    dx = x0 + t * wx
    dy = y0 + t * wy
    dz = z0 + t * wz
    rr = np.float64(pm[a, 6]) + np.float64(pm[b, 6])
    return bool(dx * dx + dy * dy + dz * dz < rr * rr)


@njit(cache=True)
def pair_order(pi: I64, pj: I64, n: int) -> I64:
    """Permutation int64[K] that sorts distinct pairs (pi, pj) (int64[K], indices < n) by
    (i, j): a counting sort on i (O(N + K)), then an insertion sort within each row (rows
    hold a handful of pairs). Deterministic: distinct pairs have one sorted order."""
    k = pi.shape[0]
    row = np.zeros(n + 1, dtype=np.int64)
    for q in range(k):
        row[pi[q] + 1] += 1
    for r in range(n):
        row[r + 1] += row[r]
    fill = row[:n].copy()
    perm = np.empty(k, dtype=np.int64)
    for q in range(k):
        perm[fill[pi[q]]] = q
        fill[pi[q]] += 1
    for r in range(n):
        for p in range(row[r] + 1, row[r + 1]):
            v = perm[p]
            key = pj[v]
            m = p - 1
            while m >= row[r] and pj[perm[m]] > key:
                perm[m + 1] = perm[m]
                m -= 1
            perm[m + 1] = v
    return perm


@njit(cache=True)
def check_inputs(lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64) -> None:
    """ValueError unless the six columns have one length."""
    n = lat_deg.shape[0]
    if (
        lon_deg.shape[0] != n
        or alt_m.shape[0] != n
        or ve.shape[0] != n
        or vn.shape[0] != n
        or vu.shape[0] != n
    ):
        raise ValueError("all inputs must have the same length")


@njit(cache=True, inline="always")
def _motion(
    g: tuple[float, float, float, float, float, float, float, float, float, float, float, float],
    ve_k: float, vn_k: float, reach: float, rot: F64, origin: F64, coef: float, D: float,
    T: float,
) -> tuple[float, float, float, float, float, float, float]:  # fmt: skip
    """A track's horizontal motion in the grid frame, from its geometry g (_geometry_1):
    start point (3, m), displacement over T (3, m), radius (m). It starts at its
    sub-point and moves with its horizontal velocity (east and north only; vertical
    motion is the altitude's)."""
    dx = g[0] - origin[0]
    dy = g[1] - origin[1]
    dz = g[2] - origin[2]
    vx = ve_k * g[3] + vn_k * g[6]
    vy = ve_k * g[4] + vn_k * g[7]
    vz = ve_k * g[5] + vn_k * g[8]
    px = rot[0, 0] * dx + rot[0, 1] * dy + rot[0, 2] * dz
    py = rot[1, 0] * dx + rot[1, 1] * dy + rot[1, 2] * dz
    pz = rot[2, 0] * dx + rot[2, 1] * dy + rot[2, 2] * dz
    wx = T * (rot[0, 0] * vx + rot[0, 1] * vy + rot[0, 2] * vz)
    wy = T * (rot[1, 0] * vx + rot[1, 1] * vy + rot[1, 2] * vz)
    wz = T * (rot[2, 0] * vx + rot[2, 1] * vy + rot[2, 2] * vz)
    gk = 0.5 * D + reach
    r = 0.5 * D + coef * gk * gk + _ABS_MARGIN + _REL_MARGIN * (D + reach)
    return px, py, pz, wx, wy, wz, r


@njit(cache=True, inline="always")
def _alt_motion(alt_k: float, vu_k: float, H: float, T: float) -> tuple[float, float, float]:
    """The vertical part of a track's motion in float32 (motion columns 7-9): altitude
    (m), vertical displacement over T (m), altitude half-width (m; rounded up over the
    margin, so that it absorbs the rounding of the other two). Computed without the
    geometry, so that a track's altitude interval is known before it is placed."""
    dalt = T * vu_k
    m_alt = 0.5 * H + _ALT_ABS_MARGIN + _REL_MARGIN * (2.0 * abs(alt_k) + abs(dalt) + H)
    return (
        np.float64(np.float32(alt_k)),
        np.float64(np.float32(dalt)),
        np.float64(_f32_up(m_alt + _F32_REL * (abs(alt_k) + abs(dalt)) + _ALT_ABS_MARGIN)),
    )


@njit(cache=True, inline="always")
def _alt_bounds(a0: float, dalt: float, m: float) -> tuple[np.float32, np.float32]:
    """Altitude interval (float32, rounded outwards; m) over [0, T] of the float32
    vertical motion (a0, dalt, m) (see _alt_motion)."""
    a1 = a0 + dalt
    return _f32_down(min(a0, a1) - m), _f32_up(max(a0, a1) + m)


@njit(cache=True, inline="always")
def _place(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, k: int, reach: float,
    rot: F64, origin: F64, coef: float, D: float, H: float, T: float, mo: F32, p: int,
) -> None:  # fmt: skip
    """Regular track k's motion into mo[p] (float32[., 10]: start point 0-2 and
    displacement over T 3-5 in the grid frame, radius 6, altitude 7, vertical
    displacement over T 8, altitude half-width 9; m); reach: T (|v_h| + |v_u|) (m).
    Rounding the start point and displacement moves the segment by at most
    2^-22 (|p| + |w|), which the stored radius absorbs; likewise the altitude margin.
    From here on the float32 motion is the track: boxes, altitude intervals and the
    same-time test all derive from it, so they agree to the bit wherever computed."""
    g = _geometry_1(lat_deg[k], lon_deg[k], ve[k], vn[k], vu[k])
    px, py, pz, wx, wy, wz, r = _motion(g, ve[k], vn[k], reach, rot, origin, coef, D, T)
    mo[p, 0] = np.float32(px)
    mo[p, 1] = np.float32(py)
    mo[p, 2] = np.float32(pz)
    mo[p, 3] = np.float32(wx)
    mo[p, 4] = np.float32(wy)
    mo[p, 5] = np.float32(wz)
    big = max(abs(px), abs(py), abs(pz)) + max(abs(wx), abs(wy), abs(wz))
    mo[p, 6] = _f32_up(r + _F32_REL * big + 0.01)
    a0, dalt, m = _alt_motion(alt_m[k], vu[k], H, T)
    mo[p, 7] = a0
    mo[p, 8] = dalt
    mo[p, 9] = m


@njit(cache=True)
def _plan(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, coef: float,
    D: float, H: float, T: float,
) -> tuple[F64, F64, F64, float, int, int]:  # fmt: skip
    """Grid plan from a fixed sample of the tracks: rotation float64[3, 3] (rows: grid
    axes in ECEF), origin float64[3] (m), the grid's lower corner float64[2] (m), cell
    edge (m) and dimensions nx, ny.

    Third axis towards the sample's centroid, origin there (for tracks all over the globe
    the centroid is near the Earth's centre and the ECEF axes are kept). None of this
    affects which pairs are found, only how fast: cell coordinates are clamped to the
    grid (a monotone map, so the neighbour argument holds), and a track outside the
    sampled extent simply lands in a border cell.
    """
    n = lat_deg.shape[0]
    step = max(1, n // _PLAN_SAMPLES)
    rot = np.eye(3, dtype=np.float64)
    origin = np.zeros(3, dtype=np.float64)
    cnt = 0
    for k in range(0, n, step):
        if _regular(lat_deg, lon_deg, alt_m, ve, vn, vu, k, T)[0]:
            x, y, z = geodetic_to_ecef_1(lat_deg[k], lon_deg[k], 0.0)
            origin[0] += x
            origin[1] += y
            origin[2] += z
            cnt += 1
    if cnt > 0:
        for c in range(3):
            origin[c] /= cnt
    norm = math.sqrt(origin[0] ** 2 + origin[1] ** 2 + origin[2] ** 2)
    if norm >= 1e5:
        zx = origin[0] / norm
        zy = origin[1] / norm
        zz = origin[2] / norm
        # x axis: the ECEF axis least aligned with z, made orthogonal to it.
        if abs(zx) <= abs(zy) and abs(zx) <= abs(zz):
            ax, ay, az = 1.0, 0.0, 0.0
        elif abs(zy) <= abs(zz):
            ax, ay, az = 0.0, 1.0, 0.0
        else:
            ax, ay, az = 0.0, 0.0, 1.0
        d = ax * zx + ay * zy + az * zz
        xx = ax - d * zx
        xy = ay - d * zy
        xz = az - d * zz
        xn = math.sqrt(xx * xx + xy * xy + xz * xz)
        rot[0, 0], rot[0, 1], rot[0, 2] = xx / xn, xy / xn, xz / xn
        rot[1, 0] = zy * rot[0, 2] - zz * rot[0, 1]
        rot[1, 1] = zz * rot[0, 0] - zx * rot[0, 2]
        rot[1, 2] = zx * rot[0, 1] - zy * rot[0, 0]
        rot[2, 0], rot[2, 1], rot[2, 2] = zx, zy, zz
    lo = np.full(2, math.inf)
    hi = np.full(2, -math.inf)
    ext = np.empty(n // step + 1, dtype=np.float64)
    row = np.empty((1, 10), dtype=np.float32)
    cnt = 0
    for k in range(0, n, step):
        ok, a = _regular(lat_deg, lon_deg, alt_m, ve, vn, vu, k, T)
        if not ok:
            continue
        _place(lat_deg, lon_deg, alt_m, ve, vn, vu, k, a, rot, origin, coef, D, H, T, row, 0)
        xl, xh, yl, yh, _, _ = _box(row, 0)
        lo[0] = min(lo[0], np.float64(xl))
        hi[0] = max(hi[0], np.float64(xh))
        lo[1] = min(lo[1], np.float64(yl))
        hi[1] = max(hi[1], np.float64(yh))
        ext[cnt] = max(np.float64(xh) - np.float64(xl), np.float64(yh) - np.float64(yl))
        cnt += 1
    size = 1.0
    if cnt > 0:
        e = np.sort(ext[:cnt])
        size = max(e[min(cnt - 1, int(_CELL_QUANTILE * cnt))] * 1.001, 1.0)
    else:
        lo[:] = 0.0
        hi[:] = 0.0
    # Some room for tracks the sample missed.
    for c in range(2):
        pad = 0.05 * (hi[c] - lo[c]) + size
        lo[c] -= pad
        hi[c] += pad
    cap = _CELLS_PER_TRACK * n + 64
    while True:
        nx = int((hi[0] - lo[0]) / size) + 1
        ny = int((hi[1] - lo[1]) / size) + 1
        if nx * ny <= cap:
            break
        size *= max(math.sqrt(nx * ny / cap), 1.01)
    return rot, origin, lo, size, nx, ny


@njit(cache=True)
def _cells_chunk(
    k0: int, k1: int, lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64,
    rot: F64, origin: F64, gp: F64, coef: float, D: float, H: float, T: float, mo: F32,
    inp: F64, code: I32,
) -> None:  # fmt: skip
    """Tracks [k0, k1) of _cells."""
    x_lo, y_lo, inv, nx, ny = _grid_params(gp)
    for k in range(k0, k1):
        ok, a = _regular(lat_deg, lon_deg, alt_m, ve, vn, vu, k, T)
        if not ok:
            code[k] = -1
            continue
        _place(lat_deg, lon_deg, alt_m, ve, vn, vu, k, a, rot, origin, coef, D, H, T, mo, k)
        inp[k, 0] = lat_deg[k]
        inp[k, 1] = lon_deg[k]
        inp[k, 2] = alt_m[k]
        inp[k, 3] = ve[k]
        inp[k, 4] = vn[k]
        inp[k, 5] = vu[k]
        xl, xh, yl, yh, _, _ = _box(mo, k)
        cx0 = _cell(xl, x_lo, inv, nx)
        cy0 = _cell(yl, y_lo, inv, ny)
        if _cell(xh, x_lo, inv, nx) - cx0 > 1 or _cell(yh, y_lo, inv, ny) - cy0 > 1:
            code[k] = -2
        else:
            code[k] = cx0 * ny + cy0


@njit(cache=True, parallel=True)
def _cells(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, rot: F64,
    origin: F64, gp: F64, coef: float, D: float, H: float, T: float, mo: F32, inp: F64,
    code: I32,
) -> None:  # fmt: skip
    """mo[k] := regular track k's motion (see _place; mo: float32[N, 10]), inp[k] := its
    inputs packed in a row (lat, lon, alt, ve, vn, vu; inp: float64[N, 6]: one or two
    cache lines to fetch later rather than six), code[k] := its cell if it is normal,
    -2 if big, -1 if wild (code: int32[N])."""
    n = lat_deg.shape[0]
    nch = (n + _CHUNK - 1) // _CHUNK
    # Each prange body is a call, with int64 arguments (a prange index is unsigned, and a
    # helper called with both would be compiled twice); no name in it is shared with
    # the serial code (numba would take such a name for a reduction variable).
    for ch in prange(nch):
        c = int(np.int64(ch))
        _cells_chunk(
            c * _CHUNK, min(n, (c + 1) * _CHUNK), lat_deg, lon_deg, alt_m, ve, vn, vu, rot,
            origin, gp, coef, D, H, T, mo, inp, code,
        )  # fmt: skip


@njit(cache=True)
def _bucket(code: I32, cstart: I64, order: I32) -> tuple[int, I64, I64]:
    """Tracks by cell (counting sort, O(N + cells)): cstart[c] := the first position of
    cell c (cstart: int64[cells + 1]), order[:M] := the normal tracks cell by cell,
    ascending within a cell (order: int32[N]). Returns M, the big tracks int64[B] and
    the wild ones int64[W], ascending."""
    n = code.shape[0]
    ncells = cstart.shape[0] - 1
    cstart[:] = 0
    nb = 0
    nw = 0
    for k in range(n):
        c = code[k]
        if c >= 0:
            cstart[c + 1] += 1
        elif c == -2:
            nb += 1
        else:
            nw += 1
    for c in range(ncells):
        cstart[c + 1] += cstart[c]
    fill = cstart[:ncells].copy()
    bigs = np.empty(nb, dtype=np.int64)
    wild = np.empty(nw, dtype=np.int64)
    nb = 0
    nw = 0
    for k in range(n):
        c = code[k]
        if c >= 0:
            order[fill[c]] = k
            fill[c] += 1
        elif c == -2:
            bigs[nb] = k
            nb += 1
        else:
            wild[nw] = k
            nw += 1
    return int(cstart[ncells]), bigs, wild


@njit(cache=True)
def _row_groups(cstart: I64, nx: int, ny: int) -> I64:
    """Boundaries int64[groups + 1] of contiguous grid-row ranges holding about equal
    numbers of tracks (at most _ROW_GROUPS ranges)."""
    # A run-time value on purpose: with a global constant as an array size and prange
    # bound, numba 0.68 miscompiles the parallel loop.
    ngroup = max(1, min(_ROW_GROUPS + 0 * nx, nx))
    total = cstart[nx * ny]
    bounds = np.empty(ngroup + 1, dtype=np.int64)
    bounds[0] = 0
    row = 0
    for g in range(1, ngroup):
        target = total * g // ngroup
        while row < nx and cstart[row * ny] < target:
            row += 1
        bounds[g] = max(row, bounds[g - 1])
    bounds[ngroup] = nx
    return bounds


@njit(cache=True, inline="always")
def _put(p: int, k: int, mo: F32, inp: F64, sb: F32, smo: F32, sin_: F64, sidx: I32) -> None:
    """Track k at position p of the grid order: its motion smo[p], box and altitude
    interval sb[:, p], inputs sin_[:, p] (lat, lon, alt, ve, vn, vu) and sidx[p] = k.
    A pair test then reads two nearby positions rather than two rows anywhere in the
    track order."""
    for c in range(10):
        smo[p, c] = mo[k, c]
    xl, xh, yl, yh, zl, zh = _box(smo, p)
    al, ah = _alt_bounds(np.float64(smo[p, 7]), np.float64(smo[p, 8]), np.float64(smo[p, 9]))
    sb[0, p] = xl
    sb[1, p] = xh
    sb[2, p] = yl
    sb[3, p] = yh
    sb[4, p] = zl
    sb[5, p] = zh
    sb[6, p] = al
    sb[7, p] = ah
    for c in range(6):
        sin_[c, p] = inp[k, c]
    sidx[p] = k


@njit(cache=True)
def _sort_rows(
    r0: int, r1: int, cstart: I64, order: I32, mo: F32, inp: F64, gp: F64, sb: F32,
    smo: F32, sin_: F64, sidx: I32,
) -> None:  # fmt: skip
    """The cells of grid rows [r0, r1): their tracks sorted by the lower end of their
    altitude interval and put at the cells' positions (see _put)."""
    ny = int(gp[4])
    c0 = r0 * ny
    c1 = r1 * ny
    m = 1
    for c in range(c0, c1):
        m = max(m, cstart[c + 1] - cstart[c])
    key = np.empty(m, dtype=np.float32)
    trk = np.empty(m, dtype=np.int32)
    for c in range(c0, c1):
        s = cstart[c]
        mc = cstart[c + 1] - s
        if mc == 0:
            continue
        for r in range(mc):
            k = order[s + r]
            key[r] = _alt_bounds(np.float64(mo[k, 7]), np.float64(mo[k, 8]), np.float64(mo[k, 9]))[
                0
            ]
            trk[r] = k
        if mc <= _INSERTION_MAX:
            for r in range(1, mc):
                kv = key[r]
                kt = trk[r]
                q = r - 1
                while q >= 0 and key[q] > kv:
                    key[q + 1] = key[q]
                    trk[q + 1] = trk[q]
                    q -= 1
                key[q + 1] = kv
                trk[q + 1] = kt
        else:
            perm = np.argsort(key[:mc], kind="mergesort")
            tmp = trk[:mc].copy()
            for r in range(mc):
                trk[r] = tmp[perm[r]]
        for r in range(mc):
            _put(s + r, int(trk[r]), mo, inp, sb, smo, sin_, sidx)


@njit(cache=True, parallel=True)
def _order_tracks(
    cstart: I64, order: I32, bigs: I64, groups: I64, mo: F32, inp: F64, gp: F64, sb: F32,
    smo: F32, sin_: F64, sidx: I32,
) -> None:  # fmt: skip
    """The tracks in grid order: the normal ones cell by cell, each cell's by the lower
    end of their altitude interval (positions 0 .. M-1), then the big ones (M .. M+B-1),
    each put as _put does. Parallel over the row groups."""
    ng = groups.shape[0] - 1
    for gg in prange(ng):
        g = int(np.int64(gg))
        _sort_rows(
            groups[g], groups[g + 1], cstart, order, mo, inp, gp, sb, smo, sin_, sidx
        )  # fmt: skip
    nn = int(gp[5])
    for q in range(bigs.shape[0]):
        _put(nn + q, int(bigs[q]), mo, inp, sb, smo, sin_, sidx)


@njit(cache=True, inline="always")
def _emit(
    p: int, t: int, smo: F32, sin_: F64, sidx: I32, loc: F64, lin: F64, D: float, H: float,
    T: float, exact: bool, oi: I32, oj: I32, res: F64, o0: int, cap: int, k: int,
) -> int:  # fmt: skip
    """Positions p and t, whose boxes and altitude intervals overlap: the same-time test,
    then (if exact) the exact pair test on the two tracks' rows, built here (scratch loc
    float64[2, 12], lin float64[4, 2]) by the very operations screen_all_pairs uses, the
    lower track first as it orders a pair, so that the result is the same bit for bit.
    A pair that passes is written at row o0 + k if k < cap. Returns the new count."""
    if not _same_time(smo, p, t):
        return k
    if sidx[p] > sidx[t]:
        p, t = t, p
    if exact:
        for r in range(2):
            q = p if r == 0 else t
            g = _geometry_1(sin_[0, q], sin_[1, q], sin_[3, q], sin_[4, q], sin_[5, q])
            loc[r, 0] = g[0]
            loc[r, 1] = g[1]
            loc[r, 2] = g[2]
            loc[r, 3] = g[3]
            loc[r, 4] = g[4]
            loc[r, 5] = g[5]
            loc[r, 6] = g[6]
            loc[r, 7] = g[7]
            loc[r, 8] = g[8]
            loc[r, 9] = g[9]
            loc[r, 10] = g[10]
            loc[r, 11] = g[11]
            lin[0, r] = sin_[2, q]
            lin[1, r] = sin_[3, q]
            lin[2, r] = sin_[4, q]
            lin[3, r] = sin_[5, q]
        res_ = pair_conflict(0, 1, loc, lin[0], lin[1], lin[2], lin[3], D, H, T)
        if not res_[0]:
            return k
        if k < cap:
            oi[o0 + k] = sidx[p]
            oj[o0 + k] = sidx[t]
            store_result(res, o0 + k, res_)
    elif k < cap:
        oi[o0 + k] = sidx[p]
        oj[o0 + k] = sidx[t]
    return k + 1


@njit(cache=True, inline="always")
def _boxes_meet(sb: F32, p: int, t: int) -> bool:
    """Whether the boxes at positions p and t overlap on all three axes."""
    return bool(
        (sb[0, t] <= sb[1, p])
        & (sb[1, t] >= sb[0, p])
        & (sb[2, t] <= sb[3, p])
        & (sb[3, t] >= sb[2, p])
        & (sb[4, t] <= sb[5, p])
        & (sb[5, t] >= sb[4, p])
    )


@njit(cache=True)
def _sweep_rows(
    r0: int, r1: int, nx: int, ny: int, cstart: I64, sb: F32, smo: F32, sin_: F64,
    sidx: I32, D: float, H: float, T: float, exact: bool, oi: I32, oj: I32, res: F64,
    o0: int, cap: int,
) -> int:  # fmt: skip
    """Pairs among the normal tracks of grid rows [r0, r1), each cell with itself and
    its neighbours (cx + 1, cy - 1 .. cy + 1) and (cx, cy + 1); see _emit for the
    output. Returns the count."""
    loc = np.empty((2, 12), dtype=np.float64)
    lin = np.empty((4, 2), dtype=np.float64)
    k = 0
    for cx in range(r0, r1):
        for cy in range(ny):
            c = cx * ny + cy
            s = cstart[c]
            e = cstart[c + 1]
            if s == e:
                continue
            # The cell itself: partners follow in altitude order while they can overlap.
            for p in range(s, e):
                top = sb[7, p]
                t = p + 1
                while t < e and sb[6, t] <= top:
                    if _boxes_meet(sb, p, t):
                        k = _emit(
                            p, t, smo, sin_, sidx, loc, lin, D, H, T, exact, oi, oj, res, o0, cap,
                            k,
                        )  # fmt: skip
                    t += 1
            for nb in range(4):
                if nb == 0:
                    if cy + 1 >= ny:
                        continue
                    c2 = c + 1
                else:
                    cy2 = cy + nb - 2
                    if cx + 1 >= nx or cy2 < 0 or cy2 >= ny:
                        continue
                    c2 = (cx + 1) * ny + cy2
                s2 = cstart[c2]
                e2 = cstart[c2 + 1]
                if s2 == e2:
                    continue
                # Two cells: a merge in altitude order; the track with the lower
                # interval start meets the other cell's tracks from the merge point on.
                p = s
                q = s2
                while p < e and q < e2:
                    if sb[6, p] <= sb[6, q]:
                        top = sb[7, p]
                        t = q
                        while t < e2 and sb[6, t] <= top:
                            if _boxes_meet(sb, p, t):
                                k = _emit(
                                    p, t, smo, sin_, sidx, loc, lin, D, H, T, exact, oi, oj,
                                    res, o0, cap, k,
                                )  # fmt: skip
                            t += 1
                        p += 1
                    else:
                        top = sb[7, q]
                        t = p
                        while t < e and sb[6, t] <= top:
                            if _boxes_meet(sb, q, t):
                                k = _emit(
                                    q, t, smo, sin_, sidx, loc, lin, D, H, T, exact, oi, oj,
                                    res, o0, cap, k,
                                )  # fmt: skip
                            t += 1
                        q += 1
    return k


@njit(cache=True)
def _sweep_bigs(
    b0: int, b1: int, gp: F64, cstart: I64, sb: F32, smo: F32, sin_: F64, sidx: I32,
    D: float, H: float, T: float, exact: bool, oi: I32, oj: I32, res: F64, o0: int,
    cap: int,
) -> int:  # fmt: skip
    """Pairs of the big tracks at positions [b0, b1) (after all the normal ones): with
    the normal tracks of the cells their box spans, widened by one cell downwards on
    each axis (where an overlapping normal box's lower corner can lie), and with the big
    tracks after them. See _emit for the output. Returns the count."""
    x_lo, y_lo, inv, nx, ny = _grid_params(gp)
    loc = np.empty((2, 12), dtype=np.float64)
    lin = np.empty((4, 2), dtype=np.float64)
    k = 0
    total = sidx.shape[0]
    for a in range(b0, b1):
        cx0 = max(_cell(sb[0, a], x_lo, inv, nx) - 1, 0)
        cx1 = _cell(sb[1, a], x_lo, inv, nx)
        cy0 = max(_cell(sb[2, a], y_lo, inv, ny) - 1, 0)
        cy1 = _cell(sb[3, a], y_lo, inv, ny)
        top = sb[7, a]
        for cx in range(cx0, cx1 + 1):
            for cy in range(cy0, cy1 + 1):
                c = cx * ny + cy
                for t in range(cstart[c], cstart[c + 1]):
                    # Sorted by the interval's lower end: nothing further can overlap.
                    if sb[6, t] > top:
                        break
                    if sb[7, t] >= sb[6, a] and _boxes_meet(sb, a, t):
                        k = _emit(
                            a, t, smo, sin_, sidx, loc, lin, D, H, T, exact, oi, oj, res, o0, cap,
                            k,
                        )  # fmt: skip
        for t in range(a + 1, total):
            if sb[6, t] <= top and sb[7, t] >= sb[6, a] and _boxes_meet(sb, a, t):
                k = _emit(a, t, smo, sin_, sidx, loc, lin, D, H, T, exact, oi, oj, res, o0, cap, k)
    return k


@njit(cache=True)
def _grid_params(gp: F64) -> tuple[float, float, float, int, int]:
    """The grid's parameters gp float64[6]: lower corner (m), inverse cell edge (1/m),
    dimensions nx, ny (gp[5]: the number of normal tracks)."""
    return gp[0], gp[1], gp[2], int(gp[3]), int(gp[4])


@njit(cache=True)
def _work_item(
    w: int, groups: I64, gp: F64, cstart: I64, sb: F32, smo: F32, sin_: F64, sidx: I32,
    D: float, H: float, T: float, exact: bool, oi: I32, oj: I32, res: F64, o0: int,
    cap: int,
) -> int:  # fmt: skip
    """Work item w: a group of grid rows (w < number of row groups), else a group of
    big tracks. Returns its count (see _emit)."""
    ng = groups.shape[0] - 1
    if w < ng:
        return _sweep_rows(
            groups[w], groups[w + 1], int(gp[3]), int(gp[4]), cstart, sb, smo, sin_, sidx, D,
            H, T, exact, oi, oj, res, o0, cap,
        )  # fmt: skip
    b0 = int(gp[5]) + (w - ng) * _BIG_GROUP
    b1 = min(sidx.shape[0], b0 + _BIG_GROUP)
    return _sweep_bigs(
        b0, b1, gp, cstart, sb, smo, sin_, sidx, D, H, T, exact, oi, oj, res, o0, cap
    )


@njit(cache=True)
def _spread(count: int) -> I64:
    """0 .. count-1 in bit-reversed order (of the next power of two). A parallel loop
    hands each of T threads a contiguous block of iterations; in this order every block
    takes items from all over the range, so a dense region is shared out."""
    bits = 0
    while (1 << bits) < count:
        bits += 1
    out = np.empty(count, dtype=np.int64)
    m = 0
    for x in range(1 << bits):
        r = 0
        for b in range(bits):
            r |= ((x >> b) & 1) << (bits - 1 - b)
        if r < count:
            out[m] = r
            m += 1
    return out


class Grid(NamedTuple):
    """The tracks filed in the grid (:func:`build_grid`). P = M + B positions: the M
    normal tracks cell by cell (each cell's by the lower end of their altitude
    interval), then the B big ones."""

    cstart: I64  # int64[cells + 1]: each cell's first position
    sb: F32  # float32[8, P]: box xlo, xhi, ylo, yhi, zlo, zhi, altitude lo, hi (m)
    smo: F32  # float32[P, 10]: motion (see _place)
    sin_: F64  # float64[6, P]: lat, lon (degrees), alt_m (m), ve, vn, vu (m/s)
    sidx: I32  # int32[P]: the track at each position
    wild: I64  # int64[W]: tracks outside the grid, ascending
    groups: I64  # int64[G + 1]: row groups of about equal membership
    gp: F64  # float64[6]: lower corner x, y (m), 1 / cell edge (1/m), nx, ny, M


def build_grid(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, D: float, H: float,
    T: float,
) -> Grid:  # fmt: skip
    """The tracks (inputs as screen_all_pairs, checked by the caller) filed in the grid.

    Large arrays are allocated here, by NumPy, rather than inside the kernels: NumPy asks
    for transparent huge pages, and a fresh page costs far more than the work done on it
    on a virtual machine (about 1 ms per MB in 4 KiB pages here, 0.2 ms in huge pages).
    """
    n = lat_deg.shape[0]
    coef = slack_coefficient(D)
    rot, origin, lo, size, nx, ny = _plan(lat_deg, lon_deg, alt_m, ve, vn, vu, coef, D, H, T)
    gp = np.array([lo[0], lo[1], 1.0 / size, nx, ny, 0.0])
    mo = np.empty((n, 10), dtype=np.float32)
    inp = np.empty((n, 6), dtype=np.float64)
    code = np.empty(n, dtype=np.int32)
    _cells(lat_deg, lon_deg, alt_m, ve, vn, vu, rot, origin, gp, coef, D, H, T, mo, inp, code)
    cstart = np.empty(nx * ny + 1, dtype=np.int64)
    order = np.empty(n, dtype=np.int32)
    nn, bigs, wild = _bucket(code, cstart, order)
    gp[5] = nn
    groups = _row_groups(cstart, nx, ny)
    total = nn + bigs.shape[0]
    sb = np.empty((8, total), dtype=np.float32)
    smo = np.empty((total, 10), dtype=np.float32)
    sin_ = np.empty((6, total), dtype=np.float64)
    sidx = np.empty(total, dtype=np.int32)
    _order_tracks(cstart, order, bigs, groups, mo, inp, gp, sb, smo, sin_, sidx)
    return Grid(cstart, sb, smo, sin_, sidx, wild, groups, gp)


@njit(cache=True, parallel=True)
def _pairs_pass(
    items: I64, room: I64, cnt: I64, groups: I64, gp: F64, cstart: I64, sb: F32, smo: F32,
    sin_: F64, sidx: I32, D: float, H: float, T: float, exact: bool, oi: I32, oj: I32,
    res: F64,
) -> None:  # fmt: skip
    """Work items items[:] in parallel (in that order), item w writing into rows
    [room[w], room[w + 1]) and its count into cnt[w]."""
    m = items.shape[0]
    for ww in prange(m):
        w = items[int(np.int64(ww))]
        cnt[w] = _work_item(
            w, groups, gp, cstart, sb, smo, sin_, sidx, D, H, T, exact, oi, oj, res, room[w],
            room[w + 1] - room[w],
        )  # fmt: skip


@njit(cache=True)
def _compact(
    room: I64, cnt: I64, off: I64, oi: I32, oj: I32, res: F64, di: I64, dj: I64, dres: F64
) -> None:
    """Rows of the items that fitted into their room, to their final place off[w]."""
    for w in range(cnt.shape[0]):
        if cnt[w] > room[w + 1] - room[w]:
            continue
        s0 = room[w]
        d0 = off[w]
        for t in range(cnt[w]):
            di[d0 + t] = oi[s0 + t]
            dj[d0 + t] = oj[s0 + t]
            for f in range(res.shape[1]):
                dres[d0 + t, f] = res[s0 + t, f]


def grid_pairs(grid: Grid, D: float, H: float, T: float, exact: bool) -> tuple[I64, I64, F64]:
    """The grid's pairs (i < j, tracks), unsorted: with exact, the conflicts and their
    seven numbers float64[K, 7] (kernels.pairtest.store_result); without, the candidates
    (float64[K, 0]). Parallel over the work items (row groups, then groups of big
    tracks), each writing into room reserved for it; the items that find more are run
    again (in parallel) into exact room."""
    ng = grid.groups.shape[0] - 1
    ny = int(grid.gp[4])
    nn = int(grid.gp[5])
    nbig = grid.sidx.shape[0] - nn
    nitem = ng + (nbig + _BIG_GROUP - 1) // _BIG_GROUP
    members = np.full(nitem, _BIG_GROUP, dtype=np.int64)
    members[:ng] = np.diff(grid.cstart[grid.groups * ny])
    room = np.zeros(nitem + 1, dtype=np.int64)
    np.cumsum(_ROOM_PER_TRACK * members + 64, out=room[1:])
    ncol = 7 if exact else 0
    si = np.empty(room[-1], dtype=np.int32)
    sj = np.empty(room[-1], dtype=np.int32)
    sres = np.empty((room[-1], ncol), dtype=np.float64)
    cnt = np.zeros(nitem, dtype=np.int64)
    args = (grid.groups, grid.gp, grid.cstart, grid.sb, grid.smo, grid.sin_)
    _pairs_pass(_spread(nitem), room, cnt, *args, grid.sidx, D, H, T, exact, si, sj, sres)
    off = np.zeros(nitem + 1, dtype=np.int64)
    np.cumsum(cnt, out=off[1:])
    oi = np.empty(off[-1], dtype=np.int64)
    oj = np.empty(off[-1], dtype=np.int64)
    res = np.empty((off[-1], ncol), dtype=np.float64)
    _compact(room, cnt, off, si, sj, sres, oi, oj, res)
    over = np.nonzero(cnt > np.diff(room))[0]
    if over.size:
        # Dense traffic: those items run again, straight into their final rows.
        ri = np.empty(off[-1], dtype=np.int32)
        rj = np.empty(off[-1], dtype=np.int32)
        _pairs_pass(over, off, cnt.copy(), *args, grid.sidx, D, H, T, exact, ri, rj, res)
        for w in over:
            oi[off[w] : off[w + 1]] = ri[off[w] : off[w + 1]]
            oj[off[w] : off[w + 1]] = rj[off[w] : off[w + 1]]
    return oi, oj, res


@njit(cache=True)
def _wild_pairs(wild: I64, n: int) -> tuple[I64, I64]:
    """Every pair (i < j) with a wild track (wild: int64[W], ascending), once."""
    nw = wild.shape[0]
    is_wild = np.zeros(n, dtype=np.bool_)
    for w in wild:
        is_wild[w] = True
    extra = nw * (n - 1) - nw * (nw - 1) // 2
    pi = np.empty(extra, dtype=np.int64)
    pj = np.empty(extra, dtype=np.int64)
    t = 0
    for w in wild:
        for k in range(n):
            if k == w or (is_wild[k] and k < w):
                continue
            pi[t] = min(w, k)
            pj[t] = max(w, k)
            t += 1
    return pi, pj


def candidate_pairs(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, D: float, H: float,
    T: float,
) -> tuple[I64, I64]:  # fmt: skip
    """Candidate pairs (i < j), a superset of the pairs screen_all_pairs flags.

    Same inputs as :func:`kernels.screen.screen_all_pairs`: lat_deg, lon_deg float64[N]
    (degrees), alt_m (m), ve, vn, vu (m/s, own ENU); D, H (m), T (s). Returns (i, j),
    int64[K] each, sorted by (i, j), each pair once: the grid's candidates and every pair
    with a wild track. Empty when no conflict is possible (D or H zero or NaN, T < 0 or
    NaN). Raises ValueError for parameters outside :func:`parameters_supported` or an
    infinite T.
    """
    check_inputs(lat_deg, lon_deg, alt_m, ve, vn, vu)
    n = lat_deg.shape[0]
    if no_conflict_possible(D, H, T) and not (D < 0.0 or H < 0.0):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if not parameters_supported(D, H, T) or not math.isfinite(T):
        raise ValueError("candidate_pairs: D, H or T outside the range the broad phase covers")
    grid = build_grid(lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T)
    ci, cj, _ = grid_pairs(grid, D, H, T, False)
    wi, wj = _wild_pairs(grid.wild, n)
    pi = np.concatenate((ci, wi))
    pj = np.concatenate((cj, wj))
    order = pair_order(pi, pj, n)
    return pi[order], pj[order]


def count_candidates(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, D: float, H: float,
    T: float,
) -> int:  # fmt: skip
    """The number of pairs :func:`candidate_pairs` returns (same arguments)."""
    return int(candidate_pairs(lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T)[0].shape[0])
