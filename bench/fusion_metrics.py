"""Scoring a picture (a set of track estimates at one data time) against the truth.

* :func:`horizontal_distance`: metres between WGS-84 points, flat-earth about each pair's
  mean latitude (a sphere of radius :data:`EARTH_R_M`): good to about 0.5 % at the
  kilometre scale that matters here (errors, the GOSPA cut-off).
* :class:`Ledger`: matches one picture's tracks to truth aircraft over time as CLEAR-MOT
  does (Bernardin and Stiefelhagen 2008): a track that followed an aircraft at the last
  evaluation keeps it while it stays within the gate; the rest are paired by one optimal
  assignment (:func:`scipy.optimize.linear_sum_assignment`) on distance, pairs at or
  beyond the gate left unpaired. Keeping a correspondence that is still valid stops two
  aircraft passing within metres of each other from swapping in the *evaluation* when the
  tracks did not. The ledger counts, per aircraft,

  - a **track break** when the aircraft's matched track id differs from the one it had
    last (a new track, or another aircraft's), and
  - an **identity swap** when that new id was last matched to a *different* aircraft:
    the track that followed b now follows a (MOT's ID switch onto an existing track).

  It also keeps, per aircraft, the longest run of evaluations at which the aircraft was
  in the truth set (some sensor reported it) but no track matched it: a *lost* aircraft,
  invisible to conflict detection although reported.

  Each event records ``unmatched_s``, the data time since the aircraft was last matched
  (:func:`bench.fusion_accuracy.run_accuracy` adds ``sensor_gap_s``: the longest stretch
  in between with no report of the aircraft from any sensor; a break after a sensor gap
  as long as the expiry is expected, its track had to go; any other is the fuser's).
* :class:`Samples`: the per-(evaluation, aircraft) errors of the matched pairs, with
  :meth:`Samples.summary` for RMSEs per aircraft class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]

EARTH_R_M: Final = 6_371_008.8  # mean Earth radius, m
M_PER_DEG: Final = EARTH_R_M * np.pi / 180.0


def horizontal_distance(lat1: F64, lon1: F64, lat2: F64, lon2: F64) -> F64:
    """Horizontal distance (m) between points (degrees), broadcast together."""
    mid = np.radians(0.5 * (lat1 + lat2))
    dn = (lat2 - lat1) * M_PER_DEG
    de = (lon2 - lon1) * M_PER_DEG * np.cos(mid)
    out: F64 = np.hypot(de, dn)
    return out


def extrapolate(lat: F64, lon: F64, ve: F64, vn: F64, dt: F64) -> tuple[F64, F64]:
    """Positions (deg) moved by velocity (m/s east, north) for dt (s), flat earth."""
    dlat = vn * dt / M_PER_DEG
    dlon = ve * dt / (M_PER_DEG * np.cos(np.radians(lat)))
    return lat + dlat, lon + dlon


@dataclass
class Ledger:
    """Track-to-aircraft correspondences of one picture over time (see the module doc).

    ``gate_m``: a track farther than this from an aircraft never matches it (m).
    """

    gate_m: float
    n_aircraft: int
    breaks: int = 0
    swaps: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    last_id: I64 = field(init=False)
    holder: dict[int, int] = field(default_factory=dict)  # track id -> aircraft last on it
    last_t: F64 = field(init=False)  # data time each aircraft was last matched, s
    unmatched_since: F64 = field(init=False)  # start of the current unmatched run, NaN none
    longest_unmatched: F64 = field(init=False)  # longest run present but unmatched, s

    def __post_init__(self) -> None:
        self.last_id = np.full(self.n_aircraft, -1, dtype=np.int64)
        self.last_t = np.full(self.n_aircraft, -np.inf)
        self.unmatched_since = np.full(self.n_aircraft, np.nan)
        self.longest_unmatched = np.zeros(self.n_aircraft)

    def lost(self, min_s: float) -> I64:
        """Aircraft that were in the truth set yet unmatched for at least min_s (s) in a
        row at some point (evaluation times apart, so a run of k evaluations counts as
        (k - 1) steps)."""
        return np.flatnonzero(self.longest_unmatched >= min_s)

    def match(self, t: float, aircraft: I64, ids: I64, dist: F64) -> tuple[I64, I64]:
        """Pairs (indices into ``aircraft``, indices into ``ids``) at data time t (s):
        aircraft int64[m] (truth rows), ids int64[n] (track ids of the picture), dist
        float64[m, n] (m). Updates the break and swap counts."""
        m, n = dist.shape
        ti: list[int] = []
        ej: list[int] = []
        free_t = np.ones(m, dtype=np.bool_)
        free_e = np.ones(n, dtype=np.bool_)
        if m and n:
            # Correspondences still valid: same id present and within the gate.
            pos = {int(v): k for k, v in enumerate(ids)}
            for i, a in enumerate(aircraft):
                prev = int(self.last_id[a])
                j = pos.get(prev, -1)
                if prev >= 0 and j >= 0 and self.holder.get(prev) == a and dist[i, j] < self.gate_m:
                    ti.append(i)
                    ej.append(j)
                    free_t[i] = False
                    free_e[j] = False
            rt = np.flatnonzero(free_t)
            re = np.flatnonzero(free_e)
            if rt.size and re.size:
                sub = np.minimum(dist[np.ix_(rt, re)], self.gate_m)
                r, c = linear_sum_assignment(sub)
                ok = sub[r, c] < self.gate_m
                ti += rt[r[ok]].tolist()
                ej += re[c[ok]].tolist()
        out_t = np.array(ti, dtype=np.int64)
        out_e = np.array(ej, dtype=np.int64)
        # Runs of evaluations at which a present aircraft has no track.
        miss = np.ones(m, dtype=np.bool_)
        miss[out_t] = False
        am = aircraft[miss]
        self.unmatched_since[am] = np.where(
            np.isnan(self.unmatched_since[am]), t, self.unmatched_since[am]
        )
        run = t - self.unmatched_since[am]
        self.longest_unmatched[am] = np.maximum(self.longest_unmatched[am], run)
        self.unmatched_since[aircraft[~miss]] = np.nan
        for i, j in zip(out_t.tolist(), out_e.tolist(), strict=True):
            a = int(aircraft[i])
            tid = int(ids[j])
            prev = int(self.last_id[a])
            if prev >= 0 and tid != prev:
                self.breaks += 1
                other = self.holder.get(tid, -1)
                kind = "swap" if other not in (-1, a) else "break"
                if kind == "swap":
                    self.swaps += 1
                self.events.append(
                    {
                        "t": t,
                        "kind": kind,
                        "aircraft": a,
                        "from_id": prev,
                        "to_id": tid,
                        "to_id_last_on": other,
                        "unmatched_s": t - float(self.last_t[a]),
                    }
                )
            self.last_id[a] = tid
            self.last_t[a] = t
            self.holder[tid] = a
        return out_t, out_e


@dataclass
class Samples:
    """Errors of matched (evaluation, aircraft) pairs of one picture, plus per-evaluation
    GOSPA parts. Positions m, velocities m/s."""

    k: list[I64] = field(default_factory=list)  # evaluation index
    aircraft: list[I64] = field(default_factory=list)
    pos: list[F64] = field(default_factory=list)  # horizontal position error, m
    vel: list[F64] = field(default_factory=list)  # horizontal velocity error, m/s
    alt: list[F64] = field(default_factory=list)  # altitude error, m
    t: list[float] = field(default_factory=list)  # evaluation data time, s
    gospa: list[float] = field(default_factory=list)  # per evaluation, m
    ospa: list[float] = field(default_factory=list)  # per evaluation, m (same c, p)
    gospa_loc: list[float] = field(default_factory=list)  # localisation sum d^p, m^p
    missed: list[int] = field(default_factory=list)
    false: list[int] = field(default_factory=list)
    n_truth: list[int] = field(default_factory=list)
    n_est: list[int] = field(default_factory=list)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The matched-pair columns concatenated."""

        def cat(x: list[Any], dt: type) -> npt.NDArray[Any]:
            return np.concatenate(x).astype(dt) if x else np.zeros(0, dtype=dt)

        return {
            "k": cat(self.k, np.int64),
            "aircraft": cat(self.aircraft, np.int64),
            "pos": cat(self.pos, np.float64),
            "vel": cat(self.vel, np.float64),
            "alt": cat(self.alt, np.float64),
        }

    def summary(self, adsb: B1) -> dict[str, Any]:
        """RMSEs over all matched pairs and per class (``adsb[aircraft]`` equipped or
        not), mean GOSPA and its parts, coverage (matched / truth)."""
        a = self.arrays()
        out: dict[str, Any] = {}
        eq = adsb[a["aircraft"]] if a["aircraft"].size else np.zeros(0, dtype=np.bool_)
        for name, sel in (("all", slice(None)), ("adsb", eq), ("no_adsb", ~eq)):
            out[name] = _rmse(a["pos"][sel], a["vel"][sel], a["alt"][sel])
        n_truth = max(1, sum(self.n_truth))
        out["coverage"] = float(a["pos"].size / n_truth)
        out["gospa_mean_m"] = float(np.mean(self.gospa)) if self.gospa else None
        out["gospa_median_m"] = float(np.median(self.gospa)) if self.gospa else None
        out["ospa_mean_m"] = float(np.mean(self.ospa)) if self.ospa else None
        out["missed_mean"] = float(np.mean(self.missed)) if self.missed else None
        out["false_mean"] = float(np.mean(self.false)) if self.false else None
        out["evaluations"] = len(self.gospa)
        return out


