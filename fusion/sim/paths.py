"""Manoeuvring truth motion: aircraft that fly straight legs and coordinated turns and
climb, descend or level off on a piecewise-linear altitude profile.

:mod:`fusion.sim.motion` flies every aircraft in one straight line; this module adds the
manoeuvres that an alert benchmark needs (turns onto final, blunders, turns and climbs
into conflict). A :class:`Path` is one aircraft's motion in the east-north plane of the
scenario centre (a WGS-84 tangent plane, as :class:`fusion.sim.motion.Motion` uses one
per aircraft), built leg by leg with :class:`PathBuilder`; a :class:`PathSet` is the
paths of a scenario and is what :attr:`fusion.sim.scenario.Scenario.trajectory` takes, so
that every sensor model samples the manoeuvring truth through
:func:`fusion.sim.scenario.positions` unchanged.

Horizontal: legs at constant ground speed, each straight or a coordinated turn at a
constant rate (standard rate: 3 deg/s). Headings are degrees clockwise from north at the
edge, radians inside; a turn rate is positive to the right (clockwise). Before its first
leg an aircraft is extrapolated straight back on that leg's heading; after its last leg it
carries on with it. Vertical: altitude (m, pressure altitude taken as height, as the rest
of the simulator does) linear between breakpoints (s after t0, m), constant before the
first and after the last. Times are seconds after the scenario start (tau).

Positions: plane point (e, n, 0) of the centre's ENU frame -> ECEF -> geodetic latitude
and longitude (the point's foot on the ellipsoid), exactly as ``Motion`` does; the
velocity is the plane velocity projected on the local east and north axes and scaled to
the foot, so that it is the derivative of the reported positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np

from fusion.sim.motion import F64, I64, Motion, motion_of
from kernels import geo

STANDARD_RATE_DPS: Final = 3.0  # rate-one turn, deg/s (a 360 in two minutes)


@dataclass(frozen=True)
class Leg:
    """One leg from ``t0`` (s after the scenario start): position (e0, n0) m in the
    centre's ENU plane, heading ``psi0`` (rad clockwise from north) at the start, ground
    speed ``speed`` m/s, turn rate ``rate`` rad/s (positive right, 0 straight)."""

    t0: float
    e0: float
    n0: float
    psi0: float
    speed: float
    rate: float = 0.0

    def at(self, dt: F64) -> tuple[F64, F64, F64]:
        """(e, n, heading) after dt seconds on this leg (dt float64[...]); before its
        start (dt < 0) the leg is extrapolated straight back on its initial heading."""
        v, w, p0 = self.speed, self.rate, self.psi0
        back = np.minimum(dt, 0.0)
        e = self.e0 + v * math.sin(p0) * back
        n = self.n0 + v * math.cos(p0) * back
        if w == 0.0:
            fwd = np.maximum(dt, 0.0)
            return e + v * math.sin(p0) * fwd, n + v * math.cos(p0) * fwd, np.full(dt.shape, p0)
        psi = p0 + w * np.maximum(dt, 0.0)
        # d/dt e = v sin(psi), d/dt n = v cos(psi) with psi = psi0 + w t.
        r = v / w
        return e + r * (math.cos(p0) - np.cos(psi)), n + r * (np.sin(psi) - math.sin(p0)), psi


@dataclass(frozen=True)
class Path:
    """One aircraft: ``legs`` (start times increasing) and the altitude profile
    ``alt_t`` (s after t0, not decreasing) / ``alt_m`` (m)."""

    legs: tuple[Leg, ...]
    alt_t: tuple[float, ...]
    alt_m: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.legs:
            raise ValueError("a path needs at least one leg")
        if any(b.t0 <= a.t0 for a, b in zip(self.legs, self.legs[1:], strict=False)):
            raise ValueError("leg start times must increase")
        if len(self.alt_t) != len(self.alt_m) or not self.alt_t:
            raise ValueError("altitude profile: as many times as altitudes, at least one")
        if any(b < a for a, b in zip(self.alt_t, self.alt_t[1:], strict=False)):
            raise ValueError("altitude profile times must not decrease")

    def horizontal(self, tau: F64) -> tuple[F64, F64, F64, F64]:
        """(e, n, heading rad, ground speed m/s) at times tau (float64[M])."""
        starts = np.array([leg.t0 for leg in self.legs])
        k = np.clip(np.searchsorted(starts, tau, side="right") - 1, 0, len(self.legs) - 1)
        e = np.empty(tau.shape)
        n = np.empty(tau.shape)
        psi = np.empty(tau.shape)
        spd = np.empty(tau.shape)
        for idx in np.unique(k).tolist():
            sel = k == idx
            leg = self.legs[idx]
            e[sel], n[sel], psi[sel] = leg.at(tau[sel] - leg.t0)
            spd[sel] = leg.speed
        return e, n, psi, spd

    def vertical(self, tau: F64) -> tuple[F64, F64]:
        """Altitude (m) and vertical rate (m/s) at times tau (float64[M]); at a
        breakpoint the rate is that of the segment it starts."""
        t = np.asarray(self.alt_t)
        a = np.asarray(self.alt_m)
        alt = np.interp(tau, t, a)
        if t.size < 2:
            return alt, np.zeros(tau.shape)
        dt = np.diff(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(dt > 0.0, np.diff(a) / np.where(dt > 0.0, dt, 1.0), 0.0)
        seg = np.searchsorted(t, tau, side="right") - 1
        inside = (seg >= 0) & (seg < t.size - 1)
        vu = np.where(inside, slope[np.clip(seg, 0, t.size - 2)], 0.0)
        return alt, vu

    def shifted(self, de: float, dn: float) -> Path:
        """The same path moved by (de, dn) metres."""
        return replace(self, legs=tuple(replace(g, e0=g.e0 + de, n0=g.n0 + dn) for g in self.legs))

    def end_state(self) -> tuple[float, float, float, float, float]:
        """(t0, e, n, heading rad, speed) at the start of the last leg."""
        g = self.legs[-1]
        return g.t0, g.e0, g.n0, g.psi0, g.speed


@dataclass
class PathBuilder:
    """Builds a :class:`Path` leg by leg, forwards in time from a start state.

    ``PathBuilder(t0, e, n, heading_deg, speed_ms, alt_m)``, then ``straight``, ``turn``,
    ``straight_to`` (horizontal) and ``level_until`` / ``climb`` (vertical, with their own
    clock), then :meth:`build`.
    """

    t: float
    e: float
    n: float
    heading_deg: float
    speed_ms: float
    alt_m: float
    _legs: list[Leg] = field(default_factory=list)
    _alt_t: list[float] = field(default_factory=list)
    _alt: list[float] = field(default_factory=list)
    _t_vert: float = math.nan

    def __post_init__(self) -> None:
        self._alt_t.append(self.t)
        self._alt.append(self.alt_m)
        self._t_vert = self.t

    def _leg(self, rate_rad_s: float) -> Leg:
        leg = Leg(self.t, self.e, self.n, math.radians(self.heading_deg), self.speed_ms, rate_rad_s)
        if self._legs and self._legs[-1].t0 == self.t:
            self._legs[-1] = leg  # a zero-length leg before it: replaced
        else:
            self._legs.append(leg)
        return leg

    def _advance(self, leg: Leg, dt: float) -> None:
        e, n, psi = leg.at(np.array([dt]))
        self.t += dt
        self.e, self.n = float(e[0]), float(n[0])
        self.heading_deg = math.degrees(float(psi[0])) % 360.0

    def straight(self, dt: float) -> PathBuilder:
        """Fly straight on for dt seconds."""
        if dt < 0:
            raise ValueError(f"straight leg of negative length {dt}")
        self._advance(self._leg(0.0), dt)
        return self

    def straight_to(self, t: float) -> PathBuilder:
        """Fly straight on until time t (s after t0)."""
        return self.straight(t - self.t)

    def turn(self, delta_deg: float, rate_dps: float = STANDARD_RATE_DPS) -> PathBuilder:
        """A coordinated turn through ``delta_deg`` (positive right, clockwise) at
        ``rate_dps`` deg/s (> 0), at constant ground speed."""
        if not rate_dps > 0:
            raise ValueError(f"turn rate must be > 0, got {rate_dps}")
        if delta_deg == 0.0:
            return self
        w = math.copysign(math.radians(rate_dps), delta_deg)
        self._advance(self._leg(w), abs(delta_deg) / rate_dps)
        self._leg(0.0)  # straight on after the turn until told otherwise
        return self

    def level_until(self, t: float) -> PathBuilder:
        """Hold the current altitude until time t."""
        if t < self._t_vert:
            raise ValueError(f"vertical profile goes back in time: {t} < {self._t_vert}")
        self._alt_t.append(t)
        self._alt.append(self._alt[-1])
        self._t_vert = t
        return self

    def climb(self, rate_ms: float, to_alt_m: float) -> PathBuilder:
        """Climb (rate > 0) or descend (rate < 0) at rate_ms m/s from the vertical clock's
        time until ``to_alt_m``; then level."""
        delta = to_alt_m - self._alt[-1]
        if delta == 0.0:
            return self
        if rate_ms == 0.0 or math.copysign(1.0, delta) != math.copysign(1.0, rate_ms):
            raise ValueError(f"rate {rate_ms} m/s does not reach {to_alt_m} m from {self._alt[-1]}")
        self._t_vert += delta / rate_ms
        self._alt_t.append(self._t_vert)
        self._alt.append(to_alt_m)
        return self

    @property
    def t_vertical(self) -> float:
        """The vertical profile's clock: the end of its last segment (s after t0)."""
        return self._t_vert

    def build(self) -> Path:
        if not self._legs:
            self._leg(0.0)
        return Path(tuple(self._legs), tuple(self._alt_t), tuple(self._alt))


