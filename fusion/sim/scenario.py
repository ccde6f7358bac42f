"""Simulated traffic: straight-line truth motion, planted conflicts, and their measured truth.

Every aircraft flies a straight line in the east-north plane of its own local origin (a
WGS-84 tangent plane), with a vertical profile that climbs or descends at a constant rate
and optionally levels off. Altitudes are pressure altitudes treated as heights, in metres.

Planted pairs (conflicts and safe near-misses) and background traffic are drawn from
seeded NumPy Generators. Background aircraft are redrawn until none comes within 7 NM
and 1500 ft of any other aircraft (checked exactly, in continuous time), so the planted
pairs are the only events. The truth recorded for each pair is measured from positions
sampled every 0.5 s (refined by bisection), not taken from the intended geometry, and
the sampled truth is checked to show exactly the planted losses of separation.

Pure and deterministic: the same config gives the same scenario, bit for bit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from kernels import geo

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]

NM: Final = 1852.0
FT: Final = 0.3048
TRUTH_SCHEMA: Final = "airspace-sim-truth/1"

SAMPLE_DT_S: Final = 0.5  # truth sampling step
CPA_LOOKAHEAD_S: Final = 600.0  # a planted pair's CPA is searched this far past the end
CLEAR_H_M: Final = 7.0 * NM  # background clearance: nothing else comes this close ...
CLEAR_V_M: Final = 1500.0 * FT  # ... at the same time as this close vertically
# Altitudes exactly sep_v apart differ by 304.79999999999927 m after the ft -> m product;
# a 1 micrometre tolerance keeps "exactly 1000 ft" on the separated side of the strict test.
VERT_EPS_M: Final = 1e-6
SPEED_MIN_MS: Final = 110.0
SPEED_MAX_MS: Final = 250.0
FL_MIN: Final = 100  # flight levels of level traffic, hundreds of feet
FL_MAX: Final = 390
ALT_CAP_M: Final = 41_000 * FT  # start / level-off altitudes of vertical movers stay below
SAFE_MISS_M: Final = 6.0 * NM

CONFLICT_KINDS: Final = (
    "head_on",
    "crossing_90",
    "overtaking",
    "climb_through",
    "converging_45",
    "descend_onto",
)
_MAX_PAIR_ATTEMPTS: Final = 500
_MAX_STALLED_ROUNDS: Final = 10
_MAX_ROUNDS: Final = 60
_REDRAW_BUDGET: Final = 4000  # candidate draws per round


@dataclass(frozen=True)
class ScenarioConfig:
    """What to simulate. Distances at the edge in km / NM / ft; times in seconds.

    ``t0`` is the scenario start, UTC epoch seconds; it must be set before
    :func:`build_scenario` (the caller picks it, e.g. the wall clock at start).
    Planted losses of separation begin at ``t0 + first_los_s + k * los_spacing_s``.
    """

    seed: int = 1
    t0: float | None = None
    duration_s: float = 600.0
    centre_lat_deg: float = 50.0
    centre_lon_deg: float = 8.6
    radius_km: float = 150.0
    n_background: int = 30
    n_conflicts: int = 6
    n_safe_miss: int = 2  # pairs passing 6 NM apart at the same level
    n_safe_level: int = 2  # pairs crossing over one point at adjacent FLs, 1000 ft apart
    first_los_s: float = 60.0
    los_spacing_s: float = 50.0
    sep_h_nm: float = 5.0
    sep_v_ft: float = 1000.0
    adsb_fraction: float = 0.85  # background aircraft with ADS-B; planted ones always have it


@dataclass(frozen=True, eq=False)
class Motion:
    """Truth motion of N aircraft; every field float64[N].

    Position at scenario time tau (s after t0): ENU (e0 + ve tau, n0 + vn tau, 0) about
    (origin_lat_deg, origin_lon_deg) -> ECEF -> geodetic latitude/longitude. Altitude
    alt0 + vu tau (m), held at level_off_m once reached (NaN: no level-off).
    """

    origin_lat_deg: F64
    origin_lon_deg: F64
    e0_m: F64
    n0_m: F64
    ve_ms: F64
    vn_ms: F64
    alt0_m: F64
    vu_ms: F64
    level_off_m: F64

    def __len__(self) -> int:
        return len(self.e0_m)


@dataclass(frozen=True)
class ConflictTruth:
    """A planted loss of separation, as measured. a < b are ICAO addresses; times UTC epoch s.

    t_los: first time of loss of separation (within 1 us after it, never before).
    t_cpa, d_cpa_m, dz_cpa_ft: time, horizontal distance and vertical distance of the
    horizontal closest approach; t_cpa can lie after the scenario's end when the geometry
    leaves no room inside it (short scenarios).
    """

    a: int
    b: int
    kind: str
    t_los: float
    t_cpa: float
    d_cpa_m: float
    dz_cpa_ft: float
    t_los_planned: float


@dataclass(frozen=True)
class SafePairTruth:
    """A planted pair that comes close but never loses separation, with its measured minima."""

    a: int
    b: int
    kind: str  # "6nm_miss" | "1000ft_level"
    d_min_m: float
    dz_min_ft: float


@dataclass(frozen=True, eq=False)
class Scenario:
    """A built scenario: identities and motion of N aircraft (arrays [N], read-only) and truth."""

    config: ScenarioConfig
    t0: float
    icao: I64
    callsign: tuple[str, ...]
    mode3a: I64
    role: tuple[str, ...]  # "background" | "conflict" | "safe"
    adsb: B1  # ADS-B equipped
    motion: Motion
    conflicts: tuple[ConflictTruth, ...]
    safe_pairs: tuple[SafePairTruth, ...]

    @property
    def n_aircraft(self) -> int:
        return len(self.icao)

    @property
    def duration_s(self) -> float:
        return self.config.duration_s

    def index_of(self, icao: int) -> int:
        """Row of the aircraft with this ICAO address."""
        hits = np.flatnonzero(self.icao == icao)
        if hits.size != 1:
            raise KeyError(f"no aircraft with icao {icao:06X}")
        return int(hits[0])

    def truth_dict(self) -> dict[str, Any]:
        """The truth as a JSON-serialisable dict (schema ``airspace-sim-truth/1``)."""
        cfg = self.config
        return {
            "schema": TRUTH_SCHEMA,
            "seed": cfg.seed,
            "t0": self.t0,
            "duration_s": cfg.duration_s,
            "thresholds": {"sep_h_nm": cfg.sep_h_nm, "sep_v_ft": cfg.sep_v_ft},
            "aircraft": [
                {
                    "icao": f"{int(ic):06X}",
                    "icao_int": int(ic),
                    "callsign": cs,
                    "mode3a": f"{int(m3):04o}",
                    "role": role,
                    "adsb": bool(eq),
                }
                for ic, cs, m3, role, eq in zip(
                    self.icao, self.callsign, self.mode3a, self.role, self.adsb, strict=True
                )
            ],
            "conflicts": [
                {
                    "a": c.a,
                    "b": c.b,
                    "kind": c.kind,
                    "t_los": c.t_los,
                    "t_cpa": c.t_cpa,
                    "d_cpa_m": c.d_cpa_m,
                    "dz_cpa_ft": c.dz_cpa_ft,
                }
                for c in self.conflicts
            ],
            "safe_pairs": [
                {"a": s.a, "b": s.b, "kind": s.kind, "d_min_m": s.d_min_m, "dz_min_ft": s.dz_min_ft}
                for s in self.safe_pairs
            ],
        }


def write_truth(path: str | Path, scenario: Scenario) -> None:
    """Write ``scenario.truth_dict()`` as indented JSON."""
    Path(path).write_text(json.dumps(scenario.truth_dict(), indent=1) + "\n", encoding="utf-8")


def positions(
    scenario: Scenario, t: npt.ArrayLike, rows: npt.ArrayLike | None = None
) -> tuple[F64, F64, F64, F64, F64, F64]:
    """Truth state at absolute times t (UTC epoch s).

    ``rows`` (aircraft indices) broadcasts against ``t``; by default it is
    ``arange(N)[:, None]``, so t float64[K] gives arrays [N, K] (all aircraft at the same
    times) and t float64[N, K] gives each aircraft its own times. Pass rows[M] with t[M]
    for one state per (aircraft, time).

    Returns (lat_deg, lon_deg, alt_m, ve_ms, vn_ms, vu_ms), each of the broadcast shape.
    ve, vn are the horizontal velocity in the aircraft's current local ENU frame; vu is
    the vertical rate (0 once levelled off).
    """
    if rows is None:
        rows = np.arange(scenario.n_aircraft)[:, None]
    tau = np.asarray(t, dtype=np.float64) - scenario.t0
    return _kinematics(scenario.motion, np.asarray(rows, dtype=np.int64), tau)


def build_scenario(cfg: ScenarioConfig) -> Scenario:
    """Build the scenario for ``cfg`` (deterministic in ``cfg.seed``)."""
    _validate(cfg)
    assert cfg.t0 is not None
    seed = cfg.seed
    rng_plant = np.random.default_rng([seed, 1])
    rng_bg = np.random.default_rng([seed, 2])
    rng_id = np.random.default_rng([seed, 3])

    tau = _sample_times(cfg.duration_s)
    traffic = _Traffic(cfg.duration_s)
    specs = _pair_specs(cfg)
    for role, kind, tau_los in specs:
        for attempt in range(_MAX_PAIR_ATTEMPTS):
            # Prefer a CPA inside the scenario; a short one may not leave room for it.
            cpa_inside = attempt < _MAX_PAIR_ATTEMPTS // 2
            pair = _plant_pair(rng_plant, cfg, kind, tau_los, cpa_inside)
            if pair is not None and traffic.try_add_pair(pair):
                break
        else:  # pragma: no cover - the geometry is feasible by construction
            raise RuntimeError(f"could not place a {role} pair of kind {kind}")
    n_planted = len(traffic)
    traffic.add_background(rng_bg, cfg)

    motion = traffic.motion()
    n = len(motion)
    role_list = ["background"] * n
    for g, (role, _, _) in enumerate(specs):
        role_list[2 * g] = role_list[2 * g + 1] = role
    adsb = np.ones(n, dtype=np.bool_)
    # A fixed share rather than a coin per aircraft, so that every scenario has its
    # radar-only aircraft.
    n_off = round((n - n_planted) * (1.0 - cfg.adsb_fraction))
    adsb[n_planted + rng_bg.choice(n - n_planted, size=n_off, replace=False)] = False
    icao, callsign, mode3a = _identities(rng_id, n)

    # The sampled truth must show exactly the planted losses of separation, no others.
    planted = {(2 * g, 2 * g + 1) for g, spec in enumerate(specs) if spec[0] == "conflict"}
    found = _sampled_los_pairs(motion, cfg, tau)
    if found != planted:  # pragma: no cover - guarded by the 7 NM / 1500 ft clearance
        raise RuntimeError(
            f"sampled losses of separation {sorted(found)} != planted {sorted(planted)}"
        )

    conflicts: list[ConflictTruth] = []
    safe: list[SafePairTruth] = []
    for g, (role, kind, tau_los) in enumerate(specs):
        i, j = 2 * g, 2 * g + 1
        if icao[j] < icao[i]:
            i, j = j, i
        if role == "conflict":
            conflicts.append(_measure_conflict(motion, tau, cfg, i, j, kind, tau_los, icao))
        else:
            safe.append(_measure_safe(motion, tau, cfg, i, j, kind, icao))

    for arr in (icao, mode3a, adsb, *(getattr(motion, f.name) for f in fields(motion))):
        arr.setflags(write=False)
    return Scenario(
        config=cfg,
        t0=float(cfg.t0),
        icao=icao,
        callsign=tuple(callsign),
        mode3a=mode3a,
        role=tuple(role_list),
        adsb=adsb,
        motion=motion,
        conflicts=tuple(conflicts),
        safe_pairs=tuple(safe),
    )


# --- configuration -----------------------------------------------------------------------


def _validate(cfg: ScenarioConfig) -> None:
    if cfg.t0 is None:
        raise ValueError("ScenarioConfig.t0 must be set: the scenario start, UTC epoch seconds")
    if not cfg.t0 > 0:
        raise ValueError(f"t0 must be a positive UTC epoch, got {cfg.t0}")
    if cfg.duration_s < 60.0:
        raise ValueError(f"duration_s must be at least 60 s, got {cfg.duration_s}")
    if min(cfg.n_background, cfg.n_conflicts, cfg.n_safe_miss, cfg.n_safe_level) < 0:
        raise ValueError("aircraft and pair counts must be >= 0")
    if cfg.radius_km <= 0:
        raise ValueError("radius_km must be positive")
    if not 0.0 <= cfg.adsb_fraction <= 1.0:
        raise ValueError("adsb_fraction must be in 0..1")
    if not 0 < cfg.sep_h_nm < 6.0 - 0.5:
        raise ValueError("sep_h_nm must be in (0, 5.5) so that the 6 NM safe pairs stay safe")
    if not 0 < cfg.sep_v_ft <= 1000.0:
        raise ValueError("sep_v_ft must be in (0, 1000] so that the 1000 ft pairs stay safe")
    if cfg.n_conflicts:
        last = cfg.first_los_s + (cfg.n_conflicts - 1) * cfg.los_spacing_s
        if cfg.first_los_s < 30.0 or last > cfg.duration_s - 60.0:
            raise ValueError(
                f"planted losses of separation run from {cfg.first_los_s:g} s to {last:g} s; "
                f"they must lie within 30 s .. duration_s - 60 s = {cfg.duration_s - 60.0:g} s "
                "(fewer conflicts, a smaller los_spacing_s or a longer duration_s)"
            )


def _pair_specs(cfg: ScenarioConfig) -> list[tuple[str, str, float]]:
    """(role, kind, planned tau_los or NaN) for each planted pair, conflicts first."""
    specs = [
        (
            "conflict",
            CONFLICT_KINDS[k % len(CONFLICT_KINDS)],
            cfg.first_los_s + k * cfg.los_spacing_s,
        )
        for k in range(cfg.n_conflicts)
    ]
    specs += [("safe", "6nm_miss", math.nan)] * cfg.n_safe_miss
    specs += [("safe", "1000ft_level", math.nan)] * cfg.n_safe_level
    return specs


def _sample_times(duration_s: float) -> F64:
    k = math.floor(duration_s / SAMPLE_DT_S + 1e-9)
    return np.arange(k + 1, dtype=np.float64) * SAMPLE_DT_S


# --- kinematics --------------------------------------------------------------------------


def _enu_axes(lat_deg: F64, lon_deg: F64) -> tuple[F64, F64]:
    """East and north unit vectors in ECEF at geodetic points: two float64[..., 3]."""
    lat = np.radians(lat_deg)
    lon = np.radians(lon_deg)
    slat, clat, slon, clon = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    east = np.stack([-slon, clon, np.zeros_like(lon)], axis=-1)
    north = np.stack([-slat * clon, -slat * slon, clat], axis=-1)
    return east, north


def _vertical(m: Motion, r: I64, tau: F64) -> tuple[F64, F64]:
    """Altitude (m) and vertical rate (m/s) of aircraft r at times tau (same shapes)."""
    vu = m.vu_ms[r]
    alt = m.alt0_m[r] + vu * tau
    lvl = m.level_off_m[r]
    # NaN level-off compares False both ways: no level-off.
    past = np.where(vu > 0.0, alt >= lvl, alt <= lvl)
    return np.where(past, lvl, alt), np.where(past, 0.0, vu)


def _horizontal_ecef(m: Motion, r: I64, tau: F64) -> tuple[F64, F64, F64]:
    """Tangent-plane points of aircraft r[M] at tau[M] in ECEF [M, 3], and the origin
    frame's east and north axes [M, 3]."""
    lat0 = np.array(m.origin_lat_deg)  # a writable copy: Numba types read-only apart
    lon0 = np.array(m.origin_lon_deg)
    origin: F64 = geo.geodetic_to_ecef(lat0, lon0, np.zeros_like(lat0))[r]
    east, north = _enu_axes(lat0[r], lon0[r])
    e = m.e0_m[r] + m.ve_ms[r] * tau
    n = m.n0_m[r] + m.vn_ms[r] * tau
    return origin + e[:, None] * east + n[:, None] * north, east, north


