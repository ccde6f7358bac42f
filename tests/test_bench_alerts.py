"""The alert benchmark: scoring on hand-built alert / truth sequences (missed loss, warning
time, nuisance, near, flicker, adjacent-level), the manoeuvring paths and the pairwise
truth against hand-computed geometry, the scenario generators' promises, and a
``python -m bench alerts --quick`` run end to end (JSON structure, PNG)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.alerts_scoring import (
    AlertRecord,
    available_warning,
    collect_alerts,
    pool,
    score,
    summary,
    warning_stats,
)
from fusion.sim import SENSOR_PRESETS, positions
from fusion.sim.encounters import (
    CENTRE_LAT_DEG,
    CENTRE_LON_DEG,
    enroute,
    level_pairs,
    manoeuvring,
    terminal,
    terminal_volume_toml,
    velocity_changes,
)
from fusion.sim.motion import FT, NM
from fusion.sim.pairtruth import PairTruth, pair_truths, truth_table
from fusion.sim.paths import PathBuilder, PathSet
from fusion.sim.scenario import Scenario, ScenarioConfig
from fusion.volumes import volumes_from_dict
from kernels import geo

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_764_000_000.0
T = 120.0
A, B, C = 0x3C0001, 0x3C0002, 0x3C0003


# --------------------------------------------------------------------------- scoring


def truth(
    a: int,
    b: int,
    losses: tuple[tuple[float, float], ...] = (),
    rho: list[tuple[float, float]] | None = None,
    level: bool = False,
    t_from: float = 0.0,
    t_to: float = 1000.0,
) -> PairTruth:
    """A hand-built pair truth: rho given as (t, rho) breakpoints, sampled every second."""
    t_s = np.arange(t_from, t_to + 1e-9, 1.0)
    pts = rho or [(t_from, 3.0), (t_to, 3.0)]
    r = np.interp(t_s, [p[0] for p in pts], [p[1] for p in pts])
    return PairTruth(
        a=min(a, b), b=max(a, b), row_a=0, row_b=1, sep_h_m=5 * NM, sep_v_m=1000 * FT,
        t_from=t_from, t_to=t_to, losses=losses, t_cpa=0.0, d_cpa_m=0.0, dz_cpa_m=0.0,
        rho_min=float(r.min()), t_rho_min=0.0, h_rho_m=0.0, dz_rho_m=0.0,
        adjacent_level=level, t_s=t_s, rho=r, level=np.full(t_s.shape, level),
    )  # fmt: skip


def alert(
    aid: str, a: int | None, b: int | None, t_new: float, t_end: float | None, known: float = 1.0
) -> AlertRecord:
    return AlertRecord(aid, a, b, t_new, t_new + known, t_end, None if t_end is None else "clear")


def test_missed_loss_is_counted_as_missed() -> None:
    tr = [truth(A, B, losses=((300.0, 340.0),), rho=[(0, 3), (320, 0.2), (1000, 3)])]
    # An alert on another pair does not cover it; one on this pair long over by s - T
    # does not either.
    alerts = [alert("x", A, C, 250.0, 290.0), alert("y", A, B, 10.0, 40.0)]
    sc = score(alerts, tr, T)
    (loss,) = sc.losses
    assert not loss.alerted and not loss.alerted_before and loss.warning_s is None
    s = summary(sc, 1.0, 2.0)
    assert s["true_losses"] == 1 and s["alerted"] == 0 and s["share_alerted"] == 0.0
    assert len(s["missed"]) == 1 and s["warning"]["median_s"] is None


def test_warning_time_is_loss_start_minus_the_first_alert_known() -> None:
    tr = [truth(A, B, losses=((300.0, 340.0),), rho=[(0, 3), (320, 0.2), (1000, 3)])]
    # Known 1.5 s after its cycle time: warning 300 - (190 + 1.5) = 108.5 s. A second alert
    # of the same encounter later does not shorten it.
    alerts = [alert("early", B, A, 190.0, 250.0, 1.5), alert("late", A, B, 260.0, 360.0)]
    sc = score(alerts, tr, T)
    (loss,) = sc.losses
    assert loss.alerted and loss.alerted_before
    assert loss.warning_s == pytest.approx(108.5)
    assert sorted(loss.alert_ids) == ["early", "late"]
    assert sc.alert_class == {"early": "loss", "late": "loss"}


def test_alert_after_the_loss_began_is_alerted_but_not_before() -> None:
    tr = [truth(A, B, losses=((300.0, 340.0),), rho=[(0, 3), (320, 0.2), (1000, 3)])]
    sc = score([alert("x", A, B, 310.0, None)], tr, T)
    (loss,) = sc.losses
    assert loss.alerted and not loss.alerted_before
    assert loss.warning_s == pytest.approx(-11.0)


def test_nuisance_near_and_ghost_alerts() -> None:
    tr = [
        truth(A, B, rho=[(0, 4.0), (500, 1.6), (1000, 4.0)]),  # never within 1.5: nuisance
        truth(A, C, rho=[(0, 4.0), (500, 1.2), (1000, 4.0)]),  # within 1.5: near
    ]
    alerts = [
        alert("nuis", A, B, 400.0, 420.0),
        alert("near", A, C, 400.0, 420.0),
        # Opened long before the pair came within 1.5 and over before: judged on
        # [new, end + T] only, so a nuisance although the pair comes close later.
        alert("early", A, C, 100.0, 110.0),
        alert("ghost", B, C, 400.0, 410.0),  # a pair the truth does not know
        alert("anon", None, A, 400.0, 410.0),  # a track without an address
    ]
    sc = score(alerts, tr, T)
    assert sc.alert_class == {
        "nuis": "nuisance",
        "near": "near",
        "early": "nuisance",
        "ghost": "nuisance",
        "anon": "nuisance",
    }
    s = summary(sc, 0.5, 10.0)
    assert s["alerts_by_class"] == {"loss": 0, "near": 1, "nuisance": 4}
    assert s["nuisance_share"] == pytest.approx(0.8)
    assert s["nuisance_per_hour"] == pytest.approx(8.0)
    assert s["nuisance_per_100_flight_hours"] == pytest.approx(40.0)


def test_flicker_within_an_encounter_and_not_across_encounters() -> None:
    # Pair A-B: loss at 300; the alert ends at 280 and a new one opens at 290 (gap 10 s):
    # a flicker. Pair A-C: two approaches 400 s apart, clear (rho 4) in between: two
    # encounters, no flicker. Pair B-C: a gap of 200 s, but the pair stays within 1.5
    # throughout: one encounter, a flicker.
    tr = [
        truth(A, B, losses=((300.0, 340.0),), rho=[(0, 3), (320, 0.2), (1000, 3)]),
        truth(A, C, rho=[(0, 4), (200, 1.2), (400, 4), (600, 1.2), (1000, 4)]),
        truth(B, C, rho=[(0, 1.3), (1000, 1.3)]),
    ]
    alerts = [
        alert("ab1", A, B, 200.0, 280.0),
        alert("ab2", A, B, 290.0, 350.0),
        alert("ac1", A, C, 150.0, 220.0),
        alert("ac2", A, C, 550.0, 620.0),
        alert("bc1", B, C, 100.0, 200.0),
        alert("bc2", B, C, 400.0, 420.0),
    ]
    sc = score(alerts, tr, T)
    assert [(f["ended"], f["reopened"]) for f in sc.flickers] == [
        ("ab1", "ab2"),
        ("bc1", "bc2"),
    ]
    assert sc.flickers[0]["gap_s"] == pytest.approx(10.0)
    assert sc.flickers[1]["stayed_within_1.5"] is True
    # A wider encounter gap makes the A-C pair's two alerts one encounter too.
    assert len(score(alerts, tr, T, encounter_gap_s=400.0).flickers) == 3


def test_adjacent_level_alerts_are_counted() -> None:
    tr = [truth(A, B, rho=[(0, 1.0), (1000, 1.0)], level=True), truth(A, C)]
    sc = score([alert("lvl", A, B, 300.0, 320.0), alert("other", A, C, 300.0, 320.0)], tr, T)
    assert sc.adjacent_level == ["lvl"]
    assert sc.alert_class["lvl"] == "near"  # 1000 ft apart: rho 1, not a nuisance
    assert summary(sc, 1.0, 1.0)["adjacent_level_alerts"] == 1


def test_available_warning_and_pooling() -> None:
    # Appeared at 100, manoeuvred at 150 and 260, loss at 250: available 100 s.
    assert available_warning(250.0, 100.0, [150.0, 260.0]) == 100.0
    tr = [truth(A, B, losses=((300.0, 340.0),), rho=[(0, 3), (320, 0.2), (1000, 3)])]
    sc = score([alert("x", A, B, 250.0, None)], tr, T, manoeuvres={A: [260.0]})
    (loss,) = sc.losses
    assert loss.available_s == pytest.approx(40.0) and not loss.predictable
    sc2 = score([], tr, T)  # appeared at 0: 300 s, capped at T, predictable
    assert sc2.losses[0].available_s == T and sc2.losses[0].predictable
    both = pool([sc, sc2])
    assert len(both.losses) == 2 and summary(both, 1.0, 1.0)["alerted"] == 1


def test_warning_stats() -> None:
    st = warning_stats([float(x) for x in range(10, 101, 10)])
    assert st["median_s"] == pytest.approx(55.0)
    assert st["p5_s"] == pytest.approx(14.5)  # 10 + 0.05 * 9 * 10
    assert st["min_s"] == 10.0
    assert warning_stats([]) == {"median_s": None, "p5_s": None, "min_s": None}


def _ev(aid: str, kind: str, t: float, sev: str = "predicted", **kw: Any) -> dict[str, Any]:
    return {
        "alert_id": aid,
        "event": kind,
        "t": t,
        "severity": sev,
        "a": {"icao": "3C0001"},
        "b": {"icao": "3C0002"},
        "hypothesis": kw.get("hypothesis", "straight"),
        "thresholds": {"sep_h_nm": 5.0},
        "reason": kw.get("reason"),
    }


def test_collect_alerts_folds_the_lifecycle() -> None:
    events = [
        (101.2, _ev("x", "new", 100.0)),
        (111.2, _ev("x", "update", 110.0, "imminent", hypothesis="turn")),
        (131.2, _ev("x", "end", 130.0, "imminent", reason="clear")),
        (141.2, _ev("y", "new", 140.0, "loss")),
    ]
    x, y = collect_alerts(events)
    assert (x.a, x.b, x.t_new, x.t_known, x.t_end, x.end_reason) == (
        A, B, 100.0, 101.2, 130.0, "clear",
    )  # fmt: skip
    assert x.severities == ["predicted", "imminent"] and x.hypotheses == ["straight", "turn"]
    assert x.n_updates == 1 and x.sep_h_nm == 5.0
    assert y.t_end is None and y.pair == (A, B)
    with pytest.raises(ValueError, match="before its 'new'"):
        collect_alerts([(1.0, _ev("z", "update", 1.0))])
    with pytest.raises(ValueError, match="after its 'end'"):
        collect_alerts([*events[:3], (150.0, _ev("x", "update", 150.0))])


# --------------------------------------------------------------------------- paths, truth


def test_standard_rate_turn_geometry_and_velocity() -> None:
    v = 100.0
    p = PathBuilder(0.0, 0.0, 0.0, 0.0, v, 3000.0).straight(10.0).turn(90.0).build()
    e, n, psi, spd = p.horizontal(np.array([10.0, 25.0, 40.0, 50.0]))
    r = v / math.radians(3.0)  # radius of a rate-one turn
    # North then a right turn: after 90 deg (30 s) at (r, 1000 + r), heading east.
    assert e[2] == pytest.approx(r) and n[2] == pytest.approx(10.0 * v + r)
    assert math.degrees(psi[1]) == pytest.approx(45.0)
    assert math.degrees(psi[3]) == pytest.approx(90.0)
    assert e[3] == pytest.approx(r + 10.0 * v) and spd.tolist() == [v] * 4
    assert velocity_changes(p) == (10.0, 40.0)
    # The reported velocity is the derivative of the reported positions.
    ps = PathSet(CENTRE_LAT_DEG, CENTRE_LON_DEG, (p,))
    t = np.arange(0.0, 60.0, 0.5)
    lat, lon, _, ve, vn, _ = ps.state(np.array([0]), t)
    xyz = geo.geodetic_to_ecef(lat, lon, np.zeros_like(lat))
    enu = geo.ecef_to_enu(xyz, CENTRE_LAT_DEG, CENTRE_LON_DEG, 0.0)
    step = np.diff(enu[:, :2], axis=0) / 0.5
    mid = 0.5 * (np.c_[ve, vn][1:] + np.c_[ve, vn][:-1])
    # Chord over 0.5 s against the mean reported velocity: the same speed, and the same
    # direction but for the local axes' turn from the centre's (meridian convergence:
    # 0.8 mrad 7 km east at 50 N) and the chord of a 1.5 deg arc in the turn.
    assert np.allclose(np.hypot(*step.T), np.hypot(*mid.T), rtol=1e-4)
    turn = np.arctan2(step[:, 0], step[:, 1]) - np.arctan2(mid[:, 0], mid[:, 1])
    assert np.abs(turn).max() < 2e-3
    assert np.allclose(np.hypot(ve, vn), v, rtol=1e-4)


def _pair_scenario(paths: tuple[Any, ...], window: tuple[float, float]) -> tuple[Scenario, Any]:
    ps = PathSet(CENTRE_LAT_DEG, CENTRE_LON_DEG, paths)
    n = len(paths)
    sc = Scenario(
        config=ScenarioConfig(seed=1, t0=T0, duration_s=600.0),
        t0=T0,
        icao=np.array([A, B, C][:n], dtype=np.int64),
        callsign=tuple(f"T{k}" for k in range(n)),
        mode3a=np.full(n, 0o1234, dtype=np.int64),
        role=("x",) * n,
        adsb=np.ones(n, dtype=np.bool_),
        motion=ps.first_legs(),
        conflicts=(),
        safe_pairs=(),
        trajectory=ps,
    )
    return sc, np.array([window] * n, dtype=np.float64)


def test_pair_truth_head_on_loss_start_and_adjacent_levels() -> None:
    v, D, H = 200.0, 5 * NM, 1000 * FT
    fl350, fl360 = 35000 * FT, 36000 * FT
    a = PathBuilder(300.0, 0.0, 0.0, 90.0, v, fl350).build()  # east, at the centre at 300 s
    b = PathBuilder(300.0, 0.0, 0.0, 270.0, v, fl350).build()  # west, head-on
    c = PathBuilder(300.0, 0.0, 0.0, 270.0, v, fl360).build()  # west, 1000 ft above
    sc, win = _pair_scenario((a, b, c), (0.0, 600.0))
    pts = {p.key: p for p in pair_truths(sc, win, D, H)}
    ab, ac = pts[(A, B)], pts[(A, C)]
    (loss,) = ab.losses
    # Closing at 400 m/s, D reached 9260 / 400 = 23.15 s before 300 s (tangent-plane
    # distances differ from the plane's by millimetres here).
    assert loss[0] - T0 == pytest.approx(300.0 - D / (2 * v), abs=0.01)
    assert loss[1] - T0 == pytest.approx(300.0 + D / (2 * v), abs=0.01)
    assert ab.d_cpa_m < 1.0 and ab.rho_min < 0.01 and not ab.adjacent_level
    assert ac.losses == () and ac.adjacent_level and ac.level_at(T0 + 300.0)
    assert ac.rho_min == pytest.approx(1.0) and ac.dz_cpa_m == pytest.approx(H)
    # The 1 Hz truth table: every aircraft every second of its window, in time order.
    tab = truth_table(sc, np.array([[0.0, 600.0], [0.0, 600.0], [100.0, 200.0]]))
    assert len(tab) == 601 + 601 + 101 and np.all(np.diff(tab["t"]) >= 0)
    row = tab[(tab["icao"] == A) & (tab["t"] == T0 + 300.0)]
    assert row["ve_ms"][0] == pytest.approx(v) and row["alt_m"][0] == pytest.approx(fl350)
    # The sensor models see the same trajectory through positions().
    lat, lon, alt, *_ = positions(sc, np.array([T0 + 300.0]), np.array([0]))
    assert lat[0] == pytest.approx(CENTRE_LAT_DEG) and lon[0] == pytest.approx(CENTRE_LON_DEG)
    assert alt[0] == pytest.approx(fl350)


# --------------------------------------------------------------------------- generators


def _loss_rows(pts: list[PairTruth]) -> set[frozenset[int]]:
    return {frozenset((p.row_a, p.row_b)) for p in pts if p.losses}


def test_generators_keep_their_promises() -> None:
    es = enroute(2, T0, 600.0, n_conflicts=3, n_near=2, n_background=3)
    pts = pair_truths(es.scenario, es.active_s, es.sep_h_m, es.sep_v_m)
    planted = {frozenset(g.rows) for g in es.planted if g.designed_loss}
    assert _loss_rows(pts) == planted and len(planted) == 3
    near = [g for g in es.planted if g.kind == "near_miss"]
    for g in near:
        (p,) = [x for x in pts if {x.row_a, x.row_b} == set(g.rows)]
        assert 1.5 * es.sep_h_m <= p.d_cpa_m <= 3.0 * es.sep_h_m + 50.0

    lv = level_pairs(2, T0, 600.0, n_pairs=3)
    pts = pair_truths(lv.scenario, lv.active_s, lv.sep_h_m, lv.sep_v_m)
    assert not _loss_rows(pts)
    for g in lv.planted:
        (p,) = [x for x in pts if {x.row_a, x.row_b} == set(g.rows)]
        assert p.adjacent_level and p.d_cpa_m < 1.01 * NM

    tm = terminal(2, T0, 600.0, n_blunders=1)
    assert tm.sep_h_m == 3 * NM
    pts = pair_truths(tm.scenario, tm.active_s, tm.sep_h_m, tm.sep_v_m)
    (blunder,) = [g.rows[0] for g in tm.planted if g.kind == "blunder"]
    # Only the blunder loses separation; the staggered parallel streams stay 3.1 NM or
    # more apart where they are within 1000 ft.
    assert _loss_rows(pts) and all(blunder in r for r in _loss_rows(pts))
    assert min(p.h_rho_m for p in pts if blunder not in (p.row_a, p.row_b)) > 3.05 * NM

    mn = manoeuvring(2, T0, 600.0, n_turn=1, n_climb=1, n_leveloff=1, n_turn_near=1)
    pts = pair_truths(mn.scenario, mn.active_s, mn.sep_h_m, mn.sep_v_m)
    planted = {frozenset(g.rows) for g in mn.planted if g.designed_loss}
    assert _loss_rows(pts) == planted and len(planted) == 2
    for g in mn.planted:
        if g.kind.startswith(("turn", "climb")) and g.designed_loss:
            a, b = g.rows
            (p,) = [x for x in pts if {x.row_a, x.row_b} == {a, b}]
            # The conflict exists only because of the manoeuvre: it started less than a
            # look-ahead before the loss.
            last = max(m for r in (a, b) for m in mn.manoeuvres_s[r] if m < p.losses[0][0] - T0)
            assert p.losses[0][0] - T0 - last < T


def test_terminal_volume_file_is_valid_and_covers_the_terminal_scenario() -> None:
    import tomllib

    vol = volumes_from_dict(tomllib.loads(terminal_volume_toml()), "bench")
    tm = terminal(1, T0, 600.0, n_blunders=1)
    t = T0 + np.array([100.0, 300.0, 500.0])
    lat, lon, alt, *_ = positions(tm.scenario, t[None, :])
    inside = vol.volume_of(lat.ravel(), lon.ravel(), alt.ravel())
    assert (inside == 0).all()
    # The en-route scenarios fly above it.
    en = enroute(1, T0, 600.0, n_conflicts=1, n_near=1, n_background=1)
    lat, lon, alt, *_ = positions(en.scenario, t[None, :])
    assert (vol.volume_of(lat.ravel(), lon.ravel(), alt.ravel()) == -1).all()
    assert "default" in SENSOR_PRESETS


# --------------------------------------------------------------------------- end to end


def test_quick_run_writes_json_and_png(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "alerts",
            "--quick",
            "--out",
            str(tmp_path),
            "--write-truth",
            str(tmp_path / "truth"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rep = json.loads((tmp_path / "alerts.json").read_text())
    assert (tmp_path / "alerts.png").stat().st_size > 10_000
    assert rep["benchmark"] == "alerts" and rep["errors"] == []
    assert rep["command"].startswith("python -m bench alerts") and "--quick" in rep["command"]
    for key in ("cpu_model", "logical_cpus", "load_average_at_start", "date"):
        assert key in rep["machine"]
    assert set(rep["scenarios"]) == {"enroute", "terminal", "level", "manoeuvring"}
    assert len(rep["runs"]) == 4 and rep["parameters"]["seeds"] == [1]
    assert "TMA-BENCH" in rep["parameters"]["airspace_toml"]
    for s in [*rep["scenarios"].values(), rep["overall"]]:
        for key in (
            "true_losses", "alerted", "alerted_before_loss", "share_alerted", "warning",
            "alerts", "alerts_by_class", "nuisance_per_hour", "nuisance_share", "flickers",
            "adjacent_level_alerts", "warning_predictable", "warning_shortfall",
        ):  # fmt: skip
            assert key in s, key
        assert set(s["warning"]) == {"median_s", "p5_s", "min_s"}
    ov = rep["overall"]
    assert ov["true_losses"] == sum(r["true_losses"] for r in rep["runs"]) > 0
    assert ov["alerts"] == sum(r["alerts"] for r in rep["runs"])
    assert len(rep["targets"]) == 6 and all(isinstance(t["pass"], bool) for t in rep["targets"])
    for r in rep["runs"]:
        # The terminal scenario's alerts carry the terminal volume's 3 NM, the others 5 NM.
        assert r["alerts_with_other_minima"] == 0
        assert all(a["class"] in ("loss", "near", "nuisance") for a in r["alert_list"])
    # Level pairs at adjacent flight levels: the scenario has pairs and truth says 1000 ft.
    lvl = next(r for r in rep["runs"] if r["scenario"] == "level")
    assert lvl["true_losses"] == 0 and all(p["adjacent_level"] for p in lvl["near_pairs"])
    # ... and the 25 ft steps with noise make some reports read them under 1000 ft apart.
    readings = {int(k): v for k, v in lvl["level_pair_readings_ft"].items()}
    assert readings[1000] > 0 and sum(v for k, v in readings.items() if k < 1000) > 0
    assert "Targets:" in proc.stdout
    with np.load(tmp_path / "truth" / "alerts_truth_terminal_1.npz") as z:
        tab, win = z["truth"], z["active_s"]
        assert len(tab) > 1000 and win.shape == (len(z["icao"]), 2)
        assert set(np.unique(tab["icao"])) <= set(z["icao"].tolist())


def test_help_explains_the_options() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "alerts", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    for opt in ("--seeds", "--duration", "--quick", "--scenarios", "--out", "--encounter-gap"):
        assert opt in proc.stdout
