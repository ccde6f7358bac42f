"""Simulated sensor models: track numbers that break and renumber, primary radars without
identity, ADS-B receivers with overlapping coverage (duplicates), latency (out-of-order
delivery) and drop-outs, GNSS interference, per-report truth, presets and determinism.

Geometry here is pyproj (WGS-84 geodetic <-> ECEF) and plain NumPy, not kernels.geo, so a
fault in the simulator's own conversions shows up as a disagreement. Statistical bounds
hold for the fixed seeds used; each is several standard deviations wide.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt
import pytest
from pyproj import Transformer

from fusion.cli import build_parser
from fusion.schema import DecodedMessage, decode_message
from fusion.sim import (
    DEFAULT_SENSORS,
    FUSION_SENSORS,
    REPORT_TRUTH_DTYPE,
    SENSOR_PRESETS,
    AdsbNetworkConfig,
    AdsbReceiverConfig,
    InterferenceZone,
    RadarConfig,
    Scenario,
    ScenarioConfig,
    SensorConfig,
    SimMessage,
    TrackerConfig,
    build_messages,
    build_messages_with_truth,
    build_scenario,
    read_report_truth,
    report_truth_path,
    track_segments,
    write_report_truth,
)
from fusion.sim.adsb import broadcast
from fusion.sim.tracker import assign_track_numbers

F64 = npt.NDArray[np.float64]
Rec = npt.NDArray[np.void]
T0 = 1_700_000_000.0
CFG = ScenarioConfig(t0=T0)

_TO_ECEF = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
_TO_GEO = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)


def ecef(lat: Any, lon: Any, h: Any = 0.0) -> F64:
    lat, lon, h = np.broadcast_arrays(np.asarray(lat, float), np.asarray(lon, float), h)
    x, y, z = _TO_ECEF.transform(lon, lat, h)
    return np.stack([x, y, z], axis=-1)


def enu_axes(lat: Any, lon: Any) -> F64:
    """Rows east, north, up in ECEF: [..., 3, 3]."""
    la, lo = np.radians(lat), np.radians(lon)
    sl, cl, so, co = np.sin(la), np.cos(la), np.sin(lo), np.cos(lo)
    return np.stack(
        [
            np.stack([-so, co, np.zeros_like(so)], axis=-1),
            np.stack([-sl * co, -sl * so, cl], axis=-1),
            np.stack([cl * co, cl * so, sl], axis=-1),
        ],
        axis=-2,
    )


def place(east_km: float, north_km: float) -> tuple[float, float]:
    """(lat, lon) of the sea-level foot of a point km east / north of the scenario centre
    in its tangent plane: how the simulator places sites and zones."""
    c = ecef(CFG.centre_lat_deg, CFG.centre_lon_deg)
    ax = enu_axes(CFG.centre_lat_deg, CFG.centre_lon_deg)
    p = c + east_km * 1000.0 * ax[0] + north_km * 1000.0 * ax[1]
    lon, lat, _ = _TO_GEO.transform(p[0], p[1], p[2])
    return float(lat), float(lon)


def horizontal_error(rep: Rec, lat: F64, lon: F64, alt: F64) -> tuple[F64, F64]:
    """Reported minus given positions, metres east and north at the given points, both at
    altitude alt."""
    d = ecef(rep["lat_deg"], rep["lon_deg"], alt) - ecef(lat, lon, alt)
    ax = enu_axes(lat, lon)
    return np.einsum("nc,nc->n", d, ax[:, 0, :]), np.einsum("nc,nc->n", d, ax[:, 1, :])


def decode_all(messages: list[SimMessage]) -> list[DecodedMessage]:
    return [decode_message(m.payload, m.feeder) for m in messages]


def all_reports(decoded: list[DecodedMessage]) -> Rec:
    return np.concatenate([d.reports for d in decoded])


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return build_scenario(CFG)


@pytest.fixture(scope="module")
def fusion_run(scenario: Scenario) -> tuple[list[SimMessage], Rec, Rec]:
    """The fusion preset over the default scenario: messages, report truth, and the
    decoded reports in the same order."""
    messages, truth = build_messages_with_truth(scenario, FUSION_SENSORS)
    return messages, truth, all_reports(decode_all(messages))


# --- the default preset is unchanged -------------------------------------------------------

# A small scenario; golden values recorded from the simulator before the sensor models were
# added (commit f119709), to guard that the default preset's messages stay as they were.
GOLDEN_CFG = ScenarioConfig(
    t0=T0, duration_s=120.0, n_background=8, n_conflicts=1, n_safe_miss=1, n_safe_level=1
)
GOLDEN_N_MESSAGES = 296
GOLDEN_BYTES_SHA256 = "b525a1fd4daed21372b8aaae832fe8fbc85596b8d57195e990b331d043d4affe"
GOLDEN_ROUNDED_SHA256 = "ec36cece92cf2a87da4ebeb920e79f532cfe2fca70a2491bc065092d83d35d45"
_DECIMALS = {"t": 6, "lat_deg": 9, "lon_deg": 9}


def _bytes_hash(messages: list[SimMessage]) -> str:
    h = hashlib.sha256()
    for m in messages:
        h.update(repr((m.t_pub, m.feeder, m.n_reports)).encode())
        h.update(m.payload)
    return h.hexdigest()


def _rounded_hash(messages: list[SimMessage]) -> str:
    """The decoded messages with floats rounded (t to 1 us, lat/lon to 1e-9 deg, others to
    1e-4): blind to last-bit differences between libm implementations."""
    h = hashlib.sha256()
    for m in messages:
        h.update(repr((round(m.t_pub, 6), m.feeder, m.n_reports)).encode())
        rep = decode_message(m.payload, m.feeder).reports
        for name in rep.dtype.names or ():
            col = rep[name]
            if col.dtype.kind == "f":
                col = np.round(col, _DECIMALS.get(name, 4)) + 0.0
            h.update(name.encode())
            h.update(np.ascontiguousarray(col).tobytes())
    return h.hexdigest()


def _numpy_uses_svml() -> bool:
    """NumPy dispatches float64 transcendentals to SVML on AVX-512 machines, whose last
    bits differ from libm's: exact bytes are only comparable without it."""
    core = getattr(np, "_core", None)
    umath = getattr(core, "_multiarray_umath", None)
    features: dict[str, bool] = getattr(umath, "__cpu_features__", {})
    return bool(features.get("AVX512_SKX", False))