def _kinematics(
    m: Motion, rows: I64, tau: F64, velocity: bool = True
) -> tuple[F64, F64, F64, F64, F64, F64]:
    """State of aircraft ``rows`` at scenario times ``tau`` (broadcast together).

    Returns (lat_deg, lon_deg, alt_m, ve_ms, vn_ms, vu_ms); ve, vn are NaN unless
    ``velocity``.
    """
    rows_b, tau_b = np.broadcast_arrays(rows, tau)
    shape = tau_b.shape
    r = rows_b.ravel()
    s = np.ascontiguousarray(tau_b.ravel())
    xyz, east0, north0 = _horizontal_ecef(m, r, s)
    lat, lon, h = geo.ecef_to_geodetic(xyz)
    alt, vu = _vertical(m, r, s)
    if velocity:
        # The origin-frame velocity is fixed in ECEF; project it on the axes where the
        # aircraft is now, which turn by up to ~1.5 deg over 150 km.
        v = m.ve_ms[r][:, None] * east0 + m.vn_ms[r][:, None] * north0
        east, north = _enu_axes(lat, lon)
        # The reported position is the plane point's foot on the ellipsoid, h below it;
        # the foot moves slower by the radii of curvature over (radii + h), which is
        # 1.5e-4 (0.03 m/s) at 110 km from the origin. Scale so that the velocity is
        # the derivative of the positions.
        w = np.sqrt(1.0 - geo.WGS84_E2 * np.sin(np.radians(lat)) ** 2)
        r_n = geo.WGS84_A / w
        r_m = r_n * (1.0 - geo.WGS84_E2) / (w * w)
        ve = np.einsum("ij,ij->i", v, east) * r_n / (r_n + h)
        vn = np.einsum("ij,ij->i", v, north) * r_m / (r_m + h)
    else:
        ve = vn = np.full(r.shape, np.nan)
    out = (lat, lon, alt, ve, vn, vu)
    return tuple(np.reshape(a, shape) for a in out)  # type: ignore[return-value]


