"""Filtering of system tracks: associated reports applied in time order, per track.

Pure Numba over NumPy arrays; no I/O. The caller (fusion) decides which system track
each report belongs to; this module predicts and updates. Tracks are independent, so
:func:`apply_reports` runs over tracks with ``prange``, each track's reports in time
order; the result does not depend on the thread count.

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
acceleration; Joseph-form update).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from kernels.geo import WGS84_A, WGS84_E2, Frame, subpoint_frame_1
from kernels.kalman import gate_1, predict_1, update_1

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


@njit(cache=True)
def _recentre(ref: F64, xh: F64, Ph: F64, T1: F64) -> Frame:
    """Move the plane's origin to the track's current (e, n), in place: ref becomes that
    point's sea-level foot, (e, n) becomes (0, 0), and velocity and covariance turn into
    the new east/north axes. T1: float64[4, 4] scratch. Returns the new origin's frame."""
    lat0 = math.radians(ref[0])
    x0, y0, z0, ex0, ey0, ez0, nx0, ny0, nz0 = subpoint_frame_1(lat0, math.radians(ref[1]))
    e = xh[0]
    n = xh[1]
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
    ve = xh[2]
    vn = xh[3]
    xh[0] = 0.0
    xh[1] = 0.0
    xh[2] = b00 * ve + b01 * vn
    xh[3] = b10 * ve + b11 * vn
    # Ph <- Bd Ph Bd^T with Bd = blockdiag(B, B).
    for blk in range(2):
        o = 2 * blk
        for c in range(4):
            T1[o, c] = b00 * Ph[o, c] + b01 * Ph[o + 1, c]
            T1[o + 1, c] = b10 * Ph[o, c] + b11 * Ph[o + 1, c]
    for r in range(4):
        for blk in range(2):
            o = 2 * blk
            Ph[r, o] = T1[r, o] * b00 + T1[r, o + 1] * b01
            Ph[r, o + 1] = T1[r, o] * b10 + T1[r, o + 1] * b11
    for a in range(4):
        for b in range(a + 1, 4):
            s = 0.5 * (Ph[a, b] + Ph[b, a])
            Ph[a, b] = s
            Ph[b, a] = s
    ref[0] = math.degrees(lat)
    ref[1] = math.degrees(lon)
    return fr