def test_default_preset_messages_unchanged() -> None:
    messages = build_messages(build_scenario(GOLDEN_CFG))
    assert len(messages) == GOLDEN_N_MESSAGES
    assert _rounded_hash(messages) == GOLDEN_ROUNDED_SHA256
    assert SENSOR_PRESETS["default"] is DEFAULT_SENSORS
    assert build_messages(build_scenario(GOLDEN_CFG), DEFAULT_SENSORS) == messages


@pytest.mark.skipif(
    _numpy_uses_svml(),
    reason="exact golden bytes were recorded with libm; NumPy's AVX-512 (SVML) sin/cos differ "
    "in the last bits there. test_default_preset_messages_unchanged still checks a hash of "
    "the decoded values, rounded, on every machine",
)
def test_default_preset_bytes_unchanged() -> None:
    assert _bytes_hash(build_messages(build_scenario(GOLDEN_CFG))) == GOLDEN_BYTES_SHA256


# --- every message valid, truth aligned, deterministic -------------------------------------


def test_fusion_messages_decode_and_match_their_truth(
    scenario: Scenario, fusion_run: tuple[list[SimMessage], Rec, Rec]
) -> None:
    messages, truth, reports = fusion_run
    assert truth.dtype == REPORT_TRUTH_DTYPE
    feeders = {m.feeder for m in messages}
    assert feeders == set(FUSION_SENSORS.feeders())
    keys = [(m.t_pub, m.feeder) for m in messages]
    assert keys == sorted(keys)
    for k, (m, d) in enumerate(zip(messages, decode_all(messages), strict=True)):
        assert len(d.rejected_rows) == 0, d.reasons[:3]
        assert d.n_total == m.n_reports == len(d.reports) > 0
        assert d.kind == ("adsb" if m.feeder.startswith("adsb") else "radar")
        rows = truth[truth["msg"] == k]
        assert (rows["row"] == np.arange(m.n_reports)).all()
        assert (rows["feeder"] == m.feeder.encode()).all() and (rows["t_pub"] == m.t_pub).all()
        assert m.t_pub >= d.reports["t"].max()
    assert len(truth) == len(reports)
    assert (truth["t"] == reports["t"]).all() and (truth["track"] == reports["track"]).all()
    has_icao = reports["icao"] >= 0
    assert (reports["icao"][has_icao] == truth["icao"][has_icao]).all()
    assert (scenario.icao[truth["aircraft"]] == truth["icao"]).all()
    assert ((reports["t"] >= T0) & (reports["t"] <= T0 + CFG.duration_s)).all()


