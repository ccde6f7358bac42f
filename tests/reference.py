"""Plain references for the Numba kernels, written independently of them (no numba, no
kernels.*). They trade speed for being easy to check:

* :func:`conflict_window_exact`: one pair in ``decimal`` arithmetic at 200 digits with
  the textbook quadratic formula, (-b +- sqrt(b^2 - a c)) / a; every input float is
  converted exactly, so b^2 - a c is exact and its sign (grazing, touching) is decided
  exactly.
* :func:`conflict_window_ref`: vectorised float64 NumPy, formulated about the time of
  closest approach: t* = -(p.v)/|v|^2, miss distance from the position at t*, window
  t* -+ sqrt(D^2 - miss^2)/|v|. Absolute errors of order eps * |p| / |v|, which is
  what tests with a tolerance need, not relative precision near zero.
* :func:`screen_all_pairs_ref`: all pairs with pyproj's WGS-84 geodetic -> ECEF
  (EPSG:4979 -> EPSG:4978), the up axis as the normalised gradient of the ellipsoid,
  north = up x east, and :func:`conflict_window_ref` on every pair, except pairs on
  opposite sides of the globe (j's sub-point more than b^2 / a below i's tangent plane).

Conventions are those of ``kernels/cpa.py``: strict loss of separation (d < D and
|dz| < H), window = open horizontal interval & open vertical interval & [0, T], no
conflict -> (t_in, t_out) = (+inf, -inf), t_cpa = horizontal CPA time clamped to [0, T]
(0 when the horizontal relative velocity is zero).
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

F64 = npt.NDArray[np.float64]

WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563

_DINF = Decimal("Infinity")


def _window(
    h: tuple[Decimal, Decimal] | None, z: tuple[Decimal, Decimal] | None, t_end: Decimal
) -> tuple[bool, Decimal, Decimal]:
    """(open h) & (open z) & [0, T] as (conflict, t_in, t_out), on exact Decimals."""
    if h is None or z is None:
        return False, _DINF, -_DINF
    lo = max(h[0], z[0])
    hi = min(h[1], z[1])
    # Open (lo, hi) meets closed [0, T] iff lo < hi, lo < T, hi > 0 and 0 <= T.
    if lo < hi and lo < t_end and hi > 0 and t_end >= 0:
        return True, max(lo, Decimal(0)), min(hi, t_end)
    return False, _DINF, -_DINF


def conflict_window_exact(
    px: float,
    py: float,
    pz: float,
    vx: float,
    vy: float,
    vz: float,
    D: float,
    H: float,
    T: float,
) -> tuple[bool, float, float, float, float, float]:
    """One pair, high precision: (conflict, t_in, t_out, t_cpa, d_cpa, dz_cpa) rounded to
    float at the end. Positions m, velocities m/s, times s."""
    with localcontext() as ctx:
        ctx.prec = 200
        Px, Py, Pz, Vx, Vy, Vz, Dd, Hd, Td = (
            Decimal(float(x)) for x in (px, py, pz, vx, vy, vz, D, H, T)
        )
        a = Vx * Vx + Vy * Vy
        b = Px * Vx + Py * Vy
        c = Px * Px + Py * Py - Dd * Dd

        h: tuple[Decimal, Decimal] | None
        if a == 0:
            h = (-_DINF, _DINF) if c < 0 else None
        else:
            disc = b * b - a * c
            if disc > 0:
                sq = disc.sqrt()
                h = ((-b - sq) / a, (-b + sq) / a)
            else:
                h = None

        z: tuple[Decimal, Decimal] | None
        if Vz == 0:
            z = (-_DINF, _DINF) if abs(Pz) < Hd else None
        else:
            r1 = (-Hd - Pz) / Vz
            r2 = (Hd - Pz) / Vz
            z = (min(r1, r2), max(r1, r2))

        conflict, t_in, t_out = _window(h, z, Td)

        t_cpa = Decimal(0) if a == 0 else min(max(-b / a, Decimal(0)), max(Td, Decimal(0)))
        ex = Px + Vx * t_cpa
        ey = Py + Vy * t_cpa
        d_cpa = (ex * ex + ey * ey).sqrt()
        dz_cpa = abs(Pz + Vz * t_cpa)
        return conflict, float(t_in), float(t_out), float(t_cpa), float(d_cpa), float(dz_cpa)


def conflict_window_ref(
    rel_pos: F64, rel_vel: F64, D: float, H: float, T: float
) -> dict[str, npt.NDArray[Any]]:
    """Vectorised float64 reference. rel_pos, rel_vel: float64[N, 3] (m, m/s, ENU).

    Returns a dict of arrays [N]: conflict, t_in, t_out, t_cpa, d_cpa, dz_cpa.
    """
    p = np.asarray(rel_pos, dtype=np.float64)
    v = np.asarray(rel_vel, dtype=np.float64)
    ph, vh = p[:, :2], v[:, :2]
    a = np.einsum("ij,ij->i", vh, vh)
    moving = a > 0.0
    safe_a = np.where(moving, a, 1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        t_star = np.where(moving, -np.einsum("ij,ij->i", ph, vh) / safe_a, 0.0)
        at_star = ph + vh * t_star[:, None]
        miss2 = np.einsum("ij,ij->i", at_star, at_star)
        half = np.sqrt(np.maximum(D * D - miss2, 0.0) / safe_a)
        r_now2 = np.einsum("ij,ij->i", ph, ph)
        h_ok = np.where(moving, miss2 < D * D, r_now2 < D * D)
        h_lo = np.where(moving, t_star - half, -np.inf)
        h_hi = np.where(moving, t_star + half, np.inf)

        pz, vz = p[:, 2], v[:, 2]
        climbing = vz != 0.0
        safe_vz = np.where(climbing, vz, 1.0)
        r1 = (-H - pz) / safe_vz
        r2 = (H - pz) / safe_vz
        z_ok = np.where(climbing, True, np.abs(pz) < H)
        z_lo = np.where(climbing, np.minimum(r1, r2), -np.inf)
        z_hi = np.where(climbing, np.maximum(r1, r2), np.inf)

    lo = np.maximum(h_lo, z_lo)
    hi = np.minimum(h_hi, z_hi)
    conflict = h_ok & z_ok & (lo < hi) & (lo < T) & (hi > 0.0) & (T >= 0.0)
    t_in = np.where(conflict, np.maximum(lo, 0.0), np.inf)
    t_out = np.where(conflict, np.minimum(hi, T), -np.inf)

    t_cpa = np.clip(t_star, 0.0, max(T, 0.0))
    at_cpa = ph + vh * t_cpa[:, None]
    return {
        "conflict": conflict,
        "t_in": t_in,
        "t_out": t_out,
        "t_cpa": t_cpa,
        "d_cpa": np.sqrt(np.einsum("ij,ij->i", at_cpa, at_cpa)),
        "dz_cpa": np.abs(pz + vz * t_cpa),
    }


@functools.cache
def _to_ecef() -> Transformer:
    return Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)


def geodetic_to_ecef_ref(lat_deg: F64, lon_deg: F64, h_m: F64) -> F64:
    """pyproj WGS-84 geodetic (degrees, metres) -> ECEF float64[N, 3] (m)."""
    x, y, z = _to_ecef().transform(
        np.asarray(lon_deg, dtype=np.float64),
        np.asarray(lat_deg, dtype=np.float64),
        np.asarray(h_m, dtype=np.float64),
    )
    return np.stack([np.asarray(x), np.asarray(y), np.asarray(z)], axis=-1)


def enu_axes_ref(lat_deg: F64, lon_deg: F64) -> tuple[F64, F64, F64]:
    """East, north, up unit vectors (ECEF, float64[N, 3] each) at geodetic points.

    Up is the normalised gradient of x^2/a^2 + y^2/a^2 + z^2/b^2 at the sea-level point
    (the ellipsoid normal); east is horizontal, along increasing longitude, which also
    fixes it at the poles; north completes the right-handed frame.
    """
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    b = WGS84_A * (1.0 - WGS84_F)
    p = geodetic_to_ecef_ref(lat, np.asarray(lon_deg, dtype=np.float64), np.zeros_like(lat))
    g = p / np.array([WGS84_A**2, WGS84_A**2, b**2])
    up = g / np.linalg.norm(g, axis=-1, keepdims=True)
    east = np.stack([-np.sin(lon), np.cos(lon), np.zeros_like(lon)], axis=-1)
    north = np.cross(up, east)
    return east, north, up


def pair_states_ref(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], F64, F64]:
    """All pairs i < j (row-major) with relative position and velocity float64[P, 3] in
    ENU_i: horizontal from sea-level sub-points and rotated velocities, vertical from
    altitude and vertical speed."""
    n = len(lat_deg)
    i, j = np.triu_indices(n, k=1)
    east, north, up = enu_axes_ref(lat_deg, lon_deg)
    sub = geodetic_to_ecef_ref(lat_deg, lon_deg, np.zeros(n))
    vel = ve[:, None] * east + vn[:, None] * north + vu[:, None] * up
    d = sub[j] - sub[i]
    rel_pos = np.stack(
        [
            np.einsum("ij,ij->i", east[i], d),
            np.einsum("ij,ij->i", north[i], d),
            alt_m[j] - alt_m[i],
        ],
        axis=-1,
    )
    rel_vel = np.stack(
        [
            np.einsum("ij,ij->i", east[i], vel[j]) - ve[i],
            np.einsum("ij,ij->i", north[i], vel[j]) - vn[i],
            vu[j] - vu[i],
        ],
        axis=-1,
    )
    return i.astype(np.int64), j.astype(np.int64), rel_pos, rel_vel


def screen_all_pairs_ref(
    lat_deg: F64,
    lon_deg: F64,
    alt_m: F64,
    ve: F64,
    vn: F64,
    vu: F64,
    D: float,
    H: float,
    T: float,
) -> dict[str, npt.NDArray[Any]]:
    """Every pair i < j (not only the conflicting ones), row-major: i, j, conflict,
    t_in, t_out, t_cpa, d_cpa, dz_cpa, d_now, dz_now."""
    i, j, rel_pos, rel_vel = pair_states_ref(lat_deg, lon_deg, alt_m, ve, vn, vu)
    out = conflict_window_ref(rel_pos, rel_vel, D, H, T)
    # Far side of the globe: j's sub-point more than rho = b^2 / a below i's tangent plane.
    _, _, up = enu_axes_ref(lat_deg, lon_deg)
    sub = geodetic_to_ecef_ref(lat_deg, lon_deg, np.zeros(len(lat_deg)))
    depth = np.einsum("ij,ij->i", up[i], sub[j] - sub[i])
    rho = (WGS84_A * (1.0 - WGS84_F)) ** 2 / WGS84_A
    far = depth < -rho
    out["conflict"] = out["conflict"] & ~far
    out["t_in"] = np.where(far, np.inf, out["t_in"])
    out["t_out"] = np.where(far, -np.inf, out["t_out"])
    out["i"] = i
    out["j"] = j
    out["d_now"] = np.hypot(rel_pos[:, 0], rel_pos[:, 1])
    out["dz_now"] = np.abs(rel_pos[:, 2])
    return out


def cv_predict_ref(x: F64, P: F64, dt: F64, q: F64) -> tuple[F64, F64]:
    """Constant-velocity predict, row by row with explicit matrices: F = [[I, dt I],
    [0, I]], Q = q [[|dt|^3/3, dt |dt|/2], [dt |dt|/2, |dt|]] (x) I_d."""
    n, m = x.shape
    d = m // 2
    xo = np.empty_like(x)
    Po = np.empty_like(P)
    eye = np.eye(d)
    for r in range(n):
        t = float(dt[r])
        at = abs(t)
        F = np.block([[eye, t * eye], [np.zeros((d, d)), eye]])
        Q = float(q[r]) * np.kron(np.array([[at**3 / 3.0, t * at / 2.0], [t * at / 2.0, at]]), eye)
        xo[r] = F @ x[r]
        Po[r] = F @ P[r] @ F.T + Q
    return xo, Po


def cv_update_ref(x: F64, P: F64, z: F64, R: F64) -> tuple[F64, F64, F64, F64]:
    """Textbook update, row by row, measuring the first k = z.shape[1] state components:
    S = H P H^T + R, K = P H^T S^-1 (np.linalg.solve),
    x+ = x + K nu, P+ = (I - K H) P, symmetrised; d2 = nu^T S^-1 nu."""
    n, m = x.shape
    k = z.shape[1]
    H = np.eye(m)[:k]
    xo = np.empty_like(x)
    Po = np.empty_like(P)
    nu = np.empty((n, k))
    d2 = np.empty(n)
    for r in range(n):
        S = H @ P[r] @ H.T + R[r]
        S = 0.5 * (S + S.T)
        K = np.linalg.solve(S, H @ P[r]).T
        nu[r] = z[r] - H @ x[r]
        xo[r] = x[r] + K @ nu[r]
        Pu = (np.eye(m) - K @ H) @ P[r]
        Po[r] = 0.5 * (Pu + Pu.T)
        d2[r] = float(nu[r] @ np.linalg.solve(S, nu[r]))
    return xo, Po, nu, d2


@functools.cache
def _to_geodetic() -> Transformer:
    return Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)


def _recentre_ref(ref: F64, xh: F64, Ph: F64) -> tuple[F64, F64, F64]:
    """kernels.fuse re-centring with pyproj: the origin moves to the sea-level foot of
    the point e east + n north of the old origin, velocity and covariance turn with the
    axes."""
    e0, n0, _ = (a[0] for a in enu_axes_ref(ref[:1], ref[1:2]))
    p0 = geodetic_to_ecef_ref(ref[:1], ref[1:2], np.zeros(1))[0]
    pt = p0 + xh[0] * e0 + xh[1] * n0
    lon1, lat1, _ = _to_geodetic().transform(pt[0], pt[1], pt[2])
    new_ref = np.array([float(lat1), float(lon1)])
    e1, n1, _ = (a[0] for a in enu_axes_ref(new_ref[:1], new_ref[1:2]))
    B = np.array([[e1 @ e0, e1 @ n0], [n1 @ e0, n1 @ n0]])
    Bd = np.block([[B, np.zeros((2, 2))], [np.zeros((2, 2)), B]])
    x = np.concatenate([[0.0, 0.0], B @ xh[2:]])
    return new_ref, x, Bd @ Ph @ Bd.T


def apply_reports_ref(
    ref: F64,
    xh: F64,
    Ph: F64,
    xv: F64,
    Pv: F64,
    t_state: float,
    reports: list[tuple[float, ...]],
    q_h: float,
    q_v: float,
) -> tuple[F64, F64, F64, F64, F64, float, list[float]]:
    """One track, reports (t, lat, lon, alt_m, ve, vn, vu, sigma_h, sigma_v, sigma_vel,
    sigma_vu)
    in order, with pyproj geodesy and the textbook filter above. Returns the final
    (ref, xh, Ph, xv, Pv, t) and each report's position d2 (NaN when late)."""
    d2s: list[float] = []
    for t, lat, lon, alt, ve, vn, vu, sh, sv, svel, svu in reports:
        dt = t - t_state
        if dt < 0:
            d2s.append(math.nan)
            continue
        x1, P1 = cv_predict_ref(xh[None], Ph[None], np.array([dt]), np.array([q_h]))
        y1, Q1 = cv_predict_ref(xv[None], Pv[None], np.array([dt]), np.array([q_v]))
        ref, xh, Ph = _recentre_ref(ref, x1[0], P1[0])
        t_state = t
        # Measurement: sub-point difference and the reported velocity in ref's axes.
        e0, n0, _ = (a[0] for a in enu_axes_ref(ref[:1], ref[1:2]))
        p0 = geodetic_to_ecef_ref(ref[:1], ref[1:2], np.zeros(1))[0]
        p1 = geodetic_to_ecef_ref(np.array([lat]), np.array([lon]), np.zeros(1))[0]
        re, rn, _ = (a[0] for a in enu_axes_ref(np.array([lat]), np.array([lon])))
        g = ve * re + vn * rn
        z = np.array([e0 @ (p1 - p0), n0 @ (p1 - p0), e0 @ g, n0 @ g])
        R = np.diag([sh**2, sh**2, svel**2, svel**2])
        _, _, _, d2 = cv_update_ref(xh[None], Ph[None], z[None, :2], R[None, :2, :2])
        d2s.append(float(d2[0]))
        k = 4 if svel > 0 else 2  # no (or NaN) velocity accuracy: positions only
        xu, Pu, _, _ = cv_update_ref(xh[None], Ph[None], z[None, :k], R[None, :k, :k])
        xh, Ph = xu[0], Pu[0]
        kv = 2 if svu > 0 else 1  # vertical rate used only with its accuracy
        zv = np.array([alt, vu])[:kv]
        Rv = np.diag([sv**2, svu**2])[:kv, :kv]
        yu, Qu, _, _ = cv_update_ref(y1, Q1, zv[None], Rv[None])
        xv, Pv = yu[0], Qu[0]
    return ref, xh, Ph, xv, Pv, t_state, d2s
