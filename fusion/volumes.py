"""Airspace volumes: separation minima per volume, inhibition volumes, eligibility rules.

A TOML file at the edge (feet, nautical miles, knots, degrees), SI inside (metres, m/s).
``load_volumes(path)`` reads it into an :class:`AirspaceVolumes`, whose lookups work on whole
track arrays at once: :meth:`AirspaceVolumes.volume_of`, :meth:`AirspaceVolumes.inhibited`,
:meth:`AirspaceVolumes.eligible`, :meth:`AirspaceVolumes.in_formation` and
:meth:`AirspaceVolumes.pair_minima`. ``docs/volumes.md`` describes the file, the rules and
how the detection cycle (:class:`fusion.detect.Detector`) uses them;
``docs/airspace.example.toml`` is an example.

Rules, in short (docs/volumes.md has the reasons):

- A volume is a closed set: a point on an edge or a vertex of its polygon (within
  ``EDGE_TOL_DEG``), or exactly at its floor or ceiling, is inside.
- Where separation volumes overlap, the first one listed in the file wins.
- A pair's minima are the larger of its two tracks' minima, each axis on its own; a track
  in no separation volume has the caller's default minima.
- Ground traffic: altitude below ``max_alt_ft`` AND ground speed below ``max_speed_kt``.
- Formation: horizontal distance, vertical distance, horizontal velocity difference and
  vertical rate difference all below their limits, at the cycle time.

Point in polygon is planar in (longitude, latitude), after unwrapping longitudes around
the polygon so that one crossing the antimeridian is one piece: edges are straight lines in
latitude/longitude (exact for meridians and parallels, not great circles), and polygons must
not contain or touch a pole.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fusion.config import FPM, FT, NM, ConfigError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

KT = NM / 3600.0  # metres per second per knot
EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG), for the formation distance only
# A point this close to an edge, in the (unwrapped longitude, latitude) plane, is on it:
# 1e-9 degree is 0.1 mm, far below any surveillance accuracy, and far above the rounding
# of the unwrapping (about 1e-13 degree), so a point given exactly on an edge is on it.
EDGE_TOL_DEG = 1e-9
# Emergency codes (unlawful interference, radio failure, emergency): an aircraft squawking
# one of them is the last one whose alerts should be switched off.
EMERGENCY_MODE3A = frozenset({0o7500, 0o7600, 0o7700})

VolumeKind = Literal["separation", "inhibition"]
KINDS: tuple[VolumeKind, ...] = ("separation", "inhibition")

_VOLUME_KEYS = (
    "name",
    "kind",
    "description",
    "polygon_latlon_deg",
    "floor_ft",
    "ceiling_ft",
    "sep_h_nm",
    "sep_v_ft",
)
_ELIGIBILITY_KEYS = ("excluded_mode3a_octal", "ground", "formation")
_GROUND_KEYS = ("max_alt_ft", "max_speed_kt")
_FORMATION_KEYS = ("max_dist_h_nm", "max_dist_v_ft", "max_dv_h_kt", "max_dv_v_fpm")
_OCTAL4 = re.compile(r"[0-7]{4}")
# Rows x edges of one broadcast block in the polygon test: bounds the temporaries to a few
# MB whatever the number of tracks.
_BLOCK = 1 << 17


# ----------------------------------------------------------------------------- polygons


@dataclass(frozen=True, eq=False)
class _Ring:
    """A polygon prepared for the planar test: vertex longitudes unwrapped around it.

    Edge k runs from (ax[k], ay[k]) to (bx[k], by[k]), float64[E] each, x an unwrapped
    longitude and y a latitude in degrees; the last edge closes the ring. The x values span
    less than 360 degrees; a point's longitude is moved by whole turns into the window
    [centre_x - 180, centre_x + 180).
    """

    ax: F64
    ay: F64
    bx: F64
    by: F64
    dx: F64
    dy: F64
    dy_safe: F64  # dy, with 1 where dy == 0: such an edge is never crossed by the ray
    inv_len2: F64
    centre_x: float
    xmin: float
    xmax: float
    ymin: float
    ymax: float

    def contains(self, lat_deg: F64, lon_deg: F64) -> Bool:
        """Inside or on the boundary, bool[N], for lat_deg, lon_deg: float64[N], degrees."""
        out = np.zeros(lat_deg.shape, dtype=np.bool_)
        tol = EDGE_TOL_DEG
        cand = np.flatnonzero(
            (lat_deg >= self.ymin - tol) & (lat_deg <= self.ymax + tol) & np.isfinite(lon_deg)
        )
        if cand.size == 0:
            return out
        lon = lon_deg[cand]
        # The same operation as in _prepare_ring (lon + 360 k with k whole), so a point given
        # at a vertex's longitude lands on exactly the vertex's unwrapped value.
        x = lon - 360.0 * np.floor((lon - (self.centre_x - 180.0)) / 360.0)
        keep = (x >= self.xmin - tol) & (x <= self.xmax + tol)
        cand, x = cand[keep], x[keep]
        y = lat_deg[cand]
        step = max(1, _BLOCK // self.ax.size)
        for s in range(0, cand.size, step):
            px = x[s : s + step, None]
            py = y[s : s + step, None]
            # Closed set: within tol of an edge is inside.
            rx, ry = px - self.ax, py - self.ay
            t = np.clip((rx * self.dx + ry * self.dy) * self.inv_len2, 0.0, 1.0)
            ex, ey = rx - t * self.dx, ry - t * self.dy
            on_edge = np.any(ex * ex + ey * ey <= tol * tol, axis=1)
            # Crossing number, ray towards +x; the half-open rule (ay > py) != (by > py)
            # counts a vertex on the ray once.
            straddle = (self.ay > py) != (self.by > py)
            x_cross = self.ax + (py - self.ay) * (self.dx / self.dy_safe)
            odd = (np.count_nonzero(straddle & (px < x_cross), axis=1) & 1).astype(np.bool_)
            out[cand[s : s + step]] = odd | on_edge
        return out


def _orient(px: Any, py: Any, qx: Any, qy: Any, rx: Any, ry: Any) -> Any:
    """Twice the signed area of triangle p, q, r (> 0 counter-clockwise)."""
    return (qx - px) * (ry - py) - (qy - py) * (rx - px)


def _prepare_ring(vertices: Sequence[tuple[float, float]], where: str) -> _Ring:
    """Check a polygon (lat, lon vertices in degrees) and prepare it for the planar test."""
    key = f"{where}: polygon_latlon_deg"
    n = len(vertices)
    if n < 3:
        raise ConfigError(f"{key} needs at least 3 vertices, got {n}")
    lat = np.array([v[0] for v in vertices], dtype=np.float64)
    lon = np.array([v[1] for v in vertices], dtype=np.float64)
    for k in range(n):
        if not -90.0 <= lat[k] <= 90.0:
            raise ConfigError(f"{key}[{k}]: latitude {lat[k]:g} outside [-90, 90]")
        if not -180.0 <= lon[k] <= 180.0:
            raise ConfigError(f"{key}[{k}]: longitude {lon[k]:g} outside [-180, 180]")
        if abs(lat[k]) == 90.0:
            raise ConfigError(
                f"{key}[{k}]: a vertex on a pole is not supported (the planar test needs "
                "polygons that neither touch nor contain a pole)"
            )
    nxt = np.roll(np.arange(n), -1)
    dlon = (lon[nxt] - lon + 180.0) % 360.0 - 180.0  # shorter way round, in [-180, 180)
    for k in range(n):
        if lat[k] == lat[nxt[k]] and dlon[k] == 0.0:
            raise ConfigError(f"{key}[{k}] and [{nxt[k]}] are the same point")
        if dlon[k] == -180.0:
            raise ConfigError(
                f"{key}: edge {k} spans 180 degrees of longitude; which way round it goes is "
                "ambiguous (add a vertex)"
            )
    if abs(float(dlon.sum())) > 180.0:
        raise ConfigError(f"{key}: the polygon encircles a pole, which is not supported")
    # Unwrap by whole turns (lon + 360 k): the same rounding as the points get in contains.
    walked = lon[0] + np.concatenate(([0.0], np.cumsum(dlon[:-1])))
    turns = np.round((walked - lon) / 360.0)
    x = lon + 360.0 * turns
    xmin, xmax = float(x.min()), float(x.max())
    if xmax - xmin >= 360.0:
        raise ConfigError(f"{key}: the polygon spans 360 degrees of longitude or more")
    _check_simple(x, lat, key)
    bx, by = x[nxt], lat[nxt]
    # Simple and of zero area: all vertices on one line (caught above unless rounding hid it).
    if float(np.sum(x * by - bx * lat)) == 0.0:
        raise ConfigError(f"{key}: the polygon has zero area (its vertices are collinear)")
    dx, dy = bx - x, by - lat
    return _Ring(
        ax=x,
        ay=lat,
        bx=bx,
        by=by,
        dx=dx,
        dy=dy,
        dy_safe=np.where(dy == 0.0, 1.0, dy),
        inv_len2=1.0 / (dx * dx + dy * dy),
        centre_x=0.5 * (xmin + xmax),
        xmin=xmin,
        xmax=xmax,
        ymin=float(lat.min()),
        ymax=float(lat.max()),
    )


def _check_simple(x: F64, y: F64, key: str) -> None:
    """Raise unless the ring (x, y: float64[n]) is simple: no edge turns back along the one
    before it, and no two non-adjacent edges cross or touch. O(n^2), at load time only."""
    n = x.size
    nxt = np.roll(np.arange(n), -1)
    prv = np.roll(np.arange(n), 1)
    # At vertex k: edge k-1 comes in, edge k goes out; collinear and reversed is a spike.
    ux, uy = x - x[prv], y - y[prv]
    wx, wy = x[nxt] - x, y[nxt] - y
    spike = (ux * wy - uy * wx == 0.0) & (ux * wx + uy * wy < 0.0)
    if spike.any():
        k = int(np.flatnonzero(spike)[0])
        raise ConfigError(f"{key}: the boundary turns back on itself at vertex {k}")
    ax, ay, bx, by = x, y, x[nxt], y[nxt]
    for k in range(n - 2):
        # Edges k+2 .. n-1, without n-1 when k == 0 (it shares vertex 0 with edge 0).
        m = np.arange(k + 2, n if k > 0 else n - 1)
        if m.size == 0:
            continue
        cx, cy, ex, ey = ax[m], ay[m], bx[m], by[m]
        d1 = _orient(cx, cy, ex, ey, ax[k], ay[k])
        d2 = _orient(cx, cy, ex, ey, bx[k], by[k])
        d3 = _orient(ax[k], ay[k], bx[k], by[k], cx, cy)
        d4 = _orient(ax[k], ay[k], bx[k], by[k], ex, ey)
        proper = (np.sign(d1) * np.sign(d2) < 0) & (np.sign(d3) * np.sign(d4) < 0)
        touch = (
            ((d1 == 0) & _in_box(cx, cy, ex, ey, ax[k], ay[k]))
            | ((d2 == 0) & _in_box(cx, cy, ex, ey, bx[k], by[k]))
            | ((d3 == 0) & _in_box(ax[k], ay[k], bx[k], by[k], cx, cy))
            | ((d4 == 0) & _in_box(ax[k], ay[k], bx[k], by[k], ex, ey))
        )
        bad = np.flatnonzero(proper | touch)
        if bad.size:
            raise ConfigError(
                f"{key}: edges {k} and {int(m[bad[0]])} cross or touch (the polygon must be "
                "simple; check the vertex order)"
            )


def _in_box(px: Any, py: Any, qx: Any, qy: Any, rx: Any, ry: Any) -> Any:
    """r within the bounding box of segment p-q (r collinear with it: r on the segment)."""
    return (
        (np.minimum(px, qx) <= rx)
        & (rx <= np.maximum(px, qx))
        & (np.minimum(py, qy) <= ry)
        & (ry <= np.maximum(py, qy))
    )


# ------------------------------------------------------------------------------ volumes


@dataclass(frozen=True)
class Volume:
    """One airspace volume: a polygon with an altitude band.

    ``vertices_deg``: (lat, lon) pairs in degrees, WGS-84, in either winding order; a last
    vertex repeating the first is dropped. ``floor_m`` / ``ceiling_m``: the altitude band in
    metres, on the scale of the tracks' ``alt_m`` (pressure altitude where reported),
    ``-inf`` / ``inf`` allowed. ``sep_h_m`` / ``sep_v_m``: a separation volume's horizontal
    and vertical minima in metres; ``None`` for an inhibition volume. Invalid values raise
    :class:`fusion.config.ConfigError` naming the volume and the file's key.
    """

    name: str
    kind: VolumeKind
    vertices_deg: tuple[tuple[float, float], ...]
    floor_m: float
    ceiling_m: float
    sep_h_m: float | None = None
    sep_v_m: float | None = None
    description: str = ""
    _ring: _Ring = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"volume {self.name!r}"
        if not self.name.strip():
            raise ConfigError("volume name must not be empty")
        if self.kind not in KINDS:
            raise ConfigError(f"{where}: kind must be one of {list(KINDS)}, got {self.kind!r}")
        if not self.floor_m < self.ceiling_m:
            raise ConfigError(
                f"{where}: floor_ft ({self.floor_m / FT:g}) must be below "
                f"ceiling_ft ({self.ceiling_m / FT:g})"
            )
        if self.kind == "separation":
            for key, value, unit in (
                ("sep_h_nm", self.sep_h_m, NM),
                ("sep_v_ft", self.sep_v_m, FT),
            ):
                if value is None:
                    raise ConfigError(f"{where}: {key} is required for a separation volume")
                if not 0.0 < value < math.inf:
                    raise ConfigError(
                        f"{where}: {key} must be > 0 and finite, got {value / unit:g}"
                    )
        else:
            for key, value in (("sep_h_nm", self.sep_h_m), ("sep_v_ft", self.sep_v_m)):
                if value is not None:
                    raise ConfigError(
                        f"{where}: {key} applies to separation volumes only; an inhibition "
                        "volume has no minima"
                    )
        verts = tuple((float(a), float(b)) for a, b in self.vertices_deg)
        if len(verts) >= 4 and verts[0] == verts[-1]:
            verts = verts[:-1]
        object.__setattr__(self, "vertices_deg", verts)
        object.__setattr__(self, "_ring", _prepare_ring(verts, where))

    def contains(self, lat_deg: F64, lon_deg: F64, alt_m: F64) -> Bool:
        """Whether each point is in the volume (boundary included), bool[N].

        lat_deg, lon_deg: float64[N], degrees, any longitude convention (mapped around the
        polygon); alt_m: float64[N], metres. A non-finite coordinate is outside.
        """
        lat, lon, alt = _columns(lat_deg, lon_deg, alt_m)
        out = np.zeros(lat.shape, dtype=np.bool_)
        idx = np.flatnonzero((alt >= self.floor_m) & (alt <= self.ceiling_m))
        if idx.size:
            out[idx] = self._ring.contains(lat[idx], lon[idx])
        return out


# -------------------------------------------------------------------------- eligibility


@dataclass(frozen=True)
class GroundRule:
    """Ground traffic: altitude below ``max_alt_m`` (metres, on the tracks' altitude
    scale) AND ground speed below ``max_speed_mps`` (m/s). Both, so that neither a low
    approach nor a hovering helicopter is taken for a taxiing aircraft."""

    max_alt_m: float
    max_speed_mps: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.max_alt_m):
            raise ConfigError(f"eligibility.ground.max_alt_ft must be finite, got {self.max_alt_m}")
        if not 0.0 < self.max_speed_mps < math.inf:
            raise ConfigError(
                "eligibility.ground.max_speed_kt must be > 0 and finite, "
                f"got {self.max_speed_mps / KT:g}"
            )


@dataclass(frozen=True)
class FormationRule:
    """A pair flying in formation, judged at the cycle time: horizontal distance below
    ``max_dist_h_m``, altitude difference below ``max_dist_v_m`` (metres), horizontal
    velocity difference (vector norm) below ``max_dv_h_mps`` and vertical rate difference
    below ``max_dv_v_mps`` (m/s). All four strict."""

    max_dist_h_m: float
    max_dist_v_m: float
    max_dv_h_mps: float
    max_dv_v_mps: float

    def __post_init__(self) -> None:
        for key, value, unit in (
            ("max_dist_h_nm", self.max_dist_h_m, NM),
            ("max_dist_v_ft", self.max_dist_v_m, FT),
            ("max_dv_h_kt", self.max_dv_h_mps, KT),
            ("max_dv_v_fpm", self.max_dv_v_mps, FPM),
        ):
            if not 0.0 < value < math.inf:
                raise ConfigError(
                    f"eligibility.formation.{key} must be > 0 and finite, got {value / unit:g}"
                )


@dataclass(frozen=True)
class Eligibility:
    """Which tracks and pairs may raise alerts. Each rule is off when absent.

    ``excluded_mode3a``: Mode 3/A codes as integers (octal 7000 is ``0o7000``); a track
    squawking one raises no alert. Emergency codes 7500, 7600 and 7700 are refused.
    """

    ground: GroundRule | None = None
    formation: FormationRule | None = None
    excluded_mode3a: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        for code in sorted(self.excluded_mode3a):
            if not 0 <= code <= 0o7777:
                raise ConfigError(
                    f"eligibility.excluded_mode3a_octal: {code} is not a Mode 3/A code "
                    "(0000..7777 octal)"
                )
            if code in EMERGENCY_MODE3A:
                raise ConfigError(
                    f"eligibility.excluded_mode3a_octal: {code:04o} is an emergency code; "
                    "its alerts cannot be switched off"
                )

    def eligible(self, alt_m: F64, speed_mps: F64, mode3a: npt.ArrayLike) -> Bool:
        """Tracks that may raise alerts, bool[N].

        alt_m: float64[N], metres; speed_mps: float64[N], ground speed in m/s (the norm of
        ve, vn); mode3a: integer[N], the code's value, -1 when none. A NaN altitude or speed
        does not make a track ground traffic: unknown stays eligible.
        """
        alt = np.asarray(alt_m, dtype=np.float64)
        speed = np.asarray(speed_mps, dtype=np.float64)
        codes = np.asarray(mode3a)
        if not alt.shape == speed.shape == codes.shape or alt.ndim != 1:
            raise ValueError(
                f"alt_m, speed_mps, mode3a must be 1-D of one length, got "
                f"{alt.shape}, {speed.shape}, {codes.shape}"
            )
        ok = np.ones(alt.shape, dtype=np.bool_)
        if self.ground is not None:
            ok &= ~((alt < self.ground.max_alt_m) & (speed < self.ground.max_speed_mps))
        if self.excluded_mode3a:
            excluded = np.fromiter(sorted(self.excluded_mode3a), dtype=np.int64)
            ok &= ~np.isin(codes, excluded)
        return ok

    def in_formation(
        self,
        i: I64,
        j: I64,
        lat_deg: F64,
        lon_deg: F64,
        alt_m: F64,
        ve: F64,
        vn: F64,
        vu: F64,
    ) -> Bool:
        """Pairs (i[k], j[k]) that fly in formation, bool[K]; all False without the rule.

        i, j: int64[K], rows of the track arrays; lat_deg, lon_deg: float64[N], degrees;
        alt_m: float64[N], metres; ve, vn, vu: float64[N], m/s east, north, up. Horizontal
        distance on a sphere of mean radius (within 0.5 % of WGS-84, fine for a threshold of
        a mile or so); velocities compared component-wise, each in its own track's ENU
        frame, which differ by a negligible rotation at formation distances. A NaN anywhere
        makes the pair not a formation.
        """
        ii = np.asarray(i, dtype=np.int64)
        jj = np.asarray(j, dtype=np.int64)
        if ii.shape != jj.shape or ii.ndim != 1:
            raise ValueError(f"i and j must be 1-D of one length, got {ii.shape}, {jj.shape}")
        rule = self.formation
        if rule is None:
            return np.zeros(ii.shape, dtype=np.bool_)
        lat, lon, alt = _columns(lat_deg, lon_deg, alt_m)
        vel_e, vel_n, vel_u = _columns(ve, vn, vu)
        if vel_e.shape != lat.shape:
            raise ValueError("velocity columns must have the length of the position columns")
        p1, p2 = np.radians(lat[ii]), np.radians(lat[jj])
        dl = np.radians(lon[jj] - lon[ii])
        h = np.sin(0.5 * (p2 - p1)) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(0.5 * dl) ** 2
        dist = 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
        dvh = np.hypot(vel_e[jj] - vel_e[ii], vel_n[jj] - vel_n[ii])
        return (  # type: ignore[no-any-return]
            (dist < rule.max_dist_h_m)
            & (np.abs(alt[jj] - alt[ii]) < rule.max_dist_v_m)
            & (dvh < rule.max_dv_h_mps)
            & (np.abs(vel_u[jj] - vel_u[ii]) < rule.max_dv_v_mps)
        )


# ----------------------------------------------------------------------------- airspace


@dataclass(frozen=True)
class AirspaceVolumes:
    """The volumes of one file, in file order, and the eligibility rules.

    Indices returned by :meth:`volume_of` are positions in ``volumes`` (all kinds).
    """

    volumes: tuple[Volume, ...] = ()
    eligibility: Eligibility = field(default_factory=Eligibility)
    source: str = "airspace"
    _sep: I64 = field(init=False, repr=False, compare=False)
    _inh: I64 = field(init=False, repr=False, compare=False)
    _sep_h_m: F64 = field(init=False, repr=False, compare=False)
    _sep_v_m: F64 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for v in self.volumes:
            folded = v.name.strip().casefold()
            if folded in seen:
                raise ConfigError(
                    f"volume {v.name!r}: name already used by volume {seen[folded]!r} "
                    "(names must be unique, ignoring case)"
                )
            seen[folded] = v.name
        kinds = [v.kind for v in self.volumes]
        nan = math.nan
        object.__setattr__(
            self, "_sep", np.array([k for k, x in enumerate(kinds) if x == "separation"], np.int64)
        )
        object.__setattr__(
            self, "_inh", np.array([k for k, x in enumerate(kinds) if x == "inhibition"], np.int64)
        )
        h = [v.sep_h_m if v.sep_h_m is not None else nan for v in self.volumes]
        z = [v.sep_v_m if v.sep_v_m is not None else nan for v in self.volumes]
        object.__setattr__(self, "_sep_h_m", np.array(h, dtype=np.float64))
        object.__setattr__(self, "_sep_v_m", np.array(z, dtype=np.float64))

    def names(self) -> list[str]:
        return [v.name for v in self.volumes]

    def volume_of(self, lat_deg: F64, lon_deg: F64, alt_m: F64) -> I64:
        """Index in ``volumes`` of the separation volume each track is in, int64[N], -1
        for none. Where separation volumes overlap (a terminal area inside an en-route
        sector, a shared edge, a shared floor/ceiling), the first one in the file wins.

        lat_deg, lon_deg: float64[N], degrees; alt_m: float64[N], metres.
        """
        lat, lon, alt = _columns(lat_deg, lon_deg, alt_m)
        out = np.full(lat.shape, -1, dtype=np.int64)
        for k in self._sep.tolist():
            free = np.flatnonzero(out < 0)
            if free.size == 0:
                break
            hit = self.volumes[k].contains(lat[free], lon[free], alt[free])
            out[free[hit]] = k
        return out

    def inhibited(self, lat_deg: F64, lon_deg: F64, alt_m: F64) -> Bool:
        """Tracks inside any inhibition volume (boundary included), bool[N].

        lat_deg, lon_deg: float64[N], degrees; alt_m: float64[N], metres.
        """
        lat, lon, alt = _columns(lat_deg, lon_deg, alt_m)
        out = np.zeros(lat.shape, dtype=np.bool_)
        for k in self._inh.tolist():
            free = np.flatnonzero(~out)
            if free.size == 0:
                break
            out[free] = self.volumes[k].contains(lat[free], lon[free], alt[free])
        return out

    def eligible(self, alt_m: F64, speed_mps: F64, mode3a: npt.ArrayLike) -> Bool:
        """Tracks the eligibility rules let raise alerts, bool[N]; see
        :meth:`Eligibility.eligible` (alt_m: float64[N] m, speed_mps: float64[N] m/s,
        mode3a: integer[N], -1 none)."""
        return self.eligibility.eligible(alt_m, speed_mps, mode3a)

    def in_formation(
        self,
        i: I64,
        j: I64,
        lat_deg: F64,
        lon_deg: F64,
        alt_m: F64,
        ve: F64,
        vn: F64,
        vu: F64,
    ) -> Bool:
        """Pairs flying in formation, bool[K]; see :meth:`Eligibility.in_formation`."""
        return self.eligibility.in_formation(i, j, lat_deg, lon_deg, alt_m, ve, vn, vu)

    def pair_minima(
        self, i: I64, j: I64, vol: I64, default_D_m: float, default_H_m: float
    ) -> tuple[F64, F64]:
        """Each pair's minima (D_m, H_m), float64[K] each, metres.

        i, j: int64[K], rows of the track arrays; vol: int64[N], :meth:`volume_of` of the
        tracks (-1: no separation volume, the default minima apply). Each axis takes the
        larger of the two tracks' minima, the more protective one. H_m is the vertical
        minimum as configured: the caller subtracts its altitude tolerance as it does for
        the default.
        """
        if not (0.0 < default_D_m < math.inf and 0.0 < default_H_m < math.inf):
            raise ValueError(
                f"default minima must be > 0 and finite, got {default_D_m}, {default_H_m}"
            )
        v = np.asarray(vol, dtype=np.int64)
        ii = np.asarray(i, dtype=np.int64)
        jj = np.asarray(j, dtype=np.int64)
        if ii.shape != jj.shape or ii.ndim != 1 or v.ndim != 1:
            raise ValueError(
                f"i, j and vol must be 1-D, i and j of one length: {ii.shape}, {jj.shape}"
            )
        n_vol = len(self.volumes)
        if v.size and (v.min() < -1 or v.max() >= n_vol):
            raise ValueError(f"vol holds an index outside -1..{n_vol - 1}")
        inside = v[v >= 0]
        if inside.size and np.isnan(self._sep_h_m[inside]).any():
            raise ValueError("vol names an inhibition volume; use volume_of's indices")
        # Index -1 picks the default, appended last.
        d_tab = np.append(self._sep_h_m, default_D_m)
        h_tab = np.append(self._sep_v_m, default_H_m)
        vi, vj = v[ii], v[jj]
        return np.maximum(d_tab[vi], d_tab[vj]), np.maximum(h_tab[vi], h_tab[vj])

    def max_minima(self, default_D_m: float, default_H_m: float) -> tuple[float, float]:
        """The largest horizontal and vertical minima (metres) of the separation volumes
        and the default: what one screening pass must use so that it misses no pair."""
        seps = self._sep_h_m[self._sep]
        sepv = self._sep_v_m[self._sep]
        return (
            max([default_D_m, *seps.tolist()]),
            max([default_H_m, *sepv.tolist()]),
        )


def _columns(*cols: npt.ArrayLike) -> tuple[F64, ...]:
    """float64 1-D arrays of one length, or ValueError."""
    out = tuple(np.asarray(c, dtype=np.float64) for c in cols)
    shapes = {c.shape for c in out}
    if len(shapes) != 1 or out[0].ndim != 1:
        raise ValueError(f"expected 1-D arrays of one length, got shapes {[c.shape for c in out]}")
    return out


# ------------------------------------------------------------------------------ loading


def load_volumes(path: str | Path) -> AirspaceVolumes:
    """Read an airspace file (TOML, see docs/volumes.md). Errors are
    :class:`fusion.config.ConfigError` naming the file, the volume and the key."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"airspace file {p} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"airspace file {p} is not valid TOML: {exc}") from None
    return volumes_from_dict(data, source=str(p))


