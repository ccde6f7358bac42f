"""Throughput of association and filter: reports per second through the fuser.

Synthetic feeds of N aircraft (initial states from :func:`bench.traffic.realistic_traffic`,
about 1 aircraft per 100 km^2, flying straight), every aircraft reported once per second
of data time at its own phase within the second:

* ``icao``: an ADS-B feed; every report carries the ICAO address (NACp 9, NACv 2,
  position noise 12 m per axis), so association is an index lookup;
* ``radar``: a primary radar's tracks without identity; every report carries the
  radar's track number (stated sigma 100 m, noise the same), so after the first second
  association is the sensor-track binding; the first second creates the tracks by
  kinematics (nothing to associate with yet);
* ``mixed`` (no target; the service's usual load): both at once on the same aircraft,
  85 % of them ADS-B equipped: the radar tracks of equipped aircraft are merged into
  their ADS-B tracks during the warm-up, the others stay anonymous, and every release
  checks them for a merge (a k-d tree over the identified tracks). Reports counted: both
  feeds (1.85 N per second).

One measurement is one second of data: ``add`` of that second's batch (N reports) plus
``release(t - reorder_window_s)``, which fuses the previous second's N reports
(identity lookup, kinematic association of unbound reports, the Numba filter, the
bookkeeping and the anonymous-track merge check). Batches are built before the clock
starts. After ``warmup`` seconds (track creation, confirmation, Numba's cache load), the
median over ``seconds`` measured seconds gives reports/s = N / median seconds.

Run in a subprocess per Numba thread count (``NUMBA_NUM_THREADS``); see
:func:`run_throughput`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from bench.fusion_metrics import M_PER_DEG
from fusion.fuser import Fuser
from fusion.schema import ReportArray, empty_reports

F64 = npt.NDArray[np.float64]
T0: Final = 1_764_000_000.0
FT: Final = 0.3048
KINDS: Final = ("icao", "radar", "mixed")
MIXED_ADSB_SHARE: Final = 0.85  # "mixed": aircraft that also broadcast ADS-B
ADSB_SIGMA_M: Final = 12.0  # NACp 9: 30 m 95 % radius -> 12 m per axis
RADAR_SIGMA_M: Final = 100.0


class SyntheticFeed:
    """N aircraft on straight lines; :meth:`batch` gives the reports of one second."""

    def __init__(self, n: int, kind: str, seed: int, share: float = 1.0) -> None:
        """n aircraft of traffic ``seed``; ``kind`` "icao" or "radar"; ``share``: the
        fraction of the aircraft this feed reports (a seeded choice)."""
        from bench.traffic import realistic_traffic

        if kind not in ("icao", "radar"):
            raise ValueError(f"kind must be 'icao' or 'radar', got {kind!r}")
        tr = realistic_traffic(n, seed)
        self.kind = kind
        self.rng = np.random.default_rng([seed, 5, int(kind == "icao")])
        keep = np.sort(np.random.default_rng([seed, 6]).permutation(n)[: round(share * n)])
        self.n = int(keep.size)
        self.ident = keep  # aircraft index: ICAO address offset, radar track number
        self.lat0, self.lon0, self.alt0 = tr.lat_deg[keep], tr.lon_deg[keep], tr.alt_m[keep]
        self.ve, self.vn, self.vu = tr.ve[keep], tr.vn[keep], tr.vu[keep]
        self.phase = np.random.default_rng([seed, 7]).random(n)[keep]
        self.coslat = np.cos(np.radians(self.lat0))

    def batch(self, k: int) -> ReportArray:
        """Reports with t in [T0 + k, T0 + k + 1) (UTC epoch s), sorted by time."""
        n = self.n
        tau = k + self.phase
        sig = ADSB_SIGMA_M if self.kind == "icao" else RADAR_SIGMA_M
        noise = self.rng.normal(size=(2, n)) * sig
        rep = empty_reports(n)
        rep["t"] = T0 + tau
        rep["lat_deg"] = self.lat0 + (self.vn * tau + noise[0]) / M_PER_DEG
        rep["lon_deg"] = self.lon0 + (self.ve * tau + noise[1]) / (M_PER_DEG * self.coslat)
        alt = self.alt0 + self.vu * tau
        rep["ve_ms"] = self.ve
        rep["vn_ms"] = self.vn
        rep["vu_ms"] = self.vu
        if self.kind == "icao":
            rep["icao"] = 0x100000 + self.ident
            rep["alt_baro_ft"] = alt / FT
            rep["nacp"] = 9
            rep["nacv"] = 2
        else:
            rep["track"] = self.ident
            rep["alt_geo_m"] = alt + self.rng.normal(size=n) * 150.0
            rep["sigma_h_m"] = RADAR_SIGMA_M
            rep["sigma_v_m"] = 150.0
            rep["sigma_vel_ms"] = 3.0
        out: ReportArray = rep[np.argsort(rep["t"])]
        return out


def run_throughput(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker body (in the subprocess): spec has n, kind, seed, warmup, seconds, threads.
    Returns a JSON-able dict, times in ms."""
    import numba

    numba.set_num_threads(int(spec["threads"]))
    n, kind = int(spec["n"]), str(spec["kind"])
    warm, secs = int(spec["warmup"]), int(spec["seconds"])
    seed = int(spec["seed"])
    if kind == "mixed":
        feeds = [
            ("adsb", 0, SyntheticFeed(n, "icao", seed, MIXED_ADSB_SHARE)),
            ("radar", 1, SyntheticFeed(n, "radar", seed)),
        ]
    elif kind in ("icao", "radar"):
        feeds = [("adsb" if kind == "icao" else "radar", 0, SyntheticFeed(n, kind, seed))]
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    batches = [[(s, f, fd.batch(k)) for s, f, fd in feeds] for k in range(warm + secs)]
    per_second = sum(fd.n for _, _, fd in feeds)
    fu = Fuser()
    add_s: list[float] = []
    rel_s: list[float] = []
    applied: list[int] = []
    first_release_s = 0.0
    for k, parts in enumerate(batches):
        before = fu.stats.applied
        t0 = time.perf_counter()
        for sensor, feeder, b in parts:
            fu.add(b, sensor, feeder)
        t1 = time.perf_counter()
        fu.release(T0 + k + 1.0 - fu.cfg.reorder_window_s)
        t2 = time.perf_counter()
        if k == 1:
            first_release_s = t2 - t1
        if k >= warm:
            add_s.append(t1 - t0)
            rel_s.append(t2 - t1)
            applied.append(fu.stats.applied - before)
    total = [a + r for a, r in zip(add_s, rel_s, strict=True)]
    med = statistics.median(total)
    return {
        "n": n,
        "kind": kind,
        "threads": int(spec["threads"]),
        "numba_threads_effective": int(numba.get_num_threads()),
        "seconds_measured": secs,
        "median_ms": 1e3 * med,
        "min_ms": 1e3 * min(total),
        "max_ms": 1e3 * max(total),
        "add_median_ms": 1e3 * statistics.median(add_s),
        "release_median_ms": 1e3 * statistics.median(rel_s),
        "first_release_ms": 1e3 * first_release_s,
        "reports_per_second_of_data": per_second,
        "reports_per_s": per_second / med,
        "applied_per_second_min": min(applied),
        "tracks_created": fu.stats.tracks_created,
        "tracks_alive": len(fu.tracks),
        "stats": dict(vars(fu.stats)),
    }
