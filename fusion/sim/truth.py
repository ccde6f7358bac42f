"""Scenario truth: the planted pairs as measured from sampled positions, and its JSON form.

Positions are sampled every 0.5 s (refined by bisection and a fine grid) rather than taken
from the intended geometry, and the samples must show exactly the planted losses of
separation. Times are UTC epoch seconds in the records (seconds after the scenario start
internally), distances metres, vertical distances feet in the records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from fusion.sim.clearance import violations
from fusion.sim.motion import B1, F64, FT, I64, NM, Motion, subpoints
from fusion.sim.placement import PairSpec

if TYPE_CHECKING:
    from fusion.sim.scenario import Scenario, ScenarioConfig

TRUTH_SCHEMA: Final = "airspace-sim-truth/1"

SAMPLE_DT_S: Final = 0.5  # truth sampling step
CPA_LOOKAHEAD_S: Final = 600.0  # a planted pair's CPA is searched this far past the end
# Altitudes exactly sep_v apart differ by 304.79999999999927 m after the ft -> m product;
# a 1 micrometre tolerance keeps "exactly 1000 ft" on the separated side of the strict test.
VERT_EPS_M: Final = 1e-6


@dataclass(frozen=True)
class ConflictTruth:
    """A planted loss of separation, as measured. a < b are ICAO addresses; times UTC epoch s.

    t_los: first time of loss of separation (within 1 us after it, never before).
    t_cpa, d_cpa_m, dz_cpa_ft: time, horizontal distance and vertical distance of the
    horizontal closest approach; t_cpa can lie after the scenario's end when the geometry
    leaves no room inside it (short scenarios).
    """

    a: int
    b: int
    kind: str
    t_los: float
    t_cpa: float
    d_cpa_m: float
    dz_cpa_ft: float
    t_los_planned: float


@dataclass(frozen=True)
class SafePairTruth:
    """A planted pair that comes close but never loses separation, with its measured minima."""

    a: int
    b: int
    kind: str  # "6nm_miss" | "1000ft_level"
    d_min_m: float
    dz_min_ft: float


def truth_dict(scenario: Scenario) -> dict[str, Any]:
    """The truth as a JSON-serialisable dict (schema ``airspace-sim-truth/1``)."""
    cfg = scenario.config
    return {
        "schema": TRUTH_SCHEMA,
        "seed": cfg.seed,
        "t0": scenario.t0,
        "duration_s": cfg.duration_s,
        "thresholds": {"sep_h_nm": cfg.sep_h_nm, "sep_v_ft": cfg.sep_v_ft},
        "aircraft": [
            {
                "icao": f"{int(ic):06X}",
                "icao_int": int(ic),
                "callsign": cs,
                "mode3a": f"{int(m3):04o}",
                "role": role,
                "adsb": bool(eq),
            }
            for ic, cs, m3, role, eq in zip(
                scenario.icao,
                scenario.callsign,
                scenario.mode3a,
                scenario.role,
                scenario.adsb,
                strict=True,
            )
        ],
        "conflicts": [
            {
                "a": c.a,
                "b": c.b,
                "kind": c.kind,
                "t_los": c.t_los,
                "t_cpa": c.t_cpa,
                "d_cpa_m": c.d_cpa_m,
                "dz_cpa_ft": c.dz_cpa_ft,
            }
            for c in scenario.conflicts
        ],
        "safe_pairs": [
            {"a": s.a, "b": s.b, "kind": s.kind, "d_min_m": s.d_min_m, "dz_min_ft": s.dz_min_ft}
            for s in scenario.safe_pairs
        ],
    }


def write_truth(path: str | Path, scenario: Scenario) -> None:
    """Write ``scenario.truth_dict()`` as indented JSON."""
    Path(path).write_text(json.dumps(truth_dict(scenario), indent=1) + "\n", encoding="utf-8")


def measure_truth(
    motion: Motion, cfg: ScenarioConfig, specs: Sequence[PairSpec], icao: I64
) -> tuple[tuple[ConflictTruth, ...], tuple[SafePairTruth, ...]]:
    """Truth of the planted pairs (specs[g] at rows 2g, 2g + 1), measured from samples
    every SAMPLE_DT_S; each pair's a < b by ICAO address."""
    tau = _sample_times(cfg.duration_s)
    # The sampled truth must show exactly the planted losses of separation, no others.
    planted = {(2 * g, 2 * g + 1) for g, spec in enumerate(specs) if spec[0] == "conflict"}
    found = _sampled_los_pairs(motion, cfg, tau)
    if found != planted:  # pragma: no cover - guarded by the 7 NM / 1500 ft clearance
        raise RuntimeError(
            f"sampled losses of separation {sorted(found)} != planted {sorted(planted)}"
        )

    conflicts: list[ConflictTruth] = []
    safe: list[SafePairTruth] = []
    for g, (role, kind, tau_los) in enumerate(specs):
        i, j = 2 * g, 2 * g + 1
        if icao[j] < icao[i]:
            i, j = j, i
        if role == "conflict":
            conflicts.append(_measure_conflict(motion, tau, cfg, i, j, kind, tau_los, icao))
        else:
            safe.append(_measure_safe(motion, tau, cfg, i, j, kind, icao))
    return tuple(conflicts), tuple(safe)


