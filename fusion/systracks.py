"""System tracks: one per aircraft, whichever sensors see it, as a struct of NumPy arrays.

Each row holds the filter state of :mod:`kernels.fuse` (a local-plane horizontal state,
a vertical one, their covariances and time), the identities learnt from the reports,
the flags integrity checks raised, and when each kind of sensor last updated it. Two
sorted indexes map identities to rows: ICAO address -> row, and sensor track
``(feeder_index + 1) << 32 | track_number`` -> row (a radar's own track numbers, bound
when a report of that track is associated).

Lookups are batched (a hash table over each index, :mod:`kernels.lookup`); no Python
loop per report. Not thread-safe: one owner (the fuser).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from fusion.schema import SENSOR_KINDS
from kernels.lookup import hash_find, hash_table

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]

SENSOR_SHIFT: Final = 32

# Track flags (bit mask, published with the track).
FLAG_ADSB_SUSPECT: Final = 1  # ADS-B positions disagree with radar beyond their accuracy
FLAG_IDENTITY_CONFLICT: Final = 2  # its ICAO address was reported somewhere else too

# Prior of a new track, around its first report: the report's accuracy is added by the
# first update, so the prior only has to be vague. 100 km and 1 km/s (1 sigma) are vague
# for any aircraft yet small enough to keep the first update well conditioned.
_PRIOR_POS_VAR: Final = 1e10
_PRIOR_VEL_VAR: Final = 1e6
_PRIOR_ALT_VAR: Final = 1e8
_PRIOR_VRATE_VAR: Final = 1e4


def sensor_keys(feeder_index: I64, track: I64) -> I64:
    """Sensor-track key per report, int64: (feeder + 1) << 32 | track, -1 without track."""
    key = ((feeder_index.astype(np.int64) + 1) << SENSOR_SHIFT) | track.astype(np.int64)
    return np.where(track >= 0, key, -1)


class _Index:
    """Distinct int64 keys -> rows, with batched lookup, insert and removal.

    ``keys`` (sorted) and ``rows`` are the index; a hash table over them
    (kernels.lookup) answers :meth:`find`, built again on the first lookup after the
    keys change (``rows`` may change in place: the table holds positions)."""

    def __init__(self) -> None:
        self.keys: I64 = np.empty(0, dtype=np.int64)
        self.rows: I64 = np.empty(0, dtype=np.int64)
        self._table: I64 | None = None

    def _changed(self, keys: I64, rows: I64) -> None:
        self.keys, self.rows = keys, rows
        self._table = None

    def find(self, keys: I64) -> I64:
        """Row per key (int64, shape of keys), -1 where absent."""
        if self.keys.size == 0:
            return np.full(keys.shape, -1, dtype=np.int64)
        if self._table is None:
            self._table = hash_table(self.keys)
        q = np.ascontiguousarray(keys, dtype=np.int64)
        return hash_find(self._table, self.rows, q.ravel()).reshape(q.shape)

    def set(self, keys: I64, rows: I64) -> None:
        """Bind keys to rows (replacing existing bindings of those keys)."""
        if keys.size == 0:
            return
        keys, first = np.unique(keys[::-1], return_index=True)  # the last binding wins
        rows = rows[::-1][first]
        keep = ~np.isin(self.keys, keys)
        all_k = np.concatenate([self.keys[keep], keys])
        all_r = np.concatenate([self.rows[keep], rows])
        order = np.argsort(all_k, kind="stable")
        self._changed(all_k[order], all_r[order])

    def drop_keys(self, keys: I64) -> None:
        keep = ~np.isin(self.keys, keys)
        self._changed(self.keys[keep], self.rows[keep])

    def drop_rows(self, rows: I64) -> None:
        keep = ~np.isin(self.rows, rows)
        self._changed(self.keys[keep], self.rows[keep])


class SystemTracks:
    """System track rows; ``alive`` marks rows in use. Arrays grow by doubling."""

    def __init__(self, capacity: int = 1024) -> None:
        self.next_id = 1
        self._alloc(capacity)
        self.by_icao = _Index()
        self.by_sensor = _Index()

    def _alloc(self, n: int) -> None:
        self.alive = np.zeros(n, dtype=np.bool_)
        self.id = np.zeros(n, dtype=np.int64)  # stable system track number, from 1
        self.confirmed = np.zeros(n, dtype=np.bool_)
        self.n_updates = np.zeros(n, dtype=np.int64)
        self.t_update = np.zeros(n, dtype=np.float64)  # data time of the last update, s
        self.ref = np.zeros((n, 2), dtype=np.float64)
        self.xh = np.zeros((n, 4), dtype=np.float64)
        self.Ph = np.zeros((n, 4, 4), dtype=np.float64)
        self.xv = np.zeros((n, 2), dtype=np.float64)
        self.Pv = np.zeros((n, 2, 2), dtype=np.float64)
        self.t_state = np.zeros(n, dtype=np.float64)
        self.icao = np.full(n, -1, dtype=np.int64)
        self.mode3a = np.full(n, -1, dtype=np.int64)
        self.callsign = np.zeros(n, dtype="S8")
        self.flags = np.zeros(n, dtype=np.int64)
        # The feeder index and sensor kind code of the newest report applied (-1 none).
        self.last_feeder = np.full(n, -1, dtype=np.int64)
        self.last_kind = np.full(n, -1, dtype=np.int64)
        # Data time each sensor kind last updated the row (-inf: never), s.
        self.seen = np.full((n, len(SENSOR_KINDS)), -np.inf, dtype=np.float64)
        # Merging an anonymous track into an identified one: the candidate row (-1 none)
        # and for how many releases in a row it has matched.
        self.merge_into = np.full(n, -1, dtype=np.int64)
        self.merge_hits = np.zeros(n, dtype=np.int64)

    _ARRAYS: Final = (
        "alive", "id", "confirmed", "n_updates", "t_update", "ref", "xh", "Ph", "xv", "Pv",
        "t_state", "icao", "mode3a", "callsign", "flags", "last_feeder", "last_kind", "seen",
        "merge_into", "merge_hits",
    )  # fmt: skip

    def __len__(self) -> int:
        return int(self.alive.sum())

    def rows(self) -> I64:
        """Rows in use, ordered by track id (deterministic)."""
        r = np.flatnonzero(self.alive)
        return r[np.argsort(self.id[r], kind="stable")]

    def create(self, t: F64, lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64) -> I64:
        """New rows centred on first reports (float64[k] each: s, deg, deg, m, m/s, m/s),
        with a vague prior and the state time of the report, so that applying that report
        is the first update. Returns the rows."""
        k = t.size
        free = np.flatnonzero(~self.alive)
        if free.size < k:
            self._grow(k - free.size)
            free = np.flatnonzero(~self.alive)
        rows = free[:k]
        self.alive[rows] = True
        self.id[rows] = np.arange(self.next_id, self.next_id + k)
        self.next_id += k
        self.confirmed[rows] = False
        self.n_updates[rows] = 0
        self.t_update[rows] = t
        self.reseed(rows, t, lat_deg, lon_deg, alt_m, ve, vn)
        self.icao[rows] = -1
        self.mode3a[rows] = -1
        self.callsign[rows] = b""
        self.flags[rows] = 0
        self.last_feeder[rows] = -1
        self.last_kind[rows] = -1
        self.seen[rows] = -np.inf
        self.merge_into[rows] = -1
        self.merge_hits[rows] = 0
        return rows

    def reseed(
        self, rows: I64, t: F64, lat_deg: F64, lon_deg: F64, alt_m: F64, ve: F64, vn: F64
    ) -> None:
        """Forget the filter state of rows and start again around one report each (the
        vague prior of :meth:`create`); identities, flags and bindings stay."""
        self.ref[rows, 0] = lat_deg
        self.ref[rows, 1] = lon_deg
        self.xh[rows] = 0.0
        # A report without velocity (NaN) starts at rest under the vague velocity prior: a
        # NaN in the state would make every later report on the track BAD.
        self.xh[rows, 2] = np.nan_to_num(ve, nan=0.0)
        self.xh[rows, 3] = np.nan_to_num(vn, nan=0.0)
        self.Ph[rows] = np.diag([_PRIOR_POS_VAR, _PRIOR_POS_VAR, _PRIOR_VEL_VAR, _PRIOR_VEL_VAR])
        self.xv[rows, 0] = np.nan_to_num(alt_m, nan=0.0)
        self.xv[rows, 1] = 0.0
        self.Pv[rows] = np.diag([_PRIOR_ALT_VAR, _PRIOR_VRATE_VAR])
        self.t_state[rows] = t

    def sensor_track(self, row: int, feeder_index: int) -> int:
        """The track number under which a feeder reports this row's aircraft, -1 none."""
        lo = (feeder_index + 1) << SENSOR_SHIFT
        idx = self.by_sensor
        sel = (idx.rows == row) & (idx.keys >= lo) & (idx.keys < lo + (1 << SENSOR_SHIFT))
        keys = idx.keys[sel]
        return int(keys[-1] - lo) if keys.size else -1

    def merge(self, src: I64, dst: I64) -> None:
        """Fold rows src into rows dst (int64[k] each): sensor tracks bound to src are
        bound to dst, what each kind of sensor saw is kept, then src is deleted."""
        if src.size == 0:
            return
        remap = np.arange(self.alive.size, dtype=np.int64)
        remap[src] = dst
        self.by_sensor.rows = remap[self.by_sensor.rows]
        np.maximum.at(self.seen, dst, self.seen[src])
        self.delete(src)

    def delete(self, rows: I64) -> None:
        """Free rows and every identity bound to them."""
        if rows.size == 0:
            return
        self.alive[rows] = False
        self.by_icao.drop_rows(rows)
        self.by_sensor.drop_rows(rows)

    def _grow(self, at_least: int) -> None:
        old = self.alive.size
        saved = {name: getattr(self, name) for name in self._ARRAYS}
        self._alloc(max(2 * old, old + at_least))
        for name, arr in saved.items():
            getattr(self, name)[:old] = arr
