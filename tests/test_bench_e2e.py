"""The end-to-end benchmark: the closing-publish lookup and the histogram quantiles against
hand-computed values, the feeder's batches, and a ``python -m bench e2e --quick`` run
(a real Mosquitto, `fusion run`, the feeder) checked for its JSON and PNG."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.e2e import closing_publish, histogram_quantiles, saturation
from bench.e2e_feed import Feed, FeedConfig
from fusion.schema import decode_message, encode_batch

ROOT = Path(__file__).resolve().parent.parent


def test_closing_publish_is_the_first_batch_newer_than_the_boundary_plus_window() -> None:
    # Batches in publish order with the newest report time in each (a late radar sector,
    # t_max 9.5, comes after one with 10.2: the running maximum decides).
    feed = {
        "pub": np.array([100.0, 101.0, 102.0, 103.0, 104.0]),
        "t_max": np.array([9.0, 10.2, 9.5, 11.0, 11.5]),
    }
    # Cycle 9 runs once data passes 10 (window 1 s): first batch with t_max > 10 is #1.
    # Cycle 10 needs > 11: #4 (11.0 is not past it). Cycle 11 needs > 12: never.
    got = closing_publish(feed, np.array([9.0, 10.0, 11.0]))
    assert got[:2].tolist() == [101.0, 104.0] and math.isnan(got[2])


def test_histogram_quantiles_interpolate_within_buckets() -> None:
    a = {"0.1": 0.0, "0.2": 0.0, "0.5": 0.0, "+Inf": 0.0}
    # 10 observations: 4 at or below 0.1, 4 in (0.1, 0.2], 2 in (0.2, 0.5].
    b = {"0.1": 4.0, "0.2": 8.0, "0.5": 10.0, "+Inf": 10.0}
    p50, p90, p100 = histogram_quantiles(a, b, (0.5, 0.9, 1.0))
    assert p50 == pytest.approx(0.1 + 0.1 * (5 - 4) / 4)
    assert p90 == pytest.approx(0.2 + 0.3 * (9 - 8) / 2)
    assert p100 == pytest.approx(0.5)
    assert histogram_quantiles(b, b, (0.5,)) == [None]
    # Beyond the largest finite bound: that bound.
    c = {"0.1": 0.0, "0.2": 0.0, "0.5": 0.0, "+Inf": 3.0}
    assert histogram_quantiles(a, c, (0.5,)) == [0.5]


def test_saturation_point_is_the_first_step_that_sheds_or_whose_latency_climbs() -> None:
    def step(hz: int, offered: float, shed: float, p99: float) -> dict[str, Any]:
        return {
            "adsb_hz": hz,
            "offered_reports_per_s": offered,
            "applied_reports_per_s": offered,
            "shed_reports": shed,
            "latency_p99_s": p99,
        }

    sat = saturation([step(2, 50e3, 0, 0.1), step(4, 90e3, 0, 0.25), step(6, 130e3, 0, 0.4)])
    assert sat["saturation_offered_reports_per_s"] == 130e3
    assert sat["saturation_reason"] == "latency p99 climbing"
    assert sat["max_unshed_applied_reports_per_s"] == 130e3
    sat = saturation([step(2, 50e3, 0, 0.1), step(4, 90e3, 5, 0.1)])
    assert sat["saturation_offered_reports_per_s"] == 90e3
    assert sat["saturation_reason"] == "shedding"
    assert sat["max_unshed_applied_reports_per_s"] == 50e3


def test_feeder_batches_one_per_receiver_per_second_and_per_radar_sector() -> None:
    epoch = float(math.floor(time.time()))
    feed = Feed(FeedConfig(n=2000, epoch=epoch, adsb_hz=2))
    s = epoch + 3.0
    out = feed.second(s, 2)
    adsb = [o for o in out if o.kind == "adsb"]
    radar = [o for o in out if o.kind == "radar"]
    # ADS-B: every aircraft twice in [s, s + 1), one batch per receiver, after the second.
    assert sum(len(o.reports) for o in adsb) == 4000
    assert len({o.feeder for o in adsb}) == len(adsb) <= feed.receivers
    assert all(o.t_pub == s + 1.1 for o in adsb)
    assert all(s <= o.reports["t"].min() and o.reports["t"].max() < s + 1 for o in adsb)
    # Radar: a batch per sector ending in [s, s + 1) (4 s, 8 sectors: 2 a second), each
    # published after its reports, its aircraft in range.
    assert radar and {o.feeder for o in radar} <= {f"radar-{k}" for k in range(feed.radars)}
    assert max(Counter(o.feeder for o in radar).values()) <= 2  # empty sectors send nothing
    for o in radar:
        assert o.reports["t"].max() <= o.t_pub - 0.1 + 1e-9
        assert o.reports["t"].min() > o.t_pub - 0.1 - 0.5 - 1e-9
    # Every batch is valid for the service.
    for o in out:
        d = decode_message(encode_batch(o.feeder, o.kind, o.reports), o.feeder)
        assert d.rejected_rows.size == 0 and d.n_total == len(o.reports)


@pytest.mark.e2e
def test_quick_run_writes_json_and_png(tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "e2e", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "e2e.json").read_text())
    assert (tmp_path / "e2e.png").stat().st_size > 10_000
    assert report["benchmark"] == "e2e" and not report["errors"]
    assert report["machine"]["logical_cpus"] >= 1
    assert len(report["machine"]["load_average_at_start"]) == 3
    (run,) = report["runs"]
    assert run["plan"]["n"] == 1000 and run["exit_codes"] == {"feeder": 0, "service": 0}
    m = run["measure"]
    for key in (
        "offered_reports_per_s",
        "received_reports_per_s",
        "applied_reports_per_s",
        "shed_reports",
        "latency_p50_s",
        "latency_p99_s",
        "raise_latency_p50_s",
        "cycle_mean_s",
        "cycle_p99_s",
        "service_cpu_percent",
        "broker_cpu_percent",
        "feeder_cpu_percent",
        "load1_mean",
    ):
        assert key in m, key
    # 1,000 aircraft at 2 Hz plus radar: about 2,250 reports/s, every one taken in.
    assert 1500 < m["offered_reports_per_s"] < 3000
    assert m["received_reports_per_s"] > 0.9 * m["offered_reports_per_s"]
    # Conflict-heavy traffic raises alerts; each is timed after its closing publish.
    assert m["events"] > 0 and 0 < m["latency_p50_s"] <= m["latency_p99_s"]
    assert m["raise_latency_p50_s"] <= m["latency_p50_s"]
    assert run["service_peak_rss_bytes"] > 50 * 2**20
    soak = run["soak"]
    assert soak["window_s"] == pytest.approx(30.0, abs=2.0)
    assert soak["rss_start_bytes"] > 0 and soak["rss_growth"] is not None
    steps = run["saturation"]["steps"]
    assert [s["adsb_hz"] for s in steps] == [2, 8]
    assert steps[1]["offered_reports_per_s"] > 2.5 * steps[0]["offered_reports_per_s"]
    assert {t["target"] for t in report["targets"]} >= {
        "zero alert events lost across a broker restart"
    }
    assert "End-to-end" not in proc.stderr
    print(f"bench e2e --quick took {wall:.0f} s")
