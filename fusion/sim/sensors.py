"""Sensor models: an ADS-B feeder and Mode S radars turning scenario truth into wire messages.

Every report of a sensor over the whole scenario is generated in one vectorised pass
(truth states, noise, quantisation), then cut into batch messages, one per sensor per
second of data time, encoded with :func:`fusion.schema.encode_batch`. Noise comes from a
Generator seeded by (scenario seed, sensor name), so a sensor's output does not change
when another sensor is added.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Final

import numpy as np

from fusion.schema import ReportArray, empty_reports, encode_batch
from fusion.sim.scenario import F64, FT, I64, Scenario, positions
from kernels import geo

# ADS-B NACp -> estimated position uncertainty, the 95 % horizontal radius (m), DO-260B.
NACP_EPU_M: Final = {11: 3.0, 10: 10.0, 9: 30.0, 8: 92.6, 7: 185.2, 6: 555.6, 5: 926.0}
# A circular Gaussian holds 95 % inside 2.448 sigma per axis.
_R95_PER_SIGMA: Final = math.sqrt(-2.0 * math.log(0.05))


@dataclass(frozen=True)
class AdsbConfig:
    """An ADS-B ground receiver feeding one batch per second of the reports it decoded."""

    name: str = "adsb-1"
    period_s: float = 1.0  # state vectors per aircraft, each aircraft with its own phase
    p_receive: float = 0.98  # share of state vectors received (fruit, garble)
    nacp: tuple[int, ...] = (8, 9, 10)  # per-aircraft NACp drawn from these ...
    nacp_weights: tuple[float, ...] = (0.1, 0.7, 0.2)  # ... with these weights
    sigma_vel_ms: float = 0.5  # per axis; NACv 2 bounds it at 3 m/s (95 %)
    nacv: int = 2
    alt_quantum_ft: float = 25.0
    alt_noise_ft: float = 10.0  # altitude keeping and encoder noise, 1 sigma
    vrate_quantum_fpm: float = 64.0
    latency_s: float = 0.2  # data time of publishing after the end of the second


@dataclass(frozen=True)
class RadarConfig:
    """A rotating Mode S radar with its own tracker, publishing one batch per sector, the
    sector being what the beam swept in one second of data time."""

    name: str
    period_s: float  # antenna rotation
    east_km: float = 0.0  # site, relative to the scenario centre
    north_km: float = 0.0
    height_m: float = 100.0  # site height above the ellipsoid
    max_range_km: float = 400.0  # slant range; the default covers the scenario disc
    p_detect: float = 0.97
    sigma_range_m: float = 40.0
    sigma_az_deg: float = 0.06
    sigma_vel_ms: float = 2.0  # tracker velocity estimate, per horizontal axis
    sigma_vu_ms: float = 0.15  # tracker vertical rate (smoothed: level stays level)
    alt_quantum_ft: float = 25.0  # Mode S altitude
    alt_noise_ft: float = 10.0
    start_azimuth_deg: float | None = None  # beam at t0, clockwise from north; None: seeded
    latency_s: float = 0.1


@dataclass(frozen=True)
class SensorConfig:
    """The sensors of a simulation run."""

    adsb: tuple[AdsbConfig, ...] = (AdsbConfig(),)
    radars: tuple[RadarConfig, ...] = (
        RadarConfig("radar-1", period_s=4.0),  # terminal radar at the centre
        RadarConfig("radar-2", period_s=10.0, east_km=-120.0),  # en-route, 120 km west
    )


DEFAULT_SENSORS: Final = SensorConfig()


@dataclass(frozen=True)
class SimMessage:
    """One message to publish on ``{root}/v1/reports/{feeder}``.

    ``t_pub`` is the data time (UTC epoch s) at which it goes out, after every report in it.
    """

    t_pub: float
    feeder: str
    payload: bytes
    n_reports: int


def build_messages(scenario: Scenario, sensors: SensorConfig = DEFAULT_SENSORS) -> list[SimMessage]:
    """All messages of all sensors over the scenario, sorted by (t_pub, feeder)."""
    out: list[SimMessage] = []
    for a in sensors.adsb:
        out += _batches(scenario, a.name, "adsb", adsb_reports(scenario, a), a.latency_s)
    for r in sensors.radars:
        out += _batches(scenario, r.name, "radar", radar_reports(scenario, r), r.latency_s)
    out.sort(key=lambda m: (m.t_pub, m.feeder))
    return out


def radar_site(scenario: Scenario, radar: RadarConfig) -> tuple[float, float, float]:
    """The radar's (lat_deg, lon_deg, height_m)."""
    cfg = scenario.config
    enu = np.array([[radar.east_km * 1000.0, radar.north_km * 1000.0, 0.0]])
    xyz = geo.enu_to_ecef(enu, cfg.centre_lat_deg, cfg.centre_lon_deg, 0.0)
    lat, lon, _ = geo.ecef_to_geodetic(xyz)
    return float(lat[0]), float(lon[0]), radar.height_m


