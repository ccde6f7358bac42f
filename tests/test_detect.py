"""The detection cycle: airspace volumes wired in (minima per pair, inhibition,
eligibility), the hold band, the turn hypothesis, the confidence, adjacent flight levels."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from fusion.config import FT, NM, AlertsConfig, ConfigError, ServiceConfig, load_config
from fusion.detect import CycleResult, Detector, arc_displacement, confidence
from fusion.engine import Engine
from fusion.fuser import Picture
from fusion.schema import decode_message, empty_reports, encode_batch
from fusion.volumes import AirspaceVolumes, volumes_from_dict

T0 = 1_764_054_000.0
R_EARTH = 6_371_000.0
LAT0, LON0 = 50.0, 8.6
KT = NM / 3600.0
NONE = np.empty(0, dtype=np.int64)

AIRSPACE = {
    "volume": [
        {"name": "TMA", "kind": "separation", "floor_ft": -2000.0, "ceiling_ft": 10000.0,
         "sep_h_nm": 3.0, "sep_v_ft": 1000.0,
         "polygon_latlon_deg": [[49.7, 8.2], [50.3, 8.2], [50.3, 9.0], [49.7, 9.0]]},
        {"name": "SECTOR", "kind": "separation", "floor_ft": -2000.0, "ceiling_ft": 66000.0,
         "sep_h_nm": 5.0, "sep_v_ft": 1000.0,
         "polygon_latlon_deg": [[48.5, 6.0], [51.5, 6.0], [51.5, 11.0], [48.5, 11.0]]},
        {"name": "TRA", "kind": "inhibition", "floor_ft": 24000.0, "ceiling_ft": 30000.0,
         "polygon_latlon_deg": [[49.7, 8.2], [50.3, 8.2], [50.3, 9.0], [49.7, 9.0]]},
    ],
    "eligibility": {
        "excluded_mode3a_octal": ["7000"],
        "ground": {"max_alt_ft": 1500.0, "max_speed_kt": 50.0},
        "formation": {"max_dist_h_nm": 1.0, "max_dist_v_ft": 500.0, "max_dv_h_kt": 20.0,
                      "max_dv_v_fpm": 500.0},
    },
}  # fmt: skip


def _airspace(formation: bool = True) -> AirspaceVolumes:
    data = {**AIRSPACE, "eligibility": dict(AIRSPACE["eligibility"])}  # type: ignore[arg-type]
    if not formation:
        del data["eligibility"]["formation"]
    return volumes_from_dict(data, "test")


def _ll(e: npt.ArrayLike, n: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Latitude, longitude (deg) of east/north offsets (m) from 50 N 8.6 E."""
    e, n = np.asarray(e, dtype=float), np.asarray(n, dtype=float)
    lat = LAT0 + np.degrees(n / R_EARTH)
    return lat, LON0 + np.degrees(e / (R_EARTH * math.cos(math.radians(LAT0))))


def _picture(t: float, e: list[float], n: list[float], alt_ft: list[float] | float,
             ve: list[float], vn: list[float], vu: list[float] | float = 0.0,
             sigma_h: float = 30.0) -> Picture:  # fmt: skip
    k = len(e)
    lat, lon = _ll(e, n)
    return Picture(
        t, np.arange(k), np.arange(1, k + 1), lat, lon,
        np.broadcast_to(np.asarray(alt_ft, dtype=float) * FT, (k,)).copy(),
        np.asarray(ve, dtype=float), np.asarray(vn, dtype=float),
        np.broadcast_to(np.asarray(vu, dtype=float), (k,)).copy(),
        np.full(k, sigma_h), np.full(k, 10.0),
    )  # fmt: skip


def _detector(airspace: AirspaceVolumes | None = None, **alerts: float) -> Detector:
    cfg = replace(ServiceConfig(), alerts=AlertsConfig(**alerts))  # type: ignore[arg-type]
    return Detector(cfg.si(), airspace)


def _parallel(alt_ft: float | list[float], gap_nm: float = 4.0) -> Picture:
    """Two aircraft flying north side by side, gap_nm apart, at 250 kt."""
    v = 250.0 * KT
    return _picture(T0, [0.0, gap_nm * NM], [0.0, 0.0], alt_ft, [0.0, 0.0], [v, v])


def _raised(c: CycleResult) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b, r in zip(c.key_a, c.key_b, c.raised, strict=True) if r]


