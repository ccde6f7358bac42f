"""Kinematic association: reports without a trusted identity to system tracks.

Global nearest neighbour: candidate pairs from a k-d tree over the tracks' predicted
sub-points (ECEF, within ``radius_m``), a chi-square gate on the normalised distance,
then an optimal one-to-one assignment (``scipy.optimize.linear_sum_assignment``, one per
connected group of gated pairs, so memory stays linear) on the cost d2 + ln|S|, the negative log
likelihood up to a constant (without the ln|S| term a vague track would win every tie).

Isotropic accuracies (one sigma per axis for track and report) keep this cheap; the
filter update that follows uses the full covariance. Pure function of its inputs.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from kernels.geo import geodetic_to_ecef

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Cost of "no assignment" in the dense matrix: above any gated pair's cost.
_NO_PAIR: Final = 1e12


def gnn_assign(
    rep_t: F64,
    rep_lat: F64,
    rep_lon: F64,
    rep_sigma_h: F64,
    trk_t: float,
    trk_lat: F64,
    trk_lon: F64,
    trk_ve: F64,
    trk_vn: F64,
    trk_sigma_h: F64,
    gate_d2: float,
    radius_m: float,
) -> I64:
    """Track index per report (-1: none within the gate), one-to-one.

    Reports: time s, position deg, 1-sigma per axis m (float64[M] each). Tracks: their
    state predicted to one time trk_t (s): position deg, east/north velocity m/s (in
    their own ENU), 1-sigma m (float64[N] each); each track is moved along its velocity
    to each report's time before comparing. gate_d2: chi-square threshold on
    |r - p|^2 / (sigma_r^2 + sigma_p^2) (13.8: 99.9 % at 2 degrees of freedom);
    radius_m: the candidate search radius, m.
    """
    m = rep_t.size
    out = np.full(m, -1, dtype=np.int64)
    if m == 0 or trk_lat.size == 0:
        return out
    z0 = np.zeros(trk_lat.size)
    p_trk = geodetic_to_ecef(trk_lat, trk_lon, z0)
    p_rep = geodetic_to_ecef(rep_lat, rep_lon, np.zeros(m))
    # Search wide enough for the time shift too.
    speed = float(np.max(np.hypot(trk_ve, trk_vn), initial=0.0))
    reach = radius_m + speed * float(np.max(np.abs(rep_t - trk_t), initial=0.0))
    lists = cKDTree(p_trk).query_ball_point(p_rep, r=reach)
    ri = np.repeat(np.arange(m), [len(lst) for lst in lists]).astype(np.int64)
    tj = np.fromiter((j for lst in lists for j in lst), dtype=np.int64, count=ri.size)
    if ri.size == 0:
        return out
    # Track velocity in ECEF: east = (-sin lon, cos lon, 0), north = (-sin lat cos lon,
    # -sin lat sin lon, cos lat).
    lat = np.radians(trk_lat[tj])
    lon = np.radians(trk_lon[tj])
    ve, vn = trk_ve[tj], trk_vn[tj]
    v = np.stack(
        [
            -np.sin(lon) * ve - np.sin(lat) * np.cos(lon) * vn,
            np.cos(lon) * ve - np.sin(lat) * np.sin(lon) * vn,
            np.cos(lat) * vn,
        ],
        axis=1,
    )
    d = p_rep[ri] - (p_trk[tj] + v * (rep_t[ri] - trk_t)[:, None])
    var = rep_sigma_h[ri] ** 2 + trk_sigma_h[tj] ** 2
    d2 = np.einsum("ij,ij->i", d, d) / var
    ok = d2 <= gate_d2
    ri, tj, d2, var = ri[ok], tj[ok], d2[ok], var[ok]
    if ri.size == 0:
        return out
    # One optimal assignment per connected group of gated pairs: the groups are small
    # (a few aircraft near each other), and a dense matrix over all of them at once would
    # be O(reports x tracks) memory (17 GB for a 50k-track radar feed meeting 42k tracks).
    ur, r_pos = np.unique(ri, return_inverse=True)
    ut, t_pos = np.unique(tj, return_inverse=True)
    cost = d2 + np.log(var)
    graph = coo_matrix((np.ones(ri.size), (r_pos, ur.size + t_pos)), shape=(ur.size + ut.size,) * 2)
    _, label = connected_components(graph, directed=False)
    comp = label[r_pos]
    order = np.argsort(comp, kind="stable")
    bounds = np.flatnonzero(np.r_[True, comp[order][1:] != comp[order][:-1], True])
    single = np.diff(bounds) == 1  # one report, one track: nothing to choose
    e1 = order[bounds[:-1][single]]
    out[ur[r_pos[e1]]] = ut[t_pos[e1]]
    for k in np.flatnonzero(~single):
        e = order[bounds[k] : bounds[k + 1]]  # the pairs of one group
        rr, r_loc = np.unique(r_pos[e], return_inverse=True)
        tt, t_loc = np.unique(t_pos[e], return_inverse=True)
        block = np.full((rr.size, tt.size), _NO_PAIR)
        block[r_loc, t_loc] = cost[e]
        a, b = linear_sum_assignment(block)
        real = block[a, b] < _NO_PAIR
        out[ur[rr[a[real]]]] = ut[tt[b[real]]]
    return out
