"""Track table: the latest state of every aircraft, as a struct of NumPy arrays.

Keyed by ICAO 24-bit address where a report carries one (ADS-B, Mode S radar). A radar
track without an address is keyed by (feeder, the radar's own track number) and kept apart
until fusion associates it (a later issue). Keys are int64: an ICAO address is below 2**24;
an anonymous track is ``(feeder_index + 1) << 32 | track_number``, so the two never collide.

Updates are batched: key lookup by ``np.searchsorted`` over a sorted key index, no Python
loop over reports. A report older than the state already held is not applied (counted as
``superseded``): radars and ADS-B interleave, and the newest data wins.

Not thread-safe: one owner (the service's ingest task).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusion.schema import SENSOR_KIND_CODE, ReportArray, altitude_m

ANON_SHIFT = 32
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# Per-slot state columns and their dtypes.
_COLUMNS: dict[str, str] = {
    "key": "<i8",
    "t": "<f8",  # time of applicability of the state, UTC epoch s
    "lat_deg": "<f8",
    "lon_deg": "<f8",
    "alt_m": "<f8",  # pressure altitude where known, metres
    "ve_ms": "<f8",
    "vn_ms": "<f8",
    "vu_ms": "<f8",
    "icao": "<i4",
    "track": "<i4",
    "mode3a": "<i2",
    "callsign": "S8",
    "kind": "<i1",
    "feeder": "<i4",
}


@dataclass(frozen=True)
class UpdateStats:
    applied: int
    superseded: int  # older than the state held, or a duplicate key earlier in the batch
    new_tracks: int


def track_keys(reports: ReportArray, feeder_index: int) -> I64:
    """Table key per report: int64[n]. ICAO where known, else (feeder, track number)."""
    icao = reports["icao"].astype(np.int64)
    anon = ((feeder_index + 1) << ANON_SHIFT) | reports["track"].astype(np.int64)
    return np.where(icao >= 0, icao, anon)


class TrackTable:
    """Latest state per aircraft. ``state`` is a structured array over slots; ``alive``
    marks slots in use."""

    def __init__(self, capacity: int = 1024) -> None:
        self.state = np.zeros(capacity, dtype=np.dtype(list(_COLUMNS.items())))
        self.alive = np.zeros(capacity, dtype=np.bool_)
        self._sorted_keys: I64 = np.empty(0, dtype=np.int64)
        self._sorted_slots: I64 = np.empty(0, dtype=np.int64)
        self._free: I64 = np.arange(capacity - 1, -1, -1, dtype=np.int64)  # stack, top last

    def __len__(self) -> int:
        return int(self._sorted_keys.size)

    def slots_of(self, keys: I64) -> I64:
        """Slot of each key, -1 where the key is not in the table."""
        pos = np.searchsorted(self._sorted_keys, keys)
        pos_c = np.minimum(pos, max(self._sorted_keys.size - 1, 0))
        if self._sorted_keys.size == 0:
            return np.full(keys.shape, -1, dtype=np.int64)
        found = self._sorted_keys[pos_c] == keys
        return np.where(found, self._sorted_slots[pos_c], -1)

    def update(self, reports: ReportArray, kind: str, feeder_index: int) -> UpdateStats:
        """Apply a batch of validated reports from one feeder."""
        n = len(reports)
        if n == 0:
            return UpdateStats(0, 0, 0)
        keys = track_keys(reports, feeder_index)
        t = reports["t"]
        # Newest report per key within the batch: sort by (key, t), keep each group's last.
        order = np.lexsort((t, keys))
        ks = keys[order]
        last = np.ones(n, dtype=np.bool_)
        last[:-1] = ks[1:] != ks[:-1]
        rows = order[last]
        ukeys = keys[rows]
        slots = self.slots_of(ukeys)
        known = slots >= 0
        newer = np.ones(rows.size, dtype=np.bool_)
        newer[known] = t[rows[known]] >= self.state["t"][slots[known]]
        rows, ukeys, slots, known = rows[newer], ukeys[newer], slots[newer], known[newer]
        new_keys = ukeys[~known]
        if new_keys.size:
            slots[~known] = self._insert(new_keys)
        self._write(slots, reports[rows], ukeys, kind, feeder_index)
        return UpdateStats(int(rows.size), n - int(rows.size), int(new_keys.size))

    def expire(self, t_now: float, max_age_s: float) -> I64:
        """Remove tracks whose state is older than max_age_s at data time t_now; returns
        the removed keys."""
        slots = self._sorted_slots
        old = self.state["t"][slots] < t_now - max_age_s
        if not old.any():
            return np.empty(0, dtype=np.int64)
        gone = slots[old]
        keys = self._sorted_keys[old]
        self.alive[gone] = False
        self._sorted_keys = self._sorted_keys[~old]
        self._sorted_slots = self._sorted_slots[~old]
        self._free = np.concatenate([self._free, gone[::-1]])
        return keys

    def active_slots(self) -> I64:
        """Slots in use, in key order (deterministic whatever the arrival order)."""
        return self._sorted_slots.copy()

    def _insert(self, new_keys: I64) -> I64:
        k = new_keys.size
        if k > self._free.size:
            self._grow(k - self._free.size)
        slots = self._free[-k:][::-1].copy()
        self._free = self._free[:-k]
        self.alive[slots] = True
        # A freed slot still holds its last aircraft: clear it so no identity leaks across.
        self.state[slots] = np.zeros(1, dtype=self.state.dtype)
        self.state["icao"][slots] = -1
        self.state["track"][slots] = -1
        self.state["mode3a"][slots] = -1
        keys = np.concatenate([self._sorted_keys, new_keys])
        all_slots = np.concatenate([self._sorted_slots, slots])
        order = np.argsort(keys, kind="stable")
        self._sorted_keys = keys[order]
        self._sorted_slots = all_slots[order]
        return slots

    def _grow(self, at_least: int) -> None:
        old = self.state.size
        new = max(old * 2, old + at_least)
        state = np.zeros(new, dtype=self.state.dtype)
        state[:old] = self.state
        alive = np.zeros(new, dtype=np.bool_)
        alive[:old] = self.alive
        self.state, self.alive = state, alive
        self._free = np.concatenate([np.arange(new - 1, old - 1, -1, dtype=np.int64), self._free])

    def _write(
        self, slots: I64, reports: ReportArray, keys: I64, kind: str, feeder_index: int
    ) -> None:
        s = self.state
        s["key"][slots] = keys
        s["t"][slots] = reports["t"]
        s["lat_deg"][slots] = reports["lat_deg"]
        s["lon_deg"][slots] = reports["lon_deg"]
        s["alt_m"][slots] = altitude_m(reports)
        s["ve_ms"][slots] = reports["ve_ms"]
        s["vn_ms"][slots] = reports["vn_ms"]
        # A missing vertical rate is level flight as far as prediction goes.
        s["vu_ms"][slots] = np.nan_to_num(reports["vu_ms"], nan=0.0)
        s["icao"][slots] = reports["icao"]
        trk = reports["track"]
        s["track"][slots] = np.where(trk >= 0, trk, s["track"][slots])
        # Identity fields a sensor does not carry keep what another sensor told us.
        m3a = reports["mode3a"]
        s["mode3a"][slots] = np.where(m3a >= 0, m3a, s["mode3a"][slots])
        cs = reports["callsign"]
        s["callsign"][slots] = np.where(cs != b"", cs, s["callsign"][slots])
        s["kind"][slots] = SENSOR_KIND_CODE[kind]
        s["feeder"][slots] = feeder_index
