"""Exact continuous-time proximity test between straight-line tracks (no sampling).

Finds the pairs of aircraft that come within a horizontal and a vertical limit of each
other at the same time somewhere in [0, duration_s]. Distances in metres (ECEF chord
between tangent-plane points), times in seconds after the scenario start.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from fusion.sim.motion import F64, FT, I64, NM, Motion, linear_ecef

CLEAR_H_M: Final = 7.0 * NM  # background clearance: nothing else comes this close ...
CLEAR_V_M: Final = 1500.0 * FT  # ... at the same time as this close vertically


def violations(
    m: Motion, group: I64, rows: I64, duration_s: float,
    h_lim: float = CLEAR_H_M, v_lim: float = CLEAR_V_M,
) -> tuple[I64, I64]:  # fmt: skip
    """Pairs (i in rows, j in another group; each pair once) that are, at some time in
    [0, duration_s], both < h_lim apart horizontally and < v_lim vertically.

    Exact in continuous time rather than sampled: a tangent-plane track is a straight
    line in ECEF, so the time the chord is below h_lim is the inside of a quadratic; the
    altitude difference is piecewise linear between the two level-off times. The chord
    between plane points differs from the sea-level one by metres (a plane point 110 km
    from its origin is < 1 km above the ellipsoid): use it with margins of that order.
    O(pairs) with no per-sample work, so 1000 aircraft take milliseconds.
    """
    n = len(m)
    start, vel = linear_ecef(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_lvl = np.where(
            np.isfinite(m.level_off_m) & (m.vu_ms != 0.0),
            (m.level_off_m - m.alt0_m) / m.vu_ms,
            np.inf,
        )
    t_lvl = np.clip(t_lvl, 0.0, duration_s)
    alt_end = m.alt0_m + m.vu_ms * t_lvl
    amin, amax = np.minimum(m.alt0_m, alt_end), np.maximum(m.alt0_m, alt_end)
    in_rows = np.zeros(n, dtype=np.bool_)
    in_rows[rows] = True
    col = np.arange(n)
    out_i: list[I64] = []
    out_j: list[I64] = []
    chunk = max(1, 2_000_000 // max(n, 1))
    for a in range(0, len(rows), chunk):
        r = rows[a : a + chunk]
        # Broad phase: altitude bands that come within v_lim; a pair of two rows once.
        gap = np.maximum(amin[None, :] - amax[r, None], amin[r, None] - amax[None, :])
        near = (gap < v_lim) & (group[None, :] != group[r, None])
        near &= ~in_rows[None, :] | (r[:, None] < col[None, :])
        ri, j = np.nonzero(near)
        i = r[ri]
        # Horizontal: |d0 + dv t|^2 < h^2  <=>  qa t^2 + qb t + qc < 0.
        d0 = start[i] - start[j]
        dv = vel[i] - vel[j]
        qa = np.einsum("pc,pc->p", dv, dv)
        qb = 2.0 * np.einsum("pc,pc->p", d0, dv)
        qc = np.einsum("pc,pc->p", d0, d0) - h_lim * h_lim
        disc = qb * qb - 4.0 * qa * qc
        moving = qa > 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.sqrt(np.maximum(disc, 0.0))
            h_lo = np.where(moving, (-qb - root) / (2.0 * qa), -np.inf)
            h_hi = np.where(moving, (-qb + root) / (2.0 * qa), np.inf)
        ever = np.where(moving, disc > 0.0, qc < 0.0)
        ever &= (h_lo < duration_s) & (h_hi > 0.0)
        i, j, h_lo, h_hi = i[ever], j[ever], h_lo[ever], h_hi[ever]
        # Vertical: three linear pieces between the knots 0, level-offs, duration.
        k1 = np.minimum(t_lvl[i], t_lvl[j])
        k2 = np.maximum(t_lvl[i], t_lvl[j])
        knots = np.stack([np.zeros_like(k1), k1, k2, np.full_like(k1, duration_s)], axis=1)
        ta, tb = knots[:, :-1], knots[:, 1:]
        fa = _dz(m, t_lvl, i, j, ta)
        fb = _dz(m, t_lvl, i, j, tb)
        span = tb - ta
        slope = (fb - fa) / np.where(span > 0.0, span, 1.0)
        flat = np.abs(slope) < 1e-12
        with np.errstate(divide="ignore", invalid="ignore"):
            s1 = (-v_lim - fa) / slope
            s2 = (v_lim - fa) / slope
        inside = np.abs(fa) < v_lim
        v_lo = ta + np.where(flat, np.where(inside, 0.0, np.inf), np.minimum(s1, s2))
        v_hi = ta + np.where(flat, np.where(inside, span, -np.inf), np.maximum(s1, s2))
        lo = np.maximum(np.maximum(v_lo, ta), h_lo[:, None])
        hi = np.minimum(np.minimum(v_hi, tb), h_hi[:, None])
        hit = ((span > 0.0) & (lo < hi)).any(axis=1)
        out_i.append(i[hit])
        out_j.append(j[hit])
    if not out_i:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(out_i), np.concatenate(out_j)


def _dz(m: Motion, t_lvl: F64, i: I64, j: I64, t: F64) -> F64:
    """alt_i(t) - alt_j(t) for pairs (i[p], j[p]) at times t[p, k] (t <= level-off clip)."""
    ai = m.alt0_m[i][:, None] + m.vu_ms[i][:, None] * np.minimum(t, t_lvl[i][:, None])
    aj = m.alt0_m[j][:, None] + m.vu_ms[j][:, None] * np.minimum(t, t_lvl[j][:, None])
    return ai - aj