def volumes_from_dict(data: Mapping[str, Any], source: str = "airspace") -> AirspaceVolumes:
    """Build :class:`AirspaceVolumes` from parsed TOML; ``source`` prefixes every error."""
    _known(data, ("volume", "eligibility"), f"{source}: top level")
    raw = data.get("volume", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: volume must be an array of tables ([[volume]])")
    volumes = [_volume(v, k, source) for k, v in enumerate(raw)]
    eligibility = _eligibility(data.get("eligibility", {}), source)
    try:
        return AirspaceVolumes(tuple(volumes), eligibility, source)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _volume(raw: Any, k: int, source: str) -> Volume:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: volume[{k}] must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{source}: volume[{k}]: name must be a non-empty string, got {name!r}")
    where = f"{source}: volume {name!r}"
    _known(raw, _VOLUME_KEYS, where)
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind must be one of {list(KINDS)}, got {kind!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}: description must be a string, got {description!r}")
    floor_ft = _number(raw, "floor_ft", where)
    ceiling_ft = _number(raw, "ceiling_ft", where)
    # Missing minima of a separation volume are reported by Volume, with the others.
    sep_h_nm = _optional_number(raw, "sep_h_nm", where)
    sep_v_ft = _optional_number(raw, "sep_v_ft", where)
    try:
        return Volume(
            name=name,
            kind=kind,
            vertices_deg=_vertices(raw.get("polygon_latlon_deg"), where),
            floor_m=floor_ft * FT,
            ceiling_m=ceiling_ft * FT,
            sep_h_m=None if sep_h_nm is None else sep_h_nm * NM,
            sep_v_m=None if sep_v_ft is None else sep_v_ft * FT,
            description=description,
        )
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _vertices(raw: Any, where: str) -> tuple[tuple[float, float], ...]:
    key = f"{where}: polygon_latlon_deg"
    if raw is None:
        raise ConfigError(f"{key} is missing (required)")
    if not isinstance(raw, list):
        raise ConfigError(f"{key} must be an array of [lat_deg, lon_deg] pairs")
    out = []
    for m, v in enumerate(raw):
        if not (
            isinstance(v, list)
            and len(v) == 2
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in v)
        ):
            raise ConfigError(f"{key}[{m}] must be [lat_deg, lon_deg] (two numbers), got {v!r}")
        out.append((float(v[0]), float(v[1])))
    return tuple(out)


