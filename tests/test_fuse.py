"""kernels.fuse: per-track filtering of associated reports, against a reference with
pyproj geodesy and the textbook filter (tests/reference.py), plus grouping invariance,
late and bad reports, and accuracy on geodesic flights over a pole and the antimeridian."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from kernels.fuse import APPLIED, BAD, LATE, REJECTED, apply_reports, states_at
from tests.reference import apply_reports_ref, enu_axes_ref

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
GEOD = Geod(ellps="WGS84")
Q_H = 2.0
Q_V = 0.5

# Report columns, in apply_reports' order after (t, lat, lon).
COLS = ("t", "lat", "lon", "alt", "ve", "vn", "vu", "sh", "sv", "svel", "svu")


class Tracks:
    """N system tracks initialised at given points with a vague prior."""

    def __init__(self, lat: list[float], lon: list[float], t0: float) -> None:
        n = len(lat)
        self.ref = np.stack([np.array(lat, float), np.array(lon, float)], axis=1)
        self.xh = np.zeros((n, 4))
        self.Ph = np.stack([np.diag([1e8, 1e8, 1e5, 1e5])] * n)
        self.xv = np.zeros((n, 2))
        self.Pv = np.stack([np.diag([1e8, 1e4])] * n)
        self.t = np.full(n, t0)

    def copy(self) -> Tracks:
        c = Tracks.__new__(Tracks)
        c.ref, c.xh, c.Ph = self.ref.copy(), self.xh.copy(), self.Ph.copy()
        c.xv, c.Pv, c.t = self.xv.copy(), self.Pv.copy(), self.t.copy()
        return c

    def state(self) -> tuple[F64, F64, F64, F64, F64, F64]:
        return self.ref, self.xh, self.Ph, self.xv, self.Pv, self.t

    def apply(
        self, reports: F64, groups: list[list[int]], slots: list[int], max_d2: F64 | None = None
    ) -> tuple[I64, F64]:
        offs = np.cumsum([0] + [len(g) for g in groups]).astype(np.int64)
        order = np.array([r for g in groups for r in g], dtype=np.int64)
        t, lat, lon, alt, ve, vn, vu, sh, sv, svel, svu = (
            np.ascontiguousarray(reports[:, k]) for k in range(len(COLS))
        )
        return apply_reports(
            offs, order, np.array(slots, dtype=np.int64),
            self.ref, self.xh, self.Ph, self.xv, self.Pv, self.t,
            t, lat, lon, alt, ve, vn, vu, sh, sv, svel, svu,
            np.full(len(reports), np.inf) if max_d2 is None else max_d2, Q_H, Q_V,
        )  # fmt: skip


@st.composite
def track_reports(draw: st.DrawFn) -> tuple[float, float, F64]:
    """A start point anywhere (poles and antimeridian included) and 1-12 noisy reports of
    a geodesic flight, some of them late (time before the previous one)."""
    lat0 = draw(st.one_of(st.floats(-89.99, 89.99), st.sampled_from([89.9, -89.9, 0.0])))
    lon0 = draw(st.one_of(st.floats(-180.0, 180.0), st.sampled_from([179.99, -179.99])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    speed = draw(st.floats(0.0, 300.0))
    az = draw(st.floats(0.0, 360.0))
    k = draw(st.integers(1, 12))
    t = np.cumsum(rng.choice([0.0, 1.0, 4.0, 12.0], size=k) * rng.uniform(0.5, 1.5, k))
    # About one in five arrives late: stamped 20 s earlier, before its predecessor.
    late = (rng.random(k) < 0.2) & (np.arange(k) > 0)
    t = np.where(late, t - 20.0, t)
    rows = []
    for tk in t:
        lon, lat, baz = GEOD.fwd(lon0, lat0, az, speed * max(tk, 0.0))
        heading = math.radians((baz + 180.0) % 360.0)
        sh = float(rng.choice([10.0, 50.0, 200.0]))
        dn, de = rng.normal(size=2) * sh * 1e-5  # degrees-ish jitter, small
        rows.append(
            [tk, lat + dn, lon + de, 10_000.0 + rng.normal() * 10, speed * math.sin(heading),
             speed * math.cos(heading), 0.0, sh, 15.0, float(rng.choice([0.5, 2.0, np.nan])),
             float(rng.choice([0.3, np.nan]))]
        )  # fmt: skip
    return lat0, lon0, np.array(rows, dtype=np.float64)


@settings(max_examples=120, deadline=None)
@given(track_reports())
def test_matches_reference(case: tuple[float, float, F64]) -> None:
    lat0, lon0, rep = case
    tr = Tracks([lat0], [lon0], 0.0)
    outcome, d2 = tr.apply(rep, [list(range(len(rep)))], [0])
    ref, xh, Ph, xv, Pv, t, d2r = apply_reports_ref(
        np.array([lat0, lon0]), np.zeros(4), np.diag([1e8, 1e8, 1e5, 1e5]), np.zeros(2),
        np.diag([1e8, 1e4]), 0.0, [tuple(r) for r in rep], Q_H, Q_V,
    )  # fmt: skip
    late = np.isnan(np.array(d2r))
    assert np.array_equal(outcome == LATE, late)
    assert np.all(outcome[~late] == APPLIED)
    assert tr.t[0] == t
    # The origin agrees to ~1e-10 degrees (0.01 mm); longitude is free at a pole.
    assert abs(tr.ref[0, 0] - ref[0]) < 1e-9
    if abs(ref[0]) < 89.999:
        assert abs((tr.ref[0, 1] - ref[1] + 180.0) % 360.0 - 180.0) < 1e-9 / math.cos(
            math.radians(ref[0])
        )
        assert np.allclose(tr.xh[0], xh, rtol=1e-7, atol=1e-5)
        assert np.allclose(tr.Ph[0], Ph, rtol=1e-6, atol=1e-6 * np.abs(Ph).max())
    assert np.allclose(tr.xv[0], xv, rtol=1e-9, atol=1e-6)
    assert np.allclose(tr.Pv[0], Pv, rtol=1e-7)
    assert np.allclose(d2[~late], np.array(d2r)[~late], rtol=1e-5, atol=1e-9)


def _flight(
    lat0: float, lon0: float, az: float, speed: float, times: F64, sh: float, svel: float,
    rng: np.random.Generator,
) -> tuple[F64, F64]:  # fmt: skip
    """Reports of a geodesic flight at constant ground speed (rows as COLS) and the truth
    (lat, lon) at each time. Noise: sh metres per horizontal axis, svel m/s."""
    rows, truth = [], []
    for tk in times:
        lon, lat, baz = GEOD.fwd(lon0, lat0, az, speed * tk)
        hdg = (baz + 180.0) % 360.0
        truth.append((lat, lon))
        dist = float(np.hypot(*rng.normal(size=2))) * sh
        lon_m, lat_m, _ = GEOD.fwd(lon, lat, float(rng.uniform(0, 360)), dist)
        # The sensor states the velocity in the east/north axes at its measured position
        # (which matters within a few km of a pole, where those axes turn fast).
        e_t, n_t, _ = enu_axes_ref(np.array([lat]), np.array([lon]))
        e_m, n_m, _ = enu_axes_ref(np.array([lat_m]), np.array([lon_m]))
        g = speed * (math.sin(math.radians(hdg)) * e_t[0] + math.cos(math.radians(hdg)) * n_t[0])
        ve = float(e_m[0] @ g) + rng.normal() * svel
        vn = float(n_m[0] @ g) + rng.normal() * svel
        rows.append([tk, lat_m, lon_m, 10_000.0, ve, vn, 0.0, sh, 15.0, svel, 0.5])
    return np.array(rows), np.array(truth)


@pytest.mark.parametrize(
    "lat0, lon0, az",
    [(50.0, 8.0, 60.0), (89.5, 20.0, 0.0), (-10.0, 179.5, 90.0), (-89.8, -40.0, 170.0)],
)
def test_fused_error_below_the_sensors(lat0: float, lon0: float, az: float) -> None:
    """ADS-B (1 Hz, 30 m, 0.5 m/s) and a radar (4 s, 150 m, 3 m/s) on one 250 m/s flight,
    here across a pole or the antimeridian: the track's error stays well below the
    better sensor's, and its own covariance accounts for it."""
    rng = np.random.default_rng(1)
    t_adsb = np.arange(0.0, 240.0, 1.0)
    t_radar = np.arange(0.5, 240.0, 4.0)
    adsb, truth_a = _flight(lat0, lon0, az, 250.0, t_adsb, 30.0, 0.5, rng)
    radar, truth_r = _flight(lat0, lon0, az, 250.0, t_radar, 150.0, 3.0, rng)
    rep = np.concatenate([adsb, radar])
    truth = np.concatenate([truth_a, truth_r])
    order = np.argsort(rep[:, 0], kind="stable")
    tr = Tracks([lat0], [lon0], 0.0)
    errs = []
    for r in order:  # one report at a time, checking the state after each
        outcome, _ = tr.apply(rep, [[int(r)]], [0])
        assert outcome[r] == APPLIED
        if rep[r, 0] > 30.0:
            lat, lon = states_at(rep[r, 0], *tr.state(), Q_H, Q_V)[:2]
            _, _, dist = GEOD.inv(lon[0], lat[0], truth[r, 1], truth[r, 0])
            errs.append(dist)
            # Stated 1-sigma vs. actual: within 5 sigma (2-D) every time.
            assert dist < 5.0 * math.sqrt(tr.Ph[0, 0, 0] + tr.Ph[0, 1, 1])
    rms = math.sqrt(float(np.mean(np.square(errs))))
    assert rms < 0.5 * 30.0 * math.sqrt(2.0)


