"""Batched constant-velocity Kalman filter: predict, update and gating distances.

Pure Numba over NumPy arrays; no I/O. The ``*_1`` functions work in place on one row
(other kernels call them inside their own loops); the array functions run them over rows
with ``prange`` (rows are independent: the result does not depend on the thread count).

State of a row: ``x = [p_1 .. p_d, v_1 .. v_d]`` (positions in metres, then velocities
in m/s, d = 1 or 2: the vertical channel [alt, vu] or the horizontal one [e, n, ve, vn]
in a local east-north-up frame), covariance ``P`` (2d x 2d; m^2, m^2/s, m^2/s^2).

Measurement: the first k state components, k = d (positions) or 2d (positions and
velocities): H = [I_k 0], noise covariance ``R`` (k x k; m^2, m^2/s, m^2/s^2).

Model: continuous white-noise acceleration, independent per axis, with spectral density
``q`` (m^2/s^3): over dt seconds, F = [[I, dt I], [0, I]] and
Q = q [[dt^3/3 I, dt^2/2 I], [dt^2/2 I, dt I]]. A q of about 1-5 m^2/s^3 suits airliners
(0.3-0.7 m/s^2 of unmodelled acceleration over a few seconds), tens for manoeuvres.

Numerics: the update uses the Joseph form, P+ = (I - K H) P (I - K H)^T + K R K^T, which
keeps P symmetric and positive semi-definite under rounding where the short form
(I - K H) P does not; the innovation covariance S = H P H^T + R (k x k, k <= 4) is
factored by Cholesky, which also tells when it is not positive definite. Results are
symmetrised exactly (P[a, b] = P[b, a] bit for bit).
"""

from __future__ import annotations

import math

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


@njit(cache=True)
def predict_1(x: F64, P: F64, dt: float, q: float) -> None:
    """One row in place: x float64[2d] (m, m/s), P float64[2d, 2d], dt s (negative runs
    the motion backwards but still adds the process noise of |dt|), q m^2/s^3."""
    d = x.shape[0] // 2
    at = abs(dt)
    for a in range(d):
        x[a] += dt * x[d + a]
    # With P = [[A, B], [B^T, C]]: F P F^T = [[A + t (B + B^T) + t^2 C, B + t C],
    # [B^T + t C, C]], block by block; A first, as it reads B and C before they change.
    for a in range(d):
        for b in range(d):
            P[a, b] += dt * (P[a, d + b] + P[d + a, b]) + dt * dt * P[d + a, d + b]
    for a in range(d):
        for b in range(d):
            P[a, d + b] += dt * P[d + a, d + b]
            P[d + a, b] += dt * P[d + a, d + b]
    for a in range(d):
        P[a, a] += q * at * at * at / 3.0
        P[a, d + a] += q * dt * at / 2.0
        P[d + a, a] += q * dt * at / 2.0
        P[d + a, d + a] += q * at
    m = 2 * d
    for a in range(m):
        for b in range(a + 1, m):
            s = 0.5 * (P[a, b] + P[b, a])
            P[a, b] = s
            P[b, a] = s


@njit(cache=True)
def _s_inverse(P: F64, R: F64, k: int, out: F64, work: F64) -> bool:
    """out[:k, :k] = (H P H^T + R)^-1 by Cholesky; False when S is not positive definite
    (or holds NaN). H P H^T is the leading k x k block of P, symmetrised. work: float64
    [>= 2, 4, 4] scratch (every entry read is written first)."""
    L = work[0]
    Li = work[1]
    for a in range(k):
        for b in range(a + 1):
            s = 0.5 * (P[a, b] + P[b, a]) + 0.5 * (R[a, b] + R[b, a])
            for c in range(b):
                s -= L[a, c] * L[b, c]
            if a == b:
                if not s > 0.0:
                    return False
                L[a, a] = math.sqrt(s)
            else:
                L[a, b] = s / L[b, b]
    # S^-1 = L^-T L^-1: invert L (lower triangular), then multiply.
    for a in range(k):
        Li[a, a] = 1.0 / L[a, a]
        for b in range(a):
            s = 0.0
            for c in range(b, a):
                s -= L[a, c] * Li[c, b]
            Li[a, b] = s / L[a, a]
    for a in range(k):
        for b in range(a, k):
            s = 0.0
            for c in range(b, k):
                s += Li[c, a] * Li[c, b]
            out[a, b] = s
            out[b, a] = s
    return True


