"""Named sensor suites for the simulator.

``default``: one hear-all ADS-B feeder and two Mode S radars with fixed track numbers,
what the service without fusion expects (its messages are kept bit for bit).

``fusion``: everything a multi-sensor fusion has to cope with: a terminal Mode S radar
(4.5 s, 110 km) and an en-route one (10 s, 400 km) whose tracks break and renumber, a
primary 3-D military radar (6 s) without identity that reports geometric height, three
ADS-B receivers with overlapping coverage (duplicates across feeders), latency jitter and
hold-ups (out-of-order delivery), drop-outs and re-deliveries, and two GNSS-interference
zones: one shifting positions by 4 km with the NACp kept (spoofing), one pinning them to a
false place with NACp 0. Distances km from the scenario centre (default scenario: a 150 km
disc), times s after t0.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from fusion.sim.adsb import AdsbNetworkConfig, AdsbReceiverConfig
from fusion.sim.interference import InterferenceZone
from fusion.sim.radar import RadarConfig
from fusion.sim.sensors import DEFAULT_SENSORS, SensorConfig
from fusion.sim.tracker import TrackerConfig

_MODE_S_TRACKER: Final = TrackerConfig(coast_scans=3, p_break=0.002)
_PRIMARY_TRACKER: Final = TrackerConfig(coast_scans=2, p_break=0.005)
_RX: Final = AdsbReceiverConfig(
    "adsb-rx",
    p_receive=0.95,
    dropout_interval_s=240.0,
    dropout_mean_s=8.0,
    latency_s=0.1,
    latency_jitter_s=0.15,
    p_late=0.02,
    p_duplicate=0.005,
)

FUSION_SENSORS: Final = SensorConfig(
    adsb=(),
    radars=(
        RadarConfig(
            "radar-tma", period_s=4.5, max_range_km=110.0, p_detect=0.95, tracker=_MODE_S_TRACKER
        ),
        RadarConfig(
            "radar-enr", period_s=10.0, east_km=-120.0, p_detect=0.95, tracker=_MODE_S_TRACKER
        ),
        RadarConfig(
            "radar-mil",
            period_s=6.0,
            east_km=80.0,
            north_km=60.0,
            max_range_km=300.0,
            min_elevation_deg=0.0,
            p_detect=0.9,
            sigma_range_m=60.0,
            sigma_az_deg=0.1,
            sigma_vel_ms=3.0,
            sigma_vu_ms=2.0,
            primary=True,
            sigma_el_deg=0.15,
            tracker=_PRIMARY_TRACKER,
        ),
    ),
    adsb_network=AdsbNetworkConfig(
        receivers=(
            replace(_RX, name="adsb-rx-1", east_km=-60.0, north_km=20.0, range_km=160.0),
            replace(_RX, name="adsb-rx-2", east_km=60.0, north_km=-10.0, range_km=160.0),
            replace(  # over a mobile link: slower, more hold-ups
                _RX,
                name="adsb-rx-3",
                north_km=90.0,
                range_km=120.0,
                latency_s=0.4,
                latency_jitter_s=0.3,
                p_late=0.05,
            ),
        )
    ),
    interference=(
        InterferenceZone(
            "gnss-spoof",
            east_km=70.0,
            north_km=-60.0,
            radius_km=45.0,
            start_s=120.0,
            end_s=480.0,
            mode="offset",
            offset_km=4.0,
            bearing_deg=45.0,
        ),
        InterferenceZone(
            "gnss-jam",
            east_km=-70.0,
            north_km=70.0,
            radius_km=40.0,
            start_s=60.0,
            end_s=540.0,
            mode="jump",
            jump_east_km=-40.0,
            jump_north_km=110.0,
            nacp=0,
        ),
    ),
)

SENSOR_PRESETS: Final[dict[str, SensorConfig]] = {
    "default": DEFAULT_SENSORS,
    "fusion": FUSION_SENSORS,
}
