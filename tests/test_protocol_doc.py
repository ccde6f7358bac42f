"""docs/protocol.md stays true: its examples decode, and its field lists match the code."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import msgpack
import numpy as np

from fusion.alerts import AlertEvent, Identity
from fusion.engine import Counters
from fusion.schema import COLUMNS, decode_message
from fusion.trackmsg import TRACK_COLUMNS

DOC = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")


def _python_block_after(heading: str) -> str:
    start = DOC.index(heading)
    m = re.search(r"```python\n(.*?)```", DOC[start:], re.S)
    assert m is not None
    return m.group(1)


def test_single_report_example_decodes() -> None:
    example = ast.literal_eval(_python_block_after("### One report per message"))
    d = decode_message(msgpack.packb(example, use_bin_type=True), example["feeder"])
    assert d.reports.size == 1 and d.rejected_rows.size == 0
    assert d.reports["icao"][0] == example["icao"]


def test_batch_columns_table_lists_every_column() -> None:
    table = DOC[DOC.index("| column | type |") : DOC.index("A column may be left out")]
    named = set(re.findall(r"`([a-z_0-9]+)`", table))
    assert set(COLUMNS) <= named


def test_alert_example_names_every_field() -> None:
    block = _python_block_after("## Alert events (out)")
    keys = set(re.findall(r'"([a-z_0-9]+)":', block))
    ev = AlertEvent(
        alert_id="x", event="new", severity="predicted", t=1.0, t_opened=1.0,
        a=Identity(1, "000001", None, "f", "adsb", None, None),
        b=Identity(2, "000002", None, "f", "adsb", None, None),
        time_to_los_s=1.0, t_cpa_s=1.0, d_cpa_m=1.0, dz_cpa_m=1.0, d_now_m=1.0, dz_now_m=1.0,
        sep_h_nm=5.0, sep_v_ft=1000.0, sep_v_effective_ft=950.0, lookahead_s=120.0,
        service="s", confidence=0.9, hypothesis="straight", volume_a="TMA", volume_b=None,
    )  # fmt: skip
    wire = ev.to_dict()
    fields = set(wire) | set(wire["thresholds"]) | set(wire["a"])
    assert fields == keys
    assert np.isfinite(wire["d_cpa_nm"])


def test_status_example_names_every_counter() -> None:
    block = _python_block_after("## Status (out)")
    example = ast.literal_eval(block)
    assert set(example["counters"]) == {f.name for f in fields(Counters)}


def test_tracks_table_lists_every_column() -> None:
    table = DOC[DOC.index("## Fused tracks (out)") : DOC.index("## Status (out)")]
    named = set(re.findall(r"`([a-z_0-9]+)`", table))
    assert set(TRACK_COLUMNS) <= named