def _enu_axes(lat_deg: F64, lon_deg: F64) -> tuple[F64, F64]:
    """East and north unit vectors in ECEF at geodetic points: two float64[..., 3]."""
    lat = np.radians(lat_deg)
    lon = np.radians(lon_deg)
    slat, clat, slon, clon = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    east = np.stack([-slon, clon, np.zeros_like(lon)], axis=-1)
    north = np.stack([-slat * clon, -slat * slon, clat], axis=-1)
    return east, north


@dataclass(frozen=True, eq=False)
class PathSet:
    """The paths of a scenario's N aircraft in the ENU plane of (centre_lat_deg,
    centre_lon_deg); a :class:`fusion.sim.scenario.Trajectory`."""

    centre_lat_deg: float
    centre_lon_deg: float
    paths: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def plane(self, rows: I64, tau: F64) -> tuple[F64, F64, F64, F64, F64, F64]:
        """(e, n, alt, heading rad, speed, vu) in the centre's plane, rows and tau
        broadcast together."""
        rows_b, tau_b = np.broadcast_arrays(np.asarray(rows, dtype=np.int64), tau)
        shape = tau_b.shape
        r = rows_b.ravel()
        s = np.asarray(tau_b, dtype=np.float64).ravel()
        out = [np.empty(s.shape) for _ in range(6)]
        for row in np.unique(r).tolist():
            sel = r == row
            p = self.paths[row]
            e, n, psi, spd = p.horizontal(s[sel])
            alt, vu = p.vertical(s[sel])
            for k, v in enumerate((e, n, alt, psi, spd, vu)):
                out[k][sel] = v
        return tuple(np.reshape(a, shape) for a in out)  # type: ignore[return-value]

    def state(self, rows: I64, tau: F64) -> tuple[F64, F64, F64, F64, F64, F64]:
        """(lat_deg, lon_deg, alt_m, ve_ms, vn_ms, vu_ms) of aircraft ``rows`` at scenario
        times ``tau`` (broadcast together), as :func:`fusion.sim.scenario.positions`."""
        e, n, alt, psi, spd, vu = self.plane(rows, tau)
        shape = e.shape
        enu = np.stack([e.ravel(), n.ravel(), np.zeros(e.size)], axis=1)
        xyz = geo.enu_to_ecef(enu, self.centre_lat_deg, self.centre_lon_deg, 0.0)
        lat, lon, h = geo.ecef_to_geodetic(xyz)
        # The plane velocity is fixed in ECEF; project it on the axes where the aircraft
        # is now and scale it to the foot point (see fusion.sim.motion.kinematics).
        c_east, c_north = _enu_axes(
            np.array([self.centre_lat_deg]), np.array([self.centre_lon_deg])
        )
        p = psi.ravel()
        v = spd.ravel()
        vel = (v * np.sin(p))[:, None] * c_east + (v * np.cos(p))[:, None] * c_north
        east, north = _enu_axes(lat, lon)
        w = np.sqrt(1.0 - geo.WGS84_E2 * np.sin(np.radians(lat)) ** 2)
        r_n = geo.WGS84_A / w
        r_m = r_n * (1.0 - geo.WGS84_E2) / (w * w)
        ve = np.einsum("ij,ij->i", vel, east) * r_n / (r_n + h)
        vn = np.einsum("ij,ij->i", vel, north) * r_m / (r_m + h)
        out = (lat, lon, alt.ravel(), ve, vn, vu.ravel())
        return tuple(np.reshape(a, shape) for a in out)  # type: ignore[return-value]

    def first_legs(self) -> Motion:
        """Each aircraft's first leg as straight-line :class:`Motion` (origin at the
        centre, altitude at tau = 0, level): what ``Scenario.motion`` holds when the
        scenario's positions come from this set."""
        n = len(self.paths)
        e0 = np.empty(n)
        n0 = np.empty(n)
        ve = np.empty(n)
        vn = np.empty(n)
        alt = np.empty(n)
        for k, p in enumerate(self.paths):
            g = p.legs[0]
            e, nn, _ = g.at(np.array([-g.t0]))
            e0[k], n0[k] = e[0], nn[0]
            ve[k], vn[k] = g.speed * math.sin(g.psi0), g.speed * math.cos(g.psi0)
            alt[k] = float(p.vertical(np.array([0.0]))[0][0])
        return motion_of(
            origin_lat_deg=np.full(n, self.centre_lat_deg),
            origin_lon_deg=np.full(n, self.centre_lon_deg),
            e0_m=e0,
            n0_m=n0,
            ve_ms=ve,
            vn_ms=vn,
            alt0_m=alt,
            vu_ms=np.zeros(n),
            level_off_m=np.full(n, math.nan),
        )