def _rmse(pos: F64, vel: F64, alt: F64) -> dict[str, Any]:
    """RMS and median of the error columns (m, m/s, m); None where empty."""

    def rms(x: F64) -> float | None:
        x = x[np.isfinite(x)]
        return float(np.sqrt(np.mean(x * x))) if x.size else None

    return {
        "n": int(pos.size),
        "pos_rmse_m": rms(pos),
        "pos_median_m": float(np.median(pos)) if pos.size else None,
        "vel_rmse_ms": rms(vel),
        "alt_rmse_m": rms(alt),
    }


def paired_rmse(
    fused: dict[str, npt.NDArray[Any]],
    other: dict[str, npt.NDArray[Any]],
    n_aircraft: int,
    sel_aircraft: B1 | None = None,
) -> dict[str, Any]:
    """Position and velocity RMSE of two pictures over the (evaluation, aircraft) samples
    that both matched (optionally only aircraft where ``sel_aircraft``)."""
    kf = fused["k"] * n_aircraft + fused["aircraft"]
    ko = other["k"] * n_aircraft + other["aircraft"]
    _, i_f, i_o = np.intersect1d(kf, ko, assume_unique=True, return_indices=True)
    if sel_aircraft is not None:
        keep = sel_aircraft[fused["aircraft"][i_f]]
        i_f, i_o = i_f[keep], i_o[keep]

    def rms(x: F64) -> float | None:
        return float(np.sqrt(np.mean(x * x))) if x.size else None

    return {
        "n": int(i_f.size),
        "fused_pos_rmse_m": rms(fused["pos"][i_f]),
        "sensor_pos_rmse_m": rms(other["pos"][i_o]),
        "fused_vel_rmse_ms": rms(fused["vel"][i_f]),
        "sensor_vel_rmse_ms": rms(other["vel"][i_o]),
    }
