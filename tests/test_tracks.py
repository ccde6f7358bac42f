"""Track table: keyed latest state, batched updates, expiry, no identity leaking."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.schema import empty_reports
from fusion.tracks import TrackTable, track_keys


def _reports(icao: list[int], t: list[float], track: list[int] | None = None) -> np.ndarray:
    r = empty_reports(len(icao))
    r["icao"] = icao
    r["track"] = track if track is not None else -1
    r["t"] = t
    r["lat_deg"] = 50.0
    r["lon_deg"] = 8.0
    r["alt_baro_ft"] = np.arange(len(icao)) * 1000.0
    r["ve_ms"] = 100.0
    r["vn_ms"] = 0.0
    return r


def test_keys_separate_icao_from_anonymous_radar_tracks() -> None:
    r = _reports([0x000001, -1, -1], [1, 1, 1], track=[-1, 1, 1])
    k0 = track_keys(r, 0)
    k1 = track_keys(r, 1)
    assert k0[0] == 1 == k1[0]
    assert k0[1] != 1 and k0[1] != k1[1]  # same radar track number, different feeders


def test_newest_report_per_aircraft_wins_within_and_across_batches() -> None:
    tab = TrackTable(capacity=2)
    st1 = tab.update(_reports([5, 5, 7], [10.0, 12.0, 11.0]), "adsb", 0)
    assert (st1.applied, st1.superseded, st1.new_tracks) == (2, 1, 2)
    slots = tab.slots_of(np.array([5, 7, 9]))
    assert slots[2] == -1
    assert tab.state["t"][slots[0]] == 12.0
    st2 = tab.update(_reports([5, 9, 11], [11.0, 11.0, 11.0]), "radar", 1)  # 5 is older
    assert (st2.applied, st2.superseded, st2.new_tracks) == (2, 1, 2)
    assert tab.state["t"][tab.slots_of(np.array([5]))[0]] == 12.0
    assert len(tab) == 4


def test_expiry_frees_slots_and_clears_identity() -> None:
    tab = TrackTable(capacity=4)
    r = _reports([1, 2], [0.0, 10.0])
    r["mode3a"] = 0o1234
    r["callsign"] = b"OLD"
    tab.update(r, "adsb", 0)
    gone = tab.expire(25.0, 20.0)
    assert gone.tolist() == [1]
    assert len(tab) == 1 and tab.slots_of(np.array([1]))[0] == -1
    fresh = _reports([3], [26.0])
    tab.update(fresh, "adsb", 0)
    s = tab.state[tab.slots_of(np.array([3]))[0]]
    assert s["mode3a"] == -1 and s["callsign"] == b""


def test_identity_kept_when_a_sensor_does_not_carry_it() -> None:
    tab = TrackTable()
    r = _reports([42], [1.0])
    r["callsign"] = b"BAW12"
    r["mode3a"] = 0o2000
    tab.update(r, "adsb", 0)
    tab.update(_reports([42], [2.0], track=[17]), "radar", 1)
    s = tab.state[tab.slots_of(np.array([42]))[0]]
    assert s["callsign"] == b"BAW12" and s["mode3a"] == 0o2000 and s["track"] == 17


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 100)), min_size=1, max_size=200),
    st.integers(1, 7),
)
def test_table_matches_a_dict_of_latest_reports(rows: list[tuple[int, int]], chunk: int) -> None:
    tab = TrackTable(capacity=1)
    expected: dict[int, float] = {}
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        tab.update(_reports([k for k, _ in part], [float(t) for _, t in part]), "adsb", 0)
        for k, t in part:
            expected[k] = max(expected.get(k, -1.0), float(t))
    assert len(tab) == len(expected)
    slots = tab.active_slots()
    got = dict(zip(tab.state["key"][slots].tolist(), tab.state["t"][slots].tolist(), strict=True))
    assert got == expected
    assert list(got) == sorted(got)  # active slots come in key order
