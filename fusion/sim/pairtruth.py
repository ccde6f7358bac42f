"""Pairwise truth of a scenario: every true loss of separation and every pair's closest
approach, measured from the truth trajectories.

For each pair of aircraft, over the time both are active (present in the sensors'
reports), with the scenario's minima D (horizontal) and H (vertical):

- horizontal distance ``h(t)``: the other aircraft's sea-level sub-point in the east-north
  plane of the first one's sub-point (the local tangent plane, as the service measures
  it: ``docs/architecture.md``, "The pair test"); vertical ``dz(t) = |alt_a - alt_b|``;
- a **loss of separation** while ``h < D`` and ``dz < H`` (strict; altitudes exactly
  ``H`` apart are separated, with a 1 micrometre allowance for the ft -> m product);
- the **normalised separation** ``rho(t) = max(h / D, dz / H)``: below 1 is a loss;
  above 1.5 means "more than 1.5 D apart horizontally or more than 1.5 H vertically",
  the bound of a nuisance alert in the alert benchmark;
- the horizontal closest approach (least ``h``) and the least ``rho``, with their times.

Sampling: every aircraft at 1 Hz (the "1 Hz truth", :func:`truth_table`); pairs whose
1 Hz ``rho`` comes within reach of 1.6 (allowing for what 1 s of closing can hide) again
every 0.1 s, loss starts and ends bisected to 1 ms on the exact trajectories. Times are
UTC epoch seconds in the records (``t0`` + seconds after the start), distances metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from fusion.sim.motion import F64, FT, I64
from fusion.sim.scenario import Scenario, positions
from kernels import geo

VERT_EPS_M: Final = 1e-6  # 1000 ft apart stays separated after the ft -> m product
COARSE_DT_S: Final = 1.0
FINE_DT_S: Final = 0.1
CANDIDATE_RHO: Final = 1.6  # pairs whose rho may dip below this are sampled finely
LEVEL_TOL_M: Final = 1.0 * FT  # "1000 ft apart": within 1 ft of it


@dataclass(frozen=True, eq=False)
class PairTruth:
    """The truth of one pair. ``a`` < ``b`` are ICAO addresses, ``row_a``/``row_b`` the
    scenario rows. Times UTC epoch s; distances m.

    - ``t_from``, ``t_to``: the time both aircraft are active;
    - ``losses``: (start, end) of every loss of separation, in order;
    - ``t_cpa``, ``d_cpa_m``, ``dz_cpa_m``: horizontal closest approach and the vertical
      distance then;
    - ``rho_min`` and ``t_rho_min``, ``h_rho_m``, ``dz_rho_m``: least normalised
      separation, its time and distances;
    - ``adjacent_level``: whenever the pair is within 1.5 D horizontally, both aircraft
      are level and 1000 ft apart (within 1 ft): a pair separated by flight levels alone
      (False when it never comes within 1.5 D);
    - ``t_s``, ``rho``, ``level``: rho sampled (1 Hz, and 0.1 s where finely sampled)
      over the common window, and whether both aircraft are level and 1000 ft apart
      (within 1 ft) then: for :meth:`rho_min_between`, :meth:`rho_max_between` and
      :meth:`level_at`.
    """

    a: int
    b: int
    row_a: int
    row_b: int
    sep_h_m: float
    sep_v_m: float
    t_from: float
    t_to: float
    losses: tuple[tuple[float, float], ...]
    t_cpa: float
    d_cpa_m: float
    dz_cpa_m: float
    rho_min: float
    t_rho_min: float
    h_rho_m: float
    dz_rho_m: float
    adjacent_level: bool
    t_s: F64 = field(repr=False)
    rho: F64 = field(repr=False)
    level: npt.NDArray[np.bool_] = field(repr=False)

    @property
    def key(self) -> tuple[int, int]:
        return (self.a, self.b)

    def rho_min_between(self, t1: float, t2: float) -> float:
        """Least sampled rho in [t1, t2] (inf when no sample lies there)."""
        sel = (self.t_s >= t1) & (self.t_s <= t2)
        return float(self.rho[sel].min()) if sel.any() else math.inf

    def rho_max_between(self, t1: float, t2: float) -> float:
        """Largest sampled rho in [t1, t2] (-inf when no sample lies there)."""
        sel = (self.t_s >= t1) & (self.t_s <= t2)
        return float(self.rho[sel].max()) if sel.any() else -math.inf

    def level_at(self, t: float) -> bool:
        """Both aircraft level and 1000 ft apart at the sample nearest to t (False
        outside the common window)."""
        if not self.t_s.size or t < self.t_from - 1.0 or t > self.t_to + 1.0:
            return False
        k = int(np.argmin(np.abs(self.t_s - t)))
        return bool(self.level[k])

    def summary(self) -> dict[str, object]:
        """JSON-ready fields (no series); ICAO as six hex digits; distances also NM/ft."""
        return {
            "a": f"{self.a:06X}",
            "b": f"{self.b:06X}",
            "losses": [list(x) for x in self.losses],
            "t_cpa": self.t_cpa,
            "d_cpa_nm": self.d_cpa_m / 1852.0,
            "dz_cpa_ft": self.dz_cpa_m / FT,
            "rho_min": self.rho_min,
            "h_rho_nm": self.h_rho_m / 1852.0,
            "dz_rho_ft": self.dz_rho_m / FT,
            "adjacent_level": self.adjacent_level,
        }


@dataclass(frozen=True, eq=False)
class _Samples:
    """Every aircraft at the times ``tau`` [K]: sub-points and axes [N, K, 3], altitude
    and vertical rate [N, K], active [N, K]."""

    tau: F64
    xyz: F64
    east: F64
    north: F64
    alt: F64
    vu: F64
    active: npt.NDArray[np.bool_]


def _sample(scenario: Scenario, rows: I64, tau: F64, win: F64) -> _Samples:
    """Sample aircraft ``rows`` at tau (s after t0); ``win`` [len(rows), 2] their windows."""
    lat, lon, alt, _, _, vu = positions(scenario, scenario.t0 + tau[None, :], rows[:, None])
    shape = lat.shape
    flat_lat = np.ascontiguousarray(lat.ravel())
    flat_lon = np.ascontiguousarray(lon.ravel())
    xyz = geo.geodetic_to_ecef(flat_lat, flat_lon, np.zeros_like(flat_lat)).reshape(*shape, 3)
    la, lo = np.radians(lat), np.radians(lon)
    east = np.stack([-np.sin(lo), np.cos(lo), np.zeros_like(lo)], axis=-1)
    north = np.stack([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)], axis=-1)
    act = (tau[None, :] >= win[:, 0:1]) & (tau[None, :] <= win[:, 1:2])
    return _Samples(tau, xyz, east, north, alt, vu, act)


def _h_dz(s: _Samples, i: int, j: int | slice) -> tuple[F64, F64]:
    """Horizontal distance in i's tangent plane and |dz| of i against j (rows of s)."""
    dp = s.xyz[j] - s.xyz[i]
    he = (dp * s.east[i]).sum(axis=-1)
    hn = (dp * s.north[i]).sum(axis=-1)
    return np.hypot(he, hn), np.abs(s.alt[j] - s.alt[i])


