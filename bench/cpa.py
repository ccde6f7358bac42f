"""``python -m bench cpa``: full conflict screening of synthetic traffic, against baselines.

What one measurement is: a call from the state arrays (latitude, longitude in degrees,
altitude in m, east/north/up velocity in m/s; float64[N] each) to the sorted list of
conflicting pairs, geodesy included, with D = 5 NM (9260 m), H = 950 ft (289.56 m: the
service screens 1000 ft separation with an effective 950 ft, so that two aircraft
reported on adjacent flight levels with a little altimetry noise are not flagged) and
T = 120 s.

Methods:

* ``fast``: :func:`kernels.screen.screen_conflicts` (broad phase + exact test). If that
  function does not exist, the benchmark falls back to ``screen_all_pairs`` and says so
  loudly in the table and the JSON.
* ``numba_all_pairs``: brute force, :func:`kernels.screen.screen_all_pairs`.
* ``numpy_all_pairs``: BlueSky-like N x N NumPy, :func:`bench.baselines.numpy_all_pairs`.

Cases: :func:`bench.traffic.realistic_traffic` (about 1 aircraft per 100 km^2, the area
growing with N) at ``--sizes``, and :func:`bench.traffic.stress_traffic` (a fixed 1000 km
box) at ``--stress-sizes``, each with every ``--threads`` count.

How:

* Each (case, thread count) runs in a fresh subprocess with ``NUMBA_NUM_THREADS`` set to
  that count (NumPy's ufuncs are single-threaded whatever it is, so the NumPy baseline is
  run once per case, in the 1-thread process). In it, each method's first call is timed
  (``first_call_ms``: kernels loaded from Numba's on-disk cache, which the parent warms
  first, plus the call itself); one more call plans the repeats; then ``repeats`` timed
  calls (fewer if one call takes more than ``budget / repeats``, at least one; more, up to
  50, for calls under 0.2 s) give the median. Slow baselines thus run 3 times in all.
* Peak memory: Linux's peak resident set size of the subprocess (VmHWM), reset through
  /proc/self/clear_refs before each timed call; the figure is the largest
  (peak - resident before the call) over the repeats, i.e. what the call adds to the
  process, inputs excluded. The same measure for every method (tracemalloc would see
  NumPy's buffers but not Numba's).
* JIT compile time: for each Numba method, in its own fresh subprocess with
  ``NUMBA_CACHE_DIR`` set to an empty temporary directory, the first call on 256
  aircraft minus a second call (``fast`` includes everything it calls, the broad phase
  and the brute force it falls back to on unsupported parameters); the first call of a
  fresh subprocess on the warm cache is reported beside it.
* Baselines run up to the N where one call is estimated (from the previous size, scaled as
  N^2) to take at most ``--time-limit`` seconds and, for NumPy, to need at most
  ``--mem-limit-gib`` (capped at 80 % of the available memory; bytes per pair as measured
  at the largest N so far); beyond they are recorded as skipped, with the reason. A call
  slower than ``--budget`` is timed once (after the first call).
* ``candidate pairs``: the length of :func:`kernels.broadphase.candidate_pairs`' output
  (the pairs the exact test sees), counted outside the timed calls.
* The sha256 of kernels/*.py is recorded before and checked after the run.
* Equality: wherever the brute force ran, the fast method's (i, j) arrays and the NumPy
  baseline's must be identical to its; the check is recorded per case and any mismatch
  makes the benchmark exit with status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
ScreenFn = Callable[..., Any]

NM = 1852.0
FT = 0.3048
D_M = 5 * NM  # 9260 m
H_NOMINAL_FT = 1000.0
H_EFF_FT = 950.0
H_M = H_EFF_FT * FT  # 289.56 m
T_S = 120.0
SEED = 20251125

METHODS = ("fast", "numba_all_pairs", "numpy_all_pairs")
BASELINES = ("numba_all_pairs", "numpy_all_pairs")
# Time per call scales as N^EXPONENT[method] when extrapolating to the next size.
EXPONENT = {"fast": 1.5, "numba_all_pairs": 2.0, "numpy_all_pairs": 2.0}
TARGETS_MS = {100_000: 25.0, 1_000_000: 250.0}  # realistic traffic, 2 threads
MAX_REPEATS = 50
SHORT_CALL_S = 0.2
MIB = 1024.0 * 1024.0
GIB = 1024.0 * MIB
ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- kernels


def resolve_fast() -> tuple[ScreenFn, str, str | None]:
    """(function, its name, a note if it is a fallback) for the ``fast`` method."""
    import kernels.screen as screen

    fn = getattr(screen, "screen_conflicts", None)
    if fn is not None:
        return fn, "kernels.screen.screen_conflicts", None
    note = (
        "kernels.screen.screen_conflicts does not exist yet: the 'fast' rows are "
        "screen_all_pairs (brute force), NOT the broad-phase screening"
    )
    return screen.screen_all_pairs, "kernels.screen.screen_all_pairs (FALLBACK)", note


def resolve_method(name: str, fast_fallback: bool = False) -> ScreenFn:
    """The callable for a method name (see :data:`METHODS`). ``fast_fallback``: the
    parent resolved ``fast`` to the fallback; keep it so even if screen_conflicts has
    appeared since (every process of one run measures the same function)."""
    if name == "fast":
        import kernels.screen as screen

        if fast_fallback:
            return screen.screen_all_pairs
        fast: ScreenFn | None = getattr(screen, "screen_conflicts", None)
        if fast is None:
            raise RuntimeError("kernels.screen.screen_conflicts disappeared during the run")
        return fast
    from bench import baselines

    base: ScreenFn = getattr(baselines, name)
    return base


def candidate_counter() -> tuple[Callable[..., int] | None, str | None]:
    """A function (lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T) -> number of candidate
    pairs of the broad phase, if kernels.broadphase exposes one, and its name.

    Prefers a counting function; else the length of ``candidate_pairs``' output (pairs
    handed to the exact test, including those with "wild" tracks).
    """
    try:
        import kernels.broadphase as bp
    except ImportError:
        return None, None
    for name in ("count_candidates", "candidate_count", "count_candidate_pairs"):
        fn = getattr(bp, name, None)
        if fn is not None:
            return (lambda *a, f=fn: int(f(*a))), f"kernels.broadphase.{name}"
    fn = getattr(bp, "candidate_pairs", None)
    if fn is not None:
        return (lambda *a, f=fn: int(f(*a)[0].shape[0])), "len(kernels.broadphase.candidate_pairs)"
    return None, None


def pairs_of(result: Any) -> tuple[I64, I64]:
    """(i, j) int64[K] arrays of a method's result (a Conflicts or an (i, j) tuple)."""
    if hasattr(result, "i"):
        return np.asarray(result.i), np.asarray(result.j)
    return np.asarray(result[0]), np.asarray(result[1])


