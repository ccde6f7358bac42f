"""Synthetic air traffic for the screening benchmarks.

:func:`realistic_traffic` imitates the density of Europe's busiest airspace: about one
aircraft per 100 km^2, the region growing with N (area = N * 100 km^2), with about 20
dense terminal clusters per 10,000 aircraft. :func:`stress_traffic` puts N aircraft with
the same mix into a fixed 1000 km x 1000 km box, so the density grows with N.

The mix (:data:`TERMINAL_FRACTION`, ...):

* 30 % of the aircraft are terminal traffic, spread uniformly over discs of radius 40 km
  around the cluster centres (the centres uniform over the region). Level terminal
  aircraft sit on whole thousands of feet from 1000 ft to FL150; climbing or descending
  ones anywhere from the ground to FL150. Ground speed 100-180 m/s.
* 70 % are en route, uniform over the region. Level ones sit on flight levels FL100 to
  FL410 by the semicircular rule (track 000-179: odd thousands of feet; 180-359: even);
  climbing or descending ones anywhere between FL100 and FL410. Ground speed 180-260 m/s.
* 20 % of all aircraft (independently of the above) climb or descend at 5-15 m/s.
* Tracks (headings) are uniform. Flight levels are taken as altitudes (1 ft = 0.3048 m).

Geometry. The region is a latitude/longitude box on the sphere of radius
:data:`EARTH_RADIUS_KM` (the WGS-84 authalic radius, to 0.01 %), centred on 50 N 10 E,
whose spherical area is the requested one: its north-south extent is sqrt(area) (a square
at the centre latitude) but at most :data:`MAX_LAT_SPAN_DEG` (so 1M aircraft, 10^8 km^2,
stay within 15-85 N); the longitude span is then whatever gives the area. Points are
uniform in area on the sphere (sin(latitude) uniform). Terminal aircraft are placed by
east/north offsets in the local tangent plane of their cluster centre, converted to
latitude/longitude with :mod:`kernels.geo` (ENU -> ECEF -> geodetic). Region sizes: 1k
aircraft -> 316 km north-south x 4.4 deg of longitude, 10k -> 1000 km x 14 deg,
100k -> 3160 km (36-64 N) x 45 deg, 1M -> 15-85 N x 191 deg of longitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kernels.geo import ecef_to_geodetic, enu_to_ecef

F64 = npt.NDArray[np.float64]

FT = 0.3048
EARTH_RADIUS_KM = 6371.0072
CENTRE_LAT_DEG = 50.0
CENTRE_LON_DEG = 10.0
MAX_LAT_SPAN_DEG = 70.0
AREA_PER_AIRCRAFT_KM2 = 100.0
CLUSTERS_PER_AIRCRAFT = 20.0 / 10_000.0
TERMINAL_FRACTION = 0.30
CLUSTER_RADIUS_M = 40_000.0
VERTICAL_FRACTION = 0.20
VS_RANGE_MPS = (5.0, 15.0)
TERMINAL_SPEED_MPS = (100.0, 180.0)
ENROUTE_SPEED_MPS = (180.0, 260.0)
TERMINAL_ALT_M = (0.0, 15_000 * FT)
ENROUTE_ALT_M = (10_000 * FT, 41_000 * FT)
STRESS_AREA_KM2 = 1000.0 * 1000.0


@dataclass(frozen=True)
class Region:
    """Latitude/longitude box (degrees) and its spherical area (km^2)."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float
    area_km2: float


@dataclass(frozen=True)
class Traffic:
    """A track table: float64[N] each. Degrees (WGS-84), metres, m/s in each aircraft's
    own east-north-up frame. ``terminal`` (bool[N]) marks the aircraft of the clusters."""

    lat_deg: F64
    lon_deg: F64
    alt_m: F64
    ve: F64
    vn: F64
    vu: F64
    terminal: npt.NDArray[np.bool_]
    region: Region

    @property
    def n(self) -> int:
        """Number of aircraft."""
        return int(self.lat_deg.shape[0])

    def arrays(self) -> tuple[F64, F64, F64, F64, F64, F64]:
        """(lat_deg, lon_deg, alt_m, ve, vn, vu), the screening kernels' argument order."""
        return self.lat_deg, self.lon_deg, self.alt_m, self.ve, self.vn, self.vu


def region_for_area(area_km2: float) -> Region:
    """The lat/lon box centred on 50 N 10 E whose spherical area is ``area_km2`` (km^2).

    North-south extent sqrt(area) km, capped at MAX_LAT_SPAN_DEG; the longitude span
    follows from the area. Raises ValueError if that span would exceed 360 degrees.
    """
    if not area_km2 > 0.0:
        raise ValueError("area must be positive")
    r = EARTH_RADIUS_KM
    dlat = min(math.sqrt(area_km2) / r, math.radians(MAX_LAT_SPAN_DEG))
    lat0 = math.radians(CENTRE_LAT_DEG)
    lat_min = lat0 - dlat / 2
    lat_max = lat0 + dlat / 2
    dlon = area_km2 / (r * r * (math.sin(lat_max) - math.sin(lat_min)))
    if dlon > 2 * math.pi:
        raise ValueError(f"area {area_km2:.3g} km^2 does not fit in the latitude band")
    lon0 = math.radians(CENTRE_LON_DEG)
    return Region(
        math.degrees(lat_min),
        math.degrees(lat_max),
        math.degrees(lon0 - dlon / 2),
        math.degrees(lon0 + dlon / 2),
        area_km2,
    )