def _sample_times(duration_s: float) -> F64:
    k = math.floor(duration_s / SAMPLE_DT_S + 1e-9)
    return np.arange(k + 1, dtype=np.float64) * SAMPLE_DT_S


def _sampled_los_pairs(m: Motion, cfg: ScenarioConfig, tau: F64) -> set[tuple[int, int]]:
    """Pairs (i < j) that lose separation at some 0.5 s sample, by the sea-level chord and
    |dz|. The exact clearance test with margins picks the pairs worth sampling."""
    n = len(m)
    i, j = violations(
        m,
        np.arange(n),
        np.arange(n),
        cfg.duration_s,
        cfg.sep_h_nm * NM + 500.0,
        cfg.sep_v_ft * FT + 1.0,
    )
    found: set[tuple[int, int]] = set()
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        dh, dz = _pair_separation(m, a, b, tau)
        if _is_los(dh, dz, cfg).any():
            found.add((min(a, b), max(a, b)))
    return found


def _pair_separation(m: Motion, i: int, j: int, tau: F64) -> tuple[F64, F64]:
    """Horizontal chord between sea-level sub-points (m) and |dz| (m) of aircraft i, j at tau."""
    xyz, alt = subpoints(m, np.array([[i], [j]]), tau[None, :])
    dh = np.sqrt(((xyz[0] - xyz[1]) ** 2).sum(axis=-1))
    return dh, np.abs(alt[0] - alt[1])


def _is_los(dh: F64, dz: F64, cfg: ScenarioConfig) -> B1:
    """Loss of separation, strict: horizontal < sep_h and vertical < sep_v."""
    return (dh < cfg.sep_h_nm * NM) & (dz < cfg.sep_v_ft * FT - VERT_EPS_M)


def _argmin_refined(f: Callable[[F64], F64], tau: F64, vals: F64) -> float:
    """Time of the minimum of f, from the sampled vals refined on a 5 ms grid."""
    k = int(np.argmin(vals))
    fine = np.linspace(tau[max(k - 1, 0)], tau[min(k + 1, len(tau) - 1)], 401)
    return float(fine[int(np.argmin(f(fine)))])


def _measure_conflict(
    m: Motion, tau: F64, cfg: ScenarioConfig, i: int, j: int, kind: str,
    tau_los_plan: float, icao: I64,
) -> ConflictTruth:  # fmt: skip
    """Measure a planted conflict: first loss of separation (bisected to < 1 us) and the
    horizontal closest point of approach."""
    assert cfg.t0 is not None
    dh, dz = _pair_separation(m, i, j, tau)
    los = _is_los(dh, dz, cfg)
    if not los.any() or los[0]:
        raise RuntimeError(
            f"planted {kind} pair lost separation {'never' if not los.any() else 'at t0'}"
        )
    k1 = int(np.argmax(los))
    lo, hi = float(tau[k1 - 1]), float(tau[k1])
    while hi - lo > 1e-7:
        mid = 0.5 * (lo + hi)
        h, z = _pair_separation(m, i, j, np.array([mid]))
        if _is_los(h, z, cfg)[0]:
            hi = mid
        else:
            lo = mid
    # Recorded 1 us late so that the epoch, rounded to its 0.24 us ulp, is inside the LoS.
    t_los = cfg.t0 + hi + 1e-6
    h, z = _pair_separation(m, i, j, np.array([t_los - cfg.t0]))
    if not _is_los(h, z, cfg)[0] or abs(hi - tau_los_plan) > 1.0:
        raise RuntimeError(
            f"planted {kind} pair lost separation at {hi:.2f} s, not {tau_los_plan:.2f} s"
        )

    # The CPA may come after the end (a slow overtake in a short scenario): look past it.
    tau_ext = _sample_times(cfg.duration_s + CPA_LOOKAHEAD_S)
    dh_ext, _ = _pair_separation(m, i, j, tau_ext)
    t_cpa = _argmin_refined(lambda t: _pair_separation(m, i, j, t)[0], tau_ext, dh_ext)
    h, z = _pair_separation(m, i, j, np.array([t_cpa]))
    return ConflictTruth(
        a=int(icao[i]),
        b=int(icao[j]),
        kind=kind,
        t_los=t_los,
        t_cpa=cfg.t0 + t_cpa,
        d_cpa_m=round(float(h[0]), 3),
        dz_cpa_ft=round(float(z[0]) / FT, 3),
        t_los_planned=cfg.t0 + tau_los_plan,
    )


def _measure_safe(
    m: Motion, tau: F64, cfg: ScenarioConfig, i: int, j: int, kind: str, icao: I64
) -> SafePairTruth:
    """Measure a safe pair's horizontal minimum (refined) and vertical minimum."""
    dh, dz = _pair_separation(m, i, j, tau)
    if _is_los(dh, dz, cfg).any():
        raise RuntimeError(f"safe {kind} pair lost separation")
    t_min = _argmin_refined(lambda t: _pair_separation(m, i, j, t)[0], tau, dh)
    h, _ = _pair_separation(m, i, j, np.array([t_min]))
    return SafePairTruth(
        a=int(icao[i]),
        b=int(icao[j]),
        kind=kind,
        d_min_m=round(float(h[0]), 3),
        dz_min_ft=round(float(dz.min()) / FT, 3),
    )
