"""kernels.kalman against the textbook NumPy filter in tests/reference.py, on hypothesis
cases, plus closed forms, covariance properties and a consistency check on a simulated
track (the filter's own covariance must describe its actual error)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.kalman import cv_gate, cv_predict, cv_update
from tests.reference import cv_predict_ref, cv_update_ref

F64 = npt.NDArray[np.float64]


def spd(rng: np.random.Generator, n: int, m: int, scale: F64) -> F64:
    """n random symmetric positive definite m x m matrices, entries of order scale^2."""
    L = rng.normal(size=(n, m, m)) * scale[None, :, None]
    out: F64 = L @ L.transpose(0, 2, 1) + np.eye(m) * (scale**2 * 1e-3)
    return 0.5 * (out + out.transpose(0, 2, 1))


@st.composite
def filter_rows(draw: st.DrawFn) -> tuple[F64, F64, F64, F64, F64, F64]:
    """(x, P, dt, q, z, R) for N rows of a d-axis filter, scales as for aircraft; z
    measures the positions or the whole state."""
    d = draw(st.sampled_from([1, 2]))
    n = draw(st.integers(1, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pos_sd = 10.0 ** draw(st.floats(0.0, 3.5))  # 1 m .. 3 km
    vel_sd = 10.0 ** draw(st.floats(-1.0, 2.0))  # 0.1 .. 100 m/s
    scale = np.array([pos_sd] * d + [vel_sd] * d)
    x = rng.normal(size=(n, 2 * d)) * np.array([5e4] * d + [250.0] * d)
    P = spd(rng, n, 2 * d, scale)
    dt = rng.choice([0.0, 1.0, 4.5, 12.0, -2.0], size=n) * rng.uniform(0.5, 1.5, n)
    q = rng.choice([0.0, 1.0, 30.0], size=n)
    r_sd = 10.0 ** draw(st.floats(0.0, 3.0))
    rv_sd = 10.0 ** draw(st.floats(-1.0, 1.5))
    # Positions only, or positions and velocities.
    k = draw(st.sampled_from([d, 2 * d]))
    r_scale = np.array([r_sd] * d + [rv_sd] * d)[:k]
    R = spd(rng, n, k, r_scale)
    z = x[:, :k] + rng.normal(size=(n, k)) * (scale[:k] + r_scale)
    return x, P, dt, q, z, R


def assert_close(got: F64, ref: F64, rel: float) -> None:
    # Errors relative to the size of each row's numbers, not each entry's (an entry near
    # zero is a difference of large ones).
    axes = tuple(range(1, ref.ndim))
    scale = np.max(np.abs(ref), axis=axes, keepdims=True) + 1e-300
    assert np.all(np.abs(got - ref) <= rel * scale), np.max(np.abs(got - ref) / scale)


@settings(max_examples=150, deadline=None)
@given(filter_rows())
def test_predict_matches_reference(rows: tuple[F64, ...]) -> None:
    x, P, dt, q, _, _ = rows
    x0, P0 = x.copy(), P.copy()
    xp, Pp = cv_predict(x, P, dt, q)
    xr, Pr = cv_predict_ref(x, P, dt, q)
    assert_close(xp, xr, 1e-13)
    assert_close(Pp, Pr, 1e-12)
    assert np.array_equal(Pp, Pp.transpose(0, 2, 1))
    assert np.array_equal(x, x0) and np.array_equal(P, P0)  # inputs untouched


@settings(max_examples=150, deadline=None)
@given(filter_rows())
def test_update_matches_reference(rows: tuple[F64, ...]) -> None:
    x, P, dt, q, z, R = rows
    xp, Pp = cv_predict(x, P, dt, q)
    xu, Pu, nu, d2 = cv_update(xp, Pp, z, R)
    xr, Pr, nur, d2r = cv_update_ref(xp, Pp, z, R)
    assert_close(nu, nur, 1e-14)
    assert_close(xu, xr, 1e-9)
    # Joseph form vs the short form: equal in exact arithmetic; conditioning of S (R and
    # P can differ by 1e6 in scale here) allows relative differences of order 1e-9.
    assert_close(Pu, Pr, 1e-7)
    assert np.allclose(d2, d2r, rtol=1e-8)
    assert np.array_equal(Pu, Pu.transpose(0, 2, 1))
    # Positive semi-definite, and the update never increases a position variance.
    eig = np.linalg.eigvalsh(Pu)
    assert np.all(eig >= -1e-9 * np.max(np.abs(eig), axis=1, keepdims=True))
    m = x.shape[1]
    for a in range(m // 2):
        assert np.all(Pu[:, a, a] <= Pp[:, a, a] * (1 + 1e-12))
    # The gate gives the update's d2 for the same pairs.
    n = x.shape[0]
    idx = np.arange(n, dtype=np.int64)
    assert np.allclose(cv_gate(xp, Pp, z, R, idx, idx), d2, rtol=1e-12)


def test_scalar_closed_form() -> None:
    # d = 1: P = diag(p, v), R = r -> K = [p, 0] / (p + r), posterior variance p r / (p + r).
    p, v, r = 400.0, 25.0, 100.0
    x = np.array([[1000.0, 10.0]])
    P = np.array([[[p, 0.0], [0.0, v]]])
    xu, Pu, nu, d2 = cv_update(x, P, np.array([[1050.0]]), np.array([[[r]]]))
    assert nu[0, 0] == 50.0
    assert xu[0, 0] == pytest.approx(1000.0 + 50.0 * p / (p + r), rel=1e-15)
    assert xu[0, 1] == 10.0  # no cross-covariance: velocity untouched
    assert Pu[0, 0, 0] == pytest.approx(p * r / (p + r), rel=1e-14)
    assert Pu[0, 1, 1] == v
    assert d2[0] == pytest.approx(50.0**2 / (p + r), rel=1e-15)
    # Predict: 2 s, no noise -> position variance p + 4 v, cross 2 v.
    xp, Pp = cv_predict(x, P, np.array([2.0]), np.array([0.0]))
    assert xp[0, 0] == 1020.0
    assert Pp[0, 0, 0] == p + 4 * v
    assert Pp[0, 0, 1] == Pp[0, 1, 0] == 2 * v
    # Process noise alone over dt: q dt^3 / 3, q dt^2 / 2, q dt.
    _, Pq = cv_predict(x, np.zeros((1, 2, 2)), np.array([3.0]), np.array([2.0]))
    assert np.allclose(Pq[0], [[18.0, 9.0], [9.0, 6.0]], rtol=1e-15)


def test_bad_rows_are_left_unchanged() -> None:
    x = np.array([[0.0, 0.0, 100.0, 0.0], [0.0, 0.0, 100.0, 0.0]])
    P = np.stack([np.eye(4) * 100.0] * 2)
    R = np.stack([np.eye(2) * np.nan, np.eye(2) * -1e9])
    xu, Pu, _, d2 = cv_update(x, P, np.ones((2, 2)), R)
    assert np.all(np.isinf(d2))
    assert np.array_equal(xu, x)
    assert np.array_equal(Pu, P)
    idx = np.arange(2, dtype=np.int64)
    assert np.all(np.isinf(cv_gate(x, P, np.ones((2, 2)), R, idx, idx)))


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError):
        cv_predict(np.zeros((2, 3)), np.zeros((2, 3, 3)), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError):
        cv_predict(np.zeros((2, 4)), np.zeros((2, 4, 4)), np.zeros(1), np.zeros(2))
    with pytest.raises(ValueError):
        cv_update(np.zeros((2, 4)), np.zeros((2, 4, 4)), np.zeros((2, 1)), np.zeros((2, 1, 1)))
    with pytest.raises(ValueError):
        cv_update(np.zeros((2, 4)), np.zeros((2, 4, 4)), np.zeros((2, 3)), np.zeros((2, 3, 3)))
    with pytest.raises(ValueError):
        z = np.zeros((2, 2))
        cv_gate(np.zeros((2, 4)), np.zeros((2, 4, 4)), z, np.zeros((2, 2, 2)),
                np.zeros(3, dtype=np.int64), np.zeros(2, dtype=np.int64))  # fmt: skip


@pytest.mark.parametrize("vel_sd", [None, 2.0])
def test_filter_is_consistent_on_a_simulated_track(vel_sd: float | None) -> None:
    """500 independent straight tracks with random accelerations matching q, measured
    every 4 s with 50 m noise (and 2 m/s on velocity when measured): after settling, the
    mean normalised estimation error squared (NEES) must match the state dimension (the
    covariance tells the truth), and the position error must be well below the
    measurement noise."""
    rng = np.random.default_rng(42)
    n, steps, dt, q, sd = 500, 60, 4.0, 2.0, 50.0
    # Truth: the discrete form of the same white-noise acceleration model.
    Fq = np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]]) * q
    Lq = np.linalg.cholesky(Fq)
    truth = np.zeros((n, 4))
    truth[:, 2:] = rng.normal(0.0, 200.0, (n, 2))
    x = np.zeros((n, 4))
    P = np.stack([np.diag([1e6, 1e6, 1e5, 1e5])] * n)
    x[:, 2:] = 0.0
    k = 2 if vel_sd is None else 4
    R = np.stack([np.diag([sd**2, sd**2, (vel_sd or 0.0) ** 2, (vel_sd or 0.0) ** 2])[:k, :k]] * n)
    vel_err = []
    nees, pos_err = [], []
    for step in range(steps):
        for ax in range(2):
            w = rng.normal(size=(n, 2)) @ Lq.T
            truth[:, ax] += dt * truth[:, 2 + ax] + w[:, 0]
            truth[:, 2 + ax] += w[:, 1]
        x, P = cv_predict(x, P, np.full(n, dt), np.full(n, q))
        z = truth[:, :k] + rng.normal(size=(n, k)) * np.sqrt(np.diagonal(R[0]))
        x, P, _, _ = cv_update(x, P, z, R)
        if step >= 20:
            e = truth - x
            nees.append(np.einsum("ni,nij,nj->n", e, np.linalg.inv(P), e).mean())
            pos_err.append(np.sqrt((e[:, :2] ** 2).sum(axis=1).mean()))
            vel_err.append(np.sqrt((e[:, 2:] ** 2).sum(axis=1).mean()))
    # 40 steps x 500 tracks: the mean NEES of a consistent filter is 4 +- ~0.05.
    assert 3.8 < float(np.mean(nees)) < 4.2
    assert float(np.mean(pos_err)) < 0.8 * sd * np.sqrt(2)
    if vel_sd is not None:
        assert float(np.mean(vel_err)) < vel_sd * np.sqrt(2)
