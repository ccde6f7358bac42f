"""``python -m bench alerts``: alert quality against simulated truth.

Four scenario families with truth (:mod:`fusion.sim.encounters`; the pairwise truth by
:mod:`fusion.sim.pairtruth`): en-route crossing and converging traffic with planted
conflicts and near misses, a terminal area with parallel approaches, turns onto final
and blunders, pairs level at adjacent flight levels, and manoeuvring conflicts (turns
and climbs into conflict, level-offs, turns into a near miss). Each is run for every
``--seeds`` seed, ``--duration`` s of data time.

**Replay path: the service's engine in process.** The simulator's sensor messages
(``--sensors``, by default the ``default`` preset: a hear-all ADS-B receiver at 1 Hz with
NACp noise and 25 ft altitudes, a terminal Mode S radar (4 s) and an en-route one (10 s)),
cut to each aircraft's active window, are encoded as the feeders publish them, then
decoded by :func:`fusion.schema.decode_message` and fed to :class:`fusion.engine.Engine`
in publication order, exactly what :meth:`fusion.service.Service.handle` does with each
MQTT message, without the broker in between. The engine runs on data time only (the
detection cycle for boundary tc runs once the data clock passes tc + the reorder
window), so replaying faster than real time gives the alerts a real-time run would
(``tests/test_engine.py`` checks that pacing and batching do not change them), and a
15-minute scenario takes seconds. The service is configured with its defaults (or
``--config``) plus an airspace file the bench writes: one terminal volume, 3 NM /
1000 ft below FL100 around the terminal scenario (:func:`fusion.sim.encounters.
terminal_volume_toml`); the other scenarios fly above FL150, under the [detection]
minima, 5 NM / 1000 ft.

Scoring (:mod:`bench.alerts_scoring` has the exact definitions): share of true losses
alerted (before the loss began, and at all); warning time = loss start - the data time
the first alert covering it was known (median, 5th percentile, minimum), beside the
warning a straight-line predictor could give at best; alerts classed as covering a loss,
``near`` (within 1.5 D and 1.5 H at once) or ``nuisance``; nuisances per hour of scenario
traffic and as a share of alerts; flickers (an alert ending and a new id opening for the
same pair within one encounter); alerts opened on pairs level at adjacent flight levels.
Per scenario and overall, against the targets (:data:`TARGETS`).

Output: ``alerts.json`` and ``alerts.png`` under ``--out`` (machine, command line,
parameters, per run and per scenario results, the targets); a table on stdout. Exit
status 0 when the run completed, whether or not the targets are met; 1 on an error.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench.alerts_scoring import (
    ENCOUNTER_GAP_S,
    AlertRecord,
    Scored,
    collect_alerts,
    pool,
    score,
    summary,
)
from bench.report import finish, sources_sha256

ROOT: Final = Path(__file__).resolve().parent.parent
T0: Final = 1_764_000_000.0  # scenario start, UTC epoch s (2025-11-24 16:00 UTC)
SCENARIOS: Final = ("enroute", "terminal", "level", "manoeuvring")
TARGET_MEDIAN_S: Final = 90.0
TARGET_P5_S: Final = 30.0
TARGET_NUISANCE_SHARE: Final = 0.05
TARGETS: Final = (
    "every true loss of separation alerted",
    f"median warning time >= {TARGET_MEDIAN_S:g} s (T = 120 s)",
    f"5th percentile warning time >= {TARGET_P5_S:g} s",
    f"nuisance alerts <= {TARGET_NUISANCE_SHARE:.0%} of alerts",
    "zero flicker",
    "zero alerts on level pairs at adjacent flight levels",
)

# Scenario sizes per run: full and --quick.
SIZES: Final[dict[str, dict[str, dict[str, int]]]] = {
    "full": {
        "enroute": {"n_conflicts": 10, "n_near": 6, "n_background": 12},
        "terminal": {"n_blunders": 2},
        "level": {"n_pairs": 10},
        "manoeuvring": {"n_turn": 5, "n_climb": 5, "n_leveloff": 2, "n_turn_near": 3},
    },
    "quick": {
        "enroute": {"n_conflicts": 3, "n_near": 2, "n_background": 3},
        "terminal": {"n_blunders": 1},
        "level": {"n_pairs": 3},
        "manoeuvring": {"n_turn": 1, "n_climb": 1, "n_leveloff": 1, "n_turn_near": 1},
    },
}


# --------------------------------------------------------------------------- one run


def sensor_messages(es: Any, sensors: Any) -> list[Any]:
    """The scenario's sensor messages, each cut to the reports of aircraft inside their
    active window (re-encoded as the feeder would publish them; empty ones dropped)."""
    from fusion.schema import decode_message, encode_batch
    from fusion.sim import SimMessage, build_messages_with_truth

    msgs, rt = build_messages_with_truth(es.scenario, sensors)
    tau = rt["t"] - es.scenario.t0
    ac = rt["aircraft"].astype(np.int64)
    win = es.active_s
    keep = (tau >= win[ac, 0]) & (tau <= win[ac, 1])
    starts = np.r_[0, np.cumsum([m.n_reports for m in msgs])]
    out = []
    for k, m in enumerate(msgs):
        sel = keep[starts[k] : starts[k + 1]]
        if not sel.any():
            continue
        d = decode_message(m.payload, m.feeder)
        if d.rejected_rows.size:  # pragma: no cover - the simulator's reports are valid
            raise RuntimeError(f"simulated message rejected: {d.reasons}")
        rep = d.reports[sel]
        out.append(SimMessage(m.t_pub, m.feeder, encode_batch(m.feeder, d.kind, rep), len(rep)))
    return out


def replay(messages: Sequence[Any], config: Any) -> tuple[list[tuple[float, dict[str, Any]]], Any]:
    """Feed the messages to a fresh engine as the service does; (events, counters).

    Each event comes as (t_pub of the message whose ingestion emitted it, its payload as
    a dict): t_pub is the data time at which a real-time service would have published it.
    """
    from fusion.engine import Engine
    from fusion.schema import decode_message

    eng = Engine(config)
    events: list[tuple[float, dict[str, Any]]] = []
    for m in messages:
        # As Service.handle, bounded by the data clock; no wall clock (a replay of old data).
        d = decode_message(m.payload, m.feeder, data_time=eng.counters.data_time)
        for ev in eng.ingest(d):
            events.append((m.t_pub, ev.to_dict()))
    return events, eng.counters


def run_one(name: str, seed: int, args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """Generate, measure the truth, replay, score: one (scenario, seed)."""
    from fusion.sim import SENSOR_PRESETS
    from fusion.sim.encounters import GENERATORS
    from fusion.sim.pairtruth import pair_truths

    t_start = time.perf_counter()
    sizes = SIZES["quick" if args.quick else "full"][name]
    es = GENERATORS[name](seed, T0, args.duration, **sizes)
    sc = es.scenario
    truths = pair_truths(sc, es.active_s, es.sep_h_m, es.sep_v_m)
    if args.write_truth is not None:
        from fusion.sim.pairtruth import truth_table

        args.write_truth.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            args.write_truth / f"alerts_truth_{name}_{seed}.npz",
            truth=truth_table(sc, es.active_s),
            icao=sc.icao,
            role=np.array(sc.role),
            active_s=es.active_s,
            t0=sc.t0,
        )
    t_truth = time.perf_counter()
    msgs = sensor_messages(es, SENSOR_PRESETS[args.sensors])
    t_msgs = time.perf_counter()
    events, counters = replay(msgs, config)
    t_replay = time.perf_counter()
    prefix = f"{name}:{seed}:"
    records = collect_alerts(events)
    for r in records:
        r.alert_id = prefix + r.alert_id
    man = {int(sc.icao[k]): [sc.t0 + m for m in es.manoeuvres_s[k]] for k in range(sc.n_aircraft)}
    scored = score(records, truths, config.detection.lookahead_s, man, args.encounter_gap)
    minima_nm = es.sep_h_m / 1852.0
    res = summary(scored, args.duration / 3600.0, es.flight_hours(), sc.t0)
    res.update(
        scenario=name,
        seed=seed,
        aircraft=sc.n_aircraft,
        adsb_equipped=int(sc.adsb.sum()),
        planted={k: sum(1 for g in es.planted if g.kind == k) for k in _kinds(es)},
        sep_h_nm=minima_nm,
        alerts_with_other_minima=sum(1 for r in records if abs(r.sep_h_nm - minima_nm) > 1e-6),
        messages=len(msgs),
        reports=int(sum(m.n_reports for m in msgs)),
        cycles=counters.cycles,
        reports_late=counters.reports_late,
        events=len(events),
        losses=[x.to_dict(sc.t0) for x in scored.losses],
        alert_list=(alist := [_alert_dict(r, scored, sc, truths) for r in records]),
        alerts_by_kinds=_by_kinds(alist),
        flicker_list=scored.flickers,
        near_pairs=_near_pairs(truths, es),
        level_pair_readings_ft=_level_readings(msgs, es) if name == "level" else None,
        wall_s={
            "truth": t_truth - t_start,
            "messages": t_msgs - t_truth,
            "replay": t_replay - t_msgs,
        },
    )
    print(
        f"  {name:<12} seed {seed}: {sc.n_aircraft} aircraft, {res['true_losses']} losses "
        f"({res['alerted']} alerted), {res['alerts']} alerts {res['alerts_by_class']}, "
        f"{res['flickers']} flickers, {res['adjacent_level_alerts']} adjacent-level; "
        f"replay {t_replay - t_msgs:.1f} s",
        flush=True,
    )
    res["_scored"] = scored
    return res


def _kinds(es: Any) -> list[str]:
    return sorted({g.kind for g in es.planted})


def _alert_dict(r: AlertRecord, sc: Scored, scenario: Any, truths: Sequence[Any]) -> dict[str, Any]:
    """One alert for the JSON: its lifecycle, class, and the planted kinds and truth of
    its pair (least rho, horizontal closest approach)."""
    t0 = scenario.t0
    row = {int(ic): k for k, ic in enumerate(scenario.icao)}
    pt = next((p for p in truths if p.key == r.pair), None)
    return {
        "id": r.alert_id,
        "a": None if r.a is None else f"{r.a:06X}",
        "b": None if r.b is None else f"{r.b:06X}",
        "kinds": [scenario.role[row[x]] if x in row else None for x in (r.a, r.b)],
        "pair_rho_min": None if pt is None else pt.rho_min,
        "pair_d_cpa_nm": None if pt is None else pt.d_cpa_m / 1852.0,
        "pair_dz_cpa_ft": None if pt is None else pt.dz_cpa_m / 0.3048,
        "class": sc.alert_class[r.alert_id],
        "new_s": r.t_new - t0,
        "known_s": r.t_known - t0,
        "end_s": None if r.t_end is None else r.t_end - t0,
        "end_reason": r.end_reason,
        "severities": r.severities,
        "hypotheses": r.hypotheses,
        "sep_h_nm": r.sep_h_nm,
        "updates": r.n_updates,
        "adjacent_level": r.alert_id in sc.adjacent_level,
    }


def _level_readings(messages: Sequence[Any], es: Any) -> dict[str, int]:
    """How far apart the reports put the planted level pairs (exactly 1000 ft apart in
    truth): each report of one aircraft against the other's newest report of the
    previous 2 s, |difference| in ft -> count. Shows the 25 ft steps and noise that make
    some read 975 ft apart."""
    from fusion.schema import ReportArray, decode_message, empty_reports

    parts = [decode_message(m.payload, m.feeder).reports for m in messages]
    rep: ReportArray = np.concatenate(parts) if parts else empty_reports(0)
    out: dict[int, int] = {}
    for g in es.planted:
        if g.kind != "level_pair":
            continue
        ia, ib = (int(es.scenario.icao[r]) for r in g.rows)
        a = rep[rep["icao"] == ia]
        b = rep[rep["icao"] == ib]
        b = b[np.argsort(b["t"], kind="stable")]
        k = np.searchsorted(b["t"], a["t"], side="right") - 1
        ok = (k >= 0) & (a["t"] - b["t"][np.maximum(k, 0)] <= 2.0)
        diff = np.abs(a["alt_baro_ft"][ok] - b["alt_baro_ft"][k[ok]])
        for v in np.round(diff).astype(np.int64).tolist():
            out[v] = out.get(v, 0) + 1
    return {str(k): out[k] for k in sorted(out)}


def _by_kinds(alerts: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Alert classes per pair of planted kinds (sorted, joined by '+'), e.g.
    ``{"arrival_25R+arrival_25R": {"nuisance": 14}}``: which encounters raise what."""
    out: dict[str, dict[str, int]] = {}
    for a in alerts:
        key = "+".join(sorted(str(k) for k in a["kinds"]))
        cls = out.setdefault(key, {})
        cls[a["class"]] = cls.get(a["class"], 0) + 1
    return out


