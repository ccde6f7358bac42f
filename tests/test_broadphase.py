"""kernels.broadphase and kernels.screen.screen_conflicts against the brute force.

screen_conflicts must return exactly what screen_all_pairs returns: the same pairs in the
same order, and every number bit for bit (both run the same exact pair test on the same
geometry; the broad phase may only drop pairs that test would not flag). The broad phase's
candidate_pairs must contain every pair the brute force flags. Checked on generated sets
(clustered, fast, global with antipodal pairs, with invalid tracks), hand-built
adversarial ones (pairs at exactly D, at and across the poles and the antimeridian,
identical tracks, one altitude, T = 0, N = 0, 1, 2) and a few thousand tracks at the
realistic density, where the candidates must also stay few (a count, not a timing).
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

from kernels.broadphase import A_MAX, SPEED_MAX, build_grid, candidate_pairs, count_candidates
from kernels.geo import ecef_to_geodetic, geodetic_to_ecef
from kernels.screen import Conflicts, screen_all_pairs, screen_conflicts

F64 = npt.NDArray[np.float64]
Cols = tuple[F64, F64, F64, F64, F64, F64]

NM = 1852.0
D5 = 5 * NM
H1000 = 304.8
H950 = 950 * 0.3048
T120 = 120.0
FT = 0.3048
GEOD = Geod(ellps="WGS84")
WGS84_A = 6378137.0
WGS84_B = WGS84_A * (1.0 - 1.0 / 298.257223563)


def columns(lat: Any, lon: Any, alt: Any, ve: Any, vn: Any, vu: Any) -> Cols:
    """Track table columns, float64[N] each, in the kernels' argument order."""
    return tuple(np.ascontiguousarray(c, dtype=np.float64) for c in (lat, lon, alt, ve, vn, vu))  # type: ignore[return-value]