def test_grouping_does_not_change_the_result() -> None:
    rng = np.random.default_rng(5)
    starts = [(50.0, 8.0), (89.95, 0.0), (-33.0, 179.99)]
    reps, groups, k = [], [], 0
    for lat0, lon0 in starts:
        r, _ = _flight(lat0, lon0, 45.0, 200.0, np.arange(0.0, 30.0, 2.0), 50.0, 1.0, rng)
        reps.append(r)
        groups.append(list(range(k, k + len(r))))
        k += len(r)
    rep = np.concatenate(reps)
    base = Tracks([s[0] for s in starts], [s[1] for s in starts], 0.0)
    together = base.copy()
    out_t, d2_t = together.apply(rep, groups, [0, 1, 2])
    # Reversed group order, and each track's reports split over two calls.
    apart = base.copy()
    out_a, d2_a = apart.apply(rep, [g[:5] for g in groups[::-1]], [2, 1, 0])
    out_b, d2_b = apart.apply(rep, [g[5:] for g in groups], [0, 1, 2])
    for g in groups:
        assert np.all(out_t[g] == APPLIED)
    assert np.array_equal(np.where(out_a == APPLIED, out_a, out_b), out_t)
    assert np.array_equal(np.where(np.isnan(d2_a), d2_b, d2_a), d2_t)
    for f in ("ref", "xh", "Ph", "xv", "Pv", "t"):
        assert np.array_equal(getattr(together, f), getattr(apart, f)), f


