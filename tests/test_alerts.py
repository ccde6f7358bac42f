"""Alert lifecycle: new once, updates only on meaningful change, end after staying clear."""

from __future__ import annotations

import numpy as np

from fusion.alerts import AlertManager, alert_id, identity
from fusion.config import ServiceConfig
from fusion.detect import CycleResult
from fusion.fuser import Fuser
from fusion.schema import empty_reports
from fusion.systracks import SystemTracks

CFG = ServiceConfig()
TH = CFG.si()
T0 = 1_764_054_000.0


def _table() -> SystemTracks:
    """Two system tracks (ids 1 and 2) from ADS-B reports of feeder 0."""
    r = empty_reports(2)
    r["icao"] = [0x3C0001, 0x3C0002]
    r["t"] = T0
    r["lat_deg"], r["lon_deg"], r["alt_baro_ft"] = 50.0, 8.0, 35000.0
    r["ve_ms"], r["vn_ms"] = 100.0, 0.0
    r["callsign"] = [b"AAA1", b"BBB2"]
    fu = Fuser()
    fu.add(r, "adsb", 0)
    fu.release(T0)
    return fu.tracks


def _cycle(tab: SystemTracks, t: float, conflicts: list[dict[str, float]],
           expired: list[int] | None = None) -> CycleResult:  # fmt: skip
    slots = tab.rows()
    k = len(conflicts)

    def col(name: str) -> np.ndarray:
        return np.array([c[name] for c in conflicts], dtype=np.float64)

    return CycleResult(
        t=t, n_tracks=int(slots.size),
        expired=np.array(expired or [], dtype=np.int64),
        slot_a=np.full(k, slots[0]), slot_b=np.full(k, slots[1]),
        key_a=np.full(k, tab.id[slots[0]]), key_b=np.full(k, tab.id[slots[1]]),
        t_in=col("t_in"), t_out=col("t_out"), t_cpa=col("t_cpa"), d_cpa=col("d_cpa"),
        dz_cpa=col("dz_cpa"), d_now=col("d_now"), dz_now=col("dz_now"),
    )  # fmt: skip


def _approach(t_rel: float, t_los: float = 60.0, closing: float = 400.0) -> dict[str, float]:
    """A head-on encounter seen t_rel seconds after the first alert."""
    ttl = max(0.0, t_los - t_rel)
    return {"t_in": ttl, "t_out": ttl + 40.0, "t_cpa": ttl + 23.0, "d_cpa": 100.0,
            "dz_cpa": 0.0, "d_now": 9200.0 + closing * ttl, "dz_now": 0.0}  # fmt: skip


def _manager() -> AlertManager:
    d = CFG.detection
    return AlertManager(TH, "unit", d.sep_h_nm, d.sep_v_ft, d.alt_tolerance_ft)


def test_steady_encounter_is_one_new_then_escalation_then_end() -> None:
    tab, mgr, feeders = _table(), _manager(), ["adsb-1"]
    seen = []
    for k in range(80):
        seen += mgr.step(_cycle(tab, T0 + k, [_approach(k)]), tab, feeders)
    kinds = [(e.event, e.severity) for e in seen]
    # A steady prediction is not re-published every cycle; loss of separation is.
    assert kinds == [("new", "predicted"), ("update", "loss")]
    assert seen[1].t == T0 + 60.0 and seen[1].time_to_los_s == 0.0
    assert len({e.alert_id for e in seen}) == 1
    assert seen[0].a.callsign == "AAA1" and seen[0].b.icao == "3C0002"
    # Clear for less than alert_end_s since the last conflict (T0 + 79): no end; then end.
    last = T0 + 79
    assert mgr.step(_cycle(tab, last + 1.0, []), tab, feeders) == []
    assert mgr.step(_cycle(tab, last + TH.alert_end_s - 1.0, []), tab, feeders) == []
    end = mgr.step(_cycle(tab, last + TH.alert_end_s, []), tab, feeders)
    assert [(e.event, e.reason, e.alert_id) for e in end] == [("end", "clear", seen[0].alert_id)]
    assert not mgr.open