def _near_pairs(truths: Sequence[Any], es: Any) -> list[dict[str, Any]]:
    """The truth of every pair that came within 1.5 D and 1.5 H at once, with the
    planted kinds of its aircraft."""
    role = es.scenario.role
    out = []
    for p in truths:
        if p.rho_min < 1.5:
            d = p.summary()
            d["kinds"] = [role[p.row_a], role[p.row_b]]
            d["losses"] = [[s - es.scenario.t0, e - es.scenario.t0] for s, e in p.losses]
            d["t_cpa"] = p.t_cpa - es.scenario.t0
            out.append(d)
    return out


# --------------------------------------------------------------------------- targets


def evaluate_targets(overall: dict[str, Any]) -> list[dict[str, Any]]:
    """Pass / fail of each target on the pooled runs, with what was measured."""
    w = overall["warning"]
    n = overall["true_losses"]

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f} s"

    return [
        {
            "target": TARGETS[0],
            "measured": f"{overall['alerted']} of {n} alerted "
            f"({overall['alerted_before_loss']} before the loss began)",
            "pass": n > 0 and overall["alerted"] == n,
        },
        {
            "target": TARGETS[1],
            "measured": f"median {fmt(w['median_s'])}",
            "pass": w["median_s"] is not None and w["median_s"] >= TARGET_MEDIAN_S,
        },
        {
            "target": TARGETS[2],
            "measured": f"5th percentile {fmt(w['p5_s'])} (min {fmt(w['min_s'])})",
            "pass": w["p5_s"] is not None and w["p5_s"] >= TARGET_P5_S,
        },
        {
            "target": TARGETS[3],
            "measured": f"{overall['alerts_by_class']['nuisance']} of {overall['alerts']} "
            f"({overall['nuisance_share']:.1%}; "
            f"{overall['nuisance_per_hour']:.2f} per hour of traffic)",
            "pass": overall["nuisance_share"] <= TARGET_NUISANCE_SHARE,
        },
        {
            "target": TARGETS[4],
            "measured": f"{overall['flickers']} flickers",
            "pass": overall["flickers"] == 0,
        },
        {
            "target": TARGETS[5],
            "measured": f"{overall['adjacent_level_alerts']} alerts",
            "pass": overall["adjacent_level_alerts"] == 0,
        },
    ]