def test_same_seed_same_bytes_other_seed_other_bytes(
    fusion_run: tuple[list[SimMessage], Rec, Rec],
) -> None:
    messages, truth, _ = fusion_run
    again, truth2 = build_messages_with_truth(build_scenario(CFG), FUSION_SENSORS)
    assert again == messages
    assert truth2.tobytes() == truth.tobytes()
    other = build_messages(build_scenario(replace(CFG, seed=2)), FUSION_SENSORS)
    assert [m.payload for m in other[:50]] != [m.payload for m in messages[:50]]


def test_a_sensor_does_not_change_when_another_is_added(scenario: Scenario) -> None:
    one = SensorConfig(adsb=(), radars=FUSION_SENSORS.radars[:1])
    both = SensorConfig(adsb=(), radars=FUSION_SENSORS.radars[:2])
    name = FUSION_SENSORS.radars[0].name
    a = [m for m in build_messages(scenario, one) if m.feeder == name]
    b = [m for m in build_messages(scenario, both) if m.feeder == name]
    assert a == b


def test_report_truth_file_round_trips(
    fusion_run: tuple[list[SimMessage], Rec, Rec], tmp_path: Path
) -> None:
    _, truth, _ = fusion_run
    assert report_truth_path(tmp_path / "sim-truth.json") == tmp_path / "sim-truth.reports.npz"
    path = report_truth_path(tmp_path / "sim-truth.json")
    write_report_truth(path, truth)
    back = read_report_truth(path)
    assert back.dtype == REPORT_TRUTH_DTYPE and back.tobytes() == truth.tobytes()


def test_cli_sensors_option() -> None:
    p = build_parser()
    assert p.parse_args(["simulate"]).sensors == "default"
    assert p.parse_args(["simulate", "--sensors", "fusion"]).sensors == "fusion"
    assert set(SENSOR_PRESETS) == {"default", "fusion"}
    with pytest.raises(SystemExit):
        p.parse_args(["simulate", "--sensors", "nonsense"])


def test_configuration_is_validated(scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="coast_scans"):
        TrackerConfig(coast_scans=0)
    with pytest.raises(ValueError, match="mode"):
        InterferenceZone(mode="drift")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="p_late"):
        AdsbReceiverConfig("x", p_late=1.5)
    twice = SensorConfig(radars=(RadarConfig("adsb-1", period_s=4.0),))
    with pytest.raises(ValueError, match="unique"):
        build_messages(scenario, twice)


# --- radar track numbers -------------------------------------------------------------------