def test_brief_gap_keeps_the_same_alert() -> None:
    tab, mgr, feeders = _table(), _manager(), ["adsb-1"]
    first = mgr.step(_cycle(tab, T0, [_approach(0)]), tab, feeders)
    assert mgr.step(_cycle(tab, T0 + 1, []), tab, feeders) == []
    again = mgr.step(_cycle(tab, T0 + 2, [_approach(2)]), tab, feeders)
    assert again == [] and len(mgr.open) == 1
    assert next(iter(mgr.open.values())).alert_id == first[0].alert_id


def test_prediction_change_is_an_update() -> None:
    tab, mgr, feeders = _table(), _manager(), ["adsb-1"]
    mgr.step(_cycle(tab, T0, [_approach(0)]), tab, feeders)
    moved = _approach(1)
    moved["t_in"] += TH.update_step_s + 1.0
    ev = mgr.step(_cycle(tab, T0 + 1, [moved]), tab, feeders)
    assert [e.event for e in ev] == ["update"]
    closer = _approach(2, t_los=moved["t_in"] + 1.0 + 2.0)
    closer["d_cpa"] += TH.update_step_m * 2
    ev = mgr.step(_cycle(tab, T0 + 2, [closer]), tab, feeders)
    assert [e.event for e in ev] == ["update"]


def test_expired_track_ends_alert_at_once() -> None:
    tab, mgr, feeders = _table(), _manager(), ["adsb-1"]
    mgr.step(_cycle(tab, T0, [_approach(0)]), tab, feeders)
    ev = mgr.step(_cycle(tab, T0 + 1, [], expired=[2]), tab, feeders)  # track id 2
    assert [(e.event, e.reason) for e in ev] == [("end", "track_lost")]


def test_alert_id_is_stable_and_one_topic_level() -> None:
    tab = _table()
    slots = tab.rows()
    a, b = identity(tab, int(slots[0]), ["f"]), identity(tab, int(slots[1]), ["f"])
    aid = alert_id(a, b, T0)
    assert aid == alert_id(a, b, T0) and aid.startswith("3C0001-3C0002-")
    assert not set(aid) & set("/+#")


def test_identity_of_an_anonymous_radar_track() -> None:
    """A primary radar track: no address, labelled by its system track number, with the
    radar's own track number and feeder."""
    r = empty_reports(1)
    r["track"] = 417
    r["t"] = T0
    r["lat_deg"], r["lon_deg"], r["alt_geo_m"] = 50.0, 8.0, 9000.0
    r["ve_ms"], r["vn_ms"] = 100.0, 0.0
    fu = Fuser()
    fu.add(r, "radar", 1)
    fu.release(T0)
    row = int(fu.tracks.rows()[0])
    who = identity(fu.tracks, row, ["adsb-1", "radar-mil"])
    assert (who.key, who.icao, who.track, who.feeder, who.kind) == (
        1,
        None,
        417,
        "radar-mil",
        "radar",
    )
    assert who.label() == "T1"


def test_alert_follows_a_merged_track_and_self_pairs_end() -> None:
    tab, mgr, feeders = _table(), _manager(), ["adsb-1"]
    first = mgr.step(_cycle(tab, T0, [_approach(0)]), tab, feeders)
    aid = first[0].alert_id
    assert set(mgr.open) == {(1, 2)}
    # Track 2 was folded into track 7: the open alert moves, same id, no event.
    assert mgr.rekey([(2, 7)], T0 + 1) == []
    assert set(mgr.open) == {(1, 7)} and mgr.open[(1, 7)].alert_id == aid
    # Track 7 folded into track 1: the pair is one aircraft twice; the alert ends.
    ended = mgr.rekey([(7, 1)], T0 + 2)
    assert [(e.event, e.reason, e.alert_id) for e in ended] == [("end", "merged", aid)]
    assert not mgr.open
