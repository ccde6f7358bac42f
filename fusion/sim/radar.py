"""Rotating radars: Mode S secondary radars that carry identity, and primary 3-D radars that
carry only their own track number, each with a tracker publishing plot-tracks.

Every report of a radar over the whole scenario is generated in one vectorised pass: the
times the beam sweeps each aircraft, coverage and detection, range / azimuth (/ elevation)
noise, the tracker's velocity estimates, and its track numbers (:mod:`fusion.sim.tracker`).
Radars are not affected by GNSS interference. Units: metres, seconds, degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fusion.schema import empty_reports
from fusion.sim.measure import (
    STREAM_TRACKER,
    FeedOutput,
    Site,
    alt_sigma_m,
    quantise,
    sensor_rng,
    site_of,
    to_site_enu,
)
from fusion.sim.motion import F64, FT, I64
from fusion.sim.scenario import Scenario, positions
from fusion.sim.tracker import TrackerConfig, assign_track_numbers
from kernels import geo


@dataclass(frozen=True)
class RadarConfig:
    """A rotating radar with its own tracker, publishing one batch per sector, the sector
    being what the beam swept in one second of data time.

    Mode S (``primary=False``): the report carries the ICAO address, the Mode 3/A code and
    the Mode S pressure altitude (``alt_baro_ft``); the position comes from slant range and
    azimuth along the true elevation (the tracker knows the height from Mode S).

    Primary 3-D (``primary=True``, a military air-defence radar): no ICAO address, Mode 3/A
    code or callsign, only the radar's own track number; it also measures elevation, with
    ``sigma_el_deg`` noise, and reports the geometric height (``alt_geo_m``) of the measured
    point with ``sigma_v_m = hypot(range cos(el) sigma_el, sigma_range sin(el))``: hundreds
    of metres at 100 km.

    Coverage: slant range <= ``max_range_km`` and elevation >= ``min_elevation_deg`` (None:
    no floor); a sweep outside it is a missed scan. ``tracker`` None keeps one fixed track
    number per aircraft for the whole run; a :class:`TrackerConfig` makes tracks break and
    renumber.
    """

    name: str
    period_s: float  # antenna rotation: 4-5 s terminal, 8-12 s en-route
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
    primary: bool = False  # primary 3-D radar: no identity, height from elevation
    sigma_el_deg: float = 0.15  # primary 3-D only: elevation noise, 1 sigma
    min_elevation_deg: float | None = None  # coverage floor (radar horizon); None: none
    tracker: TrackerConfig | None = None  # None: one fixed track number per aircraft


def radar_site(scenario: Scenario, radar: RadarConfig) -> Site:
    """The radar's (lat_deg, lon_deg, height_m)."""
    return site_of(scenario, radar.east_km, radar.north_km, radar.height_m)


