"""``python -m bench fusion``: accuracy, identity and throughput of multi-sensor fusion.

Three parts, each against the targets of the fusion issue (item 6):

1. **Accuracy** (:mod:`bench.fusion_accuracy`): the simulator's default scenario (50
   aircraft, 85 % of the background ADS-B equipped) seen by its ``fusion`` sensor suite
   (three ADS-B receivers, two Mode S radars, one primary radar, GNSS spoofing and
   jamming zones), one run per ``--seeds``, fed to the fuser message by message. The fused
   picture and each sensor alone (its newest report per aircraft, extrapolated, with
   perfect association: the sensor's best case) are scored every ``--eval-every`` s
   after ``--warmup`` s: horizontal position RMSE, velocity RMSE, GOSPA (cut-off
   ``--gospa-c``, order ``--gospa-p``, alpha 2), per aircraft class (ADS-B equipped or
   not). Target: fused position error below the best single sensor, compared on the
   (time, aircraft) samples both have (``paired``), for all aircraft and per class.
2. **Identity** (:mod:`bench.fusion_scenarios`): crossing traffic, pairs crossing at
   0-0.25 NM on one level at 0-180 degrees (0: overtaking on one track), both / one /
   neither ADS-B equipped, seen by one ADS-B receiver and the primary radar (no
   identity), one run per
   ``--crossing-seeds``. Track breaks and identity swaps of the fused picture (see
   :class:`bench.fusion_metrics.Ledger`); target: no identity swaps. The default scenario
   runs count them too.
3. **Throughput** (:mod:`bench.fusion_throughput`): reports/s through association and
   filter for ``--sizes`` aircraft, ICAO-addressed (ADS-B) and anonymous radar tracks,
   each with every ``--threads`` count in its own subprocess (``NUMBA_NUM_THREADS``);
   median over ``--seconds`` seconds of data after ``--warmup-seconds``. Targets:
   500,000 reports/s with ICAO, 100,000 reports/s for radar tracks without, at the
   largest thread count, every size. A third, ``mixed`` feed (ADS-B for 85 % of the
   aircraft plus a radar seeing all, the service's usual load) has no target.

OSPA against a Stone Soup GNN tracker (also in the issue): run when the optional
``stonesoup`` package is installed (``pip install -e .[baseline]``), see
:mod:`bench.fusion_stonesoup`; otherwise the JSON and the table say it was not run.

Output: ``fusion.json`` and ``fusion.png`` under ``--out``; a table on stdout. Exit
status 0 when the run completed, whether or not the targets are met (they are reported
pass / fail); 1 on an error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench.cpa import machine_info
from bench.report import finish, sources_sha256

ROOT: Final = Path(__file__).resolve().parent.parent
T0: Final = 1_764_000_000.0  # scenario start, UTC epoch s (2025-11-24 16:00 UTC)
TARGET_ICAO_RPS: Final = 500_000.0
TARGET_RADAR_RPS: Final = 100_000.0
CLASSES: Final = ("all", "adsb", "no_adsb")


# --------------------------------------------------------------------------- parts


def accuracy_part(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The default scenario, one run per seed: results without the raw arrays."""
    from bench.fusion_accuracy import EvalConfig, run_accuracy
    from fusion.sim import ScenarioConfig, build_scenario
    from fusion.sim.presets import FUSION_SENSORS

    ev = EvalConfig(args.warmup, args.eval_every, args.expiry, args.gospa_c, args.gospa_p)
    out = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        sc = build_scenario(ScenarioConfig(seed=seed, t0=T0, duration_s=args.duration))
        res = run_accuracy(sc, FUSION_SENSORS, ev)
        res.pop("raw")
        res.update(
            scenario="default",
            sensors="fusion",
            seed=seed,
            duration_s=args.duration,
            wall_s=time.perf_counter() - t0,
        )
        print(
            f"  default scenario seed {seed}: {res['evaluations']} evaluations, "
            f"{res['wall_s']:.1f} s",
            flush=True,
        )
        out.append(res)
    return out


