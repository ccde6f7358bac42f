"""Service configuration: a TOML file at the edge (aviation units), SI inside.

``ServiceConfig`` mirrors the file: names carry their unit (``sep_h_nm``, ``sep_v_ft``).
``ServiceConfig.si()`` gives the :class:`Thresholds` the kernels read, in metres and seconds.

Example file (every key optional)::

    broker = "mqtt://127.0.0.1:1883"
    root = "airspace"
    service = "fusion-1"
    airspace = "airspace.toml"   # volumes file (docs/volumes.md), relative to this file

    [detection]
    cycle_s = 1.0
    lookahead_s = 120.0
    sep_h_nm = 5.0
    sep_v_ft = 1000.0

    [alerts]
    imminent_s = 60.0
    confirm_cycles = 3

    [fusion]
    reorder_window_s = 1.0
    confirm_updates = 3

    [metrics]
    host = "127.0.0.1"
    port = 9791   # 0 (the default): no metrics endpoint

    [ingest]
    max_rows = 250000   # report rows waiting for the engine; past it: coalesce, count shed
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from fusion.volumes import AirspaceVolumes

NM = 1852.0  # metres per nautical mile (exact, by definition)
FT = 0.3048  # metres per foot (exact, international foot)
FPM = FT / 60.0  # metres per second per foot-per-minute


class ConfigError(ValueError):
    """The configuration is unusable; ``str(err)`` says which key and why."""


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse ``mqtt://host:port`` (port defaults to 1883)."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme != "mqtt":
            raise ConfigError(f"broker URL {url!r}: only mqtt://host:port is supported")
        if not parts.hostname:
            raise ConfigError(f"broker URL {url!r} has no host")
        try:
            port = parts.port or 1883
        except ValueError as exc:
            raise ConfigError(f"broker URL {url!r}: {exc}") from None
        return cls(parts.hostname, port)

    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


@dataclass(frozen=True)
class DetectionConfig:
    """Detection and alerting parameters, in the units controllers use."""

    cycle_s: float = 1.0
    lookahead_s: float = 120.0
    sep_h_nm: float = 5.0
    sep_v_ft: float = 1000.0
    # Altitudes arrive quantised to 25 ft (Mode S, ADS-B) or 100 ft (Mode C): two aircraft
    # level at adjacent flight levels can read 975 ft apart. Vertical loss is declared only
    # below sep_v_ft - alt_tolerance_ft so that such pairs are not alerted.
    alt_tolerance_ft: float = 50.0
    # Vertical rates below this are treated as level flight: ADS-B reports rate in 64 ft/min
    # steps and radar trackers' rates jitter, and 128 ft/min held for 120 s would eat
    # a quarter of the 1000 ft between adjacent levels.
    level_rate_fpm: float = 200.0
    # A track with no report for this long (data time) is removed.
    track_expiry_s: float = 20.0
    # An alert ends after the pair has stayed clear this long (data time).
    alert_end_s: float = 3.0
    # An open alert is re-published ("update") when a figure moves by more than a step.
    update_step_s: float = 5.0
    update_step_nm: float = 0.25


@dataclass(frozen=True)
class AlertsConfig:
    """Alert lifecycle and prediction hypotheses (fusion.alerts, fusion.detect), in the
    units controllers use. docs/architecture.md ("Alert lifecycle") gives the reasons."""

    # Severity "imminent": a predicted loss of separation less than this far ahead.
    imminent_s: float = 60.0
    # Hysteresis of the severities: imminent falls back to predicted only once the time to
    # loss exceeds imminent_s + severity_margin_s, and loss falls back only once the next
    # loss is more than severity_margin_s ahead (escalation needs no margin).
    severity_margin_s: float = 10.0
    # A prediction must hold for this many consecutive cycles before it is alerted; a
    # current loss of separation is alerted at once.
    confirm_cycles: int = 3
    # Hysteresis of the conflict test itself: an open alert is held (no update, no end)
    # while the pair would lose its minima widened by hold_margin_nm within the look-ahead
    # lengthened by hold_margin_s. Vertical minima are never widened: a pair level at
    # adjacent flight levels must not hold an alert open.
    hold_margin_nm: float = 0.5
    hold_margin_s: float = 20.0
    # Turn hypothesis: a track whose heading turned faster than turn_rate_min_dps over the
    # last turn_window_s (and flies faster than turn_min_speed_kt) is also predicted on an
    # arc, its turn continuing at the same rate for at most turn_max_deg (0: no turn
    # hypothesis), sampled every turn_step_s. 30 degrees, not 90: in the alert benchmark's
    # terminal area a 90-degree continuation of every turn onto final swung each arrival
    # back at the next one on the base leg (39 % of all alerts were nuisances; 4 % with 30).
    turn_rate_min_dps: float = 1.0
    turn_window_s: float = 5.0
    turn_max_deg: float = 30.0
    turn_min_speed_kt: float = 60.0
    turn_step_s: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (v >= 0 and v < math.inf):
                raise ConfigError(f"alerts.{f.name} must be finite and >= 0, got {v}")
        if self.confirm_cycles < 1 or self.confirm_cycles != int(self.confirm_cycles):
            raise ConfigError(
                f"alerts.confirm_cycles must be a whole number >= 1, got {self.confirm_cycles}"
            )
        for name in ("turn_window_s", "turn_step_s", "turn_rate_min_dps"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"alerts.{name} must be > 0, got {getattr(self, name)}")
        if self.turn_max_deg > 360.0:
            raise ConfigError(f"alerts.turn_max_deg must be at most 360, got {self.turn_max_deg}")


@dataclass(frozen=True)
class FusionConfig:
    """Multi-sensor fusion parameters (fusion.fuser); SI units, as a tracker engineer
    states them."""

    reorder_window_s: float = 1.0  # data time a report waits for stragglers
    q_h: float = 2.0  # horizontal process noise density, m^2/s^3 (~0.5 m/s^2 over 4 s)
    q_v: float = 0.5  # vertical, m^2/s^3
    confirm_updates: int = 3  # updates before a track is published and screened
    gate_d2: float = 13.8  # kinematic association gate: chi-square 2 dof, 99.9 %
    integrity_d2: float = 13.8  # ADS-B against a radar-supported track, same quantile
    identity_d2: float = 100.0  # 10 sigma off its own track: another aircraft
    radar_support_s: float = 15.0  # a radar update this recent makes a track "radar-seen"
    assoc_radius_m: float = 20_000.0  # candidate search radius for kinematic association
    merge_releases: int = 3  # consecutive matching releases before an anonymous track merges
    merge_speed_ms: float = 25.0  # velocities that far apart are two aircraft

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (v >= 0 and v < float("inf")):
                raise ConfigError(f"fusion.{f.name} must be finite and >= 0, got {v}")
        if self.confirm_updates < 1 or self.merge_releases < 1:
            raise ConfigError("fusion.confirm_updates and fusion.merge_releases must be >= 1")


@dataclass(frozen=True)
class MetricsConfig:
    """The Prometheus endpoint (fusion.metrics): ``http://{host}:{port}/metrics``.

    ``port`` 0 turns it off, the default: a service should not open a listening port
    nobody asked for, and two services on one machine would fight over a fixed one.
    ``host`` defaults to the loopback interface; set it to ``0.0.0.0`` (or one address)
    for a Prometheus on another machine.
    """

    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError(f"metrics.host must be a non-empty string, got {self.host!r}")
        port = self.port
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"metrics.port must be a whole number 0..65535, got {port!r}")


# A quarter of a second of input at 1M reports/s, 2.5 s at 100,000/s: room for the
# bursts of batch feeders (a receiver's second, a radar's sector) and for the input that
# arrives while the engine runs a detection cycle over tens of thousands of tracks.
DEFAULT_INGEST_MAX_ROWS: Final = 250_000


@dataclass(frozen=True)
class IngestConfig:
    """The ingest buffer between the MQTT reader and the engine (fusion.ingest; TOML table
    ``[ingest]``).

    ``max_rows``: the most report rows that wait for the engine, at 108 bytes each (the
    default, 250,000, is 27 MB); past it the buffer coalesces to the newest report per
    (feeder, sensor track) and counts what it sheds. Larger absorbs longer bursts and
    slower cycles before shedding, at the price of memory and, under overload, of latency:
    the engine takes the whole buffer at once, so one pass over it can take up to
    ``max_rows`` / fusion rate seconds (about 0.6 s at 400,000 reports/s).
    """

    max_rows: int = DEFAULT_INGEST_MAX_ROWS

    def __post_init__(self) -> None:
        v = self.max_rows
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise ConfigError(f"ingest.max_rows must be a whole number >= 2, got {v!r}")


@dataclass(frozen=True)
class Thresholds:
    """Detection parameters in SI: metres, seconds, m/s."""

    cycle_s: float
    lookahead_s: float
    sep_h_m: float
    sep_v_m: float
    sep_v_eff_m: float
    level_rate_ms: float
    track_expiry_s: float
    alert_end_s: float
    update_step_s: float
    update_step_m: float
    alt_tolerance_m: float
    imminent_s: float
    severity_margin_s: float
    confirm_cycles: int
    hold_h_m: float  # horizontal widening of the hold band, m
    hold_s: float  # lengthening of the look-ahead for the hold band, s
    turn_rate_min: float  # rad/s
    turn_window_s: float
    turn_max_rad: float  # 0: no turn hypothesis
    turn_min_speed_ms: float
    turn_step_s: float


@dataclass(frozen=True)
class ServiceConfig:
    broker: str = "mqtt://127.0.0.1:1883"
    root: str = "airspace"
    service: str = "fusion"
    # Airspace volumes file (docs/volumes.md); a relative path in a configuration file is
    # resolved against that file's directory by load_config. None: no volumes, the
    # [detection] minima everywhere, every track eligible.
    airspace: str | None = None
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)

    def __post_init__(self) -> None:
        BrokerAddress.parse(self.broker)
        if not self.root or any(c in self.root for c in "+#"):
            raise ConfigError(f"root {self.root!r} must be a non-empty topic without wildcards")
        if not self.service or any(c in self.service for c in "/+#"):
            raise ConfigError(f"service {self.service!r} must be one topic level")
        if self.airspace is not None and (not isinstance(self.airspace, str) or not self.airspace):
            raise ConfigError(f"airspace must be a file name, got {self.airspace!r}")
        d = self.detection
        positive = ("cycle_s", "lookahead_s", "sep_h_nm", "sep_v_ft", "track_expiry_s")
        for name in positive:
            if not getattr(d, name) > 0:
                raise ConfigError(f"detection.{name} must be > 0, got {getattr(d, name)}")
        for name in (
            "alt_tolerance_ft",
            "level_rate_fpm",
            "alert_end_s",
            "update_step_s",
            "update_step_nm",
        ):
            if not getattr(d, name) >= 0:
                raise ConfigError(f"detection.{name} must be >= 0, got {getattr(d, name)}")
        if d.alt_tolerance_ft >= d.sep_v_ft:
            raise ConfigError("detection.alt_tolerance_ft must be below detection.sep_v_ft")

    @property
    def broker_address(self) -> BrokerAddress:
        return BrokerAddress.parse(self.broker)

    def si(self) -> Thresholds:
        d = self.detection
        a = self.alerts
        return Thresholds(
            cycle_s=d.cycle_s,
            lookahead_s=d.lookahead_s,
            sep_h_m=d.sep_h_nm * NM,
            sep_v_m=d.sep_v_ft * FT,
            sep_v_eff_m=(d.sep_v_ft - d.alt_tolerance_ft) * FT,
            level_rate_ms=d.level_rate_fpm * FPM,
            track_expiry_s=d.track_expiry_s,
            alert_end_s=d.alert_end_s,
            update_step_s=d.update_step_s,
            update_step_m=d.update_step_nm * NM,
            alt_tolerance_m=d.alt_tolerance_ft * FT,
            imminent_s=a.imminent_s,
            severity_margin_s=a.severity_margin_s,
            confirm_cycles=int(a.confirm_cycles),
            hold_h_m=a.hold_margin_nm * NM,
            hold_s=a.hold_margin_s,
            turn_rate_min=math.radians(a.turn_rate_min_dps),
            turn_window_s=a.turn_window_s,
            turn_max_rad=math.radians(a.turn_max_deg),
            turn_min_speed_ms=a.turn_min_speed_kt * NM / 3600.0,
            turn_step_s=a.turn_step_s,
        )

    def load_airspace(self) -> AirspaceVolumes | None:
        """The airspace volumes named by ``airspace`` (ConfigError if unusable), or None."""
        if self.airspace is None:
            return None
        from fusion.volumes import load_volumes  # fusion.volumes imports this module

        return load_volumes(self.airspace)

    def with_broker(self, broker: str | None) -> ServiceConfig:
        return self if broker is None else replace(self, broker=broker)


def load_config(path: str | Path | None) -> ServiceConfig:
    """Read a TOML configuration file; ``None`` gives the defaults."""
    if path is None:
        return ServiceConfig()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {p} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {p} is not valid TOML: {exc}") from None
    cfg = config_from_dict(data, source=str(p))
    if cfg.airspace is not None:
        # Relative to the configuration file, not to wherever the service was started.
        cfg = replace(cfg, airspace=str(p.parent / Path(cfg.airspace).expanduser()))
    return cfg


def config_from_dict(data: dict[str, Any], source: str = "configuration") -> ServiceConfig:
    top = {f.name for f in fields(ServiceConfig)}
    unknown = set(data) - top
    if unknown:
        raise ConfigError(f"{source}: unknown keys {sorted(unknown)}; known: {sorted(top)}")
    detection = DetectionConfig(**_table(data, "detection", DetectionConfig, source))
    fusion_vals = _table(data, "fusion", FusionConfig, source)
    ints = {f.name for f in fields(FusionConfig) if f.type in ("int", int)}
    for k in ints & set(fusion_vals):
        if fusion_vals[k] != int(fusion_vals[k]):
            raise ConfigError(f"{source}: fusion.{k} must be a whole number")
        fusion_vals[k] = int(fusion_vals[k])
    fusion = FusionConfig(**fusion_vals)  # type: ignore[arg-type]
    alerts_vals = _table(data, "alerts", AlertsConfig, source)
    if "confirm_cycles" in alerts_vals:
        n = alerts_vals["confirm_cycles"]
        if n != int(n):
            raise ConfigError(f"{source}: alerts.confirm_cycles must be a whole number")
        alerts_vals["confirm_cycles"] = int(n)
    try:
        alerts = AlertsConfig(**alerts_vals)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    metrics = _metrics_table(data, source)
    ingest = _ingest_table(data, source)
    tables = ("detection", "alerts", "fusion", "metrics", "ingest")
    top_values = {k: v for k, v in data.items() if k not in tables}
    for k, v in top_values.items():
        if not isinstance(v, str):
            raise ConfigError(f"{source}: {k} must be a string, got {v!r}")
    return ServiceConfig(
        **top_values,
        detection=detection,
        alerts=alerts,
        fusion=fusion,
        metrics=metrics,
        ingest=ingest,
    )


def _ingest_table(data: dict[str, Any], source: str) -> IngestConfig:
    """Table [ingest]: ``max_rows`` a whole number (TOML integer, or a float without a
    fraction)."""
    tab = data.get("ingest", {})
    if not isinstance(tab, dict):
        raise ConfigError(f"{source}: [ingest] must be a table")
    known = {f.name for f in fields(IngestConfig)}
    unknown = set(tab) - known
    if unknown:
        raise ConfigError(
            f"{source}: unknown keys in [ingest] {sorted(unknown)}; known: {sorted(known)}"
        )
    vals = dict(tab)
    v = vals.get("max_rows")
    if isinstance(v, float) and v.is_integer():
        vals["max_rows"] = int(v)
    try:
        return IngestConfig(**vals)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _metrics_table(data: dict[str, Any], source: str) -> MetricsConfig:
    """Table [metrics]: ``host`` a string, ``port`` a whole number (not the numbers-only
    tables that ``_table`` reads)."""
    tab = data.get("metrics", {})
    if not isinstance(tab, dict):
        raise ConfigError(f"{source}: [metrics] must be a table")
    known = {f.name for f in fields(MetricsConfig)}
    unknown = set(tab) - known
    if unknown:
        raise ConfigError(
            f"{source}: unknown keys in [metrics] {sorted(unknown)}; known: {sorted(known)}"
        )
    try:
        return MetricsConfig(**tab)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _table(data: dict[str, Any], name: str, cls: type, source: str) -> dict[str, float]:
    """The numbers of table [name], checked against the fields of dataclass cls."""
    tab = data.get(name, {})
    if not isinstance(tab, dict):
        raise ConfigError(f"{source}: [{name}] must be a table")
    known = {f.name for f in fields(cls)}
    unknown = set(tab) - known
    if unknown:
        raise ConfigError(
            f"{source}: unknown keys in [{name}] {sorted(unknown)}; known: {sorted(known)}"
        )
    for k, v in tab.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{source}: {name}.{k} must be a number, got {v!r}")
    return {k: float(v) for k, v in tab.items()}
