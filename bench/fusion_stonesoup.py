"""Baseline: a Stone Soup GNN tracker against the fuser, by OSPA, on a small scenario.

Needs the optional ``stonesoup`` package (``pip install -e .[baseline]``).

Scenario: the crossing scenario (:func:`bench.fusion_scenarios.crossing_scenario`, its
first ``--crossing-seeds`` seed, ``--crossing-duration`` s), whose pairs cross at small
separation: where a tracker without identity can confuse aircraft.

Input: the primary radar only (``radar-mil``: positions without identity, one report per
aircraft per 6 s scan). Both trackers get the same reports:

* Stone Soup 1.9: constant velocity (``ConstantVelocity`` per axis, noise diffusion equal
  to the fuser's ``q_h``), Kalman predictor and updater, ``DistanceHypothesiser`` on the
  Mahalanobis distance with a missed distance of sqrt(gate_d2) (the fuser's gate),
  ``GNNWith2DAssignment``, ``MultiMeasurementInitiator`` (3 updates, as the fuser's
  confirmation), ``UpdateTimeDeleter`` after ``--expiry`` s. Each report is a
  ``Detection`` in a flat east-north plane about the scenario centre (m) with its own
  measurement noise (the report's stated sigma_h). Detections go in batches of one
  second of data, each keeping its own time stamp (the hypothesiser predicts to it).
  Position only: it uses neither the radar's track numbers nor its velocities.
* the fuser, as in :mod:`bench.fusion_accuracy` (it uses the track numbers and the
  reported velocities; that is part of what is compared).

Both are scored at the same evaluation times against the same truth set (aircraft the
radar reported within ``--expiry`` s) by OSPA and GOSPA (cut-off ``--gospa-c``, order
``--gospa-p``); the fused picture with ADS-B too is given for reference. Wall time of
each tracker is recorded (Stone Soup is a pure-Python reference, not a speed baseline).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time
from typing import Any

import numpy as np

from bench.fusion_accuracy import EvalConfig, run_accuracy
from bench.fusion_metrics import F64, M_PER_DEG, Ledger, horizontal_distance
from bench.fusion_scenarios import CROSSING_SENSORS, crossing_scenario
from bench.gospa import gospa, ospa
from fusion.config import FusionConfig
from fusion.schema import decode_message
from fusion.sim import SensorConfig, build_messages_with_truth, positions


def run_stonesoup_comparison(t0: float, args: argparse.Namespace) -> dict[str, Any]:
    """Run both trackers on the radar-only crossing scenario; a JSON-able dict."""
    import stonesoup

    seed = args.crossing_seeds[0]
    sc, _pairs = crossing_scenario(t0, seed=seed, duration_s=args.crossing_duration)
    radar_only = SensorConfig(adsb=(), radars=CROSSING_SENSORS.radars)
    ev = EvalConfig(min(args.warmup, 30.0), 2.0, args.expiry, args.gospa_c, args.gospa_p)

    w0 = time.perf_counter()
    fused = run_accuracy(sc, radar_only, ev)
    fused_wall = time.perf_counter() - w0
    both = run_accuracy(sc, CROSSING_SENSORS, ev)
    series = fused["pictures"]["fused"]["gospa_series"]
    eval_t = [t0 + t for t in series["t_s"]]

    msgs, rt = build_messages_with_truth(sc, radar_only)
    reps = np.concatenate([decode_message(m.payload, m.feeder).reports for m in msgs])
    w0 = time.perf_counter()
    ss = _stonesoup_run(sc, reps, rt, eval_t, ev)
    ss_wall = time.perf_counter() - w0

    def summ(res: dict[str, Any]) -> dict[str, Any]:
        f = res["pictures"]["fused"]
        return {
            "ospa_mean_m": f["ospa_mean_m"],
            "gospa_mean_m": f["gospa_mean_m"],
            "pos_rmse_m": f["all"]["pos_rmse_m"],
            "track_breaks": f["track_breaks"],
            "identity_swaps": f["identity_swaps"],
            "missed_mean": f["missed_mean"],
            "false_mean": f["false_mean"],
        }

    fuser_summary = summ(fused) | {"wall_s": fused_wall}
    out = {
        "run": True,
        "stonesoup_version": stonesoup.__version__,
        "scenario": f"crossing, seed {seed}, {args.crossing_duration:g} s, {sc.n_aircraft} "
        "aircraft; input: primary radar (radar-mil) only",
        "reports": len(reps),
        "evaluations": len(eval_t),
        "stonesoup_gnn": ss | {"wall_s": ss_wall},
        "fuser_radar_only": fuser_summary,
        "fuser_adsb_and_radar": summ(both),
    }
    s, f = out["stonesoup_gnn"], fuser_summary
    out["summary"] = (
        f"radar-only crossing scenario, {out['evaluations']} evaluations: OSPA mean "
        f"fuser {f['ospa_mean_m']:.0f} m vs Stone Soup GNN {s['ospa_mean_m']:.0f} m; "
        f"GOSPA {f['gospa_mean_m']:.0f} vs {s['gospa_mean_m']:.0f} m; position RMSE "
        f"{f['pos_rmse_m']:.0f} vs {s['pos_rmse_m']:.0f} m; identity swaps "
        f"{f['identity_swaps']} vs {s['identity_swaps']}; wall {f['wall_s']:.1f} s vs "
        f"{s['wall_s']:.1f} s (with ADS-B too, the fuser's OSPA is "
        f"{out['fuser_adsb_and_radar']['ospa_mean_m']:.0f} m)"
    )
    return out


def _stonesoup_run(
    sc: Any, reps: np.ndarray, rt: np.ndarray, eval_t: list[float], ev: EvalConfig
) -> dict[str, Any]:
    """Stone Soup's GNN tracker over the reports, scored at eval_t."""
    from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
    from stonesoup.deleter.time import UpdateTimeDeleter
    from stonesoup.hypothesiser.distance import DistanceHypothesiser
    from stonesoup.initiator.simple import MultiMeasurementInitiator
    from stonesoup.measures import Mahalanobis
    from stonesoup.models.measurement.linear import LinearGaussian
    from stonesoup.models.transition.linear import (
        CombinedLinearGaussianTransitionModel,
        ConstantVelocity,
    )
    from stonesoup.predictor.kalman import KalmanPredictor
    from stonesoup.types.detection import Detection
    from stonesoup.types.state import GaussianState
    from stonesoup.updater.kalman import KalmanUpdater

    fc = FusionConfig()
    lat0, lon0 = sc.config.centre_lat_deg, sc.config.centre_lon_deg
    cos0 = math.cos(math.radians(lat0))
    epoch = dt.datetime.fromtimestamp(sc.t0, dt.UTC)

    def stamp(t: float) -> dt.datetime:
        return epoch + dt.timedelta(seconds=t - sc.t0)

    q = fc.q_h
    transition = CombinedLinearGaussianTransitionModel([ConstantVelocity(q), ConstantVelocity(q)])
    predictor = KalmanPredictor(transition)
    base_mm = LinearGaussian(ndim_state=4, mapping=(0, 2), noise_covar=np.eye(2) * 100.0**2)
    updater = KalmanUpdater(base_mm)
    gate = math.sqrt(fc.gate_d2)
    hyp = DistanceHypothesiser(predictor, updater, measure=Mahalanobis(), missed_distance=gate)
    associator = GNNWith2DAssignment(hyp)
    deleter = UpdateTimeDeleter(dt.timedelta(seconds=ev.expiry_s))
    prior = GaussianState([[0.0], [0.0], [0.0], [0.0]], np.diag([1.0, 300.0**2, 1.0, 300.0**2]))
    initiator = MultiMeasurementInitiator(
        prior_state=prior,
        deleter=UpdateTimeDeleter(dt.timedelta(seconds=ev.expiry_s)),
        data_associator=GNNWith2DAssignment(
            DistanceHypothesiser(predictor, updater, measure=Mahalanobis(), missed_distance=gate)
        ),
        updater=updater,
        measurement_model=base_mm,
        min_points=fc.confirm_updates,
    )

    x = (reps["lon_deg"] - lon0) * cos0 * M_PER_DEG
    y = (reps["lat_deg"] - lat0) * M_PER_DEG
    order = np.argsort(reps["t"], kind="stable")
    sec = np.floor(reps["t"][order] - sc.t0).astype(np.int64)
    tracks: set[Any] = set()
    present_t = rt["t"]
    n_ac = sc.n_aircraft
    led = Ledger(ev.c_m, n_ac)
    gos: list[float] = []
    osp: list[float] = []
    err: list[F64] = []
    n_missed: list[int] = []
    n_false: list[int] = []
    ids: dict[int, tuple[int, Any]] = {}
    k_eval = 0
    cuts = np.flatnonzero(np.diff(sec)) + 1
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, order.size], strict=True):
        t_batch = float(reps["t"][order[b - 1]])
        # Evaluate at every evaluation time this batch would pass (causal).
        while k_eval < len(eval_t) and eval_t[k_eval] < t_batch:
            tc = eval_t[k_eval]
            lat, lon, _, _, _, _ = positions(sc, np.array([tc]))
            seen = (present_t > tc - ev.expiry_s) & (present_t <= tc)
            present = np.unique(rt["aircraft"][seen]).astype(np.int64)
            plat, plon, tid = _track_positions(tracks, tc, stamp, lat0, lon0, cos0, ids)
            d = horizontal_distance(
                lat[present, 0][:, None], lon[present, 0][:, None], plat[None, :], plon[None, :]
            )
            g = gospa(d, ev.c_m, ev.p)
            gos.append(g.value)
            osp.append(ospa(d, ev.c_m, ev.p))
            n_missed.append(g.missed)
            n_false.append(g.false)
            ti, ej = led.match(tc, present, tid, d)
            err.append(d[ti, ej])
            k_eval += 1
        dets = set()
        for i in order[a:b]:
            s = float(reps["sigma_h_m"][i]) if reps["sigma_h_m"][i] > 0 else 150.0
            mm = LinearGaussian(ndim_state=4, mapping=(0, 2), noise_covar=np.eye(2) * s * s)
            dets.add(
                Detection(
                    [[x[i]], [y[i]]], timestamp=stamp(float(reps["t"][i])), measurement_model=mm
                )
            )
        when = stamp(t_batch)
        assoc = associator.associate(tracks, dets, when)
        used = set()
        for track, h in assoc.items():
            if h:
                track.append(updater.update(h))
                used.add(h.measurement)
            else:
                track.append(h.prediction)
        tracks -= deleter.delete_tracks(tracks)
        tracks |= initiator.initiate(dets - used, when)
    e = np.concatenate(err) if err else np.zeros(0)
    return {
        "ospa_mean_m": float(np.mean(osp)) if osp else None,
        "gospa_mean_m": float(np.mean(gos)) if gos else None,
        "pos_rmse_m": float(np.sqrt(np.mean(e * e))) if e.size else None,
        "track_breaks": led.breaks,
        "identity_swaps": led.swaps,
        "missed_mean": float(np.mean(n_missed)) if n_missed else None,
        "false_mean": float(np.mean(n_false)) if n_false else None,
        "evaluations": len(gos),
    }


def _track_positions(
    tracks: set[Any],
    tc: float,
    stamp: Any,
    lat0: float,
    lon0: float,
    cos0: float,
    ids: dict[int, tuple[int, Any]],
) -> tuple[F64, F64, np.ndarray]:
    """Stone Soup tracks' positions moved to tc along their velocity (deg), and stable
    integer ids (by object identity, numbered in order of first sight; ``ids`` holds a
    reference to each track so that no id() is reused)."""
    when = stamp(tc)
    lat, lon, tid = [], [], []
    for tr in tracks:
        st = tr.state
        dts = (when - st.timestamp).total_seconds()
        sv = np.asarray(st.state_vector, dtype=np.float64).ravel()
        px, py = sv[0] + sv[1] * dts, sv[2] + sv[3] * dts
        lat.append(lat0 + py / M_PER_DEG)
        lon.append(lon0 + px / (cos0 * M_PER_DEG))
        tid.append(ids.setdefault(id(tr), (len(ids), tr))[0])
    return (
        np.array(lat, dtype=np.float64),
        np.array(lon, dtype=np.float64),
        np.array(tid, dtype=np.int64),
    )