def adsb_reports(scenario: Scenario, cfg: AdsbConfig) -> ReportArray:
    """Every ADS-B report of the scenario (REPORT_DTYPE[n], sorted by time)."""
    rng = _rng(scenario, cfg.name)
    dur = scenario.duration_s
    eq = np.flatnonzero(scenario.adsb)
    nacp = rng.choice(np.array(cfg.nacp), size=eq.size, p=np.array(cfg.nacp_weights))
    sigma_h = np.array([NACP_EPU_M[int(k)] for k in nacp]) / _R95_PER_SIGMA
    phase = rng.random(eq.size) * cfg.period_s
    k = math.floor(dur / cfg.period_s) + 1
    tau = phase[:, None] + cfg.period_s * np.arange(k)[None, :]
    keep = (tau <= dur) & (rng.random(tau.shape) < cfg.p_receive)
    col = np.broadcast_to(np.arange(eq.size)[:, None], tau.shape)[keep]
    rows, tau = eq[col], tau[keep]
    lat, lon, alt, ve, vn, vu = positions(scenario, scenario.t0 + tau, rows)
    n = tau.size

    sig = sigma_h[col]
    lat_n, lon_n = _offset_latlon(lat, lon, alt, rng.normal(size=n) * sig, rng.normal(size=n) * sig)
    rep = empty_reports(n)
    rep["t"] = scenario.t0 + tau
    rep["icao"] = scenario.icao[rows]
    rep["callsign"] = np.array([c.encode("ascii") for c in scenario.callsign], dtype="S8")[rows]
    rep["lat_deg"] = lat_n
    rep["lon_deg"] = lon_n
    rep["alt_baro_ft"] = _quantise(
        alt / FT + rng.normal(size=n) * cfg.alt_noise_ft, cfg.alt_quantum_ft
    )
    rep["ve_ms"] = ve + rng.normal(size=n) * cfg.sigma_vel_ms
    rep["vn_ms"] = vn + rng.normal(size=n) * cfg.sigma_vel_ms
    # Baro rate in 64 ft/min steps: level flight reads exactly 0.
    rep["vu_ms"] = _quantise(vu / FT * 60.0, cfg.vrate_quantum_fpm) * FT / 60.0
    rep["sigma_h_m"] = sig
    rep["sigma_v_m"] = _alt_sigma_m(cfg.alt_noise_ft, cfg.alt_quantum_ft)
    rep["sigma_vel_ms"] = cfg.sigma_vel_ms
    rep["nacp"] = nacp[col]
    rep["nacv"] = cfg.nacv
    return rep[np.argsort(rep["t"], kind="stable")]


