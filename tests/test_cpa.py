"""kernels.cpa against the references in tests/reference.py, plus the edge cases where the
textbook formulas break: zero and near-zero relative velocity, already in conflict,
grazing, vertical-only convergence, level pairs exactly H apart, entries at or just
before T, huge coordinates.

Comparisons use a sandwich rather than a bare tolerance: the loss-of-separation window
only grows with D, H and T, so the kernel's answer must lie between the exact answers for
slightly shrunk and slightly grown (D, H, T). Cases within that slack of a boundary may
go either way; every other case must agree.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kernels.cpa import ConflictWindow, conflict_window, conflict_window_1
from tests.reference import conflict_window_exact, conflict_window_ref

NM = 1852.0
D5 = 5 * NM  # 9260 m
H1000 = 304.8  # 1000 ft
T120 = 120.0

# Relative slack of the sandwich; the kernel's own errors are of order 1e-16 (1e-8 of D
# in the worst, grazing case, which the slack on D covers: see kernels/cpa.py).
SLACK = 1e-9


class Case(NamedTuple):
    px: float
    py: float
    pz: float
    vx: float
    vy: float
    vz: float
    D: float
    H: float
    T: float


class Res(NamedTuple):
    conflict: bool
    t_in: float
    t_out: float
    t_cpa: float
    d_cpa: float
    dz_cpa: float


def kernel(c: Case) -> Res:
    return Res(*conflict_window_1(*c))


def exact(c: Case, dD: float = 0.0, dH: float = 0.0, dT: float = 0.0) -> Res:
    return Res(*conflict_window_exact(*c[:6], c.D + dD, c.H + dH, c.T + dT))


def slack(c: Case) -> tuple[float, float, float]:
    # The kernel's errors scale with the magnitudes it works on: |p| and D, |pz| and H.
    dD = SLACK * (c.D + math.hypot(c.px, c.py))
    dH = SLACK * (c.H + abs(c.pz))
    return dD, dH, SLACK * c.T


def assert_sandwiched(c: Case, k: Res, small: Res, big: Res) -> None:
    """k must be between the exact answers for shrunk (small) and grown (big) limits."""
    if small.conflict:
        assert k.conflict, (c, k, small)
    if not big.conflict:
        assert not k.conflict, (c, k, big)
    if k.conflict:
        tol = 1e-12 * (1.0 + c.T)
        assert 0.0 <= k.t_in <= k.t_out <= c.T
        assert big.t_in - tol <= k.t_in, (c, k, big)
        assert k.t_out <= big.t_out + tol, (c, k, big)
        if small.conflict:
            assert k.t_in <= small.t_in + tol, (c, k, small)
            assert small.t_out - tol <= k.t_out, (c, k, small)
    else:
        assert k.t_in == math.inf
        assert k.t_out == -math.inf


def assert_cpa_close(c: Case, k: Res, e: Res) -> None:
    sh = math.hypot(c.vx, c.vy)
    ph = math.hypot(c.px, c.py)
    if sh == 0.0:
        assert k.t_cpa == 0.0
    else:
        assert abs(k.t_cpa - e.t_cpa) <= SLACK * (c.T + (ph + c.D) / sh), (c, k, e)
    assert 0.0 <= k.t_cpa <= max(c.T, 0.0)
    assert abs(k.d_cpa - e.d_cpa) <= SLACK * (ph + sh * c.T + c.D), (c, k, e)
    # dz_cpa is the vertical separation at the kernel's own t_cpa.
    assert abs(k.dz_cpa - abs(c.pz + c.vz * k.t_cpa)) <= SLACK * (abs(c.pz) + abs(c.vz) * c.T)
    # Horizontal CPA is a minimum over [0, T].
    assert k.d_cpa <= ph * (1 + 1e-12) + 1e-9


def check_against_exact(c: Case) -> Res:
    k = kernel(c)
    dD, dH, dT = slack(c)
    small = exact(c, -dD, -dH, -dT)
    big = exact(c, dD, dH, dT)
    assert_sandwiched(c, k, small, big)
    assert_cpa_close(c, k, exact(c))
    return k


# --- hypothesis cases --------------------------------------------------------------------


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


# Horizontal speed (m/s) below which the float reference is not trusted: at ~1e-154 m/s
# |v|^2 turns subnormal and D^2 / |v|^2 overflows; 1e-100 keeps well clear of both.
FLOAT_REF_MIN_SPEED = 1e-100
MILD_SPEEDS = [0.0, -0.0, 1e-12, -1e-12, 1e-3]
TINY_SPEEDS = [1e-200, 5e-324]
limits_d = st.one_of(st.just(D5), floats(1.0, 2e4))
limits_h = st.one_of(st.just(H1000), floats(1.0, 2000.0))
horizons = st.one_of(st.sampled_from([0.0, T120]), floats(0.0, 600.0))


@st.composite
def cases(draw: st.DrawFn, tiny: bool = True) -> Case:
    """Pairs aimed at the cylinder: a point q near its boundary, reached at time t0, so
    that conflicts, grazes and entries near 0 and T are all common. tiny: allow speeds
    near underflow (1e-200 m/s, subnormal)."""
    specials = st.sampled_from(MILD_SPEEDS + TINY_SPEEDS if tiny else MILD_SPEEDS)
    speeds = st.one_of(specials, floats(-600.0, 600.0))
    vspeeds = st.one_of(specials, floats(-60.0, 60.0))
    D = draw(limits_d)
    H = draw(limits_h)
    T = draw(horizons)
    vx, vy, vz = draw(speeds), draw(speeds), draw(vspeeds)
    if draw(st.booleans()):
        ang = draw(st.floats(0.0, 2 * math.pi))
        rad = D * draw(st.sampled_from([0.0, 0.5, 1.0, 1.0 - 1e-9, 1.0 + 1e-9, 1.5]))
        qx, qy = rad * math.cos(ang), rad * math.sin(ang)
        qz = H * draw(st.sampled_from([0.0, 0.5, 1.0, -1.0, 1.0 + 1e-9, -2.0]))
        t0 = draw(st.sampled_from([0.0, T, -T, 0.5 * T, 2 * T, T * (1 - 1e-9)]))
        px, py, pz = qx - vx * t0, qy - vy * t0, qz - vz * t0
    else:
        coord = st.one_of(floats(-1e5, 1e5), floats(-1e7, 1e7))
        px, py = draw(coord), draw(coord)
        pz = draw(st.one_of(floats(-3e3, 3e3), st.sampled_from([H, -H, 0.0])))
    return Case(px, py, pz, vx, vy, vz, D, H, T)


@settings(max_examples=400, deadline=None)
@given(cases())
def test_scalar_against_exact_reference(c: Case) -> None:
    check_against_exact(c)


@settings(max_examples=60, deadline=None)
@given(st.lists(cases(tiny=False), min_size=1, max_size=40), limits_d, limits_h, horizons)
# Found by CI: on the boundary, drifting out at 7e-157 m/s, T = 0 (the float reference
# called it a conflict).
@example([Case(D5, 0.0, 0.0, 6.714631533890032e-157, 0.0, 0.0, D5, H1000, 0.0)], D5, H1000, 0.0)
def test_array_against_float_reference(cs: list[Case], D: float, H: float, T: float) -> None:
    # The float reference is accurate in absolute terms, ~eps |p| / |v|, which is
    # meaningless near underflow: no tiny speeds here (the exact reference has them).
    rel_pos = np.array([c[:3] for c in cs], dtype=np.float64)
    rel_vel = np.array([c[3:6] for c in cs], dtype=np.float64)
    got = conflict_window(rel_pos, rel_vel, D, H, T)
    assert isinstance(got, ConflictWindow)
    for field in got:
        assert field.shape == (len(cs),)
    assert got.conflict.dtype == np.bool_
    assert got.t_in.dtype == np.float64

    dD = SLACK * (D + np.hypot(rel_pos[:, 0], rel_pos[:, 1]))
    dH = SLACK * (H + np.abs(rel_pos[:, 2]))
    dT = SLACK * T
    for k in range(len(cs)):
        # The array wrapper is the scalar core, element by element.
        px, py, pz = (float(x) for x in rel_pos[k])
        vx, vy, vz = (float(x) for x in rel_vel[k])
        one = conflict_window_1(px, py, pz, vx, vy, vz, D, H, T)
        assert tuple(f[k] for f in got) == one

        c = Case(px, py, pz, vx, vy, vz, D, H, T)
        if 0.0 < math.hypot(vx, vy) < FLOAT_REF_MIN_SPEED:
            # floats() draws speeds like 7e-157 m/s too, whose square is subnormal: the
            # float reference is meaningless there, so the exact one judges the row.
            check_against_exact(c)
            continue
        pk, vk = rel_pos[k : k + 1], rel_vel[k : k + 1]
        small = conflict_window_ref(pk, vk, D - dD[k], H - dH[k], T - dT)
        big = conflict_window_ref(pk, vk, D + dD[k], H + dH[k], T + dT)
        mid = conflict_window_ref(pk, vk, D, H, T)

        def at(r: dict[str, np.ndarray]) -> Res:
            return Res(*(r[f][0].item() for f in Res._fields))

        assert_sandwiched(c, Res(*one), at(small), at(big))
        assert_cpa_close(c, Res(*one), at(mid))


def test_array_shape_is_checked() -> None:
    with pytest.raises(ValueError):
        conflict_window(np.zeros((3, 2)), np.zeros((3, 2)), D5, H1000, T120)
    with pytest.raises(ValueError):
        conflict_window(np.zeros((3, 3)), np.zeros((2, 3)), D5, H1000, T120)
    empty = conflict_window(np.zeros((0, 3)), np.zeros((0, 3)), D5, H1000, T120)
    assert all(f.shape == (0,) for f in empty)


# --- explicit edge cases -----------------------------------------------------------------


def test_zero_relative_velocity_inside_and_outside() -> None:
    inside = check_against_exact(Case(3000.0, -4000.0, 100.0, 0.0, 0.0, 0.0, D5, H1000, T120))
    assert inside.conflict
    assert (inside.t_in, inside.t_out, inside.t_cpa) == (0.0, T120, 0.0)
    assert inside.d_cpa == 5000.0
    assert inside.dz_cpa == 100.0
    outside = check_against_exact(Case(D5, 0.0, 0.0, 0.0, 0.0, 0.0, D5, H1000, T120))
    assert not outside.conflict  # exactly D apart is not a loss
    assert (outside.t_in, outside.t_out) == (math.inf, -math.inf)
    assert outside.d_cpa == D5


@pytest.mark.parametrize("speed", [1e-12, 1e-100, 1e-200, 1e-310, 5e-324])
def test_near_zero_horizontal_velocity(speed: float) -> None:
    # Inside and drifting out: the exit is far beyond T.
    k = check_against_exact(Case(D5 - 1e-3, 0.0, 0.0, speed, speed, 0.0, D5, H1000, T120))
    assert k.conflict
    assert (k.t_in, k.t_out) == (0.0, T120)
    # Outside and drifting in: the entry is far beyond T.
    k = check_against_exact(Case(D5 + 1e-3, 0.0, 0.0, -speed, 0.0, 0.0, D5, H1000, T120))
    assert not k.conflict
    # On the boundary and drifting in: inside for every t in (0, T].
    k = check_against_exact(Case(0.0, -D5, 0.0, 0.0, speed, 0.0, D5, H1000, T120))
    assert k.conflict
    assert (k.t_in, k.t_out) == (0.0, T120)
    assert all(math.isfinite(x) for x in (k.t_cpa, k.d_cpa, k.dz_cpa))


@pytest.mark.parametrize("speed", [1e-12, 1e-200, 5e-324])
def test_near_zero_vertical_velocity(speed: float) -> None:
    # A level pair 1 mm beyond H, closing at a crawl: never within T.
    k = check_against_exact(Case(0.0, 0.0, H1000 + 1e-3, 0.0, 0.0, -speed, D5, H1000, T120))
    assert not k.conflict
    # A pair 1 mm inside H, separating at a crawl: in conflict throughout.
    k = check_against_exact(Case(0.0, 0.0, H1000 - 1e-3, 0.0, 0.0, speed, D5, H1000, T120))
    assert k.conflict
    assert (k.t_in, k.t_out) == (0.0, T120)


def test_fast_velocity_does_not_overflow() -> None:
    k = check_against_exact(Case(-1e7, 0.0, 0.0, 1e300, 0.0, 0.0, D5, H1000, T120))
    assert k.conflict
    assert 0.0 < k.t_in < k.t_out < 1e-290
    assert k.t_in == pytest.approx((1e7 - D5) / 1e300, rel=1e-14)


def test_already_in_conflict() -> None:
    k = check_against_exact(Case(-2000.0, 1000.0, -50.0, 150.0, 0.0, 2.0, D5, H1000, T120))
    assert k.conflict
    assert k.t_in == 0.0
    # Exits horizontally at x = sqrt(D^2 - 1000^2), vertically at dz = +H; whichever first.
    t_h = (math.sqrt(D5**2 - 1000.0**2) + 2000.0) / 150.0
    t_v = (H1000 + 50.0) / 2.0
    assert k.t_out == pytest.approx(min(t_h, t_v, T120), rel=1e-14)
    assert k.t_cpa == pytest.approx(2000.0 / 150.0, rel=1e-14)
    assert k.d_cpa == 1000.0


def test_grazing_pass_is_no_conflict() -> None:
    # Miss distance exactly D, along an axis and along a 3-4-5 diagonal.
    for c in (
        Case(-1000.0, D5, 0.0, 100.0, 0.0, 0.0, D5, H1000, T120),
        Case(-10592.0, -29556.0, 0.0, 300.0, 400.0, 0.0, D5, H1000, T120),
    ):
        k = check_against_exact(c)
        assert not k.conflict
        assert k.d_cpa == D5
    assert kernel(Case(-1000.0, D5, 0.0, 100.0, 0.0, 0.0, D5, H1000, T120)).t_cpa == 10.0
    # One metre closer is a conflict, centred on the CPA.
    k = check_against_exact(Case(-10592.0, -29556.0 + 1.0, 0.0, 300.0, 400.0, 0.0, D5, 1.0, 100.0))
    assert k.conflict
    assert k.t_in < k.t_cpa < k.t_out
    assert (k.t_in + k.t_out) / 2 == pytest.approx(k.t_cpa, abs=1e-9)


def test_vertical_only_convergence() -> None:
    # Co-located horizontally, same horizontal velocity, closing vertically at 10 m/s.
    k = check_against_exact(Case(100.0, 0.0, 1000.0, 0.0, 0.0, -10.0, D5, H1000, T120))
    assert k.conflict
    assert k.t_in == pytest.approx((1000.0 - H1000) / 10.0, rel=1e-14)
    assert k.t_out == T120  # would leave at 130.48 s, after the look-ahead
    assert k.t_cpa == 0.0
    assert k.d_cpa == 100.0
    assert k.dz_cpa == 1000.0


def test_level_pairs_exactly_h_apart() -> None:
    for dz in (H1000, -H1000):
        # Head-on through each other, level, exactly 1000 ft apart: no loss.
        k = check_against_exact(Case(-20000.0, 0.0, dz, 250.0, 0.0, 0.0, D5, H1000, T120))
        assert not k.conflict
        assert k.d_cpa == 0.0
        assert k.dz_cpa == H1000
    # Exactly H apart and starting to close: inside for every t in (0, ...).
    k = check_against_exact(Case(0.0, 0.0, H1000, 0.0, 0.0, -1.0, D5, H1000, T120))
    assert k.conflict
    assert (k.t_in, k.t_out) == (0.0, T120)
    # Exactly H apart and separating: never inside.
    assert not check_against_exact(Case(0.0, 0.0, H1000, 0.0, 0.0, 1.0, D5, H1000, T120)).conflict


def test_entry_just_before_at_and_after_t() -> None:
    def head_on(x: float) -> Res:
        return check_against_exact(Case(x, 0.0, 0.0, -100.0, 0.0, 0.0, D5, H1000, T120))

    k = head_on(D5 + 100.0 * 119.5)
    assert k.conflict
    assert (k.t_in, k.t_out) == (119.5, T120)
    k = head_on(D5 + 100.0 * T120 - 1e-6)  # enters 1e-8 s before T
    assert k.conflict
    assert k.t_in < k.t_out == T120
    assert k.t_in == pytest.approx(T120 - 1e-8, abs=1e-10)
    assert not head_on(D5 + 100.0 * T120).conflict  # enters exactly at T
    assert not head_on(D5 + 100.0 * T120 + 1e-6).conflict
    # Vertical entry exactly at T (exact numbers: H = 300 m, 10 m/s).
    c = Case(0.0, 0.0, 300.0 + 10.0 * T120, 0.0, 0.0, -10.0, D5, 300.0, T120)
    assert not check_against_exact(c).conflict
    k = check_against_exact(c._replace(pz=c.pz - 1e-9))
    assert k.conflict
    assert k.t_out == T120


def test_zero_look_ahead_reports_only_current_losses() -> None:
    k = check_against_exact(Case(0.0, 0.0, 0.0, 100.0, 0.0, 0.0, D5, H1000, 0.0))
    assert k.conflict
    assert (k.t_in, k.t_out, k.t_cpa) == (0.0, 0.0, 0.0)
    assert not check_against_exact(Case(D5 + 1.0, 0.0, 0.0, -100.0, 0, 0, D5, H1000, 0.0)).conflict


def test_huge_coordinates() -> None:
    # 10 000 km apart, closing at 100 km/s, missing the centre by 1 mm less than D.
    c = Case(-1e7, D5 - 1e-3, 0.0, 1e5, 0.0, 0.0, D5, H1000, 200.0)
    k = check_against_exact(c)
    e = exact(c)
    assert k.conflict
    half = math.sqrt(D5**2 - (D5 - 1e-3) ** 2) / 1e5  # ~1.4e-3 s
    assert k.t_in == pytest.approx(100.0 - half, abs=1e-9)
    assert k.t_out == pytest.approx(100.0 + half, abs=1e-9)
    assert abs(k.t_in - e.t_in) < 1e-11
    assert abs(k.t_out - e.t_out) < 1e-11
    assert k.d_cpa == pytest.approx(D5 - 1e-3, abs=1e-8)
    # Same, far off to the side and moving diagonally.
    c = Case(-7e6, -7e6 + 9000.0, 20.0, 7e4, 7e4, 0.0, D5, H1000, 200.0)
    assert check_against_exact(c).conflict


def test_nan_gives_no_conflict() -> None:
    base = Case(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, D5, H1000, T120)
    assert kernel(base).conflict
    for field in Case._fields:
        k = kernel(base._replace(**{field: math.nan}))
        assert not k.conflict, field
        assert (k.t_in, k.t_out) == (math.inf, -math.inf)
