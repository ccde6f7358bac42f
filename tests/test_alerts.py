"""Alert lifecycle: severities with hysteresis, confirmation, updates only on meaningful
change, no flicker, end after staying clear."""

from __future__ import annotations

import math
from dataclasses import replace

import msgpack
import numpy as np

from fusion.alerts import ALERT_SCHEMA_VERSION, AlertEvent, AlertManager, alert_id, identity
from fusion.config import FT, NM, AlertsConfig, ServiceConfig
from fusion.detect import CycleResult
from fusion.fuser import Fuser
from fusion.schema import empty_reports
from fusion.systracks import SystemTracks

CFG = ServiceConfig()
TH = CFG.si()
T0 = 1_764_054_000.0
D = TH.sep_h_m
CLOSING = 400.0  # m/s, head-on at 200 m/s each
MISS = 100.0  # m, horizontal miss distance


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

    def col(name: str, default: float = 0.0) -> np.ndarray:
        return np.array([c.get(name, default) for c in conflicts], dtype=np.float64)

    return CycleResult(
        t=t, n_tracks=int(slots.size),
        expired=np.array(expired or [], dtype=np.int64),
        slot_a=np.full(k, slots[0]), slot_b=np.full(k, slots[1]),
        key_a=np.full(k, tab.id[slots[0]]), key_b=np.full(k, tab.id[slots[1]]),
        t_in=col("t_in"), t_out=col("t_out"), t_cpa=col("t_cpa"), d_cpa=col("d_cpa"),
        dz_cpa=col("dz_cpa"), d_now=col("d_now"), dz_now=col("dz_now"),
        raised=col("raised", 1.0).astype(bool), sep_h=col("sep_h", D),
        sep_v=col("sep_v", TH.sep_v_m), confidence=col("confidence", 0.9),
        turn=np.zeros(k, dtype=bool), volume_a=np.full(k, -1), volume_b=np.full(k, -1),
    )  # fmt: skip


def _approach(t_rel: float, t_los: float = 60.0, closing: float = 400.0) -> dict[str, float]:
    """A head-on encounter seen t_rel seconds after the first alert (approaching only)."""
    ttl = max(0.0, t_los - t_rel)
    return {"t_in": ttl, "t_out": ttl + 40.0, "t_cpa": ttl + 23.0, "d_cpa": 100.0,
            "dz_cpa": 0.0, "d_now": 9200.0 + closing * ttl, "dz_now": 0.0}  # fmt: skip


def _encounter(t_rel: float, t_cpa_at: float = 150.0) -> dict[str, float] | None:
    """A head-on encounter at FL350, closing at 400 m/s with a 100 m miss distance, its
    closest approach t_cpa_at seconds after t_rel = 0: the detection cycle's figures at
    t_rel, or None while it is not a conflict (before the look-ahead, or after it)."""
    tc = t_cpa_at - t_rel  # time to the closest approach
    half = math.sqrt(D * D - MISS * MISS) / CLOSING  # half the time inside the minimum
    t_in, t_out = tc - half, tc + half
    if t_out <= 0.0 or t_in >= TH.lookahead_s:
        return None
    t_cpa = min(max(tc, 0.0), TH.lookahead_s)
    d_now = math.hypot(CLOSING * tc, MISS)
    return {
        "t_in": max(t_in, 0.0), "t_out": min(t_out, TH.lookahead_s), "t_cpa": t_cpa,
        "d_cpa": math.hypot(CLOSING * (tc - t_cpa), MISS), "dz_cpa": 0.0,
        "d_now": d_now, "dz_now": 0.0,
    }  # fmt: skip


def _manager(update_step_s: float | None = None, **alerts: float) -> AlertManager:
    cfg = replace(CFG, alerts=AlertsConfig(**alerts))  # type: ignore[arg-type]
    if update_step_s is not None:
        cfg = replace(cfg, detection=replace(cfg.detection, update_step_s=update_step_s))
    return AlertManager(cfg.si(), "unit")


def _run(mgr: AlertManager, tab: SystemTracks, seq: list[dict[str, float] | None],
         t_start: float = T0) -> list[AlertEvent]:  # fmt: skip
    out: list[AlertEvent] = []
    for k, c in enumerate(seq):
        out += mgr.step(_cycle(tab, t_start + k, [] if c is None else [c]), tab, ["adsb-1"])
    return out


