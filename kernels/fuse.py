"""Filtering of system tracks: associated reports applied in time order, per track.

Pure Numba over NumPy arrays; no I/O. The caller (fusion) decides which system track
each report belongs to; this module predicts and updates. Tracks are independent, so
:func:`apply_reports` runs over tracks with ``prange`` (in the calling thread for a
small batch), each track's reports in time order; the result does not depend on the
thread count.

State of a system track (one row of each array):

* ``ref`` float64[2]: latitude, longitude (degrees) of the point whose local
  east-north-up plane carries the horizontal state. It is moved to the predicted
  position before every update ("re-centring"), so positions in the plane stay within a
  few hundred metres of its origin, where the plane and the ellipsoid agree to
  millimetres.
* ``xh`` float64[4] = [e, n, ve, vn] (m, m/s) in that plane, ``Ph`` float64[4, 4].
* ``xv`` float64[2] = [alt, vu] (m, m/s), ``Pv`` float64[2, 2].
* ``t`` float64: data time of the state, UTC epoch s.

Horizontal positions are measured as in kernels.screen: the east and north components
of the difference between the two sea-level sub-points. Re-centring moves the origin to
the sea-level foot of the predicted point and rotates the velocity and the covariance
into the new east/north axes (the axes turn by the arc travelled, 1e-4 rad per km).
Velocities reported in the sensor's own ENU (at the measured position) are rotated into
the track's plane the same way.

Motion model and update: :mod:`kernels.kalman` (constant velocity, white-noise
acceleration; Joseph-form update), in its scalar forms: a track's state is read into
local variables, its reports applied, and the state written back once. ``Ph`` and
``Pv`` are kept symmetric bit for bit (an asymmetric one is read as the mean of its
two halves).

Cost on this project's 2-core test machine: 0.65 us per report on one core at 10,000
tracks, 0.9 us at 50,000 (their state no longer fits the caches); about a quarter of
it is libm (14 sines, cosines and arctangents per report, re-centring and measuring).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from kernels.geo import WGS84_A, WGS84_E2, Frame, subpoint_frame_1
from kernels.kalman import (
    Sym2,
    Sym4,
    Vec2,
    Vec4,
    gate_cv2,
    predict_cv1,
    predict_cv2,
    update_cv1,
    update_cv2,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]

# Outcome codes of a report in apply_reports.
APPLIED = 0
LATE = 1  # older than the track's state: never applied as if it were new
BAD = 2  # S not positive definite, or a non-finite position: left out
REJECTED = 3  # beyond its max_d2 gate: the track is predicted to its time, not updated


# Fixed-point steps of the sea-level foot's latitude from a first guess (the old origin's
# latitude plus north offset / radius, off by (offset / R)^2 ~ 1e-7 rad at 3 km). Each
# step shrinks the error by about e^2 = 0.0067: three leave < 1e-12 rad (< 0.01 mm) for
# offsets up to 20 km, where ecef_to_geodetic_1 takes five steps from a cold start.
_FOOT_STEPS = 3
# Mean meridian radius, m: only the first guess uses it.
_R_GUESS = 6_367_000.0


@njit(cache=True, inline="always")
def _turn(b00: float, b01: float, b10: float, b11: float, u: float, v: float) -> Vec2:
    """(u, v) in the old east/north axes -> the new ones (B applied)."""
    return b00 * u + b01 * v, b10 * u + b11 * v


@njit(cache=True)
def _recentre(
    lat_deg: float, lon_deg: float, x: Vec4, P: Sym4
) -> tuple[float, float, Vec4, Sym4, Frame]:
    """Move the plane's origin (lat_deg, lon_deg; degrees) to the track's current (e, n):
    the origin becomes that point's sea-level foot, (e, n) becomes (0, 0), and velocity
    and covariance (x = [e, n, ve, vn] m, m/s; P Sym4) turn into the new east/north axes.
    Returns (lat_deg, lon_deg, x, P, frame of the new origin)."""
    lat0 = math.radians(lat_deg)
    x0, y0, z0, ex0, ey0, ez0, nx0, ny0, nz0 = subpoint_frame_1(lat0, math.radians(lon_deg))
    e = x[0]
    n = x[1]
    px = x0 + e * ex0 + n * nx0
    py = y0 + e * ey0 + n * ny0
    pz = z0 + e * ez0 + n * nz0
    p = math.hypot(px, py)
    lat = lat0 + n / _R_GUESS
    for _ in range(_FOOT_STEPS):
        sl = math.sin(lat)
        nr = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sl * sl)
        lat = math.atan2(pz + WGS84_E2 * nr * sl, p)
    lon = math.atan2(py, px)
    fr = subpoint_frame_1(lat, lon)
    ex1, ey1, ez1, nx1, ny1, nz1 = fr[3], fr[4], fr[5], fr[6], fr[7], fr[8]
    # B maps (east0, north0) components to (east1, north1) ones.
    b00 = ex1 * ex0 + ey1 * ey0 + ez1 * ez0
    b01 = ex1 * nx0 + ey1 * ny0 + ez1 * nz0
    b10 = nx1 * ex0 + ny1 * ey0 + nz1 * ez0
    b11 = nx1 * nx0 + ny1 * ny0 + nz1 * nz0
    ve, vn = _turn(b00, b01, b10, b11, x[2], x[3])
    # P <- Bd P Bd^T with Bd = blockdiag(B, B): T = Bd P column by column, then T Bd^T
    # row by row, then symmetrised (the two halves round differently).
    p00, p01, p02, p03, p11, p12, p13, p22, p23, p33 = P
    t00, t10 = _turn(b00, b01, b10, b11, p00, p01)
    t01, t11 = _turn(b00, b01, b10, b11, p01, p11)
    t02, t12 = _turn(b00, b01, b10, b11, p02, p12)
    t03, t13 = _turn(b00, b01, b10, b11, p03, p13)
    t20, t30 = _turn(b00, b01, b10, b11, p02, p03)
    t21, t31 = _turn(b00, b01, b10, b11, p12, p13)
    t22, t32 = _turn(b00, b01, b10, b11, p22, p23)
    t23, t33 = _turn(b00, b01, b10, b11, p23, p33)
    a00, a01 = _turn(b00, b01, b10, b11, t00, t01)
    a02, a03 = _turn(b00, b01, b10, b11, t02, t03)
    a10, a11 = _turn(b00, b01, b10, b11, t10, t11)
    a12, a13 = _turn(b00, b01, b10, b11, t12, t13)
    a20, a21 = _turn(b00, b01, b10, b11, t20, t21)
    a22, a23 = _turn(b00, b01, b10, b11, t22, t23)
    a30, a31 = _turn(b00, b01, b10, b11, t30, t31)
    a32, a33 = _turn(b00, b01, b10, b11, t32, t33)
    Pr: Sym4 = (
        a00,
        0.5 * (a01 + a10),
        0.5 * (a02 + a20),
        0.5 * (a03 + a30),
        a11,
        0.5 * (a12 + a21),
        0.5 * (a13 + a31),
        a22,
        0.5 * (a23 + a32),
        a33,
    )
    xr: Vec4 = (0.0, 0.0, ve, vn)
    return math.degrees(lat), math.degrees(lon), xr, Pr, fr


@njit(cache=True)
def _measure(fr: Frame, lat_deg: float, lon_deg: float, ve: float, vn: float) -> Vec4:
    """A report's horizontal measurement in the plane of frame fr (from
    kernels.geo.subpoint_frame_1): (e, n) of its sea-level sub-point (m), then its
    velocity (m/s, given in its own ENU) in the plane's axes."""
    x0, y0, z0, ex, ey, ez, nx, ny, nz = fr
    lat = math.radians(lat_deg)
    x1, y1, z1, rex, rey, rez, rnx, rny, rnz = subpoint_frame_1(lat, math.radians(lon_deg))
    dx = x1 - x0
    dy = y1 - y0
    dz = z1 - z0
    gx = ve * rex + vn * rnx
    gy = ve * rey + vn * rny
    gz = ve * rez + vn * rnz
    return (
        ex * dx + ey * dy + ez * dz,
        nx * dx + ny * dy + nz * dz,
        ex * gx + ey * gy + ez * gz,
        nx * gx + ny * gy + nz * gz,
    )


