"""Simulator: the truth it records holds when checked independently, and its messages are
valid, complete, plausible and reproducible.

Geometry here is plain NumPy written for the tests (not kernels.geo), so a fault in the
simulator's own conversions shows up as a disagreement.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from fusion.schema import DecodedMessage, decode_message
from fusion.sim import (
    DEFAULT_SENSORS,
    ScenarioConfig,
    SimMessage,
    build_messages,
    build_scenario,
    positions,
    write_truth,
)
from fusion.sim.scenario import CONFLICT_KINDS, Scenario
from fusion.sim.sensors import RadarConfig, radar_site

F64 = npt.NDArray[np.float64]
T0 = 1_700_000_000.0
CFG = ScenarioConfig(t0=T0)
NM = 1852.0
FT = 0.3048
SEP_H = CFG.sep_h_nm * NM
SEP_V = CFG.sep_v_ft * FT

_A = 6378137.0
_F = 1.0 / 298.257223563
_E2 = _F * (2.0 - _F)


def ecef(lat_deg: F64, lon_deg: F64, h: F64 | float = 0.0) -> F64:
    """WGS-84 geodetic -> ECEF, [..., 3]."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    n = _A / np.sqrt(1.0 - _E2 * np.sin(lat) ** 2)
    return np.stack(
        [
            (n + h) * np.cos(lat) * np.cos(lon),
            (n + h) * np.cos(lat) * np.sin(lon),
            (n * (1.0 - _E2) + h) * np.sin(lat),
        ],
        axis=-1,
    )