# --------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the peak RSS (VmHWM) of this process; False where the kernel does not allow."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------- worker


def _traffic(kind: str, n: int, seed: int) -> Any:
    from bench.traffic import realistic_traffic, stress_traffic

    return (realistic_traffic if kind == "realistic" else stress_traffic)(n, seed)


def _timed_call(fn: ScreenFn, args: tuple[Any, ...]) -> tuple[float, int | None, Any]:
    """(seconds, peak bytes the call added to the resident set or None, result)."""
    can_reset = _reset_peak()
    rss0 = _status_kib("VmRSS")
    t0 = time.perf_counter()
    res = fn(*args)
    dt_s = time.perf_counter() - t0
    hwm = _status_kib("VmHWM")
    peak = (hwm - rss0) * 1024 if can_reset and rss0 is not None and hwm is not None else None
    return dt_s, peak, res


def _plan_repeats(call_s: float, repeats: int, budget_s: float) -> int:
    """Timed calls for a method whose warm call takes call_s seconds: ``repeats`` (up to
    MAX_REPEATS for calls under SHORT_CALL_S, so that at least ~1 s is sampled), fewer
    when they would exceed budget_s, at least one."""
    if call_s * repeats <= budget_s:
        if call_s < SHORT_CALL_S:
            return max(repeats, min(MAX_REPEATS, int(1.0 / max(call_s, 1e-6))))
        return repeats
    return max(1, int(budget_s / call_s))