@njit(cache=True, inline="always")
def _load_h(xh: F64, Ph: F64, s: int) -> tuple[Vec4, Sym4]:
    """Row s of xh float64[N, 4], Ph float64[N, 4, 4] as local values; P's two halves
    averaged (exact on the symmetric P this module stores)."""
    x: Vec4 = (xh[s, 0], xh[s, 1], xh[s, 2], xh[s, 3])
    P: Sym4 = (
        Ph[s, 0, 0],
        0.5 * (Ph[s, 0, 1] + Ph[s, 1, 0]),
        0.5 * (Ph[s, 0, 2] + Ph[s, 2, 0]),
        0.5 * (Ph[s, 0, 3] + Ph[s, 3, 0]),
        Ph[s, 1, 1],
        0.5 * (Ph[s, 1, 2] + Ph[s, 2, 1]),
        0.5 * (Ph[s, 1, 3] + Ph[s, 3, 1]),
        Ph[s, 2, 2],
        0.5 * (Ph[s, 2, 3] + Ph[s, 3, 2]),
        Ph[s, 3, 3],
    )
    return x, P


@njit(cache=True, inline="always")
def _load_v(xv: F64, Pv: F64, s: int) -> tuple[Vec2, Sym2]:
    """Row s of xv float64[N, 2], Pv float64[N, 2, 2] as local values."""
    x: Vec2 = (xv[s, 0], xv[s, 1])
    P: Sym2 = (Pv[s, 0, 0], 0.5 * (Pv[s, 0, 1] + Pv[s, 1, 0]), Pv[s, 1, 1])
    return x, P