def test_late_and_bad_reports_leave_the_track_alone() -> None:
    rng = np.random.default_rng(2)
    rep, _ = _flight(45.0, 5.0, 10.0, 200.0, np.array([0.0, 4.0, 8.0]), 50.0, 1.0, rng)
    tr = Tracks([45.0], [5.0], 0.0)
    tr.apply(rep, [[0, 1, 2]], [0])
    before = tr.copy()
    late = rep[1:2].copy()  # t = 4 s < the track's 8 s
    bad = rep[2:3].copy()
    bad[0, 0] = 9.0
    bad[0, 1] = np.nan
    nosig = rep[2:3].copy()
    nosig[0, 0] = 9.5
    nosig[0, 7] = 0.0
    out, d2 = tr.apply(np.concatenate([late, bad, nosig]), [[0, 1, 2]], [0])
    assert out.tolist() == [LATE, BAD, BAD]
    assert np.all(np.isnan(d2))
    for f in ("ref", "xh", "Ph", "xv", "Pv", "t"):
        assert np.array_equal(getattr(tr, f), getattr(before, f)), f


def test_states_at_predicts_without_touching_the_state() -> None:
    rng = np.random.default_rng(3)
    rep, _ = _flight(60.0, 179.9, 90.0, 250.0, np.arange(0.0, 60.0, 1.0), 10.0, 0.3, rng)
    tr = Tracks([60.0], [179.9], 0.0)
    tr.apply(rep, [list(range(len(rep)))], [0])
    before = tr.copy()
    lat, lon, alt, ve, vn, vu, sh, sv = states_at(
        89.0, tr.ref, tr.xh, tr.Ph, tr.xv, tr.Pv, tr.t, Q_H, Q_V
    )
    for f in ("ref", "xh", "Ph", "xv", "Pv", "t"):
        assert np.array_equal(getattr(tr, f), getattr(before, f)), f
    # 30 s past the last report, 250 m/s due east along the geodesic. Budget: a geodesic
    # bends off the plane's straight line by d^2 tan(lat) / 2R = 8 m over 7.5 km; the
    # velocity error (~0.3 m/s) adds ~9 m, the position error ~5 m.
    lon_t, lat_t, baz = GEOD.fwd(179.9, 60.0, 90.0, 250.0 * 89.0)
    _, _, dist = GEOD.inv(lon[0], lat[0], lon_t, lat_t)
    assert dist < 40.0
    hdg = math.degrees(math.atan2(ve[0], vn[0])) % 360.0
    assert abs((hdg - (baz + 180.0) % 360.0 + 180.0) % 360.0 - 180.0) < 0.1
    assert math.hypot(ve[0], vn[0]) == pytest.approx(250.0, abs=1.0)
    assert abs(alt[0] - 10_000.0) < 5.0
    assert abs(vu[0]) < 0.5
    # The stated uncertainty covers the actual error; 30 s of process noise alone is
    # sqrt(q dt^3 / 3) = 134 m per axis at q = 2 m^2/s^3.
    assert dist < sh[0] < 150.0
    assert abs(alt[0] - 10_000.0) < sv[0] < 80.0  # q_v = 0.5: 67 m of it over 30 s
    assert states_at(0.0, tr.ref, tr.xh, tr.Ph, tr.xv, tr.Pv, tr.t, Q_H, Q_V)[0].shape == (1,)


