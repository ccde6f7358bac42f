"""The screening benchmark: traffic generator properties, the NumPy N x N baseline against
the Numba brute force, and a tiny end-to-end run of ``python -m bench cpa --quick``."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.baselines import numpy_all_pairs
from bench.cpa import D_M, GIB, H_M, T_S, _estimate_skip, format_table
from bench.traffic import (
    EARTH_RADIUS_KM,
    FT,
    Traffic,
    realistic_traffic,
    region_for_area,
    stress_traffic,
)
from kernels.screen import screen_all_pairs

ROOT = Path(__file__).resolve().parent.parent


def box_area_km2(lat_min: float, lat_max: float, lon_min: float, lon_max: float) -> float:
    """Spherical area of a lat/lon box (degrees), km^2."""
    r = EARTH_RADIUS_KM
    dlon = math.radians(lon_max - lon_min)
    return r * r * dlon * (math.sin(math.radians(lat_max)) - math.sin(math.radians(lat_min)))


@pytest.fixture(scope="module")
def tr10k() -> Traffic:
    return realistic_traffic(10_000, seed=7)


def test_density_about_one_per_100_km2(tr10k: Traffic) -> None:
    reg = tr10k.region
    inside = (
        (tr10k.lat_deg >= reg.lat_min)
        & (tr10k.lat_deg <= reg.lat_max)
        & (tr10k.lon_deg >= reg.lon_min)
        & (tr10k.lon_deg <= reg.lon_max)
    )
    assert inside.mean() > 0.97  # only cluster edges spill over
    density = inside.sum() / box_area_km2(reg.lat_min, reg.lat_max, reg.lon_min, reg.lon_max)
    assert 0.8 <= 100.0 * density <= 1.2
    # Roughly square: 1000 km north-south, centred on 50 N 10 E.
    assert (reg.lat_max - reg.lat_min) * math.pi / 180 * EARTH_RADIUS_KM == pytest.approx(1000.0)
    assert (reg.lat_min + reg.lat_max) / 2 == pytest.approx(50.0)
    assert (reg.lon_min + reg.lon_max) / 2 == pytest.approx(10.0)


def test_region_grows_with_n_and_fits_1m_on_the_sphere() -> None:
    for n in (1_000, 100_000, 1_000_000):
        reg = region_for_area(n * 100.0)
        area = box_area_km2(reg.lat_min, reg.lat_max, reg.lon_min, reg.lon_max)
        assert area == pytest.approx(n * 100.0, rel=1e-9)
        assert 15.0 - 1e-9 <= reg.lat_min < reg.lat_max <= 85.0 + 1e-9
        assert reg.lon_max - reg.lon_min < 360.0
    with pytest.raises(ValueError):
        region_for_area(1e9)  # twice the Earth


def test_altitude_bands_and_levels(tr10k: Traffic) -> None:
    alt, term, level = tr10k.alt_m, tr10k.terminal, tr10k.vu == 0.0
    assert 0.25 < term.mean() < 0.35
    assert np.all((alt[term] >= 0.0) & (alt[term] <= 15_000 * FT + 1e-6))
    enr = ~term
    assert np.all((alt[enr] >= 10_000 * FT - 1e-6) & (alt[enr] <= 41_000 * FT + 1e-6))
    # Level aircraft on whole thousands of feet; en route by the semicircular rule.
    thousands = alt[level] / (1000 * FT)
    assert np.allclose(thousands, np.round(thousands), atol=1e-9)
    fl = np.round(alt[enr & level] / (1000 * FT)).astype(int)
    track = np.degrees(np.arctan2(tr10k.ve, tr10k.vn)) % 360.0
    east = track[enr & level] < 180.0
    assert np.all(fl[east] % 2 == 1)
    assert np.all(fl[~east] % 2 == 0)
    # Terminal traffic within ~40 km of its cluster: spread from ground to FL150.
    assert alt[term].min() < 1000.0
    assert alt[term].max() > 4000.0


def test_climbing_fraction_and_speeds(tr10k: Traffic) -> None:
    vertical = tr10k.vu != 0.0
    assert 0.18 < vertical.mean() < 0.22
    vs = np.abs(tr10k.vu[vertical])
    assert np.all((vs >= 5.0) & (vs <= 15.0))
    assert 0.4 < (tr10k.vu[vertical] > 0).mean() < 0.6
    gs = np.hypot(tr10k.ve, tr10k.vn)
    assert np.all((gs >= 100.0) & (gs <= 260.0))
    assert gs[tr10k.terminal].max() <= gs[~tr10k.terminal].min() + 1e-9  # terminal slower
    for a in tr10k.arrays():
        assert a.dtype == np.float64
        assert a.flags.c_contiguous
        assert a.shape == (10_000,)


def test_stress_box_is_fixed() -> None:
    a = stress_traffic(2_000, seed=1)
    b = stress_traffic(20_000, seed=1)
    assert a.region == b.region
    assert a.region.area_km2 == 1e6
    assert np.array_equal(realistic_traffic(500, 3).lat_deg, realistic_traffic(500, 3).lat_deg)


def _check_equal(tr: Traffic) -> int:
    i, j = numpy_all_pairs(*tr.arrays(), D_M, H_M, T_S)
    ref = screen_all_pairs(*tr.arrays(), D_M, H_M, T_S)
    assert i.dtype == np.int64
    assert j.dtype == np.int64
    assert np.array_equal(i, ref.i)
    assert np.array_equal(j, ref.j)
    return int(i.size)


@pytest.mark.parametrize("make", [realistic_traffic, stress_traffic])
def test_numpy_all_pairs_equals_brute_force(make: object) -> None:
    tr = make(400, seed=11)  # type: ignore[operator]
    assert _check_equal(tr) > 0


def test_numpy_all_pairs_equals_brute_force_dense_and_degenerate() -> None:
    """300 aircraft squeezed into ~30 km, plus exact duplicates (zero relative velocity)
    and a pair exactly H apart (no conflict: strict inequality)."""
    tr = realistic_traffic(300, seed=5)
    lat = 50.0 + (tr.lat_deg - 50.0) * 0.1
    lon = 10.0 + (tr.lon_deg - 10.0) * 0.1
    cols = [lat, lon, tr.alt_m, tr.ve, tr.vn, tr.vu]
    cols = [np.concatenate([c, c[:5], c[5:6]]) for c in cols]
    cols[2][5], cols[2][-1] = 0.0, H_M  # exactly H apart, both level, same track
    cols[5][5] = cols[5][-1] = 0.0
    lat, lon, alt, ve, vn, vu = cols
    dense = Traffic(lat, lon, alt, ve, vn, vu, np.zeros(306, bool), tr.region)
    assert _check_equal(dense) > 100
    i, j = numpy_all_pairs(*dense.arrays(), D_M, H_M, T_S)
    pairs = set(zip(i.tolist(), j.tolist(), strict=True))
    assert (0, 300) in pairs  # duplicate: relative velocity exactly zero, inside
    assert (5, 305) not in pairs


def test_numpy_all_pairs_equals_brute_force_on_the_whole_globe() -> None:
    """Tracks all over the globe, each with a twin at the far crossing of its normal line
    (near the antipode), where the tangent-plane projection is ~0: both drop those pairs
    (the far-side gate), and keep the twins 3 km apart."""
    rng = np.random.default_rng(3)
    n = 60
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    lon = rng.uniform(-180.0, 180.0, n)
    # The far crossing of (lat, lon) is (-lat', lon + 180) with lat' a little off lat;
    # a sphere's antipode is within 22 km of it, so close pairs arise at 5 NM.
    far_lat, far_lon = -lat, (lon + 360.0) % 360.0 - 180.0
    near_lat = np.clip(lat + 0.027, -90.0, 90.0)
    cols = [
        np.concatenate([lat, far_lat, near_lat]),
        np.concatenate([lon, far_lon, lon]),
        np.full(3 * n, 10_000.0),
        np.zeros(3 * n),
        np.zeros(3 * n),
        np.zeros(3 * n),
    ]
    tr = Traffic(*cols, np.zeros(3 * n, bool), realistic_traffic(10, seed=1).region)
    count = _check_equal(tr)
    assert count >= n - 2  # the near twins (the clip may merge one at a pole)
    i, j = numpy_all_pairs(*tr.arrays(), D_M, H_M, T_S)
    assert not np.any((j - i) == n)  # no (point, antipode) pair


def test_skip_estimates() -> None:
    hist: dict[tuple[str, str], list[tuple[int, float, float | None]]] = {
        ("numba_all_pairs", "realistic"): [(10_000, 2.0, None)]
    }
    exp = {"fast": 1.5, "numba_all_pairs": 2.0, "numpy_all_pairs": 2.0}
    assert _estimate_skip("numba_all_pairs", "realistic", 30_000, hist, 60, 8 * GIB, exp) is None
    why = _estimate_skip("numba_all_pairs", "realistic", 100_000, hist, 60, 8 * GIB, exp)
    assert why is not None and "200 s" in why
    why = _estimate_skip("numpy_all_pairs", "realistic", 100_000, {}, 60, 8 * GIB, exp)
    assert why is not None and "GiB" in why


def test_quick_run_writes_json_and_png(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "cpa", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # a cold Numba cache compiles the broad phase first (about a minute)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "cpa.json").read_text())
    assert report["all_conflict_sets_equal"] is True
    assert report["parameters"]["H_m"] == pytest.approx(289.56)
    assert report["machine"]["logical_cpus"] >= 1
    kinds = {(c["kind"], c["n"], c["threads"]) for c in report["cases"]}
    assert ("realistic", 1000, 2) in kinds
    assert ("stress", 1000, 1) in kinds
    for c in report["cases"]:
        fast = c["methods"]["fast"]
        assert fast["median_ms"] > 0.0
        assert fast["repeats"] >= 5
        assert c["equal_to_brute_force"].get("fast") is True
    png = (tmp_path / "cpa.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "realistic" in format_table(report)


def test_bench_help_reaches_the_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.__main__ import main

    with pytest.raises(SystemExit) as ex:
        main(["cpa", "--help"])
    assert ex.value.code == 0
    assert "--sizes" in capsys.readouterr().out
    assert main(["no-such-bench"]) == 2
    available = capsys.readouterr().err.split("available: ")[1].strip().split(", ")
    assert {"alerts", "cpa", "fusion"} <= set(available) and available == sorted(available)
