"""Encounter scenarios with truth for the alert benchmark (``python -m bench alerts``).

Four generators, each seeded and deterministic, each returning an :class:`Encounters`:
a :class:`fusion.sim.scenario.Scenario` whose positions come from manoeuvring paths
(:mod:`fusion.sim.paths`; the sensor models sample them through
:func:`fusion.sim.scenario.positions`), each aircraft's active window (when the sensors
report it: aircraft enter the picture a few minutes before their encounter and leave
after it, arrivals leave at the threshold), the scenario's separation minima and the
planted groups. The pairwise truth (every true loss of separation, every pair's closest
approach) is measured afterwards from the trajectories by :mod:`fusion.sim.pairtruth`,
never taken from the intended geometry.

- :func:`enroute`: level and climbing/descending crossing, converging and head-on
  pairs at FL200-FL390 with planted losses of separation (miss distance 0-0.8 D), near
  misses at the same level passing 1.5-3 D apart, and background traffic that never loses
  separation with anything. 5 NM / 1000 ft.
- :func:`terminal`: two parallel runways 2 km apart (course 250 deg), a stream of
  arrivals to each at 160 kt, 6 NM in trail, the two streams staggered by 3 NM; each
  arrival flies a base leg and a standard-rate (3 deg/s) turn onto final, level at its
  intercept altitude (4,000 ft for the right runway, 3,000 ft for the left: 1,000 ft
  apart, as for simultaneous approaches) and then down a 3 deg glide path to the
  threshold. Aircraft side by side on the two finals are 3.2 NM apart diagonally: clear of
  the terminal area's 3 NM (they would be in conflict under 5 NM). Blunders: an
  established arrival levels off and turns 10-30 deg towards the other final (the hazard
  of parallel approaches). 3 NM / 1000 ft, in a terminal volume the bench writes
  into the service's airspace file (:func:`terminal_volume_toml`).
- :func:`level_pairs`: pairs level at adjacent flight levels (exactly 1,000 ft apart),
  head-on or crossing at 0-1 NM: separated, and reported in 25 ft steps with noise, so
  some read 975-994 ft apart. Nothing should be alerted. 5 NM / 1000 ft.
- :func:`manoeuvring`: conflicts that only a manoeuvre creates, so the straight-line
  prediction before it shows none: an aircraft banking 20-30 deg (1-1.5 deg/s at
  en-route speeds) through 30-90 deg into a 0-0.6 D miss with another; an aircraft
  climbing or descending at 1,500-3,000 ft/min from 3,000-5,000 ft away through another's
  level while they cross; and two kinds without a loss: a climb levelling off 1,000 ft
  below crossing traffic (an alert there is expected, not a nuisance: the service has no
  selected altitude) and turns that end in a miss of 1.5-2.5 D (an alert there is a
  nuisance). 5 NM / 1000 ft.

Units: metres, m/s, seconds after t0 inside (active windows, manoeuvre times); knots,
feet, NM and degrees in the parameters that say so. Every aircraft has an ICAO address
(Mode S or ADS-B); ``adsb`` marks the ADS-B equipped ones, the others are seen by the
radars only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Final

import numpy as np

from fusion.sim.motion import B1, F64, FT, I64, NM
from fusion.sim.paths import Path, PathBuilder, PathSet
from fusion.sim.scenario import Scenario, ScenarioConfig

KT: Final = NM / 3600.0  # m/s per knot
FPM: Final = FT / 60.0  # m/s per ft/min
G: Final = 9.80665
CENTRE_LAT_DEG: Final = 50.0
CENTRE_LON_DEG: Final = 8.6
WARMUP_S: Final = 240.0  # an encounter's loss comes this long after its aircraft appear
# ... or, for a manoeuvring one, its manoeuvre this long (drawn in the range): enough for
# the tracks to be confirmed and their headings to have a history.
MANOEUVRE_WARMUP_S: Final = (90.0, 150.0)
MAX_TRIES: Final = 400
# After an aircraft leaves the picture the service coasts its track for its expiry time
# (20 s) and predicts it over the look-ahead (120 s) and the hold band (20 s): groups are
# kept apart over that much of each aircraft's straight continuation too, so that a
# coasting track meets nothing the scenario did not plant.
COAST_S: Final = 160.0

# Terminal geometry (m, deg, s): thresholds south of the centre so that the terminal
# radar at the centre never sits under an approach.
RUNWAY_COURSE_DEG: Final = 250.0
RUNWAY_SPACING_M: Final = 2000.0
THRESHOLD_R_EN: Final = (0.0, -15_000.0)  # right runway (25R) threshold, ENU of the centre
APPROACH_SPEED_MS: Final = 160.0 * KT
GLIDE_DEG: Final = 3.0
THRESHOLD_CROSSING_M: Final = 50.0 * FT
IN_TRAIL_NM: Final = 6.0  # per runway; the other runway's stream sits half-way
INTERCEPT_FT: Final = {"25R": 4000.0, "25L": 3000.0}
JOIN_NM: Final = {"25R": 14.0, "25L": 11.0}  # roll-out on final, distance to threshold


@dataclass(frozen=True)
class Planted:
    """A planted group: its aircraft rows, what it is, and whether its design is a loss
    of separation (the truth decides; this is what it was built to be)."""

    kind: str
    rows: tuple[int, ...]
    designed_loss: bool


@dataclass(frozen=True, eq=False)
class Encounters:
    """One generated scenario.

    ``active_s`` float64[N, 2]: when each aircraft is reported (s after t0, within the
    scenario); ``manoeuvres_s``: per aircraft, the times (s after t0) its velocity starts
    or stops changing (a turn's start and roll-out, a climb's or descent's start and
    level-off), from which the warning a straight-line predictor could give at best is
    judged; ``sep_h_m``/``sep_v_m``: the minima of the airspace
    the scenario lies in (the truth's and, through the airspace file, the service's).
    """

    name: str
    description: str
    scenario: Scenario
    paths: PathSet
    active_s: F64
    manoeuvres_s: tuple[tuple[float, ...], ...]
    sep_h_m: float
    sep_v_m: float
    planted: tuple[Planted, ...]

    @property
    def n_aircraft(self) -> int:
        return self.scenario.n_aircraft

    def flight_hours(self) -> float:
        """Sum of the aircraft's active time, hours."""
        return float((self.active_s[:, 1] - self.active_s[:, 0]).sum()) / 3600.0