def crossing_part(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The crossing scenario, one run per seed, with a per-pair account of events."""
    from bench.fusion_accuracy import EvalConfig, run_accuracy
    from bench.fusion_scenarios import CROSSING_SENSORS, crossing_scenario

    ev = EvalConfig(
        min(args.warmup, 30.0), args.crossing_eval_every, args.expiry, args.gospa_c, args.gospa_p
    )
    out = []
    for seed in args.crossing_seeds:
        t0 = time.perf_counter()
        sc, pairs = crossing_scenario(T0, seed=seed, duration_s=args.crossing_duration)
        res = run_accuracy(sc, CROSSING_SENSORS, ev)
        res.pop("raw")
        events = res["pictures"]["fused"]["identity_events"]
        lost = res["pictures"]["fused"]["lost_aircraft"]
        plist = []
        for p in pairs:
            mine = [e for e in events if e["aircraft"] in (p.a, p.b)]
            plist.append(
                {
                    "a": p.a,
                    "b": p.b,
                    "angle_deg": p.angle_deg,
                    "equipage": p.equipage,
                    "miss_m": p.miss_m,
                    "speeds_ms": [p.speed_a_ms, p.speed_b_ms],
                    "tau_cpa_s": p.tau_cpa_s,
                    "breaks": sum(1 for e in mine),
                    "swaps": sum(1 for e in mine if e["kind"] == "swap"),
                    "events_t_minus_cpa_s": [e["t"] - T0 - p.tau_cpa_s for e in mine],
                    "lost": [x for x in lost if x["aircraft"] in (p.a, p.b)],
                }
            )
        res.update(
            scenario="crossing",
            sensors="adsb-1 + radar-mil (primary)",
            seed=seed,
            duration_s=args.crossing_duration,
            pairs=plist,
            wall_s=time.perf_counter() - t0,
        )
        f = res["pictures"]["fused"]
        print(
            f"  crossing seed {seed}: {len(pairs)} pairs, {f['track_breaks']} breaks, "
            f"{f['identity_swaps']} swaps, {res['wall_s']:.1f} s",
            flush=True,
        )
        out.append(res)
    return out


MIXED_NOTE: Final = (
    "mixed is run only up to --mixed-max-n: at N = 50,000 an earlier fuser ran out of "
    "memory (24 GiB) in the first releases, when every radar track is still anonymous and "
    "the merge check's assignment was one dense matrix over all anonymous x identified "
    "tracks with a gated pair (50k x 42.5k); fusion.association now assigns per connected "
    "group of gated pairs, not re-measured at 50k here"
)


def throughput_part(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    """Every (kind, N, threads) in its own subprocess; (results, errors)."""
    from bench.fusion_throughput import KINDS

    out = []
    errors = []
    for kind in KINDS:
        for n in sorted(args.sizes):
            if kind == "mixed" and n > args.mixed_max_n:
                continue
            for threads in args.threads:
                spec = {
                    "n": n,
                    "kind": kind,
                    "seed": args.seed,
                    "warmup": args.warmup_seconds,
                    "seconds": args.seconds,
                    "threads": threads,
                }
                try:
                    res = _subprocess(spec, {"NUMBA_NUM_THREADS": str(threads)})
                except RuntimeError as exc:
                    errors.append(str(exc))
                    print(f"  {kind:>5} N={n:<6} threads={threads}: ERROR {exc}", flush=True)
                    continue
                res["load_average_1min_after"] = os.getloadavg()[0]
                print(
                    f"  {kind:>5} N={n:<6} threads={threads}: "
                    f"{res['median_ms']:.1f} ms per second of data, "
                    f"{res['reports_per_s']:,.0f} reports/s",
                    flush=True,
                )
                out.append(res)
    return out, errors


def _subprocess(spec: dict[str, Any], env_extra: dict[str, str]) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="bench-fusion-") as tmp:
        path = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "bench.fusion", "--worker", json.dumps(spec), str(path)]
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            how = (
                f"killed by signal {-proc.returncode}"
                + (" (SIGKILL: out of memory?)" if proc.returncode == -9 else "")
                if proc.returncode < 0
                else f"exit status {proc.returncode}"
            )
            raise RuntimeError(f"worker {spec} {how}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(path.read_text())
    return result


def stonesoup_part(args: argparse.Namespace) -> dict[str, Any]:
    """The Stone Soup baseline if the package is installed, else why it was not run."""
    if args.no_stonesoup:
        return {"run": False, "reason": "skipped: --no-stonesoup"}
    try:
        import stonesoup  # noqa: F401
    except ImportError:
        return {
            "run": False,
            "reason": "the optional package 'stonesoup' is not installed "
            "(pip install -e .[baseline]); OSPA against a Stone Soup GNN tracker not "
            "measured",
        }
    from bench.fusion_stonesoup import run_stonesoup_comparison

    return run_stonesoup_comparison(T0, args)


# --------------------------------------------------------------------------- targets


def pooled(runs: list[dict[str, Any]], picture: str, cls: str, key: str) -> float | None:
    """An RMSE pooled over runs (weighted by their sample counts)."""
    num = den = 0.0
    for r in runs:
        p = r["pictures"].get(picture)
        if p is None or p[cls][key] is None:
            continue
        num += p[cls]["n"] * p[cls][key] ** 2
        den += p[cls]["n"]
    return float(np.sqrt(num / den)) if den else None


def pooled_paired(runs: list[dict[str, Any]], sensor: str, cls: str) -> dict[str, Any]:
    """Paired fused / sensor position RMSE pooled over runs."""
    n = 0
    f = s = 0.0
    for r in runs:
        pw = r["pictures"][sensor]["paired_with_fused"][cls]
        if pw["n"]:
            n += pw["n"]
            f += pw["n"] * pw["fused_pos_rmse_m"] ** 2
            s += pw["n"] * pw["sensor_pos_rmse_m"] ** 2
    if not n:
        return {"n": 0, "fused_pos_rmse_m": None, "sensor_pos_rmse_m": None}
    return {
        "n": n,
        "fused_pos_rmse_m": float(np.sqrt(f / n)),
        "sensor_pos_rmse_m": float(np.sqrt(s / n)),
    }


def sensors_of(runs: list[dict[str, Any]]) -> list[str]:
    return sorted({k for r in runs for k in r["pictures"] if k != "fused"})


def evaluate_targets(report: dict[str, Any], threads: list[int]) -> list[dict[str, Any]]:
    """Pass / fail per target, with what was measured."""
    out: list[dict[str, Any]] = []
    runs = report["accuracy"]
    for cls in CLASSES:
        cands = [(pooled(runs, s, cls, "pos_rmse_m"), s) for s in sensors_of(runs)]
        cands = [(v, s) for v, s in cands if v is not None]
        if not cands:
            continue
        _, best = min(cands)
        pw = pooled_paired(runs, best, cls)
        per_seed = [r["pictures"][best]["paired_with_fused"][cls] for r in runs]
        ok = all(p["n"] == 0 or p["fused_pos_rmse_m"] < p["sensor_pos_rmse_m"] for p in per_seed)
        out.append(
            {
                "target": f"fused position error below the best single sensor ({cls} aircraft)",
                "best_sensor": best,
                "measured": f"paired RMSE fused {pw['fused_pos_rmse_m']:.1f} m vs {best} "
                f"{pw['sensor_pos_rmse_m']:.1f} m over {pw['n']} samples",
                "pass": bool(ok and pw["n"] > 0),
            }
        )
    swaps = sum(r["pictures"]["fused"]["identity_swaps"] for r in report["crossing"])
    lost = sum(len(r["pictures"]["fused"]["lost_aircraft"]) for r in report["crossing"])
    breaks = sum(r["pictures"]["fused"]["track_breaks"] for r in report["crossing"])
    out.append(
        {
            "target": "no identity swaps in the crossing scenario",
            "measured": f"{swaps} swaps ({breaks} track breaks; {lost} aircraft lost "
            f">= 30 s, not a swap) over {len(report['crossing'])} run(s)",
            "pass": swaps == 0 and bool(report["crossing"]),
        }
    )
    tmax = max(threads)
    for kind, target in (("icao", TARGET_ICAO_RPS), ("radar", TARGET_RADAR_RPS)):
        for c in report["throughput"]:
            if c["kind"] == kind and c["threads"] == tmax:
                out.append(
                    {
                        "target": f">= {target:,.0f} reports/s, "
                        f"{'ICAO-addressed' if kind == 'icao' else 'radar, no ICAO'}, "
                        f"N = {c['n']:,}, {tmax} thread(s)",
                        "measured": f"{c['reports_per_s']:,.0f} reports/s",
                        "pass": c["reports_per_s"] >= target,
                    }
                )
    return out


# --------------------------------------------------------------------------- output


def _f(x: float | None, fmt: str = ".1f") -> str:
    return "-" if x is None else format(x, fmt)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def format_tables(report: dict[str, Any]) -> str:
    """Accuracy, paired, identity, throughput and target tables as plain text."""
    runs = report["accuracy"]
    parts = []
    seeds = ",".join(str(r["seed"]) for r in runs)
    rows = [
        [
            "picture",
            "pos RMSE m",
            "ADS-B ac",
            "non-ADS-B ac",
            "vel RMSE m/s",
            "GOSPA m",
            "missed",
            "false",
            "coverage",
        ]
    ]
    for pic in ["fused", *sensors_of(runs)]:
        ps = [r["pictures"][pic] for r in runs]
        rows.append(
            [
                pic,
                _f(pooled(runs, pic, "all", "pos_rmse_m")),
                _f(pooled(runs, pic, "adsb", "pos_rmse_m")),
                _f(pooled(runs, pic, "no_adsb", "pos_rmse_m")),
                _f(pooled(runs, pic, "all", "vel_rmse_ms"), ".2f"),
                _f(float(np.mean([p["gospa_mean_m"] for p in ps])), ".0f"),
                _f(float(np.mean([p["missed_mean"] for p in ps])), ".2f"),
                _f(float(np.mean([p["false_mean"] for p in ps])), ".2f"),
                _f(float(np.mean([p["coverage"] for p in ps])), ".3f"),
            ]
        )
    c = report["parameters"]
    parts.append(
        f"Accuracy, default scenario, seeds {seeds} (pooled; GOSPA c = "
        f"{c['gospa_c_m']:g} m, p = {c['gospa_p']:g}, alpha = 2; mean per "
        "evaluation):\n" + _table(rows)
    )
    rows = [["sensor", "class", "samples", "fused RMSE m", "sensor RMSE m", "ratio"]]
    for s in sensors_of(runs):
        for cls in CLASSES:
            pw = pooled_paired(runs, s, cls)
            if pw["n"]:
                rows.append(
                    [
                        s,
                        cls,
                        str(pw["n"]),
                        _f(pw["fused_pos_rmse_m"]),
                        _f(pw["sensor_pos_rmse_m"]),
                        _f(pw["fused_pos_rmse_m"] / pw["sensor_pos_rmse_m"], ".2f"),
                    ]
                )
    parts.append("Fused vs each sensor on the samples both have (paired):\n" + _table(rows))
    rows = [
        [
            "scenario",
            "seed",
            "aircraft",
            "breaks",
            "sensor gap",
            "swaps",
            "wrong ICAO",
            "lost >30 s",
            "longest s",
            "fused RMSE m",
            "non-ADS-B m",
        ]
    ]
    for r in [*runs, *report["crossing"]]:
        f = r["pictures"]["fused"]
        gap = sum(1 for e in f["identity_events"] if e["after_sensor_gap"])
        rows.append(
            [
                r["scenario"],
                str(r["seed"]),
                str(r["n_aircraft"]),
                str(f["track_breaks"]),
                str(gap),
                str(f["identity_swaps"]),
                str(f["wrong_icao_samples"]),
                str(len(f["lost_aircraft"])),
                _f(f["longest_unmatched_s"], ".0f"),
                _f(f["all"]["pos_rmse_m"]),
                _f(f["no_adsb"]["pos_rmse_m"]),
            ]
        )
    parts.append(
        "Identity (fused picture; 'sensor gap': breaks after no sensor reported the aircraft "
        "for the expiry time, so its track had to go; 'lost': "
        "reported by a sensor yet without a fused track for 30 s or more; 'longest': the "
        "longest such stretch):\n" + _table(rows)
    )
    if report["throughput"]:
        rows = [
            [
                "reports",
                "N",
                "reports / s of data",
                "threads",
                "ms / s of data",
                "release ms",
                "reports/s",
            ]
        ]
        for t in report["throughput"]:
            rows.append(
                [
                    t["kind"],
                    f"{t['n']:,}",
                    f"{t['reports_per_second_of_data']:,}",
                    str(t["threads"]),
                    _f(t["median_ms"]),
                    _f(t["release_median_ms"]),
                    f"{t['reports_per_s']:,.0f}",
                ]
            )
        parts.append("Throughput (add + release per second of data, median):\n" + _table(rows))
        if report.get("throughput_note"):
            parts.append("Note: " + report["throughput_note"])
    ss = report["stonesoup"]
    if not ss.get("run"):
        parts.append(f"Stone Soup baseline: not run ({ss.get('reason')})")
    else:
        parts.append("Stone Soup baseline:\n" + str(ss.get("summary")))
    rows = [["target", "measured", "result"]]
    for t in report["targets"]:
        rows.append([t["target"], t["measured"], "PASS" if t["pass"] else "FAIL"])
    parts.append("Targets:\n" + _table(rows))
    m = report["machine"]
    parts.append(
        f"Machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, "
        f"numba {m['numba']}, load average at start {m['load_average_at_start'][0]:.2f}"
    )
    return "\n\n".join(parts)


def plot(report: dict[str, Any], path: Path) -> None:
    """Four panels: position RMSE per picture and class, GOSPA over time (first seed),
    crossing-scenario events per angle, throughput against N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["accuracy"]
    fig, ax = plt.subplots(2, 2, figsize=(14, 9.5))
    pics = ["fused", *sensors_of(runs)]
    x = np.arange(len(pics))
    for k, (cls, col) in enumerate(
        zip(CLASSES, ("tab:blue", "tab:orange", "tab:green"), strict=True)
    ):
        vals = [pooled(runs, p, cls, "pos_rmse_m") or 0.0 for p in pics]
        ax[0, 0].bar(x + (k - 1) * 0.27, vals, 0.27, color=col, label=f"{cls} aircraft")
    ax[0, 0].set_xticks(x, [p.replace("sensor:", "") for p in pics], rotation=20, fontsize=8)
    ax[0, 0].set_yscale("log")
    ax[0, 0].set_ylabel("horizontal position RMSE, m (log)")
    ax[0, 0].set_title(
        "accuracy, default scenario (each sensor with perfect association)", fontsize=9
    )
    ax[0, 0].legend(fontsize=8)
    if runs:
        for p in pics:
            s = runs[0]["pictures"][p]["gospa_series"]
            ax[0, 1].plot(
                s["t_s"],
                s["gospa_m"],
                lw=2.0 if p == "fused" else 0.9,
                label=p.replace("sensor:", ""),
            )
        ax[0, 1].set_yscale("log")
        ax[0, 1].set_xlabel(f"data time, s after t0 (seed {runs[0]['seed']})")
        ax[0, 1].set_ylabel("GOSPA, m (log)")
        ax[0, 1].set_title(
            f"GOSPA, c = {report['parameters']['gospa_c_m']:g} m, p = 2, alpha = 2", fontsize=9
        )
        ax[0, 1].legend(fontsize=7, ncol=2)
    cr = report["crossing"]
    if cr:
        angles = sorted({p["angle_deg"] for r in cr for p in r["pairs"]})
        eqs = sorted({p["equipage"] for r in cr for p in r["pairs"]})
        xa = np.arange(len(angles))
        for k, eq in enumerate(eqs):
            br = [
                sum(
                    p["breaks"]
                    for r in cr
                    for p in r["pairs"]
                    if p["angle_deg"] == a and p["equipage"] == eq
                )
                for a in angles
            ]
            sw = [
                sum(
                    p["swaps"]
                    for r in cr
                    for p in r["pairs"]
                    if p["angle_deg"] == a and p["equipage"] == eq
                )
                for a in angles
            ]
            off = (k - 1) * 0.27
            ax[1, 0].bar(xa + off, br, 0.27, label=f"breaks, ADS-B: {eq}", alpha=0.6)
            lo = [
                sum(
                    len(p["lost"])
                    for r in cr
                    for p in r["pairs"]
                    if p["angle_deg"] == a and p["equipage"] == eq
                )
                for a in angles
            ]
            ax[1, 0].scatter(
                xa + off,
                lo,
                marker="x",
                s=[60 if v else 0 for v in lo],
                color="k",
                zorder=5,
                label=None,
            )
            ax[1, 0].bar(
                xa + off,
                sw,
                0.27,
                color="red",
                hatch="//",
                label="identity swaps" if k == 0 else None,
            )
        ax[1, 0].scatter([], [], marker="x", s=60, color="k", label="aircraft lost >= 30 s")
        ax[1, 0].set_xticks(xa, [f"{a:g} deg" for a in angles])
        ax[1, 0].set_ylabel(f"events over {len(cr)} run(s)")
        ax[1, 0].set_title(
            "crossing pairs (0-0.25 NM, same level): fused-track breaks and swaps", fontsize=9
        )
        ax[1, 0].legend(fontsize=8)
    tp = report["throughput"]
    if tp:
        for kind, col in (("icao", "tab:blue"), ("radar", "tab:red"), ("mixed", "tab:gray")):
            for th in sorted({t["threads"] for t in tp}):
                pts = sorted(
                    (t["n"], t["reports_per_s"])
                    for t in tp
                    if t["kind"] == kind and t["threads"] == th
                )
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    ax[1, 1].plot(
                        xs,
                        ys,
                        marker="o",
                        color=col,
                        linestyle="-" if th == max(t["threads"] for t in tp) else "--",
                        label=f"{kind}, {th} thr",
                    )
        ax[1, 1].axhline(TARGET_ICAO_RPS, color="tab:blue", lw=0.8, ls=":", label="target, ICAO")
        ax[1, 1].axhline(TARGET_RADAR_RPS, color="tab:red", lw=0.8, ls=":", label="target, radar")
        ax[1, 1].set_xscale("log")
        ax[1, 1].set_yscale("log")
        ax[1, 1].set_xlabel("aircraft N (each reported once per second; mixed: 1.85 N)")
        ax[1, 1].set_ylabel("reports/s through association + filter")
        ax[1, 1].set_title("throughput (median over seconds of data)", fontsize=9)
        ax[1, 1].legend(fontsize=8)
        ax[1, 1].grid(True, which="both", alpha=0.3)
    m = report["machine"]
    fig.suptitle(
        f"python -m bench fusion; {m['cpu_model']}, {m['logical_cpus']} CPUs; "
        f"numba {m['numba']}; {m['date'][:10]}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------- driver


# The code this benchmark measures.
_SOURCES = ("fusion/*.py", "kernels/*.py")


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line of ``python -m bench fusion``."""
    p = argparse.ArgumentParser(
        prog="python -m bench fusion",
        description="Multi-sensor fusion: accuracy (RMSE, GOSPA) of the fused picture "
        "against each sensor alone, track breaks and identity swaps (crossing traffic), "
        "and reports/s through association and filter (ICAO-addressed and anonymous radar "
        "reports, per Numba thread count), each against its target; OSPA against a Stone "
        "Soup GNN tracker where stonesoup is installed. Writes fusion.json and fusion.png.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    a = p.add_argument
    a(
        "--seeds",
        type=_ints,
        default=[1, 2],
        help="default-scenario seeds, comma-separated (one run each)",
    )
    a("--duration", type=float, default=600.0, help="default-scenario length, s of data time")
    a("--warmup", type=float, default=60.0, help="no evaluation before t0 + this, s")
    a("--eval-every", type=float, default=2.0, help="data time between evaluations, s")
    a(
        "--expiry",
        type=float,
        default=20.0,
        help="fuser track expiry and the sensor pictures' max report age, s",
    )
    a("--gospa-c", type=float, default=2000.0, help="GOSPA cut-off and matching gate, m")
    a("--gospa-p", type=float, default=2.0, help="GOSPA order p (alpha is 2)")
    a(
        "--crossing-seeds",
        type=_ints,
        default=[1, 2, 3],
        help="crossing-scenario seeds (24 pairs each)",
    )
    a("--crossing-duration", type=float, default=300.0, help="crossing-scenario length, s")
    a(
        "--crossing-eval-every",
        type=float,
        default=1.0,
        help="crossing scenario: data time between evaluations, s",
    )
    a(
        "--sizes",
        type=_ints,
        default=[1000, 10_000, 50_000],
        help="throughput: aircraft counts N, each reported once per second",
    )
    a("--threads", type=_ints, default=[1, 2], help="throughput: Numba thread counts")
    a("--seconds", type=int, default=9, help="throughput: timed seconds of data per case")
    a(
        "--warmup-seconds",
        type=int,
        default=8,
        help="throughput: seconds of data before timing (track creation, confirmation; "
        "in mixed, radar tracks merging into ADS-B ones)",
    )
    a(
        "--mixed-max-n",
        type=int,
        default=10_000,
        help="throughput: largest N for the mixed ADS-B + radar feed (see the JSON's "
        "throughput_note: 50,000 runs out of memory)",
    )
    a("--seed", type=int, default=20251125, help="throughput: traffic seed")
    a("--no-throughput", action="store_true", help="skip the throughput part")
    a(
        "--no-stonesoup",
        action="store_true",
        help="skip the Stone Soup GNN baseline (OSPA on the first crossing seed, radar only; "
        "runs only where the optional stonesoup package is installed; 1-2 min)",
    )
    a(
        "--out",
        type=Path,
        default=ROOT / "bench" / "results",
        help="directory for fusion.json and fusion.png",
    )
    a(
        "--quick",
        action="store_true",
        help="small run for tests: one 400 s default scenario, one 240 s crossing run, "
        "N = 1000 with 1 thread, 3 timed seconds, no Stone Soup",
    )
    a("--worker", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds = [1]
        args.duration = 400.0
        args.crossing_seeds = [1]
        args.crossing_duration = 240.0
        args.crossing_eval_every = 2.0
        args.sizes = [1000]
        args.threads = [1]
        args.seconds = 3
        args.warmup_seconds = 8
        args.no_stonesoup = True
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; write fusion.json and fusion.png under ``--out``."""
    args = parse_args(argv)
    if args.worker:
        from bench.fusion_throughput import run_throughput

        spec_text, out_path = args.worker
        Path(out_path).write_text(json.dumps(run_throughput(json.loads(spec_text))))
        return 0
    started = time.perf_counter()
    sources = sources_sha256(*_SOURCES)
    report: dict[str, Any] = {
        "benchmark": "fusion",
        "command": "python -m bench fusion " + " ".join(sys.argv[2:] if argv is None else argv),
        "machine": machine_info(),
        "sources_sha256": sources,
        "parameters": {
            "seeds": args.seeds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "eval_every_s": args.eval_every,
            "expiry_s": args.expiry,
            "gospa_c_m": args.gospa_c,
            "gospa_p": args.gospa_p,
            "gospa_alpha": 2,
            "crossing_seeds": args.crossing_seeds,
            "crossing_duration_s": args.crossing_duration,
            "crossing_eval_every_s": args.crossing_eval_every,
            "sizes": args.sizes,
            "threads": args.threads,
            "seconds": args.seconds,
            "warmup_seconds": args.warmup_seconds,
            "throughput_seed": args.seed,
            "scenario_t0": T0,
            "sensor_pictures": "newest report per aircraft (perfect association via the "
            "simulator's report truth), extrapolated by its velocity",
        },
        "targets_reports_per_s": {"icao": TARGET_ICAO_RPS, "radar": TARGET_RADAR_RPS},
    }
    print("accuracy: default scenario, fusion sensor suite ...", flush=True)
    report["accuracy"] = accuracy_part(args)
    print("identity: crossing traffic ...", flush=True)
    report["crossing"] = crossing_part(args)
    print("throughput ...", flush=True)
    report["throughput"], errors = ([], []) if args.no_throughput else throughput_part(args)
    report["throughput_note"] = MIXED_NOTE
    report["errors"] = errors
    report["stonesoup"] = stonesoup_part(args)
    report["targets"] = evaluate_targets(report, args.threads)
    report["total_wall_s"] = time.perf_counter() - started
    return finish("fusion", report, args.out, sources, _SOURCES, plot, format_tables, errors)


if __name__ == "__main__":
    sys.exit(main())