@njit(cache=True, inline="always")
def _store(xh: F64, Ph: F64, xv: F64, Pv: F64, s: int, x: Vec4, P: Sym4, y: Vec2, Q: Sym2) -> None:
    """Write local state back into row s (both halves of each covariance)."""
    for a in range(4):
        xh[s, a] = x[a]
    k = 0
    for a in range(4):
        for b in range(a, 4):
            Ph[s, a, b] = P[k]
            Ph[s, b, a] = P[k]
            k += 1
    xv[s, 0] = y[0]
    xv[s, 1] = y[1]
    Pv[s, 0, 0] = Q[0]
    Pv[s, 0, 1] = Q[1]
    Pv[s, 1, 0] = Q[1]
    Pv[s, 1, 1] = Q[2]


# Report fields gathered per chunk of groups in apply_reports (columns of its scratch).
_N_FIELDS = 12
# Groups (tracks) per chunk of the parallel loops: apply_reports' scratch (one row of
# _N_FIELDS per report) stays in the L1/L2 cache.
_CHUNK = 256
# Below this many reports (apply_reports) or tracks (states_at) the loop runs in the
# calling thread: the work (under a millisecond) does not pay for waking the other
# threads, and on a busy machine a parallel region waits for a descheduled thread
# (measured: 12 ms instead of 1.3 for 1,000 reports on 2 cores at load 3).
_MIN_PARALLEL = 4096


