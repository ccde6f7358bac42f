"""kernels.screen.screen_all_pairs against the plain all-pairs reference (pyproj geodesy,
float64 CPA) on generated track tables, and on hand-built pairs: head-on, a 6 NM miss,
adjacent flight levels, near the poles and across the antimeridian.

As in test_cpa, the comparison is a sandwich: every pair the reference finds with
slightly shrunk (D, H, T) must be reported, and every pair reported must be found with
slightly grown ones.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from kernels.screen import Conflicts, screen_all_pairs, warm_up
from tests.reference import screen_all_pairs_ref

F64 = npt.NDArray[np.float64]

NM = 1852.0
D5 = 5 * NM
H1000 = 304.8
T120 = 120.0
SLACK = 1e-9
GEOD = Geod(ellps="WGS84")


class Table:
    """Columns of a track table, float64[N] each, in screen_all_pairs' order."""

    def __init__(self, lat: Any, lon: Any, alt: Any, ve: Any, vn: Any, vu: Any) -> None:
        lat, lon, alt, ve, vn, vu = (
            np.asarray(c, dtype=np.float64) for c in (lat, lon, alt, ve, vn, vu)
        )
        self.cols: tuple[F64, F64, F64, F64, F64, F64] = (lat, lon, alt, ve, vn, vu)

    def screen(self, D: float = D5, H: float = H1000, T: float = T120) -> Conflicts:
        lat, lon, alt, ve, vn, vu = self.cols
        return screen_all_pairs(lat, lon, alt, ve, vn, vu, D, H, T)

    def ref(self, D: float = D5, H: float = H1000, T: float = T120) -> dict[str, Any]:
        return screen_all_pairs_ref(*self.cols, D, H, T)


def pair_index(n: int, i: int, j: int) -> int:
    """Row of pair (i, j), i < j, in row-major upper-triangle order."""
    return i * n - i * (i + 1) // 2 + (j - i - 1)


def check_against_reference(tab: Table, D: float = D5, H: float = H1000, T: float = T120) -> None:
    n = tab.cols[0].size
    got = tab.screen(D, H, T)
    mid = tab.ref(D, H, T)
    ph = mid["d_now"]
    dD = SLACK * (D + ph)
    dH = SLACK * (H + mid["dz_now"])
    small = tab.ref(D - dD, H - dH, T * (1 - SLACK))
    big = tab.ref(D + dD, H + dH, T * (1 + SLACK))

    # Output shape, order, types.
    k = got.i.size
    assert all(f.shape == (k,) for f in got)
    assert got.i.dtype == np.int64
    assert got.j.dtype == np.int64
    assert all(f.dtype == np.float64 for f in got[2:])
    assert np.all(got.i < got.j)
    assert np.all((got.i >= 0) & (got.j < max(n, 1)))
    order = np.lexsort((got.j, got.i))
    assert np.array_equal(order, np.arange(k))
    assert np.unique(got.i * max(n, 1) + got.j).size == k

    rows = np.array([pair_index(n, i, j) for i, j in zip(got.i, got.j, strict=True)], dtype=int)
    reported = np.zeros(mid["i"].size, dtype=bool)
    reported[rows] = True
    must = small["conflict"] & ~reported
    assert not must.any(), ("missed", mid["i"][must], mid["j"][must])
    may = big["conflict"] | ~reported
    assert may.all(), ("spurious", mid["i"][~may], mid["j"][~may])

    tol_t = 1e-12 * (1.0 + T)
    assert np.all((got.t_in >= 0.0) & (got.t_in <= got.t_out) & (got.t_out <= T))
    assert np.all(big["t_in"][rows] - tol_t <= got.t_in)
    assert np.all(got.t_out <= big["t_out"][rows] + tol_t)
    sure = small["conflict"][rows]
    assert np.all(got.t_in[sure] <= small["t_in"][rows][sure] + tol_t)
    assert np.all(small["t_out"][rows][sure] - tol_t <= got.t_out[sure])

    # Current separations: same geometry, independent geodesy.
    assert np.allclose(got.d_now, mid["d_now"][rows], rtol=0.0, atol=1e-6)
    assert np.array_equal(got.dz_now, mid["dz_now"][rows])
    # In conflict now (t_in = 0) means within D and H now, boundaries included...
    now = got.t_in == 0.0
    assert np.all(got.d_now[now] <= D + dD[rows][now])
    assert np.all(got.dz_now[now] <= H)
    # ...and every pair clearly within them is reported with t_in = 0.
    inside = (mid["d_now"] < D - dD) & (mid["dz_now"] < H - dH)
    assert np.all(reported[inside])
    assert np.all(got.t_in[inside[rows]] == 0.0)
    # CPA fields, with the tolerances of test_cpa.
    assert np.all((got.t_cpa >= 0.0) & (got.t_cpa <= T))
    assert np.all(np.abs(got.d_cpa - mid["d_cpa"][rows]) <= SLACK * (ph[rows] + D) + 1e-6)
    assert np.all(got.d_cpa <= got.d_now * (1 + 1e-12) + 1e-6)