def test_encounter_from_first_warning_to_end_is_one_alert() -> None:
    """Predicted, confirmed, escalated to imminent and loss as updates of the same alert;
    quiet while steady, in the loss and as the pair recedes; end after staying clear."""
    tab, mgr = _table(), _manager()
    seq = [_encounter(s) for s in range(200)]
    events = _run(mgr, tab, seq)
    kinds = [(e.event, e.severity) for e in events]
    assert kinds == [
        ("new", "predicted"),
        ("update", "predicted"),  # the closest approach comes inside the look-ahead
        ("update", "imminent"),
        ("update", "loss"),
        ("end", "loss"),
    ], kinds
    assert len({e.alert_id for e in events}) == 1
    first_seen = next(k for k, c in enumerate(seq) if c is not None)
    new, cpa_inside, imminent, loss, end = events
    assert cpa_inside.t_cpa_s < TH.lookahead_s <= new.t_cpa_s
    # Confirmed over confirm_cycles consecutive cycles: the new comes that many cycles in.
    assert new.t == T0 + first_seen + TH.confirm_cycles - 1
    assert new.a.callsign == "AAA1" and new.b.icao == "3C0002"
    assert imminent.time_to_los_s < TH.imminent_s <= imminent.time_to_los_s + 1.0
    assert loss.time_to_los_s == 0.0 and loss.d_now_m < D
    # The end: alert_end_s after the last cycle that had the pair in conflict.
    last_seen = max(k for k, c in enumerate(seq) if c is not None)
    assert end.reason == "clear" and end.t == T0 + last_seen + TH.alert_end_s
    assert not mgr.open


def test_current_loss_is_alerted_at_once() -> None:
    tab, mgr = _table(), _manager()
    inside = _encounter(150.0)
    assert inside is not None and inside["t_in"] == 0.0
    events = _run(mgr, tab, [inside])
    assert [(e.event, e.severity) for e in events] == [("new", "loss")]


def test_prediction_needs_consecutive_cycles() -> None:
    tab, mgr = _table(), _manager(confirm_cycles=3)
    c = _encounter(40.0)
    # Two cycles, a gap, two cycles: never three in a row, never alerted.
    assert _run(mgr, tab, [c, c, None, c, c, None]) == []
    assert not mgr.open
    # Three in a row: alerted on the third.
    events = _run(mgr, tab, [c, c, c], t_start=T0 + 10)
    assert [(e.event, e.t) for e in events] == [("new", T0 + 12)]


def test_imminent_falls_back_only_past_the_margin() -> None:
    """Time to loss wandering around imminent_s: one escalation, no flicker back; back to
    predicted only past imminent_s + severity_margin_s. (The time-of-loss step is set
    out of the way: only severities make news here.)"""
    tab = _table()
    mgr = _manager(update_step_s=1e6, confirm_cycles=1, imminent_s=60.0, severity_margin_s=10.0)
    ttls = [80.0, 58.0, 62.0, 57.0, 66.0, 59.0, 69.0, 71.0, 65.0, 55.0]
    events = _run(mgr, tab, [_approach(0.0, t_los=v) for v in ttls])
    assert [(e.t - T0, e.event, e.severity) for e in events] == [
        (0.0, "new", "predicted"),
        (1.0, "update", "imminent"),
        (7.0, "update", "predicted"),
        (9.0, "update", "imminent"),
    ]


def test_loss_falls_back_only_when_the_next_loss_is_far() -> None:
    tab, mgr = _table(), _manager(confirm_cycles=1, severity_margin_s=10.0)
    inside = _encounter(150.0)
    assert inside is not None
    # Just outside again, loss predicted 3 s ahead: still "loss"; 30 s ahead: imminent.
    soon = {**_approach(0.0, t_los=3.0)}
    later = {**_approach(0.0, t_los=30.0)}
    events = _run(mgr, tab, [inside, soon, soon, later])
    assert [(e.event, e.severity) for e in events] == [("new", "loss"), ("update", "imminent")]
    assert events[1].t == T0 + 3


def test_flicker_in_and_out_of_the_conflict_set_keeps_one_alert() -> None:
    """A pair that drops out of the conflict set for less than alert_end_s at a time
    ("closing") continues the same alert: no end, no second new."""
    tab, mgr = _table(), _manager()
    gap = int(TH.alert_end_s) - 1
    seq: list[dict[str, float] | None] = []
    for s in range(200):
        c = _encounter(float(s))
        # Out of the set for `gap` cycles out of every gap + 2 (always back in time).
        seq.append(None if s % (gap + 2) >= 2 and c is not None and s > 40 else c)
    events = _run(mgr, tab, seq)
    assert [e.event for e in events].count("new") == 1
    assert [e.event for e in events].count("end") == 1 and events[-1].event == "end"
    assert len({e.alert_id for e in events}) == 1


def test_hold_band_keeps_an_alert_open_and_unchanged() -> None:
    """Cycles where the pair is only in the hold band (widened minima) neither end the
    alert nor update it; once it leaves the band too, it ends after alert_end_s."""
    tab, mgr = _table(), _manager(confirm_cycles=1)
    c = _approach(0.0, t_los=80.0)
    held = {**_approach(0.0, t_los=30.0), "raised": 0.0}  # would be news if it counted
    n_hold = int(TH.alert_end_s) * 3
    events = _run(mgr, tab, [c] + [held] * n_hold + [None] * int(TH.alert_end_s))
    assert [(e.event, e.reason) for e in events] == [("new", None), ("end", "clear")]
    assert events[1].t == T0 + n_hold + TH.alert_end_s
    assert events[1].severity == "predicted" and events[1].time_to_los_s == 80.0


