"""kernels.kalman's scalar forms (the fuser's filter) against its array forms, bit for
bit: predict_cv2 / predict_cv1 = predict_1, update_cv2 / update_cv1 / gate_cv2 =
update_1 / gate_1 with a diagonal R, on symmetric covariances of aircraft scales."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.kalman import (
    Sym2,
    Sym4,
    Vec2,
    Vec4,
    gate_1,
    gate_cv2,
    predict_1,
    predict_cv1,
    predict_cv2,
    update_1,
    update_cv1,
    update_cv2,
)

F64 = npt.NDArray[np.float64]


def upper(P: F64) -> tuple[float, ...]:
    """Upper triangle by rows, as the scalar forms hold a covariance."""
    m = P.shape[0]
    return tuple(float(P[a, b]) for a in range(m) for b in range(a, m))


def full(u: tuple[float, ...], m: int) -> F64:
    P = np.empty((m, m))
    k = 0
    for a in range(m):
        for b in range(a, m):
            P[a, b] = P[b, a] = u[k]
            k += 1
    return P


def same(a: F64, b: F64) -> bool:
    """Equal bit for bit, NaN matching NaN; the sign of a zero is not compared."""
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


@st.composite
def rows(draw: st.DrawFn) -> tuple[int, F64, F64, float, float, F64, F64]:
    """(d, x, symmetric P, dt, q, z, diagonal variances r) for one row."""
    d = draw(st.sampled_from([1, 2]))
    m = 2 * d
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = np.array([10.0 ** rng.uniform(0, 4)] * d + [10.0 ** rng.uniform(-1, 2)] * d)
    L = rng.normal(size=(m, m)) * scale[:, None]
    P = L @ L.T + np.eye(m) * scale**2 * 1e-3
    P = 0.5 * (P + P.T)
    if draw(st.booleans()):  # a track's vague prior
        P = np.diag([1e10] * d + [1e6] * d)
    x = rng.normal(size=m) * np.array([3e3] * d + [250.0] * d)
    dt = float(rng.choice([0.0, 0.5, 1.0, 4.0, 30.0])) * float(rng.uniform(0.5, 1.5))
    q = float(rng.choice([0.0, 0.5, 2.0, 30.0]))
    z = x + rng.normal(size=m) * scale
    r = (10.0 ** rng.uniform(-1, 4, m)) ** 2
    if draw(st.integers(0, 9)) == 0:  # not positive definite
        r[0] = -2.0 * P[0, 0] - 1.0
    return d, x, P, dt, q, z, r


@settings(max_examples=300, deadline=None)
@given(rows())
def test_scalar_forms_equal_the_array_forms(
    case: tuple[int, F64, F64, float, float, F64, F64],
) -> None:
    d, x, P, dt, q, z, r = case
    m = 2 * d
    xa, Pa = x.copy(), P.copy()
    predict_1(xa, Pa, dt, q)
    work = np.empty((6, 4, 4))
    results = []  # (scalar x, scalar P, scalar d2) per k, then the array forms' own
    if d == 2:
        x4: Vec4 = (x[0], x[1], x[2], x[3])
        p4 = upper(P)
        P4: Sym4 = (p4[0], p4[1], p4[2], p4[3], p4[4], p4[5], p4[6], p4[7], p4[8], p4[9])
        xs4, Ps4 = predict_cv2(x4, P4, dt, q)
        assert same(np.array(xs4), xa) and same(full(Ps4, m), Pa)
        z4: Vec4 = (z[0], z[1], z[2], z[3])
        r4: Vec4 = (r[0], r[1], r[2], r[3])
        for k in (2, 4):
            xk, Pk, d2k = update_cv2(xs4, Ps4, z4, r4, k)
            results.append((k, np.array(xk), full(Pk, m), d2k))
        g = gate_1(xa, Pa, z[:2], np.diag(r[:2]), work)
        assert same(np.array(gate_cv2(xs4, Ps4, z[0], z[1], r[0], r[1])), np.array(g))
    else:
        x2: Vec2 = (x[0], x[1])
        P2: Sym2 = (P[0, 0], P[0, 1], P[1, 1])
        xs2, Ps2 = predict_cv1(x2, P2, dt, q)
        assert same(np.array(xs2), xa) and same(full(Ps2, m), Pa)
        for k in (1, 2):
            xk2, Pk2, d2k2 = update_cv1(xs2, Ps2, (z[0], z[1]), (r[0], r[1]), k)
            results.append((k, np.array(xk2), full(Pk2, m), d2k2))
    for k, xk_, Pk_, d2_s in results:
        xu, Pu, nu = xa.copy(), Pa.copy(), np.empty(4)
        d2_a = update_1(xu, Pu, z[:k], np.diag(r[:k]), nu, work)
        assert same(xk_, xu) and same(Pk_, Pu), k
        assert same(np.array(d2_s), np.array(d2_a)), (d2_s, d2_a)