# --- generated tables --------------------------------------------------------------------


@st.composite
def tables(draw: st.DrawFn) -> Table:
    """A cluster of tracks around a centre that may sit on a pole or the antimeridian,
    with flight-level altitudes, level and duplicated tracks mixed in."""
    n = draw(st.integers(0, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    clat = draw(st.one_of(st.sampled_from([0.0, 50.0, 89.95, -89.95]), st.floats(-89.5, 89.5)))
    clon = draw(st.one_of(st.sampled_from([180.0, -179.99, 0.0]), st.floats(-180.0, 180.0)))
    spread = draw(st.sampled_from([5e3, 20e3, 60e3]))
    levels = draw(st.booleans())
    rng = np.random.default_rng(seed)
    az = rng.uniform(0.0, 360.0, n)
    dist = spread * np.sqrt(rng.uniform(0.0, 1.0, n))
    lon, lat, _ = GEOD.fwd(np.full(n, clon), np.full(n, clat), az, dist)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    # Flight levels (100 ft steps) put many pairs within rounding of exactly H apart.
    fls = rng.integers(280, 300, n) * 100 * 0.3048
    alt = fls if levels else rng.uniform(8000.0, 11000.0, n)
    speed = rng.uniform(0.0, 300.0, n)
    track = rng.uniform(0.0, 2 * np.pi, n)
    ve, vn = speed * np.sin(track), speed * np.cos(track)
    vu = np.where(rng.uniform(size=n) < 0.5, 0.0, rng.normal(0.0, 10.0, n))
    if n >= 2 and draw(st.booleans()):
        # Duplicates: zero relative position and velocity.
        k = rng.integers(0, n, n // 4)
        dst = rng.integers(0, n, k.size)
        for col in (lat, lon, alt, ve, vn, vu):
            col[dst] = col[k]
    return Table(lat, lon, alt, ve, vn, vu)


@settings(max_examples=60, deadline=None)
@given(tables(), st.sampled_from([D5, 3 * NM]), st.sampled_from([H1000, 0.9 * H1000]))
def test_against_reference(tab: Table, D: float, H: float) -> None:
    check_against_reference(tab, D, H, T120)


@settings(max_examples=15, deadline=None)
@given(tables())
def test_deterministic_and_independent_of_thread_count(tab: Table) -> None:
    first = tab.screen()
    again = tab.screen()
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = tab.screen()
    finally:
        numba.set_num_threads(threads)
    for a, b, c in zip(first, again, single, strict=True):
        assert np.array_equal(a, b)
        assert np.array_equal(a, c)


# --- hand-built pairs --------------------------------------------------------------------


def two_tracks(lat0: float, lon0: float, az: float, dist: float, speed: float) -> Table:
    """Track 0 at (lat0, lon0) flying azimuth az; track 1 dist metres away along the
    geodesic of azimuth az, flying straight back at track 0. Both at speed m/s, level."""
    lon1, lat1, baz = GEOD.fwd(lon0, lat0, az, dist)
    v0, v1 = (speed, az), (speed, float(baz))
    ve = [s * math.sin(math.radians(a)) for s, a in (v0, v1)]
    vn = [s * math.cos(math.radians(a)) for s, a in (v0, v1)]
    return Table([lat0, lat1], [lon0, lon1], [10000.0, 10000.0], ve, vn, [0.0, 0.0])


def geodesic_distance(tab: Table) -> float:
    lat, lon = tab.cols[0], tab.cols[1]
    return float(GEOD.inv(lon[0], lat[0], lon[1], lat[1])[2])


def test_head_on_same_level() -> None:
    # 40 km apart, closing at 2 x 250 m/s: in at (40000 - 9260) / 500 = 61.48 s.
    tab = two_tracks(50.0, 8.0, 90.0, 40e3, 250.0)
    check_against_reference(tab)
    c = tab.screen()
    assert (c.i.tolist(), c.j.tolist()) == ([0], [1])
    assert c.t_in[0] == pytest.approx((40e3 - D5) / 500.0, abs=0.01)
    assert c.t_out[0] == pytest.approx((40e3 + D5) / 500.0, abs=0.01)
    assert c.t_cpa[0] == pytest.approx(80.0, abs=0.01)
    assert c.d_cpa[0] < 1.0
    assert c.d_now[0] == pytest.approx(geodesic_distance(tab), abs=0.5)
    assert c.dz_now[0] == 0.0


def test_six_nm_miss_is_no_conflict_and_four_nm_is() -> None:
    for offset_nm, expected in ((6.0, 0), (4.0, 1)):
        # Track 0 flies east; track 1 starts offset_nm north of it and 30 km further east
        # and flies west: a reciprocal pass, abeam at about offset_nm.
        lon_n, lat_n, _ = GEOD.fwd(8.0, 50.0, 0.0, offset_nm * NM)
        lon1, lat1, _ = GEOD.fwd(lon_n, lat_n, 90.0, 30e3)
        tab = Table([50.0, lat1], [8.0, lon1], [10e3, 10e3], [250, -250], [0, 0], [0, 0])
        check_against_reference(tab)
        c = tab.screen()
        assert c.i.size == expected, offset_nm
        if expected:
            # Meridian convergence over 30 km turns "west" by ~0.3 degrees: tens of metres.
            assert c.d_cpa[0] == pytest.approx(offset_nm * NM, abs=300.0)


def _levels_exactly_h_apart() -> tuple[float, float]:
    # At cruise altitudes no two float64 altitudes differ by exactly float(304.8): their
    # difference is a multiple of ulp(1e4) = 1.8e-12 m, which 304.8 is not. Adjacent
    # flight levels there come out 304.8 +- 1e-12, below H for about half of them. Exact
    # pairs exist only low down.
    for fl in range(10, 600):
        lo, hi = fl * 100 * 0.3048, (fl + 10) * 100 * 0.3048
        if hi - lo == H1000:
            return lo, hi
    raise AssertionError("no flight level pair exactly 304.8 m apart")


def test_adjacent_flight_levels_exactly_h_apart() -> None:
    lo, hi = _levels_exactly_h_apart()
    tab = two_tracks(50.0, 8.0, 90.0, 40e3, 250.0)
    tab.cols[2][:] = [lo, hi]
    check_against_reference(tab)
    assert tab.screen().i.size == 0
    # The same crossing 999 ft apart is a conflict.
    tab.cols[2][:] = [lo, lo + 999 * 0.3048]
    check_against_reference(tab)
    c = tab.screen()
    assert c.i.size == 1
    assert c.dz_now[0] == pytest.approx(999 * 0.3048)


@pytest.mark.parametrize("fl", [290, 350, 360, 400])
def test_adjacent_cruise_levels_need_a_tolerance_on_h(fl: int) -> None:
    # FL and FL+10 at cruise: the float difference is 304.8 give or take 1e-12 m, so the
    # strict test alone may go either way; any tolerance on H (the service passes
    # (1000 ft - alt_tolerance) in metres) makes it none.
    tab = two_tracks(50.0, 8.0, 90.0, 40e3, 250.0)
    tab.cols[2][:] = [fl * 100 * 0.3048, (fl + 10) * 100 * 0.3048]
    assert abs(tab.cols[2][1] - tab.cols[2][0] - H1000) < 1e-11
    assert tab.screen(H=H1000 * (1 - 1e-12)).i.size == 0
    check_against_reference(tab)


def test_near_the_north_pole() -> None:
    # Across the pole, 11 km apart, both flying north (towards each other).
    tab = Table([89.95, 89.95], [0.0, 180.0], [10e3, 10e3], [0, 0], [250, 250], [0, 0])
    check_against_reference(tab)
    c = tab.screen()
    assert c.i.size == 1
    assert c.d_now[0] == pytest.approx(geodesic_distance(tab), abs=0.5)
    assert c.t_in[0] == pytest.approx((c.d_now[0] - D5) / 500.0, abs=0.01)


@pytest.mark.parametrize("pole_lon", [0.0, 90.0, -135.0])
def test_on_the_south_pole(pole_lon: float) -> None:
    # A track exactly on the pole: its ENU axes depend on the longitude it reports
    # (north points along that meridian), and its velocity is given in them. It flies
    # towards the meridian 0, i.e. along east/north = (-sin L, cos L) in its own frame.
    ve0, vn0 = -200.0 * math.sin(math.radians(pole_lon)), 200.0 * math.cos(math.radians(pole_lon))
    # Track 1 sits 30 km from the pole on meridian 0, flying south (towards the pole).
    tab = Table([-90.0, -89.73], [pole_lon, 0.0], [9e3, 9e3], [ve0, 0.0], [vn0, -200.0], [0, 0])
    check_against_reference(tab)
    c = tab.screen()
    assert c.i.size == 1
    assert c.d_now[0] == pytest.approx(geodesic_distance(tab), abs=0.5)
    assert c.t_in[0] == pytest.approx((c.d_now[0] - D5) / 400.0, abs=0.05)


def test_across_the_antimeridian() -> None:
    # 179.99 E and 179.99 W on the equator: 2.2 km apart, already in conflict.
    tab = Table([0.0, 0.0], [179.99, -179.99], [9e3, 9e3], [0, 0], [100, 100], [0, 0])
    check_against_reference(tab)
    c = tab.screen()
    assert c.i.size == 1
    assert c.t_in[0] == 0.0
    assert c.d_now[0] == pytest.approx(geodesic_distance(tab), abs=0.01)
    # Head-on across it, 22 km apart.
    tab = Table([0.0, 0.0], [179.9, -179.9], [9e3, 9e3], [250, -250], [0, 0], [0, 0])
    check_against_reference(tab)
    c = tab.screen()
    assert c.i.size == 1
    assert c.t_in[0] == pytest.approx((geodesic_distance(tab) - D5) / 500.0, abs=0.01)


@pytest.mark.parametrize("margin", [1e-3, 1.0])
def test_pairs_at_the_edge_of_reach(margin: float) -> None:
    """Pairs that just make it into conflict (within `margin` s or m): nothing that
    cheapens the all-pairs loop may drop them."""
    lat, lon = 50.0, 8.0
    alt = 10e3
    # Co-located, level, just inside H.
    tab = Table([lat, lat], [lon, lon], [alt, alt + H1000 - margin], [0, 0], [0, 0], [0, 0])
    check_against_reference(tab)
    assert tab.screen().i.size == 1
    # Co-located, closing vertically at 10 m/s, in just before T.
    dz = H1000 + 10.0 * (T120 - margin)
    tab = Table([lat, lat], [lon, lon], [alt, alt + dz], [0, 0], [0, 0], [0, -10.0])
    check_against_reference(tab)
    c = tab.screen()
    assert c.i.size == 1
    assert c.t_in[0] == pytest.approx(T120 - margin, abs=1e-6)
    # Level, head-on at 2 x 250 m/s, in just before T.
    tab = two_tracks(lat, lon, 90.0, D5 + 500.0 * (T120 - margin), 250.0)
    check_against_reference(tab)
    c = tab.screen()
    assert c.i.size == 1
    assert c.t_in[0] == pytest.approx(T120 - margin, abs=2e-3)
    # Just too late or too far: none.
    tab = Table(
        [lat, lat],
        [lon, lon],
        [alt, alt + H1000 + 10.0 * (T120 + margin)],
        [0, 0],
        [0, 0],
        [0, -10.0],
    )
    check_against_reference(tab)
    assert tab.screen().i.size == 0


def test_altitude_does_not_leak_into_horizontal_distance() -> None:
    tab = Table([45.0, 45.0], [10.0, 10.0], [0.0, 12e3], [0, 0], [0, 0], [0, -200.0])
    c = tab.screen()
    assert c.i.size == 1
    assert c.d_now[0] == 0.0
    assert c.dz_now[0] == 12e3
    assert c.t_in[0] == pytest.approx((12e3 - H1000) / 200.0)


def test_small_and_bad_inputs() -> None:
    empty = Table([], [], [], [], [], []).screen()
    assert all(f.shape == (0,) for f in empty)
    one = Table([1.0], [2.0], [3.0], [4.0], [5.0], [6.0]).screen()
    assert all(f.shape == (0,) for f in one)
    with pytest.raises(ValueError):
        z = np.zeros(3)
        screen_all_pairs(z, z, z, z, z, np.zeros(2), D5, H1000, T120)
    warm_up()
