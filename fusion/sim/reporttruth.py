"""Per-report truth of a simulation: which aircraft each generated report belongs to, and
whether its position was falsified; written next to the scenario truth JSON.

One row per report, in message order then row order within each message (so row
``i`` of the concatenation of the decoded messages is row ``i`` here). From it follow the
radar (feeder, track number) -> aircraft mapping over time (:func:`track_segments`), the
duplicates across ADS-B receivers (same ``tx``) and out-of-order deliveries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

REPORT_TRUTH_SCHEMA: Final = "airspace-sim-report-truth/1"

REPORT_TRUTH_DTYPE: Final = np.dtype(
    [
        ("msg", "<i4"),  # index of the message in the simulator's (t_pub, feeder) order
        ("row", "<i4"),  # row of the report within that message's batch
        ("feeder", "S32"),  # feeder name, ASCII
        ("t", "<f8"),  # the report's time of applicability, UTC epoch s
        ("t_pub", "<f8"),  # the message's publish data time, UTC epoch s
        ("aircraft", "<i4"),  # scenario row of the aircraft (truth JSON "aircraft" index)
        ("icao", "<i4"),  # that aircraft's ICAO address (also when the report has none)
        ("track", "<i4"),  # the report's track number, -1 none
        ("tx", "<i8"),  # ADS-B transmission id, shared by every copy of it; -1 radar
        ("falsified", "?"),  # position falsified by GNSS interference
        ("zone", "<i2"),  # index of that interference zone, -1 none
        ("true_lat_deg", "<f8"),  # truth at t: WGS-84 latitude, degrees
        ("true_lon_deg", "<f8"),  # longitude, degrees
        ("true_alt_m", "<f8"),  # altitude (pressure altitude taken as height), metres
    ]
)

TRACK_SEGMENT_DTYPE: Final = np.dtype(
    [
        ("feeder", "S32"),
        ("track", "<i4"),
        ("aircraft", "<i4"),
        ("icao", "<i4"),
        ("t_first", "<f8"),  # first and last report time with this (feeder, track, aircraft)
        ("t_last", "<f8"),
        ("n", "<i8"),  # reports
    ]
)

ReportTruthArray = npt.NDArray[np.void]


def report_truth_path(truth_json: str | Path) -> Path:
    """Where the per-report truth goes next to a truth JSON: ``x.json`` -> ``x.reports.npz``."""
    p = Path(truth_json)
    return p.with_name(p.stem + ".reports.npz")


def write_report_truth(path: str | Path, report_truth: ReportTruthArray) -> None:
    """Write the per-report truth as a compressed .npz: ``report_truth`` (REPORT_TRUTH_DTYPE)
    and ``schema``. Readable without pickle (``np.load(path)``)."""
    if report_truth.dtype != REPORT_TRUTH_DTYPE:
        raise ValueError("report_truth must have REPORT_TRUTH_DTYPE")
    with Path(path).open("wb") as fh:
        np.savez_compressed(
            fh, report_truth=report_truth, schema=np.array(REPORT_TRUTH_SCHEMA.encode())
        )


def read_report_truth(path: str | Path) -> ReportTruthArray:
    """Read what :func:`write_report_truth` wrote."""
    with np.load(path, allow_pickle=False) as z:
        schema = bytes(z["schema"].item()).decode()
        if schema != REPORT_TRUTH_SCHEMA:
            raise ValueError(f"{path}: schema {schema!r}, expected {REPORT_TRUTH_SCHEMA!r}")
        out: ReportTruthArray = z["report_truth"]
        return out


def track_segments(report_truth: ReportTruthArray) -> npt.NDArray[np.void]:
    """The (feeder, track number) -> aircraft mapping over time: one row per run of
    reports with the same (feeder, track, aircraft), sorted by feeder, track, t_first
    (TRACK_SEGMENT_DTYPE). Reports without a track number are left out. A track number
    that is recycled for another aircraft gives two rows."""
    rt = report_truth[report_truth["track"] >= 0]
    rt = rt[np.lexsort((rt["t"], rt["track"], rt["feeder"]))]
    key_change = (
        (rt["feeder"][1:] != rt["feeder"][:-1])
        | (rt["track"][1:] != rt["track"][:-1])
        | (rt["aircraft"][1:] != rt["aircraft"][:-1])
    )
    start = np.flatnonzero(np.r_[True, key_change]) if len(rt) else np.zeros(0, np.int64)
    end = np.r_[start[1:], len(rt)] - 1
    out = np.empty(start.size, dtype=TRACK_SEGMENT_DTYPE)
    for name in ("feeder", "track", "aircraft", "icao"):
        out[name] = rt[name][start]
    out["t_first"] = rt["t"][start]
    out["t_last"] = rt["t"][end]
    out["n"] = end - start + 1
    return out