def test_terminal_minima_spare_a_pair_that_en_route_minima_alert() -> None:
    det = _detector(_airspace())
    # 4 NM apart at 8,000 ft, inside the 3 NM terminal area: nothing, not even held.
    low = det.cycle(_parallel(8000.0), NONE)
    assert len(low) == 0
    # The same pair at FL200, above the terminal area, in the 5 NM sector: a loss now.
    high = det.cycle(_parallel(20000.0), NONE)
    assert _raised(high) == [(1, 2)]
    assert high.t_in[0] == 0.0 and high.sep_h[0] == 5.0 * NM and high.sep_v[0] == 1000.0 * FT
    assert [high.volume_names[v] for v in (high.volume_a[0], high.volume_b[0])] == [
        "SECTOR",
        "SECTOR",
    ]
    # Without an airspace file the service's 5 NM apply everywhere.
    assert _raised(_detector().cycle(_parallel(8000.0), NONE)) == [(1, 2)]
    # One aircraft in the terminal area, one just above it: the larger minima, 5 NM.
    mixed = det.cycle(_parallel([9800.0, 10300.0]), NONE)
    assert _raised(mixed) == [(1, 2)] and mixed.sep_h[0] == 5.0 * NM
    names = mixed.volume_names
    assert (names[mixed.volume_a[0]], names[mixed.volume_b[0]]) == ("TMA", "SECTOR")


def test_volume_minima_must_exceed_the_altitude_tolerance() -> None:
    data = {"volume": [{**AIRSPACE["volume"][0], "sep_v_ft": 50.0}]}  # type: ignore[index]
    with pytest.raises(ConfigError, match="'TMA': sep_v_ft \\(50\\) must be above"):
        _detector(volumes_from_dict(data, "test"))


def test_converging_pair_is_judged_by_its_own_minima() -> None:
    """Head-on, missing by 4 NM: not a conflict in the terminal area, a predicted one en
    route (the exact window re-run with the pair's minima, not a filter on d_cpa)."""
    v = 250.0 * KT
    for alt, want in ((8000.0, []), (20000.0, [(1, 2)])):
        pic = _picture(T0, [-12000.0, 12000.0], [0.0, 4.0 * NM], alt, [v, -v], [0.0, 0.0])
        c = _detector(_airspace()).cycle(pic, NONE)
        assert _raised(c) == want
        if want:
            assert 0.0 < c.t_in[0] < c.t_cpa[0] and c.d_cpa[0] == pytest.approx(4.0 * NM, rel=1e-3)


def test_inhibited_and_ineligible_tracks_raise_nothing() -> None:
    asp = _airspace()
    # In the inhibition volume (FL240-300 over the terminal area).
    assert len(_detector(asp).cycle(_parallel(26000.0), NONE)) == 0
    # An excluded Mode 3/A code on either track; another code is alerted.
    pic = _parallel(20000.0)
    det = _detector(asp)
    assert len(det.cycle(pic, NONE, mode3a=np.array([0o7000, -1]))) == 0
    assert _raised(det.cycle(pic, NONE, mode3a=np.array([0o7001, 0o2000]))) == [(1, 2)]
    # Ground traffic: low and slow, a few hundred metres apart.
    taxi = _picture(T0, [0.0, 300.0], [0.0, 0.0], 400.0, [0.0, 0.0], [8.0, 8.0])
    assert len(det.cycle(taxi, NONE)) == 0
    assert _raised(_detector().cycle(taxi, NONE)) == [(1, 2)]
    # A formation: half a mile apart at the same velocity, FL200.
    pair = _parallel(20000.0, gap_nm=0.5)
    assert len(_detector(asp).cycle(pair, NONE)) == 0
    assert _raised(_detector(_airspace(formation=False)).cycle(pair, NONE)) == [(1, 2)]


def test_hold_band() -> None:
    """A pair missing by a little more than the minimum is held (keeps an open alert open),
    not raised; beyond the hold margin it is not reported at all."""
    v = 250.0 * KT
    det = _detector(hold_margin_nm=0.5)
    for miss_nm, raised, present in ((4.9, True, True), (5.3, False, True), (5.6, False, False)):
        pic = _picture(T0, [-12000.0, 12000.0], [0.0, miss_nm * NM], 20000.0, [v, -v], [0, 0])
        c = det.cycle(pic, NONE)
        assert len(c) == int(present), miss_nm
        if present:
            assert bool(c.raised[0]) is raised