def test_track_numbers_break_after_k_missed_scans() -> None:
    """One aircraft (row 0) hit, hit, miss, miss, hit (held through 2 misses), then 3 misses
    (dropped at the third) and hit, hit (renumbered); row 1 detected throughout."""
    det0 = [1, 1, 0, 0, 1, 0, 0, 0, 1, 1]
    rows = np.r_[np.zeros(10), np.ones(10)].astype(np.int64)
    tau = np.r_[np.arange(10.0), np.arange(10.0) + 0.5]
    det = np.r_[det0, np.ones(10)].astype(bool)
    perm = np.random.default_rng(5).permutation(20)  # input order does not matter
    cfg = TrackerConfig(coast_scans=3, number_pool=3, recycle_after_s=0.5)
    num = np.empty(20, np.int64)
    num[perm] = assign_track_numbers(
        cfg, np.random.default_rng(1), rows[perm], tau[perm], det[perm]
    )
    a = num[:10]
    assert (a[~det[:10]] == -1).all()
    assert a[0] == a[1] == a[4] != a[8] == a[9]
    assert len(set(num[10:].tolist())) == 1 and num[10] not in (a[0], a[8])
    # Pool of 2: the dropped number is free at t = 7 (third miss) + recycle_after_s.
    two = replace(cfg, number_pool=2)
    got = assign_track_numbers(two, np.random.default_rng(1), rows, tau, det)
    assert got[0] == got[8]  # 7 + 0.5 <= 8: recycled
    with pytest.raises(RuntimeError, match="ran out of track numbers"):
        assign_track_numbers(
            replace(two, recycle_after_s=1.5), np.random.default_rng(1), rows, tau, det
        )


