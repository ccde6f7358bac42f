"""What every benchmark does at the end of a run: hash the code it measured, write its
JSON and PNG, print its tables, and say whether the code changed under it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def sources_sha256(*patterns: str) -> dict[str, str]:
    """sha256 (16 hex digits) of the files matching the glob patterns (relative to the
    repository): the code a benchmark measured."""
    files = sorted(f for p in patterns for f in ROOT.glob(p))
    return {
        str(f.relative_to(ROOT)): hashlib.sha256(f.read_bytes()).hexdigest()[:16] for f in files
    }


def finish(
    name: str,
    report: dict[str, Any],
    out: Path,
    sources: dict[str, str],
    patterns: tuple[str, ...],
    plot: Callable[[dict[str, Any], Path], None],
    tables: Callable[[dict[str, Any]], str],
    errors: list[str],
) -> int:
    """Stamp the end of the run on report, write out/NAME.json and NAME.png, print the
    tables and any errors; 1 if there were errors, else 0. sources: sources_sha256 of
    patterns at the start of the run."""
    report["date_end"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if sources_sha256(*patterns) != sources:
        report["sources_changed_during_run"] = True
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(report, out / f"{name}.png")
    print()
    print(tables(report))
    if report.get("sources_changed_during_run"):
        print(
            f"bench {name}: fusion/ or kernels/ changed during the run; run again",
            file=sys.stderr,
        )
    print(f"\nwrote {out / f'{name}.json'} and {out / f'{name}.png'}")
    for e in errors:
        print(f"bench {name}: ERROR {e}", file=sys.stderr)
    return 1 if errors else 0
