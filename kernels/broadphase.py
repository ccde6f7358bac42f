"""Broad phase of conflict screening: candidate pairs without O(N^2) work.

Pure Numba over NumPy arrays; no I/O. :func:`candidate_pairs` returns pairs (i < j) that
are a guaranteed superset of the pairs :func:`kernels.screen.screen_all_pairs` flags, in
time and memory O(N + candidates); :func:`kernels.screen.screen_conflicts` runs the exact
pair test on them, tile by tile (:func:`build_grid`, :func:`tile_pairs`).

Method
------
* Frame: ECEF, rotated so that its third axis points at the centroid of (a fixed sample
  of) the tracks' sub-points and translated there (a regional picture then lies nearly
  flat, and float32 coordinates keep metre resolution). Distances are those of ECEF, so
  the poles and the antimeridian need no special case.
* Motion: track k's sub-point P_k (sea level, as in screen.py) moving with its horizontal
  velocity V_k (east/north only, in ECEF) sweeps the segment P_k + t V_k, t in [0, T],
  with a radius r_k = D/2 + s_k (+ 1 m and 1e-6 relative for rounding), s_k the
  tangent-plane slack below; its altitude sweeps alt_k + t vu_k, with a half-width H/2
  (+ 1 mm and 1e-6 relative). Stored once in float32 (start, displacement, radius,
  altitude, climb, half-width; the radius and half-width absorb the rounding), this
  "motion" is the track for everything after: boxes, keys and tests all derive from it.
* Grid: a uniform 3-D grid, cells about twice the mean swept-box extent (at most 2N + 64
  cells: memory O(N)), grouped into tiles of B x B cell columns (B such that a tile holds
  some 600 tracks, so that its work stays in the caches). One pass over the
  tracks (parallel) computes each motion and the tiles its box overlaps; a counting sort
  lists every tile's members (tracks, and copies of those reaching in from next door).
* Tiles, in parallel (chunks of about equal membership; the output order does not
  depend on the thread count): fetch the members' motions (the one scattered read),
  sort them by lower altitude key (LSD radix sort; keys H/64 wide, so flight levels
  1000 ft apart stay apart at H = 950 ft), enter each box in every cell of the tile it
  overlaps, in that order, so each cell's list is sorted. In each cell an entry is paired
  with the following ones while their lower key does not exceed its upper key (flight
  levels prune most pairs before any geometry); then, without branches, box overlap and
  ownership: a pair is emitted only from the cell holding the lower corner of the two
  boxes' intersection, so exactly once over all cells and tiles. Last, the same-time
  test: the least distance between the two segments over the part of [0, T] where the
  altitudes are within reach must be below the sum of the radii.
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
* the large one (the far side): the normal line through P_i leaves the ellipsoid again
  at F_i = P_i + s_far u_i, s_far = -2 gamma / alpha, near the antipode, and the
  tangent-plane projection of a track there is just as small: screen_all_pairs does flag
  aircraft on opposite sides of the Earth whose projections come within D. Here
  |s - s_far| <= 2 h tau a^2 + h^2 / (rho (1 - a h tau)) and c_F = |P_j - F_i| <=
  h + |s - s_far|; with omega = |u_i + u_F| (u_F the normal at F_i) the same steps give
  |(P_j + t V_j) - (F_i + t V_i)| < D + A_max (omega + c_F / rho) + |s - s_far|, A_max the
  largest reach, and |F_i + P_i| <= 42.8 km (tau <= (b^-2 - a^-2) / 2, omega <= 0.0068,
  over the whole ellipsoid). A second, "far" run (only when the first run's boxes could
  meet their own antipodes, i.e. for pictures spanning about half the globe) adds to
  the tracks (radius D/2) a far object per track, starting at -P_i, moving with V_i,
  radius D/2 + 43 km + that slack, and keeps the pairs (far object of i, track j),
  i < j.

Tracks outside the analysis ("wild": any non-finite input, |alt| > 1000 km, a speed
component above 10 km/s, or A_k > 200 km) are not put in the grid: every pair with a
wild track is a candidate (O(N W)). Parameters the analysis does not cover (D or H
negative, infinite or above 1000 km / 100 km, T infinite) are refused by
:func:`candidate_pairs`; :func:`kernels.screen.screen_conflicts` then falls back to the
brute force.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from kernels.geo import WGS84_A, WGS84_B, enu_basis_1, geodetic_to_ecef_1

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
B1 = npt.NDArray[np.bool_]

# Smallest radius of curvature of the ellipsoid (meridian at the equator), m.
_RHO = WGS84_B * WGS84_B / WGS84_A
_INV_A2 = 1.0 / (WGS84_A * WGS84_A)
_INV_B2 = 1.0 / (WGS84_B * WGS84_B)
# Largest tau = |sin(lat) cos(lat)| (b^-2 - a^-2), 1/m^2.
_TAU_MAX = 0.5 * (_INV_B2 - _INV_A2)
# Bounds over the ellipsoid (a fine sweep in latitude gives 42.77 km and 0.006717): the
# far crossing F of a normal line lies within _FAR_OFFSET of the antipode -P, and
# |u + u_F| <= _OMEGA_MAX.
_FAR_OFFSET = 43.0e3
_OMEGA_MAX = 0.0068

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

# Grid cell edge as a multiple of the mean box extent; cap on cells per track; tracks
# per tile aimed at (a tile's work should fit in the caches).
_CELL_FACTOR = 2.0
_CELLS_PER_TRACK = 2
_TILE_TRACKS = 600.0
# Altitude key width: H / _ALT_KEYS_PER_H, so that flight levels H + 15 m apart (1000 ft
# vs. H = 950 ft) still fall on separate keys.
_ALT_KEYS_PER_H = 64.0
_ALT_KEYS_MAX = 1 << 20
# Objects per chunk of the per-object pass; chunks of tiles for the tile pass. Fixed
# numbers rather than the thread count: numba.get_num_threads() inside a kernel would
# stop it being cached, and fixed chunks split the work the same way everywhere.
_CHUNK = 4096
_TILE_CHUNKS = 64
# Objects sampled to plan the grid (frame, extent, cell size, altitude keys).
_PLAN_SAMPLES = 4096


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


@njit(cache=True, inline="always")
def _key(v: float, a_lo: float, a_inv: float, n_keys: int) -> int:
    """Altitude key of v (m): floor((v - a_lo) * a_inv) clamped to [0, n_keys - 1]; a
    monotone map, computed the same way for both ends of every interval."""
    q = math.floor((v - a_lo) * a_inv)
    if q < 0.0:
        return 0
    if q > n_keys - 1:
        return n_keys - 1
    return int(q)


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
    # every test.
    ok = (
        math.isfinite(lat_deg[k])
        and math.isfinite(lon_deg[k])
        and abs(alt_m[k]) <= ALT_MAX
        and abs(ve[k]) <= SPEED_MAX
        and abs(vn[k]) <= SPEED_MAX
        and abs(vu[k]) <= SPEED_MAX
        and 0.0 <= a <= A_MAX
    )
    return ok, a


@njit(cache=True, inline="always")
def _box(
    mo: F32, k: int
) -> tuple[np.float32, np.float32, np.float32, np.float32, np.float32, np.float32]:
    """Swept box (xlo, xhi, ylo, yhi, zlo, zhi; float32, rounded outwards; m) of the
    float32 motion row k (see _assign): every user derives it from the motion alone, so
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