def enu_axes(lat_deg: F64 | float, lon_deg: F64 | float) -> F64:
    """Rows east, north, up in ECEF: [..., 3, 3]."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    return np.stack(
        [
            np.stack([-so, co, np.zeros_like(so)], axis=-1),
            np.stack([-sl * co, -sl * so, cl], axis=-1),
            np.stack([cl * co, cl * so, sl], axis=-1),
        ],
        axis=-2,
    )


def separation(sc: Scenario, i: int, j: int, t: F64) -> tuple[F64, F64]:
    """Sea-level chord (m) and |dz| (m) between aircraft i and j at absolute times t."""
    lat, lon, alt, *_ = positions(sc, t, np.array([[i], [j]]))
    xyz = ecef(lat, lon)
    return np.linalg.norm(xyz[0] - xyz[1], axis=-1), np.abs(alt[0] - alt[1])


def los(dh: F64, dz: F64) -> npt.NDArray[np.bool_]:
    # Exactly 1000 ft is separated; 1 um absorbs the ft -> m rounding.
    return (dh < SEP_H) & (dz < SEP_V - 1e-6)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return build_scenario(CFG)


@pytest.fixture(scope="module")
def messages(scenario: Scenario) -> list[SimMessage]:
    return build_messages(scenario)


@pytest.fixture(scope="module")
def decoded(messages: list[SimMessage]) -> list[DecodedMessage]:
    return [decode_message(m.payload, m.feeder) for m in messages]


def reports_of(
    messages: list[SimMessage], decoded: list[DecodedMessage], feeder: str
) -> npt.NDArray[np.void]:
    return np.concatenate(
        [d.reports for m, d in zip(messages, decoded, strict=True) if m.feeder == feeder]
    )


# --- truth ---------------------------------------------------------------------------------


def test_default_scenario_shape(scenario: Scenario) -> None:
    n_pairs = CFG.n_conflicts + CFG.n_safe_miss + CFG.n_safe_level
    assert scenario.n_aircraft == 2 * n_pairs + CFG.n_background
    assert len(scenario.conflicts) == CFG.n_conflicts
    assert [c.kind for c in scenario.conflicts] == list(CONFLICT_KINDS)
    assert sorted(s.kind for s in scenario.safe_pairs) == ["1000ft_level"] * 2 + ["6nm_miss"] * 2
    assert scenario.role.count("background") == CFG.n_background
    background = np.array([r == "background" for r in scenario.role])
    assert scenario.adsb[~background].all()  # planted aircraft are always equipped
    assert 0.75 < scenario.adsb[background].mean() < 0.95


def test_conflicts_lose_separation_at_recorded_t_los(scenario: Scenario) -> None:
    for k, c in enumerate(scenario.conflicts):
        i, j = scenario.index_of(c.a), scenario.index_of(c.b)
        assert c.a < c.b
        planned = T0 + CFG.first_los_s + k * CFG.los_spacing_s
        assert abs(c.t_los - planned) < 1.0, c
        before = np.r_[np.arange(T0, c.t_los - 0.01, 0.1), c.t_los - 0.01]
        assert not los(*separation(scenario, i, j, before)).any(), f"{c.kind} lost separation early"
        after = c.t_los + np.r_[0.0, 0.01, np.arange(0.1, 1.0, 0.1)]
        assert los(*separation(scenario, i, j, after)).all(), f"{c.kind} not in LoS at t_los"
        # The recorded CPA is the horizontal minimum, and lies inside the scenario.
        assert c.t_los < c.t_cpa < T0 + CFG.duration_s
        grid = np.arange(T0, T0 + CFG.duration_s, 0.1)
        dh, _ = separation(scenario, i, j, grid)
        assert abs(dh.min() - c.d_cpa_m) < 1.0
        dh_cpa, dz_cpa = separation(scenario, i, j, np.array([c.t_cpa]))
        assert abs(dh_cpa[0] - c.d_cpa_m) < 0.01
        assert abs(dz_cpa[0] / FT - c.dz_cpa_ft) < 0.01


def test_conflict_geometry_matches_kind(scenario: Scenario) -> None:
    miss_nm = {"head_on": (0.0, 0.2), "crossing_90": (0.8, 1.2), "converging_45": (2.7, 3.3)}
    for c in scenario.conflicts:
        i, j = scenario.index_of(c.a), scenario.index_of(c.b)
        t = np.linspace(T0, T0 + CFG.duration_s, 601)
        _, _, alt, ve, vn, vu = positions(scenario, t, np.array([[i], [j]]))
        if c.kind in miss_nm:
            lo, hi = miss_nm[c.kind]
            assert lo * NM <= c.d_cpa_m <= hi * NM, c
        if c.kind in ("climb_through", "descend_onto"):
            moving = np.abs(vu).max(axis=1) > 0
            assert moving.sum() == 1, c  # one level, one climbing or descending
            sign = np.sign(vu[moving].sum())
            assert sign == (1 if c.kind == "climb_through" else -1)
            assert np.abs(alt[0, 0] - alt[1, 0]) >= SEP_V  # starts vertically separated
        else:
            assert not vu.any() and alt[0, 0] == alt[1, 0]  # same level throughout
            alt_ft = alt[:, 0] / FT
            assert np.allclose(alt_ft, np.round(alt_ft, -3)) and 10_000 <= alt_ft[0] <= 39_000
        speed = np.hypot(ve, vn)
        assert ((speed > 105.0) & (speed < 255.0)).all()
        if c.kind == "head_on":
            cos = (ve[0] * ve[1] + vn[0] * vn[1]) / (speed[0] * speed[1])
            assert (cos < -0.999).all()


def test_safe_pairs_keep_separation_as_stated(scenario: Scenario) -> None:
    grid = np.arange(T0, T0 + CFG.duration_s + 0.05, 0.1)
    for s in scenario.safe_pairs:
        i, j = scenario.index_of(s.a), scenario.index_of(s.b)
        dh, dz = separation(scenario, i, j, grid)
        *_, vu = positions(scenario, grid, np.array([[i], [j]]))
        assert not los(dh, dz).any(), s
        assert not vu.any(), s  # both level
        assert -0.01 <= dh.min() - s.d_min_m < 20.0  # the recorded minimum is refined
        if s.kind == "6nm_miss":
            assert 6 * NM - 50.0 <= dh.min() <= 6 * NM + 50.0
            assert (dz == 0.0).all() and s.dz_min_ft == 0.0
        else:
            assert np.abs(dz / FT - 1000.0).max() < 1e-6 and s.dz_min_ft == 1000.0
            assert dh.min() < 100.0  # right over each other


def test_no_other_pair_comes_close(scenario: Scenario) -> None:
    """No pair but the planted conflicts loses separation; no pair outside the planted
    pairs even comes within the 7 NM / 1500 ft background clearance (sampling margin)."""
    t = np.arange(T0, T0 + CFG.duration_s + 0.25, 0.5)
    lat, lon, alt, *_ = positions(scenario, t)
    xyz = ecef(lat, lon)
    n = scenario.n_aircraft
    conflict = {
        tuple(sorted((scenario.index_of(c.a), scenario.index_of(c.b)))) for c in scenario.conflicts
    }
    planted = conflict | {
        tuple(sorted((scenario.index_of(s.a), scenario.index_of(s.b)))) for s in scenario.safe_pairs
    }
    lost: set[tuple[int, int]] = set()
    for i in range(n - 1):
        dh = np.linalg.norm(xyz[i + 1 :] - xyz[i], axis=-1)
        dz = np.abs(alt[i + 1 :] - alt[i])
        for j in np.flatnonzero(los(dh, dz).any(axis=1)) + i + 1:
            lost.add((i, int(j)))
        near = ((dh < 6.9 * NM) & (dz < 1490 * FT)).any(axis=1)
        for j in np.flatnonzero(near) + i + 1:
            assert (i, int(j)) in planted, (scenario.role[i], scenario.role[j])
    assert lost == conflict


def test_velocity_is_in_the_current_local_frame(scenario: Scenario) -> None:
    t = T0 + np.array([30.0, 290.0, 570.0])
    rows = np.arange(scenario.n_aircraft)[:, None]
    lat, lon, _, ve, vn, _ = positions(scenario, t)
    lat_a, lon_a, *_ = positions(scenario, t - 0.5, rows)
    lat_b, lon_b, *_ = positions(scenario, t + 0.5, rows)
    d = ecef(lat_b, lon_b) - ecef(lat_a, lon_a)  # sea-level displacement over 1 s
    axes = enu_axes(lat, lon)
    d_east = np.einsum("...c,...c->...", d, axes[..., 0, :])
    d_north = np.einsum("...c,...c->...", d, axes[..., 1, :])
    assert np.abs(d_east - ve).max() < 1e-3
    assert np.abs(d_north - vn).max() < 1e-3


def test_truth_json_round_trips(scenario: Scenario, tmp_path: Path) -> None:
    truth = scenario.truth_dict()
    assert json.loads(json.dumps(truth)) == truth
    path = tmp_path / "truth.json"
    write_truth(path, scenario)
    assert json.loads(path.read_text()) == truth
    assert truth["schema"] == "airspace-sim-truth/1"
    assert (truth["seed"], truth["t0"], truth["duration_s"]) == (1, T0, 600.0)
    assert truth["thresholds"] == {"sep_h_nm": 5.0, "sep_v_ft": 1000.0}
    icaos = [a["icao_int"] for a in truth["aircraft"]]
    assert len(set(icaos)) == len(icaos) == scenario.n_aircraft
    m3a = [a["mode3a"] for a in truth["aircraft"]]
    assert len(set(m3a)) == len(m3a)
    for a in truth["aircraft"]:
        assert int(a["icao"], 16) == a["icao_int"] and 0x3C0000 <= a["icao_int"] <= 0x3FFFFF
        assert re.fullmatch(r"[0-7]{4}", a["mode3a"]) and a["mode3a"] not in (
            "7500",
            "7600",
            "7700",
        )
        assert re.fullmatch(r"[A-Z]{3}[1-9][A-Z0-9]{2}", a["callsign"])
        assert a["role"] in ("background", "conflict", "safe")
    by_icao = {a["icao_int"]: a["role"] for a in truth["aircraft"]}
    for c in truth["conflicts"]:
        assert c["a"] < c["b"] and by_icao[c["a"]] == by_icao[c["b"]] == "conflict"
        assert set(c) == {"a", "b", "kind", "t_los", "t_cpa", "d_cpa_m", "dz_cpa_ft"}
    for s in truth["safe_pairs"]:
        assert s["a"] < s["b"] and by_icao[s["a"]] == by_icao[s["b"]] == "safe"
        assert set(s) == {"a", "b", "kind", "d_min_m", "dz_min_ft"}


@pytest.mark.parametrize(
    "cfg",
    [
        replace(CFG, seed=2),
        replace(CFG, seed=3),
        replace(CFG, seed=4, duration_s=240.0, n_conflicts=3),
    ],
    ids=["seed2", "seed3", "short"],
)
def test_other_configs_plant_their_conflicts_on_time(cfg: ScenarioConfig) -> None:
    sc = build_scenario(cfg)
    assert [c.kind for c in sc.conflicts] == list(CONFLICT_KINDS[: cfg.n_conflicts])
    for k, c in enumerate(sc.conflicts):
        i, j = sc.index_of(c.a), sc.index_of(c.b)
        assert abs(c.t_los - (T0 + cfg.first_los_s + k * cfg.los_spacing_s)) < 1.0
        assert los(*separation(sc, i, j, np.array([c.t_los, c.t_los + 0.5]))).all()
        assert not los(*separation(sc, i, j, np.array([c.t_los - 0.01, T0]))).any()
        assert c.t_cpa > c.t_los
        near = c.t_cpa + np.array([-1.0, 0.0, 1.0])
        dh, _ = separation(sc, i, j, near)
        assert dh[1] <= dh.min() + 1e-6 and abs(dh[1] - c.d_cpa_m) < 0.01


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="t0"):
        build_scenario(ScenarioConfig())
    with pytest.raises(ValueError, match="planted"):
        build_scenario(replace(CFG, n_conflicts=20))
    with pytest.raises(ValueError, match="background"):
        build_scenario(replace(CFG, n_background=60, radius_km=15.0))


# --- messages ------------------------------------------------------------------------------


def test_messages_decode_cleanly_and_in_order(
    scenario: Scenario, messages: list[SimMessage], decoded: list[DecodedMessage]
) -> None:
    assert {m.feeder for m in messages} == {"adsb-1", "radar-1", "radar-2"}
    keys = [(m.t_pub, m.feeder) for m in messages]
    assert keys == sorted(keys)
    t_end = T0 + CFG.duration_s
    for m, d in zip(messages, decoded, strict=True):
        assert len(d.rejected_rows) == 0, d.reasons[:3]
        assert d.n_total == m.n_reports == len(d.reports) > 0
        assert d.kind == ("adsb" if m.feeder.startswith("adsb") else "radar")
        t = d.reports["t"]
        assert (t >= T0).all() and (t <= t_end).all()
        assert m.t_pub >= t.max()
        assert m.t_pub - t.min() < 1.5  # one second of data per message, plus latency
        assert len(np.unique(d.reports["icao"])) == len(d.reports)  # one report per aircraft


def test_report_identities(
    scenario: Scenario, messages: list[SimMessage], decoded: list[DecodedMessage]
) -> None:
    adsb = reports_of(messages, decoded, "adsb-1")
    equipped = set(scenario.icao[scenario.adsb].tolist())
    assert set(adsb["icao"].tolist()) == equipped
    cs = dict(zip(scenario.icao.tolist(), scenario.callsign, strict=True))
    assert all(
        cs[int(i)] == c.decode() for i, c in zip(adsb["icao"], adsb["callsign"], strict=True)
    )
    assert ((adsb["nacp"] >= 8) & (adsb["nacp"] <= 10)).all() and (adsb["nacv"] == 2).all()
    m3a = dict(zip(scenario.icao.tolist(), scenario.mode3a.tolist(), strict=True))
    for name in ("radar-1", "radar-2"):
        rad = reports_of(messages, decoded, name)
        assert (rad["track"] >= 0).all()
        assert all(m3a[int(i)] == int(c) for i, c in zip(rad["icao"], rad["mode3a"], strict=True))
        pairs = set(zip(rad["icao"].tolist(), rad["track"].tolist(), strict=True))
        assert len(pairs) == len({i for i, _ in pairs}) == len({t for _, t in pairs})  # stable


def test_every_aircraft_reported_at_least_every_12_s(
    scenario: Scenario, messages: list[SimMessage], decoded: list[DecodedMessage]
) -> None:
    times: dict[int, list[float]] = defaultdict(list)
    for d in decoded:
        for icao, t in zip(d.reports["icao"].tolist(), d.reports["t"].tolist(), strict=True):
            times[icao].append(t)
    assert set(times) == set(scenario.icao.tolist())
    for icao, ts in times.items():
        edges = np.r_[T0, np.sort(ts), T0 + CFG.duration_s]
        assert np.diff(edges).max() <= 12.0, f"{icao:06X}"


def _truth_at(scenario: Scenario, rep: npt.NDArray[np.void]) -> tuple[F64, ...]:
    rows = np.array([scenario.index_of(int(i)) for i in rep["icao"]])
    return positions(scenario, rep["t"], rows)


def _within(value: float | np.floating[Any], expected: float, tol: float = 0.3) -> bool:
    """value within tol (relative) of expected."""
    return bool(abs(float(value) / expected - 1.0) < tol)


@pytest.mark.parametrize("radar", DEFAULT_SENSORS.radars, ids=lambda r: r.name)
def test_radar_noise_is_plausible(
    scenario: Scenario,
    messages: list[SimMessage],
    decoded: list[DecodedMessage],
    radar: RadarConfig,
) -> None:
    rep = reports_of(messages, decoded, radar.name)
    lat, lon, alt, ve, vn, vu = _truth_at(scenario, rep)
    site = radar_site(scenario, radar)
    origin = ecef(np.array(site[0]), np.array(site[1]), site[2])
    axes = enu_axes(site[0], site[1])
    true = (ecef(lat, lon, alt) - origin) @ axes.T
    meas = (ecef(rep["lat_deg"], rep["lon_deg"], alt) - origin) @ axes.T
    rho = np.linalg.norm(true, axis=1)
    cos_el = np.hypot(true[:, 0], true[:, 1]) / rho
    ground_t, ground_m = np.hypot(true[:, 0], true[:, 1]), np.hypot(meas[:, 0], meas[:, 1])
    az_t, az_m = np.arctan2(true[:, 0], true[:, 1]), np.arctan2(meas[:, 0], meas[:, 1])
    d_az = (az_m - az_t + np.pi) % (2 * np.pi) - np.pi
    assert _within(np.std((ground_m - ground_t) / (radar.sigma_range_m * cos_el)), 1.0)
    assert _within(np.std(d_az), np.radians(radar.sigma_az_deg))
    # The reported per-axis sigma matches the errors.
    err2 = ((meas[:, :2] - true[:, :2]) ** 2).sum(axis=1)
    assert _within(np.sqrt(np.mean(err2 / (2.0 * rep["sigma_h_m"] ** 2))), 1.0)
    assert _within(np.std(rep["ve_ms"] - ve), radar.sigma_vel_ms)
    assert _within(np.std(rep["vn_ms"] - vn), radar.sigma_vel_ms)
    assert _within(np.std(rep["vu_ms"] - vu), radar.sigma_vu_ms)
    level = vu == 0.0
    assert np.abs(rep["vu_ms"][level]).max() < 6 * radar.sigma_vu_ms  # level does not climb
    assert (rep["alt_baro_ft"] % 25 == 0).all()
    assert _within(np.std(rep["alt_baro_ft"] - alt / FT), rep["sigma_v_m"][0] / FT)
    # Report time is when the beam swept the aircraft: successive reports one turn apart.
    for icao in np.unique(rep["icao"])[:10]:
        gaps = np.diff(np.sort(rep["t"][rep["icao"] == icao]))
        turns = gaps / radar.period_s
        assert np.abs(turns - np.round(turns)).max() < 0.02 and turns.min() > 0.5
    assert len(rep) > 0.9 * radar.p_detect * scenario.n_aircraft * CFG.duration_s / radar.period_s


def test_adsb_noise_is_plausible(
    scenario: Scenario, messages: list[SimMessage], decoded: list[DecodedMessage]
) -> None:
    rep = reports_of(messages, decoded, "adsb-1")
    lat, lon, alt, ve, vn, vu = _truth_at(scenario, rep)
    axes = enu_axes(lat, lon)
    d = ecef(rep["lat_deg"], rep["lon_deg"], alt) - ecef(lat, lon, alt)
    de = np.einsum("nc,nc->n", d, axes[:, 0, :])
    dn = np.einsum("nc,nc->n", d, axes[:, 1, :])
    assert _within(np.sqrt(np.mean((de**2 + dn**2) / (2.0 * rep["sigma_h_m"] ** 2))), 1.0)
    nacp9 = rep["nacp"] == 9
    assert 9.0 < rep["sigma_h_m"][nacp9][0] < 13.0
    assert _within(np.std(rep["ve_ms"] - ve), 0.5) and _within(np.std(rep["vn_ms"] - vn), 0.5)
    fpm = rep["vu_ms"] / FT * 60.0
    assert np.allclose(fpm, np.round(fpm / 64.0) * 64.0)
    assert (rep["vu_ms"][vu == 0.0] == 0.0).all()
    assert (rep["alt_baro_ft"] % 25 == 0).all()
    assert np.abs(rep["alt_baro_ft"] - alt / FT).max() < 60.0
    # About 1 Hz per aircraft, each with its own phase.
    per_ac = np.bincount(np.searchsorted(np.sort(scenario.icao), rep["icao"]))
    assert per_ac[per_ac > 0].min() > 0.9 * CFG.duration_s
    assert len(np.unique(np.round(rep["t"] % 1.0, 3))) > 0.8 * scenario.adsb.sum()


def test_same_seed_same_bytes_other_seed_other_bytes(messages: list[SimMessage]) -> None:
    again = build_messages(build_scenario(CFG))
    assert [(m.t_pub, m.feeder, m.payload) for m in again] == [
        (m.t_pub, m.feeder, m.payload) for m in messages
    ]
    other = build_messages(build_scenario(replace(CFG, seed=2)))
    assert [m.payload for m in other[:50]] != [m.payload for m in messages[:50]]