def test_reports_beyond_their_gate_are_rejected() -> None:
    """A report 2 km off a settled track with a 50 m accuracy fails a d2 gate of 13.8
    (chi-square, 2 degrees of freedom, 0.1 %): the track only coasts to its time."""
    rng = np.random.default_rng(4)
    rep, _ = _flight(45.0, 5.0, 10.0, 200.0, np.arange(0.0, 40.0, 1.0), 50.0, 1.0, rng)
    tr = Tracks([45.0], [5.0], 0.0)
    tr.apply(rep, [list(range(len(rep)))], [0])
    good = _flight(45.0, 5.0, 10.0, 200.0, np.array([41.0]), 50.0, 1.0, rng)[0]
    bad = good.copy()
    bad[0, 0] = 42.0
    lon_b, lat_b, _ = GEOD.fwd(bad[0, 2], bad[0, 1], 90.0, 2000.0)
    bad[0, 1], bad[0, 2] = lat_b, lon_b
    coast = tr.copy()
    out, d2 = tr.apply(np.concatenate([good, bad]), [[0, 1]], [0], np.full(2, 13.8))
    assert out.tolist() == [APPLIED, REJECTED]
    assert d2[0] < 13.8 < d2[1]
    # Same as applying the good one and predicting to t = 42 s.
    coast.apply(good, [[0]], [0])
    lat, lon = states_at(42.0, *coast.state(), Q_H, Q_V)[:2]
    assert tr.t[0] == 42.0
    assert abs(tr.ref[0, 0] - lat[0]) < 1e-12 and abs(tr.ref[0, 1] - lon[0]) < 1e-12


def test_many_tracks_in_one_call_equal_one_at_a_time() -> None:
    """700 tracks (several chunks of the parallel loop), three reports each: one call for
    all equals one call per report, bit for bit, and states_at agrees track by track."""
    rng = np.random.default_rng(9)
    n = 700
    lat0 = rng.uniform(-80.0, 80.0, n)
    lon0 = rng.uniform(-180.0, 180.0, n)
    reps: list[F64] = []
    groups: list[list[int]] = []
    for k in range(n):
        r, _ = _flight(float(lat0[k]), float(lon0[k]), float(rng.uniform(0, 360)), 220.0,
                       np.array([0.0, 1.0, 5.0]), 40.0, 1.0, rng)  # fmt: skip
        reps.append(r)
        groups.append([3 * k, 3 * k + 1, 3 * k + 2])
    rep = np.concatenate(reps)
    base = Tracks(list(lat0), list(lon0), 0.0)
    together = base.copy()
    together.apply(rep, groups, list(range(n)))
    single = base.copy()
    for k in range(n):
        for row in groups[k]:
            single.apply(rep, [[row]], [k])
    for f in ("ref", "xh", "Ph", "xv", "Pv", "t"):
        assert np.array_equal(getattr(together, f), getattr(single, f)), f
    all_at = states_at(9.0, *together.state(), Q_H, Q_V)
    for k in (0, 255, 256, 511, 699):
        ref, xh, Ph, xv, Pv, t = (a[k : k + 1] for a in together.state())
        one = states_at(9.0, ref, xh, Ph, xv, Pv, t, Q_H, Q_V)
        assert all(a[k] == b[0] for a, b in zip(all_at, one, strict=True))
