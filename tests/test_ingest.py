"""The ingest buffer (fusion/ingest.py): the bound, the coalescing policy, the counts."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.config import ConfigError, IngestConfig, config_from_dict
from fusion.ingest import Chunk, IngestBuffer, coalesce
from fusion.schema import ReportArray, empty_reports

T0 = 1_764_054_000.0


def reports(t: float | list[float], icao: list[int], track: list[int] | None = None) -> ReportArray:
    """Reports with the given times and identities; ``lat_deg`` numbers them (0, 1, ...) so
    that a test can tell which row survived."""
    n = len(icao)
    r = empty_reports(n)
    r["t"] = t
    r["icao"] = icao
    if track is not None:
        r["track"] = track
    r["lat_deg"] = np.arange(n, dtype=np.float64)
    r["lon_deg"] = 8.0
    r["alt_baro_ft"] = 30000.0
    r["ve_ms"], r["vn_ms"] = 200.0, 0.0
    return r


def test_under_the_bound_chunks_pass_unchanged_in_order() -> None:
    buf = IngestBuffer(10)
    a = Chunk("adsb-1", "adsb", reports(T0, [1, 2, 3]), 1.0)
    b = Chunk("radar-1", "radar", reports(T0 + 1, [1, 2], track=[7, 8]), 2.0)
    assert buf.put(a) == 0 and buf.put(b) == 0
    assert len(buf) == 5 and buf.peak_rows == 5
    taken = buf.take()
    assert taken.chunks == [a, b] and not taken.overloaded and taken.rows == 5
    assert len(buf) == 0 and buf.shed == 0 and buf.coalescings == 0
    assert buf.put(Chunk("adsb-1", "adsb", reports(T0, []), 3.0)) == 0
    assert len(buf) == 0


def test_past_the_bound_it_keeps_the_newest_report_per_feeder_and_sensor_track() -> None:
    buf = IngestBuffer(12)
    # ADS-B: ICAO 1 and 2 twice each; the second report of 1 is the newer, of 2 the older.
    buf.put(Chunk("adsb-1", "adsb", reports([T0 + 1, T0 + 2], [1, 2]), 1.0))
    buf.put(Chunk("adsb-1", "adsb", reports([T0 + 2, T0 + 1], [1, 2]), 2.0))
    # A radar: its own track numbers key it (7 and 8 carry the same address), and the same
    # address at another feeder is another sensor track.
    buf.put(Chunk("radar-1", "radar", reports([T0 + 1, T0 + 1], [1, 1], track=[7, 8]), 3.0))
    buf.put(Chunk("radar-1", "radar", reports([T0 + 3], [1], track=[7]), 4.0))
    assert len(buf) == 7
    # Two reports at the same time for ICAO 3: the later arrival wins.
    shed = buf.put(Chunk("adsb-1", "adsb", reports([T0, T0, T0, T0, T0, T0], [3] * 6), 5.0))
    assert len(buf) <= 12 and buf.peak_rows <= 12
    assert shed == 13 - 5 == buf.shed and buf.coalescings == 1
    taken = buf.take()
    assert taken.overloaded and taken.rows == 5 and len(buf) == 0
    # One chunk per feeder, in the order of their newest message; rows in time order.
    assert [(c.feeder, c.kind) for c in taken.chunks] == [("radar-1", "radar"), ("adsb-1", "adsb")]
    radar, adsb = taken.chunks
    assert radar.t_received == 4.0 and adsb.t_received == 5.0
    assert radar.reports["track"].tolist() == [8, 7]
    assert radar.reports["t"].tolist() == [T0 + 1, T0 + 3]
    got = {int(i): (float(t), float(lat)) for i, t, lat in adsb.reports[["icao", "t", "lat_deg"]]}
    assert got == {1: (T0 + 2, 0.0), 2: (T0 + 2, 1.0), 3: (T0, 5.0)}
    assert list(adsb.reports["t"]) == sorted(adsb.reports["t"])
    # The next take is not overloaded unless the buffer sheds again.
    buf.put(Chunk("adsb-1", "adsb", reports(T0 + 4, [1]), 6.0))
    assert not buf.take().overloaded


def test_more_sensor_tracks_than_half_the_bound_keeps_the_newest_data() -> None:
    buf = IngestBuffer(10)
    buf.put(Chunk("adsb-1", "adsb", reports([T0 + k for k in range(8)], list(range(8))), 1.0))
    # 12 distinct addresses in all, over the bound of 10: half of it, 5, is kept, newest
    # data time first.
    shed = buf.put(Chunk("adsb-1", "adsb", reports(T0 + 20.0, [100, 101, 102, 103]), 2.0))
    assert shed == 7 and len(buf) == 5 and buf.peak_rows == 8
    (chunk,) = buf.take().chunks
    assert sorted(chunk.reports["icao"].tolist()) == [7, 100, 101, 102, 103]


def test_a_message_larger_than_the_bound_alone_is_coalesced_too() -> None:
    buf = IngestBuffer(4)
    shed = buf.put(Chunk("adsb-1", "adsb", reports(T0, list(range(10))), 1.0))
    assert shed == 8 and len(buf) == 2 and buf.peak_rows <= 4


def test_coalesce_of_nothing_to_shed_keeps_every_row() -> None:
    a = Chunk("adsb-1", "adsb", reports([T0, T0 + 1], [1, 2]), 1.0)
    (out,) = coalesce([a], 100)
    assert out.reports.tobytes() == a.reports.tobytes() and out.t_received == 1.0


def test_ingest_config_validation_and_toml_table() -> None:
    assert IngestConfig().max_rows == 250_000
    assert config_from_dict({"ingest": {"max_rows": 1000}}).ingest.max_rows == 1000
    assert config_from_dict({"ingest": {"max_rows": 1000.0}}).ingest.max_rows == 1000
    for bad in (0, 1, 2.5, True, "10"):
        with pytest.raises(ConfigError, match=r"ingest\.max_rows"):
            config_from_dict({"ingest": {"max_rows": bad}})
    with pytest.raises(ConfigError, match=r"unknown keys in \[ingest\]"):
        config_from_dict({"ingest": {"rows": 10}})
    with pytest.raises(ConfigError, match="must be a table"):
        config_from_dict({"ingest": 5})
