"""Scenarios for ``python -m bench fusion`` beyond the simulator's default one.

:func:`crossing_scenario`: pairs of aircraft that cross each other at small horizontal
separation on the same flight level, at several crossing angles (from 0, one overtaking
the other on the same track, through near-parallel to head-on), with every equipage mix:
both ADS-B, one, neither (the latter seen only by the primary radar of
:data:`CROSSING_SENSORS`, which carries no identity). Each pair crosses over its own
point; the pairs are spread over the scenario disc and kept clear of one another (6 NM)
so that every close encounter is a planted one.

Units: metres, m/s, seconds after t0, degrees; crossing angles in degrees between the two
ground tracks; miss distances in metres at the closest point of approach.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from fusion.sim import AdsbConfig, Scenario, ScenarioConfig, SensorConfig
from fusion.sim.clearance import violations
from fusion.sim.motion import NM, Motion, concat, motion_of
from fusion.sim.presets import FUSION_SENSORS
from kernels import geo

ANGLES_DEG: Final = (0.0, 8.0, 15.0, 30.0, 60.0, 90.0, 135.0, 180.0)
EQUIPAGE: Final = ("both", "one", "none")  # which of the pair broadcast ADS-B
PAIR_CLEAR_M: Final = 6.0 * NM  # pairs keep this far from each other horizontally

# ADS-B (a hear-all receiver) and the fusion suite's primary 3-D radar (no identity;
# its tracker breaks and renumbers tracks).
_MIL = next(r for r in FUSION_SENSORS.radars if r.primary)
CROSSING_SENSORS: Final = SensorConfig(
    adsb=(AdsbConfig("adsb-1"),),
    radars=(replace(_MIL, name="radar-mil"),),
)


@dataclass(frozen=True)
class CrossingPair:
    """One planted pair: aircraft rows ``a`` and ``b`` of the scenario."""

    a: int
    b: int
    angle_deg: float
    equipage: str  # "both" | "one" (a has ADS-B, b not) | "none"
    miss_m: float
    speed_a_ms: float
    speed_b_ms: float
    tau_cpa_s: float  # closest approach, s after t0


@dataclass(frozen=True)
class _Spec:
    angle_deg: float
    speeds_ms: tuple[float, float]
    miss_m: float
    tau_cpa_s: float


def crossing_scenario(
    t0: float,
    seed: int = 1,
    duration_s: float = 300.0,
    angles_deg: tuple[float, ...] = ANGLES_DEG,
    equipage: tuple[str, ...] = EQUIPAGE,
    max_miss_m: float = 0.25 * NM,
) -> tuple[Scenario, tuple[CrossingPair, ...]]:
    """A scenario of crossing pairs, one per (angle, equipage), and their description.

    Miss distances are uniform in [0, ``max_miss_m``] (m); speeds 120-240 m/s (at 0
    degrees B overtakes A 10-30 m/s faster); closest
    approach at 40-60 % of ``duration_s``; flight levels FL100-FL390; crossing points in
    the inner 90 % of the default 150 km scenario disc.
    """
    cfg = ScenarioConfig(
        seed=seed,
        t0=t0,
        duration_s=duration_s,
        n_background=0,
        n_conflicts=0,
        n_safe_miss=0,
        n_safe_level=0,
    )
    rng = np.random.default_rng([seed, 77])
    combos = list(itertools.product(angles_deg, equipage))
    specs = [
        _Spec(
            ang,
            _speeds(rng, ang),
            float(rng.uniform(0.0, max_miss_m)),
            float(rng.uniform(0.4, 0.6) * duration_s),
        )
        for ang, _ in combos
    ]
    parts = [_placed(rng, cfg, s) for s in specs]
    group = np.repeat(np.arange(len(parts)), 2)
    for _ in range(500):
        m = concat(parts)
        i, j = violations(m, group, np.arange(len(m)), duration_s, PAIR_CLEAR_M, 1e9)
        if i.size == 0:
            break
        for g in np.unique(group[np.maximum(i, j)]):
            parts[int(g)] = _placed(rng, cfg, specs[int(g)])
    else:  # pragma: no cover - the disc has room for the default pairs
        raise RuntimeError("could not keep the crossing pairs clear of each other")
    motion = concat(parts)
    n = len(motion)
    adsb = np.zeros(n, dtype=np.bool_)
    pairs = []
    for g, ((_, eq), sp) in enumerate(zip(combos, specs, strict=True)):
        a, b = 2 * g, 2 * g + 1
        adsb[a] = eq in ("both", "one")
        adsb[b] = eq == "both"
        pairs.append(CrossingPair(a, b, sp.angle_deg, eq, sp.miss_m, *sp.speeds_ms, sp.tau_cpa_s))
    rid = np.random.default_rng([seed, 78])
    icao = rid.choice(0x1000000, size=n, replace=False).astype(np.int64)
    sc = Scenario(
        config=cfg,
        t0=t0,
        icao=icao,
        callsign=tuple(f"XNG{k:04d}" for k in range(n)),
        mode3a=rid.integers(0o1000, 0o7000, size=n).astype(np.int64),
        role=("crossing",) * n,
        adsb=adsb,
        motion=motion,
        conflicts=(),
        safe_pairs=(),
    )
    return sc, tuple(pairs)


def _speeds(rng: np.random.Generator, angle_deg: float) -> tuple[float, float]:
    """Ground speeds (m/s) of a pair: independent, 120-240 m/s, when the tracks cross;
    on one track (angle 0: overtaking) B is 10-30 m/s faster, so that the two stay close
    for minutes at similar velocities."""
    if angle_deg < 1.0:
        a = float(rng.uniform(120.0, 210.0))
        return a, a + float(rng.uniform(10.0, 30.0))
    return float(rng.uniform(120.0, 240.0)), float(rng.uniform(120.0, 240.0))


def _placed(rng: np.random.Generator, cfg: ScenarioConfig, sp: _Spec) -> Motion:
    """A pair of spec ``sp`` over a fresh point in the inner 90 % of the disc, on a fresh
    heading and flight level."""
    r = 0.9 * cfg.radius_km * 1000.0 * math.sqrt(rng.random())
    th = rng.random() * 2.0 * math.pi
    lat, lon = disc_point(cfg, r * math.sin(th), r * math.cos(th))
    fl = float(rng.integers(10, 40) * 10)
    return pair_motion(
        lat,
        lon,
        float(rng.uniform(0.0, 360.0)),
        sp.angle_deg,
        sp.speeds_ms,
        sp.miss_m,
        sp.tau_cpa_s,
        fl,
    )


def pair_motion(
    lat_deg: float,
    lon_deg: float,
    heading_deg: float,
    angle_deg: float,
    speeds_ms: tuple[float, float],
    miss_m: float,
    tau_cpa_s: float,
    fl: float,
) -> Motion:
    """Two aircraft over the point (lat_deg, lon_deg): A on ``heading_deg``, B on
    ``heading_deg + angle_deg``, level at flight level ``fl``, passing ``miss_m`` apart
    at ``tau_cpa_s`` (s after t0)."""
    hdg = np.radians([heading_deg, heading_deg + angle_deg])
    spd = np.asarray(speeds_ms, dtype=np.float64)
    v = np.stack([spd * np.sin(hdg), spd * np.cos(hdg)], axis=1)  # [2, (east, north)]
    vrel = v[1] - v[0]
    perp = np.array([-vrel[1], vrel[0]]) / max(float(np.hypot(*vrel)), 1e-9)
    at_cpa = np.stack([-0.5 * miss_m * perp, 0.5 * miss_m * perp])
    start = at_cpa - v * tau_cpa_s
    alt = fl * 100.0 * 0.3048
    return motion_of(
        origin_lat_deg=[lat_deg, lat_deg],
        origin_lon_deg=[lon_deg, lon_deg],
        e0_m=start[:, 0],
        n0_m=start[:, 1],
        ve_ms=v[:, 0],
        vn_ms=v[:, 1],
        alt0_m=[alt, alt],
        vu_ms=[0.0, 0.0],
        level_off_m=[math.nan, math.nan],
    )


def disc_point(cfg: ScenarioConfig, east_m: float, north_m: float) -> tuple[float, float]:
    """(lat, lon) degrees of a point east_m, north_m from the scenario centre."""
    enu = np.array([[east_m, north_m, 0.0]])
    xyz = geo.enu_to_ecef(enu, cfg.centre_lat_deg, cfg.centre_lon_deg, 0.0)
    lat, lon, _ = geo.ecef_to_geodetic(xyz)
    return float(lat[0]), float(lon[0])
