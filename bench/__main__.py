"""``python -m bench NAME``: run one benchmark. ``python -m bench --help`` lists them."""

from __future__ import annotations

import argparse
import sys

# Name -> (module, one-line description). Each module has ``main(argv) -> int``.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "alerts": (
        "bench.alerts",
        "alert quality against simulated truth: losses alerted, warning time, nuisance, flicker",
    ),
    "cpa": (
        "bench.cpa",
        "full conflict screening of synthetic traffic (1k-1M aircraft) vs all-pairs baselines",
    ),
    "e2e": (
        "bench.e2e",
        "end to end through a real Mosquitto: reports/s, alert latency, cycle time, CPU, RSS, "
        "soak, saturation",
    ),
    "fusion": (
        "bench.fusion",
        "multi-sensor fusion: RMSE/GOSPA vs each sensor, identity swaps, reports/s",
    ),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = ", ".join(sorted(BENCHMARKS))
    if argv and argv[0] in BENCHMARKS:
        # Everything after the name, --help included, belongs to the benchmark.
        import importlib

        module = importlib.import_module(BENCHMARKS[argv[0]][0])
        return int(module.main(argv[1:]))
    listing = "; ".join(f"{k}: {d}" for k, (_, d) in sorted(BENCHMARKS.items()))
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=f"Run one benchmark ({listing}). "
        "`python -m bench NAME --help` lists its options.",
    )
    p.add_argument("name", nargs="?", help=f"benchmark to run: {names}")
    args = p.parse_args(argv)
    if args.name is None:
        p.print_help()
        return 0
    print(f"bench: unknown benchmark {args.name!r}; available: {names}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