def _subpoints(m: Motion, rows: I64, tau: F64) -> tuple[F64, F64]:
    """Sea-level sub-points in ECEF [..., 3] and altitudes [...] (rows, tau broadcast)."""
    lat, lon, alt, _, _, _ = _kinematics(m, rows, tau, velocity=False)
    shape = lat.shape
    flat_lat = np.ascontiguousarray(lat.ravel())
    xyz: F64 = geo.geodetic_to_ecef(
        flat_lat, np.ascontiguousarray(lon.ravel()), np.zeros_like(flat_lat)
    )
    return xyz.reshape(*shape, 3), alt


def _concat(parts: list[Motion]) -> Motion:
    return Motion(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Motion)))


def _motion_of(**cols: Any) -> Motion:
    return Motion(**{k: np.asarray(v, dtype=np.float64).copy() for k, v in cols.items()})


# --- planted pairs -----------------------------------------------------------------------


def _disc_point(rng: np.random.Generator, cfg: ScenarioConfig, n: int) -> tuple[F64, F64]:
    """n points uniform in the scenario disc: (lat_deg, lon_deg), float64[n]."""
    r = cfg.radius_km * 1000.0 * np.sqrt(rng.random(n))
    th = rng.random(n) * 2.0 * math.pi
    enu = np.stack([r * np.sin(th), r * np.cos(th), np.zeros(n)], axis=1)
    xyz = geo.enu_to_ecef(enu, cfg.centre_lat_deg, cfg.centre_lon_deg, 0.0)
    lat, lon, _ = geo.ecef_to_geodetic(xyz)
    return lat, lon


