"""Batched constant-velocity Kalman filter: predict, update and gating distances.

Pure Numba over NumPy arrays; no I/O. One row per track, all rows independent (parallel
over rows with ``prange``; the result does not depend on the thread count).

State of a row: ``x = [p_1 .. p_d, v_1 .. v_d]`` (positions in metres, then velocities
in m/s, d = 1 or 2: the vertical channel [alt, vu] or the horizontal one [e, n, ve, vn]
in a local east-north-up frame), covariance ``P`` (2d x 2d; m^2, m^2/s, m^2/s^2). The
measurement is the position: H = [I_d 0], noise covariance ``R`` (d x d, m^2).

Model: continuous white-noise acceleration, independent per axis, with spectral density
``q`` (m^2/s^3): over dt seconds, F = [[I, dt I], [0, I]] and
Q = q [[dt^3/3 I, dt^2/2 I], [dt^2/2 I, dt I]]. A q of about 1-5 m^2/s^3 suits airliners
(0.3-0.7 m/s^2 of unmodelled acceleration over a few seconds), tens for manoeuvres.

Numerics: the update uses the Joseph form, P+ = (I - K H) P (I - K H)^T + K R K^T, which
keeps P symmetric and positive semi-definite under rounding where the short form
(I - K H) P does not; the innovation covariance S = H P H^T + R (d x d) is inverted in
closed form. Results are symmetrised exactly (P[a, b] = P[b, a] bit for bit).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@njit(cache=True)
def _check(x: F64, P: F64) -> int:
    """d (1 or 2) of a state array x float64[N, 2d] with P float64[N, 2d, 2d]."""
    m = x.shape[1]
    if m != 2 and m != 4:
        raise ValueError("kalman: the state must be [p, v] with 1 or 2 position axes")
    if P.shape[0] != x.shape[0] or P.shape[1] != m or P.shape[2] != m:
        raise ValueError("kalman: P must have shape (N, 2d, 2d) to match x (N, 2d)")
    return int(m // 2)


@njit(cache=True, parallel=True)
def cv_predict(x: F64, P: F64, dt: F64, q: F64) -> tuple[F64, F64]:
    """Predict every row dt seconds ahead.

    x: float64[N, 2d] (m, m/s); P: float64[N, 2d, 2d]; dt: float64[N], s (may be 0;
    negative dt runs the motion backwards but still adds process noise, |dt|);
    q: float64[N], m^2/s^3. Returns new (x, P); the inputs are not modified.
    """
    d = _check(x, P)
    n = x.shape[0]
    if dt.shape[0] != n or q.shape[0] != n:
        raise ValueError("kalman: dt and q must have one value per row")
    m = 2 * d
    xo = np.empty_like(x)
    Po = np.empty_like(P)
    for r in prange(n):
        t = dt[r]
        at = abs(t)
        # F x
        for a in range(d):
            xo[r, a] = x[r, a] + t * x[r, d + a]
            xo[r, d + a] = x[r, d + a]
        # F P F^T, block by block: with P = [[A, B], [B^T, C]],
        # F P F^T = [[A + t (B + B^T) + t^2 C, B + t C], [B^T + t C, C]].
        for a in range(d):
            for b in range(d):
                A = P[r, a, b]
                B = P[r, a, d + b]
                Bt = P[r, d + a, b]
                C = P[r, d + a, d + b]
                Po[r, a, b] = A + t * (B + Bt) + t * t * C
                Po[r, a, d + b] = B + t * C
                Po[r, d + a, b] = Bt + t * C
                Po[r, d + a, d + b] = C
        qq = q[r]
        for a in range(d):
            Po[r, a, a] += qq * at * at * at / 3.0
            Po[r, a, d + a] += qq * t * at / 2.0
            Po[r, d + a, a] += qq * t * at / 2.0
            Po[r, d + a, d + a] += qq * at
        for a in range(m):
            for b in range(a + 1, m):
                s = 0.5 * (Po[r, a, b] + Po[r, b, a])
                Po[r, a, b] = s
                Po[r, b, a] = s
    return xo, Po


@njit(cache=True)
def _inv_s(P: F64, R: F64, r: int, k: int, d: int) -> tuple[float, float, float, float]:
    """Inverse of S = H P[r] H^T + R[k] as (s00, s01, s11, det); d = 1 uses s00 only.

    det <= 0 (or NaN) means S is not positive definite."""
    # Tested before dividing: numba raises on a float division by zero.
    if d == 1:
        s = P[r, 0, 0] + R[k, 0, 0]
        if not s > 0.0:
            return 0.0, 0.0, 0.0, s
        return 1.0 / s, 0.0, 0.0, s
    a = P[r, 0, 0] + R[k, 0, 0]
    b = 0.5 * (P[r, 0, 1] + P[r, 1, 0] + R[k, 0, 1] + R[k, 1, 0])
    c = P[r, 1, 1] + R[k, 1, 1]
    det = a * c - b * b
    if not (det > 0.0 and a > 0.0):
        return 0.0, 0.0, 0.0, -1.0
    return c / det, -b / det, a / det, det


@njit(cache=True, parallel=True)
def cv_update(x: F64, P: F64, z: F64, R: F64) -> tuple[F64, F64, F64, F64]:
    """Update every row with one position measurement.

    x: float64[N, 2d]; P: float64[N, 2d, 2d]; z: float64[N, d], m; R: float64[N, d, d],
    m^2. Returns (x+, P+, innovation float64[N, d] in m, d2 float64[N]: the squared
    Mahalanobis distance of the innovation, nu^T S^-1 nu, dimensionless). A row whose S
    is not positive definite (or has NaN) is returned unchanged with d2 = inf.
    """
    d = _check(x, P)
    n = x.shape[0]
    if z.shape[0] != n or z.shape[1] != d:
        raise ValueError("kalman: z must have shape (N, d)")
    if R.shape[0] != n or R.shape[1] != d or R.shape[2] != d:
        raise ValueError("kalman: R must have shape (N, d, d)")
    m = 2 * d
    xo = x.copy()
    Po = P.copy()
    nu = np.empty((n, d), dtype=np.float64)
    d2 = np.empty(n, dtype=np.float64)
    for r in prange(n):
        i00, i01, i11, det = _inv_s(P, R, r, r, d)
        for a in range(d):
            nu[r, a] = z[r, a] - x[r, a]
        if not det > 0.0:
            d2[r] = np.inf
            continue
        # K = P H^T S^-1: column b of P H^T is P[:, b] for b < d.
        K = np.empty((m, d), dtype=np.float64)
        for a in range(m):
            if d == 1:
                K[a, 0] = P[r, a, 0] * i00
            else:
                K[a, 0] = P[r, a, 0] * i00 + P[r, a, 1] * i01
                K[a, 1] = P[r, a, 0] * i01 + P[r, a, 1] * i11
        n0 = nu[r, 0]
        if d == 1:
            d2[r] = n0 * n0 * i00
        else:
            n1 = nu[r, 1]
            d2[r] = n0 * n0 * i00 + 2.0 * n0 * n1 * i01 + n1 * n1 * i11
        for a in range(m):
            acc = x[r, a]
            for b in range(d):
                acc += K[a, b] * nu[r, b]
            xo[r, a] = acc
        # Joseph form. I - K H has columns: e_b - K[:, b] for b < d, e_b for b >= d.
        IKH = np.zeros((m, m), dtype=np.float64)
        for a in range(m):
            IKH[a, a] = 1.0
            for b in range(d):
                IKH[a, b] -= K[a, b]
        T1 = np.zeros((m, m), dtype=np.float64)
        for a in range(m):
            for b in range(m):
                acc = 0.0
                for c in range(m):
                    acc += IKH[a, c] * P[r, c, b]
                T1[a, b] = acc
        for a in range(m):
            for b in range(a, m):
                acc = 0.0
                for c in range(m):
                    acc += T1[a, c] * IKH[b, c]
                for c in range(d):
                    for e in range(d):
                        acc += K[a, c] * R[r, c, e] * K[b, e]
                Po[r, a, b] = acc
                Po[r, b, a] = acc
    return xo, Po, nu, d2


@njit(cache=True, parallel=True)
def cv_gate(x: F64, P: F64, z: F64, R: F64, rows: I64, meas: I64) -> F64:
    """Squared Mahalanobis distance of candidate (track, measurement) pairs.

    x, P: the predicted tracks (float64[N, 2d], float64[N, 2d, 2d]); z: float64[M, d],
    m; R: float64[M, d, d], m^2; rows, meas: int64[K], the pairs (track rows[k],
    measurement meas[k]). Returns float64[K], nu^T S^-1 nu with S = H P H^T + R (inf
    where S is not positive definite). For gating before assignment: the chi-square
    quantile of d degrees of freedom is the threshold (9.21 keeps 99 % at d = 2).
    """
    d = _check(x, P)
    if z.shape[1] != d or R.shape[0] != z.shape[0] or R.shape[1] != d or R.shape[2] != d:
        raise ValueError("kalman: z must be (M, d) and R (M, d, d)")
    k_n = rows.shape[0]
    if meas.shape[0] != k_n:
        raise ValueError("kalman: rows and meas must have the same length")
    out = np.empty(k_n, dtype=np.float64)
    for k in prange(k_n):
        r = rows[k]
        j = meas[k]
        i00, i01, i11, det = _inv_s(P, R, r, j, d)
        if not det > 0.0:
            out[k] = np.inf
            continue
        n0 = z[j, 0] - x[r, 0]
        if d == 1:
            out[k] = n0 * n0 * i00
        else:
            n1 = z[j, 1] - x[r, 1]
            out[k] = n0 * n0 * i00 + 2.0 * n0 * n1 * i01 + n1 * n1 * i11
    return out