def test_adjacent_flight_levels_are_never_a_conflict() -> None:
    """Level pairs at adjacent flight levels whose reported altitudes (25 ft steps) read
    975..1000 ft apart, head-on and on top of each other: vertical loss is declared only
    below sep_v - alt_tolerance = 950 ft, and nothing widens the vertical minimum (not the
    hold band); rates under 200 ft/min count as level."""
    v = 250.0 * KT
    for apart_ft in (975.0, 994.0, 1000.0):
        for vu in (0.0, 190.0 * FT / 60.0):
            pic = _picture(
                T0, [-20000.0, 20000.0], [0.0, 0.0], [35000.0, 35000.0 + apart_ft],
                [v, -v], [0.0, 0.0], [vu, -vu],
            )  # fmt: skip
            assert len(_detector().cycle(pic, NONE)) == 0, (apart_ft, vu)
    pic = _picture(T0, [-20000.0, 20000.0], [0.0, 0.0], [35000.0, 35925.0], [v, -v], [0, 0])
    assert _raised(_detector().cycle(pic, NONE)) == [(1, 2)]  # 925 ft: a conflict


def _turn_scenario(det: Detector, turn_deg: float = 90.0) -> tuple[float, CycleResult] | None:
    """Aircraft 1 flies east at 200 m/s and turns left at 3 deg/s through turn_deg; aircraft
    2 flies south at 200 m/s along the line where 1 rolls out heading north (so after a
    90 degree turn they meet head-on, loss of separation at about t = 92 s). Returns the
    first cycle that raises the pair, and its result."""
    v, w = 200.0, math.radians(3.0)
    radius = v / w
    for t in range(0, 120):
        tt = min(float(t), math.radians(turn_deg) / w)
        (dx,), (dy,) = arc_displacement(
            np.array([v]), np.array([0.0]), np.array([w]), np.array([float(t)]), np.array([tt])
        )
        a = w * tt
        pic = _picture(T0 + t, [dx, radius], [dy, radius + 40000.0 - v * t], 10000.0,
                       [v * math.cos(a), 0.0], [v * math.sin(a), -v])  # fmt: skip
        c = det.cycle(pic, NONE)
        if c.raised.any():
            return float(t), c
    return None


def test_turn_into_conflict_is_warned_earlier_than_the_straight_line() -> None:
    straight = _turn_scenario(_detector(turn_max_deg=0.0))
    # The default continues a turn for at most 30 degrees: earlier than the straight line
    # all the same (the arc's 30 degrees, then straight, already point at aircraft 2).
    default = _turn_scenario(_detector())
    assert straight is not None and default is not None
    assert default[0] <= straight[0] - 8.0
    # Allowed the whole 90 degrees of this turn, the arc sees the head-on meeting itself.
    turn = _turn_scenario(_detector(turn_max_deg=90.0))
    assert turn is not None
    t_straight, c_straight = straight
    t_turn, c_turn = turn
    assert not c_straight.turn[0] and c_turn.turn[0]
    # Seen as soon as the turn rate is measured (turn_window_s of headings), well before
    # the straight line sees it.
    assert t_turn <= 6.0 and t_straight - t_turn >= 10.0
    # The arc's prediction of the loss of separation is about right (truth: t ~ 92 s).
    assert t_turn + c_turn.t_in[0] == pytest.approx(92.0, abs=6.0)


def test_straight_tracks_with_heading_noise_are_not_turning() -> None:
    """Velocity noise of a fused track (a few tenths of a degree of heading) stays far
    below the turn threshold: no turn rate, no arc."""
    rng = np.random.default_rng(5)
    det = _detector()
    n = 50
    e0 = rng.uniform(-50000.0, 50000.0, n)
    n0 = rng.uniform(-50000.0, 50000.0, n)
    hdg = rng.uniform(0.0, 2.0 * math.pi, n)
    for t in range(20):
        h = hdg + rng.normal(0.0, math.radians(0.3), n)
        pic = _picture(T0 + t, list(e0 + 150 * t * np.cos(hdg)), list(n0 + 150 * t * np.sin(hdg)),
                       30000.0, list(150 * np.cos(h)), list(150 * np.sin(h)))  # fmt: skip
        assert not det.turn_rates(pic).any()


def test_turn_rates_are_measured_over_the_window() -> None:
    det = _detector(turn_window_s=5.0, turn_rate_min_dps=1.0)
    v, w = 150.0, math.radians(2.0)
    rates = []
    for t in range(8):
        a = w * t
        pic = _picture(T0 + t, [0.0], [0.0], 30000.0, [v * math.cos(a)], [v * math.sin(a)])
        rates.append(float(det.turn_rates(pic)[0]))
    assert rates[:5] == [0.0] * 5  # not yet a window of history
    assert rates[5:] == pytest.approx([w] * 3)