def truth_table(
    scenario: Scenario, active_s: F64, dt_s: float = COARSE_DT_S
) -> npt.NDArray[np.void]:
    """The truth every ``dt_s`` (1 Hz by default) of every aircraft while active: a
    structured array (t UTC epoch s, icao, lat_deg, lon_deg, alt_m, ve_ms, vn_ms, vu_ms),
    sorted by time then row. ``active_s`` float64[N, 2]: each aircraft's active window,
    s after t0."""
    tau = np.arange(0.0, scenario.duration_s + 1e-9, dt_s)
    rows = np.arange(scenario.n_aircraft)
    st = positions(scenario, scenario.t0 + tau[None, :], rows[:, None])
    act = (tau[None, :] >= active_s[:, 0:1]) & (tau[None, :] <= active_s[:, 1:2])
    k, r = np.nonzero(act.T)  # time-major order
    dtype = np.dtype(
        [("t", "f8"), ("icao", "i4"), ("lat_deg", "f8"), ("lon_deg", "f8"), ("alt_m", "f8"),
         ("ve_ms", "f8"), ("vn_ms", "f8"), ("vu_ms", "f8")]
    )  # fmt: skip
    out = np.empty(k.size, dtype=dtype)
    out["t"] = scenario.t0 + tau[k]
    out["icao"] = scenario.icao[r]
    for name, arr in zip(
        ("lat_deg", "lon_deg", "alt_m", "ve_ms", "vn_ms", "vu_ms"), st, strict=True
    ):
        out[name] = arr[r, k]
    return out


def pair_truths(
    scenario: Scenario, active_s: F64, sep_h_m: float, sep_v_m: float
) -> list[PairTruth]:
    """The truth of every pair whose aircraft are active together (see the module
    docstring), sorted by (a, b). ``active_s`` float64[N, 2]: each aircraft's active
    window, s after t0 (clipped to the scenario)."""
    n = scenario.n_aircraft
    win = np.clip(np.asarray(active_s, dtype=np.float64), 0.0, scenario.duration_s)
    tau = np.arange(0.0, scenario.duration_s + 1e-9, COARSE_DT_S)
    rows = np.arange(n)
    s = _sample(scenario, rows, tau, win)
    _, _, _, ve, vn, _ = positions(scenario, scenario.t0 + tau[None, :], rows[:, None])
    speed = np.hypot(ve, vn)
    out: list[PairTruth] = []
    for i in range(n - 1):
        j = np.arange(i + 1, n)
        h, dz = _h_dz(s, i, slice(i + 1, n))
        both = s.active[i][None, :] & s.active[i + 1 :]
        # What 1 s of closing can hide between samples: half the step at the pair's
        # greatest closing speed, horizontally and vertically.
        slack_h = 0.5 * COARSE_DT_S * (speed[i][None, :] + speed[i + 1 :])
        slack_v = 0.5 * COARSE_DT_S * (np.abs(s.vu[i][None, :]) + np.abs(s.vu[i + 1 :]))
        near = np.maximum((h - slack_h) / sep_h_m, (dz - slack_v) / sep_v_m)
        for k, jj in enumerate(j.tolist()):
            if not both[k].any():
                continue
            fine = bool((near[k][both[k]] < CANDIDATE_RHO).any())
            out.append(_pair(scenario, s, i, jj, h[k], dz[k], both[k], win, sep_h_m, sep_v_m, fine))
    out.sort(key=lambda p: p.key)
    return out


