"""GNSS interference: zones where ADS-B positions are falsified while radar stays true.

As seen in the Eastern Mediterranean since 2023: inside a zone and a time window an
aircraft's GNSS receiver reports a wrong position, either shifted by a few km in one
direction (``mode="offset"``) or pinned to one false place (``mode="jump"``, such as an
airport the spoofer imitates). ADS-B broadcasts that position; the barometric altitude and
(here) the velocity are left true. The NACp broadcast with it either stays as it was
(spoofing: the receiver trusts the fake signal) or drops to a given value (``nacp=0``:
jamming, the receiver knows it is lost). Radars measure range and azimuth and are not
affected.

Whether an aircraft is inside a zone is decided on its true position: the straight-line
distance between its sea-level sub-point and the zone centre (at sea level) is at most
``radius_km``, at a time of applicability t with ``start_s <= t - t0 < end_s``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fusion.sim.measure import nacp_sigma_m, site_of
from fusion.sim.motion import B1, F64, I64
from fusion.sim.scenario import Scenario
from kernels import geo

InterferenceMode = Literal["offset", "jump"]


@dataclass(frozen=True)
class InterferenceZone:
    """One GNSS-interference zone. Distances km, angles degrees, times s after t0.

    mode "offset": the reported position is the true one moved ``offset_km`` towards
    ``bearing_deg`` (clockwise from north, in the aircraft's local east-north plane), plus
    the usual NACp noise. mode "jump": the reported position is the fixed false point
    (``jump_east_km``, ``jump_north_km`` from the scenario centre) plus the usual noise.
    ``nacp``: None keeps the broadcast NACp (spoofing); a value 0..11 replaces it, and the
    reported sigma_h_m follows it (absent, NaN, for 0).
    """

    name: str = "gnss-1"
    east_km: float = 0.0  # zone centre, relative to the scenario centre
    north_km: float = 0.0
    radius_km: float = 50.0
    start_s: float = 0.0  # window [start_s, end_s) after t0
    end_s: float = math.inf
    mode: InterferenceMode = "offset"
    offset_km: float = 3.0  # mode "offset": shift ...
    bearing_deg: float = 90.0  # ... towards this bearing
    jump_east_km: float = 0.0  # mode "jump": the false position
    jump_north_km: float = 0.0
    nacp: int | None = None  # None: NACp unchanged (spoofing); 0: jamming

    def __post_init__(self) -> None:
        if self.mode not in ("offset", "jump"):
            raise ValueError(f"interference mode must be 'offset' or 'jump', got {self.mode!r}")
        if not self.radius_km > 0:
            raise ValueError(f"interference radius_km must be positive, got {self.radius_km}")
        if not self.end_s > self.start_s:
            raise ValueError("interference window needs end_s > start_s")
        if self.nacp is not None and not 0 <= self.nacp <= 11:
            raise ValueError(f"interference nacp must be in 0..11, got {self.nacp}")


@dataclass(frozen=True, eq=False)
class Falsified:
    """Falsified ADS-B positions of n reports: ``zone`` int64[n] (index into the zones,
    -1 where the position is true); ``lat_deg``, ``lon_deg`` float64[n], the positions the
    aircraft believe (before their own noise); ``de_m``, ``dn_m`` float64[n], extra
    displacement east / north to add on top of the noise (m); ``nacp`` int64[n] and
    ``sigma_h_m`` float64[n] as broadcast."""

    zone: I64
    lat_deg: F64
    lon_deg: F64
    de_m: F64
    dn_m: F64
    nacp: I64
    sigma_h_m: F64

    @property
    def mask(self) -> B1:
        out: B1 = self.zone >= 0
        return out


def zone_of(
    scenario: Scenario, zones: Sequence[InterferenceZone], tau: F64, lat: F64, lon: F64
) -> I64:
    """Index of the first zone holding each true position at scenario time tau (s after
    t0), -1 where none does. Arrays [n]."""
    out = np.full(tau.shape, -1, dtype=np.int64)
    if not zones:
        return out
    lat_c = np.ascontiguousarray(lat, dtype=np.float64)
    sub = geo.geodetic_to_ecef(
        lat_c, np.ascontiguousarray(lon, dtype=np.float64), np.zeros_like(lat_c)
    )
    for k, z in enumerate(zones):
        clat, clon, _ = site_of(scenario, z.east_km, z.north_km, 0.0)
        centre = geo.geodetic_to_ecef(np.array([clat]), np.array([clon]), np.zeros(1))
        dist = np.linalg.norm(sub - centre, axis=1)
        hit = (out < 0) & (dist <= z.radius_km * 1000.0) & (tau >= z.start_s) & (tau < z.end_s)
        out[hit] = k
    return out


def falsify(
    scenario: Scenario,
    zones: Sequence[InterferenceZone],
    tau: F64,
    lat: F64,
    lon: F64,
    nacp: I64,
    sigma_h_m: F64,
) -> Falsified:
    """What GNSS interference does to ADS-B reports at scenario times tau with true
    positions (lat, lon) and nominal NACp / sigma_h_m (arrays [n])."""
    zone = zone_of(scenario, zones, tau, lat, lon)
    out = Falsified(
        zone=zone,
        lat_deg=np.array(lat, dtype=np.float64),
        lon_deg=np.array(lon, dtype=np.float64),
        de_m=np.zeros(tau.shape),
        dn_m=np.zeros(tau.shape),
        nacp=np.array(nacp, dtype=np.int64),
        sigma_h_m=np.array(sigma_h_m, dtype=np.float64),
    )
    for k, z in enumerate(zones):
        m = zone == k
        if not m.any():
            continue
        if z.mode == "offset":
            b = math.radians(z.bearing_deg)
            out.de_m[m] = z.offset_km * 1000.0 * math.sin(b)
            out.dn_m[m] = z.offset_km * 1000.0 * math.cos(b)
        else:
            jlat, jlon, _ = site_of(scenario, z.jump_east_km, z.jump_north_km, 0.0)
            out.lat_deg[m] = jlat
            out.lon_deg[m] = jlon
        if z.nacp is not None:
            out.nacp[m] = z.nacp
            out.sigma_h_m[m] = nacp_sigma_m(np.array([z.nacp], dtype=np.int64))[0]
    return out