def run_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker body: time the methods of ``spec`` on one case in this process.

    spec: kind ("realistic" | "stress"), n, seed, threads, methods (list of names),
    repeats, budget_s. Returns a JSON-able dict (times in ms, memory in bytes).
    """
    import numba

    numba.set_num_threads(int(spec["threads"]))
    t0 = time.perf_counter()
    tr = _traffic(spec["kind"], int(spec["n"]), int(spec["seed"]))
    gen_s = time.perf_counter() - t0
    args = (*tr.arrays(), D_M, H_M, T_S)
    out: dict[str, Any] = {
        "generate_s": gen_s,
        "region": {
            "lat_min": tr.region.lat_min,
            "lat_max": tr.region.lat_max,
            "lon_min": tr.region.lon_min,
            "lon_max": tr.region.lon_max,
            "area_km2": tr.region.area_km2,
        },
        "density_per_100km2": 100.0 * tr.n / tr.region.area_km2,
        "methods": {},
    }
    pairs: dict[str, tuple[I64, I64]] = {}
    for name in spec["methods"]:
        fn = resolve_method(name, bool(spec.get("fast_fallback")))
        try:
            t0 = time.perf_counter()
            res = fn(*args)
            first_s = time.perf_counter() - t0
            del res
        except Exception as exc:  # recorded; the parent reports it and exits with 1
            out["methods"][name] = f"error: {type(exc).__name__}: {exc}"
            continue
        # A warm call, measured like the others, plans the repeats; a slow case (one call
        # over the budget) stops there, with this single sample.
        times: list[float] = []
        peak: int | None = 0
        reps = 1
        while len(times) < reps:
            dt_s, peak_b, res = _timed_call(fn, args)
            times.append(dt_s)
            peak = None if peak is None or peak_b is None else max(peak, peak_b)
            pairs[name] = pairs_of(res)
            del res
            if len(times) == 1:
                reps = _plan_repeats(dt_s, int(spec["repeats"]), float(spec["budget_s"]))
        out["methods"][name] = {
            "median_ms": 1e3 * statistics.median(times),
            "min_ms": 1e3 * min(times),
            "max_ms": 1e3 * max(times),
            "repeats": reps,
            "first_call_ms": 1e3 * first_s,
            "conflicts": int(pairs[name][0].size),
            "peak_mem_bytes": peak,
            "bytes_per_pair": (peak / float(tr.n) ** 2) if peak is not None and tr.n else None,
        }

    # Equality of conflict sets against the brute force, where it ran.
    equal: dict[str, bool] = {}
    ref_name = "numba_all_pairs" if "numba_all_pairs" in pairs else None
    if ref_name is not None:
        ri, rj = pairs[ref_name]
        for name in pairs:
            if name != ref_name:
                i, j = pairs[name]
                equal[name] = bool(np.array_equal(i, ri) and np.array_equal(j, rj))
    elif "fast" in pairs and "numpy_all_pairs" in pairs:
        (i, j), (ri, rj) = pairs["fast"], pairs["numpy_all_pairs"]
        out["fast_equals_numpy"] = bool(np.array_equal(i, ri) and np.array_equal(j, rj))
    out["equal_to_brute_force"] = equal
    out["load_average_1min_after"] = os.getloadavg()[0]
    with contextlib.suppress(ValueError):  # no parallel kernel ran
        out["numba_threading_layer"] = getattr(numba, "threading_layer")()  # noqa: B009

    counter, counter_name = candidate_counter()
    if counter is not None and not spec.get("fast_fallback"):
        try:
            out["candidate_pairs"] = counter(*args)
        except Exception as exc:
            out["candidate_pairs_error"] = f"{type(exc).__name__}: {exc}"
        out["candidate_counter"] = counter_name
    return out


def measure_compile(methods: list[str], fast_fallback: bool) -> dict[str, Any]:
    """Worker body: first call (on 256 aircraft) and a second one of each Numba method in
    this process, in ms. Run under an empty NUMBA_CACHE_DIR it measures compilation; on
    the warm cache, loading."""
    tr = _traffic("realistic", 256, 1)
    args = (*tr.arrays(), D_M, H_M, T_S)
    out: dict[str, Any] = {}
    for name in methods:
        fn = resolve_method(name, fast_fallback)
        t0 = time.perf_counter()
        fn(*args)
        t1 = time.perf_counter()
        fn(*args)
        t2 = time.perf_counter()
        out[name] = {"first_call_ms": 1e3 * (t1 - t0), "second_call_ms": 1e3 * (t2 - t1)}
    return out


def _subprocess(
    task: str, spec: dict[str, Any], env_extra: dict[str, str], timeout_s: float
) -> dict[str, Any]:
    """Run ``task`` (case | compile) of this module in a fresh interpreter; its result."""
    env = dict(os.environ)
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="bench-cpa-") as tmp:
        out_path = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "bench.cpa", "--worker", task, json.dumps(spec), str(out_path)]
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"worker {task} {spec} failed:\n{proc.stdout}\n{proc.stderr}")
        result: dict[str, Any] = json.loads(out_path.read_text())
    result["subprocess_wall_s"] = wall
    return result


# --------------------------------------------------------------------------- driver


def kernel_sources() -> dict[str, str]:
    """sha256 (first 16 hex digits) of each kernels/*.py: the code measured."""
    import hashlib

    return {
        f.name: hashlib.sha256(f.read_bytes()).hexdigest()[:16]
        for f in sorted((ROOT / "kernels").glob("*.py"))
    }


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, memory, library versions, date."""
    import numba
    import psutil

    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": cpu,
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": psutil.virtual_memory().total / GIB,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threading_layer_config": getattr(numba.config, "THREADING_LAYER", None),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _estimate_skip(
    method: str,
    kind: str,
    n: int,
    history: dict[tuple[str, str], list[tuple[int, float, float | None]]],
    time_limit_s: float,
    mem_limit_bytes: float,
    exponent: dict[str, float],
) -> str | None:
    """Why ``method`` should not run at size n (None: run it), from earlier sizes.

    history[(method, kind)]: (n, slowest median s over the thread counts, bytes per pair).
    """
    from bench.baselines import NUMPY_BYTES_PER_PAIR_ESTIMATE

    reasons: list[str] = []
    hist = history.get((method, kind), [])
    if hist:
        n0, t0, _bpp = hist[-1]
        est_s = t0 * (n / n0) ** exponent[method]
        if est_s > time_limit_s:
            reasons.append(
                f"estimated {est_s:,.0f} s per call > {time_limit_s:.0f} s limit "
                f"({t0:.3g} s at N={n0}, scaled as N^{exponent[method]:g})"
            )
    if method == "numpy_all_pairs":
        # Bytes per pair do not depend on the traffic: take any kind's measurement.
        measured = [b for (m, _k), h in history.items() if m == method for _n, _t, b in h if b]
        per_pair = measured[-1] if measured else NUMPY_BYTES_PER_PAIR_ESTIMATE
        est_b = per_pair * float(n) ** 2
        if est_b > mem_limit_bytes:
            reasons.append(
                f"estimated {est_b / GIB:,.0f} GiB of N x N matrices > "
                f"{mem_limit_bytes / GIB:.0f} GiB limit ({per_pair:.0f} bytes per pair"
                f"{', measured' if measured else ', estimated'})"
            )
    return "skipped: " + "; ".join(reasons) if reasons else None


def _int_list(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line of ``python -m bench cpa``."""
    p = argparse.ArgumentParser(
        prog="python -m bench cpa",
        description="Full conflict screening (D=5 NM, H=950 ft effective, T=120 s) of "
        "synthetic traffic, against Numba and NumPy all-pairs baselines.",
    )
    p.add_argument(
        "--sizes",
        type=_int_list,
        default=[1000, 10_000, 100_000, 1_000_000],
        help="aircraft counts of the realistic traffic (area grows with N), comma-separated",
    )
    p.add_argument(
        "--stress-sizes",
        type=_int_list,
        default=[30_000, 100_000, 300_000, 1_000_000],
        help="aircraft counts in the fixed 1000 km x 1000 km box, comma-separated",
    )
    p.add_argument(
        "--threads", type=_int_list, default=[1, 2], help="Numba thread counts, comma-separated"
    )
    p.add_argument("--repeats", type=int, default=7, help="timed calls per case (min 5)")
    p.add_argument("--budget", type=float, default=15.0, help="seconds per (method, case)")
    p.add_argument(
        "--time-limit",
        type=float,
        default=60.0,
        help="baselines run only where a call is estimated to take at most this many seconds",
    )
    p.add_argument(
        "--mem-limit-gib",
        type=float,
        default=8.0,
        help="the NumPy baseline runs only where its N x N matrices fit in this many GiB",
    )
    p.add_argument("--seed", type=int, default=SEED, help="traffic generator seed")
    p.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results", help="directory for JSON and PNG"
    )
    p.add_argument("--quick", action="store_true", help="tiny run (tests)")
    p.add_argument("--no-compile", action="store_true", help="skip the cold-cache compile")
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = [300, 1000]
        args.stress_sizes = [1000]
        args.repeats = 5
        args.budget = 2.0
        args.no_compile = True
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; write cpa.json and cpa.png under ``--out``. Exit status 1 if a
    conflict set differs from the brute force's."""
    args = parse_args(argv)
    if args.worker:
        task, spec_text, out_path = args.worker
        spec = json.loads(spec_text)
        if task == "case":
            result = run_case(spec)
        else:
            result = measure_compile(list(spec["methods"]), bool(spec.get("fast_fallback")))
        Path(out_path).write_text(json.dumps(result))
        return 0
    if args.repeats < 5:
        print("bench cpa: --repeats below 5 raised to 5", file=sys.stderr)
        args.repeats = 5

    _fn, fast_name, fast_note = resolve_fast()
    counter_name = candidate_counter()[1]
    if fast_note:
        bar = "!" * 78
        print(f"{bar}\n!! {fast_note}\n{bar}", flush=True)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "cpa",
        "command": "python -m bench cpa " + " ".join(sys.argv[2:] if argv is None else argv),
        "machine": machine_info(),
        "parameters": {
            "D_m": D_M,
            "D_nm": 5.0,
            "H_nominal_ft": H_NOMINAL_FT,
            "H_effective_ft": H_EFF_FT,
            "H_m": H_M,
            "T_s": T_S,
            "seed": args.seed,
            "sizes": args.sizes,
            "stress_sizes": args.stress_sizes,
            "threads": args.threads,
            "repeats": args.repeats,
            "budget_s": args.budget,
            "time_limit_s": args.time_limit,
            "mem_limit_gib": args.mem_limit_gib,
            "peak_memory": "VmHWM - VmRSS before the call (clear_refs reset), max over repeats",
        },
        "kernel_sources_sha256": kernel_sources(),
        "fast_function": fast_name,
        "fast_note": fast_note,
        "candidate_counter": counter_name,
        "targets_ms_2_threads": {str(k): v for k, v in TARGETS_MS.items()},
    }
    timeout = max(600.0, 20 * args.time_limit)

    # Warm the on-disk cache (the default one), so the cases' first calls load, not compile.
    print("warming the Numba cache ...", flush=True)
    numba_methods = ["fast", "numba_all_pairs"]
    cspec = {"fast_fallback": fast_note is not None, "methods": numba_methods}
    warm = _subprocess("compile", cspec, {}, timeout)
    compile_info: dict[str, Any] = {"warm_cache": warm}
    if args.no_compile:
        compile_info["cold_cache"] = "skipped: --quick / --no-compile"
    else:
        print("measuring JIT compile time (empty NUMBA_CACHE_DIR) ...", flush=True)
        cold: dict[str, Any] = {}
        for name in numba_methods:  # one process and one empty cache each
            with tempfile.TemporaryDirectory(prefix="bench-cpa-numba-cache-") as cache:
                spec1 = dict(cspec, methods=[name])
                cold[name] = _subprocess("compile", spec1, {"NUMBA_CACHE_DIR": cache}, timeout)[
                    name
                ]
            compile_info[f"{name}_compile_s"] = 1e-3 * (
                cold[name]["first_call_ms"] - cold[name]["second_call_ms"]
            )
        compile_info["cold_cache"] = cold
        compile_info["warm_cache"] = _subprocess("compile", cspec, {}, timeout)
    report["compile"] = compile_info

    import psutil

    mem_limit = min(args.mem_limit_gib * GIB, 0.8 * psutil.virtual_memory().available)
    report["parameters"]["mem_limit_effective_gib"] = mem_limit / GIB
    # A fallback 'fast' method is the brute force: extrapolate it as N^2 too.
    exponent = dict(EXPONENT, fast=2.0) if fast_note else dict(EXPONENT)
    history: dict[tuple[str, str], list[tuple[int, float, float | None]]] = {}
    cases: list[dict[str, Any]] = []
    mismatch = False
    errors: list[str] = []
    for kind, sizes in (("realistic", args.sizes), ("stress", args.stress_sizes)):
        for n in sorted(sizes):
            skips = {
                m: _estimate_skip(m, kind, n, history, args.time_limit, mem_limit, exponent)
                for m in METHODS
            }
            # Once skipped, skipped for larger N too.
            for m in METHODS:
                prev = [c for c in cases if c["kind"] == kind and c["n"] < n]
                if not skips[m] and any(
                    str(c["methods"].get(m)).startswith("skipped") for c in prev
                ):
                    skips[m] = "skipped: skipped at a smaller N"
            for threads in args.threads:
                methods = [m for m in METHODS if skips[m] is None]
                if threads != min(args.threads) and "numpy_all_pairs" in methods:
                    methods.remove("numpy_all_pairs")  # single-threaded: run once
                spec = {
                    "kind": kind,
                    "n": n,
                    "seed": args.seed,
                    "threads": threads,
                    "methods": methods,
                    "repeats": args.repeats,
                    "budget_s": args.budget,
                    "fast_fallback": fast_note is not None,
                }
                print(f"{kind:>9} N={n:<8} threads={threads}: {', '.join(methods)}", flush=True)
                res = _subprocess("case", spec, {"NUMBA_NUM_THREADS": str(threads)}, timeout)
                case: dict[str, Any] = {"kind": kind, "n": n, "threads": threads, **res}
                for m in METHODS:
                    if skips[m] is not None:
                        case["methods"][m] = skips[m]
                    elif m not in case["methods"]:
                        case["methods"][m] = f"run once, with {min(args.threads)} thread(s)"
                if any(v is False for v in case["equal_to_brute_force"].values()):
                    mismatch = True
                for m, v in case["methods"].items():
                    if isinstance(v, str) and v.startswith("error"):
                        errors.append(f"{m} {kind} N={n} threads={threads}: {v}")
                        print(f"  !! {m}: {v}", flush=True)
                cases.append(case)
            for m in METHODS:
                runs = [
                    c["methods"][m]
                    for c in cases
                    if c["kind"] == kind and c["n"] == n and isinstance(c["methods"][m], dict)
                ]
                if runs:
                    slowest = max(r["median_ms"] for r in runs) * 1e-3
                    bpp = max((r["bytes_per_pair"] or 0.0) for r in runs) or None
                    history.setdefault((m, kind), []).append((n, slowest, bpp))
    _add_ratios(cases)
    report["cases"] = cases
    report["all_conflict_sets_equal"] = not mismatch
    report["errors"] = errors
    report["total_wall_s"] = time.perf_counter() - started
    if kernel_sources() != report["kernel_sources_sha256"]:
        note = "kernels/*.py changed during the run: the cases may mix versions; run again"
        report["kernel_sources_changed_during_run"] = True
        errors.append(note)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cpa.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out / "cpa.png")
    print()
    print(format_table(report))
    print(f"\nwrote {args.out / 'cpa.json'} and {args.out / 'cpa.png'}")
    if mismatch:
        print("bench cpa: CONFLICT SETS DIFFER from the brute force (see JSON)", file=sys.stderr)
    for e in errors:
        print(f"bench cpa: ERROR {e}", file=sys.stderr)
    return 1 if mismatch or errors else 0


def _numpy_run(cases: list[dict[str, Any]], kind: str, n: int) -> dict[str, Any] | None:
    """The NumPy baseline's measurement of case (kind, n), whichever process ran it."""
    for c in cases:
        m = c["methods"].get("numpy_all_pairs")
        if c["kind"] == kind and c["n"] == n and isinstance(m, dict):
            return m
    return None


def _add_ratios(cases: list[dict[str, Any]]) -> None:
    """ratios[baseline] = baseline median / fast median (how many times faster)."""
    for c in cases:
        fast = c["methods"].get("fast")
        ratios: dict[str, float | None] = {}
        for b in BASELINES:
            base = c["methods"].get(b)
            if b == "numpy_all_pairs":
                base = _numpy_run(cases, c["kind"], c["n"])
            if isinstance(fast, dict) and isinstance(base, dict) and fast["median_ms"] > 0:
                ratios[b] = base["median_ms"] / fast["median_ms"]
            else:
                ratios[b] = None
        c["speedup_vs"] = ratios


# --------------------------------------------------------------------------- output


def _status(v: Any) -> str:
    """Table cell of a method that did not run: skipped, error, or '-'."""
    text = str(v)
    return "ERROR" if text.startswith("error") else "skipped" if text.startswith("skip") else "-"


def _fmt_ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if x < 100 else f"{x:,.0f}"


def _fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2g}" if x < 10 else f"{x:,.0f}"


def _fmt_n(n: int) -> str:
    for div, suf in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div}{suf}"
    return str(n)


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    """Header and rows of the summary table (strings)."""
    head = [
        "traffic",
        "N",
        "thr",
        "fast ms",
        "reps",
        "cand. pairs",
        "conflicts",
        "peak MiB",
        "1st call ms",
        "brute ms",
        "x",
        "numpy ms",
        "x",
        "= brute",
    ]
    rows = [head]
    cases = report["cases"]
    for c in cases:
        f = c["methods"]["fast"]
        b = c["methods"]["numba_all_pairs"]
        npy = _numpy_run(cases, c["kind"], c["n"])
        eq = c["equal_to_brute_force"]
        sp = c["speedup_vs"]
        rows.append(
            [
                c["kind"],
                _fmt_n(c["n"]),
                str(c["threads"]),
                _fmt_ms(f["median_ms"]) if isinstance(f, dict) else _status(f),
                str(f["repeats"]) if isinstance(f, dict) else "-",
                f"{c['candidate_pairs']:,}" if c.get("candidate_pairs") is not None else "-",
                f"{f['conflicts']:,}" if isinstance(f, dict) else "-",
                (
                    f"{f['peak_mem_bytes'] / MIB:.1f}"
                    if isinstance(f, dict) and f["peak_mem_bytes"] is not None
                    else "-"
                ),
                _fmt_ms(f["first_call_ms"]) if isinstance(f, dict) else "-",
                _fmt_ms(b["median_ms"]) if isinstance(b, dict) else _status(b),
                _fmt_ratio(sp.get("numba_all_pairs")),
                _fmt_ms(npy["median_ms"]) if npy else "skipped",
                _fmt_ratio(sp.get("numpy_all_pairs")),
                ("yes" if all(eq.values()) else "NO") if eq else "-",
            ]
        )
    return rows


def format_table(report: dict[str, Any], markdown: bool = False) -> str:
    """The summary table as aligned plain text, or as a Markdown table."""
    rows = table_rows(report)
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in rows]
        lines.insert(1, "|" + "|".join(" --- " for _ in rows[0]) + "|")
        return "\n".join(lines)
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    notes = [
        f"fast = {report['fast_function']}; brute = screen_all_pairs (Numba); numpy = "
        "BlueSky-like N x N (single-threaded, run once per N); x = baseline / fast.",
        f"D = 9260 m, H = {H_M:.2f} m ({H_EFF_FT:.0f} ft effective for 1000 ft), T = 120 s.",
    ]
    if report.get("fast_note"):
        notes.append("!! " + report["fast_note"])
    skipped = sorted(
        {
            f"{m} {c['kind']} N={_fmt_n(c['n'])}: {v}"
            for c in report["cases"]
            for m, v in c["methods"].items()
            if isinstance(v, str) and v.startswith("skipped")
        }
    )
    comp = report["compile"]
    for name in ("fast", "numba_all_pairs"):
        key = f"{name}_compile_s"
        if key in comp:
            notes.append(
                f"{name}: JIT compile {comp[key]:.1f} s (empty cache); first call of a fresh "
                f"process on the warm cache {comp['warm_cache'][name]['first_call_ms']:.0f} ms "
                "(256 aircraft)"
            )
    return "\n".join([*lines, "", *notes, *skipped])


def plot(report: dict[str, Any], path: Path) -> None:
    """Log-log median ms vs N, per method and thread count; realistic and stress panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    styles = {
        "fast": ("tab:blue", "o"),
        "numba_all_pairs": ("tab:red", "s"),
        "numpy_all_pairs": ("tab:green", "^"),
    }
    labels = {
        "fast": "screen_conflicts" if not report.get("fast_note") else "fast (FALLBACK)",
        "numba_all_pairs": "Numba all pairs",
        "numpy_all_pairs": "NumPy N x N",
    }
    cases = report["cases"]
    for ax, kind, title in (
        (axes[0], "realistic", "~1 aircraft / 100 km$^2$ (area grows with N)"),
        (axes[1], "stress", "fixed 1000 km x 1000 km box"),
    ):
        for m in METHODS:
            thread_counts = sorted({c["threads"] for c in cases})
            for t in thread_counts:
                pts = [
                    (c["n"], c["methods"][m]["median_ms"])
                    for c in cases
                    if c["kind"] == kind and c["threads"] == t and isinstance(c["methods"][m], dict)
                ]
                if not pts:
                    continue
                xs, ys = zip(*sorted(pts), strict=True)
                color, marker = styles[m]
                thr = "" if m == "numpy_all_pairs" else f", {t} thr"
                ax.plot(
                    xs,
                    ys,
                    marker=marker,
                    color=color,
                    linestyle="-" if t == max(thread_counts) else "--",
                    label=f"{labels[m]}{thr}",
                )
        if kind == "realistic":
            tx, ty = zip(*sorted(TARGETS_MS.items()), strict=True)
            ax.scatter(tx, ty, marker="*", s=220, color="gold", edgecolor="k", zorder=5)
            ax.scatter(
                [], [], marker="*", s=120, color="gold", edgecolor="k", label="target (2 thr)"
            )
            for x, y in zip(tx, ty, strict=True):
                ax.annotate(
                    f"{y:g} ms", (x, y), textcoords="offset points", xytext=(8, -12), fontsize=8
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("aircraft N")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("median ms per full screening")
    m = report["machine"]
    loads = [c["load_average_1min_after"] for c in cases if "load_average_1min_after" in c]
    load = f"; 1-min load avg {min(loads):.1f}-{max(loads):.1f}" if loads else ""
    fig.suptitle(
        f"python -m bench cpa: D=5 NM, H=950 ft, T=120 s; {m['cpu_model']}, "
        f"{m['logical_cpus']} CPUs; numba {m['numba']}; {m['date'][:10]}{load}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