def radar_reports(scenario: Scenario, cfg: RadarConfig) -> ReportArray:
    """Every plot-track report of one radar (REPORT_DTYPE[n], sorted by time).

    A report's time is when the beam swept the aircraft's azimuth. The measurement is
    slant range and azimuth with Gaussian noise, mapped back to latitude/longitude along
    the true elevation (a tracker knows the height from Mode S); velocities and vertical
    rate are a tracker's estimates, truth plus Gaussian noise.
    """
    rng = _rng(scenario, cfg.name)
    lat0, lon0, h0 = radar_site(scenario, cfg)
    az0 = rng.uniform(0.0, 360.0) if cfg.start_azimuth_deg is None else cfg.start_azimuth_deg
    n_ac = scenario.n_aircraft
    track_no = rng.permutation(max(4096, n_ac))[:n_ac]  # the radar's own track numbers

    rows, tau = _sweep_times(scenario, cfg.period_s, az0, (lat0, lon0, h0))
    lat, lon, alt, ve, vn, vu = positions(scenario, scenario.t0 + tau, rows)
    enu = _to_radar_enu(lat, lon, alt, (lat0, lon0, h0))
    rng_m = np.linalg.norm(enu, axis=1)
    keep = (rng_m <= cfg.max_range_km * 1000.0) & (rng.random(tau.size) < cfg.p_detect)
    rows, tau, enu, rng_m = rows[keep], tau[keep], enu[keep], rng_m[keep]
    alt, ve, vn, vu = alt[keep], ve[keep], vn[keep], vu[keep]
    n = tau.size

    az = np.arctan2(enu[:, 0], enu[:, 1])
    el = np.arcsin(enu[:, 2] / rng_m)
    rho = rng_m + rng.normal(size=n) * cfg.sigma_range_m
    az_n = az + np.radians(rng.normal(size=n) * cfg.sigma_az_deg)
    ground = rho * np.cos(el)
    meas = np.stack([ground * np.sin(az_n), ground * np.cos(az_n), rho * np.sin(el)], axis=1)
    lat_n, lon_n, _ = geo.ecef_to_geodetic(geo.enu_to_ecef(meas, lat0, lon0, h0))
    # One number per axis for an elongated error ellipse: the RMS of its two axes.
    sig_range = cfg.sigma_range_m * np.cos(el)
    sig_cross = rng_m * np.cos(el) * math.radians(cfg.sigma_az_deg)
    rep = empty_reports(n)
    rep["t"] = scenario.t0 + tau
    rep["icao"] = scenario.icao[rows]
    rep["track"] = track_no[rows]
    rep["mode3a"] = scenario.mode3a[rows]
    rep["lat_deg"] = lat_n
    rep["lon_deg"] = lon_n
    rep["alt_baro_ft"] = _quantise(
        alt / FT + rng.normal(size=n) * cfg.alt_noise_ft, cfg.alt_quantum_ft
    )
    rep["ve_ms"] = ve + rng.normal(size=n) * cfg.sigma_vel_ms
    rep["vn_ms"] = vn + rng.normal(size=n) * cfg.sigma_vel_ms
    rep["vu_ms"] = vu + rng.normal(size=n) * cfg.sigma_vu_ms
    rep["sigma_h_m"] = np.sqrt(0.5 * (sig_range**2 + sig_cross**2))
    rep["sigma_v_m"] = _alt_sigma_m(cfg.alt_noise_ft, cfg.alt_quantum_ft)
    rep["sigma_vel_ms"] = cfg.sigma_vel_ms
    return rep[np.argsort(rep["t"], kind="stable")]


