"""kernels.pairwindow: given pairs re-tested with their own minima, bit for bit the brute
force run with those minima."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.broadphase import track_table
from kernels.pairwindow import pair_windows
from kernels.screen import screen_all_pairs, screen_conflicts

NM, FT = 1852.0, 0.3048
T = 120.0


def _traffic(seed: int, n: int) -> tuple[np.ndarray, ...]:
    """Crowded traffic around 50 N 8.6 E: three levels, some climbing, random headings."""
    rng = np.random.default_rng(seed)
    lat = 50.0 + rng.uniform(-0.4, 0.4, n)
    lon = 8.6 + rng.uniform(-0.6, 0.6, n)
    alt = rng.choice([9144.0, 9448.8, 9753.6], n) + rng.normal(0.0, 15.0, n)
    ve = rng.normal(0.0, 150.0, n)
    vn = rng.normal(0.0, 150.0, n)
    vu = np.where(rng.random(n) < 0.2, rng.normal(0.0, 10.0, n), 0.0)
    return lat, lon, alt, ve, vn, vu


@pytest.mark.parametrize("seed", [1, 2])
def test_per_pair_minima_match_the_brute_force(seed: int) -> None:
    cols = _traffic(seed, 300)
    minima = [(3.0 * NM, 950.0 * FT), (5.0 * NM, 950.0 * FT), (5.0 * NM, 1950.0 * FT)]
    d_max = max(d for d, _ in minima)
    h_max = max(h for _, h in minima)
    # One screening pass with the largest minima: the candidates.
    c = screen_conflicts(*cols, d_max, h_max, T)
    rng = np.random.default_rng(seed + 10)
    pick = rng.integers(0, len(minima), c.i.size)
    D = np.array([minima[p][0] for p in pick])
    H = np.array([minima[p][1] for p in pick])
    ok, res = pair_windows(track_table(*cols), c.i, c.j, D, H, T)
    assert 0 < ok.sum() < ok.size  # some keep, some drop: the test means something
    for m, (d, h) in enumerate(minima):
        ref = screen_all_pairs(*cols, d, h, T)
        flagged = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(ref.i, ref.j, strict=True))}
        # Every pair the brute force flags with these minima was a candidate.
        cand = set(zip(c.i.tolist(), c.j.tolist(), strict=True))
        assert set(flagged) <= cand
        for p in np.flatnonzero(pick == m):
            key = (int(c.i[p]), int(c.j[p]))
            assert bool(ok[p]) == (key in flagged), key
            if ok[p]:
                k = flagged[key]
                want = [ref.t_in[k], ref.t_out[k], ref.t_cpa[k], ref.d_cpa[k], ref.dz_cpa[k],
                        ref.d_now[k], ref.dz_now[k]]  # fmt: skip
                assert res[p].tolist() == want  # bit for bit


def test_empty_and_bad_input() -> None:
    tab = track_table(*_traffic(3, 4))
    none = np.empty(0, dtype=np.int64)
    ok, res = pair_windows(tab, none, none, np.empty(0), np.empty(0), T)
    assert ok.shape == (0,) and res.shape == (0, 7)
    with pytest.raises(ValueError, match="same length"):
        pair_windows(tab, np.array([0]), np.array([1, 2]), np.ones(1), np.ones(1), T)
    with pytest.raises(IndexError):
        pair_windows(tab, np.array([0]), np.array([9]), np.ones(1), np.ones(1), T)
