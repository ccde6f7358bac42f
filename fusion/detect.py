"""Detection cycle: extrapolate every track to the cycle time, screen all pairs.

Runs on data time: ``tc`` is a cycle boundary of the data clock, never the wall clock.
The screening is the Numba kernel ``kernels.screen.screen_conflicts`` (broad phase, then
the exact pair test; its result equals the all-pairs brute force bit for bit); this module
only gathers the track table into arrays and maps kernel indices back to track keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusion.config import Thresholds
from fusion.tracks import TrackTable
from kernels.geo import WGS84_A, WGS84_E2
from kernels.screen import screen_conflicts

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Keeps 1/cos(lat) finite at the poles; extrapolation steps are seconds long, so the
# longitude error this clamp allows (within 1 mm of the pole) is immaterial.
_MIN_COS_LAT = 1e-9


@dataclass(frozen=True)
class CycleResult:
    """One detection cycle's conflicts, in track-key order (key_a < key_b).

    Times in seconds (t_in, t_out, t_cpa relative to ``t``), distances in metres.
    """

    t: float
    n_tracks: int
    expired: I64
    slot_a: I64
    slot_b: I64
    key_a: I64
    key_b: I64
    t_in: F64
    t_out: F64
    t_cpa: F64
    d_cpa: F64
    dz_cpa: F64
    d_now: F64
    dz_now: F64

    def __len__(self) -> int:
        return int(self.key_a.size)


def advance(
    lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64, vu: F64, dt: F64
) -> tuple[F64, F64, F64]:
    """Move positions along their local ENU velocity for dt seconds (float64[N] each).

    Uses the ellipsoid's radii of curvature at each point; for the few seconds between a
    report and the cycle the straight-line error is far below a metre.
    """
    lat = np.radians(lat_deg)
    s2 = np.sin(lat) ** 2
    w = np.sqrt(1.0 - WGS84_E2 * s2)
    r_n = WGS84_A / w + alt_m  # prime vertical radius, at altitude
    r_m = WGS84_A * (1.0 - WGS84_E2) / w**3 + alt_m  # meridian radius, at altitude
    cos_lat = np.maximum(np.cos(lat), _MIN_COS_LAT)
    new_lat = lat_deg + np.degrees(vn * dt / r_m)
    new_lon = lon_deg + np.degrees(ve * dt / (r_n * cos_lat))
    new_lon = (new_lon + 180.0) % 360.0 - 180.0
    # Crossing a pole flips the longitude; keep latitude in range.
    over = np.abs(new_lat) > 90.0
    if over.any():
        new_lat = np.where(over, np.sign(new_lat) * 180.0 - new_lat, new_lat)
        new_lon = np.where(over, (new_lon + 360.0) % 360.0 - 180.0, new_lon)
    return new_lat, new_lon, alt_m + vu * dt


def run_cycle(table: TrackTable, tc: float, th: Thresholds) -> CycleResult:
    """Expire stale tracks, extrapolate the rest to data time tc (UTC epoch s) and return
    every pair predicted to lose separation within the look-ahead."""
    expired = table.expire(tc, th.track_expiry_s)
    slots = table.active_slots()
    s = table.state[slots]
    dt = tc - s["t"]
    vu = s["vu_ms"]
    vu = np.where(np.abs(vu) < th.level_rate_ms, 0.0, vu)
    lat, lon, alt = advance(s["lat_deg"], s["lon_deg"], s["alt_m"], s["ve_ms"], s["vn_ms"], vu, dt)
    c = screen_conflicts(
        lat,
        lon,
        alt,
        np.ascontiguousarray(s["ve_ms"]),
        np.ascontiguousarray(s["vn_ms"]),
        vu,
        th.sep_h_m,
        th.sep_v_eff_m,
        th.lookahead_s,
    )
    keys = s["key"]
    return CycleResult(
        t=tc,
        n_tracks=int(slots.size),
        expired=expired,
        slot_a=slots[c.i],
        slot_b=slots[c.j],
        key_a=keys[c.i],
        key_b=keys[c.j],
        t_in=c.t_in,
        t_out=c.t_out,
        t_cpa=c.t_cpa,
        d_cpa=c.d_cpa,
        dz_cpa=c.dz_cpa,
        d_now=c.d_now,
        dz_now=c.dz_now,
    )


def first_cycle_after(t: float, cycle_s: float) -> float:
    """The first cycle boundary (a multiple of cycle_s on the epoch) at or after t."""
    return math.ceil(t / cycle_s) * cycle_s
