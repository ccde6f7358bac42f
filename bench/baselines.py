"""Baselines for the screening benchmark.

* :func:`numba_all_pairs`: the Numba all-pairs loop, :func:`kernels.screen.screen_all_pairs`
  (every pair i < j, O(N^2) time, O(N + conflicts) memory). It is the brute force whose
  conflict set the fast screening must reproduce exactly.
* :func:`numpy_all_pairs`: state-based conflict detection over full N x N matrices in
  plain NumPy, shaped like BlueSky's ``StateBased.detect`` (matrices of relative position
  and velocity, t_cpa, d_cpa, horizontal entry/exit, vertical crossing times, their
  intersection with the look-ahead), O(N^2) time **and** memory.

Unlike BlueSky, which takes relative positions from a flat-earth bearing/distance
(``kwikqdrdist``) and the quadratic's textbook roots, :func:`numpy_all_pairs` uses the
formulas of ``kernels/screen.py`` and ``kernels/cpa.py`` term by term (the same order of
floating-point operations): pair (i, j) in ENU_i at track i's sub-point, relative
velocity rotated through ECEF, discriminant by Lagrange's identity, roots q / a and c / q,
strict inequalities, window clamped to [0, T], the same far-side gate. Its conflict set
therefore equals the brute force's (up to decisions within a few ulp of a boundary, which
the benchmark would report). It assumes horizontal relative speeds of 0 or between 2^-300
and 2^300 m/s (the kernel rescales outside), which any traffic satisfies.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kernels.geo import WGS84_A, WGS84_B, WGS84_E2
from kernels.screen import Conflicts, screen_all_pairs

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Live N x N temporaries of numpy_all_pairs at its peak, in bytes per (ordered) pair: the
# estimate the benchmark starts from before it has measured one (it then uses the measured
# figure). Counted from the code below: ~9 float64 matrices and a few bool ones.
NUMPY_BYTES_PER_PAIR_ESTIMATE = 80.0

# kernels.screen's far-side gate depth, m (the smallest radius of curvature, b^2 / a).
FAR_GATE_M = WGS84_B * WGS84_B / WGS84_A


def numba_all_pairs(
    lat_deg: F64,
    lon_deg: F64,
    alt_m: F64,
    ve: F64,
    vn: F64,
    vu: F64,
    D: float,
    H: float,
    T: float,
) -> Conflicts:
    """Brute force: :func:`kernels.screen.screen_all_pairs` (same arguments and units)."""
    return screen_all_pairs(lat_deg, lon_deg, alt_m, ve, vn, vu, D, H, T)


def _geometry(lat_deg: F64, lon_deg: F64, ve: F64, vn: F64, vu: F64) -> tuple[F64, ...]:
    """Per-track sub-point ECEF (m), east and north unit vectors, ECEF velocity (m/s) and
    up unit vector, each float64[N], as kernels.screen builds its ``geom`` table."""
    lat = np.radians(lat_deg)
    lon = np.radians(lon_deg)
    slat = np.sin(lat)
    clat = np.cos(lat)
    slon = np.sin(lon)
    clon = np.cos(lon)
    nrad = WGS84_A / np.sqrt(1.0 - WGS84_E2 * slat * slat)
    x = nrad * clat * clon
    y = nrad * clat * slon
    z = (nrad * (1.0 - WGS84_E2)) * slat
    ex, ey, ez = -slon, clon, np.zeros_like(lat)
    nx, ny, nz = -slat * clon, -slat * slon, clat
    ux, uy, uz = clat * clon, clat * slon, slat
    vx = ve * ex + vn * nx + vu * ux
    vy = ve * ey + vn * ny + vu * uy
    vz = ve * ez + vn * nz + vu * uz
    return x, y, z, ex, ey, ez, nx, ny, nz, vx, vy, vz, ux, uy, uz


def numpy_all_pairs(
    lat_deg: F64,
    lon_deg: F64,
    alt_m: F64,
    ve: F64,
    vn: F64,
    vu: F64,
    D: float,
    H: float,
    T: float,
) -> tuple[I64, I64]:
    """Every pair (i < j) that loses separation within [0, T], from full N x N matrices.

    lat_deg, lon_deg: float64[N], degrees (WGS-84); alt_m: float64[N], m; ve, vn, vu:
    float64[N], m/s in each track's own ENU. D: horizontal radius, m; H: vertical
    half-height, m; T: look-ahead, s. Returns (i, j), int64[K] each, sorted by (i, j).
    Memory: about :data:`NUMPY_BYTES_PER_PAIR_ESTIMATE` bytes per ordered pair (N^2).
    """
    x, y, z, ex, ey, ez, nx, ny, nz, gvx, gvy, gvz, ux, uy, uz = _geometry(
        lat_deg, lon_deg, ve, vn, vu
    )
    c = np.newaxis
    # Row i, column j: track j relative to track i, in ENU_i (BlueSky's [own, intruder]).
    dx = x[c, :] - x[:, c]
    dy = y[c, :] - y[:, c]
    dz = z[c, :] - z[:, c]
    px = ex[:, c] * dx
    px += ey[:, c] * dy
    px += ez[:, c] * dz
    py = nx[:, c] * dx
    py += ny[:, c] * dy
    py += nz[:, c] * dz
    # The far-side gate of kernels.screen: j more than b^2 / a below i's tangent plane.
    depth = ux[:, c] * dx
    depth += uy[:, c] * dy
    depth += uz[:, c] * dz
    near = depth >= -FAR_GATE_M
    del dx, dy, dz, depth
    vx = ex[:, c] * gvx[c, :]
    vx += ey[:, c] * gvy[c, :]
    vx += ez[:, c] * gvz[c, :]
    vx -= ve[:, c]
    vy = nx[:, c] * gvx[c, :]
    vy += ny[:, c] * gvy[c, :]
    vy += nz[:, c] * gvz[c, :]
    vy -= vn[:, c]

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Horizontal: open interval (h_lo, h_hi) of |p + v t| < D.
        a = vx * vx
        a += vy * vy
        b = px * vx
        b += py * vy
        cross = px * vy
        cross -= py * vx
        stationary = (vx == 0.0) & (vy == 0.0)
        del vx, vy
        disc = cross
        disc *= disc
        np.subtract(a * (D * D), disc, out=disc)  # a D^2 - (p x v)^2
        del cross
        cc = px * px
        cc += py * py
        inside_now = cc < D * D
        cc -= D * D  # |p|^2 - D^2
        del px, py
        q = np.sqrt(disc)
        np.copysign(q, b, out=q)
        q += b
        np.negative(q, out=q)  # q = -(b + sign(b) sqrt(disc))
        del b
        r1 = q / a
        np.divide(cc, q, out=cc)  # r2 = c / q
        r2 = cc
        del q
        h_ok = (disc > 0.0) & ~stationary
        del disc
        h_lo = np.minimum(r1, r2)
        h_hi = np.maximum(r1, r2)
        h_ok &= (r1 < r2) | (r2 < r1)  # not equal and neither NaN
        del r1, r2, cc, a
        # Stationary pairs: inside for all t or never.
        h_lo[stationary] = -np.inf
        h_hi[stationary] = np.inf
        h_ok |= stationary & inside_now
        del stationary, inside_now

        # Vertical: open interval (z_lo, z_hi) of |pz + vz t| < H.
        pz = alt_m[c, :] - alt_m[:, c]
        vz = vu[c, :] - vu[:, c]
        level = vz == 0.0
        z_ok = np.abs(pz) < H
        z_ok &= level
        r1 = -H - pz
        r1 /= vz
        r2 = np.subtract(H, pz, out=pz)
        r2 /= vz
        del vz
        np.logical_or(z_ok, ~level & ((r1 < r2) | (r2 < r1)), out=z_ok)
        # lo = max(h_lo, z_lo), hi = min(h_hi, z_hi); level pairs inside: z = (-inf, inf).
        z_lo = np.minimum(r1, r2)
        z_hi = np.maximum(r1, r2, out=r2)
        del r1
        z_lo[level] = -np.inf
        z_hi[level] = np.inf
        del level
        lo = np.maximum(h_lo, z_lo, out=h_lo)
        hi = np.minimum(h_hi, z_hi, out=h_hi)
        del z_lo, z_hi
        conflict = h_ok
        conflict &= z_ok
        conflict &= near
        del z_ok, near
        conflict &= lo < hi
        conflict &= lo < T
        conflict &= hi > 0.0
        if not T >= 0.0:
            conflict[:] = False
        del lo, hi
    i, j = np.nonzero(conflict)  # row-major: sorted by (i, j)
    upper = i < j
    return i[upper].astype(np.int64), j[upper].astype(np.int64)
