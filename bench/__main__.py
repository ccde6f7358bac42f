"""``python -m bench NAME``: run one benchmark. ``python -m bench --help`` lists them."""

from __future__ import annotations

import argparse
import sys

# Name -> (module, one-line description). Each module has ``main(argv) -> int``.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "cpa": (
        "bench.cpa",
        "full conflict screening of synthetic traffic (1k-1M aircraft) vs all-pairs baselines",
    ),
}


def main(argv: list[str] | None = None) -> int:
    names = ", ".join(sorted(BENCHMARKS)) or "none yet (the kernels issue adds 'cpa')"
    p = argparse.ArgumentParser(prog="python -m bench", description=f"Benchmarks: {names}.")
    p.add_argument("name", nargs="?", help="benchmark to run")
    args, rest = p.parse_known_args(argv)
    if args.name is None:
        p.print_help()
        return 0
    if args.name not in BENCHMARKS:
        print(f"bench: unknown benchmark {args.name!r}; available: {names}", file=sys.stderr)
        return 2
    import importlib

    module = importlib.import_module(BENCHMARKS[args.name][0])
    return int(module.main(rest))


if __name__ == "__main__":
    sys.exit(main())