@njit(cache=True)
def _apply_chunk(
    g0: int,
    g1: int,
    groups: I64,
    order: I64,
    slots: I64,
    ref: F64,
    xh: F64,
    Ph: F64,
    xv: F64,
    Pv: F64,
    t_state: F64,
    t: F64,
    lat_deg: F64,
    lon_deg: F64,
    alt_m: F64,
    ve: F64,
    vn: F64,
    vu: F64,
    sigma_h: F64,
    sigma_v: F64,
    sigma_vel: F64,
    sigma_vu: F64,
    max_d2: F64,
    outcome: I64,
    d2: F64,
    q_h: float,
    q_v: float,
) -> None:
    """Groups g0..g1-1 of :func:`apply_reports` (same arguments), in order; writes their
    reports' outcome and d2. One call per chunk rather than per group: every call
    counts references to its array arguments, atomically."""
    k0 = groups[g0]
    # The chunk's reports, field by field in group order: the reports arrive in time
    # order, so order[k] jumps about, and reading the fields there as the filter goes
    # made it wait on a cache miss per field. A loop of nothing but loads lets the
    # misses overlap; the filter then reads the rows in sequence. (Plain indexing
    # throughout: a row view would cost an atomic reference count too.)
    rows = np.empty((groups[g1] - k0, _N_FIELDS), dtype=np.float64)
    for k in range(k0, groups[g1]):
        r = order[k]
        i = k - k0
        rows[i, 0] = t[r]
        rows[i, 1] = lat_deg[r]
        rows[i, 2] = lon_deg[r]
        rows[i, 3] = alt_m[r]
        rows[i, 4] = ve[r]
        rows[i, 5] = vn[r]
        rows[i, 6] = vu[r]
        rows[i, 7] = sigma_h[r]
        rows[i, 8] = sigma_v[r]
        rows[i, 9] = sigma_vel[r]
        rows[i, 10] = sigma_vu[r]
        rows[i, 11] = max_d2[r]
    for g in range(g0, g1):
        # The track's state lives in local variables while its reports are applied and
        # is written back once (see kernels.kalman's scalar forms for why).
        s = slots[g]
        lat0 = ref[s, 0]
        lon0 = ref[s, 1]
        x, P = _load_h(xh, Ph, s)
        y, Q = _load_v(xv, Pv, s)
        ts = t_state[s]
        moved = False
        for k in range(groups[g], groups[g + 1]):
            i = k - k0
            r = order[k]
            t_r = rows[i, 0]
            dt = t_r - ts
            if not dt >= 0.0:
                outcome[r] = LATE
                continue
            if not (math.isfinite(rows[i, 1]) and math.isfinite(rows[i, 2])):
                continue
            sh = rows[i, 7]
            if not sh > 0.0:
                continue
            x, P = predict_cv2(x, P, dt, q_h)
            y, Q = predict_cv1(y, Q, dt, q_v)
            ts = t_r
            moved = True
            lat0, lon0, x, P, fr = _recentre(lat0, lon0, x, P)
            z = _measure(fr, rows[i, 1], rows[i, 2], rows[i, 4], rows[i, 5])
            rh = sh * sh
            d2_r = gate_cv2(x, P, z[0], z[1], rh, rh)
            d2[r] = d2_r
            if d2_r > rows[i, 11]:
                outcome[r] = REJECTED
                continue
            sv = rows[i, 9]
            if sv > 0.0 and math.isfinite(z[2]) and math.isfinite(z[3]):
                x, P, res = update_cv2(x, P, z, (rh, rh, sv * sv, sv * sv), 4)
            else:
                x, P, res = update_cv2(x, P, z, (rh, rh, 0.0, 0.0), 2)
            if not res < math.inf:
                continue
            outcome[r] = APPLIED
            alt = rows[i, 3]
            if math.isfinite(alt) and rows[i, 8] > 0.0:
                rv = rows[i, 8] * rows[i, 8]
                vu_r = rows[i, 6]
                svu = rows[i, 10]
                if math.isfinite(vu_r) and svu > 0.0:
                    y, Q, _ = update_cv1(y, Q, (alt, vu_r), (rv, svu * svu), 2)
                else:
                    y, Q, _ = update_cv1(y, Q, (alt, 0.0), (rv, 0.0), 1)
        if moved:
            ref[s, 0] = lat0
            ref[s, 1] = lon0
            t_state[s] = ts
            _store(xh, Ph, xv, Pv, s, x, P, y, Q)


@njit(cache=True, parallel=True)
def apply_reports(
    groups: I64,
    order: I64,
    slots: I64,
    ref: F64,
    xh: F64,
    Ph: F64,
    xv: F64,
    Pv: F64,
    t_state: F64,
    t: F64,
    lat_deg: F64,
    lon_deg: F64,
    alt_m: F64,
    ve: F64,
    vn: F64,
    vu: F64,
    sigma_h: F64,
    sigma_v: F64,
    sigma_vel: F64,
    sigma_vu: F64,
    max_d2: F64,
    q_h: float,
    q_v: float,
) -> tuple[I64, F64]:
    """Apply reports to system tracks, each track's reports in the given order.

    groups: int64[S + 1] offsets into ``order``; group g's reports are
    ``order[groups[g]:groups[g + 1]]`` (report indices, in time order) and go to track
    row ``slots[g]`` (distinct rows). Track state (modified in place, rows of): ref
    float64[N, 2] deg; xh float64[N, 4], Ph float64[N, 4, 4] (symmetric); xv
    float64[N, 2], Pv float64[N, 2, 2] (symmetric); t_state float64[N] s. Reports
    (float64[M] each): t s; lat_deg, lon_deg deg; alt_m m (NaN: no altitude); ve, vn m/s
    (NaN: no velocity); vu m/s (NaN: none); sigma_h m, sigma_v m, sigma_vel m/s (1 sigma
    per axis; sigma_vel NaN or <= 0: velocity not used), sigma_vu m/s (vertical rate;
    NaN or <= 0: not used). max_d2 float64[M]: a report whose d2 (below) exceeds it is
    REJECTED (inf: always applied). q_h, q_v: process noise densities, m^2/s^3.

    Returns (outcome int64[M]: APPLIED, LATE, BAD or REJECTED; d2 float64[M]: squared
    Mahalanobis distance of the horizontal position innovation before the update, the
    consistency of the report with its track; NaN where not computed).
    """
    m = t.shape[0]
    outcome = np.full(m, BAD, dtype=np.int64)
    d2 = np.full(m, np.nan, dtype=np.float64)
    n_groups = groups.shape[0] - 1
    n_chunks = (n_groups + _CHUNK - 1) // _CHUNK
    if m < _MIN_PARALLEL:
        for c in range(n_chunks):
            _apply_chunk(
                c * _CHUNK, min(n_groups, (c + 1) * _CHUNK), groups, order, slots,
                ref, xh, Ph, xv, Pv, t_state,
                t, lat_deg, lon_deg, alt_m, ve, vn, vu, sigma_h, sigma_v, sigma_vel, sigma_vu,
                max_d2, outcome, d2, q_h, q_v,
            )  # fmt: skip
        return outcome, d2
    for c in prange(n_chunks):
        _apply_chunk(
            c * _CHUNK, min(n_groups, (c + 1) * _CHUNK), groups, order, slots,
            ref, xh, Ph, xv, Pv, t_state,
            t, lat_deg, lon_deg, alt_m, ve, vn, vu, sigma_h, sigma_v, sigma_vel, sigma_vu, max_d2,
            outcome, d2, q_h, q_v,
        )  # fmt: skip
    return outcome, d2