@njit(cache=True)
def _far_radius(h: float, tau: float, omega: float, a_max: float, D: float) -> float:
    """Inflation (m) of a far box, h = D + A_i + A_max (m): D/2 + A_max (omega + c_F / rho)
    + |s - s_far| bound, plus the rounding margins."""
    ds = 2.0 * h * tau * WGS84_A * WGS84_A + h * h / (_RHO * (1.0 - WGS84_A * h * tau))
    c_f = h + ds
    return 0.5 * D + a_max * (omega + c_f / _RHO) + ds + _ABS_MARGIN + _REL_MARGIN * h


@njit(cache=True)
def _far_side_possible(summary: F64, rot: F64, origin: F64, D: float) -> bool:
    """Whether some track's far box can meet the near boxes' AABB. A far box is the
    segment F_i + [0, 1] w_i (|w_i| <= A_max per axis) inflated by its radius, and F_i
    lies within _FAR_OFFSET of the antipode -P_i, which the grid frame maps to
    -p_i - 2 rot origin: so all far boxes lie in the start points' AABB mirrored,
    shifted and inflated by _FAR_OFFSET + A_max + the largest far radius."""
    a_max = summary[13]
    # (+ 100 m for the rounding of the far boxes themselves.)
    rf = _FAR_OFFSET + a_max + _far_radius(D + 2.0 * a_max, _TAU_MAX, _OMEGA_MAX, a_max, D) + 100.0
    for c in range(3):
        o2 = 2.0 * (rot[c, 0] * origin[0] + rot[c, 1] * origin[1] + rot[c, 2] * origin[2])
        lo = -summary[6 + 2 * c + 1] - o2 - rf
        hi = -summary[6 + 2 * c] - o2 + rf
        if lo > summary[2 * c + 1] or hi < summary[2 * c]:
            return False
    return True


@njit(cache=True, inline="always")
def _object_motion(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, k: int, far: bool,
    reach: float, rot: F64, origin: F64, coef: float, far_run: bool, a_max: float,
    D: float, H: float, T: float,
) -> tuple[float, float, float, float, float, float, float, float, float, float]:  # fmt: skip
    """Object (track k, or its far object if far) in the grid frame: start point (3, m),
    displacement over T (3, m), radius (m), altitude (m), vertical displacement over T
    (m), altitude half-width (m).

    A track starts at its sub-point P and moves with its horizontal velocity V (east and
    north only; vertical motion is the altitude's). Its radius is D/2 + s_k in the near
    run, D/2 in the far run. A far object starts at -P, moves with V, and carries the
    whole far-side slack: D/2 + _FAR_OFFSET + the far radius' excess (module docstring).
    """
    x, y, z = geodetic_to_ecef_1(lat_deg[k], lon_deg[k], 0.0)
    ex, ey, ez, nx, ny, nz, _, _, _ = enu_basis_1(lat_deg[k], lon_deg[k])
    if far:
        x = -x
        y = -y
        z = -z
    vx = ve[k] * ex + vn[k] * nx
    vy = ve[k] * ey + vn[k] * ny
    vz = ve[k] * ez + vn[k] * nz
    dx = x - origin[0]
    dy = y - origin[1]
    dz = z - origin[2]
    px = rot[0, 0] * dx + rot[0, 1] * dy + rot[0, 2] * dz
    py = rot[1, 0] * dx + rot[1, 1] * dy + rot[1, 2] * dz
    pz = rot[2, 0] * dx + rot[2, 1] * dy + rot[2, 2] * dz
    wx = T * (rot[0, 0] * vx + rot[0, 1] * vy + rot[0, 2] * vz)
    wy = T * (rot[1, 0] * vx + rot[1, 1] * vy + rot[1, 2] * vz)
    wz = T * (rot[2, 0] * vx + rot[2, 1] * vy + rot[2, 2] * vz)
    if far:
        r = _FAR_OFFSET + _far_radius(D + reach + a_max, _TAU_MAX, _OMEGA_MAX, a_max, D)
    elif far_run:
        r = 0.5 * D + _ABS_MARGIN + _REL_MARGIN * D
    else:
        g = 0.5 * D + reach
        r = 0.5 * D + coef * g * g + _ABS_MARGIN + _REL_MARGIN * (D + reach)
    a0 = alt_m[k]
    dalt = T * vu[k]
    m_alt = 0.5 * H + _ALT_ABS_MARGIN + _REL_MARGIN * (2.0 * abs(a0) + abs(dalt) + H)
    return px, py, pz, wx, wy, wz, r, a0, dalt, m_alt


