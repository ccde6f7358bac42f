"""The command line: help, the alert view's lines, and the demo stopping cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from fusion.alertview import format_error, format_json, format_line
from fusion.cli import _service_config, build_parser
from fusion.config import MetricsConfig

EVENT = {
    "v": 1, "alert_id": "3C6585-3C8A21-20261125T071203Z", "event": "new",
    "severity": "predicted", "t": 1764054723.0, "t_opened": 1764054723.0,
    "a": {"icao": "3C6585", "callsign": "DLH4AB", "track": None, "feeder": "adsb-1"},
    "b": {"icao": None, "callsign": None, "track": 17, "feeder": "radar-1"},
    "time_to_los_s": 74.0, "t_cpa_s": 96.5, "d_cpa_nm": 0.23, "dz_cpa_ft": 0.0,
    "d_now_nm": 22.1, "dz_now_ft": 0.0, "reason": None,
    "thresholds": {"sep_h_nm": 5.0, "sep_v_ft": 1000.0},
}  # fmt: skip


@pytest.mark.parametrize("command", ["run", "simulate", "alerts", "demo"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    assert "usage: fusion " + command in capsys.readouterr().out


def test_run_takes_metrics_and_log_level_options(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[metrics]\nport = 9791\nhost = "0.0.0.0"\n')
    args = build_parser().parse_args(["run", "--config", str(conf), "--log-level", "debug"])
    assert args.log_level == "DEBUG"
    assert _service_config(args).metrics == MetricsConfig("0.0.0.0", 9791)  # the file's
    args = build_parser().parse_args(
        ["run", "--config", str(conf), "--metrics-port", "0", "--metrics-host", "::1"]
    )
    assert _service_config(args).metrics == MetricsConfig("::1", 0)  # the command line wins
    args = build_parser().parse_args(["run"])
    assert args.log_level == "WARNING" and _service_config(args).metrics.port == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--metrics-port", "65536"],
        ["run", "--metrics-port", "http"],
        ["run", "--log-level", "CHATTY"],
    ],
)
def test_run_refuses_bad_options(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "usage: fusion run" in capsys.readouterr().err


def test_run_takes_an_airspace_file(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('airspace = "from-config.toml"\n')
    args = build_parser().parse_args(["run", "--config", str(conf)])
    assert _service_config(args).airspace == str(tmp_path / "from-config.toml")
    args = build_parser().parse_args(["run", "--config", str(conf), "--airspace", "mine.toml"])
    assert _service_config(args).airspace == "mine.toml"  # the command line wins


def test_run_with_a_bad_airspace_file_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "air.toml"
    bad.write_text("[[volume]]\nname = 'X'\nkind = 'separation'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "fusion", "run", "--broker", "mqtt://127.0.0.1:9",
         "--airspace", str(bad)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "configuration error" in proc.stderr and "volume 'X'" in proc.stderr


def test_alert_line_is_readable() -> None:
    line = format_line(EVENT)
    assert line.startswith("07:12:03Z NEW    PREDICTED 3C6585 DLH4AB / radar-1.17")
    assert "LoS in 1m14s" in line and "0.2 NM" in line and EVENT["alert_id"] in line
    assert "\n" not in line


def test_alert_json_is_one_object_per_line() -> None:
    ev = {**EVENT, "time_to_los_s": float("inf")}
    out = json.loads(format_json(ev, "open"))
    assert out["time_to_los_s"] is None and out["view"] == "open"
    live = format_json(EVENT)
    assert "\n" not in live
    assert json.loads(live) == {**EVENT, "view": "event"}  # every field of the payload
    err = json.loads(format_error("airspace/v1/alerts/events", "boom", as_json=True))
    assert err == {"view": "error", "topic": "airspace/v1/alerts/events", "error": "boom"}


def test_demo_shows_alerts_and_ctrl_c_leaves_nothing_behind() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fusion", "demo", "--speed", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"demo ended early: {lines}"
            lines.append(line)
            if not children:
                children = psutil.Process(proc.pid).children(recursive=True)
            if re.match(r"\d\d:\d\d:\d\dZ NEW ", line):
                break
        else:
            raise AssertionError(f"no alert within 120 s: {lines}")
        port = int(re.search(r"127\.0\.0\.1:(\d+)", lines[0]).group(1))  # type: ignore[union-attr]
        assert any("mosquitto" in c.name() for c in children)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "stopped" in rest
        _gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
