"""Shared pieces of the sensor models: seeded noise streams, sensor sites, local geometry,
quantisation, and what a sensor feed hands over to batching (:class:`FeedOutput`).

Units: metres, seconds, degrees for latitude / longitude; sites are given in km east /
north of the scenario centre at the configuration edge.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Final

import numpy as np

from fusion.schema import ReportArray
from fusion.sim.motion import F64, FT, I64
from fusion.sim.scenario import Scenario
from kernels import geo

# ADS-B NACp -> estimated position uncertainty, the 95 % horizontal radius (m), DO-260B.
# NACp 0 (EPU >= 10 NM or unknown) has no bound: its sigma_h_m is reported absent (NaN).
NACP_EPU_M: Final = {
    11: 3.0,
    10: 10.0,
    9: 30.0,
    8: 92.6,
    7: 185.2,
    6: 555.6,
    5: 926.0,
    4: 1852.0,
    3: 3704.0,
    2: 7408.0,
    1: 18520.0,
}
# A circular Gaussian holds 95 % inside 2.448 sigma per axis.
R95_PER_SIGMA: Final = math.sqrt(-2.0 * math.log(0.05))

Site = tuple[float, float, float]  # (lat_deg, lon_deg, height_m above the ellipsoid)

# Stream keys of :func:`sensor_rng`: one independent Generator per (sensor, purpose).
STREAM_MEASURE: Final = 7  # the sensor's measurements (the original and only stream)
STREAM_TRACKER: Final = 8  # a radar tracker's breaks and numbering
STREAM_DELIVERY: Final = 9  # an ADS-B receiver's reception, drop-outs and latency


@dataclass(frozen=True, eq=False)
class FeedOutput:
    """Every report of one feeder over the scenario, with what batching and truth need.

    ``reports`` REPORT_DTYPE[n]; ``arrival`` float64[n]: data time (UTC epoch s) at which
    the feeder holds the report, which picks its batch (one per second of arrival time,
    published ``publish_delay_s`` after the end of that second); ``aircraft`` int64[n]:
    scenario row of the aircraft; ``zone`` int64[n]: the GNSS-interference zone that
    falsified the position, -1 where it is true; ``tx`` int64[n]: id of the ADS-B
    transmission the report carries (the same on every receiver that decoded it and on a
    re-delivered copy), -1 for radar and hear-all feeders. Rows sorted by arrival (stable).
    """

    feeder: str
    kind: str
    reports: ReportArray
    arrival: F64
    aircraft: I64
    zone: I64
    tx: I64
    publish_delay_s: float

    def __len__(self) -> int:
        return len(self.reports)


def sensor_rng(scenario: Scenario, name: str, stream: int = STREAM_MEASURE) -> np.random.Generator:
    """A Generator seeded by (scenario seed, sensor name, stream), so that one sensor's
    draws do not change when another sensor, or another of its own features, is added."""
    # crc32, not hash(): stable across processes.
    return np.random.default_rng([scenario.config.seed, zlib.crc32(name.encode()), stream])


def site_of(scenario: Scenario, east_km: float, north_km: float, height_m: float) -> Site:
    """A sensor site given in km east / north of the scenario centre -> (lat, lon, height)."""
    cfg = scenario.config
    enu = np.array([[east_km * 1000.0, north_km * 1000.0, 0.0]])
    xyz = geo.enu_to_ecef(enu, cfg.centre_lat_deg, cfg.centre_lon_deg, 0.0)
    lat, lon, _ = geo.ecef_to_geodetic(xyz)
    return float(lat[0]), float(lon[0]), height_m


def to_site_enu(lat: F64, lon: F64, alt: F64, site: Site) -> F64:
    """Geodetic points (altitude as height, m) to ENU [n, 3] (m) at a sensor site."""
    xyz = geo.geodetic_to_ecef(
        np.ascontiguousarray(lat, dtype=np.float64),
        np.ascontiguousarray(lon, dtype=np.float64),
        np.ascontiguousarray(alt, dtype=np.float64),
    )
    out: F64 = geo.ecef_to_enu(xyz, *site)
    return out


def offset_latlon(lat: F64, lon: F64, h: F64, de: F64, dn: F64) -> tuple[F64, F64]:
    """Move points by (de, dn) metres east/north, with the WGS-84 radii of curvature."""
    s = np.sin(np.radians(lat))
    w = np.sqrt(1.0 - geo.WGS84_E2 * s * s)
    r_n = geo.WGS84_A / w  # prime vertical
    r_m = geo.WGS84_A * (1.0 - geo.WGS84_E2) / w**3  # meridian
    dlat = np.degrees(dn / (r_m + h))
    dlon = np.degrees(de / ((r_n + h) * np.cos(np.radians(lat))))
    return lat + dlat, (lon + dlon + 180.0) % 360.0 - 180.0


def quantise(x: F64, q: float) -> F64:
    """Round to the nearest multiple of q (same unit as x)."""
    return np.round(x / q) * q


def alt_sigma_m(noise_ft: float, quantum_ft: float) -> float:
    """1 sigma (m) of a noisy then quantised altitude: noise and the uniform rounding error."""
    return math.sqrt(noise_ft**2 + quantum_ft**2 / 12.0) * FT


def nacp_sigma_m(nacp: I64) -> F64:
    """Per-axis 1-sigma (m) for NACp values: the 95 % EPU over 2.448; NaN for NACp 0."""
    table = np.full(12, np.nan)
    for k, epu in NACP_EPU_M.items():
        table[k] = epu / R95_PER_SIGMA
    out: F64 = table[np.asarray(nacp, dtype=np.int64)]
    return out
