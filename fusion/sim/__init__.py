"""Traffic simulator: a seeded scenario with planted conflicts, its truth, and the radar
and ADS-B messages that sensors would publish about it.

``build_scenario(ScenarioConfig(t0=...))`` -> ``Scenario`` (truth via ``truth_dict()``,
``write_truth``); ``build_messages(scenario)`` -> ``list[SimMessage]`` sorted by data time.
"""

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
    AdsbConfig,
    RadarConfig,
    SensorConfig,
    SimMessage,
    build_messages,
)

__all__ = [
    "DEFAULT_SENSORS",
    "AdsbConfig",
    "ConflictTruth",
    "RadarConfig",
    "SafePairTruth",
    "Scenario",
    "ScenarioConfig",
    "SensorConfig",
    "SimMessage",
    "build_messages",
    "build_scenario",
    "positions",
    "write_truth",
]