def test_turning_state_has_hysteresis() -> None:
    """Once turning, a track stays turning down to half the threshold rate."""
    det = _detector(turn_window_s=1.0, turn_rate_min_dps=1.0)
    v, heading, out = 150.0, 0.0, []
    for t, rate_dps in enumerate([0.0, 0.8, 1.2, 0.8, 0.6, 0.4, 0.8, 1.1]):
        heading += math.radians(rate_dps)
        pic = _picture(T0 + t, [0.0], [0.0], 30000.0, [v * math.cos(heading)],
                       [v * math.sin(heading)])  # fmt: skip
        out.append(bool(det.turn_rates(pic)[0]))
    assert out == [False, False, True, True, True, False, False, True]


def test_arc_displacement() -> None:
    v, w = 200.0, math.radians(3.0)
    r = v / w
    quarter = (math.pi / 2) / w
    dx, dy = arc_displacement(np.array(v), np.array(0.0), np.array(w), np.array(quarter), np.inf)
    assert (float(dx), float(dy)) == pytest.approx((r, r))
    # The turn stops after t_max: straight on, heading north.
    dx, dy = arc_displacement(
        np.array(v), np.array(0.0), np.array(w), np.array(quarter + 10.0), np.array(quarter)
    )
    assert (float(dx), float(dy)) == pytest.approx((r, r + 10.0 * v))
    dx, dy = arc_displacement(np.array(3.0), np.array(4.0), np.array(0.0), np.array(2.0), np.inf)
    assert (float(dx), float(dy)) == (6.0, 8.0)


def test_confidence() -> None:
    d = 5.0 * NM
    p = confidence(
        np.array([0.0, d, 2.0 * d, 0.0, 0.9 * d]), np.array([60.0] * 5), np.full(5, d),
        np.array([50.0**2] * 4 + [1000.0**2]), np.array([0.5**2] * 4 + [5.0**2]),
    )  # fmt: skip
    assert p[0] == pytest.approx(1.0) and p[1] == pytest.approx(0.5) and p[2] < 1e-9
    assert 0.5 < p[4] < 0.9  # 0.9 of the minimum with a poor track: far from certain


def _head_on_batches(alt_ft: float, miss_nm: float, n: int = 12) -> list[bytes]:
    """Head-on pair 40 km apart, passing miss_nm apart, ADS-B once a second."""
    out = []
    v = 200.0
    for k in range(n):
        r = empty_reports(2)
        r["t"] = T0 + k
        r["icao"] = [0xAAAAAA, 0xBBBBBB]
        lat, lon = _ll([-20000.0 + v * k, 20000.0 - v * k], [0.0, miss_nm * NM])
        r["lat_deg"], r["lon_deg"] = lat, lon
        r["alt_baro_ft"] = alt_ft
        r["ve_ms"] = [v, -v]
        r["vn_ms"] = 0.0
        r["vu_ms"] = 0.0
        out.append(encode_batch("adsb-1", "adsb", r))
    return out


def test_engine_reads_the_airspace_file_named_in_the_config(tmp_path: Path) -> None:
    (tmp_path / "vol").mkdir()
    text = "\n".join(
        ["[[volume]]", 'name = "TMA"', 'kind = "separation"', "floor_ft = -2000.0",
         "ceiling_ft = 10000.0", "sep_h_nm = 3.0", "sep_v_ft = 1000.0",
         "polygon_latlon_deg = [[49.7, 8.2], [50.3, 8.2], [50.3, 9.0], [49.7, 9.0]]", ""]
    )  # fmt: skip
    (tmp_path / "vol" / "air.toml").write_text(text)
    conf = tmp_path / "service.toml"
    conf.write_text('airspace = "vol/air.toml"\n[alerts]\nconfirm_cycles = 1\n')
    cfg = load_config(conf)  # the path is relative to the configuration file
    assert cfg.airspace == str(tmp_path / "vol" / "air.toml")

    def alerts(alt_ft: float, miss_nm: float) -> list[tuple[str, float, str | None]]:
        eng = Engine(cfg)
        evs = []
        for p in _head_on_batches(alt_ft, miss_nm):
            evs += eng.ingest(decode_message(p, "adsb-1"))
        return [(e.event, e.sep_h_nm, e.volume_a) for e in evs]

    assert alerts(8000.0, 4.0) == []  # the terminal area's 3 NM
    assert alerts(8000.0, 2.0) == [("new", 3.0, "TMA")]
    assert alerts(20000.0, 4.0) == [("new", 5.0, None)]  # above it: the service's 5 NM