def _eligibility(raw: Any, source: str) -> Eligibility:
    where = f"{source}: eligibility"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table ([eligibility])")
    _known(raw, _ELIGIBILITY_KEYS, where)
    codes = raw.get("excluded_mode3a_octal", [])
    if not isinstance(codes, list):
        raise ConfigError(f"{where}.excluded_mode3a_octal must be an array of strings")
    excluded = set()
    for m, c in enumerate(codes):
        if not isinstance(c, str) or not _OCTAL4.fullmatch(c):
            raise ConfigError(
                f"{where}.excluded_mode3a_octal[{m}]: {c!r} is not four octal digits as a "
                'string, e.g. "7000"'
            )
        excluded.add(int(c, 8))
    ground = formation = None
    g = _subtable(raw, "ground", _GROUND_KEYS, where)
    f = _subtable(raw, "formation", _FORMATION_KEYS, where)
    try:
        if g is not None:
            ground = GroundRule(g["max_alt_ft"] * FT, g["max_speed_kt"] * KT)
        if f is not None:
            formation = FormationRule(
                f["max_dist_h_nm"] * NM,
                f["max_dist_v_ft"] * FT,
                f["max_dv_h_kt"] * KT,
                f["max_dv_v_fpm"] * FPM,
            )
        return Eligibility(ground, formation, frozenset(excluded))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _subtable(
    raw: Mapping[str, Any], name: str, keys: tuple[str, ...], where: str
) -> dict[str, float] | None:
    """The numbers of table ``name`` (all of ``keys`` required), or None when absent."""
    if name not in raw:
        return None
    tab = raw[name]
    here = f"{where}.{name}"
    if not isinstance(tab, dict):
        raise ConfigError(f"{here} must be a table")
    _known(tab, keys, here)
    out: dict[str, float] = {}
    for key in keys:
        out[key] = _number(tab, key, here)
    return out


def _known(raw: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(keys)}")


def _number(raw: Mapping[str, Any], key: str, where: str) -> float:
    """raw[key] as a float (required). NaN is refused; infinities pass to the checks."""
    if key not in raw:
        raise ConfigError(f"{where}: {key} is missing (required)")
    v = raw[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ConfigError(f"{where}: {key} must be a number, got {v!r}")
    if math.isnan(v):
        raise ConfigError(f"{where}: {key} must be a number, got nan")
    return float(v)


def _optional_number(raw: Mapping[str, Any], key: str, where: str) -> float | None:
    return _number(raw, key, where) if key in raw else None
