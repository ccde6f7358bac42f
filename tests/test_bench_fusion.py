"""The fusion benchmark: GOSPA against hand-computed values, the identity ledger, and a
``python -m bench fusion --quick`` run end to end (JSON fields, PNG, fused error below
every sensor's on the quick scenario)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.fusion_metrics import Ledger, horizontal_distance
from bench.gospa import gospa, ospa, pairwise_distance

ROOT = Path(__file__).resolve().parent.parent


def pts(*xy: tuple[float, float]) -> np.ndarray:
    return np.array(xy, dtype=np.float64).reshape(len(xy), 2)


def test_gospa_empty_sets() -> None:
    g = gospa(np.zeros((0, 0)), c=10.0)
    assert g.value == 0.0 and g.missed == 0 and g.false == 0
    # Two truths, nothing estimated: (c^p / 2 * 2)^(1/p) = (100 / 2 * 2)^(1/2) = 10.
    g = gospa(np.zeros((2, 0)), c=10.0, p=2.0)
    assert g.value == pytest.approx(10.0) and g.missed == 2 and g.false == 0
    # One false estimate, p = 1: 10 / 2 = 5.
    g = gospa(np.zeros((0, 1)), c=10.0, p=1.0)
    assert g.value == pytest.approx(5.0) and g.false == 1


def test_gospa_localisation_only() -> None:
    # (0, 0) vs (3, 4): d = 5, p = 2: sqrt(25) = 5.
    g = gospa(pairwise_distance(pts((0, 0)), pts((3, 4))), c=10.0, p=2.0)
    assert g.value == pytest.approx(5.0)
    assert g.localisation == pytest.approx(25.0)
    assert (g.missed, g.false) == (0, 0)


def test_gospa_beyond_cutoff_is_one_missed_and_one_false() -> None:
    # d = 20 >= c = 10: (10^2 / 2 * (1 + 1))^(1/2) = 10, not 20.
    g = gospa(pairwise_distance(pts((0, 0)), pts((20, 0))), c=10.0, p=2.0)
    assert g.value == pytest.approx(10.0)
    assert (g.missed, g.false) == (1, 1)
    assert g.truth_idx.size == 0


def test_gospa_missed_target_p1() -> None:
    # Truth (0, 0), (100, 0); estimate (1, 0); c = 10, p = 1: 1 + 10 / 2 * 1 = 6.
    g = gospa(pairwise_distance(pts((0, 0), (100, 0)), pts((1, 0))), c=10.0, p=1.0)
    assert g.value == pytest.approx(6.0)
    assert (g.missed, g.false) == (1, 0)
    assert g.truth_idx.tolist() == [0] and g.est_idx.tolist() == [0]


def test_gospa_takes_the_optimal_assignment() -> None:
    # Truth (0, 0), (10, 0); estimates (4, 0), (11, 0); c = 100, p = 2.
    # Pairing 0-4 and 10-11 costs 16 + 1 = 17; the crossed pairing 121 + 36 = 157.
    g = gospa(pairwise_distance(pts((0, 0), (10, 0)), pts((4, 0), (11, 0))), c=100.0, p=2.0)
    assert g.value == pytest.approx(math.sqrt(17.0))
    # Mixed: truth (0, 0), (50, 0); estimates (0, 3), (500, 0), (51, 0); c = 20, p = 2:
    # 9 + 1 + 20^2 / 2 * (0 missed + 1 false) = 210.
    d = pairwise_distance(pts((0, 0), (50, 0)), pts((0, 3), (500, 0), (51, 0)))
    g = gospa(d, c=20.0, p=2.0)
    assert g.value == pytest.approx(math.sqrt(210.0))
    assert (g.missed, g.false) == (0, 1)


def test_gospa_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        gospa(np.zeros((1, 1)), c=0.0)
    with pytest.raises(ValueError):
        gospa(np.zeros((1, 1)), c=1.0, p=0.5)
    with pytest.raises(ValueError):
        gospa(-np.ones((1, 1)), c=1.0)


def test_ospa_hand_computed() -> None:
    assert ospa(np.zeros((0, 0)), c=10.0) == 0.0
    assert ospa(np.zeros((3, 0)), c=10.0) == 10.0
    # Truth (0, 0), (100, 0); estimate (3, 4); c = 10, p = 2:
    # ((5^2 + 10^2 * 1) / 2)^(1/2) = sqrt(62.5).
    d = pairwise_distance(pts((0, 0), (100, 0)), pts((3, 4)))
    assert ospa(d, c=10.0, p=2.0) == pytest.approx(math.sqrt(62.5))
    # p = 1, one pair at 4 and one beyond the cut-off: (4 + 10) / 2 = 7.
    d = pairwise_distance(pts((0, 0), (100, 0)), pts((4, 0), (300, 0)))
    assert ospa(d, c=10.0, p=1.0) == pytest.approx(7.0)


def test_horizontal_distance_one_degree_of_latitude() -> None:
    d = horizontal_distance(np.array([50.0]), np.array([8.0]), np.array([51.0]), np.array([8.0]))
    assert d[0] == pytest.approx(111_195.0, rel=1e-4)


def test_ledger_counts_swaps_and_keeps_valid_correspondences() -> None:
    led = Ledger(gate_m=100.0, n_aircraft=2)
    ac = np.array([0, 1])
    ids = np.array([7, 8])
    # t=0: aircraft 0 on track 7, aircraft 1 on track 8.
    led.match(0.0, ac, ids, np.array([[1.0, 90.0], [90.0, 1.0]]))
    # t=1: the aircraft pass within metres; track 8 is nearer to aircraft 0 but both
    # correspondences are still valid: kept, no event.
    ti, ej = led.match(1.0, ac, ids, np.array([[5.0, 2.0], [2.0, 5.0]]))
    assert ids[ej[np.argsort(ti)]].tolist() == [7, 8]
    assert (led.breaks, led.swaps) == (0, 0)
    # t=2: the tracks have exchanged aircraft (each out of the other's gate): two swaps.
    led.match(2.0, ac, ids, np.array([[300.0, 1.0], [1.0, 300.0]]))
    assert (led.breaks, led.swaps) == (2, 2)
    # t=3: aircraft 0 on a brand new track 9: a break, not a swap.
    led.match(3.0, ac, np.array([9, 7]), np.array([[1.0, 500.0], [500.0, 1.0]]))
    assert (led.breaks, led.swaps) == (3, 2)
    assert led.events[-1]["kind"] == "break" and led.events[-1]["to_id"] == 9
    # t=4..40: aircraft 1 is present but no track is near it: lost for 36 s.
    for t in range(4, 41, 4):
        led.match(float(t), ac, np.array([9]), np.array([[1.0], [5000.0]]))
    assert led.lost(30.0).tolist() == [1]
    assert led.longest_unmatched[1] == pytest.approx(36.0)
    assert led.longest_unmatched[0] == 0.0


def test_crossing_scenario_pairs_meet_as_planned() -> None:
    from bench.fusion_scenarios import ANGLES_DEG, EQUIPAGE, crossing_scenario
    from fusion.sim import positions

    sc, pairs = crossing_scenario(1_764_000_000.0, seed=5, duration_s=240.0)
    assert len(pairs) == len(ANGLES_DEG) * len(EQUIPAGE) == sc.n_aircraft // 2
    tt = sc.t0 + np.arange(0.0, 240.0, 0.5)
    lat, lon, alt, _, _, _ = positions(sc, tt)
    for p in pairs:
        d = horizontal_distance(lat[p.a], lon[p.a], lat[p.b], lon[p.b])
        la, lo, _, _, _, _ = positions(sc, sc.t0 + p.tau_cpa_s + np.array([-0.1, 0.0, 0.1]))
        dc = horizontal_distance(la[p.a], lo[p.a], la[p.b], lo[p.b])
        assert dc[1] == pytest.approx(p.miss_m, abs=2.0)  # at the planned CPA time ...
        assert dc[1] <= min(dc[0], dc[2]) + 0.05  # ... the closest (mm of geodesy) ...
        assert d.min() >= dc[1] - 1.0  # ... over the whole run
        assert np.all(alt[p.a] == alt[p.b])  # on one level
        assert sc.adsb[p.a] == (p.equipage != "none")
        assert sc.adsb[p.b] == (p.equipage == "both")
    # Aircraft of different pairs never come within 6 NM of each other.
    far = horizontal_distance(lat[:, None, :], lon[:, None, :], lat[None], lon[None])
    pair_of = np.arange(sc.n_aircraft) // 2
    other = pair_of[:, None] != pair_of[None, :]
    assert far.min(axis=2)[other].min() > 6 * 1852.0 - 50.0


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench-fusion")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "fusion", "--quick", "--no-stonesoup", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Targets:" in proc.stdout
    return json.loads((out / "fusion.json").read_text()), out


def test_quick_run_writes_json_and_png(quick: tuple[dict[str, Any], Path]) -> None:
    rep, out = quick
    assert (out / "fusion.png").stat().st_size > 10_000
    for key in (
        "machine",
        "parameters",
        "sources_sha256",
        "accuracy",
        "crossing",
        "throughput",
        "stonesoup",
        "targets",
        "total_wall_s",
    ):
        assert key in rep, key
    assert rep["machine"]["logical_cpus"] >= 1 and rep["machine"]["cpu_model"]
    fused = rep["accuracy"][0]["pictures"]["fused"]
    for key in ("pos_rmse_m", "vel_rmse_ms", "n"):
        assert fused["all"][key] is not None
    for key in ("gospa_mean_m", "track_breaks", "identity_swaps", "coverage"):
        assert key in fused
    assert fused["coverage"] > 0.95
    assert len(rep["crossing"][0]["pairs"]) == 24
    tp = rep["throughput"]
    assert {t["kind"] for t in tp} == {"icao", "radar", "mixed"}
    for t in tp:
        assert t["reports_per_s"] > 0
        if t["kind"] == "mixed":  # radar tracks of ADS-B aircraft merged into theirs
            assert t["n"] <= t["tracks_alive"] <= 1.01 * t["n"]
            assert t["applied_per_second_min"] >= 0.99 * t["reports_per_second_of_data"]
        else:  # every report applied, and no track created after the first second
            assert t["applied_per_second_min"] == t["n"] == t["tracks_created"]
            assert t["tracks_alive"] == t["n"]
    assert rep["stonesoup"]["run"] is False and rep["stonesoup"]["reason"]
    assert all(isinstance(t["pass"], bool) for t in rep["targets"])


def test_quick_fused_error_below_every_sensor(quick: tuple[dict[str, Any], Path]) -> None:
    rep, _ = quick
    pics = rep["accuracy"][0]["pictures"]
    sensors = [k for k in pics if k != "fused"]
    assert len(sensors) == 6
    for s in sensors:
        for cls, pw in pics[s]["paired_with_fused"].items():
            if pw["n"] > 100:
                assert pw["fused_pos_rmse_m"] < pw["sensor_pos_rmse_m"], (s, cls, pw)
        assert pics["fused"]["gospa_mean_m"] < pics[s]["gospa_mean_m"], s
    accuracy_targets = [t for t in rep["targets"] if t["target"].startswith("fused position")]
    assert accuracy_targets and all(t["pass"] for t in accuracy_targets)
