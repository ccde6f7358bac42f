"""Traffic simulator: a seeded scenario with planted conflicts, its truth, and the radar
and ADS-B messages that sensors would publish about it.

``build_scenario(ScenarioConfig(t0=...))`` -> ``Scenario`` (truth via ``truth_dict()``,
``write_truth``); ``build_messages(scenario, sensors)`` -> ``list[SimMessage]`` sorted by
data time; ``build_messages_with_truth`` also gives the per-report truth
(``write_report_truth``). Sensor suites: ``DEFAULT_SENSORS``, ``FUSION_SENSORS``
(``SENSOR_PRESETS`` by name).
"""

from fusion.sim.interference import InterferenceZone
from fusion.sim.presets import FUSION_SENSORS, SENSOR_PRESETS
from fusion.sim.reporttruth import (
    REPORT_TRUTH_DTYPE,
    read_report_truth,
    report_truth_path,
    track_segments,
    write_report_truth,
)
from fusion.sim.scenario import (
    ConflictTruth,
    SafePairTruth,
    Scenario,
    ScenarioConfig,
    build_scenario,
    positions,
    write_truth,
)
from fusion.sim.sensors import (
    DEFAULT_SENSORS,
    AdsbBroadcastConfig,
    AdsbConfig,
    AdsbNetworkConfig,
    AdsbReceiverConfig,
    RadarConfig,
    SensorConfig,
    SimMessage,
    TrackerConfig,
    build_messages,
    build_messages_with_truth,
)

__all__ = [
    "DEFAULT_SENSORS",
    "FUSION_SENSORS",
    "REPORT_TRUTH_DTYPE",
    "SENSOR_PRESETS",
    "AdsbBroadcastConfig",
    "AdsbConfig",
    "AdsbNetworkConfig",
    "AdsbReceiverConfig",
    "ConflictTruth",
    "InterferenceZone",
    "RadarConfig",
    "SafePairTruth",
    "Scenario",
    "ScenarioConfig",
    "SensorConfig",
    "SimMessage",
    "TrackerConfig",
    "build_messages",
    "build_messages_with_truth",
    "build_scenario",
    "positions",
    "read_report_truth",
    "report_truth_path",
    "track_segments",
    "write_report_truth",
    "write_truth",
]
