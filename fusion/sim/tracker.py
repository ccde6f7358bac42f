"""A radar tracker's local track numbers: tracks that break and come back renumbered.

A rotating radar's tracker holds a track while plots keep coming. It coasts through up to
``coast_scans - 1`` consecutive missed scans (no detection, or out of coverage) and drops
the track at the ``coast_scans``-th; it may also lose a held track at random
(``p_break`` per detection: a swap, a split, a manual drop) and re-initiate it at once.
Whenever it (re-)acquires an aircraft the track gets a NEW number. Numbers come from a pool
``0 .. number_pool - 1`` handed out round-robin from a seeded start, skipping numbers in
use and numbers released less than ``recycle_after_s`` ago, as real trackers do so that a
display does not confuse an old track with a new one.

Vectorised over the scan crossings; one Python step per track segment for the numbering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fusion.sim.motion import B1, F64, I64


@dataclass(frozen=True)
class TrackerConfig:
    """A radar tracker's track-number behaviour. Times in seconds of data time."""

    coast_scans: int = 3  # dropped at the K-th consecutive missed scan (K >= 1)
    p_break: float = 0.0  # chance per detection that a held track breaks and restarts
    number_pool: int = 4096  # track numbers 0 .. number_pool - 1
    recycle_after_s: float = 300.0  # a released number is not reused for this long

    def __post_init__(self) -> None:
        if self.coast_scans < 1:
            raise ValueError(f"coast_scans must be >= 1, got {self.coast_scans}")
        if not 0.0 <= self.p_break < 1.0:
            raise ValueError(f"p_break must be in [0, 1), got {self.p_break}")
        if not 1 <= self.number_pool <= 2**31 - 1:
            raise ValueError(f"number_pool must be in 1 .. 2**31 - 1, got {self.number_pool}")
        if not self.recycle_after_s >= 0.0:
            raise ValueError(f"recycle_after_s must be >= 0, got {self.recycle_after_s}")


def assign_track_numbers(
    cfg: TrackerConfig, rng: np.random.Generator, rows: I64, tau: F64, detected: B1
) -> I64:
    """Track numbers for every scan crossing of a radar.

    ``rows`` int64[n] (aircraft), ``tau`` float64[n] (time of the crossing, s), ``detected``
    bool[n]: every time the beam swept an aircraft during the run, detected or not (a
    crossing out of coverage is a miss). Returns int64[n]: the number the tracker reports
    for each detected crossing, -1 for the missed ones.
    """
    n = rows.size
    out = np.full(n, -1, dtype=np.int64)
    order = np.lexsort((tau, rows))
    r, t, d = rows[order], tau[order], detected[order]
    pos = np.flatnonzero(d)  # detections, in (row, time) order
    draws = rng.random(pos.size)
    start_at = int(rng.integers(cfg.number_pool))
    if pos.size == 0:
        return out
    k = cfg.coast_scans
    row_end = np.searchsorted(r, r[pos], side="right")  # one past the row's last crossing
    same_prev = np.r_[False, r[pos[1:]] == r[pos[:-1]]]
    misses_before = np.r_[0, pos[1:] - pos[:-1] - 1]
    new = ~same_prev | (misses_before >= k) | (draws < cfg.p_break)
    seg = np.cumsum(new) - 1
    # Release of each detection's track if it is the segment's last: the K-th miss after it,
    # else the next detection (a break), else never (still held at the end).
    next_pos = np.r_[pos[1:], n]
    same_next = np.r_[r[pos[1:]] == r[pos[:-1]], False]
    bound = np.where(same_next, next_pos, row_end)
    dropped = pos + k < bound
    release = np.full(pos.size, math.inf)
    release[dropped] = t[pos[dropped] + k]
    broken = ~dropped & same_next
    release[broken] = t[next_pos[broken]]
    first = np.flatnonzero(new)
    last = np.r_[first[1:], pos.size] - 1
    seg_start, seg_release = t[pos[first]], release[last]

    numbers = np.empty(first.size, dtype=np.int64)
    free_at = np.full(cfg.number_pool, -math.inf)
    ptr = start_at
    for s in np.lexsort((r[pos[first]], seg_start)):  # segments in order of acquisition
        rolled = np.roll(free_at, -ptr)
        ok = rolled <= seg_start[s]
        i = int(np.argmax(ok))
        if not ok[i]:
            raise RuntimeError(
                f"tracker ran out of track numbers at {seg_start[s]:.1f} s: raise number_pool "
                f"({cfg.number_pool}) or lower recycle_after_s ({cfg.recycle_after_s:g} s)"
            )
        num = (ptr + i) % cfg.number_pool
        numbers[s] = num
        free_at[num] = seg_release[s] + cfg.recycle_after_s
        ptr = (num + 1) % cfg.number_pool
    out[order[pos]] = numbers[seg]
    return out
