"""kernels.geo against pyproj (EPSG:4979 <-> EPSG:4978, PROJ's topocentric conversion) and
against its own inverses: poles, the antimeridian, heights -500 m .. 100 km."""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from kernels.geo import (
    ecef_to_enu,
    ecef_to_geodetic,
    enu_rotation,
    enu_to_ecef,
    geodetic_to_ecef,
)
from tests.reference import WGS84_A, enu_axes_ref

F64 = npt.NDArray[np.float64]

MM = 1e-3
# Our own round trips are limited by float64 rounding of ~6.4e6 m coordinates (~1e-9 m).
ROUND_TRIP_M = 1e-6

lats = st.one_of(
    st.sampled_from([90.0, -90.0, 0.0, 89.999999, -89.999999]),
    st.floats(-90.0, 90.0, allow_nan=False),
)
lons = st.one_of(
    st.sampled_from([180.0, -180.0, 0.0, 179.99, -179.99, 179.9999999]),
    st.floats(-180.0, 180.0, allow_nan=False),
)
heights = st.one_of(st.sampled_from([-500.0, 0.0, 1e5]), st.floats(-500.0, 1e5, allow_nan=False))
points = st.lists(st.tuples(lats, lons, heights), min_size=1, max_size=40)


@functools.cache
def _fwd() -> Transformer:
    return Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)


@functools.cache
def _inv() -> Transformer:
    return Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)


def _arrays(pts: list[tuple[float, float, float]]) -> tuple[F64, F64, F64]:
    a = np.array(pts, dtype=np.float64).reshape(-1, 3)
    return a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy()


def _pyproj_ecef(lat: F64, lon: F64, h: F64) -> F64:
    x, y, z = _fwd().transform(lon, lat, h)
    return np.stack([x, y, z], axis=-1)


def _geodetic_gap_m(
    lat1: F64, lon1: F64, h1: F64, lat2: F64, lon2: F64, h2: F64
) -> tuple[F64, F64]:
    """Horizontal (m, small-angle, longitude wrapped) and vertical (m) gaps between
    geodetic points, so that tolerances are in metres at any latitude."""
    r = WGS84_A + np.maximum(h1, 0.0)
    dlat = np.radians(lat1 - lat2)
    dlon = np.radians((lon1 - lon2 + 180.0) % 360.0 - 180.0)
    horiz = r * np.hypot(dlat, dlon * np.cos(np.radians(lat1)))
    return horiz, np.abs(h1 - h2)


@settings(max_examples=60, deadline=None)
@given(points)
def test_geodetic_to_ecef_matches_pyproj(pts: list[tuple[float, float, float]]) -> None:
    lat, lon, h = _arrays(pts)
    got = geodetic_to_ecef(lat, lon, h)
    want = _pyproj_ecef(lat, lon, h)
    assert got.shape == (len(pts), 3)
    assert got.dtype == np.float64
    assert np.max(np.linalg.norm(got - want, axis=1)) < MM


@settings(max_examples=60, deadline=None)
@given(points)
def test_ecef_to_geodetic_matches_pyproj(pts: list[tuple[float, float, float]]) -> None:
    lat, lon, h = _arrays(pts)
    xyz = _pyproj_ecef(lat, lon, h)
    got_lat, got_lon, got_h = ecef_to_geodetic(xyz)
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    want_lon, want_lat, want_h = _inv().transform(x, y, z)
    horiz, vert = _geodetic_gap_m(got_lat, got_lon, got_h, want_lat, want_lon, want_h)
    assert np.max(horiz) < MM
    assert np.max(vert) < MM
    assert np.all(np.abs(got_lat) <= 90.0)
    assert np.all(np.abs(got_lon) <= 180.0)


@settings(max_examples=60, deadline=None)
@given(points)
def test_geodetic_round_trip(pts: list[tuple[float, float, float]]) -> None:
    lat, lon, h = _arrays(pts)
    xyz = geodetic_to_ecef(lat, lon, h)
    lat2, lon2, h2 = ecef_to_geodetic(xyz)
    horiz, vert = _geodetic_gap_m(lat, lon, h, lat2, lon2, h2)
    assert np.max(horiz) < ROUND_TRIP_M
    assert np.max(vert) < ROUND_TRIP_M
    back = geodetic_to_ecef(lat2, lon2, h2)
    assert np.max(np.linalg.norm(back - xyz, axis=1)) < ROUND_TRIP_M


