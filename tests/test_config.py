"""Configuration: TOML at the edge, SI inside, clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion.config import BrokerAddress, ConfigError, MetricsConfig, load_config


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


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_broker_url() -> None:
    assert BrokerAddress.parse("mqtt://10.0.0.1:1884") == BrokerAddress("10.0.0.1", 1884)
    assert BrokerAddress.parse("localhost") == BrokerAddress("localhost", 1883)
    with pytest.raises(ConfigError):
        BrokerAddress.parse("mqtt://:12")
