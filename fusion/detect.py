"""Detection cycle: screen the fused picture of one cycle time for conflicts.

Runs on data time: ``tc`` is a cycle boundary of the data clock, never the wall clock.
The fuser predicts its confirmed system tracks to ``tc`` (:meth:`fusion.fuser.Fuser.picture`);
the screening is the Numba kernel ``kernels.screen.screen_conflicts`` (broad phase, then
the exact pair test; its result equals the all-pairs brute force bit for bit). This module
only treats slow vertical rates as level and maps kernel indices back to system tracks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusion.config import Thresholds
from fusion.fuser import Picture
from kernels.screen import screen_conflicts

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CycleResult:
    """One detection cycle's conflicts, in track-id order (key_a < key_b).

    Keys are system track ids; rows their rows in the system track table. Times in
    seconds (t_in, t_out, t_cpa relative to ``t``), distances in metres.
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


def run_cycle(pic: Picture, expired: I64, th: Thresholds) -> CycleResult:
    """Every pair of the picture (confirmed tracks at data time pic.t) predicted to lose
    separation within the look-ahead. expired: ids of tracks deleted at this cycle."""
    vu = np.where(np.abs(pic.vu) < th.level_rate_ms, 0.0, pic.vu)
    c = screen_conflicts(
        pic.lat_deg, pic.lon_deg, pic.alt_m, pic.ve, pic.vn, vu,
        th.sep_h_m, th.sep_v_eff_m, th.lookahead_s,
    )  # fmt: skip
    # The picture is in id order and the kernel returns i < j: key_a < key_b.
    return CycleResult(
        t=pic.t,
        n_tracks=int(pic.id.size),
        expired=expired,
        slot_a=pic.rows[c.i],
        slot_b=pic.rows[c.j],
        key_a=pic.id[c.i],
        key_b=pic.id[c.j],
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