@njit(cache=True)
def _states_chunk(
    lo: int,
    hi: int,
    tc: float,
    ref: F64,
    xh: F64,
    Ph: F64,
    xv: F64,
    Pv: F64,
    t_state: F64,
    q_h: float,
    q_v: float,
    lat: F64,
    lon: F64,
    alt: F64,
    oe: F64,
    on: F64,
    ou: F64,
    sh: F64,
    sv: F64,
) -> None:
    """Rows lo..hi-1 of :func:`states_at` (same arguments, then its outputs)."""
    for s in range(lo, hi):
        x, P = _load_h(xh, Ph, s)
        y, Q = _load_v(xv, Pv, s)
        dt = tc - t_state[s]
        x, P = predict_cv2(x, P, dt, q_h)
        y, Q = predict_cv1(y, Q, dt, q_v)
        lat[s], lon[s], x, P, _ = _recentre(ref[s, 0], ref[s, 1], x, P)
        alt[s] = y[0]
        oe[s] = x[2]
        on[s] = x[3]
        ou[s] = y[1]
        sh[s] = math.sqrt(max(0.5 * (P[0] + P[4]), 0.0))
        sv[s] = math.sqrt(max(Q[0], 0.0))


@njit(cache=True, parallel=True)
def states_at(
    tc: float,
    ref: F64,
    xh: F64,
    Ph: F64,
    xv: F64,
    Pv: F64,
    t_state: F64,
    q_h: float,
    q_v: float,
) -> tuple[F64, F64, F64, F64, F64, F64, F64, F64]:
    """Every track predicted to data time tc (s), without touching the stored state.

    Track state as in :func:`apply_reports` (N rows). Returns (lat_deg, lon_deg, alt_m,
    ve, vn, vu, sigma_h, sigma_v), float64[N] each: position (deg, m), velocity in the
    ENU at the predicted position (m/s), and the predicted 1-sigma horizontal (RMS of
    the two axes) and vertical position uncertainty (m).
    """
    n = t_state.shape[0]
    lat = np.empty(n, dtype=np.float64)
    lon = np.empty(n, dtype=np.float64)
    alt = np.empty(n, dtype=np.float64)
    oe = np.empty(n, dtype=np.float64)
    on = np.empty(n, dtype=np.float64)
    ou = np.empty(n, dtype=np.float64)
    sh = np.empty(n, dtype=np.float64)
    sv = np.empty(n, dtype=np.float64)
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    if n < _MIN_PARALLEL:
        for c in range(n_chunks):
            _states_chunk(
                c * _CHUNK, min(n, (c + 1) * _CHUNK), tc, ref, xh, Ph, xv, Pv, t_state,
                q_h, q_v, lat, lon, alt, oe, on, ou, sh, sv,
            )  # fmt: skip
        return lat, lon, alt, oe, on, ou, sh, sv
    for c in prange(n_chunks):
        _states_chunk(
            c * _CHUNK, min(n, (c + 1) * _CHUNK), tc, ref, xh, Ph, xv, Pv, t_state, q_h, q_v,
            lat, lon, alt, oe, on, ou, sh, sv,
        )  # fmt: skip
    return lat, lon, alt, oe, on, ou, sh, sv