def _consecutive(rep: Rec, truth: Rec) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Over consecutive reports of each aircraft: time gaps and whether the track number
    changed."""
    o = np.lexsort((rep["t"], truth["aircraft"]))
    same = truth["aircraft"][o][1:] == truth["aircraft"][o][:-1]
    gap = np.diff(rep["t"][o])[same]
    changed = (np.diff(rep["track"][o]) != 0)[same]
    return gap, changed


def test_radar_tracks_renumber_after_k_misses_and_never_while_held(
    scenario: Scenario,
) -> None:
    radar = RadarConfig(
        "radar-x",
        period_s=5.0,
        max_range_km=120.0,  # aircraft leave and re-enter coverage
        p_detect=0.7,
        tracker=TrackerConfig(coast_scans=2, number_pool=128, recycle_after_s=60.0),
    )
    messages, truth = build_messages_with_truth(scenario, SensorConfig(adsb=(), radars=(radar,)))
    rep = all_reports(decode_all(messages))
    gap, changed = _consecutive(rep, truth)
    turns = gap / radar.period_s
    assert np.abs(turns - np.round(turns)).max() < 0.1
    missed = np.round(turns).astype(int) - 1
    assert (missed >= 2).sum() > 100 and (missed == 1).sum() > 100  # both cases occur
    assert (changed == (missed >= 2)).all()
    # Identity stays: a Mode S radar's numbers never jump between aircraft while held.
    seg = track_segments(truth)
    assert seg["n"].sum() == len(rep)
    # Numbers come back only after recycle_after_s past the drop (>= K scans after the last
    # report), and do come back with this small pool.
    o = np.lexsort((seg["t_first"], seg["track"]))
    s = seg[o]
    again = s["track"][1:] == s["track"][:-1]
    assert again.sum() > 10
    wait = (s["t_first"][1:] - s["t_last"][:-1])[again]
    assert wait.min() >= 60.0 + 2 * radar.period_s * 0.9


def test_random_track_breaks_at_the_configured_rate(scenario: Scenario) -> None:
    p_break = 0.05
    radar = RadarConfig(
        "radar-y", period_s=4.0, p_detect=1.0, tracker=TrackerConfig(p_break=p_break)
    )
    messages, truth = build_messages_with_truth(scenario, SensorConfig(adsb=(), radars=(radar,)))
    gap, changed = _consecutive(all_reports(decode_all(messages)), truth)
    assert np.abs(gap / radar.period_s - 1.0).max() < 0.1  # nothing missed
    assert changed.size > 5000
    assert abs(changed.mean() - p_break) < 0.015


def test_fusion_radars_have_their_periods_and_break_tracks(
    fusion_run: tuple[list[SimMessage], Rec, Rec],
) -> None:
    periods = {r.name: r.period_s for r in FUSION_SENSORS.radars}
    assert 4.0 <= periods["radar-tma"] <= 5.0 and 8.0 <= periods["radar-enr"] <= 12.0
    _, truth, _ = fusion_run
    seg = track_segments(truth)
    for name in periods:
        s = seg[seg["feeder"] == name.encode()]
        assert len(s) > len(np.unique(s["aircraft"]))  # some aircraft renumbered


# --- primary radar ---------------------------------------------------------------------------


def test_primary_radar_carries_no_identity_and_a_noisy_height(
    fusion_run: tuple[list[SimMessage], Rec, Rec],
) -> None:
    messages, truth, reports = fusion_run
    (psr,) = [r for r in FUSION_SENSORS.radars if r.primary]
    for m in messages:
        if m.feeder == psr.name:
            cols = msgpack.unpackb(m.payload)["cols"]
            assert not {"icao", "mode3a", "callsign", "alt_baro_ft", "nacp"} & set(cols)
    sel = truth["feeder"] == psr.name.encode()
    rep, tr = reports[sel], truth[sel]
    assert len(rep) > 1000
    assert (rep["icao"] == -1).all() and (rep["mode3a"] == -1).all()
    assert (rep["callsign"] == b"").all() and np.isnan(rep["alt_baro_ft"]).all()
    assert (rep["track"] >= 0).all()
    dz = (rep["alt_geo_m"] - tr["true_alt_m"]) / rep["sigma_v_m"]
    assert abs(np.std(dz) - 1.0) < 0.2 and abs(np.mean(dz)) < 0.1
    assert np.median(rep["sigma_v_m"]) > 100.0  # elevation noise: hundreds of metres
    de, dn = horizontal_error(rep, tr["true_lat_deg"], tr["true_lon_deg"], tr["true_alt_m"])
    assert abs(np.sqrt(np.mean((de**2 + dn**2) / (2 * rep["sigma_h_m"] ** 2))) - 1.0) < 0.2
    # Mode S radars of the same preset do carry identity.
    for r in FUSION_SENSORS.radars:
        if not r.primary:
            ms = reports[truth["feeder"] == r.name.encode()]
            assert (ms["icao"] >= 0).all() and (ms["mode3a"] >= 0).all()


# --- ADS-B receivers -------------------------------------------------------------------------


def _slant_km(lat: F64, lon: F64, alt: F64, rx: AdsbReceiverConfig) -> F64:
    slat, slon = place(rx.east_km, rx.north_km)
    site = ecef(slat, slon, rx.height_m)
    out: F64 = np.linalg.norm(ecef(lat, lon, alt) - site, axis=-1) / 1000.0
    return out


def _received(truth: Rec, name: str, n_tx: int) -> npt.NDArray[np.int64]:
    """How many times each broadcast reached feeder ``name``."""
    tx = truth["tx"][truth["feeder"] == name.encode()]
    return np.bincount(tx, minlength=n_tx)


def test_overlapping_receivers_deliver_duplicates_at_the_configured_rate(
    scenario: Scenario,
) -> None:
    a = AdsbReceiverConfig("adsb-a", east_km=-30.0, range_km=200.0, p_receive=0.9)
    b = AdsbReceiverConfig("adsb-b", east_km=40.0, north_km=20.0, range_km=100.0, p_receive=0.8)
    net = AdsbNetworkConfig(receivers=(a, b))
    messages, truth = build_messages_with_truth(scenario, SensorConfig((), (), net))
    bc = broadcast(scenario, net.broadcast)
    n = len(bc)
    got_a, got_b = _received(truth, "adsb-a", n), _received(truth, "adsb-b", n)
    in_a = _slant_km(bc.lat_deg, bc.lon_deg, bc.alt_m, a) <= a.range_km
    in_b = _slant_km(bc.lat_deg, bc.lon_deg, bc.alt_m, b) <= b.range_km
    assert (got_a[~in_a] == 0).all() and (got_b[~in_b] == 0).all()  # coverage
    assert got_a.max() == 1 and got_b.max() == 1  # no re-deliveries configured
    both = in_a & in_b
    assert both.sum() > 5000 and (in_a & ~in_b).sum() > 5000
    assert abs(got_a[in_a].mean() - 0.9) < 0.01 and abs(got_b[in_b].mean() - 0.8) < 0.015
    dup = (got_a > 0) & (got_b > 0)
    assert abs(dup[both].mean() - 0.9 * 0.8) < 0.02
    # A duplicate is the same broadcast: the same time, position and everything else.
    reports = all_reports(decode_all(messages))
    for name in ("adsb-a", "adsb-b"):
        sel = truth["feeder"] == name.encode()
        same = reports[sel]
        tx = truth["tx"][sel]
        assert (same["t"] == bc.reports["t"][tx]).all()
        assert (same["lat_deg"] == bc.reports["lat_deg"][tx]).all()


def test_dropouts_come_in_bursts(scenario: Scenario) -> None:
    rx = AdsbReceiverConfig(
        "adsb-d", range_km=1000.0, p_receive=1.0, dropout_interval_s=60.0, dropout_mean_s=10.0
    )
    net = AdsbNetworkConfig(receivers=(rx,))
    _, truth = build_messages_with_truth(scenario, SensorConfig((), (), net))
    bc = broadcast(scenario, net.broadcast)
    lost = _received(truth, "adsb-d", len(bc)) == 0
    assert abs(lost.mean() - (1.0 - math.exp(-10.0 / 60.0))) < 0.05
    # Runs of consecutive lost broadcasts of one aircraft: ~10 long, not ~1.2 as with
    # independent losses at this rate.
    o = np.lexsort((bc.reports["t"], bc.aircraft))
    lo, ac = lost[o], bc.aircraft[o]
    starts = lo & ~np.r_[False, lo[:-1] & (ac[1:] == ac[:-1])]
    assert lo.sum() / starts.sum() > 5.0


def test_latency_makes_out_of_order_and_repeated_deliveries(scenario: Scenario) -> None:
    p_late, p_dup = 0.05, 0.02
    rx = AdsbReceiverConfig(
        "adsb-l",
        range_km=1000.0,
        p_receive=1.0,
        latency_s=0.2,
        latency_jitter_s=0.1,
        p_late=p_late,
        late_min_s=2.5,
        late_max_s=4.0,
        p_duplicate=p_dup,
    )
    net = AdsbNetworkConfig(receivers=(rx,))
    _, truth = build_messages_with_truth(scenario, SensorConfig((), (), net))
    assert (truth["t_pub"] >= truth["t"] + rx.latency_s).all()
    first = np.unique(truth["tx"], return_index=True)[1]
    assert abs((len(truth) - first.size) / first.size - p_dup) < 0.005
    # Out of order: a report published after a newer report of the same aircraft.
    o = np.lexsort((-truth["t"], truth["aircraft"]))  # per aircraft, newest first
    tp, ac = truth["t_pub"][o], truth["aircraft"][o]
    newer_min = np.full(tp.size, np.inf)  # earliest t_pub among the newer reports
    for a in np.unique(ac):
        idx = np.flatnonzero(ac == a)
        newer_min[idx[1:]] = np.minimum.accumulate(tp[idx])[:-1]
    original = np.zeros(len(truth), bool)
    original[first] = True  # not the re-delivered copies
    ooo = (tp > newer_min)[original[o]]
    assert 0.85 * p_late < ooo.mean() < 1.15 * p_late + 0.002


# --- GNSS interference -----------------------------------------------------------------------


def _inside(truth: Rec, z: InterferenceZone) -> npt.NDArray[np.bool_]:
    clat, clon = place(z.east_km, z.north_km)
    d = np.linalg.norm(
        ecef(truth["true_lat_deg"], truth["true_lon_deg"]) - ecef(clat, clon), axis=1
    )
    tau = truth["t"] - T0
    out: npt.NDArray[np.bool_] = (d <= z.radius_km * 1000.0) & (tau >= z.start_s) & (tau < z.end_s)
    return out


def test_interference_falsifies_exactly_the_adsb_reports_in_the_zone(
    fusion_run: tuple[list[SimMessage], Rec, Rec],
) -> None:
    _, truth, reports = fusion_run
    adsb = np.char.startswith(truth["feeder"], b"adsb")
    spoof, jam = FUSION_SENSORS.interference
    assert spoof.mode == "offset" and spoof.nacp is None and jam.mode == "jump" and jam.nacp == 0
    in_spoof, in_jam = _inside(truth, spoof) & adsb, _inside(truth, jam) & adsb
    assert in_spoof.sum() > 1000 and in_jam.sum() > 1000
    assert (truth["falsified"] == (in_spoof | in_jam)).all()
    assert (truth["zone"][in_spoof] == 0).all() and (truth["zone"][in_jam] == 1).all()

    # Offset zone: shifted by offset_km towards bearing_deg, NACp and its noise kept.
    rep, tr = reports[in_spoof], truth[in_spoof]
    de, dn = horizontal_error(rep, tr["true_lat_deg"], tr["true_lon_deg"], tr["true_alt_m"])
    b = math.radians(spoof.bearing_deg)
    ex, ny = de - spoof.offset_km * 1000 * math.sin(b), dn - spoof.offset_km * 1000 * math.cos(b)
    assert (rep["nacp"] >= 8).all() and np.isfinite(rep["sigma_h_m"]).all()
    assert abs(np.sqrt(np.mean((ex**2 + ny**2) / (2 * rep["sigma_h_m"] ** 2))) - 1.0) < 0.2

    # Jump zone: at the false position, NACp 0 and no sigma_h.
    rep, tr = reports[in_jam], truth[in_jam]
    jlat, jlon = place(jam.jump_east_km, jam.jump_north_km)
    n = len(rep)
    de, dn = horizontal_error(rep, np.full(n, jlat), np.full(n, jlon), tr["true_alt_m"])
    assert np.hypot(de, dn).max() < 6 * 92.6 / 2.448  # within the noise of NACp 8 or better
    assert (rep["nacp"] == 0).all() and np.isnan(rep["sigma_h_m"]).all()

    # Elsewhere ADS-B is within its noise of truth.
    ok = adsb & ~truth["falsified"]
    rep, tr = reports[ok], truth[ok]
    de, dn = horizontal_error(rep, tr["true_lat_deg"], tr["true_lon_deg"], tr["true_alt_m"])
    assert abs(np.sqrt(np.mean((de**2 + dn**2) / (2 * rep["sigma_h_m"] ** 2))) - 1.0) < 0.2


def test_radar_stays_true_inside_the_interference_zones(
    fusion_run: tuple[list[SimMessage], Rec, Rec],
) -> None:
    _, truth, reports = fusion_run
    radar = np.char.startswith(truth["feeder"], b"radar")
    zones = FUSION_SENSORS.interference
    spoofed = np.unique(truth["aircraft"][truth["falsified"]])
    inside = radar & np.isin(truth["aircraft"], spoofed)
    inside &= _inside(truth, zones[0]) | _inside(truth, zones[1])
    assert inside.sum() > 300
    rep, tr = reports[inside], truth[inside]
    de, dn = horizontal_error(rep, tr["true_lat_deg"], tr["true_lon_deg"], tr["true_alt_m"])
    r = np.hypot(de, dn) / rep["sigma_h_m"]
    assert r.max() < 6.0 and abs(np.sqrt(np.mean(r**2 / 2)) - 1.0) < 0.25
    assert not truth["falsified"][radar].any()
