"""Placing traffic: planted conflict and safe pairs about chosen geometries, and background
traffic redrawn until it keeps the 7 NM / 1500 ft clearance from everything else.

Draws from seeded NumPy Generators only. Distances in metres (NM / ft / flight levels
converted at the edge), speeds in m/s, times in seconds after the scenario start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Final

import numpy as np

from fusion.sim.clearance import violations
from fusion.sim.motion import B1, F64, FT, I64, NM, Motion, concat, motion_of
from kernels import geo

if TYPE_CHECKING:
    from fusion.sim.scenario import ScenarioConfig

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

PairSpec = tuple[str, str, float]  # (role, kind, planned tau_los in s after t0, or NaN)


def pair_specs(cfg: ScenarioConfig) -> list[PairSpec]:
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


def place_traffic(
    rng_plant: np.random.Generator,
    rng_bg: np.random.Generator,
    cfg: ScenarioConfig,
    specs: Sequence[PairSpec],
) -> Motion:
    """Motion of every aircraft: the planted pair of specs[g] at rows 2g, 2g + 1, then
    cfg.n_background background aircraft, all 7 NM / 1500 ft clear across groups."""
    traffic = _Traffic(cfg.duration_s)
    for role, kind, tau_los in specs:
        for attempt in range(_MAX_PAIR_ATTEMPTS):
            # Prefer a CPA inside the scenario; a short one may not leave room for it.
            cpa_inside = attempt < _MAX_PAIR_ATTEMPTS // 2
            pair = _plant_pair(rng_plant, cfg, kind, tau_los, cpa_inside)
            if pair is not None and traffic.try_add_pair(pair):
                break
        else:  # pragma: no cover - the geometry is feasible by construction
            raise RuntimeError(f"could not place a {role} pair of kind {kind}")
    traffic.add_background(rng_bg, cfg)
    return traffic.motion()


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
    return motion_of(
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
    return motion_of(
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


# --- keeping clear of everything placed so far -------------------------------------------


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
        return concat(self.parts)

    def try_add_pair(self, pair: Motion) -> bool:
        """Add a planted pair if it keeps clear of everything placed so far."""
        n = len(self)
        g = int(self.group.max(initial=-1)) + 1
        group = np.concatenate([self.group, [g, g]])
        m = concat([*self.parts, pair])
        i, _ = violations(m, group, np.arange(n, n + 2), self.duration_s)
        if i.size:
            return False
        self.parts, self.group = [m], group
        return True

    def add_background(self, rng: np.random.Generator, cfg: ScenarioConfig) -> None:
        """Add cfg.n_background aircraft, redrawing those that come near anything else."""
        n0, nb = len(self), cfg.n_background
        m = concat([*self.parts, _background(rng, cfg, nb)])
        g0 = int(self.group.max(initial=-1)) + 1
        self.group = np.concatenate([self.group, np.arange(g0, g0 + nb)])
        pending = np.arange(n0, n0 + nb)
        best, stalled = nb + 1, 0
        for _ in range(_MAX_ROUNDS):
            i, j = violations(m, self.group, pending, self.duration_s)
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
            i, _ = violations(m, self.group, pending, self.duration_s)
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
        i, _ = violations(
            concat([m, fresh]),
            np.concatenate([group, np.full(p * c, -1)]),
            np.arange(n, n + p * c),
            self.duration_s,
        )
        clear = np.ones(p * c, dtype=np.bool_)
        clear[i - n] = False
        pick = np.arange(p) * c + np.argmax(clear.reshape(p, c), axis=1)  # first clear one
        for f in fields(Motion):
            getattr(m, f.name)[rows] = getattr(fresh, f.name)[pick]