@njit(cache=True, inline="always")
def _store_motion(
    mo: F32,
    o: int,
    px: float,
    py: float,
    pz: float,
    wx: float,
    wy: float,
    wz: float,
    r: float,
    a0: float,
    dalt: float,
    m_alt: float,
) -> None:
    """mo[o] := the object's motion in float32 (see _assign). Rounding the start point
    and displacement moves the segment by at most 2^-22 (|p| + |w|) (sqrt(3) 2^-24 per
    vector), which the stored radius absorbs; likewise the altitude margin. From here on
    the float32 motion is the object: boxes, keys and the same-time test all derive from
    it, so they agree to the bit wherever they are computed."""
    mo[o, 0] = np.float32(px)
    mo[o, 1] = np.float32(py)
    mo[o, 2] = np.float32(pz)
    mo[o, 3] = np.float32(wx)
    mo[o, 4] = np.float32(wy)
    mo[o, 5] = np.float32(wz)
    big = max(abs(px), abs(py), abs(pz)) + max(abs(wx), abs(wy), abs(wz))
    mo[o, 6] = _f32_up(r + _F32_REL * big + 0.01)
    mo[o, 7] = np.float32(a0)
    mo[o, 8] = np.float32(dalt)
    mo[o, 9] = _f32_up(m_alt + _F32_REL * (abs(a0) + abs(dalt)) + _ALT_ABS_MARGIN)


@njit(cache=True, inline="always")
def _alt_keys(mo: F32, o: int, a_lo: float, a_inv: float, n_keys: int) -> tuple[int, int]:
    """Altitude keys (lower, upper) of object o: its altitude interval over [0, T],
    widened by the half-width in mo[o, 9], on the key grid."""
    a0 = np.float64(mo[o, 7])
    a1 = a0 + np.float64(mo[o, 8])
    m = np.float64(mo[o, 9])
    return _key(min(a0, a1) - m, a_lo, a_inv, n_keys), _key(max(a0, a1) + m, a_lo, a_inv, n_keys)


