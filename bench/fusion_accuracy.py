"""Accuracy of the fused picture against each sensor alone, on a simulated scenario.

The simulator's messages are fed to a :class:`fusion.fuser.Fuser` one by one in
publish-time order, as the live service does: when data time passes a whole second
``sec``, ``release(sec - reorder_window_s)`` then ``expire(.., expiry_s)``; every
``eval_every_s`` after ``warmup_s`` the pictures are scored at ``tc = sec -
reorder_window_s`` against the truth at tc.

Pictures scored:

* ``fused``: :meth:`Fuser.picture` (confirmed tracks) at tc;
* one per feeder, ``sensor:<feeder>``: that feeder's newest report per aircraft among
  those received by then (report time up to ``expiry_s`` old), extrapolated to tc by
  its own velocity. Reports are mapped to aircraft through the simulator's per-report
  truth, for radars without identity too: each sensor alone gets *perfect association*,
  its best case (no false or duplicate tracks from renumbering). Reports newer than tc
  (received, not yet released to the fuser) are used too: again the sensor's favour.

The truth set at tc: the aircraft that some sensor reported within ``expiry_s`` before.
Every picture is matched to it by a :class:`bench.fusion_metrics.Ledger` (gate = GOSPA
cut-off ``c``) and scored by GOSPA (:mod:`bench.gospa`) on horizontal distance.
Units: metres, m/s, seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.fusion_metrics import (
    F64,
    I64,
    Ledger,
    Samples,
    extrapolate,
    horizontal_distance,
    paired_rmse,
)
from bench.gospa import gospa, ospa
from fusion.config import FusionConfig
from fusion.fuser import Fuser
from fusion.schema import altitude_m, decode_message
from fusion.sim import Scenario, SensorConfig, build_messages_with_truth, positions

FUSED = "fused"
LOST_S = 30.0  # an aircraft reported yet without a fused track this long (s) is "lost"


@dataclass(frozen=True)
class EvalConfig:
    """How a replay is scored. Seconds, metres."""

    warmup_s: float = 60.0  # no evaluation before t0 + warmup_s
    eval_every_s: float = 2.0  # data time between evaluations
    expiry_s: float = 20.0  # fuser.expire age, and the sensor pictures' max report age
    c_m: float = 2000.0  # GOSPA cut-off and matching gate
    p: float = 2.0  # GOSPA order (alpha = 2)


@dataclass
class _SensorState:
    """Newest received report per aircraft of one feeder; float64[N] each (NaN none)."""

    t: F64
    lat: F64
    lon: F64
    alt: F64
    ve: F64
    vn: F64

    @classmethod
    def empty(cls, n: int) -> _SensorState:
        return cls(*(np.full(n, np.nan) for _ in range(6)))


def run_accuracy(
    sc: Scenario,
    sensors: SensorConfig,
    ev: EvalConfig,
    fusion_cfg: FusionConfig | None = None,
) -> dict[str, Any]:
    """Replay ``sc`` seen by ``sensors`` through a fuser and score every picture.

    Returns a JSON-able dict: per picture the summary of
    :meth:`bench.fusion_metrics.Samples.summary`, identity counts (fused: track breaks,
    identity swaps, events, wrong ICAO labels), paired fused-vs-sensor RMSEs, the fuser's
    stats, and ``raw`` (per-aircraft error arrays, for the caller; not JSON)."""
    msgs, rt = build_messages_with_truth(sc, sensors)
    n_ac = sc.n_aircraft
    fu = Fuser(fusion_cfg)
    win = fu.cfg.reorder_window_s
    feeders: dict[str, int] = {}
    states: dict[str, _SensorState] = {}
    last_seen = np.full(n_ac, -np.inf)
    ledgers: dict[str, Ledger] = {}
    samples: dict[str, Samples] = {}
    wrong_icao = 0
    n_eval = 0
    msg_start = np.searchsorted(rt["msg"], np.arange(len(msgs) + 1))
    sec = sc.t0
    next_eval = sc.t0 + ev.warmup_s

    def score(
        name: str,
        tc: float,
        ids: I64,
        lat: F64,
        lon: F64,
        alt: F64,
        ve: F64,
        vn: F64,
        truth: tuple[F64, ...],
        present: I64,
    ) -> tuple[I64, I64]:
        tlat, tlon, talt, tve, tvn = truth
        led = ledgers.setdefault(name, Ledger(ev.c_m, n_ac))
        smp = samples.setdefault(name, Samples())
        d = horizontal_distance(
            tlat[present][:, None], tlon[present][:, None], lat[None, :], lon[None, :]
        )
        g = gospa(d, ev.c_m, ev.p)
        smp.t.append(tc)
        smp.ospa.append(ospa(d, ev.c_m, ev.p))
        smp.gospa.append(g.value)
        smp.gospa_loc.append(g.localisation)
        smp.missed.append(g.missed)
        smp.false.append(g.false)
        smp.n_truth.append(int(present.size))
        smp.n_est.append(int(ids.size))
        ti, ej = led.match(tc, present, ids, d)
        a = present[ti]
        smp.k.append(np.full(a.size, n_eval, dtype=np.int64))
        smp.aircraft.append(a)
        smp.pos.append(d[ti, ej])
        smp.vel.append(np.hypot(ve[ej] - tve[a], vn[ej] - tvn[a]))
        smp.alt.append(alt[ej] - talt[a])
        return a, ej

    def evaluate(tc: float) -> None:
        nonlocal wrong_icao, n_eval
        lat, lon, alt, ve, vn, _ = positions(sc, np.array([tc]))
        truth = (lat[:, 0], lon[:, 0], alt[:, 0], ve[:, 0], vn[:, 0])
        present = np.flatnonzero(last_seen >= tc - ev.expiry_s)
        pic = fu.picture(tc)
        a, ej = score(
            FUSED, tc, pic.id, pic.lat_deg, pic.lon_deg, pic.alt_m, pic.ve, pic.vn, truth, present
        )
        icao = fu.tracks.icao[pic.rows][ej]
        wrong_icao += int(np.sum((icao >= 0) & (icao != sc.icao[a])))
        for name, st in states.items():
            has = np.flatnonzero(st.t >= tc - ev.expiry_s)
            dt = tc - st.t[has]
            plat, plon = extrapolate(st.lat[has], st.lon[has], st.ve[has], st.vn[has], dt)
            score(
                f"sensor:{name}",
                tc,
                has,
                plat,
                plon,
                st.alt[has],
                st.ve[has],
                st.vn[has],
                truth,
                present,
            )
        n_eval += 1

    for k, m in enumerate(msgs):
        while m.t_pub > sec + 1.0:
            sec += 1.0
            tc = sec - win
            fu.release(tc)
            fu.expire(tc, ev.expiry_s)
            if tc >= next_eval - 1e-9:
                evaluate(tc)
                next_eval += ev.eval_every_s
        d = decode_message(m.payload, m.feeder)
        fu.add(d.reports, d.kind, feeders.setdefault(m.feeder, len(feeders)))
        rows = rt[msg_start[k] : msg_start[k + 1]]
        if d.rejected_rows.size:  # the truth rows of the valid reports only
            keep = np.ones(len(rows), dtype=np.bool_)
            keep[d.rejected_rows] = False
            rows = rows[keep]
        _receive(states.setdefault(m.feeder, _SensorState.empty(n_ac)), d.reports, rows)
        ac = rows["aircraft"].astype(np.int64)
        np.maximum.at(last_seen, ac, d.reports["t"])

    out: dict[str, Any] = {
        "n_aircraft": n_ac,
        "n_adsb": int(sc.adsb.sum()),
        "evaluations": n_eval,
        "pictures": {},
    }
    raw = {name: s.arrays() for name, s in samples.items()}
    for name, smp in samples.items():
        summ = smp.summary(sc.adsb)
        summ["gospa_series"] = {
            "t_s": [t - sc.t0 for t in smp.t],
            "gospa_m": smp.gospa,
            "ospa_m": smp.ospa,
            "n_truth": smp.n_truth,
        }
        if name == FUSED:
            led = ledgers[name]
            summ["track_breaks"] = led.breaks
            summ["identity_swaps"] = led.swaps
            summ["wrong_icao_samples"] = wrong_icao
            for e in led.events:
                # From an expiry before the last match: the gap that made the track go.
                t_from = e["t"] - e["unmatched_s"] - ev.expiry_s
                e["sensor_gap_s"] = _report_gap(rt, e["aircraft"], t_from, e["t"])
                e["after_sensor_gap"] = e["sensor_gap_s"] >= ev.expiry_s
            summ["identity_events"] = led.events
            lost = led.lost(LOST_S)
            summ["lost_aircraft"] = [
                {
                    "aircraft": int(a),
                    "adsb": bool(sc.adsb[a]),
                    "longest_unmatched_s": float(led.longest_unmatched[a]),
                }
                for a in lost
            ]
            summ["longest_unmatched_s"] = float(led.longest_unmatched.max(initial=0.0))
        else:
            summ["paired_with_fused"] = {
                cls: paired_rmse(raw[FUSED], raw[name], n_ac, sel)
                for cls, sel in (("all", None), ("adsb", sc.adsb), ("no_adsb", ~sc.adsb))
            }
        out["pictures"][name] = summ
    out["fuser_stats"] = asdict(fu.stats)
    out["raw"] = raw
    return out


def _report_gap(rt: npt.NDArray[np.void], aircraft: int, t0: float, t1: float) -> float:
    """The longest stretch (s) in [t0, t1] without a report of the aircraft from any
    sensor: one as long as the expiry means its track had to go."""
    t = np.sort(rt["t"][(rt["aircraft"] == aircraft) & (rt["t"] >= t0) & (rt["t"] <= t1)])
    edges = np.concatenate([[t0], t, [t1]])
    return float(np.max(np.diff(edges)))


def _receive(st: _SensorState, rep: npt.NDArray[np.void], rows: npt.NDArray[np.void]) -> None:
    """Keep each aircraft's newest report of one received message in ``st``."""
    if len(rep) == 0:
        return
    ac = rows["aircraft"].astype(np.int64)
    t = rep["t"]
    order = np.argsort(t, kind="stable")  # the last write of an aircraft is its newest
    ac, rep = ac[order], rep[order]
    t = t[order]
    newer = ~(t <= st.t[ac])  # NaN (none yet) compares False: newer
    ac, rep = ac[newer], rep[newer]
    st.t[ac] = rep["t"]
    st.lat[ac] = rep["lat_deg"]
    st.lon[ac] = rep["lon_deg"]
    st.alt[ac] = altitude_m(rep)
    st.ve[ac] = rep["ve_ms"]
    st.vn[ac] = rep["vn_ms"]