def _sweep_times(
    scenario: Scenario, period_s: float, az0_deg: float, site: tuple[float, float, float]
) -> tuple[I64, F64]:
    """(aircraft row, scenario time) of every beam crossing in [0, duration], sorted by row.

    The beam is at az0 + 360 t / period; the aircraft's azimuth a(t) moves too. With
    g(t) = (az0 + 360 t / period - a(t)) / 360 the beam crosses the aircraft whenever g
    passes an integer. g is tabulated every quarter turn (so that it passes at most one
    integer a step), crossings interpolated, then refined by two fixed-point steps on the
    exact azimuth; each step shrinks the error by the aircraft's angular rate over the
    beam's, < 0.1 unless the aircraft flies within a few hundred metres of the site.
    """
    if not period_s > 0:
        raise ValueError(f"radar rotation period must be positive, got {period_s}")
    dur = scenario.duration_s
    n = scenario.n_aircraft
    step = period_s / 4.0
    grid = np.arange(math.ceil(dur / step) + 2, dtype=np.float64) * step  # past the end
    lat, lon, alt, _, _, _ = positions(scenario, scenario.t0 + grid)
    enu = _to_radar_enu(lat.ravel(), lon.ravel(), alt.ravel(), site).reshape(n, grid.size, 3)
    az = np.unwrap(np.degrees(np.arctan2(enu[..., 0], enu[..., 1])), period=360.0, axis=1)
    g = (az0_deg + 360.0 * grid / period_s - az) / 360.0
    turn = np.floor(g)
    rows, k = np.nonzero(turn[:, 1:] > turn[:, :-1])
    target = turn[rows, k + 1]
    frac = (target - g[rows, k]) / (g[rows, k + 1] - g[rows, k])
    tau = grid[k] + frac * step
    az_lin = az[rows, k] + frac * (az[rows, k + 1] - az[rows, k])
    for _ in range(2):
        la, lo, al, _, _, _ = positions(scenario, scenario.t0 + tau, rows)
        e = _to_radar_enu(la, lo, al, site)
        a = np.degrees(np.arctan2(e[:, 0], e[:, 1]))
        a = az_lin + (a - az_lin + 180.0) % 360.0 - 180.0  # on the unwrapped branch
        tau = period_s * (360.0 * target + a - az0_deg) / 360.0
    keep = (tau >= 0.0) & (tau <= dur)
    return rows[keep].astype(np.int64), tau[keep]


def _to_radar_enu(lat: F64, lon: F64, alt: F64, site: tuple[float, float, float]) -> F64:
    """Geodetic points (altitude as height) to ENU [n, 3] at the radar site."""
    xyz = geo.geodetic_to_ecef(
        np.ascontiguousarray(lat, dtype=np.float64),
        np.ascontiguousarray(lon, dtype=np.float64),
        np.ascontiguousarray(alt, dtype=np.float64),
    )
    out: F64 = geo.ecef_to_enu(xyz, *site)
    return out


def _offset_latlon(lat: F64, lon: F64, h: F64, de: F64, dn: F64) -> tuple[F64, F64]:
    """Move points by (de, dn) metres east/north, with the WGS-84 radii of curvature."""
    s = np.sin(np.radians(lat))
    w = np.sqrt(1.0 - geo.WGS84_E2 * s * s)
    r_n = geo.WGS84_A / w  # prime vertical
    r_m = geo.WGS84_A * (1.0 - geo.WGS84_E2) / w**3  # meridian
    dlat = np.degrees(dn / (r_m + h))
    dlon = np.degrees(de / ((r_n + h) * np.cos(np.radians(lat))))
    return lat + dlat, (lon + dlon + 180.0) % 360.0 - 180.0


def _quantise(x: F64, q: float) -> F64:
    return np.round(x / q) * q


def _alt_sigma_m(noise_ft: float, quantum_ft: float) -> float:
    """1 sigma of a noisy then quantised altitude: noise and the uniform rounding error."""
    return math.sqrt(noise_ft**2 + quantum_ft**2 / 12.0) * FT


def _rng(scenario: Scenario, name: str) -> np.random.Generator:
    # crc32, not hash(): stable across processes.
    return np.random.default_rng([scenario.config.seed, zlib.crc32(name.encode()), 7])


def _batches(
    scenario: Scenario, feeder: str, kind: str, rep: ReportArray, latency_s: float
) -> list[SimMessage]:
    """Cut time-sorted reports into one message per second of data time; none when a
    second is empty (the schema needs an altitude column, which an empty batch lacks)."""
    sec = np.floor(rep["t"] - scenario.t0).astype(np.int64)
    cuts = np.flatnonzero(np.diff(sec)) + 1
    out = []
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(rep)], strict=True):
        if b <= a:
            continue
        out.append(
            SimMessage(
                t_pub=scenario.t0 + float(sec[a] + 1) + latency_s,
                feeder=feeder,
                payload=encode_batch(feeder, kind, rep[a:b]),
                n_reports=int(b - a),
            )
        )
    return out
