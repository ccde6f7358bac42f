"""Batched constant-velocity Kalman filter: predict, update and gating distances.

Pure Numba over NumPy arrays; no I/O. The ``*_1`` functions work in place on one row
(other kernels call them inside their own loops); the array functions run them over rows
with ``prange`` (rows are independent: the result does not depend on the thread count).
The scalar forms (``predict_cv2``, ``update_cv2``, ``gate_cv2``, ``predict_cv1``,
``update_cv1``) compute the same, bit for bit, on a state held in local variables: they
are what :mod:`kernels.fuse` runs (see their section for why).

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


# --- Scalar forms ------------------------------------------------------------------------
#
# predict_1 and update_1 for the two shapes the fuser runs (d = 2 horizontal, d = 1
# vertical) with a diagonal R, on a state held in local variables (tuples) instead of
# array rows. Why: the fuser applies about one report per track per call, and with the
# array forms each report made some thirty array views (every view is an atomic
# reference count in Numba's runtime) and ran loops whose bounds are only known at run
# time; that, not the arithmetic, was most of its time. Here the loops are unrolled,
# the zero entries of H and of R skipped, and no memory is touched.
#
# The arithmetic is that of predict_1 and update_1 operation for operation (each sum in
# the same order; only terms that are exact zeros are left out), so on a symmetric P the
# results are equal to theirs bit for bit, up to the sign of a zero.
#
# A covariance is held as its upper triangle by rows: Sym2 = (p00, p01, p11),
# Sym4 = (p00, p01, p02, p03, p11, p12, p13, p22, p23, p33).

Vec2 = tuple[float, float]
Vec4 = tuple[float, float, float, float]
Sym2 = tuple[float, float, float]
Sym4 = tuple[float, float, float, float, float, float, float, float, float, float]
# What an update returns: (x+, P+, d2); d2 = inf and x, P unchanged when S is not
# positive definite.
Updated2 = tuple[Vec2, Sym2, float]
Updated4 = tuple[Vec4, Sym4, float]


@njit(cache=True, inline="always")
def _dot4(a: Vec4, b: Vec4) -> float:
    """a . b, summed left to right (the order of update_1's loops)."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]


@njit(cache=True)
def predict_cv2(x: Vec4, P: Sym4, dt: float, q: float) -> tuple[Vec4, Sym4]:
    """predict_1 for d = 2: x = [e, n, ve, vn] (m, m/s), P its covariance (Sym4; m^2,
    m^2/s, m^2/s^2), dt s, q m^2/s^3. Returns the predicted (x, P)."""
    p00, p01, p02, p03, p11, p12, p13, p22, p23, p33 = P
    at = abs(dt)
    dd = dt * dt
    # Process noise: q [[|dt|^3/3, dt |dt|/2], [dt |dt|/2, |dt|]] per axis.
    n_pp = q * at * at * at / 3.0
    n_pv = q * dt * at / 2.0
    n_vv = q * at
    xp: Vec4 = (x[0] + dt * x[2], x[1] + dt * x[3], x[2], x[3])
    Pp: Sym4 = (
        p00 + (dt * (p02 + p02) + dd * p22) + n_pp,
        p01 + (dt * (p03 + p12) + dd * p23),
        p02 + dt * p22 + n_pv,
        p03 + dt * p23,
        p11 + (dt * (p13 + p13) + dd * p33) + n_pp,
        p12 + dt * p23,
        p13 + dt * p33 + n_pv,
        p22 + n_vv,
        p23,
        p33 + n_vv,
    )
    return xp, Pp


@njit(cache=True)
def predict_cv1(x: Vec2, P: Sym2, dt: float, q: float) -> tuple[Vec2, Sym2]:
    """predict_1 for d = 1: x = [alt, vu] (m, m/s), P its covariance (Sym2), dt s,
    q m^2/s^3. Returns the predicted (x, P)."""
    p00, p01, p11 = P
    at = abs(dt)
    xp: Vec2 = (x[0] + dt * x[1], x[1])
    Pp: Sym2 = (
        p00 + (dt * (p01 + p01) + dt * dt * p11) + q * at * at * at / 3.0,
        p01 + dt * p11 + q * dt * at / 2.0,
        p11 + q * at,
    )
    return xp, Pp


@njit(cache=True)
def gate_cv2(x: Vec4, P: Sym4, z0: float, z1: float, r0: float, r1: float) -> float:
    """gate_1 for d = 2 on the positions: nu^T S^-1 nu for the measurement (z0, z1) (m)
    of [e, n] with R = diag(r0, r1) (m^2); inf when S is not positive definite."""
    p00, p01 = P[0], P[1]
    p11 = P[4]
    s = p00 + r0
    if not s > 0.0:
        return math.inf
    l00 = math.sqrt(s)
    l10 = p01 / l00
    s = p11 + r1 - l10 * l10
    if not s > 0.0:
        return math.inf
    l11 = math.sqrt(s)
    i00 = 1.0 / l00
    i11 = 1.0 / l11
    i10 = -(l10 * i00) / l11
    s00 = i00 * i00 + i10 * i10
    s01 = i10 * i11
    s11 = i11 * i11
    u0 = z0 - x[0]
    u1 = z1 - x[1]
    return u0 * s00 * u0 + u0 * s01 * u1 + u1 * s01 * u0 + u1 * s11 * u1


@njit(cache=True)
def _update_cv2_pos(x: Vec4, P: Sym4, z: Vec4, r: Vec4) -> Updated4:
    """update_cv2 with k = 2 (positions measured)."""
    p00, p01, p02, p03, p11, p12, p13, p22, p23, p33 = P
    s = p00 + r[0]
    if not s > 0.0:
        return x, P, math.inf
    l00 = math.sqrt(s)
    l10 = p01 / l00
    s = p11 + r[1] - l10 * l10
    if not s > 0.0:
        return x, P, math.inf
    l11 = math.sqrt(s)
    i00 = 1.0 / l00
    i11 = 1.0 / l11
    i10 = -(l10 * i00) / l11
    s00 = i00 * i00 + i10 * i10
    s01 = i10 * i11
    s11 = i11 * i11
    u0 = z[0] - x[0]
    u1 = z[1] - x[1]
    d2 = u0 * s00 * u0 + u0 * s01 * u1 + u1 * s01 * u0 + u1 * s11 * u1
    # K = P H^T S^-1, 4 x 2.
    k00 = p00 * s00 + p01 * s01
    k01 = p00 * s01 + p01 * s11
    k10 = p01 * s00 + p11 * s01
    k11 = p01 * s01 + p11 * s11
    k20 = p02 * s00 + p12 * s01
    k21 = p02 * s01 + p12 * s11
    k30 = p03 * s00 + p13 * s01
    k31 = p03 * s01 + p13 * s11
    xu: Vec4 = (
        x[0] + (k00 * u0 + k01 * u1),
        x[1] + (k10 * u0 + k11 * u1),
        x[2] + (k20 * u0 + k21 * u1),
        x[3] + (k30 * u0 + k31 * u1),
    )
    # Joseph form. I - K H has rows (a00, a01, 0, 0), (a10, a11, 0, 0), (a20, a21, 1, 0),
    # (a30, a31, 0, 1); T = (I - K H) P.
    a00 = 1.0 - k00
    a01 = -k01
    a10 = -k10
    a11 = 1.0 - k11
    a20 = -k20
    a21 = -k21
    a30 = -k30
    a31 = -k31
    t00 = a00 * p00 + a01 * p01
    t01 = a00 * p01 + a01 * p11
    t02 = a00 * p02 + a01 * p12
    t03 = a00 * p03 + a01 * p13
    t10 = a10 * p00 + a11 * p01
    t11 = a10 * p01 + a11 * p11
    t12 = a10 * p02 + a11 * p12
    t13 = a10 * p03 + a11 * p13
    t20 = a20 * p00 + a21 * p01 + p02
    t21 = a20 * p01 + a21 * p11 + p12
    t22 = a20 * p02 + a21 * p12 + p22
    t23 = a20 * p03 + a21 * p13 + p23
    t30 = a30 * p00 + a31 * p01 + p03
    t31 = a30 * p01 + a31 * p11 + p13
    # (T[3, 2] is not needed: P+ is computed on and above the diagonal only.)
    t33 = a30 * p03 + a31 * p13 + p33
    r0 = r[0]
    r1 = r[1]
    # P+ = T (I - K H)^T + K R K^T, upper triangle.
    Pu: Sym4 = (
        t00 * a00 + t01 * a01 + k00 * r0 * k00 + k01 * r1 * k01,
        t00 * a10 + t01 * a11 + k00 * r0 * k10 + k01 * r1 * k11,
        t00 * a20 + t01 * a21 + t02 + k00 * r0 * k20 + k01 * r1 * k21,
        t00 * a30 + t01 * a31 + t03 + k00 * r0 * k30 + k01 * r1 * k31,
        t10 * a10 + t11 * a11 + k10 * r0 * k10 + k11 * r1 * k11,
        t10 * a20 + t11 * a21 + t12 + k10 * r0 * k20 + k11 * r1 * k21,
        t10 * a30 + t11 * a31 + t13 + k10 * r0 * k30 + k11 * r1 * k31,
        t20 * a20 + t21 * a21 + t22 + k20 * r0 * k20 + k21 * r1 * k21,
        t20 * a30 + t21 * a31 + t23 + k20 * r0 * k30 + k21 * r1 * k31,
        t30 * a30 + t31 * a31 + t33 + k30 * r0 * k30 + k31 * r1 * k31,
    )
    return xu, Pu, d2


@njit(cache=True)
def _update_cv2_full(x: Vec4, P: Sym4, z: Vec4, r: Vec4) -> Updated4:
    """update_cv2 with k = 4 (the whole state measured)."""
    p00, p01, p02, p03, p11, p12, p13, p22, p23, p33 = P
    # Cholesky factor L of S = P + R.
    s = p00 + r[0]
    if not s > 0.0:
        return x, P, math.inf
    l00 = math.sqrt(s)
    l10 = p01 / l00
    s = p11 + r[1] - l10 * l10
    if not s > 0.0:
        return x, P, math.inf
    l11 = math.sqrt(s)
    l20 = p02 / l00
    l21 = (p12 - l20 * l10) / l11
    s = p22 + r[2] - l20 * l20 - l21 * l21
    if not s > 0.0:
        return x, P, math.inf
    l22 = math.sqrt(s)
    l30 = p03 / l00
    l31 = (p13 - l30 * l10) / l11
    l32 = (p23 - l30 * l20 - l31 * l21) / l22
    s = p33 + r[3] - l30 * l30 - l31 * l31 - l32 * l32
    if not s > 0.0:
        return x, P, math.inf
    l33 = math.sqrt(s)
    # L^-1 (lower triangular), then S^-1 = L^-T L^-1.
    i00 = 1.0 / l00
    i11 = 1.0 / l11
    i10 = -(l10 * i00) / l11
    i22 = 1.0 / l22
    i20 = (-(l20 * i00) - l21 * i10) / l22
    i21 = -(l21 * i11) / l22
    i33 = 1.0 / l33
    i30 = (-(l30 * i00) - l31 * i10 - l32 * i20) / l33
    i31 = (-(l31 * i11) - l32 * i21) / l33
    i32 = -(l32 * i22) / l33
    s00 = i00 * i00 + i10 * i10 + i20 * i20 + i30 * i30
    s01 = i10 * i11 + i20 * i21 + i30 * i31
    s02 = i20 * i22 + i30 * i32
    s03 = i30 * i33
    s11 = i11 * i11 + i21 * i21 + i31 * i31
    s12 = i21 * i22 + i31 * i32
    s13 = i31 * i33
    s22 = i22 * i22 + i32 * i32
    s23 = i32 * i33
    s33 = i33 * i33
    S0: Vec4 = (s00, s01, s02, s03)
    S1: Vec4 = (s01, s11, s12, s13)
    S2: Vec4 = (s02, s12, s22, s23)
    S3: Vec4 = (s03, s13, s23, s33)
    u: Vec4 = (z[0] - x[0], z[1] - x[1], z[2] - x[2], z[3] - x[3])
    # nu^T S^-1 nu, one running sum in update_1's order.
    d2 = _quad_row(_quad_row(_quad_row(_quad_row(0.0, u, 0, S0), u, 1, S1), u, 2, S2), u, 3, S3)
    P0: Vec4 = (p00, p01, p02, p03)
    P1: Vec4 = (p01, p11, p12, p13)
    P2: Vec4 = (p02, p12, p22, p23)
    P3: Vec4 = (p03, p13, p23, p33)
    # K = P S^-1 (rows K0..K3), then x + K nu.
    K0: Vec4 = (_dot4(P0, S0), _dot4(P0, S1), _dot4(P0, S2), _dot4(P0, S3))
    K1: Vec4 = (_dot4(P1, S0), _dot4(P1, S1), _dot4(P1, S2), _dot4(P1, S3))
    K2: Vec4 = (_dot4(P2, S0), _dot4(P2, S1), _dot4(P2, S2), _dot4(P2, S3))
    K3: Vec4 = (_dot4(P3, S0), _dot4(P3, S1), _dot4(P3, S2), _dot4(P3, S3))
    xu: Vec4 = (
        x[0] + _dot4(K0, u),
        x[1] + _dot4(K1, u),
        x[2] + _dot4(K2, u),
        x[3] + _dot4(K3, u),
    )
    # Joseph form with I - K H = I - K (rows A0..A3); T = (I - K) P (rows T0..T3).
    A0: Vec4 = (1.0 - K0[0], -K0[1], -K0[2], -K0[3])
    A1: Vec4 = (-K1[0], 1.0 - K1[1], -K1[2], -K1[3])
    A2: Vec4 = (-K2[0], -K2[1], 1.0 - K2[2], -K2[3])
    A3: Vec4 = (-K3[0], -K3[1], -K3[2], 1.0 - K3[3])
    T0: Vec4 = (_dot4(A0, P0), _dot4(A0, P1), _dot4(A0, P2), _dot4(A0, P3))
    T1: Vec4 = (_dot4(A1, P0), _dot4(A1, P1), _dot4(A1, P2), _dot4(A1, P3))
    T2: Vec4 = (_dot4(A2, P0), _dot4(A2, P1), _dot4(A2, P2), _dot4(A2, P3))
    T3: Vec4 = (_dot4(A3, P0), _dot4(A3, P1), _dot4(A3, P2), _dot4(A3, P3))
    Pu: Sym4 = (
        _joseph4(T0, A0, K0, K0, r),
        _joseph4(T0, A1, K0, K1, r),
        _joseph4(T0, A2, K0, K2, r),
        _joseph4(T0, A3, K0, K3, r),
        _joseph4(T1, A1, K1, K1, r),
        _joseph4(T1, A2, K1, K2, r),
        _joseph4(T1, A3, K1, K3, r),
        _joseph4(T2, A2, K2, K2, r),
        _joseph4(T2, A3, K2, K3, r),
        _joseph4(T3, A3, K3, K3, r),
    )
    return xu, Pu, d2


@njit(cache=True, inline="always")
def _quad_row(acc: float, u: Vec4, a: int, Sa: Vec4) -> float:
    """acc plus the terms u[a] S[a, b] u[b], b = 0..3, added one by one."""
    ua = u[a]
    return acc + ua * Sa[0] * u[0] + ua * Sa[1] * u[1] + ua * Sa[2] * u[2] + ua * Sa[3] * u[3]


@njit(cache=True, inline="always")
def _joseph4(Ta: Vec4, Ab: Vec4, Ka: Vec4, Kb: Vec4, r: Vec4) -> float:
    """Entry (a, b) of T (I - K)^T + K diag(r) K^T, summed in update_1's order."""
    return (
        _dot4(Ta, Ab)
        + Ka[0] * r[0] * Kb[0]
        + Ka[1] * r[1] * Kb[1]
        + Ka[2] * r[2] * Kb[2]
        + Ka[3] * r[3] * Kb[3]
    )


@njit(cache=True)
def update_cv2(x: Vec4, P: Sym4, z: Vec4, r: Vec4, k: int) -> Updated4:
    """update_1 for d = 2 with R = diag(r): x = [e, n, ve, vn] (m, m/s), P its covariance
    (Sym4); z measures [e, n] (k = 2: z[2:] and r[2:] are not read) or the whole state
    (k = 4); r: variances (m^2, m^2, m^2/s^2, m^2/s^2). Returns (x+, P+, d2), d2 the
    squared Mahalanobis distance of the innovation; (x, P, inf) when S is not positive
    definite."""
    if k == 4:
        return _update_cv2_full(x, P, z, r)
    return _update_cv2_pos(x, P, z, r)


@njit(cache=True)
def update_cv1(x: Vec2, P: Sym2, z: Vec2, r: Vec2, k: int) -> Updated2:
    """update_1 for d = 1 with R = diag(r): x = [alt, vu] (m, m/s), P its covariance
    (Sym2); z measures the altitude (k = 1: z[1], r[1] not read) or both (k = 2); r:
    variances (m^2, m^2/s^2). Returns (x+, P+, d2); (x, P, inf) when S is not positive
    definite."""
    p00, p01, p11 = P
    r0 = r[0]
    s = p00 + r0
    if not s > 0.0:
        return x, P, math.inf
    l00 = math.sqrt(s)
    i00 = 1.0 / l00
    u0 = z[0] - x[0]
    if k == 1:
        s00 = i00 * i00
        d2 = u0 * s00 * u0
        k0 = p00 * s00
        k1 = p01 * s00
        # I - K H = [[a00, 0], [a10, 1]].
        a00 = 1.0 - k0
        a10 = -k1
        t00 = a00 * p00
        t01 = a00 * p01
        t10 = a10 * p00 + p01
        t11 = a10 * p01 + p11
        xu: Vec2 = (x[0] + k0 * u0, x[1] + k1 * u0)
        Pu: Sym2 = (
            t00 * a00 + k0 * r0 * k0,
            t00 * a10 + t01 + k0 * r0 * k1,
            t10 * a10 + t11 + k1 * r0 * k1,
        )
        return xu, Pu, d2
    r1 = r[1]
    l10 = p01 / l00
    s = p11 + r1 - l10 * l10
    if not s > 0.0:
        return x, P, math.inf
    l11 = math.sqrt(s)
    i11 = 1.0 / l11
    i10 = -(l10 * i00) / l11
    s00 = i00 * i00 + i10 * i10
    s01 = i10 * i11
    s11 = i11 * i11
    u1 = z[1] - x[1]
    d2 = u0 * s00 * u0 + u0 * s01 * u1 + u1 * s01 * u0 + u1 * s11 * u1
    k00 = p00 * s00 + p01 * s01
    k01 = p00 * s01 + p01 * s11
    k10 = p01 * s00 + p11 * s01
    k11 = p01 * s01 + p11 * s11
    a00 = 1.0 - k00
    a01 = -k01
    a10 = -k10
    a11 = 1.0 - k11
    t00 = a00 * p00 + a01 * p01
    t01 = a00 * p01 + a01 * p11
    t10 = a10 * p00 + a11 * p01
    t11 = a10 * p01 + a11 * p11
    xu2: Vec2 = (x[0] + (k00 * u0 + k01 * u1), x[1] + (k10 * u0 + k11 * u1))
    Pu2: Sym2 = (
        t00 * a00 + t01 * a01 + k00 * r0 * k00 + k01 * r1 * k01,
        t00 * a10 + t01 * a11 + k00 * r0 * k10 + k01 * r1 * k11,
        t10 * a10 + t11 * a11 + k10 * r0 * k10 + k11 * r1 * k11,
    )
    return xu2, Pu2, d2


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
