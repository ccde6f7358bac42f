"""fusion.fuser: association by identity, sensor track and kinematics; initiation,
confirmation and deletion; reorder window, late reports and duplicates; ADS-B integrity
against radar and identity conflicts. Reports are built directly (no broker)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from fusion.fuser import Fuser, FusionStats
from fusion.schema import FT, ReportArray, empty_reports
from fusion.systracks import FLAG_ADSB_SUSPECT, FLAG_IDENTITY_CONFLICT

F64 = npt.NDArray[np.float64]
M_PER_DEG = 111_195.0  # on a sphere of the mean radius; the tests need consistency only
T0 = 1_764_000_000.0


class Flight:
    """Straight, level flight at 35,000 ft from (lat0, lon0), velocity (ve, vn) m/s."""

    def __init__(self, lat0: float, lon0: float, ve: float, vn: float) -> None:
        self.lat0, self.lon0, self.ve, self.vn = lat0, lon0, ve, vn

    def at(self, t: F64) -> tuple[F64, F64]:
        dt = t - T0
        lat = self.lat0 + self.vn * dt / M_PER_DEG
        lon = self.lon0 + self.ve * dt / (M_PER_DEG * math.cos(math.radians(self.lat0)))
        return lat, lon


def reports(
    f: Flight,
    t: F64,
    *,
    icao: int = -1,
    track: int = -1,
    sigma_h: float = 30.0,
    sigma_vel: float = 1.0,
    rng: np.random.Generator | None = None,
    offset_m: tuple[float, float] = (0.0, 0.0),
) -> ReportArray:
    """Reports of a flight at times t (s), with noise of sigma_h / sigma_vel when rng is
    given, and positions shifted by offset_m (east, north) metres (spoofing)."""
    n = t.size
    lat, lon = f.at(t)
    e = np.full(n, offset_m[0])
    nn = np.full(n, offset_m[1])
    ve = np.full(n, f.ve)
    vn = np.full(n, f.vn)
    if rng is not None:
        e = e + rng.normal(size=n) * sigma_h
        nn = nn + rng.normal(size=n) * sigma_h
        ve = ve + rng.normal(size=n) * sigma_vel
        vn = vn + rng.normal(size=n) * sigma_vel
    r = empty_reports(n)
    r["t"] = t
    r["icao"] = icao
    r["track"] = track
    r["lat_deg"] = lat + nn / M_PER_DEG
    r["lon_deg"] = lon + e / (M_PER_DEG * np.cos(np.radians(lat)))
    r["alt_baro_ft"] = 35_000.0
    r["ve_ms"] = ve
    r["vn_ms"] = vn
    r["vu_ms"] = 0.0
    r["sigma_h_m"] = sigma_h
    r["sigma_vel_ms"] = sigma_vel
    return r


def error_m(fu: Fuser, f: Flight, t: float, track_id: int) -> float:
    pic = fu.picture(t)
    k = int(np.flatnonzero(pic.id == track_id)[0])
    lat, lon = f.at(np.array([t]))
    dn = (pic.lat_deg[k] - lat[0]) * M_PER_DEG
    de = (pic.lon_deg[k] - lon[0]) * M_PER_DEG * math.cos(math.radians(lat[0]))
    return math.hypot(de, dn)


def accounted(st: FusionStats, pending: int) -> int:
    return (
        st.applied + st.late + st.duplicate + st.integrity_rejected + st.identity_rejected
        + st.bad + pending
    )  # fmt: skip


def run(fu: Fuser, feeds: list[tuple[ReportArray, str, int]], t_end: float) -> None:
    """Feed everything second by second as a live service would: add what was published
    in each second, release up to that second minus the reorder window."""
    for sec in np.arange(T0, t_end + 1.0, 1.0):
        for rep, kind, feeder in feeds:
            part = rep[(rep["t"] > sec - 1.0) & (rep["t"] <= sec)]
            fu.add(part, kind, feeder)
        fu.release(sec - fu.cfg.reorder_window_s)
    fu.release(t_end)


def test_adsb_only_one_confirmed_track() -> None:
    rng = np.random.default_rng(1)
    f = Flight(50.0, 8.0, 200.0, 50.0)
    t = T0 + np.arange(0.0, 30.0, 1.0)
    fu = Fuser()
    fu.add(reports(f, t[:2], icao=0x3C6585, rng=rng), "adsb", 0)
    fu.release(t[1])
    assert fu.picture(t[1]).id.size == 0  # two updates: still tentative
    fu.add(reports(f, t[2:], icao=0x3C6585, rng=rng), "adsb", 0)
    fu.release(t[-1])
    pic = fu.picture(t[-1])
    assert pic.id.tolist() == [1]
    assert fu.stats.applied == 30
    assert accounted(fu.stats, fu.pending) == fu.stats.received == 30
    assert fu.tracks.icao[pic.rows[0]] == 0x3C6585
    assert error_m(fu, f, t[-1], 1) < 30.0
    assert pic.alt_m[0] == pytest.approx(35_000 * FT, abs=1.0)
    assert math.hypot(pic.ve[0] - 200.0, pic.vn[0] - 50.0) < 2.0


def test_reports_without_velocity_still_make_a_confirmed_track() -> None:
    # Position-only reports reaching the fuser directly (the decoder rejects them: "speed"):
    # the track starts at rest under the vague prior
    # and its velocity comes from the positions; a NaN must not enter the state.
    rng = np.random.default_rng(4)
    f = Flight(50.0, 8.0, 200.0, 50.0)
    t = T0 + np.arange(0.0, 30.0, 1.0)
    rep = reports(f, t, icao=0x3C6586, rng=rng)
    rep["ve_ms"] = np.nan
    rep["vn_ms"] = np.nan
    fu = Fuser()
    fu.add(rep, "adsb", 0)
    fu.release(t[-1])
    pic = fu.picture(t[-1])
    assert pic.id.tolist() == [1]
    assert fu.stats.applied == 30 and fu.stats.bad == 0
    assert math.hypot(pic.ve[0] - 200.0, pic.vn[0] - 50.0) < 10.0


def test_duplicates_late_and_reordering() -> None:
    rng = np.random.default_rng(2)
    f = Flight(50.0, 8.0, 200.0, 0.0)
    t = T0 + np.arange(0.0, 20.0, 1.0)
    rep = reports(f, t, icao=0xABCDEF, rng=rng)
    fu = Fuser()
    # Two receivers hear the same broadcasts; the second one delivers in reverse order
    # within each batch.
    fu.add(rep[:10], "adsb", 0)
    fu.add(rep[:10][::-1], "adsb", 1)
    fu.release(t[9])
    assert fu.stats.applied == 10
    assert fu.stats.duplicate == 10
    # A straggler older than what has been released: late, never applied.
    fu.add(rep[5:6], "adsb", 1)
    assert fu.stats.late == 1
    fu.add(rep[10:], "adsb", 0)
    fu.release(t[-1])
    assert fu.stats.applied == 20
    assert accounted(fu.stats, fu.pending) == fu.stats.received == 31
    assert fu.stats.tracks_created == 1


def test_primary_radar_joins_the_adsb_track_and_crossing_aircraft_do_not_swap() -> None:
    """Two aircraft with ADS-B cross paths 18 s apart, passing within 3 km (a primary
    radar tracks both, without identity): each radar track is bound to its own aircraft
    and stays so through the crossing; no extra system track appears."""
    rng = np.random.default_rng(3)
    a = Flight(50.0, 7.9, 220.0, 0.0)  # eastbound
    b = Flight(49.9, 8.0, 0.0, 220.0)  # northbound; paths cross at (50.0, 8.0)
    t_adsb = T0 + np.arange(0.0, 120.0, 1.0)
    t_rad = T0 + np.arange(0.3, 120.0, 4.0)
    feeds = [
        (reports(a, t_adsb, icao=0xA, rng=rng), "adsb", 0),
        (reports(b, t_adsb + 0.5, icao=0xB, rng=rng), "adsb", 0),
        (reports(a, t_rad, track=17, sigma_h=150.0, sigma_vel=5.0, rng=rng), "radar", 1),
        (reports(b, t_rad, track=42, sigma_h=150.0, sigma_vel=5.0, rng=rng), "radar", 1),
    ]
    fu = Fuser()
    run(fu, feeds, T0 + 120.0)
    tr = fu.tracks
    assert len(tr) == 2
    row_a = int(tr.by_icao.find(np.array([0xA]))[0])
    row_b = int(tr.by_icao.find(np.array([0xB]))[0])
    keys = ((np.array([1, 1]) + 1) << 32) | np.array([17, 42])
    assert tr.by_sensor.find(keys).tolist() == [row_a, row_b]
    assert fu.stats.identity_rejected == fu.stats.integrity_rejected == 0
    # Both sensors may start a track in the same release; the anonymous one is merged.
    assert fu.stats.tracks_created - fu.stats.tracks_merged == 2
    assert error_m(fu, a, T0 + 120.0, int(tr.id[row_a])) < 40.0
    assert error_m(fu, b, T0 + 120.0, int(tr.id[row_b])) < 40.0


def test_mode_s_track_number_follows_its_aircraft() -> None:
    rng = np.random.default_rng(4)
    f = Flight(45.0, 10.0, -150.0, 100.0)
    t = T0 + np.arange(0.0, 40.0, 4.0)
    with_id = reports(f, t[:5], icao=0x123456, track=7, sigma_h=100.0, rng=rng)
    without = reports(f, t[5:], track=7, sigma_h=100.0, rng=rng)  # address lost
    fu = Fuser()
    run(fu, [(with_id, "radar", 3), (without, "radar", 3)], t[-1])
    assert len(fu.tracks) == 1
    assert fu.stats.applied == 10
    assert error_m(fu, f, t[-1], 1) < 100.0


def test_primary_only_aircraft_gets_its_own_track_and_is_deleted_after_coasting() -> None:
    rng = np.random.default_rng(5)
    f = Flight(40.0, -3.0, 180.0, 180.0)
    t = T0 + np.arange(0.0, 48.0, 4.0)
    fu = Fuser()
    run(fu, [(reports(f, t, track=5, sigma_h=150.0, sigma_vel=5.0, rng=rng), "radar", 2)], t[-1])
    pic = fu.picture(t[-1])
    assert pic.id.tolist() == [1]
    assert fu.tracks.icao[pic.rows[0]] == -1
    assert error_m(fu, f, t[-1], 1) < 150.0
    assert fu.expire(t[-1] + 19.0, 20.0).size == 0
    assert fu.expire(t[-1] + 21.0, 20.0).tolist() == [1]
    assert len(fu.tracks) == 0
    # The binding went with it: the same radar track number starts a new track.
    later = reports(f, np.array([t[-1] + 30.0]), track=5, sigma_h=150.0)
    fu.add(later, "radar", 2)
    fu.release(t[-1] + 30.0)
    assert fu.tracks.id[fu.tracks.rows()].tolist() == [2]


def test_spoofed_adsb_is_kept_out_while_radar_sees_the_aircraft() -> None:
    """Mode S radar (4 s, 150 m) and ADS-B (1 Hz, 30 m) on one aircraft; from 60 s to
    120 s its ADS-B positions are 3 km off (a GNSS spoofing zone), with the same claimed
    accuracy. They are rejected and the track flagged; the track stays on the truth;
    afterwards ADS-B is accepted again and the flag clears."""
    rng = np.random.default_rng(6)
    f = Flight(34.5, 33.0, 230.0, -40.0)
    t_a = T0 + np.arange(0.0, 180.0, 1.0)
    t_r = T0 + np.arange(0.2, 180.0, 4.0)
    spoof = (t_a >= T0 + 60.0) & (t_a < T0 + 120.0)
    good = reports(f, t_a[~spoof], icao=0x4B1234, rng=rng)
    bad = reports(f, t_a[spoof], icao=0x4B1234, rng=rng, offset_m=(2000.0, 2236.0))
    radar = reports(f, t_r, icao=0x4B1234, track=9, sigma_h=150.0, sigma_vel=5.0, rng=rng)
    feeds = [(good, "adsb", 0), (bad, "adsb", 0), (radar, "radar", 1)]
    fu = Fuser()
    flags_during = []
    for sec in np.arange(T0, T0 + 181.0, 1.0):
        for rep, kind, feeder in feeds:
            fu.add(rep[(rep["t"] > sec - 1.0) & (rep["t"] <= sec)], kind, feeder)
        fu.release(sec - 1.0)
        if T0 + 70.0 <= sec < T0 + 120.0:
            flags_during.append(int(fu.tracks.flags[fu.tracks.rows()[0]]))
            assert error_m(fu, f, sec - 1.0, 1) < 250.0
    fu.release(T0 + 200.0)
    assert len(fu.tracks) == 1
    assert all(fl & FLAG_ADSB_SUSPECT for fl in flags_during)
    assert fu.stats.integrity_rejected >= 55  # nearly all 60 spoofed reports
    assert fu.tracks.flags[fu.tracks.rows()[0]] & FLAG_ADSB_SUSPECT == 0
    assert error_m(fu, f, T0 + 179.0, 1) < 40.0


def test_one_address_in_two_places_is_flagged_not_merged() -> None:
    rng = np.random.default_rng(7)
    f = Flight(52.0, 4.0, 200.0, 0.0)
    far = Flight(52.5, 4.0, -200.0, 0.0)  # 55 km away, same (cloned) address
    t = T0 + np.arange(0.0, 60.0, 1.0)
    fu = Fuser()
    run(fu, [(reports(f, t[:30], icao=0x777, rng=rng), "adsb", 0)], t[29])
    run(fu, [(reports(far, t[30:] - 0.5, icao=0x777, rng=rng), "adsb", 1),
             (reports(f, t[30:], icao=0x777, rng=rng), "adsb", 0)], t[-1])  # fmt: skip
    fu.release(t[-1] + 1.0)
    assert len(fu.tracks) == 1
    row = fu.tracks.rows()[0]
    assert fu.tracks.flags[row] & FLAG_IDENTITY_CONFLICT
    assert fu.stats.identity_rejected == 30
    assert error_m(fu, f, t[-1], 1) < 30.0


def test_anonymous_track_merges_into_the_identified_one_and_only_that() -> None:
    """A primary radar tracks two aircraft for 40 s before ADS-B of the first appears:
    the first's anonymous track is folded into its ADS-B track within a few releases; the
    second, 6 km away on a crossing heading, stays separate."""
    rng = np.random.default_rng(8)
    a = Flight(48.0, 2.0, 200.0, 0.0)
    b = Flight(48.05, 2.0, 150.0, -130.0)
    t_r = T0 + np.arange(0.0, 90.0, 4.0)
    t_a = T0 + np.arange(40.0, 90.0, 1.0)
    feeds = [
        (reports(a, t_r, track=1, sigma_h=150.0, sigma_vel=5.0, rng=rng), "radar", 0),
        (reports(b, t_r, track=2, sigma_h=150.0, sigma_vel=5.0, rng=rng), "radar", 0),
        (reports(a, t_a, icao=0xAA, rng=rng), "adsb", 1),
    ]
    fu = Fuser()
    run(fu, feeds[:2], T0 + 39.0)
    assert len(fu.tracks) == 2
    run(fu, feeds, T0 + 89.0)
    tr = fu.tracks
    assert len(tr) == 2
    assert fu.stats.tracks_merged == 1
    row_a = int(tr.by_icao.find(np.array([0xAA]))[0])
    bound = tr.by_sensor.find(((np.array([0, 0]) + 1) << 32) | np.array([1, 2]))
    assert bound[0] == row_a
    assert bound[1] != row_a and tr.icao[bound[1]] == -1
    merges = fu.take_merges()
    assert len(merges) == 1 and merges[0][1] == tr.id[row_a]
    assert merges[0][0] not in tr.id[tr.rows()].tolist()
    assert fu.take_merges() == []
    assert error_m(fu, a, T0 + 88.0, int(tr.id[row_a])) < 40.0


def test_track_built_on_spoofed_adsb_restarts_on_radar() -> None:
    """An aircraft enters radar cover inside a spoofing zone: for 40 s only its (false,
    3 km off) ADS-B is heard and the track is built on it; then a Mode S radar with the
    same address reports it where it really is. The track restarts on the radar, is
    flagged ADS-B suspect, and stays on the truth while the spoofing goes on."""
    rng = np.random.default_rng(9)
    f = Flight(35.0, 34.0, -200.0, 60.0)
    t_a = T0 + np.arange(0.0, 120.0, 1.0)
    t_r = T0 + np.arange(40.2, 120.0, 4.0)
    spoofed = reports(f, t_a, icao=0x4C0001, rng=rng, offset_m=(3000.0, 0.0))
    radar = reports(f, t_r, icao=0x4C0001, track=3, sigma_h=150.0, sigma_vel=5.0, rng=rng)
    fu = Fuser()
    run(fu, [(spoofed, "adsb", 0), (radar, "radar", 1)], T0 + 119.0)
    assert len(fu.tracks) == 1
    assert fu.stats.tracks_reseeded == 1
    row = fu.tracks.rows()[0]
    assert fu.tracks.flags[row] & FLAG_ADSB_SUSPECT
    assert not fu.tracks.flags[row] & FLAG_IDENTITY_CONFLICT
    assert error_m(fu, f, T0 + 119.0, 1) < 150.0
    assert fu.stats.integrity_rejected > 60


def test_reused_radar_track_number_does_not_drag_the_track() -> None:
    """A primary radar reports aircraft A as track 5 for 40 s, then reuses number 5 for
    aircraft B 30 km away. A's track is not dragged (the report is kept out and the
    binding dropped); B gets a track of its own."""
    rng = np.random.default_rng(10)
    a = Flight(47.0, 11.0, 200.0, 0.0)
    b = Flight(47.27, 11.0, -150.0, 100.0)
    t1 = T0 + np.arange(0.0, 40.0, 4.0)
    t2 = T0 + np.arange(40.0, 80.0, 4.0)
    feeds = [
        (reports(a, t1, track=5, sigma_h=150.0, sigma_vel=5.0, rng=rng), "radar", 0),
        (reports(b, t2, track=5, sigma_h=150.0, sigma_vel=5.0, rng=rng), "radar", 0),
    ]
    fu = Fuser()
    run(fu, feeds, T0 + 79.0)
    assert fu.stats.sensor_tracks_unbound == 1
    ids = fu.tracks.id[fu.tracks.rows()].tolist()
    assert ids == [1, 2]
    # A's track was last updated at 36 s and coasts: at 40 s it is where A is, not dragged
    # 30 km towards B.
    assert error_m(fu, a, T0 + 40.0, 1) < 300.0
    assert error_m(fu, b, T0 + 79.0, 2) < 200.0
