"""Sensor suite of a simulation run, turned into wire messages and per-report truth.

A :class:`SensorConfig` lists the sensors: hear-all ADS-B feeders (:mod:`fusion.sim.adsb`),
rotating radars (:mod:`fusion.sim.radar`), optionally an ADS-B network of receivers with
overlapping coverage and GNSS-interference zones (:mod:`fusion.sim.interference`). Every
report of a sensor over the whole scenario is generated in one vectorised pass, then cut
into batch messages, one per feeder per second of data time (of arrival, for network
receivers), encoded with :func:`fusion.schema.encode_batch`. Noise comes from Generators
seeded by (scenario seed, sensor name, purpose), so a sensor's output does not change
when another sensor is added. Named presets live in :mod:`fusion.sim.presets`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from fusion.schema import ReportArray, encode_batch
from fusion.sim.adsb import (
    AdsbBroadcastConfig,
    AdsbConfig,
    AdsbNetworkConfig,
    AdsbReceiverConfig,
    adsb_feed,
    network_feeds,
)
from fusion.sim.interference import InterferenceZone
from fusion.sim.measure import NACP_EPU_M, FeedOutput
from fusion.sim.radar import RadarConfig, radar_feed, radar_site
from fusion.sim.reporttruth import REPORT_TRUTH_DTYPE, ReportTruthArray
from fusion.sim.scenario import Scenario, positions
from fusion.sim.tracker import TrackerConfig

__all__ = [
    "DEFAULT_SENSORS",
    "NACP_EPU_M",
    "AdsbBroadcastConfig",
    "AdsbConfig",
    "AdsbNetworkConfig",
    "AdsbReceiverConfig",
    "InterferenceZone",
    "RadarConfig",
    "SensorConfig",
    "SimMessage",
    "TrackerConfig",
    "adsb_reports",
    "build_messages",
    "build_messages_with_truth",
    "radar_reports",
    "radar_site",
]


@dataclass(frozen=True)
class SensorConfig:
    """The sensors of a simulation run.

    ``adsb``: hear-all ADS-B feeders; ``radars``: rotating radars; ``adsb_network``:
    aircraft broadcasts heard by receivers with a site and a range (None: none);
    ``interference``: GNSS-interference zones, applied to every ADS-B position (first
    matching zone wins), never to radar. Feeder names must be unique.
    """

    adsb: tuple[AdsbConfig, ...] = (AdsbConfig(),)
    radars: tuple[RadarConfig, ...] = (
        RadarConfig("radar-1", period_s=4.0),  # terminal radar at the centre
        RadarConfig("radar-2", period_s=10.0, east_km=-120.0),  # en-route, 120 km west
    )
    adsb_network: AdsbNetworkConfig | None = None
    interference: tuple[InterferenceZone, ...] = ()

    def feeders(self) -> tuple[str, ...]:
        """Every feeder name, in generation order."""
        names = [a.name for a in self.adsb] + [r.name for r in self.radars]
        if self.adsb_network is not None:
            names += [rx.name for rx in self.adsb_network.receivers]
        return tuple(names)


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
    return [m for m, _, _ in _messages(scenario, sensors)]


def build_messages_with_truth(
    scenario: Scenario, sensors: SensorConfig = DEFAULT_SENSORS
) -> tuple[list[SimMessage], ReportTruthArray]:
    """The messages of :func:`build_messages` and their per-report truth
    (REPORT_TRUTH_DTYPE, one row per report in message then batch-row order)."""
    parts = _messages(scenario, sensors)
    messages = [m for m, _, _ in parts]
    sizes = np.array([m.n_reports for m in messages], dtype=np.int64)
    n = int(sizes.sum())
    out = np.empty(n, dtype=REPORT_TRUTH_DTYPE)
    if n == 0:
        return messages, out
    out["msg"] = np.repeat(np.arange(len(messages)), sizes)
    starts = np.cumsum(sizes) - sizes
    out["row"] = np.arange(n) - np.repeat(starts, sizes)
    out["feeder"] = np.repeat(np.array([m.feeder.encode() for m in messages], "S32"), sizes)
    out["t_pub"] = np.repeat(np.array([m.t_pub for m in messages]), sizes)

    # The rows of each message are a slice of its feed.
    def cat(get: Callable[[FeedOutput], npt.NDArray[Any]]) -> npt.NDArray[Any]:
        return np.concatenate([get(feed)[sl] for _, feed, sl in parts])

    out["t"] = cat(lambda f: f.reports["t"])
    out["aircraft"] = cat(lambda f: f.aircraft)
    out["track"] = cat(lambda f: f.reports["track"])
    out["tx"] = cat(lambda f: f.tx)
    out["zone"] = cat(lambda f: f.zone)
    out["falsified"] = out["zone"] >= 0
    rows = out["aircraft"].astype(np.int64)
    out["icao"] = scenario.icao[rows]
    lat, lon, alt, _, _, _ = positions(scenario, out["t"], rows)
    out["true_lat_deg"], out["true_lon_deg"], out["true_alt_m"] = lat, lon, alt
    return messages, out


def adsb_reports(scenario: Scenario, cfg: AdsbConfig) -> ReportArray:
    """Every report of a hear-all ADS-B feeder (REPORT_DTYPE[n], sorted by time)."""
    return adsb_feed(scenario, cfg).reports


def radar_reports(scenario: Scenario, cfg: RadarConfig) -> ReportArray:
    """Every plot-track report of one radar (REPORT_DTYPE[n], sorted by time)."""
    return radar_feed(scenario, cfg).reports


def _feeds(scenario: Scenario, sensors: SensorConfig) -> list[FeedOutput]:
    names = sensors.feeders()
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"feeder names must be unique; repeated: {', '.join(dup)}")
    zones = sensors.interference
    feeds = [adsb_feed(scenario, a, zones) for a in sensors.adsb]
    feeds += [radar_feed(scenario, r) for r in sensors.radars]
    if sensors.adsb_network is not None:
        feeds += network_feeds(scenario, sensors.adsb_network, zones)
    return feeds


def _messages(
    scenario: Scenario, sensors: SensorConfig
) -> list[tuple[SimMessage, FeedOutput, slice]]:
    """Every message with the feed and the slice of it that it carries, sorted by
    (t_pub, feeder)."""
    out: list[tuple[SimMessage, FeedOutput, slice]] = []
    for feed in _feeds(scenario, sensors):
        out += _batches(scenario, feed)
    out.sort(key=lambda p: (p[0].t_pub, p[0].feeder))
    return out


def _batches(scenario: Scenario, feed: FeedOutput) -> list[tuple[SimMessage, FeedOutput, slice]]:
    """Cut arrival-sorted reports into one message per second of arrival time, published
    ``publish_delay_s`` after the end of that second; none when a second is empty (the
    schema needs an altitude column, which an empty batch lacks)."""
    sec = np.floor(feed.arrival - scenario.t0).astype(np.int64)
    cuts = np.flatnonzero(np.diff(sec)) + 1
    out = []
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(feed)], strict=True):
        if b <= a:
            continue
        msg = SimMessage(
            t_pub=scenario.t0 + float(sec[a] + 1) + feed.publish_delay_s,
            feeder=feed.feeder,
            payload=encode_batch(feed.feeder, feed.kind, feed.reports[a:b]),
            n_reports=int(b - a),
        )
        out.append((msg, feed, slice(int(a), int(b))))
    return out