@njit(cache=True)
def _plan(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, coef: float,
    far_run: bool, a_max: float, D: float, H: float, T: float,
) -> tuple[F64, F64, F64, float, I64, float, float, int, int]:  # fmt: skip
    """Grid plan from a fixed sample of the objects (the tracks; in the far run also
    their far objects): rotation float64[3, 3] (rows: grid axes in ECEF), origin
    float64[3] (m), the grid's lower corner float64[3] (m), cell edge (m), dimensions
    int64[3], the altitude keys' origin (m), inverse width (1/m) and count, and the tile
    edge in cells.

    Third axis towards the sample's centroid, origin there: a regional picture lies flat
    in the grid, and its coordinates are small for float32. Cells about _CELL_FACTOR
    mean box extents, at most _CELLS_PER_TRACK per object; tiles of B x B cell columns
    hold about _TILE_TRACKS objects. None of this affects which pairs are found, only
    how fast: cell and key coordinates are clamped to the grid (a monotone map, so
    overlapping boxes and altitude intervals keep overlapping keys), and an object
    outside the sampled extent simply lands in a border cell.
    """
    n = lat_deg.shape[0]
    n_obj = 2 * n if far_run else n
    step = max(1, n_obj // _PLAN_SAMPLES)
    rot = np.eye(3, dtype=np.float64)
    origin = np.zeros(3, dtype=np.float64)
    cnt = 0
    for o in range(0, n_obj, step):
        k = o % n
        if _regular(lat_deg, lon_deg, alt_m, ve, vn, vu, k, T)[0]:
            x, y, z = geodetic_to_ecef_1(lat_deg[k], lon_deg[k], 0.0)
            sign = -1.0 if o >= n else 1.0
            origin[0] += sign * x
            origin[1] += sign * y
            origin[2] += sign * z
            cnt += 1
    if cnt > 0:
        for c in range(3):
            origin[c] /= cnt
    norm = math.sqrt(origin[0] ** 2 + origin[1] ** 2 + origin[2] ** 2)
    # Objects all over the globe have their centroid near the centre: keep ECEF axes.
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
    lo = np.full(3, math.inf)
    hi = np.full(3, -math.inf)
    a_lo = math.inf
    a_hi = -math.inf
    ext = 0.0
    cnt = 0
    for o in range(0, n_obj, step):
        k = o % n
        ok, a = _regular(lat_deg, lon_deg, alt_m, ve, vn, vu, k, T)
        if not ok:
            continue
        px, py, pz, wx, wy, wz, r, a0, dalt, m_alt = _object_motion(
            lat_deg, lon_deg, alt_m, ve, vn, vu, k, o >= n, a, rot, origin, coef, far_run,
            a_max, D, H, T,
        )  # fmt: skip
        p = (px, py, pz)
        w = (wx, wy, wz)
        e = 0.0
        for c in range(3):
            lo[c] = min(lo[c], min(p[c], p[c] + w[c]) - r)
            hi[c] = max(hi[c], max(p[c], p[c] + w[c]) + r)
            e = max(e, abs(w[c]) + 2.0 * r)
        ext += e
        cnt += 1
        a_lo = min(a_lo, min(a0, a0 + dalt) - m_alt)
        a_hi = max(a_hi, max(a0, a0 + dalt) + m_alt)
    size = 1.0
    if cnt > 0:
        size = max(_CELL_FACTOR * ext / cnt, 1.0)
    else:
        lo[:] = 0.0
        hi[:] = 0.0
        a_lo = 0.0
        a_hi = 0.0
    # Some room for objects the sample missed.
    for c in range(3):
        pad = 0.05 * (hi[c] - lo[c]) + size
        lo[c] -= pad
        hi[c] += pad
    cap = _CELLS_PER_TRACK * n_obj + 64
    while True:
        nx = int((hi[0] - lo[0]) / size) + 1
        ny = int((hi[1] - lo[1]) / size) + 1
        nz = int((hi[2] - lo[2]) / size) + 1
        if nx * ny * nz <= cap:
            break
        size *= max((nx * ny * nz / cap) ** (1.0 / 3.0), 1.01)
    dims = np.array([nx, ny, nz], dtype=np.int64)
    # Tile edge: objects per occupied cell column, from the sample's columns.
    cols = np.zeros(nx * ny, dtype=np.bool_)
    inv = 1.0 / size
    used = 0
    for o in range(0, n_obj, step):
        k = o % n
        ok, a = _regular(lat_deg, lon_deg, alt_m, ve, vn, vu, k, T)
        if not ok:
            continue
        px, py, _, _, _, _, _, _, _, _ = _object_motion(
            lat_deg, lon_deg, alt_m, ve, vn, vu, k, o >= n, a, rot, origin, coef, far_run,
            a_max, D, H, T,
        )  # fmt: skip
        c = _cell(np.float32(px), lo[0], inv, nx) * ny + _cell(np.float32(py), lo[1], inv, ny)
        if not cols[c]:
            cols[c] = True
            used += 1
    # used distinct columns among cnt samples: about C (1 - exp(-cnt / C)) of C occupied
    # columns, if evenly filled; solve for C by bisection.
    lo_c = float(max(used, 1))
    hi_c = 1e12
    for _ in range(100):
        mid = math.sqrt(lo_c * hi_c)
        if mid * (1.0 - math.exp(-cnt / mid)) < used:
            lo_c = mid
        else:
            hi_c = mid
    per_column = n_obj / max(lo_c, 1.0)
    tile = int(min(max(round(math.sqrt(_TILE_TRACKS / max(per_column, 1e-9))), 1), 16))
    a_lo -= 1000.0
    a_hi += 1000.0
    n_keys_cap = min(_ALT_KEYS_MAX, 4 * n_obj + 64)
    width = max(H / _ALT_KEYS_PER_H, (a_hi - a_lo) / n_keys_cap, 1e-6)
    n_keys = int((a_hi - a_lo) / width) + 2
    return rot, origin, lo, size, dims, a_lo, 1.0 / width, n_keys, tile


@njit(cache=True)
def _assign_chunk(
    o0: int,
    o1: int,
    lat_deg: F64,
    lon_deg: F64,
    alt_m: F64,
    ve: F64,
    vn: F64,
    vu: F64,
    rot: F64,
    origin: F64,
    grid_lo: F64,
    inv_size: float,
    dims: I64,
    tile: int,
    coef: float,
    far_run: bool,
    a_max: float,
    D: float,
    H: float,
    T: float,
    reg: B1,
    mo: F32,
    trng: I32,
    inp: F64,
    part: F64,
    ch: int,
) -> None:
    """Objects [o0, o1) of _assign; part[ch] := their summary (tracks only)."""
    n = lat_deg.shape[0]
    acc = part[ch]
    for c in range(6):
        acc[2 * c] = math.inf
        acc[2 * c + 1] = -math.inf
    acc[12] = 0.0
    acc[13] = 0.0
    for o in range(o0, o1):
        k = o % n
        far = o >= n
        ok, a = _regular(lat_deg, lon_deg, alt_m, ve, vn, vu, k, T)
        if not ok:
            trng[o, 0] = -1
            continue
        if not far:
            reg[k] = True
        px, py, pz, wx, wy, wz, r, a0, dalt, m_alt = _object_motion(
            lat_deg, lon_deg, alt_m, ve, vn, vu, k, far, a, rot, origin, coef, far_run,
            a_max, D, H, T,
        )  # fmt: skip
        _store_motion(mo, o, px, py, pz, wx, wy, wz, r, a0, dalt, m_alt)
        xl, xh, yl, yh, zl, zh = _box(mo, o)
        trng[o, 0] = _cell(xl, grid_lo[0], inv_size, dims[0]) // tile
        trng[o, 1] = _cell(xh, grid_lo[0], inv_size, dims[0]) // tile
        trng[o, 2] = _cell(yl, grid_lo[1], inv_size, dims[1]) // tile
        trng[o, 3] = _cell(yh, grid_lo[1], inv_size, dims[1]) // tile
        if far:
            continue
        inp[k, 0] = lat_deg[k]
        inp[k, 1] = lon_deg[k]
        inp[k, 2] = alt_m[k]
        inp[k, 3] = ve[k]
        inp[k, 4] = vn[k]
        inp[k, 5] = vu[k]
        acc[0] = min(acc[0], np.float64(xl))
        acc[1] = max(acc[1], np.float64(xh))
        acc[2] = min(acc[2], np.float64(yl))
        acc[3] = max(acc[3], np.float64(yh))
        acc[4] = min(acc[4], np.float64(zl))
        acc[5] = max(acc[5], np.float64(zh))
        acc[6] = min(acc[6], px)
        acc[7] = max(acc[7], px)
        acc[8] = min(acc[8], py)
        acc[9] = max(acc[9], py)
        acc[10] = min(acc[10], pz)
        acc[11] = max(acc[11], pz)
        acc[12] += 1.0
        acc[13] = max(acc[13], a)


@njit(cache=True, parallel=True)
def _assign(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, rot: F64,
    origin: F64, grid_lo: F64, inv_size: float, dims: I64, tile: int, coef: float,
    far_run: bool, a_max: float, D: float, H: float, T: float,
) -> tuple[B1, F32, I32, F64, F64]:  # fmt: skip
    """One pass over the objects (the tracks; in the far run also their far objects,
    numbered N + k): regular flags bool[N]; per object its motion float32[O, 10] (start
    point 0-2 and displacement over T 3-5 in the grid frame, radius 6, altitude 7,
    vertical displacement over T 8, altitude half-width 9; m) and its tile range int32[O,
    4] (tx0, tx1, ty0, ty1; tx0 = -1 for a wild track); the regular tracks' inputs packed
    in rows float64[N, 6] (lat, lon, alt, ve, vn, vu: one cache line to fetch for the
    exact test); and a summary float64[14] of the tracks: the boxes' AABB (6, m), the
    start points' AABB (6, m), the number of regular tracks, the largest reach (m)."""
    n = lat_deg.shape[0]
    n_obj = 2 * n if far_run else n
    reg = np.zeros(n, dtype=np.bool_)
    mo = np.empty((n_obj, 10), dtype=np.float32)
    trng = np.empty((n_obj, 4), dtype=np.int32)
    inp = np.empty((n, 6), dtype=np.float64)
    nch = (n_obj + _CHUNK - 1) // _CHUNK
    part = np.empty((nch, 14), dtype=np.float64)
    # Each prange body is a call, with int64 arguments (a prange index is unsigned, and a
    # helper called with both would be compiled twice); no name in it is shared with
    # the serial code (numba would take such a name for a reduction variable).
    for ch in prange(nch):
        c = int(np.int64(ch))
        _assign_chunk(
            c * _CHUNK, min(n_obj, (c + 1) * _CHUNK), lat_deg, lon_deg, alt_m, ve, vn, vu,
            rot, origin, grid_lo, inv_size, dims, tile, coef, far_run, a_max, D, H, T, reg,
            mo, trng, inp, part, c,
        )  # fmt: skip
    summary = np.empty(14, dtype=np.float64)
    for q in range(6):
        summary[2 * q] = math.inf
        summary[2 * q + 1] = -math.inf
    summary[12] = 0.0
    summary[13] = 0.0
    for row in range(nch):
        for q in range(6):
            summary[2 * q] = min(summary[2 * q], part[row, 2 * q])
            summary[2 * q + 1] = max(summary[2 * q + 1], part[row, 2 * q + 1])
        summary[12] += part[row, 12]
        summary[13] = max(summary[13], part[row, 13])
    return reg, mo, trng, inp, summary


@njit(cache=True)
def _bucket(trng: I32, ntx: int, nty: int) -> tuple[I64, I32]:
    """Objects by tile: first member of each tile int64[tiles + 1] and the members
    int32[sum of memberships], each tile's in ascending object order (an object whose
    box spans tiles is a member of each). Counting sort, O(objects + tiles)."""
    n_obj = trng.shape[0]
    ntiles = ntx * nty
    tstart = np.zeros(ntiles + 1, dtype=np.int64)
    for o in range(n_obj):
        if trng[o, 0] < 0:
            continue
        for tx in range(trng[o, 0], trng[o, 1] + 1):
            for ty in range(trng[o, 2], trng[o, 3] + 1):
                tstart[tx * nty + ty + 1] += 1
    for t in range(ntiles):
        tstart[t + 1] += tstart[t]
    fill = tstart[:ntiles].copy()
    members = np.empty(tstart[ntiles], dtype=np.int32)
    for o in range(n_obj):
        if trng[o, 0] < 0:
            continue
        for tx in range(trng[o, 0], trng[o, 1] + 1):
            for ty in range(trng[o, 2], trng[o, 3] + 1):
                t = tx * nty + ty
                members[fill[t]] = o
                fill[t] += 1
    return tstart, members


@njit(cache=True)
def _tile_pairs(
    t: int,
    tstart: I64,
    members: I32,
    mo: F32,
    n: int,
    far_run: bool,
    tile: int,
    nty: int,
    grid_lo: F64,
    inv_size: float,
    dims: I64,
    a_lo: float,
    a_inv: float,
    n_keys: int,
    inp: F64,
    lin: F64,
    lm: F32,
    lbox: F32,
    lcr: I32,
    cnt: I64,
    cfill: I64,
    si: I32,
    sf: F32,
    surv: I64,
    ent: I32,
    pairs: I32,
) -> tuple[int, I32, I32]:
    """Candidate pairs of tile t, as pairs of member positions (pairs[:K, 0:2], each pair
    once over all tiles; the objects are members[tstart[t] + position]). Returns K and
    the entry and pair buffers (replaced by larger ones when needed).

    The tile's cells (tile x tile columns, all z) get an entry for every member box that
    overlaps them; within each cell, entries sorted by lower altitude key are paired
    while the partner's lower key does not exceed the upper key, then by box overlap and
    ownership (only the cell holding the boxes' intersection's lower corner emits a
    pair), then by the same-time test. In the far run only (far object of i, track j)
    with i < j. The members' packed inputs (inp, see _assign) are copied to lin
    float64[M, 6] for the caller's exact test. Scratch (sized by the caller for the
    largest tile): lm float32[M, 10],
    lbox float32[M, 6], lcr int32[M, 10], cnt and cfill int64[cells + 1], si int32[6, M],
    sf float32[6, M], surv int64[M].
    """
    nx = dims[0]
    ny = dims[1]
    nz = dims[2]
    s0 = tstart[t]
    m = tstart[t + 1] - s0
    if m < 2:
        return 0, ent, pairs
    tx = t // nty
    ty = t % nty
    x_lo = tx * tile
    x_hi = min(nx, x_lo + tile) - 1
    y_lo = ty * tile
    y_hi = min(ny, y_lo + tile) - 1
    by = y_hi - y_lo + 1
    ncl = (x_hi - x_lo + 1) * by * nz
    for c in range(ncl + 1):
        cnt[c] = 0
    # Members' motions and inputs: the only scattered reads, in a loop of their own.
    for a in range(m):
        o = members[s0 + a]
        for q in range(10):
            lm[a, q] = mo[o, q]
        k = o % n
        for q in range(6):
            lin[a, q] = inp[k, q]
    # Boxes, cells (lower corner; ranges clipped to the tile), altitude keys; counts.
    for a in range(m):
        b = _box(lm, a)
        for q in range(6):
            lbox[a, q] = b[q]
        cz0 = _cell(b[4], grid_lo[2], inv_size, nz)
        cz1 = _cell(b[5], grid_lo[2], inv_size, nz)
        lcr[a, 0] = _cell(b[0], grid_lo[0], inv_size, nx)
        lcr[a, 1] = _cell(b[2], grid_lo[1], inv_size, ny)
        lcr[a, 2] = cz0
        lcr[a, 3] = max(lcr[a, 0], x_lo)
        lcr[a, 4] = min(_cell(b[1], grid_lo[0], inv_size, nx), x_hi)
        lcr[a, 5] = max(lcr[a, 1], y_lo)
        lcr[a, 6] = min(_cell(b[3], grid_lo[1], inv_size, ny), y_hi)
        lcr[a, 7] = cz1
        klo, khi = _alt_keys(lm, a, a_lo, a_inv, n_keys)
        lcr[a, 8] = klo
        lcr[a, 9] = khi
        for cx in range(lcr[a, 3], lcr[a, 4] + 1):
            for cy in range(lcr[a, 5], lcr[a, 6] + 1):
                base = ((cx - x_lo) * by + (cy - y_lo)) * nz
                for cz in range(cz0, cz1 + 1):
                    cnt[base + cz + 1] += 1
    for c in range(ncl):
        cnt[c + 1] += cnt[c]
    total = cnt[ncl]
    if ent.shape[0] < total:
        ent = np.empty(2 * total, dtype=np.int32)
    # Members in ascending lower altitude key (an LSD radix sort, 8 bits a pass:
    # stable, O(m) a pass); the entries, cell by cell, in that order: every cell's list
    # comes out sorted.
    order = _radix_order(lcr, m, n_keys, si[4], si[5], cfill)
    for c in range(ncl):
        cfill[c] = cnt[c]
    for r in range(m):
        a = order[r]
        for cx in range(lcr[a, 3], lcr[a, 4] + 1):
            for cy in range(lcr[a, 5], lcr[a, 6] + 1):
                base = ((cx - x_lo) * by + (cy - y_lo)) * nz
                for cz in range(lcr[a, 2], lcr[a, 7] + 1):
                    c = base + cz
                    ent[cfill[c]] = a
                    cfill[c] += 1
    k = 0
    for c in range(ncl):
        e0 = cnt[c]
        mc = cnt[c + 1] - e0
        if mc < 2:
            continue
        cz = c % nz
        cy = (c // nz) % by + y_lo
        cx = c // (nz * by) + x_lo
        k, pairs = _sweep_cell(
            lm, lbox, lcr, si, sf, surv, ent, e0, mc, cx, cy, cz, members, s0, n, far_run,
            pairs, k,
        )  # fmt: skip
    return k, ent, pairs


@njit(cache=True)
def _radix_order(lcr: I32, m: int, n_keys: int, a: I32, b: I32, count: I64) -> I32:
    """Member indices 0 .. m-1 in ascending lcr[:, 8] (altitude keys < n_keys), stable: an
    LSD radix sort with 8-bit digits (one or two passes for realistic key counts). a, b:
    int32 scratch of length >= m (the result is one of them); count: int64 scratch of
    length >= 256."""
    for r in range(m):
        a[r] = r
    shift = 0
    while (n_keys - 1) >> shift > 0 or shift == 0:
        for d in range(256):
            count[d] = 0
        for r in range(m):
            count[((lcr[a[r], 8] >> shift) & 255) + 0] += 1
        total = 0
        for d in range(256):
            c = count[d]
            count[d] = total
            total += c
        for r in range(m):
            d = (lcr[a[r], 8] >> shift) & 255
            b[count[d]] = a[r]
            count[d] += 1
        a, b = b, a
        shift += 8
    return a


@njit(cache=True)
def _sweep_cell(
    lm: F32,
    lbox: F32,
    lcr: I32,
    si: I32,
    sf: F32,
    surv: I64,
    ent: I32,
    e0: int,
    m: int,
    cx: int,
    cy: int,
    cz: int,
    members: I32,
    s0: int,
    n: int,
    far_run: bool,
    pairs: I32,
    k: int,
) -> tuple[int, I32]:
    """One cell's pairs (entries ent[e0 : e0 + m], member positions in ascending lower
    altitude key), appended to pairs from row k (grown when full); returns the new count
    and the pair buffer. Scratch: si rows 0-3, sf."""
    lo = si[0]
    hi = si[1]
    idx = si[2]
    own = si[3]
    # The entries come sorted by lower altitude key (see _tile_pairs).
    for a in range(m):
        p = ent[e0 + a]
        lo[a] = lcr[p, 8]
        idx[a] = p
    x0 = sf[0]
    x1 = sf[1]
    y0 = sf[2]
    y1 = sf[3]
    z0 = sf[4]
    z1 = sf[5]
    for a in range(m):
        p = idx[a]
        hi[a] = lcr[p, 9]
        x0[a] = lbox[p, 0]
        x1[a] = lbox[p, 1]
        y0[a] = lbox[p, 2]
        y1[a] = lbox[p, 3]
        z0[a] = lbox[p, 4]
        z1[a] = lbox[p, 5]
        # Axes on which the box's lower corner lies in this cell (bits 1, 2, 4): a pair
        # is emitted only from the cell of its boxes' intersection's lower corner, which
        # per axis is the larger of the two lower corners' cells: where the bits of the
        # two cover 7.
        own[a] = (lcr[p, 0] == cx) * 1 + (lcr[p, 1] == cy) * 2 + (lcr[p, 2] == cz) * 4
    for a in range(m - 1):
        khi = hi[a]
        axlo = x0[a]
        axhi = x1[a]
        aylo = y0[a]
        ayhi = y1[a]
        azlo = z0[a]
        azhi = z1[a]
        oa = own[a]
        # Sorted by lower key: the partners in altitude are a + 1 .. end - 1.
        end = a + 1
        while end < m and lo[end] <= khi:
            end += 1
        # Box and ownership tests without branches (most pairs fail, unpredictably):
        # every b is written, the count advances only for those that pass.
        ns = 0
        for b in range(a + 1, end):
            surv[ns] = b
            ns += (
                (x0[b] <= axhi)
                & (x1[b] >= axlo)
                & (y0[b] <= ayhi)
                & (y1[b] >= aylo)
                & (z0[b] <= azhi)
                & (z1[b] >= azlo)
                & ((oa | own[b]) == 7)
            )
        pa = idx[a]
        for t in range(ns):
            pb = idx[surv[t]]
            if far_run:
                # Only (far object of i, track j) with i < j: ENU_i is the pair's frame.
                ga = members[s0 + pa]
                gb = members[s0 + pb]
                if (ga >= n) == (gb >= n):
                    continue
                i = ga - n if ga >= n else gb - n
                j = gb if ga >= n else ga
                if i >= j:
                    continue
            if not _same_time(lm, pa, pb):
                continue
            if k >= pairs.shape[0]:
                grown = np.empty((2 * pairs.shape[0] + 64, 2), dtype=np.int32)
                grown[:k] = pairs[:k]
                pairs = grown
            pairs[k, 0] = pa
            pairs[k, 1] = pb
            k += 1
    return k, pairs


@njit(cache=True, inline="always")
def _same_time(pm: F32, a: int, b: int) -> bool:
    """Whether objects a and b (rows of float32 motions pm, see _assign) can be within
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
def build_grid(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, D: float, H: float,
    T: float, far_run: bool, a_max: float,
) -> tuple[B1, F32, F64, I64, I32, F64, F64]:  # fmt: skip
    """The grid of one run (the near run, or with far_run the far run, whose a_max (m)
    is the near run's largest reach): regular flags bool[N], object motions
    float32[O, 10], packed inputs float64[N, 6], tiles' first members int64[tiles + 1]
    and members int32[...], the tracks' summary float64[14] (see _assign) and the grid
    parameters float64[25] (see _grid_params)."""
    coef = slack_coefficient(D)
    rot, origin, grid_lo, size, dims, a_lo, a_inv, n_keys, tile = _plan(
        lat_deg, lon_deg, alt_m, ve, vn, vu, coef, far_run, a_max, D, H, T
    )
    inv_size = 1.0 / size
    reg, mo, trng, inp, summary = _assign(
        lat_deg, lon_deg, alt_m, ve, vn, vu, rot, origin, grid_lo, inv_size, dims, tile,
        coef, far_run, a_max, D, H, T,
    )  # fmt: skip
    ntx = (dims[0] + tile - 1) // tile
    nty = (dims[1] + tile - 1) // tile
    tstart, members = _bucket(trng, ntx, nty)
    gp = np.empty(25, dtype=np.float64)
    gp[0:3] = grid_lo
    gp[3] = inv_size
    gp[4:7] = dims
    gp[7] = a_lo
    gp[8] = a_inv
    gp[9] = n_keys
    gp[10] = tile
    gp[11] = ntx
    gp[12] = nty
    gp[13:22] = rot.ravel()
    gp[22:25] = origin
    return reg, mo, inp, tstart, members, summary, gp


@njit(cache=True)
def _grid_params(
    gp: F64,
) -> tuple[F64, float, I64, float, float, int, int, int, F64, F64]:
    """Unpacks build_grid's parameters: grid_lo float64[3] (m), inv_size (1/m), dims
    int64[3], a_lo (m), a_inv (1/m), n_keys, tile, nty, rot float64[3, 3], origin
    float64[3] (m)."""
    dims = np.empty(3, dtype=np.int64)
    for c in range(3):
        dims[c] = int(gp[4 + c])
    return (
        gp[0:3].copy(), gp[3], dims, gp[7], gp[8], int(gp[9]), int(gp[10]), int(gp[12]),
        gp[13:22].copy().reshape((3, 3)), gp[22:25].copy(),
    )  # fmt: skip


@njit(cache=True)
def tile_chunks(tstart: I64) -> I64:
    """Boundaries int64[chunks + 1] of contiguous tile ranges holding about equal numbers
    of members (at most _TILE_CHUNKS ranges): the unit of parallel work."""
    ntiles = tstart.shape[0] - 1
    # A run-time value on purpose: with a global constant as an array size and prange
    # bound, numba 0.68 miscompiles the parallel loop.
    nchunk = max(1, min(_TILE_CHUNKS, ntiles))
    bounds = np.empty(nchunk + 1, dtype=np.int64)
    total = tstart[ntiles]
    for b in range(nchunk + 1):
        bounds[b] = np.searchsorted(tstart, total * b // nchunk)
    bounds[0] = 0
    bounds[nchunk] = ntiles
    for b in range(1, nchunk + 1):
        bounds[b] = min(max(bounds[b], bounds[b - 1]), ntiles)
    return bounds


@njit(cache=True)
def chunk_scratch(
    tstart: I64, t0: int, t1: int, gp: F64
) -> tuple[F64, F32, F32, I32, I64, I64, I32, F32, I64, I32, I32]:
    """Scratch for _tile_pairs over tiles [t0, t1), sized for the largest: lin, lm,
    lbox, lcr, cnt, cfill, si, sf, surv, ent, pairs (see _tile_pairs)."""
    m = 2
    for t in range(t0, t1):
        m = max(m, tstart[t + 1] - tstart[t])
    tile = int(gp[10])
    # (cfill doubles as the radix sort's 256 counters.)
    ncl = max(tile * tile * int(gp[6]) + 1, 256)
    return (
        np.empty((m, 6), dtype=np.float64),
        np.empty((m, 10), dtype=np.float32),
        np.empty((m, 6), dtype=np.float32),
        np.empty((m, 10), dtype=np.int32),
        np.empty(ncl, dtype=np.int64),
        np.empty(ncl, dtype=np.int64),
        np.empty((6, m), dtype=np.int32),
        np.empty((6, m), dtype=np.float32),
        np.empty(m, dtype=np.int64),
        np.empty(3 * m + 64, dtype=np.int32),
        np.empty((m + 64, 2), dtype=np.int32),
    )


@njit(cache=True)
def tile_pairs(
    t: int,
    tstart: I64,
    members: I32,
    mo: F32,
    n: int,
    far_run: bool,
    gp: F64,
    inp: F64,
    lin: F64,
    lm: F32,
    lbox: F32,
    lcr: I32,
    cnt: I64,
    cfill: I64,
    si: I32,
    sf: F32,
    surv: I64,
    ent: I32,
    pairs: I32,
) -> tuple[int, I32, I32]:
    """_tile_pairs with the grid parameters of build_grid."""
    grid_lo, inv_size, dims, a_lo, a_inv, n_keys, tile, nty, _, _ = _grid_params(gp)
    return _tile_pairs(
        t, tstart, members, mo, n, far_run, tile, nty, grid_lo, inv_size, dims, a_lo, a_inv,
        n_keys, inp, lin, lm, lbox, lcr, cnt, cfill, si, sf, surv, ent, pairs,
    )  # fmt: skip


@njit(cache=True)
def _candidates_chunk(
    t0: int,
    t1: int,
    tstart: I64,
    members: I32,
    mo: F32,
    inp: F64,
    n: int,
    far_run: bool,
    gp: F64,
    out_i: I64,
    out_j: I64,
    o0: int,
    write: bool,
) -> int:
    """Candidate pairs (i < j, track indices) of tiles [t0, t1): counted, or written
    from out_*[o0]. Returns the count."""
    lin, lm, lbox, lcr, cnt, cfill, si, sf, surv, ent, pairs = chunk_scratch(tstart, t0, t1, gp)
    k = 0
    for t in range(t0, t1):
        npair, ent, pairs = tile_pairs(
            t, tstart, members, mo, n, far_run, gp, inp, lin, lm, lbox, lcr, cnt, cfill,
            si, sf, surv, ent, pairs,
        )  # fmt: skip
        s0 = tstart[t]
        for q in range(npair):
            i = members[s0 + pairs[q, 0]] % n
            j = members[s0 + pairs[q, 1]] % n
            if write:
                out_i[o0 + k] = min(i, j)
                out_j[o0 + k] = max(i, j)
            k += 1
    return k


@njit(cache=True)
def _candidates(
    tstart: I64, members: I32, mo: F32, inp: F64, n: int, far_run: bool, gp: F64
) -> tuple[I64, I64]:
    """Candidate pairs (i < j), int64[K] each, of one run: counted, then written.
    Serial (screen_conflicts does not use it; a parallel loop would cost compile time)."""
    ntiles = tstart.shape[0] - 1
    none = np.empty(0, dtype=np.int64)
    write = n < 0
    total = _candidates_chunk(
        0, ntiles, tstart, members, mo, inp, n, far_run, gp, none, none, 0, write
    )
    out_i = np.empty(total, dtype=np.int64)
    out_j = np.empty(total, dtype=np.int64)
    _candidates_chunk(
        0, ntiles, tstart, members, mo, inp, n, far_run, gp, out_i, out_j, 0, not write
    )
    return out_i, out_j


@njit(cache=True)
def far_side_possible(summary: F64, gp: F64, D: float) -> bool:
    """Whether the far run is needed (see _far_side_possible), from build_grid's
    summary and parameters."""
    return _far_side_possible(summary, gp[13:22].copy().reshape((3, 3)), gp[22:25].copy(), D)


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


@njit(cache=True)
def candidate_pairs(
    lat_deg: F64,
    lon_deg: F64,
    alt_m: F64,
    ve: F64,
    vn: F64,
    vu: F64,
    D: float,
    H: float,
    T: float,
) -> tuple[I64, I64]:
    """Candidate pairs (i < j), a superset of the pairs screen_all_pairs flags.

    Same inputs as :func:`kernels.screen.screen_all_pairs`: lat_deg, lon_deg float64[N]
    (degrees), alt_m (m), ve, vn, vu (m/s, own ENU); D, H (m), T (s). Returns (i, j),
    int64[K] each, sorted by (i, j), each pair once: the grid's candidates (near and far
    runs) and every pair with a wild track. Empty when no conflict is possible (D or H
    zero or NaN, T < 0 or NaN). Raises ValueError for parameters outside
    :func:`parameters_supported` or an infinite T.
    """
    check_inputs(lat_deg, lon_deg, alt_m, ve, vn, vu)
    n = lat_deg.shape[0]
    if no_conflict_possible(D, H, T) and not (D < 0.0 or H < 0.0):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if not parameters_supported(D, H, T) or not math.isfinite(T):
        raise ValueError("candidate_pairs: D, H or T outside the range the broad phase covers")
    # Run-time values rather than literals: numba compiles a function once per literal
    # argument value, and these are passed down a long chain.
    far_run = n < 0
    no_reach = 0.0 * n
    reg, mo, inp, tstart, members, summary, gp = build_grid(
        lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T, far_run, no_reach
    )
    ci, cj = _candidates(tstart, members, mo, inp, n, far_run, gp)
    if far_side_possible(summary, gp, D):
        _, fmo, finp, ftstart, fmembers, _, fgp = build_grid(
            lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T, not far_run, summary[13]
        )
        fi, fj = _candidates(ftstart, fmembers, fmo, finp, n, not far_run, fgp)
        ci = np.concatenate((ci, fi))
        cj = np.concatenate((cj, fj))
    wild = np.nonzero(~reg)[0]
    nw = wild.shape[0]
    # Pairs with a wild track: (w, k) for every k, counted once when both are wild.
    extra = nw * (n - 1) - nw * (nw - 1) // 2
    kc = ci.shape[0]
    pi = np.empty(kc + extra, dtype=np.int64)
    pj = np.empty(kc + extra, dtype=np.int64)
    pi[:kc] = ci
    pj[:kc] = cj
    t = kc
    for w in wild:
        for k in range(n):
            if k == w or (not reg[k] and k < w):
                continue
            pi[t] = min(w, k)
            pj[t] = max(w, k)
            t += 1
    order = pair_order(pi, pj, n)
    return pi[order], pj[order]


@njit(cache=True)
def count_candidates(
    lat_deg: F64,
    lon_deg: F64,
    alt_m: F64,
    ve: F64,
    vn: F64,
    vu: F64,
    D: float,
    H: float,
    T: float,
) -> int:
    """The number of pairs :func:`candidate_pairs` returns (same arguments)."""
    return int(candidate_pairs(lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T)[0].shape[0])
