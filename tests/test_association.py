"""fusion.association.gnn_assign: one-to-one, gated, and the same assignment as one dense
optimal assignment over everything (solving connected groups separately loses nothing)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from fusion.association import gnn_assign
from kernels.geo import geodetic_to_ecef

GATE = 13.8


def _dense(lat_r: np.ndarray, lon_r: np.ndarray, s_r: np.ndarray, lat_t: np.ndarray,
           lon_t: np.ndarray, s_t: np.ndarray) -> np.ndarray:  # fmt: skip
    """Reference: all pairs, chord distances, one dense assignment (no time shift)."""
    pr = geodetic_to_ecef(lat_r, lon_r, np.zeros(lat_r.size))
    pt = geodetic_to_ecef(lat_t, lon_t, np.zeros(lat_t.size))
    d = pr[:, None, :] - pt[None, :, :]
    var = s_r[:, None] ** 2 + s_t[None, :] ** 2
    d2 = (d**2).sum(axis=2) / var
    cost = np.where(d2 <= GATE, d2 + np.log(var), 1e12)
    a, b = linear_sum_assignment(cost)
    out = np.full(lat_r.size, -1)
    ok = cost[a, b] < 1e12
    out[a[ok]] = b[ok]
    return out


def test_groups_give_the_dense_assignment() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        nt = int(rng.integers(1, 80))
        lat_t = 50.0 + rng.uniform(-0.3, 0.3, nt)
        lon_t = 8.0 + rng.uniform(-0.5, 0.5, nt)
        s_t = rng.uniform(20.0, 400.0, nt)
        # Reports near some tracks (clusters of candidates), plus strays.
        pick = rng.integers(0, nt, int(rng.integers(1, 80)))
        lat_r = lat_t[pick] + rng.normal(0, 0.004, pick.size)
        lon_r = lon_t[pick] + rng.normal(0, 0.006, pick.size)
        s_r = rng.uniform(30.0, 300.0, pick.size)
        got = gnn_assign(
            np.zeros(pick.size), lat_r, lon_r, s_r, 0.0, lat_t, lon_t, np.zeros(nt),
            np.zeros(nt), s_t, GATE, 20_000.0,
        )  # fmt: skip
        assert np.array_equal(got, _dense(lat_r, lon_r, s_r, lat_t, lon_t, s_t))
        taken = got[got >= 0]
        assert taken.size == np.unique(taken).size  # one-to-one


def test_nothing_to_assign() -> None:
    e = np.empty(0)
    assert gnn_assign(e, e, e, e, 0.0, e, e, e, e, e, GATE, 1e4).size == 0
    one = np.array([50.0])
    got = gnn_assign(np.zeros(1), one, one, one, 0.0, e, e, e, e, e, GATE, 1e4)
    assert got.tolist() == [-1]