def radar_feed(scenario: Scenario, cfg: RadarConfig) -> FeedOutput:
    """Every plot-track report of one radar, time-sorted, with its truth (aircraft rows).

    A report's time is when the beam swept the aircraft's azimuth. The measurement is
    slant range and azimuth (and elevation for a primary 3-D radar) with Gaussian noise,
    mapped back to latitude/longitude; velocities and vertical rate are a tracker's
    estimates, truth plus Gaussian noise.
    """
    rng = sensor_rng(scenario, cfg.name)
    site = radar_site(scenario, cfg)
    az0 = rng.uniform(0.0, 360.0) if cfg.start_azimuth_deg is None else cfg.start_azimuth_deg
    n_ac = scenario.n_aircraft
    fixed_no = rng.permutation(max(4096, n_ac))[:n_ac]  # one number per aircraft

    rows, tau = _sweep_times(scenario, cfg.period_s, az0, site)
    lat, lon, alt, ve, vn, vu = positions(scenario, scenario.t0 + tau, rows)
    enu = to_site_enu(lat, lon, alt, site)
    rng_m = np.linalg.norm(enu, axis=1)
    covered = rng_m <= cfg.max_range_km * 1000.0
    keep = covered & (rng.random(tau.size) < cfg.p_detect)
    if cfg.min_elevation_deg is not None:
        keep &= enu[:, 2] >= rng_m * math.sin(math.radians(cfg.min_elevation_deg))
    if cfg.tracker is None:
        track_no = fixed_no[rows[keep]]
    else:
        trk = sensor_rng(scenario, cfg.name, STREAM_TRACKER)
        track_no = assign_track_numbers(cfg.tracker, trk, rows, tau, keep)[keep]
    rows, tau, enu, rng_m = rows[keep], tau[keep], enu[keep], rng_m[keep]
    alt, ve, vn, vu = alt[keep], ve[keep], vn[keep], vu[keep]
    n = tau.size

    az = np.arctan2(enu[:, 0], enu[:, 1])
    el = np.arcsin(enu[:, 2] / rng_m)
    rho = rng_m + rng.normal(size=n) * cfg.sigma_range_m
    az_n = az + np.radians(rng.normal(size=n) * cfg.sigma_az_deg)
    alt_noise = rng.normal(size=n) * cfg.alt_noise_ft
    ve_n = ve + rng.normal(size=n) * cfg.sigma_vel_ms
    vn_n = vn + rng.normal(size=n) * cfg.sigma_vel_ms
    vu_n = vu + rng.normal(size=n) * cfg.sigma_vu_ms
    # Mode S: the tracker places the plot at the reported height, along the true elevation.
    el_m = el + np.radians(rng.normal(size=n) * cfg.sigma_el_deg) if cfg.primary else el
    ground = rho * np.cos(el_m)
    meas = np.stack([ground * np.sin(az_n), ground * np.cos(az_n), rho * np.sin(el_m)], axis=1)
    lat_n, lon_n, h_n = geo.ecef_to_geodetic(geo.enu_to_ecef(meas, *site))
    # One number per axis for an elongated error ellipse: the RMS of its two axes.
    sig_range = cfg.sigma_range_m * np.cos(el)
    sig_cross = rng_m * np.cos(el) * math.radians(cfg.sigma_az_deg)
    rep = empty_reports(n)
    rep["t"] = scenario.t0 + tau
    rep["track"] = track_no
    rep["lat_deg"] = lat_n
    rep["lon_deg"] = lon_n
    if cfg.primary:
        rep["alt_geo_m"] = h_n
        rep["sigma_v_m"] = np.hypot(
            rng_m * np.cos(el) * math.radians(cfg.sigma_el_deg), cfg.sigma_range_m * np.sin(el)
        )
    else:
        rep["icao"] = scenario.icao[rows]
        rep["mode3a"] = scenario.mode3a[rows]
        rep["alt_baro_ft"] = quantise(alt / FT + alt_noise, cfg.alt_quantum_ft)
        rep["sigma_v_m"] = alt_sigma_m(cfg.alt_noise_ft, cfg.alt_quantum_ft)
    rep["ve_ms"] = ve_n
    rep["vn_ms"] = vn_n
    rep["vu_ms"] = vu_n
    rep["sigma_h_m"] = np.sqrt(0.5 * (sig_range**2 + sig_cross**2))
    rep["sigma_vel_ms"] = cfg.sigma_vel_ms
    order = np.argsort(rep["t"], kind="stable")
    rep = rep[order]
    return FeedOutput(
        feeder=cfg.name,
        kind="radar",
        reports=rep,
        arrival=rep["t"].copy(),
        aircraft=rows[order],
        zone=np.full(n, -1, dtype=np.int64),
        tx=np.full(n, -1, dtype=np.int64),
        publish_delay_s=cfg.latency_s,
    )


def _sweep_times(
    scenario: Scenario, period_s: float, az0_deg: float, site: Site
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
    enu = to_site_enu(lat.ravel(), lon.ravel(), alt.ravel(), site).reshape(n, grid.size, 3)
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
        e = to_site_enu(la, lo, al, site)
        a = np.degrees(np.arctan2(e[:, 0], e[:, 1]))
        a = az_lin + (a - az_lin + 180.0) % 360.0 - 180.0  # on the unwrapped branch
        tau = period_s * (360.0 * target + a - az0_deg) / 360.0
    keep = (tau >= 0.0) & (tau <= dur)
    return rows[keep].astype(np.int64), tau[keep]