@njit(cache=True)
def _measure(fr: Frame, lat_deg: float, lon_deg: float, ve: float, vn: float, z: F64) -> None:
    """A report's horizontal measurement in the plane of frame fr (from
    kernels.geo.subpoint_frame_1): z[:2] = (e, n) of its sea-level sub-point (m); z[2:4] =
    its velocity (m/s, given in its own ENU) in the plane's axes."""
    x0, y0, z0, ex, ey, ez, nx, ny, nz = fr
    lat = math.radians(lat_deg)
    x1, y1, z1, rex, rey, rez, rnx, rny, rnz = subpoint_frame_1(lat, math.radians(lon_deg))
    dx = x1 - x0
    dy = y1 - y0
    dz = z1 - z0
    z[0] = ex * dx + ey * dy + ez * dz
    z[1] = nx * dx + ny * dy + nz * dz
    gx = ve * rex + vn * rnx
    gy = ve * rey + vn * rny
    gz = ve * rez + vn * rnz
    z[2] = ex * gx + ey * gy + ez * gz
    z[3] = nx * gx + ny * gy + nz * gz


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
    float64[N, 2] deg; xh float64[N, 4], Ph float64[N, 4, 4]; xv float64[N, 2], Pv
    float64[N, 2, 2]; t_state float64[N] s. Reports (float64[M] each): t s; lat_deg,
    lon_deg deg; alt_m m (NaN: no altitude); ve, vn m/s (NaN: no velocity); vu m/s (NaN:
    none); sigma_h m, sigma_v m, sigma_vel m/s (1 sigma per axis; sigma_vel NaN or <= 0:
    velocity not used), sigma_vu m/s (vertical rate; NaN or <= 0: not used).
    max_d2 float64[M]: a report whose d2 (below) exceeds it is REJECTED (inf: always
    applied). q_h, q_v: process noise densities, m^2/s^3.

    Returns (outcome int64[M]: APPLIED, LATE, BAD or REJECTED; d2 float64[M]: squared
    Mahalanobis distance of the horizontal position innovation before the update, the
    consistency of the report with its track; NaN where not computed).
    """
    m = t.shape[0]
    outcome = np.full(m, BAD, dtype=np.int64)
    d2 = np.full(m, np.nan, dtype=np.float64)
    n_groups = groups.shape[0] - 1
    # Chunks of groups, so that the scratch arrays are allocated once per chunk rather
    # than once per track (a release holds one report per track, typically).
    per = 256
    n_chunks = (n_groups + per - 1) // per
    for c in prange(n_chunks):
        z = np.empty(4, dtype=np.float64)
        nu = np.empty(4, dtype=np.float64)
        R = np.zeros((4, 4), dtype=np.float64)
        zv = np.empty(2, dtype=np.float64)
        Rv = np.zeros((2, 2), dtype=np.float64)
        work = np.empty((6, 4, 4), dtype=np.float64)
        for g in range(c * per, min(n_groups, (c + 1) * per)):
            s = slots[g]
            for k in range(groups[g], groups[g + 1]):
                r = order[k]
                dt = t[r] - t_state[s]
                if not dt >= 0.0:
                    outcome[r] = LATE
                    continue
                if not (math.isfinite(lat_deg[r]) and math.isfinite(lon_deg[r])):
                    continue
                sh = sigma_h[r]
                if not sh > 0.0:
                    continue
                predict_1(xh[s], Ph[s], dt, q_h)
                predict_1(xv[s], Pv[s], dt, q_v)
                t_state[s] = t[r]
                fr = _recentre(ref[s], xh[s], Ph[s], work[5])
                _measure(fr, lat_deg[r], lon_deg[r], ve[r], vn[r], z)
                R[0, 0] = sh * sh
                R[1, 1] = sh * sh
                d2[r] = gate_1(xh[s], Ph[s], z[:2], R[:2, :2], work)
                if d2[r] > max_d2[r]:
                    outcome[r] = REJECTED
                    continue
                sv = sigma_vel[r]
                if sv > 0.0 and math.isfinite(z[2]) and math.isfinite(z[3]):
                    R[2, 2] = sv * sv
                    R[3, 3] = sv * sv
                    res = update_1(xh[s], Ph[s], z, R, nu, work)
                else:
                    res = update_1(xh[s], Ph[s], z[:2], R[:2, :2], nu, work)
                if not res < math.inf:
                    continue
                outcome[r] = APPLIED
                if math.isfinite(alt_m[r]) and sigma_v[r] > 0.0:
                    zv[0] = alt_m[r]
                    Rv[0, 0] = sigma_v[r] * sigma_v[r]
                    svu = sigma_vu[r]
                    if math.isfinite(vu[r]) and svu > 0.0:
                        zv[1] = vu[r]
                        Rv[1, 1] = svu * svu
                        update_1(xv[s], Pv[s], zv, Rv, nu, work)
                    else:
                        update_1(xv[s], Pv[s], zv[:1], Rv[:1, :1], nu, work)
    return outcome, d2


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

    Returns (lat_deg, lon_deg, alt_m, ve, vn, vu, sigma_h, sigma_v), float64[N] each:
    position (deg, m), velocity in the ENU at the predicted position (m/s), and the
    predicted 1-sigma horizontal (RMS of the two axes) and vertical position
    uncertainty (m).
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
    per = 256  # tracks per chunk: scratch allocated once per chunk
    n_chunks = (n + per - 1) // per
    for c in prange(n_chunks):
        T1 = np.empty((4, 4), dtype=np.float64)
        r = np.empty(2, dtype=np.float64)
        x = np.empty(4, dtype=np.float64)
        P = np.empty((4, 4), dtype=np.float64)
        y = np.empty(2, dtype=np.float64)
        Q = np.empty((2, 2), dtype=np.float64)
        for s in range(c * per, min(n, (c + 1) * per)):
            r[:] = ref[s]
            x[:] = xh[s]
            P[:, :] = Ph[s]
            y[:] = xv[s]
            Q[:, :] = Pv[s]
            dt = tc - t_state[s]
            predict_1(x, P, dt, q_h)
            predict_1(y, Q, dt, q_v)
            _recentre(r, x, P, T1)
            lat[s] = r[0]
            lon[s] = r[1]
            alt[s] = y[0]
            oe[s] = x[2]
            on[s] = x[3]
            ou[s] = y[1]
            sh[s] = math.sqrt(max(0.5 * (P[0, 0] + P[1, 1]), 0.0))
            sv[s] = math.sqrt(max(Q[0, 0], 0.0))
    return lat, lon, alt, oe, on, ou, sh, sv
