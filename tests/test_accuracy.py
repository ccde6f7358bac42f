"""fusion.accuracy: stated sigmas, then NACp/NACv, then the sensor kind's default."""

from __future__ import annotations

import math

import numpy as np

from fusion.accuracy import (
    DEFAULT_SIGMA_H_M,
    DEFAULT_SIGMA_VEL_MS,
    DEFAULT_SIGMA_VU_MS,
    NACP_EPU_M,
    report_sigmas,
)
from fusion.schema import SENSOR_KIND_CODE, empty_reports


def test_precedence_and_vertical_rate_only_with_pressure_altitude() -> None:
    r = empty_reports(4)
    r["sigma_h_m"] = [12.0, np.nan, np.nan, 0.0]  # stated; NACp; default; zero = unstated
    r["nacp"] = [9, 9, -1, -1]
    r["sigma_vel_ms"] = [0.7, np.nan, np.nan, np.nan]
    r["nacv"] = [-1, 2, -1, -1]
    r["alt_baro_ft"] = [35000.0, 35000.0, np.nan, 1000.0]
    r["alt_geo_m"] = [np.nan, np.nan, 9000.0, np.nan]
    sh, _, svel, svu = report_sigmas(r, "adsb")
    r95 = math.sqrt(-2.0 * math.log(0.05))
    adsb = SENSOR_KIND_CODE["adsb"]
    default_h = DEFAULT_SIGMA_H_M[adsb]
    assert sh.tolist() == [12.0, NACP_EPU_M[9] / r95, default_h, default_h]
    assert svel[0] == 0.7
    assert svel[1] == 3.0 / r95  # NACv 2: < 3 m/s at 95 %
    assert svel[2] == DEFAULT_SIGMA_VEL_MS[adsb]
    # A rate beside a geometric height only (3-D primary radar) is not used.
    assert svu[0] == svu[1] == svu[3] == DEFAULT_SIGMA_VU_MS[adsb]
    assert np.isnan(svu[2])
    sh_r, _, _, _ = report_sigmas(r[2:3], "radar")
    assert sh_r[0] == DEFAULT_SIGMA_H_M[SENSOR_KIND_CODE["radar"]]