def bits(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The array's bit patterns (floats as uint64), so that equality is bit for bit."""
    return a.view(np.uint64) if a.dtype == np.float64 else a


def check(cols: Cols, D: float = D5, H: float = H1000, T: float = T120) -> Conflicts:
    """screen_conflicts == screen_all_pairs bit for bit, and the candidates cover the
    brute force's pairs. Returns the brute force's conflicts."""
    brute = screen_all_pairs(*cols, D, H, T)
    fast = screen_conflicts(*cols, D, H, T)
    for name, a, b in zip(Conflicts._fields, brute, fast, strict=True):
        assert a.dtype == b.dtype, name
        assert a.shape == b.shape, (name, a.shape, b.shape)
        assert np.array_equal(bits(a), bits(b)), name
    if 0.0 <= D <= 1e6 and 0.0 <= H <= 1e5 and not math.isinf(T):
        ci, cj = candidate_pairs(*cols, D, H, T)
        assert ci.dtype == np.int64 and cj.dtype == np.int64
        assert np.all(ci < cj)
        n = max(cols[0].size, 1)
        key = ci * n + cj
        assert np.all(np.diff(key) > 0), "candidates must be sorted and unique"
        flagged = brute.i * n + brute.j
        assert np.isin(flagged, key).all(), "a flagged pair is not a candidate"
    return brute


# --- generated sets -----------------------------------------------------------------------


def _offsets(
    rng: np.random.Generator, clat: float, clon: float, n: int, spread: float
) -> tuple[F64, F64]:
    """n points within spread metres of (clat, clon), uniform over the disc (geodesics)."""
    az = rng.uniform(0.0, 360.0, n)
    dist = spread * np.sqrt(rng.uniform(0.0, 1.0, n))
    lon, lat, _ = GEOD.fwd(np.full(n, clon), np.full(n, clat), az, dist)
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


@st.composite
def clustered(draw: st.DrawFn) -> Cols:
    """A cluster that may sit on a pole or the antimeridian: flight levels or arbitrary
    altitudes, level and climbing tracks, duplicates, sometimes all at one altitude."""
    n = draw(st.integers(0, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    clat = draw(st.one_of(st.sampled_from([0.0, 50.0, 89.99, -89.99]), st.floats(-89.9, 89.9)))
    clon = draw(st.one_of(st.sampled_from([180.0, -179.99, 179.99, 0.0]), st.floats(-180, 180)))
    spread = draw(st.sampled_from([300.0, 5e3, 20e3, 60e3, 200e3]))
    lat, lon = _offsets(rng, clat, clon, n, spread)
    mode = draw(st.sampled_from(["levels", "uniform", "one"]))
    if mode == "levels":
        alt = rng.integers(280, 300, n) * 100 * FT
    elif mode == "uniform":
        alt = rng.uniform(0.0, 12000.0, n)
    else:
        alt = np.full(n, 10000.0)
    speed = rng.uniform(0.0, draw(st.sampled_from([0.0, 50.0, 300.0])), n)
    track = rng.uniform(0.0, 2 * np.pi, n)
    vu = np.where(rng.uniform(size=n) < 0.5, 0.0, rng.normal(0.0, 15.0, n))
    ve, vn = speed * np.sin(track), speed * np.cos(track)
    if n >= 2 and draw(st.booleans()):
        src = rng.integers(0, n, n // 3)
        dst = rng.integers(0, n, src.size)
        for col in (lat, lon, alt, ve, vn, vu):
            col[dst] = col[src]
    return columns(lat, lon, alt, ve, vn, vu)


@st.composite
def fast_movers(draw: st.DrawFn) -> Cols:
    """Fast tracks spread over hundreds of km: the reach over T, and with it the
    tangent-plane slack, is as large as the grid takes (and beyond, for some)."""
    n = draw(st.integers(2, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    clat = draw(st.floats(-89.0, 89.0))
    clon = draw(st.floats(-180.0, 180.0))
    lat, lon = _offsets(rng, clat, clon, n, draw(st.sampled_from([50e3, 200e3, 400e3])))
    top = draw(st.sampled_from([500.0, 1600.0, 3000.0]))
    speed = rng.uniform(0.0, top, n)
    track = rng.uniform(0.0, 2 * np.pi, n)
    alt = rng.choice([9000.0, 9100.0, 9300.0], n)
    vu = rng.choice([0.0, 40.0, -40.0], n)
    return columns(lat, lon, alt, speed * np.sin(track), speed * np.cos(track), vu)


def far_crossing(lat: float, lon: float) -> tuple[float, float]:
    """(lat, lon) where the normal line at (lat, lon, 0) leaves the ellipsoid again, near
    the antipode: the tangent-plane projection of a point there is (nearly) zero."""
    p = geodetic_to_ecef(np.array([lat]), np.array([lon]), np.zeros(1))[0]
    la, lo = math.radians(lat), math.radians(lon)
    u = np.array([math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)])
    g = np.array([WGS84_A**-2, WGS84_A**-2, WGS84_B**-2])
    f = p - 2.0 * float((p * g) @ u) / float((u * g) @ u) * u
    flat, flon, _ = ecef_to_geodetic(f[None, :])
    return float(flat[0]), float(flon[0])


@st.composite
def global_sets(draw: st.DrawFn) -> Cols:
    """Tracks anywhere on the globe, with some placed near the far crossing of
    another's normal line, where the tangent-plane projection is small again."""
    n = draw(st.integers(2, 50))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    lon = rng.uniform(-180.0, 180.0, n)
    for k in range(1, n, 3):
        flat, flon = far_crossing(float(lat[k - 1]), float(lon[k - 1]))
        la, lo = _offsets(rng, flat, flon, 1, draw(st.sampled_from([0.0, 5e3, 30e3])))
        lat[k], lon[k] = la[0], lo[0]
    alt = rng.choice([10000.0, 10100.0], n)
    speed = rng.uniform(0.0, 300.0, n)
    track = rng.uniform(0.0, 2 * np.pi, n)
    vu = rng.choice([0.0, 5.0], n)
    return columns(lat, lon, alt, speed * np.sin(track), speed * np.cos(track), vu)


@st.composite
def with_invalid(draw: st.DrawFn) -> Cols:
    """A cluster with some tracks the grid leaves out: NaN or infinite inputs, huge
    speeds or altitudes."""
    cols = draw(clustered())
    n = cols[0].size
    if n == 0:
        return cols
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bad = [math.nan, math.inf, -math.inf, 1e300, 2 * SPEED_MAX, 1e7]
    for _ in range(draw(st.integers(1, 3))):
        col = int(rng.integers(0, 6))
        cols[col][int(rng.integers(0, n))] = float(rng.choice(bad))
    return cols


PARAMS = st.tuples(
    st.sampled_from([D5, 3 * NM, 50e3]),
    st.sampled_from([H1000, H950, 2000.0]),
    st.sampled_from([T120, 0.0, 1.0, 600.0]),
)


@settings(max_examples=80, deadline=None)
@given(clustered(), PARAMS)
def test_clustered(cols: Cols, params: tuple[float, float, float]) -> None:
    check(cols, *params)


@settings(max_examples=40, deadline=None)
@given(fast_movers(), PARAMS)
def test_fast_movers(cols: Cols, params: tuple[float, float, float]) -> None:
    check(cols, *params)


@settings(max_examples=30, deadline=None)
@given(global_sets(), PARAMS)
def test_global_with_far_side_tracks(cols: Cols, params: tuple[float, float, float]) -> None:
    check(cols, *params)


@settings(max_examples=30, deadline=None)
@given(with_invalid())
def test_invalid_tracks(cols: Cols) -> None:
    check(cols)


# --- hand-built sets ----------------------------------------------------------------------


def test_small_sizes() -> None:
    check(columns([], [], [], [], [], []))
    check(columns([50.0], [8.0], [1e4], [200.0], [0.0], [0.0]))
    # Two tracks: far apart, then head-on.
    check(columns([50.0, 51.0], [8.0, 8.0], [1e4, 1e4], [0, 0], [0, 0], [0, 0]))
    two = check(columns([50.0, 50.0], [8.0, 8.3], [1e4, 1e4], [250, -250], [0, 0], [0, 0]))
    assert two.i.size == 1


def test_far_side_pairs_are_not_flagged() -> None:
    # Near the far crossing of i's normal line (about the antipode) the tangent-plane
    # projection is ~0: the far-side gate keeps such pairs out of the brute force, and
    # the broad phase equals it there too; a pair 5 km apart at each place still counts.
    lats, lons = [], []
    for lat, lon in [(0.0, 0.0), (45.0, 10.0), (89.9, 30.0), (-30.0, 179.99), (-90.0, 12.0)]:
        flat, flon = far_crossing(lat, lon)
        lats += [lat, flat]
        lons += [lon, flon]
    n = len(lats)
    got = check(columns(lats, lons, np.full(n, 1e4), np.zeros(n), np.zeros(n), np.zeros(n)))
    assert got.i.size == 0
    # Each point with a companion 0.045 degrees (5 km) along its meridian.
    lats2, lons2 = [], []
    for la, lo in zip(lats, lons, strict=True):
        lats2 += [la, la + 0.045 if la < 89.9 else la - 0.045]
        lons2 += [lo, lo]
    m = len(lats2)
    got = check(columns(lats2, lons2, np.full(m, 1e4), np.zeros(m), np.zeros(m), np.zeros(m)))
    assert sorted(zip(got.i.tolist(), got.j.tolist(), strict=True)) == [
        (k, k + 1) for k in range(0, m, 2)
    ]


@pytest.mark.parametrize("lat0", [0.0, 50.0, 89.0, -89.9])
@pytest.mark.parametrize("az", [0.0, 37.0, 90.0, 211.0])
def test_pairs_at_exactly_d(lat0: float, az: float) -> None:
    # Pairs whose horizontal distance is D to within rounding, now or at their CPA, level
    # or a flight level apart: the exact test decides within a few ulp; nothing before
    # it may drop them.
    lats, lons, alts, ves, vns = [], [], [], [], []
    for k, dist in enumerate([D5, D5 * (1 - 1e-15), D5 * (1 + 1e-15), D5 + 500.0 * T120]):
        lon1, lat1, baz = GEOD.fwd(10.0 + k, lat0, az, dist)
        lats += [lat0, lat1]
        lons += [10.0 + k, lon1]
        alts += [1e4, 1e4 + (H1000 if k % 2 else 0.0)]
        # The last pair flies at each other, 250 m/s each: it closes to D at exactly T.
        s = 250.0 if k == 3 else 0.0
        ves += [s * math.sin(math.radians(az)), s * math.sin(math.radians(baz))]
        vns += [s * math.cos(math.radians(az)), s * math.cos(math.radians(baz))]
    n = len(lats)
    check(columns(lats, lons, alts, ves, vns, np.zeros(n)))


@pytest.mark.parametrize("pole", [90.0, -90.0])
def test_at_and_across_the_poles(pole: float) -> None:
    rng = np.random.default_rng(7)
    n = 40
    lat, lon = _offsets(rng, pole, 0.0, n, 15e3)
    lat[:8] = pole  # exactly on the pole, with different longitudes (ENU axes)
    lon[:8] = np.linspace(-180.0, 180.0, 8)
    speed = rng.uniform(0.0, 250.0, n)
    track = rng.uniform(0.0, 2 * np.pi, n)
    alt = rng.choice([9000.0, 9100.0], n)
    got = check(columns(lat, lon, alt, speed * np.sin(track), speed * np.cos(track), np.zeros(n)))
    assert got.i.size > 0


def test_across_the_antimeridian() -> None:
    n = 60
    lon = np.tile([179.99, -179.99, 180.0, -180.0, 179.9, -179.9], n // 6)
    lat = np.repeat(np.linspace(-60.0, 60.0, n // 6), 6)
    ve = np.tile([250.0, -250.0, 0.0, 100.0, 250.0, -250.0], n // 6)
    got = check(columns(lat, lon, np.full(n, 1e4), ve, np.zeros(n), np.zeros(n)))
    assert got.i.size > 0


def test_identical_tracks_at_one_altitude() -> None:
    n = 120
    cols = columns(
        np.full(n, 47.0), np.full(n, 8.5), np.full(n, 3000.0), np.full(n, 120.0), np.zeros(n),
        np.zeros(n),
    )  # fmt: skip
    assert check(cols).i.size == n * (n - 1) // 2


def test_dense_cluster() -> None:
    # 400 aircraft within 3 km and a few hundred feet: most pairs conflict.
    rng = np.random.default_rng(3)
    n = 400
    lat, lon = _offsets(rng, 51.47, -0.45, n, 3e3)
    alt = rng.uniform(900.0, 1100.0, n)
    speed = rng.uniform(60.0, 90.0, n)
    track = rng.uniform(0.0, 2 * np.pi, n)
    vu = rng.normal(0.0, 3.0, n)
    got = check(columns(lat, lon, alt, speed * np.sin(track), speed * np.cos(track), vu))
    assert got.i.size > n * (n - 1) // 4


@pytest.mark.parametrize("seed", [0, 1])
def test_big_tracks(seed: int) -> None:
    # The grid's cell is about the 99.9th percentile of the boxes; faster tracks (here 6
    # fighters at 600-1500 m/s among 12,000 airliners, within 20 km of each other) span
    # more than two cells and take the big-track path: against the cells around their
    # box and against each other.
    rng = np.random.default_rng(seed)
    n_slow, n_fast = 12_000, 6
    lat, lon = _offsets(rng, 48.0, 2.0, n_slow, 400e3)
    speed = rng.uniform(150.0, 250.0, n_slow)
    flat, flon = _offsets(rng, 48.0, 2.0, n_fast, 20e3)
    fspeed = rng.uniform(600.0, 1500.0, n_fast)
    lat = np.concatenate([lat, flat])
    lon = np.concatenate([lon, flon])
    speed = np.concatenate([speed, fspeed])
    track = rng.uniform(0.0, 2 * np.pi, n_slow + n_fast)
    alt = rng.choice([9000.0, 9300.0, 9600.0], n_slow + n_fast)
    vu = np.where(rng.uniform(size=n_slow + n_fast) < 0.2, 10.0, 0.0)
    cols = columns(lat, lon, alt, speed * np.sin(track), speed * np.cos(track), vu)
    grid = build_grid(*cols, D5, H1000, T120)
    n_big = grid.sidx.size - int(grid.gp[5])
    assert n_big >= n_fast, n_big
    got = check(cols)
    is_fast = (got.i >= n_slow) | (got.j >= n_slow)
    assert np.any(is_fast)
    assert np.any((got.i >= n_slow) & (got.j >= n_slow))


def test_look_ahead_zero_and_zero_speeds() -> None:
    rng = np.random.default_rng(11)
    n = 200
    lat, lon = _offsets(rng, -33.9, 151.2, n, 40e3)
    alt = rng.integers(5, 15, n) * 1000 * FT
    speed = rng.uniform(0.0, 250.0, n)
    track = rng.uniform(0.0, 2 * np.pi, n)
    cols = columns(lat, lon, alt, speed * np.sin(track), speed * np.cos(track), np.zeros(n))
    now = check(cols, T=0.0)
    assert now.i.size > 0
    assert np.all(now.t_in == 0.0)
    still = columns(lat, lon, alt, np.zeros(n), np.zeros(n), np.zeros(n))
    assert np.array_equal(check(still).i, now.i)


def test_tracks_at_the_grids_limits() -> None:
    # Reach just inside and just outside A_MAX (the grid's limit) and speeds around
    # SPEED_MAX: the grid takes some, the others are paired with every track.
    rng = np.random.default_rng(5)
    n = 40
    lat, lon = _offsets(rng, 10.0, 20.0, n, 300e3)
    limit = A_MAX / T120
    speed = np.concatenate([np.full(10, limit * (1 - 1e-12)), np.full(10, limit * 1.001)])
    speed = np.concatenate([speed, rng.uniform(0.0, 300.0, n - 20)])
    track = rng.uniform(0.0, 2 * np.pi, n)
    ve, vn = speed * np.sin(track), speed * np.cos(track)
    ve[-1] = SPEED_MAX
    check(columns(lat, lon, np.full(n, 9000.0), ve, vn, np.zeros(n)))


@pytest.mark.parametrize(
    ("D", "H", "T"),
    [
        (-D5, H1000, T120),
        (D5, -H1000, T120),
        (math.nan, H1000, T120),
        (D5, math.nan, T120),
        (D5, H1000, math.nan),
        (D5, H1000, -1.0),
        (0.0, H1000, T120),
        (D5, 0.0, T120),
        (D5, math.inf, T120),
        (D5, H1000, math.inf),
        (2e6, H1000, T120),
    ],
)
def test_parameters_outside_the_broad_phase(D: float, H: float, T: float) -> None:
    # Whatever the brute force makes of them, screen_conflicts returns the same.
    rng = np.random.default_rng(2)
    n = 30
    lat, lon = _offsets(rng, 40.0, -3.7, n, 50e3)
    cols = columns(
        lat, lon, rng.uniform(9e3, 1e4, n), rng.normal(0, 150, n), rng.normal(0, 150, n),
        rng.normal(0, 5, n),
    )  # fmt: skip
    check(cols, D, H, T)


def test_candidate_pairs_refuses_what_it_does_not_cover() -> None:
    z = np.zeros(3)
    lat = np.array([0.0, 0.01, 0.02])
    with pytest.raises(ValueError):
        candidate_pairs(lat, z, z, z, z, z, -D5, H1000, T120)
    with pytest.raises(ValueError):
        candidate_pairs(lat, z, z, z, z, np.zeros(2), D5, H1000, T120)
    with pytest.raises(ValueError):
        screen_conflicts(lat, z, z, z, z, np.zeros(2), D5, H1000, T120)
    ci, cj = candidate_pairs(lat, z, z, z, z, z, D5, H1000, -1.0)
    assert ci.size == 0 and cj.size == 0


# --- realistic density --------------------------------------------------------------------


def realistic(n: int, seed: int) -> Cols:
    """About one aircraft per 100 km^2 over a square of side sqrt(n * 100) km centred on
    50 N, 30 % of them in terminal clusters (20 per 10,000 aircraft, radius 40 km, ground
    to FL150), the rest en route on flight levels FL100-FL410 (semicircular rule); 20 %
    climbing or descending at 5-15 m/s; 100-260 m/s."""
    rng = np.random.default_rng(seed)
    side = math.sqrt(n * 100.0) * 1e3
    x = rng.uniform(-side / 2, side / 2, n)
    y = rng.uniform(-side / 2, side / 2, n)
    terminal = rng.uniform(size=n) < 0.3
    centres = rng.uniform(-side / 2, side / 2, (max(1, round(n * 20 / 10_000)), 2))
    which = rng.integers(0, centres.shape[0], n)
    r = 40e3 * np.sqrt(rng.uniform(size=n))
    th = rng.uniform(0.0, 2 * np.pi, n)
    x = np.where(terminal, centres[which, 0] + r * np.cos(th), x)
    y = np.where(terminal, centres[which, 1] + r * np.sin(th), y)
    lon, lat, _ = GEOD.fwd(
        np.full(n, 10.0), np.full(n, 50.0), np.degrees(np.arctan2(x, y)), np.hypot(x, y)
    )
    track = rng.uniform(0.0, 360.0, n)
    speed = np.where(terminal, rng.uniform(100.0, 180.0, n), rng.uniform(180.0, 260.0, n))
    vertical = rng.uniform(size=n) < 0.2
    vu = np.where(vertical, rng.uniform(5.0, 15.0, n) * rng.choice([-1.0, 1.0], n), 0.0)
    east = track < 180.0
    level = np.where(east, rng.integers(0, 16, n) * 2 + 11, rng.integers(0, 16, n) * 2 + 10)
    alt = np.where(
        terminal,
        np.where(vertical, rng.uniform(0.0, 15000 * FT, n), rng.integers(1, 16, n) * 1000 * FT),
        np.where(vertical, rng.uniform(10000 * FT, 41000 * FT, n), level * 1000 * FT),
    )
    ve = speed * np.sin(np.radians(track))
    vn = speed * np.cos(np.radians(track))
    return columns(lat, lon, alt, ve, vn, vu)


@pytest.mark.parametrize("seed", [0, 1])
def test_realistic_density(seed: int) -> None:
    n = 3000
    cols = realistic(n, seed)
    got = check(cols, D5, H950, T120)
    assert got.i.size > 0
    ci, _ = candidate_pairs(*cols, D5, H950, T120)
    # Far below the n^2 / 2 pairs of the brute force (a count, not a timing).
    assert ci.size < 5 * n
    assert ci.size >= got.i.size
    assert count_candidates(*cols, D5, H950, T120) == ci.size


def test_independent_of_thread_count() -> None:
    cols = realistic(3000, 4)
    threads = numba.get_num_threads()
    try:
        runs = []
        for t in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS), threads}):
            numba.set_num_threads(t)
            runs.append(
                (screen_conflicts(*cols, D5, H950, T120), candidate_pairs(*cols, D5, H950, T120))
            )
    finally:
        numba.set_num_threads(threads)
    first, first_cand = runs[0]
    for got, cand in runs[1:]:
        for a, b in zip(first, got, strict=True):
            assert np.array_equal(bits(a), bits(b))
        for a, b in zip(first_cand, cand, strict=True):
            assert np.array_equal(a, b)
