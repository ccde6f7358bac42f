"""Simulated traffic scenario: its configuration, and ``build_scenario`` tying together
placement (:mod:`fusion.sim.placement`), identities and measured truth
(:mod:`fusion.sim.truth`) of aircraft moving as in :mod:`fusion.sim.motion`.

Planted pairs (conflicts and safe near-misses) and background traffic are drawn from
seeded NumPy Generators; background aircraft keep 7 NM / 1500 ft from everything else, so
the planted pairs are the only events. Distances at the configuration edge in km / NM / ft,
inside in metres; times in seconds (``t0`` and truth times UTC epoch seconds).

Pure and deterministic: the same config gives the same scenario, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from fusion.sim.clearance import CLEAR_H_M, CLEAR_V_M
from fusion.sim.motion import B1, F64, FT, I64, NM, Motion, kinematics
from fusion.sim.placement import (
    ALT_CAP_M,
    CONFLICT_KINDS,
    FL_MAX,
    FL_MIN,
    SAFE_MISS_M,
    SPEED_MAX_MS,
    SPEED_MIN_MS,
    pair_specs,
    place_traffic,
)
from fusion.sim.truth import (
    CPA_LOOKAHEAD_S,
    SAMPLE_DT_S,
    TRUTH_SCHEMA,
    VERT_EPS_M,
    ConflictTruth,
    SafePairTruth,
    measure_truth,
    truth_dict,
    write_truth,
)

__all__ = [
    "ALT_CAP_M",
    "B1",
    "CLEAR_H_M",
    "CLEAR_V_M",
    "CONFLICT_KINDS",
    "CPA_LOOKAHEAD_S",
    "F64",
    "FL_MAX",
    "FL_MIN",
    "FT",
    "I64",
    "NM",
    "SAFE_MISS_M",
    "SAMPLE_DT_S",
    "SPEED_MAX_MS",
    "SPEED_MIN_MS",
    "TRUTH_SCHEMA",
    "VERT_EPS_M",
    "ConflictTruth",
    "Motion",
    "SafePairTruth",
    "Scenario",
    "ScenarioConfig",
    "Trajectory",
    "build_scenario",
    "positions",
    "write_truth",
]


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


class Trajectory(Protocol):
    """Truth motion other than :class:`Motion`'s straight lines (turns, climbs, speed
    changes), e.g. :class:`fusion.sim.paths.PathSet`."""

    def state(self, rows: I64, tau: F64) -> tuple[F64, F64, F64, F64, F64, F64]:
        """(lat_deg, lon_deg, alt_m, ve_ms, vn_ms, vu_ms) of aircraft ``rows`` at scenario
        times ``tau`` (s after t0), broadcast together, as :func:`positions` returns."""
        ...


@dataclass(frozen=True, eq=False)
class Scenario:
    """A built scenario: identities and motion of N aircraft (arrays [N], read-only) and truth.

    ``trajectory``: when set, it and not ``motion`` gives every position the sensors see
    (:func:`positions`); ``motion`` then only describes the aircraft's first straight leg.
    None (the default, and every scenario :func:`build_scenario` makes) keeps the
    straight-line kinematics of :mod:`fusion.sim.motion`.
    """

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
    trajectory: Trajectory | None = None

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
        return truth_dict(self)


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
    if scenario.trajectory is not None:
        return scenario.trajectory.state(np.asarray(rows, dtype=np.int64), tau)
    return kinematics(scenario.motion, np.asarray(rows, dtype=np.int64), tau)


def build_scenario(cfg: ScenarioConfig) -> Scenario:
    """Build the scenario for ``cfg`` (deterministic in ``cfg.seed``)."""
    _validate(cfg)
    assert cfg.t0 is not None
    seed = cfg.seed
    rng_plant = np.random.default_rng([seed, 1])
    rng_bg = np.random.default_rng([seed, 2])
    rng_id = np.random.default_rng([seed, 3])

    specs = pair_specs(cfg)
    motion = place_traffic(rng_plant, rng_bg, cfg, specs)
    n_planted = 2 * len(specs)
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

    conflicts, safe = measure_truth(motion, cfg, specs, icao)

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
        conflicts=conflicts,
        safe_pairs=safe,
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
