"""Truth motion of simulated aircraft: the ``Motion`` arrays and their straight-line kinematics.

Every aircraft flies a straight line in the east-north plane of its own local origin (a
WGS-84 tangent plane), with a vertical profile that climbs or descends at a constant rate
and optionally levels off. Also the shared array types and unit constants.

Units: metres, m/s, seconds after the scenario start (tau), degrees for latitude and
longitude; altitudes are pressure altitudes treated as heights, in metres. ECEF in metres.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from kernels import geo

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]

NM: Final = 1852.0
FT: Final = 0.3048


@dataclass(frozen=True, eq=False)
class Motion:
    """Truth motion of N aircraft; every field float64[N].

    Position at scenario time tau (s after t0): ENU (e0 + ve tau, n0 + vn tau, 0) about
    (origin_lat_deg, origin_lon_deg) -> ECEF -> geodetic latitude/longitude. Altitude
    alt0 + vu tau (m), held at level_off_m once reached (NaN: no level-off).
    """

    origin_lat_deg: F64
    origin_lon_deg: F64
    e0_m: F64
    n0_m: F64
    ve_ms: F64
    vn_ms: F64
    alt0_m: F64
    vu_ms: F64
    level_off_m: F64

    def __len__(self) -> int:
        return len(self.e0_m)


def _enu_axes(lat_deg: F64, lon_deg: F64) -> tuple[F64, F64]:
    """East and north unit vectors in ECEF at geodetic points: two float64[..., 3]."""
    lat = np.radians(lat_deg)
    lon = np.radians(lon_deg)
    slat, clat, slon, clon = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    east = np.stack([-slon, clon, np.zeros_like(lon)], axis=-1)
    north = np.stack([-slat * clon, -slat * slon, clat], axis=-1)
    return east, north


def _vertical(m: Motion, r: I64, tau: F64) -> tuple[F64, F64]:
    """Altitude (m) and vertical rate (m/s) of aircraft r at times tau (same shapes)."""
    vu = m.vu_ms[r]
    alt = m.alt0_m[r] + vu * tau
    lvl = m.level_off_m[r]
    # NaN level-off compares False both ways: no level-off.
    past = np.where(vu > 0.0, alt >= lvl, alt <= lvl)
    return np.where(past, lvl, alt), np.where(past, 0.0, vu)


def _horizontal_ecef(m: Motion, r: I64, tau: F64) -> tuple[F64, F64, F64]:
    """Tangent-plane points of aircraft r[M] at tau[M] in ECEF [M, 3], and the origin
    frame's east and north axes [M, 3]."""
    lat0 = np.array(m.origin_lat_deg)  # a writable copy: Numba types read-only apart
    lon0 = np.array(m.origin_lon_deg)
    origin: F64 = geo.geodetic_to_ecef(lat0, lon0, np.zeros_like(lat0))[r]
    east, north = _enu_axes(lat0[r], lon0[r])
    e = m.e0_m[r] + m.ve_ms[r] * tau
    n = m.n0_m[r] + m.vn_ms[r] * tau
    return origin + e[:, None] * east + n[:, None] * north, east, north


def kinematics(
    m: Motion, rows: I64, tau: F64, velocity: bool = True
) -> tuple[F64, F64, F64, F64, F64, F64]:
    """State of aircraft ``rows`` at scenario times ``tau`` (broadcast together).

    Returns (lat_deg, lon_deg, alt_m, ve_ms, vn_ms, vu_ms); ve, vn are NaN unless
    ``velocity``.
    """
    rows_b, tau_b = np.broadcast_arrays(rows, tau)
    shape = tau_b.shape
    r = rows_b.ravel()
    s = np.ascontiguousarray(tau_b.ravel())
    xyz, east0, north0 = _horizontal_ecef(m, r, s)
    lat, lon, h = geo.ecef_to_geodetic(xyz)
    alt, vu = _vertical(m, r, s)
    if velocity:
        # The origin-frame velocity is fixed in ECEF; project it on the axes where the
        # aircraft is now, which turn by up to ~1.5 deg over 150 km.
        v = m.ve_ms[r][:, None] * east0 + m.vn_ms[r][:, None] * north0
        east, north = _enu_axes(lat, lon)
        # The reported position is the plane point's foot on the ellipsoid, h below it;
        # the foot moves slower by the radii of curvature over (radii + h), which is
        # 1.5e-4 (0.03 m/s) at 110 km from the origin. Scale so that the velocity is
        # the derivative of the positions.
        w = np.sqrt(1.0 - geo.WGS84_E2 * np.sin(np.radians(lat)) ** 2)
        r_n = geo.WGS84_A / w
        r_m = r_n * (1.0 - geo.WGS84_E2) / (w * w)
        ve = np.einsum("ij,ij->i", v, east) * r_n / (r_n + h)
        vn = np.einsum("ij,ij->i", v, north) * r_m / (r_m + h)
    else:
        ve = vn = np.full(r.shape, np.nan)
    out = (lat, lon, alt, ve, vn, vu)
    return tuple(np.reshape(a, shape) for a in out)  # type: ignore[return-value]


def subpoints(m: Motion, rows: I64, tau: F64) -> tuple[F64, F64]:
    """Sea-level sub-points in ECEF [..., 3] and altitudes [...] (rows, tau broadcast)."""
    lat, lon, alt, _, _, _ = kinematics(m, rows, tau, velocity=False)
    shape = lat.shape
    flat_lat = np.ascontiguousarray(lat.ravel())
    xyz: F64 = geo.geodetic_to_ecef(
        flat_lat, np.ascontiguousarray(lon.ravel()), np.zeros_like(flat_lat)
    )
    return xyz.reshape(*shape, 3), alt


def concat(parts: list[Motion]) -> Motion:
    """The aircraft of ``parts``, in order, as one Motion (fresh arrays)."""
    return Motion(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Motion)))


def motion_of(**cols: Any) -> Motion:
    """A Motion from array-likes by field name, copied to fresh float64 arrays."""
    return Motion(**{k: np.asarray(v, dtype=np.float64).copy() for k, v in cols.items()})


def linear_ecef(m: Motion) -> tuple[F64, F64]:
    """Each aircraft's tangent-plane track as a straight line in ECEF: start points and
    velocities, float64[N, 3] (m, m/s)."""
    lat0 = m.origin_lat_deg.copy()
    lon0 = m.origin_lon_deg.copy()
    origin: F64 = geo.geodetic_to_ecef(lat0, lon0, np.zeros_like(lat0))
    east, north = _enu_axes(lat0, lon0)
    start = origin + m.e0_m[:, None] * east + m.n0_m[:, None] * north
    return start, m.ve_ms[:, None] * east + m.vn_ms[:, None] * north
