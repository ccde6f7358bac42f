"""Detection cycle: screen the fused picture of one cycle time for conflicts.

Runs on data time: ``tc`` is a cycle boundary of the data clock, never the wall clock.
The fuser predicts its confirmed system tracks to ``tc`` (:meth:`fusion.fuser.Fuser.picture`);
:class:`Detector` turns that picture into the cycle's conflicting pairs:

1. Slow vertical rates count as level (``level_rate_fpm``).
2. Airspace volumes (optional, :mod:`fusion.volumes`): each track's separation volume;
   tracks inside an inhibition volume, ground traffic and excluded Mode 3/A codes are
   left out of the screen altogether.
3. One screening pass (``kernels.screen.screen_conflicts``, broad phase + exact test) with
   the largest minima of any volume, widened by the hold margin, over the look-ahead
   lengthened by the hold margin: a superset of every pair that matters below.
4. Each of those pairs re-tested exactly with its own minima (the larger of its two
   tracks' volumes; ``kernels.pairwindow.pair_windows``): "raised" if it loses them within
   the look-ahead, "held" if it only loses them widened by ``hold_margin_nm`` within
   ``lookahead_s + hold_margin_s`` (the hysteresis band that keeps an open alert open).
5. Turn hypothesis: tracks whose heading turns faster than ``turn_rate_min_dps`` are also
   predicted on an arc (:func:`turn_windows`), against the tracks within reach; a pair
   the arc brings into conflict is raised too, with the turn's figures when they warn
   earlier than the straight line.
6. Formation pairs (volumes' eligibility rule) are dropped.
7. Confidence of each pair (:func:`confidence`): the probability that the horizontal miss
   distance is below the minimum, given the fused tracks' accuracy.

Python loops here run over the few turning tracks' blocks and the history of a few
cycles, never over all tracks or pairs.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from fusion.config import FT, ConfigError, Thresholds
from fusion.fuser import Picture
from fusion.volumes import AirspaceVolumes
from kernels.broadphase import track_table
from kernels.pairwindow import pair_windows
from kernels.screen import screen_conflicts

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]

# Horizontal chord slack (m) when picking the tracks a turning track can reach: the
# tangent-plane separation differs from the ECEF chord by well under this at the ranges a
# look-ahead covers (kernels/broadphase.py bounds it at 0.1-0.6 km over 120 s).
_REACH_SLACK_M = 2_000.0
# Pairs x samples of one block of the turn test: bounds the temporaries to a few MB.
_TURN_BLOCK = 1 << 16


@dataclass(frozen=True)
class CycleResult:
    """One detection cycle's pairs (raised or held), in track-id order (key_a < key_b).

    Keys are system track ids; slots their rows in the system track table. Shape [K]
    each. Times in seconds (t_in, t_out, t_cpa relative to ``t``), distances in metres.

    - ``raised``: the pair loses its own minima within the look-ahead (under the straight
      line or the turn hypothesis); False: it is only within the hold band (minima widened
      by the hold margin, look-ahead lengthened), which keeps an open alert open but never
      opens or changes one. Figures of a raised pair are those of the hypothesis that
      warns first; of a held pair, those of the hold test.
    - ``sep_h``, ``sep_v``: the pair's own minima (m), the larger of its two tracks'
      volumes on each axis; ``sep_v`` as configured (a loss is ``dz < sep_v -
      alt_tolerance``).
    - ``confidence``: probability (0..1) that the horizontal miss distance is below
      ``sep_h`` given the tracks' accuracy (:func:`confidence`).
    - ``turn``: the figures come from the turn hypothesis.
    - ``volume_a``, ``volume_b``: index in ``volume_names`` of each track's separation
      volume, -1 for none.
    """

    t: float
    n_tracks: int
    expired: I64
    slot_a: I64
    slot_b: I64
    key_a: I64
    key_b: I64
    t_in: F64
    t_out: F64
    t_cpa: F64
    d_cpa: F64
    dz_cpa: F64
    d_now: F64
    dz_now: F64
    raised: B1
    sep_h: F64
    sep_v: F64
    confidence: F64
    turn: B1
    volume_a: I64
    volume_b: I64
    volume_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.key_a.size)


def confidence(d_cpa: F64, t_cpa: F64, sep_h: F64, sigma_pos2: F64, sigma_vel2: F64) -> F64:
    """Probability that the horizontal miss distance is below ``sep_h``, float64[K].

    The predicted miss distance ``d_cpa`` (m, at ``t_cpa`` s ahead) is taken as the mean
    of a Gaussian miss distance across the relative track, whose variance is that of the
    relative position at t_cpa: ``sigma_pos2 + sigma_vel2 * t_cpa**2``, from the sums of
    the two tracks' per-axis position (m^2) and velocity (m^2/s^2) variances. Then
    P(|m| < sep_h) = Phi((sep_h - d) / s) - Phi((-sep_h - d) / s). Along-track errors
    shift the time of the closest approach, not the miss distance, and are left out; so
    is the vertical (altitude errors are small beside 1,000 ft).
    """
    s = np.sqrt(np.maximum(sigma_pos2 + sigma_vel2 * t_cpa * t_cpa, 1.0))
    out: F64 = ndtr((sep_h - d_cpa) / s) - ndtr((-sep_h - d_cpa) / s)
    return np.clip(out, 0.0, 1.0)


def arc_displacement(vx: F64, vy: F64, omega: F64, t: F64, t_max: F64) -> tuple[F64, F64]:
    """Displacement (m, east and north) after t seconds of a track that starts with
    velocity (vx, vy) m/s and turns at omega rad/s (counter-clockwise positive, i.e. a
    left turn) for t_max seconds, then flies straight on; constant ground speed.

    Broadcasting arrays; omega 0 is a straight line. For a turn of angle a = omega t:
    (sin a / omega) v + ((1 - cos a) / omega) (v rotated 90 degrees left).
    """
    tt = np.minimum(t, t_max)
    turning = omega != 0.0
    w = np.where(turning, omega, 1.0)
    a = w * tt
    s = np.where(turning, np.sin(a) / w, tt)
    c = np.where(turning, (1.0 - np.cos(a)) / w, 0.0)
    dx = s * vx - c * vy
    dy = c * vx + s * vy
    # After the turn: straight on with the velocity turned by omega * t_max.
    rest = t - tt
    am = np.where(turning, w * tt, 0.0)
    cos_a, sin_a = np.cos(am), np.sin(am)
    dx = dx + rest * (cos_a * vx - sin_a * vy)
    dy = dy + rest * (sin_a * vx + cos_a * vy)
    return dx, dy


def turn_windows(
    tab: F64,
    i: I64,
    j: I64,
    omega: F64,
    D: F64,
    H: F64,
    T: float,
    D_hold: F64,
    T_hold: float,
    step_s: float,
    max_rad: float,
) -> tuple[B1, F64, B1]:
    """The pairs (i[k], j[k]) predicted on arcs for their turning tracks, sampled.

    tab: float64[N, 16], :func:`kernels.broadphase.track_table` rows (altitudes and
    vertical rates as screened); i, j: int64[K]; omega: float64[N], each track's turn rate
    (rad/s, left positive, 0 for straight); D, H, D_hold: float64[K], minima and widened
    horizontal minimum (m; H already less the altitude tolerance); T, T_hold: look-ahead
    and lengthened look-ahead (s); step_s: sample spacing (s); max_rad: the turn goes on
    for at most this angle, then straight.

    Frame: ENU of track i (tangent plane at its sub-point, as the exact test): j's
    position and velocity are projected on i's east and north axes, and both tracks turn
    about i's up axis (the difference is negligible within the reach of a look-ahead).

    Returns (raised bool[K], res float64[K, 7], held bool[K]): raised where some sample
    t < T has horizontal distance < D and vertical < H; res columns as
    :func:`kernels.pairwindow.pair_windows` (t_in = first such sample, t_out = the last
    one, t_cpa/d_cpa/dz_cpa at the sample of least horizontal distance before T, d_now
    and dz_now at 0); held where some sample t < T_hold is within D_hold and H.
    Resolution: t_in may be late by up to step_s, and a pass grazing the minimum between
    two samples can be missed (the straight-line test is exact; this one is a hypothesis).
    """
    k = i.size
    raised = np.zeros(k, dtype=np.bool_)
    held = np.zeros(k, dtype=np.bool_)
    res = np.zeros((k, 7), dtype=np.float64)
    res[:, 0] = np.inf
    res[:, 1] = -np.inf
    if k == 0:
        return raised, res, held
    ts = np.arange(0.0, T_hold + 0.5 * step_s, step_s)
    ts = ts[ts < T_hold]
    before_t = ts < T
    block = max(1, _TURN_BLOCK // ts.size)
    for s0 in range(0, k, block):
        sl = slice(s0, min(k, s0 + block))
        a, b = i[sl], j[sl]
        ga, gb = tab[a], tab[b]
        # j relative to i in ENU_i (east/north axes of i: columns 3-5, 6-8).
        dp = gb[:, 0:3] - ga[:, 0:3]
        px = np.einsum("kc,kc->k", ga[:, 3:6], dp)
        py = np.einsum("kc,kc->k", ga[:, 6:9], dp)
        vjx = np.einsum("kc,kc->k", ga[:, 3:6], gb[:, 9:12])
        vjy = np.einsum("kc,kc->k", ga[:, 6:9], gb[:, 9:12])
        vix, viy = ga[:, 13], ga[:, 14]
        wa, wb = omega[a], omega[b]
        ta = _turn_time(wa, max_rad)
        tb = _turn_time(wb, max_rad)
        t2 = ts[None, :]
        ax, ay = arc_displacement(vix[:, None], viy[:, None], wa[:, None], t2, ta[:, None])
        bx, by = arc_displacement(vjx[:, None], vjy[:, None], wb[:, None], t2, tb[:, None])
        d = np.hypot(px[:, None] + bx - ax, py[:, None] + by - ay)
        pz = gb[:, 12] - ga[:, 12]
        vz = gb[:, 15] - ga[:, 15]
        dz = np.abs(pz[:, None] + vz[:, None] * t2)
        vert = dz < H[sl, None]
        inside = (d < D[sl, None]) & vert & before_t[None, :]
        hit = inside.any(axis=1)
        held[sl] = ((d < D_hold[sl, None]) & vert).any(axis=1)
        first = np.argmax(inside, axis=1)
        last = ts.size - 1 - np.argmax(inside[:, ::-1], axis=1)
        dm = np.where(before_t[None, :], d, np.inf)
        m = np.argmin(dm, axis=1)
        rows = np.arange(m.size)
        out = res[sl]
        out[:, 0] = np.where(hit, ts[first], np.inf)
        out[:, 1] = np.where(hit, ts[last], -np.inf)
        out[:, 2] = ts[m]
        out[:, 3] = d[rows, m]
        out[:, 4] = dz[rows, m]
        out[:, 5] = d[:, 0]
        out[:, 6] = dz[:, 0]
        res[sl] = out
        raised[sl] = hit
    return raised, res, held | raised


def _turn_time(omega: F64, max_rad: float) -> F64:
    """How long (s) a turn at omega (rad/s) lasts before it has turned max_rad."""
    with np.errstate(divide="ignore"):
        return np.where(omega != 0.0, max_rad / np.abs(omega), np.inf)


@dataclass(frozen=True)
class _Headings:
    """One past cycle's headings: ids int64[N] (sorted), heading rad (atan2(vn, ve)),
    ground speed m/s."""

    t: float
    ids: I64
    heading: F64
    speed: F64


class Detector:
    """The detection cycle, with the little state it keeps between cycles: the headings
    of the last few cycles, from which turn rates are estimated (the fused tracks carry
    no turn rate: the filter is constant-velocity). Not thread-safe: one owner."""

    def __init__(self, th: Thresholds, airspace: AirspaceVolumes | None = None) -> None:
        """ConfigError if a separation volume's vertical minimum is not above the altitude
        tolerance (its vertical test, sep_v - tolerance, could never be met)."""
        self.th = th
        self.airspace = airspace
        if airspace is not None:
            for v in airspace.volumes:
                if v.sep_v_m is not None and v.sep_v_m <= th.alt_tolerance_m:
                    raise ConfigError(
                        f"{airspace.source}: volume {v.name!r}: sep_v_ft ({v.sep_v_m / FT:g}) "
                        f"must be above detection.alt_tolerance_ft "
                        f"({th.alt_tolerance_m / FT:g})"
                    )
        self._history: deque[_Headings] = deque()
        # Ids (sorted) of the tracks found turning at the last cycle.
        self._turning: I64 = np.empty(0, dtype=np.int64)

    def turn_rates(self, pic: Picture) -> F64:
        """Turn rate of each track of the picture, rad/s (left positive), 0 where it is
        not turning or not known; records this cycle's headings for the next ones.

        Rule: the heading change of the fused velocity since the newest past cycle at
        least ``turn_window_s`` old (and at most twice that), divided by the time between;
        kept where its magnitude exceeds ``turn_rate_min`` (half of it for a track already
        turning at the last cycle: hysteresis, so that a rate near the threshold does not
        switch the hypothesis on and off) and the ground speed exceeded
        ``turn_min_speed`` at both ends (a slow track's heading is noise).
        """
        th = self.th
        heading = np.arctan2(pic.vn, pic.ve)
        speed = np.hypot(pic.ve, pic.vn)
        omega = np.zeros(pic.id.size, dtype=np.float64)
        window = th.turn_window_s
        ref: _Headings | None = None
        for rec in self._history:
            if pic.t - rec.t >= window - 1e-9 and pic.t - rec.t <= 2.0 * window:
                ref = rec  # the history is oldest first: the newest that qualifies wins
        if ref is not None and ref.ids.size and th.turn_max_rad > 0.0:
            pos = np.minimum(np.searchsorted(ref.ids, pic.id), ref.ids.size - 1)
            found = ref.ids[pos] == pic.id
            dh = np.angle(np.exp(1j * (heading - ref.heading[pos])))  # wrapped to (-pi, pi]
            rate = dh / (pic.t - ref.t)
            was = np.isin(pic.id, self._turning, assume_unique=True)
            ok = (
                found
                & (speed > th.turn_min_speed_ms)
                & (ref.speed[pos] > th.turn_min_speed_ms)
                & (np.abs(rate) > np.where(was, 0.5, 1.0) * th.turn_rate_min)
            )
            omega[ok] = rate[ok]
        self._turning = pic.id[omega != 0.0]
        self._history.append(_Headings(pic.t, pic.id.copy(), heading, speed))
        while self._history and pic.t - self._history[0].t > 2.0 * window:
            self._history.popleft()
        return omega

    def cycle(
        self,
        pic: Picture,
        expired: I64,
        mode3a: I64 | None = None,
        sigma_vel: F64 | None = None,
    ) -> CycleResult:
        """The pairs of the picture (confirmed tracks at data time pic.t) raised or held.

        expired: ids of tracks deleted at this cycle; mode3a: int64[N] each track's Mode
        3/A code (-1 none; for the eligibility rules); sigma_vel: float64[N] each track's
        1-sigma velocity error per horizontal axis, m/s (for the confidence; 0 if None).
        """
        th = self.th
        n = int(pic.id.size)
        vu = np.where(np.abs(pic.vu) < th.level_rate_ms, 0.0, pic.vu)
        omega = self.turn_rates(pic)
        codes = np.full(n, -1, dtype=np.int64) if mode3a is None else np.asarray(mode3a)
        sv = np.zeros(n) if sigma_vel is None else np.asarray(sigma_vel, dtype=np.float64)
        asp = self.airspace
        if asp is not None:
            vol = asp.volume_of(pic.lat_deg, pic.lon_deg, pic.alt_m)
            quiet = asp.inhibited(pic.lat_deg, pic.lon_deg, pic.alt_m) | ~asp.eligible(
                pic.alt_m, np.hypot(pic.ve, pic.vn), codes
            )
            d_max, h_max = asp.max_minima(th.sep_h_m, th.sep_v_m)
            names = tuple(asp.names())
        else:
            vol = np.full(n, -1, dtype=np.int64)
            quiet = np.zeros(n, dtype=np.bool_)
            d_max, h_max = th.sep_h_m, th.sep_v_m
            names = ()
        act = np.flatnonzero(~quiet)
        lat, lon, alt = pic.lat_deg[act], pic.lon_deg[act], pic.alt_m[act]
        ve, vn, vz = pic.ve[act], pic.vn[act], vu[act]
        tol = th.alt_tolerance_m
        T, T_hold = th.lookahead_s, th.lookahead_s + th.hold_s
        c = screen_conflicts(lat, lon, alt, ve, vn, vz, d_max + th.hold_h_m, h_max - tol, T_hold)
        pi, pj = c.i, c.j
        tab = track_table(lat, lon, alt, ve, vn, vz) if act.size else np.empty((0, 16))
        w_act = omega[act]
        ti, tj = self._turn_candidates(tab, w_act, d_max + th.hold_h_m, h_max - tol, T_hold)
        if ti.size:
            # The union of the screened pairs and the turn candidates, sorted by (i, j).
            m = max(act.size, 1)
            key = np.union1d(pi * m + pj, ti * m + tj)
            pi, pj = key // m, key % m
        vol_act = vol[act]
        if asp is not None:
            D, H = asp.pair_minima(pi, pj, vol_act, th.sep_h_m, th.sep_v_m)
        else:
            D, H = np.full(pi.size, th.sep_h_m), np.full(pi.size, th.sep_v_m)
        H_eff = H - tol
        r_ok, r_res = pair_windows(tab, pi, pj, D, H_eff, T)
        h_ok, h_res = pair_windows(tab, pi, pj, D + th.hold_h_m, H_eff, T_hold)
        res = np.where(r_ok[:, None], r_res, h_res)
        raised = r_ok.copy()
        held = h_ok | r_ok
        turn = np.zeros(pi.size, dtype=np.bool_)
        if ti.size:
            tw = (w_act[pi] != 0.0) | (w_act[pj] != 0.0)
            sel = np.flatnonzero(tw)
            t_ok, t_res, t_held = turn_windows(
                tab, pi[sel], pj[sel], w_act, D[sel], H_eff[sel], T, D[sel] + th.hold_h_m,
                T_hold, th.turn_step_s, th.turn_max_rad,
            )  # fmt: skip
            # The arc's figures where it raises a pair the straight line does not, or
            # warns of it earlier, and where only the arc holds a pair.
            better = t_ok & (~r_ok[sel] | (t_res[:, 0] < r_res[sel, 0]))
            better |= t_held & ~held[sel]
            res[sel[better]] = t_res[better]
            turn[sel[better]] = True
            raised[sel] |= t_ok
            held[sel] |= t_held
        keep = held
        if asp is not None and asp.eligibility.formation is not None and pi.size:
            keep &= ~asp.in_formation(pi, pj, lat, lon, alt, ve, vn, pic.vu[act])
        k = np.flatnonzero(keep)
        pi, pj, res = pi[k], pj[k], res[k]
        a, b = act[pi], act[pj]
        sh = pic.sigma_h
        conf = confidence(
            res[:, 3], res[:, 2], D[k],
            sh[a] ** 2 + sh[b] ** 2, sv[a] ** 2 + sv[b] ** 2,
        )  # fmt: skip
        # The picture is in id order and pairs come as i < j: key_a < key_b.
        return CycleResult(
            t=pic.t,
            n_tracks=n,
            expired=expired,
            slot_a=pic.rows[a],
            slot_b=pic.rows[b],
            key_a=pic.id[a],
            key_b=pic.id[b],
            t_in=np.ascontiguousarray(res[:, 0]),
            t_out=np.ascontiguousarray(res[:, 1]),
            t_cpa=np.ascontiguousarray(res[:, 2]),
            d_cpa=np.ascontiguousarray(res[:, 3]),
            dz_cpa=np.ascontiguousarray(res[:, 4]),
            d_now=np.ascontiguousarray(res[:, 5]),
            dz_now=np.ascontiguousarray(res[:, 6]),
            raised=raised[k],
            sep_h=D[k],
            sep_v=H[k],
            confidence=conf,
            turn=turn[k],
            volume_a=vol[a],
            volume_b=vol[b],
            volume_names=names,
        )

    def _turn_candidates(
        self, tab: F64, omega: F64, D: float, H: float, T: float
    ) -> tuple[I64, I64]:
        """Pairs (i < j, int64[K] each) of a turning track (omega != 0) with every track
        it could come within (D, H) of (m) within T (s), whatever either does: sub-point
        chord below D + (|v_i| + |v_j|) T + slack, altitude difference below
        H + |vu_i - vu_j| T. A pair of two turning tracks is listed once."""
        turning = np.flatnonzero(omega != 0.0)
        none = np.empty(0, dtype=np.int64)
        if turning.size == 0 or tab.shape[0] < 2:
            return none, none
        n = tab.shape[0]
        speed = np.hypot(tab[:, 13], tab[:, 14])
        out_i: list[I64] = []
        out_j: list[I64] = []
        block = max(1, _TURN_BLOCK // n)
        for s0 in range(0, turning.size, block):
            r = turning[s0 : s0 + block]
            chord = np.linalg.norm(tab[None, :, 0:3] - tab[r, None, 0:3], axis=2)
            reach = D + (speed[r, None] + speed[None, :]) * T + _REACH_SLACK_M
            dz = np.abs(tab[None, :, 12] - tab[r, None, 12])
            climb = np.abs(tab[None, :, 15] - tab[r, None, 15])
            near = (chord < reach) & (dz < H + climb * T)
            near[np.arange(r.size), r] = False
            rr, jj = np.nonzero(near)
            a, b = r[rr], jj
            out_i.append(np.minimum(a, b))
            out_j.append(np.maximum(a, b))
        i = np.concatenate(out_i)
        j = np.concatenate(out_j)
        key = np.unique(i * n + j)
        return key // n, key % n


def run_cycle(pic: Picture, expired: I64, th: Thresholds) -> CycleResult:
    """One cycle without airspace volumes or history (no turn rates): every pair of the
    picture raised or held with the service-wide minima. expired: ids of tracks deleted
    at this cycle."""
    return Detector(th).cycle(pic, expired)


def first_cycle_after(t: float, cycle_s: float) -> float:
    """The first cycle boundary (a multiple of cycle_s on the epoch) at or after t."""
    return math.ceil(t / cycle_s) * cycle_s
