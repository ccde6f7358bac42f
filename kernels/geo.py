"""WGS-84 geodesy: geodetic <-> ECEF <-> local east-north-up (ENU).

Pure Numba functions over NumPy arrays; no I/O. Angles are degrees at the public
boundary (that is how positions arrive on the wire), radians inside. Lengths are metres.

The scalar helpers (``*_1``) are ``@njit`` too, so other kernels (cpa, screen) inline
them inside their own loops without allocating.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

# WGS-84 defining constants (NIMA TR8350.2).
WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)

# Fixed-point iterations of the latitude in ecef_to_geodetic. Each one gains about three
# decimal digits near the surface; five leave < 1e-12 rad (< 1e-5 mm) up to 100 km height.
_LAT_ITERATIONS = 5

F64 = npt.NDArray[np.float64]


@njit(cache=True, inline="always")
def geodetic_to_ecef_1(lat_deg: float, lon_deg: float, h_m: float) -> tuple[float, float, float]:
    """One point: WGS-84 latitude, longitude (degrees), ellipsoid height (m) -> ECEF (m)."""
    lat = math.radians(lat_deg)
    lon = math.radians(lon_deg)
    slat = math.sin(lat)
    clat = math.cos(lat)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * slat * slat)
    x = (n + h_m) * clat * math.cos(lon)
    y = (n + h_m) * clat * math.sin(lon)
    z = (n * (1.0 - WGS84_E2) + h_m) * slat
    return x, y, z


@njit(cache=True, inline="always")
def ecef_to_geodetic_1(x: float, y: float, z: float) -> tuple[float, float, float]:
    """One point: ECEF (m) -> latitude, longitude (degrees), ellipsoid height (m).

    The height uses h = p cos(lat) + z sin(lat) - a^2/N, which stays well conditioned at
    the poles where the textbook p / cos(lat) - N divides by zero.
    """
    lon = math.atan2(y, x)
    p = math.hypot(x, y)
    lat = math.atan2(z, p * (1.0 - WGS84_E2))
    for _ in range(_LAT_ITERATIONS):
        slat = math.sin(lat)
        n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * slat * slat)
        lat = math.atan2(z + WGS84_E2 * n * slat, p)
    slat = math.sin(lat)
    clat = math.cos(lat)
    h = p * clat + z * slat - WGS84_A * math.sqrt(1.0 - WGS84_E2 * slat * slat)
    return math.degrees(lat), math.degrees(lon), h


@njit(cache=True, inline="always")
def enu_basis_1(
    lat_deg: float, lon_deg: float
) -> tuple[float, float, float, float, float, float, float, float, float]:
    """Unit vectors east, north, up at a geodetic point, in ECEF:
    (ex, ey, ez, nx, ny, nz, ux, uy, uz)."""
    lat = math.radians(lat_deg)
    lon = math.radians(lon_deg)
    slat = math.sin(lat)
    clat = math.cos(lat)
    slon = math.sin(lon)
    clon = math.cos(lon)
    return (-slon, clon, 0.0, -slat * clon, -slat * slon, clat, clat * clon, clat * slon, slat)


Frame = tuple[float, float, float, float, float, float, float, float, float]


@njit(cache=True, inline="always")
def subpoint_frame_1(lat: float, lon: float) -> Frame:
    """(x, y, z, ex, ey, ez, nx, ny, nz) at latitude, longitude lat, lon (radians): the
    sea-level ECEF point (m) and the east and north unit vectors, from one set of sines
    (geodetic_to_ecef_1 and enu_basis_1 together, for loops that need both)."""
    slat = math.sin(lat)
    clat = math.cos(lat)
    slon = math.sin(lon)
    clon = math.cos(lon)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * slat * slat)
    x = n * clat * clon
    y = n * clat * slon
    z = n * (1.0 - WGS84_E2) * slat
    return x, y, z, -slon, clon, 0.0, -slat * clon, -slat * slon, clat


@njit(cache=True)
def geodetic_to_ecef(lat_deg: F64, lon_deg: F64, h_m: F64) -> F64:
    """Geodetic to ECEF. lat_deg, lon_deg: float64[N] degrees; h_m: float64[N] metres
    above the WGS-84 ellipsoid. Returns float64[N, 3], metres."""
    n = lat_deg.shape[0]
    out = np.empty((n, 3), dtype=np.float64)
    for i in range(n):
        x, y, z = geodetic_to_ecef_1(lat_deg[i], lon_deg[i], h_m[i])
        out[i, 0] = x
        out[i, 1] = y
        out[i, 2] = z
    return out


@njit(cache=True)
def ecef_to_geodetic(xyz: F64) -> tuple[F64, F64, F64]:
    """ECEF float64[N, 3] (m) to (lat_deg, lon_deg, h_m), each float64[N]."""
    n = xyz.shape[0]
    lat = np.empty(n, dtype=np.float64)
    lon = np.empty(n, dtype=np.float64)
    h = np.empty(n, dtype=np.float64)
    for i in range(n):
        lat[i], lon[i], h[i] = ecef_to_geodetic_1(xyz[i, 0], xyz[i, 1], xyz[i, 2])
    return lat, lon, h


@njit(cache=True)
def enu_rotation(lat_deg: float, lon_deg: float) -> F64:
    """Rotation ECEF -> ENU at a geodetic point: float64[3, 3] whose rows are the east,
    north and up unit vectors in ECEF. ``enu = R @ (xyz - origin)``; ``xyz = R.T @ enu``."""
    ex, ey, ez, nx, ny, nz, ux, uy, uz = enu_basis_1(lat_deg, lon_deg)
    r = np.empty((3, 3), dtype=np.float64)
    r[0, 0], r[0, 1], r[0, 2] = ex, ey, ez
    r[1, 0], r[1, 1], r[1, 2] = nx, ny, nz
    r[2, 0], r[2, 1], r[2, 2] = ux, uy, uz
    return r


@njit(cache=True)
def ecef_to_enu(xyz: F64, lat0_deg: float, lon0_deg: float, h0_m: float) -> F64:
    """ECEF points float64[N, 3] (m) to ENU float64[N, 3] (m) about the origin
    (lat0_deg, lon0_deg in degrees, h0_m in metres above the ellipsoid)."""
    x0, y0, z0 = geodetic_to_ecef_1(lat0_deg, lon0_deg, h0_m)
    r = enu_rotation(lat0_deg, lon0_deg)
    n = xyz.shape[0]
    out = np.empty((n, 3), dtype=np.float64)
    for i in range(n):
        dx = xyz[i, 0] - x0
        dy = xyz[i, 1] - y0
        dz = xyz[i, 2] - z0
        for k in range(3):
            out[i, k] = r[k, 0] * dx + r[k, 1] * dy + r[k, 2] * dz
    return out


@njit(cache=True)
def enu_to_ecef(enu: F64, lat0_deg: float, lon0_deg: float, h0_m: float) -> F64:
    """ENU float64[N, 3] (m) about the origin to ECEF float64[N, 3] (m)."""
    x0, y0, z0 = geodetic_to_ecef_1(lat0_deg, lon0_deg, h0_m)
    r = enu_rotation(lat0_deg, lon0_deg)
    n = enu.shape[0]
    out = np.empty((n, 3), dtype=np.float64)
    for i in range(n):
        e = enu[i, 0]
        nn = enu[i, 1]
        u = enu[i, 2]
        out[i, 0] = x0 + r[0, 0] * e + r[1, 0] * nn + r[2, 0] * u
        out[i, 1] = y0 + r[0, 1] * e + r[1, 1] * nn + r[2, 1] * u
        out[i, 2] = z0 + r[0, 2] * e + r[1, 2] * nn + r[2, 2] * u
    return out