def test_held_pair_does_not_open_an_alert() -> None:
    tab, mgr = _table(), _manager(confirm_cycles=1)
    held = {**_approach(0.0), "raised": 0.0}
    assert _run(mgr, tab, [held] * 5) == [] and not mgr.open and not mgr.pending


def test_receding_phase_is_quiet() -> None:
    """Past the closest approach, still inside the minimum: the miss distance (now the
    current distance) grows by far more than the step every cycle; no update."""
    tab, mgr = _table(), _manager(confirm_cycles=1)
    seq = [_encounter(s) for s in range(150, 173)]
    assert all(c is not None for c in seq)
    events = _run(mgr, tab, seq)
    assert [(e.event, e.severity) for e in events] == [("new", "loss")]
    grown = [c["d_cpa"] for c in seq if c is not None]
    assert grown[-1] - grown[0] > 10 * TH.update_step_m


def test_prediction_change_is_an_update() -> None:
    tab, mgr = _table(), _manager(confirm_cycles=1)
    assert len(mgr.step(_cycle(tab, T0, [_approach(0, t_los=80.0)]), tab, ["adsb-1"])) == 1
    # The predicted time of loss moves by more than the step: news.
    moved = _approach(0, t_los=79.0 + TH.update_step_s + 1.0)
    ev = mgr.step(_cycle(tab, T0 + 1, [moved]), tab, ["adsb-1"])
    assert [e.event for e in ev] == ["update"]
    # The same time of loss, the miss distance moved by more than the step: news.
    closer = {**moved, "t_in": moved["t_in"] - 1.0, "d_cpa": moved["d_cpa"] + 2 * TH.update_step_m}
    ev = mgr.step(_cycle(tab, T0 + 2, [closer]), tab, ["adsb-1"])
    assert [e.event for e in ev] == ["update"]
    # A steady countdown is not.
    steady = {**closer, "t_in": closer["t_in"] - 1.0}
    assert mgr.step(_cycle(tab, T0 + 3, [steady]), tab, ["adsb-1"]) == []


def test_other_minima_are_an_update_and_travel_in_the_payload() -> None:
    tab, mgr = _table(), _manager(confirm_cycles=1)
    c = _approach(0, t_los=100.0)
    first = mgr.step(_cycle(tab, T0, [c]), tab, ["adsb-1"])
    assert first[0].sep_h_nm == 5.0 and first[0].sep_v_effective_ft == 950.0
    terminal = {**c, "t_in": c["t_in"] - 1.0, "sep_h": 3.0 * NM}
    ev = mgr.step(_cycle(tab, T0 + 1, [terminal]), tab, ["adsb-1"])
    assert [(e.event, e.sep_h_nm) for e in ev] == [("update", 3.0)]
    wire = msgpack.unpackb(ev[0].encode(), raw=False)
    assert wire["v"] == ALERT_SCHEMA_VERSION == 2
    assert wire["thresholds"]["sep_h_nm"] == 3.0 and wire["thresholds"]["volume_a"] is None
    assert wire["confidence"] == 0.9 and wire["hypothesis"] == "straight"


def test_adjacent_flight_levels_are_not_a_loss() -> None:
    """Two aircraft level 975 ft apart as reported, on top of each other: the cycle would
    not raise them (vertical < 950 ft is a loss); and were it held, it is not a loss."""
    tab, mgr = _table(), _manager(confirm_cycles=1)
    c = {**_approach(0.0, t_los=0.0), "dz_now": 975.0 * FT, "t_in": 50.0}
    events = _run(mgr, tab, [c])
    assert [e.severity for e in events] == ["imminent"]


def test_expired_track_ends_alert_at_once() -> None:
    tab, mgr = _table(), _manager(confirm_cycles=1)
    mgr.step(_cycle(tab, T0, [_approach(0)]), tab, ["adsb-1"])
    ev = mgr.step(_cycle(tab, T0 + 1, [], expired=[2]), tab, ["adsb-1"])  # track id 2
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
    tab, mgr = _table(), _manager(confirm_cycles=1)
    first = mgr.step(_cycle(tab, T0, [_approach(0)]), tab, ["adsb-1"])
    aid = first[0].alert_id
    assert set(mgr.open) == {(1, 2)}
    # Track 2 was folded into track 7: the open alert moves, same id, no event.
    assert mgr.rekey([(2, 7)], T0 + 1) == []
    assert set(mgr.open) == {(1, 7)} and mgr.open[(1, 7)].alert_id == aid
    # Track 7 folded into track 1: the pair is one aircraft twice; the alert ends.
    ended = mgr.rekey([(7, 1)], T0 + 2)
    assert [(e.event, e.reason, e.alert_id) for e in ended] == [("end", "merged", aid)]
    assert not mgr.open