# --------------------------------------------------------------------------- output


def _f(x: float | None, fmt: str = ".1f") -> str:
    return "-" if x is None else format(x, fmt)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def result_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per scenario and one overall: the table of stdout and the README."""
    rows = [
        [
            "scenario",
            "losses",
            "alerted",
            "before",
            "warn median s",
            "warn p5 s",
            "warn min s",
            "predictable: n, p5 s",
            "shortfall median s",
            "alerts",
            "loss/near/nuis.",
            "nuis. share",
            "nuis./h",
            "flicker",
            "adj. level",
        ]
    ]
    for name, s in [*report["scenarios"].items(), ("overall", report["overall"])]:
        c = s["alerts_by_class"]
        rows.append(
            [
                name,
                str(s["true_losses"]),
                str(s["alerted"]),
                str(s["alerted_before_loss"]),
                _f(s["warning"]["median_s"]),
                _f(s["warning"]["p5_s"]),
                _f(s["warning"]["min_s"]),
                f"{s['predictable_losses']}, {_f(s['warning_predictable']['p5_s'])}",
                _f(s["warning_shortfall"]["median_s"]),
                str(s["alerts"]),
                f"{c['loss']}/{c['near']}/{c['nuisance']}",
                f"{s['nuisance_share']:.1%}",
                _f(s["nuisance_per_hour"], ".2f"),
                str(s["flickers"]),
                str(s["adjacent_level_alerts"]),
            ]
        )
    return rows


def format_tables(report: dict[str, Any]) -> str:
    parts = ["Per scenario (pooled over seeds) and overall:\n" + _table(result_rows(report))]
    rows = [["target", "measured", "result"]]
    for t in report["targets"]:
        rows.append([t["target"], t["measured"], "PASS" if t["pass"] else "FAIL"])
    parts.append("Targets:\n" + _table(rows))
    m = report["machine"]
    parts.append(
        f"Machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, load average at start "
        f"{m['load_average_at_start'][0]:.2f}; {m['date']}"
    )
    return "\n\n".join(parts)


def plot(report: dict[str, Any], path: Path) -> None:
    """Warning time per scenario (each loss; achieved against available), alert classes
    per scenario, and the flicker / adjacent-level / missed counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["scenarios"])
    fig, ax = plt.subplots(1, 3, figsize=(16, 5.2))
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        ws = report["scenarios"][name]["warning_s"]
        if ws:
            x = k + rng.uniform(-0.15, 0.15, len(ws))
            ax[0].scatter(x, ws, s=14, alpha=0.7, color=f"C{k}")
            ax[0].boxplot([ws], positions=[k], widths=0.5, showfliers=False)
        else:
            ax[0].annotate("no true losses", (k, TARGET_P5_S / 2), ha="center", fontsize=8)
        missed = len(report["scenarios"][name]["missed"])
        if missed:
            ax[0].scatter([k], [-20.0], marker="x", color="red", s=60)
            ax[0].annotate(f"{missed} missed", (k, -20.0), fontsize=8, color="red")
    ax[0].axhline(TARGET_MEDIAN_S, color="tab:green", ls="--", lw=0.8, label="median target")
    ax[0].axhline(TARGET_P5_S, color="tab:orange", ls="--", lw=0.8, label="5th pct. target")
    ax[0].set_xticks(range(len(names)), names)
    ax[0].set_ylabel("warning time, s (loss start - first alert known)")
    ax[0].set_title("warning time per true loss of separation", fontsize=9)
    ax[0].legend(fontsize=8)
    for r in report["runs"]:
        for loss in r["losses"]:
            if loss["warning_s"] is not None:
                ax[1].scatter(
                    loss["available_warning_s"],
                    loss["warning_s"],
                    s=14,
                    color=f"C{names.index(r['scenario'])}",
                    label=r["scenario"],
                )
    handles, labels = ax[1].get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax[1].legend(uniq.values(), uniq.keys(), fontsize=8)
    lim = max([1.0, *[x["available_warning_s"] for r in report["runs"] for x in r["losses"]]])
    ax[1].plot([0, lim], [0, lim], color="grey", lw=0.8)
    ax[1].axhline(120.0, color="grey", ls=":", lw=0.8)
    ax[1].set_xlabel(
        "available warning, s (since the pair appeared or last changed velocity; <= T)"
    )
    ax[1].set_ylabel("warning time, s")
    ax[1].set_title("warning achieved vs available (look-ahead dotted)", fontsize=9)
    xs = np.arange(len(names))
    bottom = np.zeros(len(names))
    for cls, col in (("loss", "tab:blue"), ("near", "tab:gray"), ("nuisance", "tab:red")):
        v = np.array([report["scenarios"][n]["alerts_by_class"][cls] for n in names], dtype=float)
        ax[2].bar(xs, v, 0.5, bottom=bottom, color=col, label=f"alerts: {cls}")
        bottom += v
    for k, n in enumerate(names):
        s = report["scenarios"][n]
        ax[2].annotate(
            f"flicker {s['flickers']}\nadj. level {s['adjacent_level_alerts']}",
            (k, bottom[k]),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax[2].set_xticks(xs, names)
    ax[2].set_ylim(0, max(1.0, float(bottom.max())) * 1.2)
    ax[2].set_ylabel("alerts (all seeds)")
    ax[2].set_title("alerts by class", fontsize=9)
    ax[2].legend(fontsize=8)
    m = report["machine"]
    fig.suptitle(
        f"python -m bench alerts; seeds {report['parameters']['seeds']}, "
        f"{report['parameters']['duration_s']:g} s each; {m['cpu_model']}; {m['date'][:10]}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------- driver


# The code this benchmark measures.
_SOURCES = ("fusion/*.py", "fusion/sim/*.py", "kernels/*.py")


def _ints(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x.strip()]


def _names(text: str) -> list[str]:
    out = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in out if x not in SCENARIOS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown scenario(s) {bad}; known: {list(SCENARIOS)}")
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line of ``python -m bench alerts``."""
    p = argparse.ArgumentParser(
        prog="python -m bench alerts",
        description="Alert quality against simulated truth: four scenario families "
        "(en-route conflicts and near misses; terminal parallel approaches with turns onto "
        "final and blunders; pairs level at adjacent flight levels; turns and climbs into "
        "conflict) replayed through the service's engine at data time. Scores the share of "
        "true losses of separation alerted, warning time (median, 5th percentile), nuisance "
        "alerts (per hour, share), flicker and adjacent-level alerts against the targets. "
        "Writes alerts.json and alerts.png.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    a = p.add_argument
    a("--seeds", type=_ints, default=[1, 2, 3], help="scenario seeds, comma-separated")
    a("--duration", type=float, default=900.0, help="length of each scenario, s of data time")
    a(
        "--scenarios",
        type=_names,
        default=list(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    a(
        "--sensors",
        default="default",
        choices=["default", "fusion"],
        help="simulator sensor preset (fusion.sim.presets)",
    )
    a(
        "--config",
        type=Path,
        default=None,
        help="service configuration TOML (defaults if absent); its airspace is replaced by "
        "the bench's terminal volume",
    )
    a(
        "--threads",
        type=int,
        default=1,
        help="Numba threads for the service's kernels. The alerts do not depend on it (the "
        "kernels' results are independent of the thread count); with a few dozen tracks one "
        "thread is several times faster than two on a shared machine",
    )
    a(
        "--encounter-gap",
        type=float,
        default=ENCOUNTER_GAP_S,
        help="flicker: a pair's next alert opening within this many s of the previous "
        "one's end is the same encounter",
    )
    a(
        "--out",
        type=Path,
        default=ROOT / "bench" / "results",
        help="directory for alerts.json and alerts.png",
    )
    a(
        "--write-truth",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write each run's 1 Hz truth (time, ICAO, position, velocity of every "
        "aircraft while reported), its aircraft and active windows as "
        "DIR/alerts_truth_{scenario}_{seed}.npz",
    )
    a(
        "--quick",
        action="store_true",
        help="small run for tests: seed 1, 600 s, a few encounters per scenario",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.seeds = [1]
        args.duration = 600.0
    if args.duration < 600.0:
        p.error("--duration must be at least 600 s (the manoeuvring encounters need it)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; write alerts.json and alerts.png under ``--out``."""
    from bench.cpa import machine_info
    from fusion.config import load_config
    from fusion.sim.encounters import terminal_volume_toml

    args = parse_args(argv)
    import numba

    most = int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))
    numba.set_num_threads(max(1, min(args.threads, most)))
    started = time.perf_counter()
    sources = sources_sha256(*_SOURCES)
    airspace_text = terminal_volume_toml()
    report: dict[str, Any] = {
        "benchmark": "alerts",
        "command": "python -m bench alerts " + " ".join(sys.argv[2:] if argv is None else argv),
        "machine": machine_info(),
        "sources_sha256": sources,
    }
    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        airspace = Path(tmp) / "airspace.toml"
        airspace.write_text(airspace_text)
        config = replace(load_config(args.config), airspace=str(airspace))
        report["parameters"] = {
            "seeds": args.seeds,
            "duration_s": args.duration,
            "scenarios": args.scenarios,
            "sizes": SIZES["quick" if args.quick else "full"],
            "sensors": args.sensors,
            "numba_threads": numba.get_num_threads(),
            "scenario_t0": T0,
            "encounter_gap_s": args.encounter_gap,
            "service_config": {
                "detection": vars(config.detection),
                "alerts": vars(config.alerts),
                "fusion": vars(config.fusion),
            },
            "airspace_toml": airspace_text,
            "replay": "in-process fusion.engine.Engine fed the encoded sensor messages in "
            "publication order (decode_message + Engine.ingest, as Service.handle); "
            "alert 'known at' = t_pub of the message whose ingestion emitted it",
        }
        print(f"alerts: {len(args.scenarios)} scenarios x seeds {args.seeds} ...", flush=True)
        for name in args.scenarios:
            for seed in args.seeds:
                try:
                    runs.append(run_one(name, seed, args, config))
                except Exception as exc:  # one broken run should not hide the others
                    errors.append(f"{name} seed {seed}: {type(exc).__name__}: {exc}")
                    print(f"  {name} seed {seed}: ERROR {exc}", file=sys.stderr, flush=True)
    hours = args.duration / 3600.0
    report["scenarios"] = {}
    for name in args.scenarios:
        mine = [r for r in runs if r["scenario"] == name]
        if mine:
            report["scenarios"][name] = summary(
                pool([r["_scored"] for r in mine]),
                hours * len(mine),
                sum(r["flight_hours"] for r in mine),
                T0,
            )
    report["overall"] = summary(
        pool([r["_scored"] for r in runs]),
        hours * len(runs),
        sum(r["flight_hours"] for r in runs),
        T0,
    )
    for r in runs:
        r.pop("_scored")
    report["runs"] = runs
    report["targets"] = evaluate_targets(report["overall"])
    report["errors"] = errors
    report["total_wall_s"] = time.perf_counter() - started
    report["load_average_at_end"] = list(os.getloadavg())
    return finish("alerts", report, args.out, sources, _SOURCES, plot, format_tables, errors)


if __name__ == "__main__":
    sys.exit(main())