def _uniform_in_region(rng: np.random.Generator, region: Region, n: int) -> tuple[F64, F64]:
    """n points uniform in area on the sphere within the box: (lat_deg, lon_deg), [n]."""
    s_lo = math.sin(math.radians(region.lat_min))
    s_hi = math.sin(math.radians(region.lat_max))
    lat = np.degrees(np.arcsin(rng.uniform(s_lo, s_hi, n)))
    lon = rng.uniform(region.lon_min, region.lon_max, n)
    return lat, lon


def _traffic(n: int, seed: int, region: Region) -> Traffic:
    """n aircraft with the module's mix in ``region``."""
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = np.random.default_rng(seed)
    n_clusters = max(1, round(n * CLUSTERS_PER_AIRCRAFT))
    terminal = rng.random(n) < TERMINAL_FRACTION
    vertical = rng.random(n) < VERTICAL_FRACTION
    n_term = int(terminal.sum())

    lat = np.empty(n, dtype=np.float64)
    lon = np.empty(n, dtype=np.float64)
    # En route: uniform over the region.
    lat[~terminal], lon[~terminal] = _uniform_in_region(rng, region, n - n_term)
    # Terminal: uniform over a disc around a cluster centre, in the centre's ENU plane.
    c_lat, c_lon = _uniform_in_region(rng, region, n_clusters)
    which = rng.integers(0, n_clusters, n_term)
    r = CLUSTER_RADIUS_M * np.sqrt(rng.random(n_term))
    theta = rng.uniform(0.0, 2 * math.pi, n_term)
    enu = np.zeros((n_term, 3), dtype=np.float64)
    enu[:, 0] = r * np.sin(theta)
    enu[:, 1] = r * np.cos(theta)
    t_lat = np.empty(n_term, dtype=np.float64)
    t_lon = np.empty(n_term, dtype=np.float64)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(n_clusters + 1))
    for c in range(n_clusters):
        idx = order[bounds[c] : bounds[c + 1]]
        if idx.size == 0:
            continue
        xyz = enu_to_ecef(np.ascontiguousarray(enu[idx]), float(c_lat[c]), float(c_lon[c]), 0.0)
        la, lo, _ = ecef_to_geodetic(xyz)
        t_lat[idx] = la
        t_lon[idx] = lo
    lat[terminal] = t_lat
    lon[terminal] = ((t_lon + 180.0) % 360.0) - 180.0

    # Tracks and speeds.
    track = rng.uniform(0.0, 360.0, n)
    speed = np.where(
        terminal,
        rng.uniform(*TERMINAL_SPEED_MPS, n),
        rng.uniform(*ENROUTE_SPEED_MPS, n),
    )
    ve = speed * np.sin(np.radians(track))
    vn = speed * np.cos(np.radians(track))
    vs = rng.uniform(*VS_RANGE_MPS, n) * np.where(rng.random(n) < 0.5, -1.0, 1.0)
    vu = np.where(vertical, vs, 0.0)

    # Altitudes.
    alt = np.empty(n, dtype=np.float64)
    # Level en route: semicircular rule, odd thousands eastbound, even westbound.
    eastbound = track < 180.0
    odd_levels = np.arange(11_000, 41_001, 2_000) * FT  # FL110 ... FL410
    even_levels = np.arange(10_000, 40_001, 2_000) * FT  # FL100 ... FL400
    lvl_e = odd_levels[rng.integers(0, odd_levels.size, n)]
    lvl_w = even_levels[rng.integers(0, even_levels.size, n)]
    alt_enroute_level = np.where(eastbound, lvl_e, lvl_w)
    alt_enroute_vert = rng.uniform(*ENROUTE_ALT_M, n)
    term_levels = np.arange(1_000, 15_001, 1_000) * FT
    alt_term_level = term_levels[rng.integers(0, term_levels.size, n)]
    alt_term_vert = rng.uniform(*TERMINAL_ALT_M, n)
    alt = np.where(
        terminal,
        np.where(vertical, alt_term_vert, alt_term_level),
        np.where(vertical, alt_enroute_vert, alt_enroute_level),
    ).astype(np.float64)

    return Traffic(
        lat_deg=np.ascontiguousarray(lat, dtype=np.float64),
        lon_deg=np.ascontiguousarray(lon, dtype=np.float64),
        alt_m=np.ascontiguousarray(alt, dtype=np.float64),
        ve=np.ascontiguousarray(ve, dtype=np.float64),
        vn=np.ascontiguousarray(vn, dtype=np.float64),
        vu=np.ascontiguousarray(vu, dtype=np.float64),
        terminal=terminal,
        region=region,
    )


def realistic_traffic(n: int, seed: int = 0) -> Traffic:
    """n aircraft at about one per 100 km^2 (region area n * 100 km^2), with about 20
    terminal clusters per 10,000 aircraft (at least one). See the module docstring."""
    return _traffic(n, seed, region_for_area(max(n, 1) * AREA_PER_AIRCRAFT_KM2))


def stress_traffic(n: int, seed: int = 0) -> Traffic:
    """n aircraft with the same mix in a fixed 1000 km x 1000 km box (10^6 km^2) centred
    on 50 N 10 E: the density, n / 10^6 per km^2, grows with n."""
    return _traffic(n, seed, region_for_area(STRESS_AREA_KM2))
