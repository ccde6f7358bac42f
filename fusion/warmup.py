"""Compile (or load from Numba's cache) every kernel the service runs, before the first
report, so that the first detection cycle is not late.

Runs the real path once on a few synthetic reports: fusion (association, filter,
prediction) and screening, with the argument types the service uses, plus the kernels'
own warm-up (the brute force, the wild-track path).
"""

from __future__ import annotations

import numpy as np

from fusion.config import ServiceConfig
from fusion.detect import run_cycle
from fusion.fuser import Fuser
from fusion.schema import empty_reports

_T0 = 1_700_000_000.0


def warm_up() -> None:
    """Run fusion and detection once on two aircraft and a radar track (about a second on
    a warm cache; a minute or so when Numba has to compile)."""
    from kernels.screen import warm_up as warm_screen

    warm_screen()
    cfg = ServiceConfig()
    fu = Fuser(cfg.fusion)
    for k in range(4):
        r = empty_reports(3)
        r["t"] = _T0 + k
        r["icao"] = [0x100001, 0x100002, -1]
        r["track"] = [-1, -1, 7]
        r["lat_deg"] = [50.0, 50.0, 50.0]
        r["lon_deg"] = [8.0 + 0.003 * k, 8.2 - 0.003 * k, 8.0 + 0.003 * k]
        r["alt_baro_ft"] = 35000.0
        r["ve_ms"] = [200.0, -200.0, 200.0]
        r["vn_ms"] = 0.0
        r["vu_ms"] = 0.0
        fu.add(r[:2], "adsb", 0)
        fu.add(r[2:], "radar", 1)
        fu.release(_T0 + k)
    fu.expire(_T0 + 3, cfg.detection.track_expiry_s)
    run_cycle(fu.picture(_T0 + 3), np.empty(0, dtype=np.int64), cfg.si())
