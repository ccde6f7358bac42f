"""Configuration: TOML at the edge, SI inside, clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion.config import AlertsConfig, BrokerAddress, ConfigError, MetricsConfig, load_config


def test_defaults_in_si() -> None:
    th = load_config(None).si()
    assert th.sep_h_m == pytest.approx(5 * 1852.0)
    assert th.sep_v_m == pytest.approx(304.8)
    assert th.sep_v_eff_m == pytest.approx(950 * 0.3048)
    assert th.lookahead_s == 120.0 and th.cycle_s == 1.0


def test_file_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('service = "east"\n[detection]\nsep_h_nm = 3\nlookahead_s = 90\n')
    cfg = load_config(p)
    assert cfg.service == "east"
    assert cfg.si().sep_h_m == pytest.approx(3 * 1852.0)
    assert cfg.si().lookahead_s == 90.0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[detection]\nsep_h_km = 9\n", "unknown keys"),
        ("colour = 'red'\n", "unknown keys"),
        ("[detection]\ncycle_s = 0\n", "cycle_s must be > 0"),
        ("[detection]\nsep_v_ft = 'high'\n", "must be a number"),
        ("[detection]\nalt_tolerance_ft = 2000\n", "alt_tolerance_ft"),
        ("broker = 'http://x'\n", "mqtt://"),
        ("root = 'a/+'\n", "wildcards"),
        ("this is not toml", "not valid TOML"),
        ("[fusion]\nreorder_window_s = -1\n", "fusion.reorder_window_s"),
        ("[fusion]\nconfirm_updates = 2.5\n", "whole number"),
        ("[fusion]\nconfirm_updates = 0\n", "confirm_updates"),
        ("[fusion]\ngate = 3\n", "unknown keys in \\[fusion\\]"),
        ("fusion = 3\n", "must be a table"),
        ("[metrics]\nport = 70000\n", "metrics.port"),
        ("[metrics]\nport = 9791.5\n", "metrics.port"),
        ("[metrics]\nport = '9791'\n", "metrics.port"),
        ("[metrics]\nhost = 1\n", "metrics.host"),
        ("[metrics]\npath = '/m'\n", "unknown keys in \\[metrics\\]"),
        ("metrics = 9791\n", "\\[metrics\\] must be a table"),
        ("[alerts]\nconfirm_cycles = 0\n", "alerts.confirm_cycles"),
        ("[alerts]\nconfirm_cycles = 1.5\n", "whole number"),
        ("[alerts]\nimminent_s = -1\n", "alerts.imminent_s"),
        ("[alerts]\nturn_step_s = 0\n", "alerts.turn_step_s"),
        ("[alerts]\nturn_max_deg = 400\n", "turn_max_deg"),
        ("[alerts]\nimminent = 60\n", "unknown keys in \\[alerts\\]"),
        ("airspace = 3\n", "airspace must be a string"),
        ("airspace = ''\n", "airspace must be a file name"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path: Path, text: str, fragment: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_config(p)


def test_fusion_table(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("[fusion]\nreorder_window_s = 2\nconfirm_updates = 4\n")
    f = load_config(p).fusion
    assert f.reorder_window_s == 2.0
    assert f.confirm_updates == 4 and isinstance(f.confirm_updates, int)
    assert f.gate_d2 == 13.8  # untouched keys keep their defaults


def test_metrics_table(tmp_path: Path) -> None:
    assert load_config(None).metrics == MetricsConfig("127.0.0.1", 0)  # off by default
    p = tmp_path / "c.toml"
    p.write_text('[metrics]\nport = 9791\nhost = "0.0.0.0"\n')
    assert load_config(p).metrics == MetricsConfig("0.0.0.0", 9791)


def test_alerts_table(tmp_path: Path) -> None:
    assert load_config(None).alerts == AlertsConfig()
    p = tmp_path / "c.toml"
    p.write_text("[alerts]\nimminent_s = 45\nconfirm_cycles = 2\nturn_max_deg = 0\n")
    cfg = load_config(p)
    a = cfg.alerts
    assert a.imminent_s == 45.0 and a.confirm_cycles == 2 and isinstance(a.confirm_cycles, int)
    th = cfg.si()
    assert th.imminent_s == 45.0 and th.confirm_cycles == 2 and th.turn_max_rad == 0.0
    assert th.hold_h_m == pytest.approx(0.5 * 1852.0)  # untouched keys keep their defaults
    assert th.alt_tolerance_m == pytest.approx(50 * 0.3048)


def test_airspace_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    p = tmp_path / "etc" / "c.toml"
    p.write_text('airspace = "air.toml"\n')
    cfg = load_config(p)
    assert cfg.airspace == str(tmp_path / "etc" / "air.toml")
    with pytest.raises(ConfigError, match=r"airspace file .* does not exist"):
        cfg.load_airspace()
    (tmp_path / "etc" / "air.toml").write_text("")
    asp = cfg.load_airspace()
    assert asp is not None and asp.volumes == ()
    p.write_text(f'airspace = "{tmp_path / "etc" / "air.toml"}"\n')  # absolute stays
    assert load_config(p).airspace == str(tmp_path / "etc" / "air.toml")
    assert load_config(None).load_airspace() is None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_broker_url() -> None:
    assert BrokerAddress.parse("mqtt://10.0.0.1:1884") == BrokerAddress("10.0.0.1", 1884)
    assert BrokerAddress.parse("localhost") == BrokerAddress("localhost", 1883)
    with pytest.raises(ConfigError):
        BrokerAddress.parse("mqtt://:12")