# --------------------------------------------------------------------------- helpers


def _fl_m(fl: float) -> float:
    return fl * 100.0 * FT


def _unit(heading_deg: float) -> tuple[float, float]:
    h = math.radians(heading_deg)
    return math.sin(h), math.cos(h)


def anchored(path: Path, t: float, e: float, n: float) -> Path:
    """``path`` moved so that it is at (e, n) at time t."""
    pe, pn, _, _ = path.horizontal(np.array([t]))
    return path.shifted(e - float(pe[0]), n - float(pn[0]))


def straight(t: float, e: float, n: float, heading_deg: float, speed: float, alt: float) -> Path:
    """Straight and level, through (e, n) at time t."""
    return PathBuilder(t, e, n, heading_deg, speed, alt).build()


def bank_rate_dps(speed_ms: float, bank_deg: float) -> float:
    """Rate of a coordinated turn, deg/s, at ground speed = airspeed (no wind)."""
    return math.degrees(G * math.tan(math.radians(bank_deg)) / speed_ms)


def velocity_changes(path: Path) -> tuple[float, ...]:
    """Times (s after t0, sorted) at which the path's velocity starts or stops changing:
    every leg boundary where the turn rate or the speed changes (a turn's start and its
    roll-out) and every altitude breakpoint where the vertical rate changes (a climb's
    or descent's start, a level-off). A straight-line predictor sees the motion after
    the last of them exactly."""
    out: set[float] = set()
    for g0, g1 in itertools.pairwise(path.legs):
        if (g0.rate, g0.speed) != (g1.rate, g1.speed):
            out.add(g1.t0)
    t = np.asarray(path.alt_t)
    a = np.asarray(path.alt_m)
    if t.size >= 2:
        dt = np.diff(t)
        slope = np.where(dt > 0, np.diff(a) / np.where(dt > 0, dt, 1.0), 0.0)
        before = np.r_[0.0, slope]  # rate before each breakpoint (level before the first)
        after = np.r_[slope, 0.0]  # and after it (level after the last)
        out |= {float(x) for x in t[before != after]}
    return tuple(sorted(out))


def plane_sep(pa: Path, pb: Path, tau: F64) -> tuple[F64, F64]:
    """Horizontal distance in the centre's plane and |dz| (m) of two paths at tau: the
    generators' design check (the truth measures on the ellipsoid, metres apart)."""
    ea, na, _, _ = pa.horizontal(tau)
    eb, nb, _, _ = pb.horizontal(tau)
    za, _ = pa.vertical(tau)
    zb, _ = pb.vertical(tau)
    return np.hypot(ea - eb, na - nb), np.abs(za - zb)


def first_loss(pa: Path, pb: Path, lo: float, hi: float, D: float, H: float) -> float:
    """First time in [lo, hi] (0.1 s steps) the paths lose (D, H) in the plane; nan none."""
    tau = np.arange(lo, hi, 0.1)
    h, dz = plane_sep(pa, pb, tau)
    los = (h < D) & (dz < H - 1e-6)
    return float(tau[np.argmax(los)]) if los.any() else math.nan


def min_rho(pa: Path, pb: Path, lo: float, hi: float, D: float, H: float, dt: float = 1.0) -> float:
    """Least max(h / D, dz / H) over [lo, hi], sampled every dt."""
    if hi <= lo:
        return math.inf
    tau = np.arange(lo, hi + 1e-9, dt)
    h, dz = plane_sep(pa, pb, tau)
    return float(np.maximum(h / D, dz / H).min())


def straight_prediction_rho(
    pa: Path, pb: Path, t: float, horizon: float, D: float, H: float
) -> float:
    """Least normalised separation of the two aircraft flown straight on, at their
    current velocities (vertical rates included), from t over ``horizon`` s: what a
    straight-line predictor sees at t."""
    tau = np.array([t])
    ea, na, psa, va = pa.horizontal(tau)
    eb, nb, psb, vb = pb.horizontal(tau)
    za, wa = pa.vertical(tau)
    zb, wb = pb.vertical(tau)
    s = np.arange(0.0, horizon + 1e-9, 0.5)
    de = (eb - ea)[0] + s * (vb * np.sin(psb) - va * np.sin(psa))[0]
    dn = (nb - na)[0] + s * (vb * np.cos(psb) - va * np.cos(psa))[0]
    dz = np.abs((zb - za)[0] + s * (wb - wa)[0])
    return float(np.maximum(np.hypot(de, dn) / D, dz / H).min())