def test_poles_and_antimeridian_explicitly() -> None:
    lat = np.array([90.0, -90.0, 0.0, 0.0, 45.0, 45.0])
    lon = np.array([0.0, 123.0, 180.0, -180.0, 179.99, -179.99])
    h = np.array([0.0, 100e3, -500.0, 0.0, 10e3, 10e3])
    xyz = geodetic_to_ecef(lat, lon, h)
    b = WGS84_A * (1.0 - 1.0 / 298.257223563)
    # Poles sit on the axis at +-(b + h); +-180 degrees is the same meridian.
    assert np.hypot(xyz[0, 0], xyz[0, 1]) < MM
    assert abs(xyz[0, 2] - b) < MM
    assert abs(xyz[1, 2] + b + 100e3) < MM
    assert np.linalg.norm(xyz[2] - geodetic_to_ecef(lat[3:4], lon[3:4], h[2:3])[0]) < MM
    # 179.99 E and 179.99 W are 0.02 degrees of longitude apart, not 359.98.
    gap = np.linalg.norm(xyz[4] - xyz[5])
    assert 1000.0 < gap < 2000.0
    lat2, lon2, h2 = ecef_to_geodetic(xyz)
    horiz, vert = _geodetic_gap_m(lat, lon, h, lat2, lon2, h2)
    assert np.max(horiz) < ROUND_TRIP_M
    assert np.max(vert) < ROUND_TRIP_M


origins = st.tuples(lats, lons, heights)
offsets = st.lists(
    st.tuples(*(st.floats(-2e5, 2e5, allow_nan=False) for _ in range(3))), min_size=1, max_size=20
)


@settings(max_examples=40, deadline=None)
@given(origins, offsets)
def test_enu_matches_proj_topocentric(
    origin: tuple[float, float, float], offs: list[tuple[float, float, float]]
) -> None:
    lat0, lon0, h0 = origin
    o = _pyproj_ecef(np.array([lat0]), np.array([lon0]), np.array([h0]))[0]
    xyz = o + np.array(offs, dtype=np.float64)
    topo = Transformer.from_pipeline(
        f"+proj=topocentric +ellps=WGS84 +lat_0={lat0!r} +lon_0={lon0!r} +h_0={h0!r}"
    )
    e, n, u = topo.transform(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    got = ecef_to_enu(xyz, lat0, lon0, h0)
    assert np.max(np.linalg.norm(got - np.stack([e, n, u], axis=-1), axis=1)) < MM


@settings(max_examples=60, deadline=None)
@given(origins, offsets)
def test_enu_round_trip(
    origin: tuple[float, float, float], offs: list[tuple[float, float, float]]
) -> None:
    lat0, lon0, h0 = origin
    enu = np.array(offs, dtype=np.float64)
    xyz = enu_to_ecef(enu, lat0, lon0, h0)
    back = ecef_to_enu(xyz, lat0, lon0, h0)
    assert np.max(np.linalg.norm(back - enu, axis=1)) < ROUND_TRIP_M
    # The origin itself is the ENU origin.
    o = geodetic_to_ecef(np.array([lat0]), np.array([lon0]), np.array([h0]))
    assert np.linalg.norm(ecef_to_enu(o, lat0, lon0, h0)[0]) < ROUND_TRIP_M


@settings(max_examples=60, deadline=None)
@given(lats, lons, heights)
def test_enu_up_is_the_ellipsoid_normal(lat0: float, lon0: float, h0: float) -> None:
    # A point 1000 m higher at the same latitude and longitude is straight up.
    above = geodetic_to_ecef(np.array([lat0]), np.array([lon0]), np.array([h0 + 1000.0]))
    enu = ecef_to_enu(above, lat0, lon0, h0)[0]
    assert np.linalg.norm(enu - np.array([0.0, 0.0, 1000.0])) < ROUND_TRIP_M

    r = enu_rotation(lat0, lon0)
    assert np.allclose(r @ r.T, np.eye(3), rtol=0.0, atol=1e-14)
    assert np.isclose(np.linalg.det(r), 1.0, rtol=0.0, atol=1e-14)
    east, north, up = enu_axes_ref(np.array([lat0]), np.array([lon0]))
    assert np.allclose(r, np.stack([east[0], north[0], up[0]]), rtol=0.0, atol=1e-12)