@njit(cache=True)
def update_1(x: F64, P: F64, z: F64, R: F64, nu: F64, work: F64) -> float:
    """One row in place: x float64[2d], P float64[2d, 2d], z float64[k] (the first k
    state components measured), R float64[k, k]. Writes the innovation into nu[:k] and
    returns the squared Mahalanobis distance nu^T S^-1 nu; when S is not positive
    definite, leaves x and P unchanged and returns inf. work: float64[6, 4, 4] scratch
    (one per loop body, so that an update allocates nothing)."""
    m = x.shape[0]
    k = z.shape[0]
    for a in range(k):
        nu[a] = z[a] - x[a]
    Si = work[2]
    if not _s_inverse(P, R, k, Si, work):
        return math.inf
    d2 = 0.0
    for a in range(k):
        for b in range(k):
            d2 += nu[a] * Si[a, b] * nu[b]
    # K = P H^T S^-1 (m x k); P H^T is the first k columns of P.
    K = work[3]
    for a in range(m):
        for b in range(k):
            s = 0.0
            for c in range(k):
                s += P[a, c] * Si[c, b]
            K[a, b] = s
    for a in range(m):
        s = 0.0
        for b in range(k):
            s += K[a, b] * nu[b]
        x[a] += s
    # Joseph form. I - K H: identity minus K in the first k columns.
    IKH = work[4]
    for a in range(m):
        for b in range(m):
            IKH[a, b] = 0.0
        IKH[a, a] = 1.0
        for b in range(k):
            IKH[a, b] -= K[a, b]
    T1 = work[5]
    for a in range(m):
        for b in range(m):
            s = 0.0
            for c in range(m):
                s += IKH[a, c] * P[c, b]
            T1[a, b] = s
    for a in range(m):
        for b in range(a, m):
            s = 0.0
            for c in range(m):
                s += T1[a, c] * IKH[b, c]
            for c in range(k):
                for e in range(k):
                    s += K[a, c] * R[c, e] * K[b, e]
            P[a, b] = s
            P[b, a] = s
    return d2


@njit(cache=True)
def gate_1(x: F64, P: F64, z: F64, R: F64, work: F64) -> float:
    """nu^T S^-1 nu for measurement z float64[k] of state x (k first components), with
    S = H P H^T + R; inf when S is not positive definite. work: float64[6, 4, 4] scratch
    (one per loop body, so that an update allocates nothing)."""
    k = z.shape[0]
    Si = work[2]
    if not _s_inverse(P, R, k, Si, work):
        return math.inf
    d2 = 0.0
    for a in range(k):
        for b in range(k):
            d2 += (z[a] - x[a]) * Si[a, b] * (z[b] - x[b])
    return d2


@njit(cache=True, parallel=True)
def cv_predict(x: F64, P: F64, dt: F64, q: F64) -> tuple[F64, F64]:
    """Predict every row dt seconds ahead.

    x: float64[N, 2d] (m, m/s); P: float64[N, 2d, 2d]; dt: float64[N], s;
    q: float64[N], m^2/s^3. Returns new (x, P); the inputs are not modified.
    """
    _check(x, P)
    n = x.shape[0]
    if dt.shape[0] != n or q.shape[0] != n:
        raise ValueError("kalman: dt and q must have one value per row")
    xo = x.copy()
    Po = P.copy()
    for r in prange(n):
        predict_1(xo[r], Po[r], dt[r], q[r])
    return xo, Po


@njit(cache=True)
def _check_meas(x: F64, z: F64, R: F64, m_rows: int) -> int:
    """k of measurements z float64[M, k] with R float64[M, k, k] for states x[N, 2d]."""
    k = z.shape[1]
    if k != x.shape[1] // 2 and k != x.shape[1]:
        raise ValueError("kalman: z must measure the positions (k = d) or the whole state")
    if z.shape[0] != m_rows or R.shape[0] != m_rows or R.shape[1] != k or R.shape[2] != k:
        raise ValueError("kalman: z must be (M, k) and R (M, k, k)")
    return int(k)


@njit(cache=True, parallel=True)
def cv_update(x: F64, P: F64, z: F64, R: F64) -> tuple[F64, F64, F64, F64]:
    """Update every row with one measurement of its first k state components.

    x: float64[N, 2d]; P: float64[N, 2d, 2d]; z: float64[N, k] (m, then m/s);
    R: float64[N, k, k]. Returns (x+, P+, innovation float64[N, k], d2 float64[N]: the
    squared Mahalanobis distance nu^T S^-1 nu, dimensionless). A row whose S is not
    positive definite (or has NaN) is returned unchanged with d2 = inf.
    """
    _check(x, P)
    n = x.shape[0]
    k = _check_meas(x, z, R, n)
    xo = x.copy()
    Po = P.copy()
    nu = np.empty((n, k), dtype=np.float64)
    d2 = np.empty(n, dtype=np.float64)
    for r in prange(n):
        work = np.empty((6, 4, 4), dtype=np.float64)
        d2[r] = update_1(xo[r], Po[r], z[r], R[r], nu[r], work)
    return xo, Po, nu, d2


@njit(cache=True, parallel=True)
def cv_gate(x: F64, P: F64, z: F64, R: F64, rows: I64, meas: I64) -> F64:
    """Squared Mahalanobis distance of candidate (track, measurement) pairs.

    x, P: the predicted tracks (float64[N, 2d], float64[N, 2d, 2d]); z: float64[M, k];
    R: float64[M, k, k]; rows, meas: int64[K], the pairs (track rows[k], measurement
    meas[k]). Returns float64[K], nu^T S^-1 nu with S = H P H^T + R (inf where S is not
    positive definite). For gating before assignment: the chi-square quantile of k
    degrees of freedom is the threshold (9.21 keeps 99 % at k = 2).
    """
    _check(x, P)
    _check_meas(x, z, R, z.shape[0])
    n_pairs = rows.shape[0]
    if meas.shape[0] != n_pairs:
        raise ValueError("kalman: rows and meas must have the same length")
    out = np.empty(n_pairs, dtype=np.float64)
    for p in prange(n_pairs):
        work = np.empty((6, 4, 4), dtype=np.float64)
        out[p] = gate_1(x[rows[p]], P[rows[p]], z[meas[p]], R[meas[p]], work)
    return out
