"""The fuser on the simulator's ``fusion`` sensor suite (three ADS-B receivers with
duplicates, drop-outs and late delivery, two Mode S radars that renumber tracks, a primary
radar without identity, a GNSS spoofing zone and a jamming zone), fed message by message
as a live service would be, checked against the truth every 20 s."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from fusion.fuser import Fuser
from fusion.schema import decode_message
from fusion.sim import ScenarioConfig, build_scenario, positions
from fusion.sim.presets import FUSION_SENSORS
from fusion.sim.reporttruth import ReportTruthArray
from fusion.sim.scenario import Scenario
from fusion.sim.sensors import SimMessage, build_messages_with_truth
from fusion.systracks import FLAG_ADSB_SUSPECT

F64 = npt.NDArray[np.float64]
T0 = 1_764_000_000.0
M_PER_DEG = 111_195.0


@dataclass
class Check:
    t: float
    n_tracks: int
    n_seen: int  # aircraft reported by any sensor in the last 15 s
    duplicates: int  # tracks whose nearest aircraft another track is nearer to
    far: int  # tracks more than 2 km from every aircraft
    err_adsb: F64  # position error (m) of tracks of ADS-B aircraft outside the zones
    err_radar_only: F64  # of aircraft without ADS-B
    flagged_in_spoof: int  # ADS-B-suspect tracks of aircraft falsified in the last 10 s
    flagged_elsewhere: int


Run = tuple[Scenario, list[SimMessage], ReportTruthArray, Fuser, list[Check]]


@pytest.fixture(scope="module")
def run() -> Run:
    sc = build_scenario(ScenarioConfig(t0=T0, duration_s=400.0))
    msgs, rt = build_messages_with_truth(sc, FUSION_SENSORS)
    fu = Fuser()
    feeders: dict[str, int] = {}
    checks: list[Check] = []
    sec = T0
    for m in msgs:
        while m.t_pub > sec + 1.0:
            sec += 1.0
            tc = sec - fu.cfg.reorder_window_s
            fu.release(tc)
            fu.expire(tc, 20.0)
            if (sec - T0) % 20 == 0 and sec - T0 >= 40:
                checks.append(_check(sc, rt, fu, tc))
        d = decode_message(m.payload, m.feeder)
        fu.add(d.reports, d.kind, feeders.setdefault(m.feeder, len(feeders)))
    return sc, msgs, rt, fu, checks


def _check(sc: Scenario, rt: ReportTruthArray, fu: Fuser, tc: float) -> Check:
    pic = fu.picture(tc)
    lat, lon, _, _, _, _ = positions(sc, np.array([tc]))
    lat, lon = lat[:, 0], lon[:, 0]
    recent = (rt["t"] > tc - 15.0) & (rt["t"] <= tc)
    seen = np.unique(rt["aircraft"][recent])
    d = np.hypot(
        (pic.lat_deg[:, None] - lat[None]) * M_PER_DEG,
        (pic.lon_deg[:, None] - lon[None]) * M_PER_DEG * np.cos(np.radians(lat[None])),
    )
    near = d.argmin(axis=1)
    dist = d.min(axis=1)
    spoofed = np.unique(rt["aircraft"][rt["falsified"] & (rt["t"] > tc - 10.0) & (rt["t"] <= tc)])
    ever_spoofed = np.unique(rt["aircraft"][rt["falsified"]])
    in_zone = np.isin(near, ever_spoofed)
    adsb = sc.adsb[near]
    flagged = (fu.tracks.flags[pic.rows] & FLAG_ADSB_SUSPECT) != 0
    return Check(
        t=tc,
        n_tracks=int(pic.id.size),
        n_seen=int(seen.size),
        duplicates=int(near.size - np.unique(near).size),
        far=int((dist > 2000.0).sum()),
        err_adsb=dist[adsb & ~in_zone],
        err_radar_only=dist[~adsb],
        flagged_in_spoof=int((flagged & np.isin(near, spoofed)).sum()),
        flagged_elsewhere=int((flagged & ~in_zone).sum()),
    )


def _raw_rms(msgs: list[SimMessage], rt: ReportTruthArray, kind: str) -> float:
    """RMS horizontal error (m) of one kind of sensor's unfalsified reports."""
    parts = [decode_message(m.payload, m.feeder) for m in msgs]
    lat = np.concatenate([p.reports["lat_deg"] for p in parts])
    lon = np.concatenate([p.reports["lon_deg"] for p in parts])
    k = np.concatenate([np.full(len(p.reports), p.kind) for p in parts])
    err = np.hypot(
        (lat - rt["true_lat_deg"]) * M_PER_DEG,
        (lon - rt["true_lon_deg"]) * M_PER_DEG * np.cos(np.radians(lat)),
    )
    sel = (k == kind) & ~rt["falsified"]
    return float(np.sqrt(np.mean(err[sel] ** 2)))


def test_one_track_per_aircraft_and_none_astray(run: Run) -> None:
    _, _, _, fu, checks = run
    assert len(checks) >= 12
    for c in checks:
        assert c.n_tracks == c.n_seen, c
        assert c.duplicates == 0, c
        assert c.far == 0, c
    st = fu.stats
    pending = fu.pending
    assert st.received == (
        st.applied + st.late + st.duplicate + st.integrity_rejected + st.identity_rejected
        + st.bad + pending
    )  # fmt: skip
    assert st.duplicate > 0 and st.late > 0  # the suite does exercise both


def test_fused_error_below_each_sensor(run: Run) -> None:
    _, msgs, rt, _, checks = run
    fused_adsb = math.sqrt(np.mean(np.concatenate([c.err_adsb for c in checks]) ** 2))
    fused_radar = math.sqrt(np.mean(np.concatenate([c.err_radar_only for c in checks]) ** 2))
    raw_adsb = _raw_rms(msgs, rt, "adsb")
    raw_radar = _raw_rms(msgs, rt, "radar")
    assert fused_adsb < 0.9 * raw_adsb, (fused_adsb, raw_adsb)
    assert fused_radar < 0.9 * raw_radar, (fused_radar, raw_radar)


def test_spoofed_adsb_is_flagged_and_kept_out(run: Run) -> None:
    _, _, _, fu, checks = run
    assert fu.stats.integrity_rejected > 0
    # While the spoofing zone is active (120 s on), its aircraft are flagged; no track
    # outside the zones ever is; no track is pulled 4 km off (far == 0 above).
    active = [c for c in checks if c.t >= T0 + 140.0]
    assert sum(c.flagged_in_spoof for c in active) > 0
    assert all(c.flagged_elsewhere == 0 for c in checks)