def _fl_m(fl: float) -> float:
    """Flight level (hundreds of ft) to metres."""
    return fl * 100.0 * FT


def _plant_pair(
    rng: np.random.Generator, cfg: ScenarioConfig, kind: str, tau_los: float, cpa_inside: bool
) -> Motion | None:
    """One planted pair (aircraft A, B) about a CPA point inside the disc, or None when
    this draw cannot meet the timing, or puts the CPA after the end although
    ``cpa_inside`` asks otherwise (the caller draws again).

    Both aircraft share the CPA point as their ENU origin, so the intended geometry holds
    in one tangent plane; the truth is measured afterwards anyway.
    """
    R = cfg.sep_h_nm * NM
    sv = cfg.sep_v_ft * FT
    u = rng.uniform
    spd = u(SPEED_MIN_MS, SPEED_MAX_MS, 2)
    hdg_a = u(0.0, 360.0)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    fl = float(rng.integers(FL_MIN // 10, FL_MAX // 10 + 1) * 10)
    alt = np.array([_fl_m(fl), _fl_m(fl)])
    vu = np.zeros(2)
    lvl = np.full(2, np.nan)

    if kind == "head_on":
        dhdg, miss = 180.0, u(0.0, 0.1) * NM
    elif kind == "crossing_90":
        dhdg, miss = 90.0 * sign, u(0.9, 1.1) * NM
    elif kind == "overtaking":
        # Close fast enough that the CPA falls inside the scenario where speeds allow.
        need = 1.02 * R / max(cfg.duration_s - 10.0 - tau_los, 1.0)
        diff = min(max(u(60.0, 80.0), need), SPEED_MAX_MS - SPEED_MIN_MS)
        spd[0] = u(SPEED_MIN_MS, SPEED_MAX_MS - diff)
        spd[1] = spd[0] + diff
        dhdg, miss = 0.0, u(0.2, 0.5) * NM
    elif kind == "converging_45":
        dhdg, miss = 45.0 * sign, u(2.8, 3.2) * NM
    elif kind in ("climb_through", "descend_onto"):
        dhdg, miss = sign * u(60.0, 120.0), u(0.0, 1.0) * NM
    elif kind == "6nm_miss":
        dhdg, miss = sign * u(30.0, 180.0), SAFE_MISS_M
    elif kind == "1000ft_level":
        dhdg, miss = sign * u(30.0, 150.0), 0.0
        fl = float(rng.integers(FL_MIN // 10, FL_MAX // 10) * 10)
        alt = np.array([_fl_m(fl), _fl_m(fl + 10.0)])
    else:
        raise ValueError(f"unknown pair kind {kind!r}")

    hdg = np.radians([hdg_a, hdg_a + dhdg])
    v = np.stack([spd * np.sin(hdg), spd * np.cos(hdg)], axis=1)  # [2, (east, north)]
    vrel = v[1] - v[0]
    vrel_n = float(np.hypot(*vrel))
    # Half-width in time of the window in which the pair is horizontally inside R.
    w = math.sqrt(max(R * R - miss * miss, 0.0)) / vrel_n

    if kind in ("6nm_miss", "1000ft_level"):
        tau_cpa = u(0.3, 0.7) * cfg.duration_s
    elif kind == "climb_through":
        # Vertical entry binds: B reaches A's level - sep_v at tau_los, with the pair
        # already horizontally inside R (CPA at most w - 5 s after tau_los).
        rate = u(6.0, 12.5)
        tau_z = tau_los + sv / rate
        k_lvl = int(rng.integers(2, 5))
        fl_lo = math.ceil((_fl_m(FL_MIN) + rate * tau_z) / (1000.0 * FT))
        fl_hi = min(FL_MAX // 10, 41 - k_lvl)
        if fl_lo > fl_hi:
            return None
        fl = float(rng.integers(fl_lo, fl_hi + 1) * 10)
        alt = np.array([_fl_m(fl), _fl_m(fl) - rate * tau_z])
        vu[1] = rate
        lvl[1] = _fl_m(fl + 10.0 * k_lvl)
        tau_cpa = tau_los + min(sv / rate, w - 5.0)
    elif kind == "descend_onto":
        # B descends and levels off at A's level; it comes within sep_v at tau_los.
        rate = u(6.0, 12.5)
        fl_hi = math.floor((ALT_CAP_M - sv - rate * tau_los) / (1000.0 * FT))
        fl_hi = min(fl_hi, FL_MAX // 10)
        if fl_hi < FL_MIN // 10:
            return None
        fl = float(rng.integers(FL_MIN // 10, fl_hi + 1) * 10)
        alt = np.array([_fl_m(fl), _fl_m(fl) + sv + rate * tau_los])
        vu[1] = -rate
        lvl[1] = _fl_m(fl)
        tau_cpa = tau_los + min(sv / rate, w - 5.0)
    else:
        # Same level: horizontal entry binds, R before the CPA along the relative track.
        tau_cpa = tau_los + w
    if (kind in CONFLICT_KINDS and w < 6.0) or (cpa_inside and tau_cpa > cfg.duration_s - 10.0):
        return None

    perp = np.array([-vrel[1], vrel[0]]) / vrel_n
    at_cpa = np.stack([-0.5 * miss * perp, 0.5 * miss * perp])  # [2, 2]
    start = at_cpa - v * tau_cpa
    lat, lon = _disc_point(rng, cfg, 1)
    return _motion_of(
        origin_lat_deg=np.repeat(lat, 2),
        origin_lon_deg=np.repeat(lon, 2),
        e0_m=start[:, 0],
        n0_m=start[:, 1],
        ve_ms=v[:, 0],
        vn_ms=v[:, 1],
        alt0_m=alt,
        vu_ms=vu,
        level_off_m=lvl,
    )


# --- background --------------------------------------------------------------------------


def _semicircular_fl(rng: np.random.Generator, eastbound: B1) -> F64:
    """Flight levels (hundreds of ft) by the semicircular rule: odd thousands eastbound
    (FL110..FL390), even westbound (FL100..FL380)."""
    k = rng.integers(FL_MIN // 20, FL_MAX // 20 + 1, size=eastbound.shape)  # 5..19
    return ((2 * k + eastbound.astype(np.int64)) * 10).astype(np.float64)


def _background(rng: np.random.Generator, cfg: ScenarioConfig, n: int) -> Motion:
    """n background aircraft: mid-scenario position uniform in the disc, random heading
    and speed; 80 % level on semicircular levels, 20 % climbing or descending by >= 4000 ft
    at 1000-2500 ft/min to a level-off."""
    tau_mid = 0.5 * cfg.duration_s
    lat, lon = _disc_point(rng, cfg, n)
    hdg = rng.uniform(0.0, 360.0, n)
    spd = rng.uniform(SPEED_MIN_MS, SPEED_MAX_MS, n)
    ve = spd * np.sin(np.radians(hdg))
    vn = spd * np.cos(np.radians(hdg))
    eastbound = hdg < 180.0
    fl = _semicircular_fl(rng, eastbound)
    moving = rng.random(n) < 0.2
    fl_start = rng.integers(FL_MIN // 10, FL_MAX // 10 + 1, size=n) * 10.0
    # A level-off at least 4000 ft away from the start, on the semicircular rule.
    far = np.abs(fl - fl_start) >= 40.0
    fl_start = np.where(far, fl_start, np.where(fl >= (FL_MIN + FL_MAX) / 2, fl - 60.0, fl + 60.0))
    rate = rng.uniform(1000.0, 2500.0, n) * FT / 60.0
    alt_lvl = fl * 100.0 * FT
    alt_start = fl_start * 100.0 * FT
    vu = np.where(moving, np.sign(alt_lvl - alt_start) * rate, 0.0)
    return _motion_of(
        origin_lat_deg=lat,
        origin_lon_deg=lon,
        e0_m=-ve * tau_mid,
        n0_m=-vn * tau_mid,
        ve_ms=ve,
        vn_ms=vn,
        alt0_m=np.where(moving, alt_start, alt_lvl),
        vu_ms=vu,
        level_off_m=np.where(moving, alt_lvl, np.nan),
    )


# --- clearance: exact, in continuous time ------------------------------------------------


class _Traffic:
    """Aircraft placed so far, in groups (a planted pair is one group), kept clear of
    each other across groups."""

    def __init__(self, duration_s: float) -> None:
        self.duration_s = duration_s
        self.parts: list[Motion] = []
        self.group = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.group)

    def motion(self) -> Motion:
        return _concat(self.parts)

    def try_add_pair(self, pair: Motion) -> bool:
        """Add a planted pair if it keeps clear of everything placed so far."""
        n = len(self)
        g = int(self.group.max(initial=-1)) + 1
        group = np.concatenate([self.group, [g, g]])
        m = _concat([*self.parts, pair])
        i, _ = _violations(m, group, np.arange(n, n + 2), self.duration_s)
        if i.size:
            return False
        self.parts, self.group = [m], group
        return True

    def add_background(self, rng: np.random.Generator, cfg: ScenarioConfig) -> None:
        """Add cfg.n_background aircraft, redrawing those that come near anything else."""
        n0, nb = len(self), cfg.n_background
        m = _concat([*self.parts, _background(rng, cfg, nb)])
        g0 = int(self.group.max(initial=-1)) + 1
        self.group = np.concatenate([self.group, np.arange(g0, g0 + nb)])
        pending = np.arange(n0, n0 + nb)
        best, stalled = nb + 1, 0
        for _ in range(_MAX_ROUNDS):
            i, j = _violations(m, self.group, pending, self.duration_s)
            if i.size == 0:
                break
            # Give up when redrawing stops helping: the disc is too full for the clearance.
            stalled = 0 if pending.size < best else stalled + 1
            best = min(best, pending.size)
            if stalled >= _MAX_STALLED_ROUNDS:
                break
            # Redraw one aircraft per offending pair: the later one when both are new.
            is_pending = np.zeros(len(self), dtype=np.bool_)
            is_pending[pending] = True
            pending = np.unique(np.where(is_pending[j], np.maximum(i, j), i))
            self._redraw(rng, cfg, m, pending)
        else:
            i, _ = _violations(m, self.group, pending, self.duration_s)
        if i.size:
            raise ValueError(
                f"cannot keep {nb} background aircraft 7 NM / 1500 ft clear of each other "
                f"within {cfg.radius_km:g} km over {cfg.duration_s:g} s: lower n_background "
                "or raise radius_km"
            )
        self.parts = [m]

    def _redraw(self, rng: np.random.Generator, cfg: ScenarioConfig, m: Motion, rows: I64) -> None:
        """Redraw background aircraft ``rows`` of m in place. Each gets several candidates
        and takes the first that keeps clear of every aircraft outside ``rows``: near
        saturation few draws fit, and a batch of draws costs little more than one.
        Conflicts among the redrawn rows are left to the next round.
        """
        n, p = len(self), rows.size
        c = int(np.clip(_REDRAW_BUDGET // p, 1, 64))
        fresh = _background(rng, cfg, p * c)
        group = self.group.copy()
        group[rows] = -1  # neither the old positions of rows nor other candidates count
        i, _ = _violations(
            _concat([m, fresh]),
            np.concatenate([group, np.full(p * c, -1)]),
            np.arange(n, n + p * c),
            self.duration_s,
        )
        clear = np.ones(p * c, dtype=np.bool_)
        clear[i - n] = False
        pick = np.arange(p) * c + np.argmax(clear.reshape(p, c), axis=1)  # first clear one
        for f in fields(Motion):
            getattr(m, f.name)[rows] = getattr(fresh, f.name)[pick]


def _linear_ecef(m: Motion) -> tuple[F64, F64]:
    """Each aircraft's tangent-plane track as a straight line in ECEF: start points and
    velocities, float64[N, 3] (m, m/s)."""
    lat0 = m.origin_lat_deg.copy()
    lon0 = m.origin_lon_deg.copy()
    origin: F64 = geo.geodetic_to_ecef(lat0, lon0, np.zeros_like(lat0))
    east, north = _enu_axes(lat0, lon0)
    start = origin + m.e0_m[:, None] * east + m.n0_m[:, None] * north
    return start, m.ve_ms[:, None] * east + m.vn_ms[:, None] * north


def _violations(
    m: Motion, group: I64, rows: I64, duration_s: float,
    h_lim: float = CLEAR_H_M, v_lim: float = CLEAR_V_M,
) -> tuple[I64, I64]:  # fmt: skip
    """Pairs (i in rows, j in another group; each pair once) that are, at some time in
    [0, duration_s], both < h_lim apart horizontally and < v_lim vertically.

    Exact in continuous time rather than sampled: a tangent-plane track is a straight
    line in ECEF, so the time the chord is below h_lim is the inside of a quadratic; the
    altitude difference is piecewise linear between the two level-off times. The chord
    between plane points differs from the sea-level one by metres (a plane point 110 km
    from its origin is < 1 km above the ellipsoid): use it with margins of that order.
    O(pairs) with no per-sample work, so 1000 aircraft take milliseconds.
    """
    n = len(m)
    start, vel = _linear_ecef(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_lvl = np.where(
            np.isfinite(m.level_off_m) & (m.vu_ms != 0.0),
            (m.level_off_m - m.alt0_m) / m.vu_ms,
            np.inf,
        )
    t_lvl = np.clip(t_lvl, 0.0, duration_s)
    alt_end = m.alt0_m + m.vu_ms * t_lvl
    amin, amax = np.minimum(m.alt0_m, alt_end), np.maximum(m.alt0_m, alt_end)
    in_rows = np.zeros(n, dtype=np.bool_)
    in_rows[rows] = True
    col = np.arange(n)
    out_i: list[I64] = []
    out_j: list[I64] = []
    chunk = max(1, 2_000_000 // max(n, 1))
    for a in range(0, len(rows), chunk):
        r = rows[a : a + chunk]
        # Broad phase: altitude bands that come within v_lim; a pair of two rows once.
        gap = np.maximum(amin[None, :] - amax[r, None], amin[r, None] - amax[None, :])
        near = (gap < v_lim) & (group[None, :] != group[r, None])
        near &= ~in_rows[None, :] | (r[:, None] < col[None, :])
        ri, j = np.nonzero(near)
        i = r[ri]
        # Horizontal: |d0 + dv t|^2 < h^2  <=>  qa t^2 + qb t + qc < 0.
        d0 = start[i] - start[j]
        dv = vel[i] - vel[j]
        qa = np.einsum("pc,pc->p", dv, dv)
        qb = 2.0 * np.einsum("pc,pc->p", d0, dv)
        qc = np.einsum("pc,pc->p", d0, d0) - h_lim * h_lim
        disc = qb * qb - 4.0 * qa * qc
        moving = qa > 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.sqrt(np.maximum(disc, 0.0))
            h_lo = np.where(moving, (-qb - root) / (2.0 * qa), -np.inf)
            h_hi = np.where(moving, (-qb + root) / (2.0 * qa), np.inf)
        ever = np.where(moving, disc > 0.0, qc < 0.0)
        ever &= (h_lo < duration_s) & (h_hi > 0.0)
        i, j, h_lo, h_hi = i[ever], j[ever], h_lo[ever], h_hi[ever]
        # Vertical: three linear pieces between the knots 0, level-offs, duration.
        k1 = np.minimum(t_lvl[i], t_lvl[j])
        k2 = np.maximum(t_lvl[i], t_lvl[j])
        knots = np.stack([np.zeros_like(k1), k1, k2, np.full_like(k1, duration_s)], axis=1)
        ta, tb = knots[:, :-1], knots[:, 1:]
        fa = _dz(m, t_lvl, i, j, ta)
        fb = _dz(m, t_lvl, i, j, tb)
        span = tb - ta
        slope = (fb - fa) / np.where(span > 0.0, span, 1.0)
        flat = np.abs(slope) < 1e-12
        with np.errstate(divide="ignore", invalid="ignore"):
            s1 = (-v_lim - fa) / slope
            s2 = (v_lim - fa) / slope
        inside = np.abs(fa) < v_lim
        v_lo = ta + np.where(flat, np.where(inside, 0.0, np.inf), np.minimum(s1, s2))
        v_hi = ta + np.where(flat, np.where(inside, span, -np.inf), np.maximum(s1, s2))
        lo = np.maximum(np.maximum(v_lo, ta), h_lo[:, None])
        hi = np.minimum(np.minimum(v_hi, tb), h_hi[:, None])
        hit = ((span > 0.0) & (lo < hi)).any(axis=1)
        out_i.append(i[hit])
        out_j.append(j[hit])
    if not out_i:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(out_i), np.concatenate(out_j)


def _dz(m: Motion, t_lvl: F64, i: I64, j: I64, t: F64) -> F64:
    """alt_i(t) - alt_j(t) for pairs (i[p], j[p]) at times t[p, k] (t <= level-off clip)."""
    ai = m.alt0_m[i][:, None] + m.vu_ms[i][:, None] * np.minimum(t, t_lvl[i][:, None])
    aj = m.alt0_m[j][:, None] + m.vu_ms[j][:, None] * np.minimum(t, t_lvl[j][:, None])
    return ai - aj


# --- sampled truth -----------------------------------------------------------------------


def _sampled_los_pairs(m: Motion, cfg: ScenarioConfig, tau: F64) -> set[tuple[int, int]]:
    """Pairs (i < j) that lose separation at some 0.5 s sample, by the sea-level chord and
    |dz|. The exact clearance test with margins picks the pairs worth sampling."""
    n = len(m)
    i, j = _violations(
        m,
        np.arange(n),
        np.arange(n),
        cfg.duration_s,
        cfg.sep_h_nm * NM + 500.0,
        cfg.sep_v_ft * FT + 1.0,
    )
    found: set[tuple[int, int]] = set()
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        dh, dz = _pair_separation(m, a, b, tau)
        if _is_los(dh, dz, cfg).any():
            found.add((min(a, b), max(a, b)))
    return found


def _pair_separation(m: Motion, i: int, j: int, tau: F64) -> tuple[F64, F64]:
    """Horizontal chord between sea-level sub-points (m) and |dz| (m) of aircraft i, j at tau."""
    xyz, alt = _subpoints(m, np.array([[i], [j]]), tau[None, :])
    dh = np.sqrt(((xyz[0] - xyz[1]) ** 2).sum(axis=-1))
    return dh, np.abs(alt[0] - alt[1])


def _is_los(dh: F64, dz: F64, cfg: ScenarioConfig) -> B1:
    """Loss of separation, strict: horizontal < sep_h and vertical < sep_v."""
    return (dh < cfg.sep_h_nm * NM) & (dz < cfg.sep_v_ft * FT - VERT_EPS_M)


def _argmin_refined(f: Callable[[F64], F64], tau: F64, vals: F64) -> float:
    """Time of the minimum of f, from the sampled vals refined on a 5 ms grid."""
    k = int(np.argmin(vals))
    fine = np.linspace(tau[max(k - 1, 0)], tau[min(k + 1, len(tau) - 1)], 401)
    return float(fine[int(np.argmin(f(fine)))])


def _measure_conflict(
    m: Motion, tau: F64, cfg: ScenarioConfig, i: int, j: int, kind: str,
    tau_los_plan: float, icao: I64,
) -> ConflictTruth:  # fmt: skip
    """Measure a planted conflict: first loss of separation (bisected to < 1 us) and the
    horizontal closest point of approach."""
    assert cfg.t0 is not None
    dh, dz = _pair_separation(m, i, j, tau)
    los = _is_los(dh, dz, cfg)
    if not los.any() or los[0]:
        raise RuntimeError(
            f"planted {kind} pair lost separation {'never' if not los.any() else 'at t0'}"
        )
    k1 = int(np.argmax(los))
    lo, hi = float(tau[k1 - 1]), float(tau[k1])
    while hi - lo > 1e-7:
        mid = 0.5 * (lo + hi)
        h, z = _pair_separation(m, i, j, np.array([mid]))
        if _is_los(h, z, cfg)[0]:
            hi = mid
        else:
            lo = mid
    # Recorded 1 us late so that the epoch, rounded to its 0.24 us ulp, is inside the LoS.
    t_los = cfg.t0 + hi + 1e-6
    h, z = _pair_separation(m, i, j, np.array([t_los - cfg.t0]))
    if not _is_los(h, z, cfg)[0] or abs(hi - tau_los_plan) > 1.0:
        raise RuntimeError(
            f"planted {kind} pair lost separation at {hi:.2f} s, not {tau_los_plan:.2f} s"
        )

    # The CPA may come after the end (a slow overtake in a short scenario): look past it.
    tau_ext = _sample_times(cfg.duration_s + CPA_LOOKAHEAD_S)
    dh_ext, _ = _pair_separation(m, i, j, tau_ext)
    t_cpa = _argmin_refined(lambda t: _pair_separation(m, i, j, t)[0], tau_ext, dh_ext)
    h, z = _pair_separation(m, i, j, np.array([t_cpa]))
    return ConflictTruth(
        a=int(icao[i]),
        b=int(icao[j]),
        kind=kind,
        t_los=t_los,
        t_cpa=cfg.t0 + t_cpa,
        d_cpa_m=round(float(h[0]), 3),
        dz_cpa_ft=round(float(z[0]) / FT, 3),
        t_los_planned=cfg.t0 + tau_los_plan,
    )


def _measure_safe(
    m: Motion, tau: F64, cfg: ScenarioConfig, i: int, j: int, kind: str, icao: I64
) -> SafePairTruth:
    """Measure a safe pair's horizontal minimum (refined) and vertical minimum."""
    dh, dz = _pair_separation(m, i, j, tau)
    if _is_los(dh, dz, cfg).any():
        raise RuntimeError(f"safe {kind} pair lost separation")
    t_min = _argmin_refined(lambda t: _pair_separation(m, i, j, t)[0], tau, dh)
    h, _ = _pair_separation(m, i, j, np.array([t_min]))
    return SafePairTruth(
        a=int(icao[i]),
        b=int(icao[j]),
        kind=kind,
        d_min_m=round(float(h[0]), 3),
        dz_min_ft=round(float(dz.min()) / FT, 3),
    )


# --- identities --------------------------------------------------------------------------

_AIRLINES: Final = (
    "DLH", "EWG", "CFG", "BAW", "AFR", "KLM", "RYR", "EZY", "SWR", "AUA", "TAP", "SAS",
    "UAE", "THY", "LOT", "IBE", "BEL", "CSA", "FIN", "WZZ",
)  # fmt: skip
_ALNUM: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_RESERVED_3A: Final = frozenset({0o0000, 0o7500, 0o7600, 0o7700, 0o7000, 0o2000, 0o1200})


def _identities(rng: np.random.Generator, n: int) -> tuple[I64, list[str], I64]:
    """Unique ICAO addresses in 0x3C0000..0x3FFFFF, unique callsigns like DLH4AB, and Mode
    3/A codes avoiding emergency and conspicuity codes (unique while n allows)."""
    icao = 0x3C0000 + rng.choice(0x40000, size=n, replace=False).astype(np.int64)
    callsigns: list[str] = []
    seen: set[str] = set()
    while len(callsigns) < n:
        cs = (
            _AIRLINES[int(rng.integers(len(_AIRLINES)))]
            + str(int(rng.integers(1, 10)))
            + "".join(_ALNUM[int(c)] for c in rng.integers(len(_ALNUM), size=2))
        )
        if cs not in seen:
            seen.add(cs)
            callsigns.append(cs)
    codes = np.array([c for c in range(0o10000) if c not in _RESERVED_3A], dtype=np.int64)
    mode3a = rng.choice(codes, size=n, replace=n > len(codes))
    return icao, callsigns, mode3a