def cpa_positions(
    heading_a: float, speed_a: float, heading_b: float, speed_b: float, miss_m: float, side: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Offsets (m) of A and B from the meeting point at their closest approach, passing
    ``miss_m`` apart across their relative velocity (side +-1 picks which way)."""
    ua, ub = _unit(heading_a), _unit(heading_b)
    vrel = (speed_b * ub[0] - speed_a * ua[0], speed_b * ub[1] - speed_a * ua[1])
    norm = max(math.hypot(*vrel), 1e-9)
    perp = (-vrel[1] / norm * side, vrel[0] / norm * side)
    half = 0.5 * miss_m
    return (-half * perp[0], -half * perp[1]), (half * perp[0], half * perp[1])


class Layout:
    """Accepted aircraft of a scenario being built, and the check that a new group keeps
    its normalised separation from everything accepted."""

    def __init__(self, duration_s: float, D: float, H: float) -> None:
        self.duration_s = duration_s
        self.D, self.H = D, H
        self.paths: list[Path] = []
        self.windows: list[tuple[float, float]] = []
        self.adsb: list[bool] = []
        self.planted: list[Planted] = []

    def clear(self, paths: list[Path], windows: list[tuple[float, float]], rho: float) -> bool:
        """Every new aircraft keeps ``rho`` (normalised separation, sampled every 2 s)
        from every accepted one while both are active or coasting (``COAST_S`` past
        the end of a window)."""
        for p, (lo, hi) in zip(paths, windows, strict=True):
            for q, (lo2, hi2) in zip(self.paths, self.windows, strict=True):
                t1, t2 = max(lo, lo2), min(hi, hi2) + COAST_S
                if min_rho(p, q, t1, min(t2, hi + COAST_S), self.D, self.H, 2.0) < rho:
                    return False
        return True

    def add(
        self,
        kind: str,
        paths: list[Path],
        windows: list[tuple[float, float]],
        adsb: list[bool],
        designed_loss: bool,
    ) -> None:
        first = len(self.paths)
        clipped = [(max(lo, 0.0), min(hi, self.duration_s)) for lo, hi in windows]
        self.paths += paths
        self.windows += clipped
        self.adsb += adsb
        if kind != "background":
            rows = tuple(range(first, first + len(paths)))
            self.planted.append(Planted(kind, rows, designed_loss))


def _identities(rng: np.random.Generator, n: int, prefix: str) -> tuple[I64, list[str], I64]:
    icao = 0x3C0000 + rng.choice(0x40000, size=n, replace=False).astype(np.int64)
    callsigns = [f"{prefix}{k:03d}" for k in range(n)]
    reserved = {0o0000, 0o1200, 0o2000, 0o7000, 0o7500, 0o7600, 0o7700}
    codes = np.array([c for c in range(0o1000, 0o7000) if c not in reserved], dtype=np.int64)
    mode3a = rng.choice(codes, size=n, replace=False)
    return icao, callsigns, mode3a


def _finish(
    name: str,
    description: str,
    seed: int,
    t0: float,
    duration_s: float,
    lay: Layout,
    sep_h_nm: float,
    sep_v_ft: float,
    prefix: str,
) -> Encounters:
    n = len(lay.paths)
    rng = np.random.default_rng([seed, 0xA1E, len(name)])
    icao, callsigns, mode3a = _identities(rng, n, prefix)
    paths = PathSet(CENTRE_LAT_DEG, CENTRE_LON_DEG, tuple(lay.paths))
    cfg = ScenarioConfig(
        seed=seed,
        t0=t0,
        duration_s=duration_s,
        centre_lat_deg=CENTRE_LAT_DEG,
        centre_lon_deg=CENTRE_LON_DEG,
        n_background=0,
        n_conflicts=0,
        n_safe_miss=0,
        n_safe_level=0,
        sep_h_nm=sep_h_nm,
        sep_v_ft=sep_v_ft,
    )
    adsb: B1 = np.array(lay.adsb, dtype=np.bool_)
    sc = Scenario(
        config=cfg,
        t0=t0,
        icao=icao,
        callsign=tuple(callsigns),
        mode3a=mode3a,
        role=tuple(_roles(n, lay.planted)),
        adsb=adsb,
        motion=paths.first_legs(),
        conflicts=(),
        safe_pairs=(),
        trajectory=paths,
    )
    return Encounters(
        name=name,
        description=description,
        scenario=sc,
        paths=paths,
        active_s=np.array(lay.windows, dtype=np.float64).reshape(n, 2),
        manoeuvres_s=tuple(velocity_changes(p) for p in lay.paths),
        sep_h_m=sep_h_nm * NM,
        sep_v_m=sep_v_ft * FT,
        planted=tuple(lay.planted),
    )


def _roles(n: int, planted: list[Planted]) -> list[str]:
    role = ["background"] * n
    for g in planted:
        for r in g.rows:
            role[r] = g.kind
    return role


def _point(rng: np.random.Generator, radius_m: float) -> tuple[float, float]:
    r = radius_m * math.sqrt(rng.random())
    th = rng.random() * 2.0 * math.pi
    return r * math.sin(th), r * math.cos(th)


def _place(
    lay: Layout, rng: np.random.Generator, draw: Callable[[], _Group | None], rho: float
) -> bool:
    """Draw groups until one is clear of the layout by ``rho``; add it. False: gave up."""
    for _ in range(MAX_TRIES):
        g = draw()
        if g is not None and lay.clear(g.paths, g.windows, rho):
            lay.add(g.kind, g.paths, g.windows, g.adsb, g.designed_loss)
            return True
    return False


@dataclass
class _Group:
    kind: str
    paths: list[Path]
    windows: list[tuple[float, float]]
    adsb: list[bool]
    designed_loss: bool


def _times(rng: np.random.Generator, n: int, lo: float, hi: float) -> list[float]:
    """n times spread evenly over [lo, hi] with jitter, shuffled."""
    if n == 0:
        return []
    step = (hi - lo) / n
    out = [lo + (k + rng.random()) * step for k in range(n)]
    rng.shuffle(out)
    return out


# --------------------------------------------------------------------------- (a) en route


def enroute(
    seed: int,
    t0: float,
    duration_s: float = 900.0,
    n_conflicts: int = 10,
    n_near: int = 6,
    n_background: int = 12,
    adsb_fraction: float = 0.85,
) -> Encounters:
    """(a) En-route crossing, converging and head-on traffic, 5 NM / 1000 ft.

    Planted conflicts: crossing angle 15-180 deg, ground speeds 200-250 m/s, miss
    distance 0-0.8 D at the closest approach; 70 % both level on one flight level, 30 %
    one of them climbing or descending (1,500-3,000 ft/min, from 4,000 ft away) through
    the other's level within 30 s of the closest approach. Losses start between
    ``WARMUP_S`` and ``duration_s - 90`` s; the aircraft appear 240-300 s before.
    Near misses: same level, 30-180 deg, passing 1.5-3 D apart. Background: straight and
    level on semicircular flight levels for the whole run, never losing separation with
    anything. Every group keeps 1.5 D / 1.5 H from every other group (background: D / H).
    """
    D, H = 5.0 * NM, 1000.0 * FT
    rng = np.random.default_rng([seed, 0xE1])
    lay = Layout(duration_s, D, H)
    hi = max(duration_s - 90.0, WARMUP_S + 1.0)
    for t_los in _times(rng, n_conflicts, WARMUP_S, hi):
        if not _place(lay, rng, partial(_conflict, rng, t_los, D, H, adsb_fraction), 1.5):
            raise RuntimeError("en-route: could not place a conflict")
    for t_c in _times(rng, n_near, WARMUP_S, duration_s - 60.0):
        if not _place(lay, rng, partial(_near_miss, rng, t_c, D, H, adsb_fraction), 1.5):
            raise RuntimeError("en-route: could not place a near miss")
    for _ in range(n_background):
        if not _place(lay, rng, lambda: _background(rng, duration_s, adsb_fraction), 1.0):
            raise RuntimeError("en-route: could not place background traffic")
    return _finish(
        "enroute", (enroute.__doc__ or "").split("\n")[0], seed, t0, duration_s, lay, 5.0,
        1000.0, "ENR",
    )  # fmt: skip


def _speed(rng: np.random.Generator) -> float:
    return float(rng.uniform(200.0, 250.0))


def _conflict(
    rng: np.random.Generator, t_los: float, D: float, H: float, adsb_fraction: float
) -> _Group | None:
    angle = float(rng.uniform(15.0, 180.0)) * (1 if rng.random() < 0.5 else -1)
    va, vb = _speed(rng), _speed(rng)
    miss = float(rng.uniform(0.0, 0.8)) * D
    ha = float(rng.uniform(0.0, 360.0))
    hb = ha + angle
    fl = float(rng.integers(20, 40)) * 10.0
    alt = _fl_m(fl)
    oa, ob = cpa_positions(ha, va, hb, vb, miss, 1 if rng.random() < 0.5 else -1)
    ua, ub = _unit(ha), _unit(hb)
    vrel = math.hypot(vb * ub[0] - va * ua[0], vb * ub[1] - va * ua[1])
    # Closest approach after the planned loss start by the time to cross the cylinder.
    t_c = t_los + math.sqrt(max(D * D - miss * miss, 0.0)) / vrel
    pe, pn = _point(rng, 100_000.0)
    pa = straight(t_c, pe + oa[0], pn + oa[1], ha, va, alt)
    through = rng.random() < 0.3
    if through:
        rate = float(rng.uniform(1500.0, 3000.0)) * FPM * (1 if rng.random() < 0.5 else -1)
        t_x = t_c + float(rng.uniform(-30.0, 30.0))  # B passes A's level
        span = 4000.0 * FT
        start_alt = alt - math.copysign(span, rate)
        b = PathBuilder(t_c - 1000.0, 0.0, 0.0, hb, vb, start_alt)
        b.level_until(t_x - span / abs(rate)).climb(rate, alt + math.copysign(span, rate))
        pb = anchored(b.build(), t_c, pe + ob[0], pn + ob[1])
    else:
        pb = straight(t_c, pe + ob[0], pn + ob[1], hb, vb, alt)
    t_first = first_loss(pa, pb, t_c - 400.0, t_c + 200.0, D, H)
    if math.isnan(t_first):
        return None
    start = t_first - float(rng.uniform(WARMUP_S, WARMUP_S + 60.0))
    if start < 0.0:
        return None
    end = t_c + float(rng.uniform(60.0, 120.0))
    win = [(start, end), (start, end)]
    return _Group(
        "conflict_climb" if through else "conflict_level",
        [pa, pb],
        win,
        [bool(rng.random() < adsb_fraction) for _ in range(2)],
        True,
    )


def _near_miss(
    rng: np.random.Generator, t_c: float, D: float, H: float, adsb_fraction: float
) -> _Group | None:
    angle = float(rng.uniform(30.0, 180.0)) * (1 if rng.random() < 0.5 else -1)
    va, vb = _speed(rng), _speed(rng)
    miss = float(rng.uniform(1.5, 3.0)) * D
    ha = float(rng.uniform(0.0, 360.0))
    hb = ha + angle
    alt = _fl_m(float(rng.integers(20, 40)) * 10.0)
    oa, ob = cpa_positions(ha, va, hb, vb, miss, 1 if rng.random() < 0.5 else -1)
    pe, pn = _point(rng, 100_000.0)
    pa = straight(t_c, pe + oa[0], pn + oa[1], ha, va, alt)
    pb = straight(t_c, pe + ob[0], pn + ob[1], hb, vb, alt)
    start = max(t_c - float(rng.uniform(300.0, 360.0)), 0.0)
    win = [(start, t_c + float(rng.uniform(60.0, 120.0)))] * 2
    if min_rho(pa, pb, win[0][0], win[0][1], D, H) < 1.5:
        return None
    return _Group(
        "near_miss", [pa, pb], win, [bool(rng.random() < adsb_fraction) for _ in range(2)], False
    )


def _background(rng: np.random.Generator, duration_s: float, adsb_fraction: float) -> _Group:
    hdg = float(rng.uniform(0.0, 360.0))
    # Semicircular rule: eastbound (000-179) odd thousands, westbound even.
    east = hdg < 180.0
    fl = float(rng.integers(10, 20)) * 20.0 + (10.0 if east else 0.0)
    speed = float(rng.uniform(180.0, 250.0))
    pe, pn = _point(rng, 120_000.0)
    p = straight(0.5 * duration_s, pe, pn, hdg, speed, _fl_m(fl))
    return _Group(
        "background", [p], [(0.0, duration_s)], [bool(rng.random() < adsb_fraction)], False
    )


# --------------------------------------------------------------------------- (b) terminal


def runway_threshold(runway: str) -> tuple[float, float]:
    """Threshold (e, n) m in the centre's plane: 25L lies 2 km left of 25R."""
    e, n = THRESHOLD_R_EN
    if runway == "25R":
        return e, n
    le, ln = _unit(RUNWAY_COURSE_DEG - 90.0)
    return e + RUNWAY_SPACING_M * le, n + RUNWAY_SPACING_M * ln


def _on_final(runway: str, dist_m: float) -> tuple[float, float]:
    """The point on the extended centreline dist_m before the threshold."""
    e, n = runway_threshold(runway)
    ue, un = _unit(RUNWAY_COURSE_DEG + 180.0)
    return e + dist_m * ue, n + dist_m * un


def _arrival(
    runway: str, t_thr: float, base_s: float, blunder: tuple[float, float] | None = None
) -> tuple[Path, float, float]:
    """An arrival reaching the threshold at t_thr: base leg of base_s s, a standard-rate
    90 deg turn rolling out on final at its join distance, level at its intercept
    altitude, then the 3 deg glide path at constant speed. blunder (dist_m, deg): at
    dist_m from the threshold, level off and turn through deg (positive right) at
    standard rate, then fly straight on, level, for 240 s more in the picture (the
    blunder model of parallel-approach studies: a turn towards the other final while
    holding altitude). Returns (path, active start, active end), s after t0."""
    v = APPROACH_SPEED_MS
    join = JOIN_NM[runway] * NM
    alt = INTERCEPT_FT[runway] * FT
    gs = math.tan(math.radians(GLIDE_DEG))
    d_gs = (alt - THRESHOLD_CROSSING_M) / gs  # glide path intercept, m before threshold
    t_roll = t_thr - join / v
    turn_s = 90.0 / 3.0
    t_start = t_roll - turn_s - base_s
    # 25R traffic comes from the right of the final: base heading course - 90 (160), a
    # right turn onto it; 25L traffic mirrors it from the left (340, a left turn).
    right = runway == "25R"
    base_hdg = RUNWAY_COURSE_DEG + (-90.0 if right else 90.0)
    b = PathBuilder(t_start, 0.0, 0.0, base_hdg, v, alt)
    b.straight(base_s).turn(90.0 if right else -90.0, 3.0)
    t_gs = t_thr - d_gs / v
    b.level_until(t_gs)
    t_end = t_thr
    if blunder is None:
        b.climb(-v * gs, THRESHOLD_CROSSING_M)
    else:
        dist, deg = blunder
        t_b = t_thr - dist / v
        b.straight_to(t_b).turn(deg, 3.0)
        b.climb(-v * gs, THRESHOLD_CROSSING_M + dist * gs)  # down to where it blunders
        t_end = t_b + 240.0
    path = anchored(b.build(), t_roll, *_on_final(runway, join))
    return path, t_start, t_end


def terminal(seed: int, t0: float, duration_s: float = 900.0, n_blunders: int = 2) -> Encounters:
    """(b) Terminal area: parallel approaches with turns onto final, 3 NM / 1000 ft.

    Runways 25R and 25L, 2 km apart, course 250 deg, thresholds 15 km south of the
    centre. Arrivals at 160 kt ground speed, 6 NM in trail on each runway, the 25L stream
    3 NM behind the 25R one (so 3.2 NM diagonally from its neighbours on the other
    final). Each flies a base leg of 120-180 s (25R traffic from the north-west heading
    160, turning right; 25L traffic from the south-east heading 340, turning left), a
    standard-rate 90 deg turn rolling out 14 NM (25R) or 11 NM (25L) before the
    threshold, level at 4,000 ft (25R) or 3,000 ft (25L) until the 3 deg glide path,
    which it follows to the threshold (50 ft), where it leaves the picture. Arrivals
    reaching the threshold from 60 s into the run until the last one to start its base
    leg 120 s before the end. ``n_blunders`` arrivals (alternating runways), once
    established 5-9 NM out, level off and turn 10-30 deg towards the other final at
    standard rate (a blunder: the hazard of parallel approaches), then fly on straight
    and level for 4 minutes. Every aircraft is ADS-B equipped.
    """
    D, H = 3.0 * NM, 1000.0 * FT
    rng = np.random.default_rng([seed, 0x7E])
    lay = Layout(duration_s, D, H)
    v = APPROACH_SPEED_MS
    spacing = IN_TRAIL_NM * NM / v
    arrivals: list[tuple[str, float]] = []
    for runway, offset in (("25R", 0.0), ("25L", 0.5)):
        lead = JOIN_NM[runway] * NM / v + 30.0 + 180.0  # threshold time - earliest start
        k = 0
        while True:
            t_thr = 60.0 + (k + offset) * spacing
            if t_thr - lead > duration_s - 120.0:
                break
            arrivals.append((runway, t_thr))
            k += 1
    # Blunder candidates: established on final 5-9 NM out between 240 s and 90 s before
    # the end, so that the other stream is around them.
    cands = [
        i
        for i, (_, t_thr) in enumerate(arrivals)
        if t_thr - 9.0 * NM / v >= WARMUP_S and t_thr - 5.0 * NM / v <= duration_s - 90.0
    ]
    rng.shuffle(cands)
    chosen: dict[int, tuple[float, float]] = {}
    for k in range(n_blunders):
        runway = "25R" if k % 2 == 0 else "25L"  # alternating, each towards the other
        free = [i for i in cands if arrivals[i][0] == runway and i not in chosen]
        if not free:
            raise RuntimeError("terminal: no arrival left to blunder (a longer run?)")
        deg = float(rng.uniform(10.0, 30.0)) * (-1.0 if runway == "25R" else 1.0)
        chosen[free[0]] = (float(rng.uniform(5.0, 9.0)) * NM, deg)
    for i, (runway, t_thr) in enumerate(arrivals):
        path, start, end = _arrival(runway, t_thr, float(rng.uniform(120.0, 180.0)), chosen.get(i))
        if end < 0.0 or start > duration_s:
            continue
        kind = "blunder" if i in chosen else f"arrival_{runway}"
        lay.add(kind, [path], [(start, end)], [True], i in chosen)
    return _finish(
        "terminal", (terminal.__doc__ or "").split("\n")[0], seed, t0, duration_s, lay, 3.0,
        1000.0, "TMA",
    )  # fmt: skip


def terminal_polygon_deg() -> list[tuple[float, float]]:
    """The terminal volume's polygon, (lat, lon) degrees: a 120 km square around the
    centre (the whole terminal scenario)."""
    from kernels import geo

    pts = []
    for e, n in ((-60e3, -60e3), (60e3, -60e3), (60e3, 60e3), (-60e3, 60e3)):
        xyz = geo.enu_to_ecef(np.array([[e, n, 0.0]]), CENTRE_LAT_DEG, CENTRE_LON_DEG, 0.0)
        lat, lon, _ = geo.ecef_to_geodetic(xyz)
        pts.append((round(float(lat[0]), 5), round(float(lon[0]), 5)))
    return pts


def terminal_volume_toml(name: str = "TMA-BENCH") -> str:
    """An airspace file (docs/volumes.md) with one terminal volume around the scenarios'
    centre: 3 NM / 1000 ft from -2,000 ft to FL100. The en-route scenarios fly above
    FL150, outside it (the service's [detection] minima, 5 NM / 1000 ft, apply there)."""
    poly = ", ".join(f"[{lat}, {lon}]" for lat, lon in terminal_polygon_deg())
    return (
        "# Written by python -m bench alerts: the terminal volume of its terminal scenario.\n"
        "[[volume]]\n"
        f'name = "{name}"\n'
        'kind = "separation"\n'
        'description = "alert benchmark terminal area: 3 NM / 1000 ft"\n'
        "floor_ft = -2000.0\n"
        "ceiling_ft = 10000.0\n"
        "sep_h_nm = 3.0\n"
        "sep_v_ft = 1000.0\n"
        f"polygon_latlon_deg = [{poly}]\n"
    )


# --------------------------------------------------------------------------- (c) level


def level_pairs(
    seed: int, t0: float, duration_s: float = 900.0, n_pairs: int = 10, adsb_fraction: float = 0.8
) -> Encounters:
    """(c) Pairs level at adjacent flight levels (FL200-FL390, exactly 1,000 ft apart),
    converging head-on (half of them) or crossing at 45-135 deg, passing 0-1 NM apart
    horizontally; ground speeds 200-250 m/s; closest approaches spread over the run, the
    aircraft appearing 240-300 s before. Separated in truth: nothing should be alerted.
    Aircraft without ADS-B (about 20 %) are seen by the Mode S radars only. 5 NM / 1000 ft.
    """
    D, H = 5.0 * NM, 1000.0 * FT
    rng = np.random.default_rng([seed, 0x1E])
    lay = Layout(duration_s, D, H)

    def draw(t_c: float) -> _Group:
        angle = 180.0 if rng.random() < 0.5 else float(rng.uniform(45.0, 135.0))
        angle *= 1 if rng.random() < 0.5 else -1
        va, vb = _speed(rng), _speed(rng)
        ha = float(rng.uniform(0.0, 360.0))
        fl = float(rng.integers(20, 39)) * 10.0
        oa, ob = cpa_positions(ha, va, ha + angle, vb, float(rng.uniform(0.0, 1.0)) * NM, 1)
        pe, pn = _point(rng, 100_000.0)
        pa = straight(t_c, pe + oa[0], pn + oa[1], ha, va, _fl_m(fl))
        pb = straight(t_c, pe + ob[0], pn + ob[1], ha + angle, vb, _fl_m(fl + 10.0))
        start = max(t_c - float(rng.uniform(WARMUP_S, WARMUP_S + 60.0)), 0.0)
        win = [(start, t_c + float(rng.uniform(60.0, 120.0)))] * 2
        return _Group(
            "level_pair", [pa, pb], win, [bool(rng.random() < adsb_fraction) for _ in range(2)],
            False,
        )  # fmt: skip

    for t_c in _times(rng, n_pairs, WARMUP_S, duration_s - 60.0):
        if not _place(lay, rng, partial(draw, t_c), 1.5):
            raise RuntimeError("level pairs: could not place a pair")
    return _finish(
        "level", (level_pairs.__doc__ or "").split("\n")[0], seed, t0, duration_s, lay, 5.0,
        1000.0, "LVL",
    )  # fmt: skip


# --------------------------------------------------------------------------- (d) manoeuvring


def manoeuvring(
    seed: int,
    t0: float,
    duration_s: float = 900.0,
    n_turn: int = 5,
    n_climb: int = 5,
    n_leveloff: int = 2,
    n_turn_near: int = 3,
    lookahead_s: float = 120.0,
) -> Encounters:
    """(d) Manoeuvring conflicts, 5 NM / 1000 ft, all ADS-B equipped.

    - ``turn``: A straight and level; B on the same level turns through 30-90 deg at the
      rate of a 20-30 deg bank (about 1-1.5 deg/s at 200-250 m/s) and then flies straight
      into a 0-0.6 D miss with A; the loss starts 45-120 s after the roll-out. Before the
      turn, the straight-line prediction over ``lookahead_s`` + 20 s keeps them at least
      1.2 (normalised) apart: the conflict exists only because of the turn.
    - ``climb``: A level; B level 3,000-5,000 ft below (or above) on a crossing track
      (45-180 deg, miss 0-0.6 D) starts climbing (descending) at 1,500-3,000 ft/min to
      A's level while they cross; the loss starts when the altitudes come within 1,000 ft
      with the pair inside D.
    - ``leveloff``: as ``climb`` but B levels off 1,000 ft short of A's level 10-60 s before
      the closest approach: no loss (rho = 1), an alert is expected and not a nuisance.
    - ``turn_near``: as ``turn`` but the miss is 1.5-2.5 D: no loss; an alert is a nuisance.
    Losses (or closest approaches) spread over the run from 360 s to 90 s before its end;
    the aircraft appear 90-150 s before the manoeuvre starts.
    """
    D, H = 5.0 * NM, 1000.0 * FT
    rng = np.random.default_rng([seed, 0x3A])
    lay = Layout(duration_s, D, H)
    kinds = ["turn"] * n_turn + ["climb"] * n_climb + ["leveloff"] * n_leveloff
    kinds += ["turn_near"] * n_turn_near
    times = _times(rng, len(kinds), WARMUP_S + 120.0, duration_s - 90.0)
    for kind, t in zip(kinds, times, strict=True):
        if kind in ("turn", "turn_near"):
            ok = _place(lay, rng, partial(_turn, rng, t, kind, D, H, lookahead_s), 1.5)
        else:
            ok = _place(lay, rng, partial(_climb, rng, t, kind, D, H), 1.5)
        if not ok:
            raise RuntimeError(f"manoeuvring: could not place a {kind} encounter")
    return _finish(
        "manoeuvring", (manoeuvring.__doc__ or "").split("\n")[0], seed, t0, duration_s, lay,
        5.0, 1000.0, "MNV",
    )  # fmt: skip


def _turn(
    rng: np.random.Generator, t_los: float, kind: str, D: float, H: float, lookahead_s: float
) -> _Group | None:
    va, vb = _speed(rng), _speed(rng)
    ha = float(rng.uniform(0.0, 360.0))
    angle = float(rng.uniform(45.0, 180.0)) * (1 if rng.random() < 0.5 else -1)
    hb = ha + angle  # B's heading after the turn
    near = kind == "turn_near"
    miss = float(rng.uniform(1.5, 2.5) if near else rng.uniform(0.0, 0.6)) * D
    delta = float(rng.uniform(30.0, 90.0)) * (1 if rng.random() < 0.5 else -1)
    rate = bank_rate_dps(vb, float(rng.uniform(20.0, 30.0)))
    ua, ub = _unit(ha), _unit(hb)
    vrel = math.hypot(vb * ub[0] - va * ua[0], vb * ub[1] - va * ua[1])
    # For a near miss "t_los" is the time the pair would have entered D on a smaller miss.
    t_c = t_los + math.sqrt(max(D * D - min(miss, 0.99 * D) ** 2, 0.0)) / vrel
    t_roll = t_los - float(rng.uniform(45.0, 120.0))
    t_m = t_roll - abs(delta) / rate
    alt = _fl_m(float(rng.integers(20, 38)) * 10.0)
    oa, ob = cpa_positions(ha, va, hb, vb, miss, 1 if rng.random() < 0.5 else -1)
    pe, pn = _point(rng, 100_000.0)
    pa = straight(t_c, pe + oa[0], pn + oa[1], ha, va, alt)
    b = PathBuilder(t_m - 1000.0, 0.0, 0.0, hb - delta, vb, alt)
    b.straight_to(t_m).turn(delta, rate)
    pb = anchored(b.build(), t_c, pe + ob[0], pn + ob[1])
    if straight_prediction_rho(pa, pb, t_m, lookahead_s + 20.0, D, H) < 1.2:
        return None  # already a conflict before the turn: not a manoeuvring one
    t_first = first_loss(pa, pb, t_m - 400.0, t_c + 200.0, D, H)
    start = t_m - float(rng.uniform(*MANOEUVRE_WARMUP_S))
    end = t_c + float(rng.uniform(60.0, 120.0))
    if start < 0.0:
        return None
    if near:
        if not math.isnan(t_first) or min_rho(pa, pb, start, end, D, H) < 1.5:
            return None
    elif math.isnan(t_first) or not 45.0 <= t_first - t_m <= 200.0:
        return None
    return _Group(kind, [pa, pb], [(start, end)] * 2, [True, True], not near)


def _climb(rng: np.random.Generator, t_los: float, kind: str, D: float, H: float) -> _Group | None:
    va, vb = _speed(rng), _speed(rng)
    ha = float(rng.uniform(0.0, 360.0))
    hb = ha + float(rng.uniform(45.0, 180.0)) * (1 if rng.random() < 0.5 else -1)
    miss = float(rng.uniform(0.0, 0.6)) * D
    up = rng.random() < 0.5
    gap = float(rng.integers(3, 6)) * 1000.0 * FT
    rate = float(rng.uniform(1500.0, 3000.0)) * FPM
    fl = float(rng.integers(25, 37)) * 10.0
    alt = _fl_m(fl)
    ua, ub = _unit(ha), _unit(hb)
    vrel = math.hypot(vb * ub[0] - va * ua[0], vb * ub[1] - va * ua[1])
    half = math.sqrt(max(D * D - miss * miss, 0.0)) / vrel  # half the time inside D
    start_alt = alt - gap if up else alt + gap
    sign = 1.0 if up else -1.0
    if kind == "leveloff":
        # Level off 1,000 ft short of A's level 10-60 s before the closest approach.
        t_c = t_los
        target = alt - sign * H
        t_lvl = t_c - float(rng.uniform(10.0, 60.0))
        t_m = t_lvl - (gap - H) / rate
    else:
        # The altitudes come within H while the pair is 20-80 % through its time inside D.
        t_c = t_los + half * (1.0 - 2.0 * float(rng.uniform(0.2, 0.8)))
        target = alt
        t_m = t_los - (gap - H) / rate
    oa, ob = cpa_positions(ha, va, hb, vb, miss, 1 if rng.random() < 0.5 else -1)
    pe, pn = _point(rng, 100_000.0)
    pa = straight(t_c, pe + oa[0], pn + oa[1], ha, va, alt)
    b = PathBuilder(t_m - 1000.0, 0.0, 0.0, hb, vb, start_alt)
    b.level_until(t_m).climb(sign * rate, target)
    pb = anchored(b.build(), t_c, pe + ob[0], pn + ob[1])
    start = t_m - float(rng.uniform(*MANOEUVRE_WARMUP_S))
    end = max(t_c, t_los) + float(rng.uniform(60.0, 120.0))
    if start < 0.0:
        return None
    t_first = first_loss(pa, pb, start, end, D, H)
    if kind == "leveloff":
        if not math.isnan(t_first):
            return None
    elif math.isnan(t_first) or t_first - t_m < 30.0:
        return None
    return _Group(
        f"{kind}_{'up' if up else 'down'}", [pa, pb], [(start, end)] * 2, [True, True],
        kind != "leveloff",
    )  # fmt: skip


GENERATORS: Final[dict[str, Callable[..., Encounters]]] = {
    "enroute": enroute,
    "terminal": terminal,
    "level": level_pairs,
    "manoeuvring": manoeuvring,
}
