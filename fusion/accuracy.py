"""Measurement accuracy of a report: the 1-sigma values the filter weighs it by.

A report states its accuracy as sigmas (sigma_h_m, sigma_v_m, sigma_vel_ms) or, for ADS-B,
as NACp/NACv categories; where it states neither, a default for its sensor kind applies.
Pure functions over record arrays; safe from any thread.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from fusion.schema import SENSOR_KIND_CODE, ReportArray

F64 = npt.NDArray[np.float64]

# A circular Gaussian holds 95 % inside 2.448 sigma per axis: NACp and NACv are 95 % bounds.
_R95_PER_SIGMA: Final = math.sqrt(-2.0 * math.log(0.05))

# NACp -> estimated position uncertainty (95 % horizontal radius, m), DO-260B table 2-71.
# NACp 0 means "unknown": 20 km is as good as saying nothing, and the gates treat it so.
NACP_EPU_M: Final = np.array(
    [20000.0, 18520.0, 7408.0, 3704.0, 1852.0, 926.0, 555.6, 185.2, 92.6, 30.0, 10.0, 3.0]
)
# NACv -> horizontal velocity error bound (95 %, m/s), DO-260B: >= 10, < 10, < 3, < 1, < 0.3.
NACV_BOUND_MS: Final = np.array([15.0, 10.0, 3.0, 1.0, 0.3])

# Per sensor kind (adsb, radar, mlat, partner) when a report states nothing: horizontal
# position m, altitude m (25 ft Mode C/S quantum plus encoder noise), velocity m/s. The
# radar figure is a mid-range plot (40 m in range, 0.06 deg at 150 km); partner feeds are
# assumed to be system tracks of some other tracker, hence coarse.
DEFAULT_SIGMA_H_M: Final = np.array([50.0, 150.0, 50.0, 300.0])
DEFAULT_SIGMA_V_M: Final = np.array([10.0, 10.0, 10.0, 30.0])
DEFAULT_SIGMA_VEL_MS: Final = np.array([1.5, 5.0, 5.0, 10.0])
# Vertical rate, which no report states an accuracy for: ADS-B's 64 ft/min steps (0.33 m/s)
# and a radar tracker's smoothed rate. Without it the filter would take the rate from
# altitude differences alone, and a level pair 1000 ft apart would wander into a
# predicted loss at 120 s.
DEFAULT_SIGMA_VU_MS: Final = np.array([0.3, 0.5, 1.0, 1.0])


def report_sigmas(reports: ReportArray, kind: str) -> tuple[F64, F64, F64, F64]:
    """(sigma_h, sigma_v, sigma_vel, sigma_vu) per report, float64[n] each: horizontal
    position (m, per axis), altitude (m), velocity (m/s, per axis), vertical rate (m/s).
    Stated sigmas win, then NACp/NACv, then the kind's default."""
    k = SENSOR_KIND_CODE[kind]
    # A category (clipped to the table) or, where absent (< 0), the kind's default: one
    # lookup per report rather than a pass per case (this runs on every batch).
    sh = _first(reports["sigma_h_m"], _by_category(reports["nacp"], _NACP_SIGMA[k]))
    sv = _first(reports["sigma_v_m"], np.full(len(reports), DEFAULT_SIGMA_V_M[k]))
    svel = _first(reports["sigma_vel_ms"], _by_category(reports["nacv"], _NACV_SIGMA[k]))
    # A vertical rate counts only beside a pressure altitude (Mode C/S, ADS-B): a rate a
    # 3-D primary radar derives from its elevation angle is metres per second of noise.
    baro = ~np.isnan(reports["alt_baro_ft"])
    svu = np.where(baro, DEFAULT_SIGMA_VU_MS[k], np.nan)
    return sh, sv, svel, svu


def _tables(bounds: F64, defaults: F64) -> F64:
    """Per sensor kind, the 1-sigma of each category (95 % bound / 2.448) followed by the
    kind's default: float64[kinds, categories + 1]."""
    per_cat = bounds / _R95_PER_SIGMA
    return np.array([np.append(per_cat, d) for d in defaults])


_NACP_SIGMA: Final = _tables(NACP_EPU_M, DEFAULT_SIGMA_H_M)
_NACV_SIGMA: Final = _tables(NACV_BOUND_MS, DEFAULT_SIGMA_VEL_MS)


def _by_category(cat: npt.NDArray[np.integer[Any]], table: F64) -> F64:
    """table[category], categories above the table clipped to its last one, absent
    ones (< 0) to its final entry (the default)."""
    last = table.size - 2
    idx = np.where(cat < 0, last + 1, np.minimum(cat, last))
    out: F64 = table[idx]
    return out


def _first(a: F64, b: F64) -> F64:
    """a where positive, else b (a zero sigma would make the filter trust a report
    absolutely)."""
    out = np.where(a > 0.0, a, b)
    return np.asarray(out, dtype=np.float64)