def _pair(
    scenario: Scenario, s: _Samples, i: int, j: int, h: F64, dz: F64, both: npt.NDArray[np.bool_],
    win: F64, D: float, H: float, fine: bool,
) -> PairTruth:  # fmt: skip
    t0 = scenario.t0
    lo = max(win[i, 0], win[j, 0])
    hi = min(win[i, 1], win[j, 1])
    tau, hh, zz, vi, vj = s.tau[both], h[both], dz[both], s.vu[i][both], s.vu[j][both]
    if fine:
        tau_f = np.arange(lo, hi + 1e-9, FINE_DT_S)
        sf = _sample(scenario, np.array([i, j]), tau_f, win[[i, j]])
        hf, zf = _h_dz(sf, 0, 1)
        tau = np.concatenate([tau, tau_f])
        order = np.argsort(tau, kind="stable")
        tau = tau[order]
        hh = np.concatenate([hh, hf])[order]
        zz = np.concatenate([zz, zf])[order]
        vi = np.concatenate([vi, sf.vu[0]])[order]
        vj = np.concatenate([vj, sf.vu[1]])[order]
    rho = np.maximum(hh / D, zz / H)
    los = (hh < D) & (zz < H - VERT_EPS_M)
    losses = _intervals(scenario, i, j, tau, los, D, H) if fine else ()
    k = int(np.argmin(hh))
    m = int(np.argmin(rho))
    level = (vi == 0.0) & (vj == 0.0) & (np.abs(zz - 1000.0 * FT) < LEVEL_TOL_M)
    close = hh < 1.5 * D
    adjacent = bool(close.any() and np.all(level[close]))
    a, b = int(scenario.icao[i]), int(scenario.icao[j])
    ra, rb = (i, j) if a < b else (j, i)
    return PairTruth(
        a=min(a, b),
        b=max(a, b),
        row_a=ra,
        row_b=rb,
        sep_h_m=D,
        sep_v_m=H,
        t_from=t0 + lo,
        t_to=t0 + hi,
        losses=tuple((t0 + x, t0 + y) for x, y in losses),
        t_cpa=t0 + float(tau[k]),
        d_cpa_m=float(hh[k]),
        dz_cpa_m=float(zz[k]),
        rho_min=float(rho[m]),
        t_rho_min=t0 + float(tau[m]),
        h_rho_m=float(hh[m]),
        dz_rho_m=float(zz[m]),
        adjacent_level=adjacent,
        t_s=t0 + tau,
        rho=rho,
        level=level,
    )


def _los_at(scenario: Scenario, i: int, j: int, tau: float, D: float, H: float) -> bool:
    s = _sample(scenario, np.array([i, j]), np.array([tau]), np.array([[-np.inf, np.inf]] * 2))
    h, dz = _h_dz(s, 0, 1)
    return bool(h[0] < D and dz[0] < H - VERT_EPS_M)


def _intervals(
    scenario: Scenario, i: int, j: int, tau: F64, los: npt.NDArray[np.bool_], D: float, H: float
) -> tuple[tuple[float, float], ...]:
    """Runs of ``los`` over the samples ``tau`` (s after t0) as (start, end), each edge
    bisected to 1 ms between the samples around it; a run at the window's edge starts
    or ends there."""
    out = []
    edges = np.diff(los.astype(np.int8))
    starts = (np.flatnonzero(edges == 1) + 1).tolist()
    ends = (np.flatnonzero(edges == -1) + 1).tolist()
    if los.size and los[0]:
        starts.insert(0, 0)
    if los.size and los[-1]:
        ends.append(los.size)
    for a, b in zip(starts, ends, strict=True):
        start = float(tau[0]) if a == 0 else _bisect(scenario, i, j, tau[a - 1], tau[a], D, H)
        end = float(tau[-1]) if b == los.size else _bisect(scenario, i, j, tau[b], tau[b - 1], D, H)
        out.append((start, end))
    return tuple(out)


def _bisect(
    scenario: Scenario, i: int, j: int, clear: float, lost: float, D: float, H: float
) -> float:
    """The boundary between a separated time and a lost one, to 1 ms (the lost side)."""
    clear, lost = float(clear), float(lost)
    while abs(lost - clear) > 1e-3:
        mid = 0.5 * (clear + lost)
        if _los_at(scenario, i, j, mid, D, H):
            lost = mid
        else:
            clear = mid
    return lost
