"""ADS-B: aircraft broadcasting state vectors, and ground receivers delivering them.

Two models:

- :class:`AdsbConfig`, one feeder that hears every equipped aircraft everywhere, each
  report drawn on its own (the original simulator feed, kept bit for bit);
- :class:`AdsbNetworkConfig`, the aircraft side (:class:`AdsbBroadcastConfig`: about 1 Hz,
  NACp-driven GNSS noise, quantised altitude and rate) heard by several
  :class:`AdsbReceiverConfig` receivers with a site and a range. Receivers whose coverage
  overlaps deliver the SAME broadcast (same time, position, everything) under their own
  feeder names: duplicates across feeders. Each receiver misses messages independently
  (``p_receive``) and in bursts per aircraft (drop-outs), delays each message by a latency
  with jitter and now and then a long hold-up, so that a report can be published in a
  batch after that of a newer report of the same aircraft (out of order), and can deliver
  a message twice (``p_duplicate``).

GNSS interference (:mod:`fusion.sim.interference`) falsifies the broadcast positions, so
every receiver passes on the same false position. Units: metres, seconds, feet and ft/min
where the wire format says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fusion.schema import ReportArray, empty_reports
from fusion.sim.interference import InterferenceZone, falsify
from fusion.sim.measure import (
    STREAM_DELIVERY,
    FeedOutput,
    alt_sigma_m,
    nacp_sigma_m,
    offset_latlon,
    quantise,
    sensor_rng,
    site_of,
    to_site_enu,
)
from fusion.sim.motion import B1, F64, FT, I64
from fusion.sim.scenario import Scenario, positions


class _Transponder(Protocol):
    """What both ADS-B models say about the broadcast state vectors."""

    @property
    def period_s(self) -> float: ...
    @property
    def nacp(self) -> tuple[int, ...]: ...
    @property
    def nacp_weights(self) -> tuple[float, ...]: ...
    @property
    def sigma_vel_ms(self) -> float: ...
    @property
    def nacv(self) -> int: ...
    @property
    def alt_quantum_ft(self) -> float: ...
    @property
    def alt_noise_ft(self) -> float: ...
    @property
    def vrate_quantum_fpm(self) -> float: ...


@dataclass(frozen=True)
class AdsbConfig:
    """An ADS-B ground receiver feeding one batch per second of the reports it decoded.

    It hears every equipped aircraft wherever it is, and draws each report on its own.
    """

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
class AdsbBroadcastConfig:
    """The aircraft side of an ADS-B network: what every equipped aircraft broadcasts.

    ``name`` only seeds the noise stream.
    """

    name: str = "adsb-tx"
    period_s: float = 1.0  # state vectors per aircraft, each aircraft with its own phase
    nacp: tuple[int, ...] = (8, 9, 10)  # per-aircraft NACp drawn from these ...
    nacp_weights: tuple[float, ...] = (0.1, 0.7, 0.2)  # ... with these weights
    sigma_vel_ms: float = 0.5  # per axis; NACv 2 bounds it at 3 m/s (95 %)
    nacv: int = 2
    alt_quantum_ft: float = 25.0
    alt_noise_ft: float = 10.0  # altitude keeping and encoder noise, 1 sigma
    vrate_quantum_fpm: float = 64.0


@dataclass(frozen=True)
class AdsbReceiverConfig:
    """One ADS-B ground receiver of a network, publishing as feeder ``name``.

    Coverage: slant range from the site <= ``range_km`` (line of sight is not modelled).
    Reception: each message with ``p_receive``, except during drop-outs: bursts per
    aircraft starting every ``dropout_interval_s`` on average (Poisson; inf: none) and
    lasting ``dropout_mean_s`` on average (exponential). Latency of a message: fixed
    ``latency_s`` + exponential jitter of mean ``latency_jitter_s`` + with probability
    ``p_late`` a hold-up uniform in [``late_min_s``, ``late_max_s``]. A received message
    is delivered a second time with probability ``p_duplicate``, up to
    ``duplicate_max_delay_s`` later (uniform). Batches hold what arrived in one second of
    data time, published at the end of that second.
    """

    name: str
    east_km: float = 0.0  # site, relative to the scenario centre
    north_km: float = 0.0
    height_m: float = 50.0  # site height above the ellipsoid
    range_km: float = 250.0  # slant range
    p_receive: float = 0.95
    dropout_interval_s: float = math.inf  # mean time between drop-out starts, per aircraft
    dropout_mean_s: float = 10.0  # mean drop-out length
    latency_s: float = 0.1
    latency_jitter_s: float = 0.1  # mean of the exponential part
    p_late: float = 0.0
    late_min_s: float = 1.5
    late_max_s: float = 4.0
    p_duplicate: float = 0.0
    duplicate_max_delay_s: float = 3.0

    def __post_init__(self) -> None:
        for field in ("p_receive", "p_late", "p_duplicate"):
            v = getattr(self, field)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"receiver {self.name}: {field} must be in 0..1, got {v}")
        if not (self.dropout_interval_s > 0 and self.dropout_mean_s > 0):
            raise ValueError(f"receiver {self.name}: drop-out interval and length must be > 0")
        if not (
            self.latency_s >= 0 and self.latency_jitter_s >= 0 and self.duplicate_max_delay_s >= 0
        ):
            raise ValueError(f"receiver {self.name}: latencies must be >= 0")
        if not 0 <= self.late_min_s <= self.late_max_s:
            raise ValueError(f"receiver {self.name}: need 0 <= late_min_s <= late_max_s")


@dataclass(frozen=True)
class AdsbNetworkConfig:
    """Aircraft broadcasts heard by a set of receivers with overlapping coverage."""

    broadcast: AdsbBroadcastConfig = AdsbBroadcastConfig()
    receivers: tuple[AdsbReceiverConfig, ...] = ()


@dataclass(frozen=True, eq=False)
class Broadcast:
    """Every state vector broadcast during the run: ``reports`` REPORT_DTYPE[n] (as
    transmitted, falsified where interference says so), ``aircraft`` int64[n], ``zone``
    int64[n] (interference zone, -1 none), true positions ``lat_deg``, ``lon_deg``,
    ``alt_m`` float64[n] at the report times. Sorted by time."""

    reports: ReportArray
    aircraft: I64
    zone: I64
    lat_deg: F64
    lon_deg: F64
    alt_m: F64

    def __len__(self) -> int:
        return len(self.reports)


def adsb_feed(
    scenario: Scenario, cfg: AdsbConfig, zones: Sequence[InterferenceZone] = ()
) -> FeedOutput:
    """Every report of a hear-all ADS-B feeder (time-sorted), with its truth."""
    rng = sensor_rng(scenario, cfg.name)
    eq, nacp, tau = _schedule(scenario, rng, cfg)
    keep = (tau <= scenario.duration_s) & (rng.random(tau.shape) < cfg.p_receive)
    col = np.broadcast_to(np.arange(eq.size)[:, None], tau.shape)[keep]
    rep, zone, _ = _state_vectors(scenario, rng, cfg, zones, eq[col], tau[keep], nacp[col])
    order = np.argsort(rep["t"], kind="stable")
    rep = rep[order]
    return FeedOutput(
        feeder=cfg.name,
        kind="adsb",
        reports=rep,
        arrival=rep["t"].copy(),
        aircraft=eq[col][order],
        zone=zone[order],
        tx=np.full(len(rep), -1, dtype=np.int64),
        publish_delay_s=cfg.latency_s,
    )


def broadcast(
    scenario: Scenario, cfg: AdsbBroadcastConfig, zones: Sequence[InterferenceZone] = ()
) -> Broadcast:
    """Every state vector the equipped aircraft broadcast during the run."""
    rng = sensor_rng(scenario, cfg.name)
    eq, nacp, tau = _schedule(scenario, rng, cfg)
    keep = tau <= scenario.duration_s
    col = np.broadcast_to(np.arange(eq.size)[:, None], tau.shape)[keep]
    rows = eq[col]
    rep, zone, (lat, lon, alt) = _state_vectors(
        scenario, rng, cfg, zones, rows, tau[keep], nacp[col]
    )
    order = np.argsort(rep["t"], kind="stable")
    return Broadcast(
        reports=rep[order],
        aircraft=rows[order],
        zone=zone[order],
        lat_deg=lat[order],
        lon_deg=lon[order],
        alt_m=alt[order],
    )


def receive(scenario: Scenario, rx: AdsbReceiverConfig, bc: Broadcast) -> FeedOutput:
    """What one receiver of a network delivers of the broadcasts ``bc``, in arrival order.

    ``tx`` in the result is the broadcast's row in ``bc``.
    """
    rng = sensor_rng(scenario, rx.name, STREAM_DELIVERY)
    n = len(bc)
    site = site_of(scenario, rx.east_km, rx.north_km, rx.height_m)
    enu = to_site_enu(bc.lat_deg, bc.lon_deg, bc.alt_m, site)
    in_range = np.linalg.norm(enu, axis=1) <= rx.range_km * 1000.0
    tau = bc.reports["t"] - scenario.t0
    got = in_range & (rng.random(n) < rx.p_receive)
    got &= ~_in_dropout(scenario, rng, rx, bc.aircraft, tau)
    delay = rx.latency_s + rng.exponential(1.0, n) * rx.latency_jitter_s
    late = rng.random(n) < rx.p_late
    delay += np.where(late, rng.uniform(rx.late_min_s, rx.late_max_s, n), 0.0)
    again = got & (rng.random(n) < rx.p_duplicate)
    extra = rng.uniform(0.0, rx.duplicate_max_delay_s, n)
    arrival = bc.reports["t"] + delay
    sel = np.r_[np.flatnonzero(got), np.flatnonzero(again)]
    arr = np.r_[arrival[got], arrival[again] + extra[again]]
    order = np.argsort(arr, kind="stable")
    sel, arr = sel[order], arr[order]
    return FeedOutput(
        feeder=rx.name,
        kind="adsb",
        reports=bc.reports[sel],
        arrival=arr,
        aircraft=bc.aircraft[sel],
        zone=bc.zone[sel],
        tx=sel.astype(np.int64),
        publish_delay_s=0.0,
    )


def network_feeds(
    scenario: Scenario, net: AdsbNetworkConfig, zones: Sequence[InterferenceZone] = ()
) -> list[FeedOutput]:
    """One feed per receiver of the network, all hearing the same broadcasts."""
    if not net.receivers:
        return []
    bc = broadcast(scenario, net.broadcast, zones)
    return [receive(scenario, rx, bc) for rx in net.receivers]


def _schedule(
    scenario: Scenario, rng: np.random.Generator, cfg: _Transponder
) -> tuple[I64, I64, F64]:
    """Equipped aircraft rows [m], their NACp [m], and their broadcast times tau [m, k]
    (s after t0, each aircraft with its own phase; the last column may pass the end)."""
    eq = np.flatnonzero(scenario.adsb)
    nacp = rng.choice(np.array(cfg.nacp), size=eq.size, p=np.array(cfg.nacp_weights))
    phase = rng.random(eq.size) * cfg.period_s
    k = math.floor(scenario.duration_s / cfg.period_s) + 1
    tau = phase[:, None] + cfg.period_s * np.arange(k)[None, :]
    return eq.astype(np.int64), nacp.astype(np.int64), tau


def _state_vectors(
    scenario: Scenario,
    rng: np.random.Generator,
    cfg: _Transponder,
    zones: Sequence[InterferenceZone],
    rows: I64,
    tau: F64,
    nacp: I64,
) -> tuple[ReportArray, I64, tuple[F64, F64, F64]]:
    """Broadcast state vectors of aircraft ``rows`` at scenario times ``tau`` with NACp
    ``nacp`` (arrays [n]): GNSS noise (per axis sigma from the NACp), interference,
    quantised altitude and vertical rate, noisy velocity. Returns the reports, the
    interference zone of each (-1 none) and the true (lat_deg, lon_deg, alt_m)."""
    lat, lon, alt, ve, vn, vu = positions(scenario, scenario.t0 + tau, rows)
    n = tau.size
    sig = nacp_sigma_m(nacp)
    de = rng.normal(size=n) * sig
    dn = rng.normal(size=n) * sig
    rep = empty_reports(n)
    if zones:
        f = falsify(scenario, zones, tau, lat, lon, nacp, sig)
        lat_n, lon_n = offset_latlon(f.lat_deg, f.lon_deg, alt, de + f.de_m, dn + f.dn_m)
        zone, nacp_out, sig_out = f.zone, f.nacp, f.sigma_h_m
    else:
        lat_n, lon_n = offset_latlon(lat, lon, alt, de, dn)
        zone, nacp_out, sig_out = np.full(n, -1, dtype=np.int64), nacp, sig
    rep["t"] = scenario.t0 + tau
    rep["icao"] = scenario.icao[rows]
    rep["callsign"] = np.array([c.encode("ascii") for c in scenario.callsign], dtype="S8")[rows]
    rep["lat_deg"] = lat_n
    rep["lon_deg"] = lon_n
    rep["alt_baro_ft"] = quantise(
        alt / FT + rng.normal(size=n) * cfg.alt_noise_ft, cfg.alt_quantum_ft
    )
    rep["ve_ms"] = ve + rng.normal(size=n) * cfg.sigma_vel_ms
    rep["vn_ms"] = vn + rng.normal(size=n) * cfg.sigma_vel_ms
    # Baro rate in 64 ft/min steps: level flight reads exactly 0.
    rep["vu_ms"] = quantise(vu / FT * 60.0, cfg.vrate_quantum_fpm) * FT / 60.0
    rep["sigma_h_m"] = sig_out
    rep["sigma_v_m"] = alt_sigma_m(cfg.alt_noise_ft, cfg.alt_quantum_ft)
    rep["sigma_vel_ms"] = cfg.sigma_vel_ms
    rep["nacp"] = nacp_out
    rep["nacv"] = cfg.nacv
    return rep, zone, (lat, lon, alt)


def _in_dropout(
    scenario: Scenario, rng: np.random.Generator, rx: AdsbReceiverConfig, rows: I64, tau: F64
) -> B1:
    """Which messages (aircraft ``rows``, scenario times ``tau``) fall in a drop-out burst of
    their aircraft at this receiver. Bursts start as a Poisson process per aircraft over
    [-dropout_mean_s, duration] and last an exponential time."""
    out = np.zeros(tau.shape, dtype=np.bool_)
    if math.isinf(rx.dropout_interval_s):
        return out
    dur = scenario.duration_s
    lo, hi = -rx.dropout_mean_s, dur
    counts = rng.poisson((hi - lo) / rx.dropout_interval_s, size=scenario.n_aircraft)
    b_row = np.repeat(np.arange(scenario.n_aircraft), counts)
    b_start = rng.uniform(lo, hi, size=b_row.size)
    b_end = np.clip(b_start + rng.exponential(rx.dropout_mean_s, size=b_row.size), -1.0, hi + 1)
    b_start = np.maximum(b_start, -1.0)
    # Rows apart by more than any time: one sorted key axis, running max of ends per row.
    span = dur + 4.0
    order = np.lexsort((b_start, b_row))
    start_key = b_row[order] * span + b_start[order]
    end_key = np.maximum.accumulate(b_row[order] * span + b_end[order])
    key = rows * span + tau
    j = np.searchsorted(start_key, key, side="right") - 1
    hit = j >= 0
    out[hit] = end_key[j[hit]] > key[hit]
    return out
