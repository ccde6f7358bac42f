"""Multi-sensor fusion: sensor reports in, one system track per aircraft out.

The pieces plug together as in Stone Soup, over batches instead of objects:

* reorder window: reports wait ``reorder_window_s`` of data time, then go out in time
  order; a report older than what has gone out already is *late*: counted, never applied
  as if it were new;
* association (:meth:`Fuser.release`): by ICAO address where a report carries one; by the
  sensor's own track number once that track is bound to a system track; otherwise by
  kinematics (:func:`fusion.association.gnn_assign`), binding the sensor track;
* initiator: a report that nothing claims starts a tentative track, confirmed after
  ``confirm_updates`` updates (the detection cycle sees confirmed tracks only);
* predictor/updater: :func:`kernels.fuse.apply_reports` (constant velocity, Kalman),
  each track's reports in time order;
* integrity: on a track that a radar updated within ``radar_support_s``, an ADS-B report
  inconsistent with it beyond its claimed accuracy (d2 > ``integrity_d2``) is kept out
  and the track flagged ADSB_SUSPECT; any report under a known ICAO address that lands
  far off its track (d2 > ``identity_d2``) is kept out and flagged IDENTITY_CONFLICT
  (a report of a bound sensor track that far off is kept out and the binding dropped, so
  that its next report is associated afresh):
  flagged, not merged; except that a radar report far off a track no radar has seen
  lately restarts that track on the radar (flagged ADSB_SUSPECT): a track built on
  spoofed ADS-B before the aircraft reached radar cover;
* deleter (:meth:`Fuser.expire`): tracks not updated for a given time (the service's
  ``detection.track_expiry_s``);
* merger: a track without identity (from a primary radar, say) that stays within the
  association gate of an identified track, at a consistent velocity, for
  ``merge_releases`` releases in a row is folded into it (one aircraft seen first by a
  sensor without identity, or two sensors starting tracks in the same release).

Duplicates (one ADS-B broadcast heard by two receivers) are applied once.

Not thread-safe: one owner (the engine). Time is data time throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from fusion.accuracy import report_sigmas
from fusion.association import gnn_assign
from fusion.config import FusionConfig
from fusion.schema import SENSOR_KIND_CODE, ReportArray, altitude_m
from fusion.systracks import (
    FLAG_ADSB_SUSPECT,
    FLAG_IDENTITY_CONFLICT,
    SystemTracks,
    sensor_keys,
)
from kernels.fuse import APPLIED, BAD, LATE, REJECTED, apply_reports, states_at
from kernels.lookup import group_by_row, scatter_max

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]

_ADSB: Final = SENSOR_KIND_CODE["adsb"]
# Report columns a release reads.
_USED_COLUMNS: Final = (
    "t", "icao", "track", "mode3a", "callsign", "lat_deg", "lon_deg", "ve_ms", "vn_ms", "vu_ms",
)  # fmt: skip
Columns = dict[str, npt.NDArray[Any]]
_NONE: Final = np.empty(0, dtype=np.int64)
_RADAR: Final = SENSOR_KIND_CODE["radar"]


@dataclass
class FusionStats:
    """Cumulative report counts; every report ends in exactly one of the last six."""

    received: int = 0
    applied: int = 0
    late: int = 0
    duplicate: int = 0
    integrity_rejected: int = 0
    identity_rejected: int = 0
    bad: int = 0
    tracks_created: int = 0
    tracks_deleted: int = 0
    tracks_merged: int = 0
    tracks_reseeded: int = 0  # restarted on radar after being built on false ADS-B
    sensor_tracks_unbound: int = 0  # sensor tracks that left the system track they were on


@dataclass
class _Pending:
    reports: ReportArray
    kind: int
    feeder: int
    sigmas: tuple[F64, F64, F64, F64]


@dataclass(frozen=True)
class Picture:
    """Confirmed system tracks predicted to one data time ``t`` (s), in track-id order;
    float64[N] unless stated: position deg / m, velocity m/s (ENU), 1-sigma m."""

    t: float
    rows: I64
    id: I64
    lat_deg: F64
    lon_deg: F64
    alt_m: F64
    ve: F64
    vn: F64
    vu: F64
    sigma_h: F64
    sigma_v: F64


class Fuser:
    """Reports in (:meth:`add`), time-ordered fusion (:meth:`release`), the picture out
    (:meth:`picture`)."""

    def __init__(self, config: FusionConfig | None = None) -> None:
        self.cfg = config or FusionConfig()
        self.tracks = SystemTracks()
        self.stats = FusionStats()
        self.horizon = -np.inf  # data time up to which reports have been released
        self._pending: list[_Pending] = []
        self._n_pending = 0
        self._merged: list[tuple[int, int]] = []

    def add(self, reports: ReportArray, kind: str, feeder_index: int) -> None:
        """Queue validated reports of one feeder for release in time order."""
        n = len(reports)
        self.stats.received += n
        if n == 0:
            return
        late = reports["t"] <= self.horizon
        if late.any():
            self.stats.late += int(late.sum())
            reports = reports[~late]
        if len(reports):
            sig = report_sigmas(reports, kind)
            self._pending.append(_Pending(reports, SENSOR_KIND_CODE[kind], feeder_index, sig))
            self._n_pending += len(reports)

    @property
    def pending(self) -> int:
        return self._n_pending

    def earliest_pending(self) -> float | None:
        """The oldest report time still queued (s), None when nothing is."""
        if not self._pending:
            return None
        return float(min(p.reports["t"].min() for p in self._pending))

    def take_merges(self) -> list[tuple[int, int]]:
        """(merged track id, surviving track id) of the merges since the last call."""
        out, self._merged = self._merged, []
        return out

    def release(self, t_release: float) -> None:
        """Fuse every queued report with time <= t_release, in time order."""
        if t_release <= self.horizon:
            return
        self.horizon = t_release
        now: list[_Pending] = []
        later: list[_Pending] = []
        for p in self._pending:
            due = p.reports["t"] <= t_release
            if due.all():
                now.append(p)
            elif due.any():
                now.append(_take(p, due))
                later.append(_take(p, ~due))
            else:
                later.append(p)
        self._pending = later
        self._n_pending = sum(len(p.reports) for p in later)
        if now:
            self._fuse(now)
        self._merge(t_release)

    def expire(self, t_now: float, max_age_s: float) -> I64:
        """Delete tracks not updated for max_age_s (s) at data time t_now; returns their
        ids."""
        tr = self.tracks
        gone = np.flatnonzero(tr.alive & (tr.t_update < t_now - max_age_s))
        ids = tr.id[gone].copy()
        tr.delete(gone)
        self.stats.tracks_deleted += int(gone.size)
        return ids

    def picture(self, t: float) -> Picture:
        """Confirmed tracks predicted to data time t (s)."""
        tr = self.tracks
        rows = tr.rows()
        rows = rows[tr.confirmed[rows]]
        lat, lon, alt, ve, vn, vu, sh, sv = states_at(
            t, tr.ref[rows], tr.xh[rows], tr.Ph[rows], tr.xv[rows], tr.Pv[rows],
            tr.t_state[rows], self.cfg.q_h, self.cfg.q_v,
        )  # fmt: skip
        return Picture(t, rows, tr.id[rows].copy(), lat, lon, alt, ve, vn, vu, sh, sv)

    # --- one release -----------------------------------------------------------------

    def _fuse(self, parts: list[_Pending]) -> None:
        cfg = self.cfg
        tr = self.tracks
        # One part (one batch due whole) needs no copy: concatenating record arrays copies
        # every field of every report, slowly (1 ms per 10,000 reports).
        whole = parts[0].reports if len(parts) == 1 else np.concatenate([p.reports for p in parts])
        t_in = whole["t"]
        # Plain columns in time order (reordering the record array itself is slower). A
        # batch is usually in time order already: then a copy does, at a fifth of the
        # cost of a gather.
        in_order = bool(np.all(t_in[1:] >= t_in[:-1]))
        order = None if in_order else np.argsort(t_in, kind="stable")

        def timed(a: npt.NDArray[Any], fresh: bool = True) -> npt.NDArray[Any]:
            # A field of the record array is a strided view: copied into a plain array.
            if order is None:
                return a if fresh else a.copy()
            return a[order]

        rep = {name: timed(whole[name], fresh=False) for name in _USED_COLUMNS}
        rep["alt_m"] = timed(altitude_m(whole))
        kind = timed(np.concatenate([np.full(len(p.reports), p.kind) for p in parts]))
        feeder = timed(np.concatenate([np.full(len(p.reports), p.feeder) for p in parts]))
        sh, sv, svel, svu = (timed(np.concatenate([p.sigmas[k] for p in parts])) for k in range(4))
        n = t_in.size
        t = rep["t"]
        lat = rep["lat_deg"]
        lon = rep["lon_deg"]
        alt = rep["alt_m"]
        icao = rep["icao"].astype(np.int64)
        skey = sensor_keys(feeder, rep["track"].astype(np.int64))

        # Identity: ICAO, then a bound sensor track.
        row = np.full(n, -1, dtype=np.int64)
        has_icao = icao >= 0
        row[has_icao] = tr.by_icao.find(icao[has_icao])
        bound = ~has_icao & (skey >= 0)
        row[bound] = tr.by_sensor.find(skey[bound])
        # Confirmation status and radar support as the release starts (the gates use them).
        known = row >= 0

        # New ICAO addresses: a track from each one's first report.
        fresh = has_icao & ~known
        if fresh.any():
            addr, first = np.unique(icao[fresh], return_index=True)
            idx = np.flatnonzero(fresh)[first]
            rows = self._create(idx, rep, t, lat, lon, alt)
            tr.icao[rows] = addr
            tr.by_icao.set(addr, rows)
            row[fresh] = tr.by_icao.find(icao[fresh])

        # Unbound sensor tracks: kinematics, one decision per sensor track (its first
        # report in this release), then a new track where nothing is in the gate.
        loose = row < 0
        if loose.any():
            keys, first = np.unique(skey[loose], return_index=True)
            idx = np.flatnonzero(loose)[first]
            got = self._associate(idx, t, lat, lon, sh)
            new = got < 0
            if new.any():
                got[new] = self._create(idx[new], rep, t, lat, lon, alt)
            tr.by_sensor.set(keys, got)
            row[loose] = tr.by_sensor.find(skey[loose])
        # Sensor tracks of identified reports (Mode S radar) are bound too, so that a
        # later report of that track without its address still finds its aircraft.
        with_trk = has_icao & (skey >= 0)
        if with_trk.any():
            tr.by_sensor.set(skey[with_trk], row[with_trk])

        # One ADS-B broadcast heard twice: the same aircraft and time from ADS-B again.
        # Reports by track, time order inside (t is sorted and the sort is stable).
        by_track = group_by_row(row, tr.alive.size)
        dup = self._duplicates(row, kind, t, by_track)

        # Gates.
        conf = tr.confirmed[row] & known
        radar_seen = tr.seen[:, _RADAR][row] >= t - cfg.radar_support_s
        max_d2 = np.full(n, np.inf)
        max_d2[has_icao & conf] = cfg.identity_d2
        # A sensor track bound earlier must stay on its system track too: a radar that
        # renumbers may have been associated with the wrong aircraft, or reuse a number.
        was_bound = bound & known
        max_d2[was_bound & conf] = cfg.identity_d2
        integ = (kind == _ADSB) & radar_seen & conf
        max_d2[integ] = cfg.integrity_d2

        grp = by_track[~dup[by_track]]
        rg = row[grp]
        starts = np.flatnonzero(np.r_[True, rg[1:] != rg[:-1]]) if rg.size else _NONE
        rows_g = rg[starts]
        offs = np.append(starts, grp.size).astype(np.int64)
        outcome, _ = apply_reports(
            offs, grp.astype(np.int64), rows_g.astype(np.int64),
            tr.ref, tr.xh, tr.Ph, tr.xv, tr.Pv, tr.t_state,
            t, lat, lon, alt,
            rep["ve_ms"], rep["vn_ms"], rep["vu_ms"], sh, sv, svel, svu, max_d2, cfg.q_h, cfg.q_v,
        )  # fmt: skip
        outcome[dup] = -1
        # A radar far off a track that no radar has seen lately: the track was built on
        # ADS-B alone, and it is the ADS-B that is wrong (an aircraft that entered radar
        # cover inside a spoofing zone). Start the track again on the radar.
        wrong = (outcome == REJECTED) & (kind == _RADAR) & ~radar_seen & ~integ & has_icao
        reseeded = self._reseed(np.flatnonzero(wrong), row, t, lat, lon, alt, rep, sh, sv,
                                svel, svu, outcome) if wrong.any() else _NONE  # fmt: skip
        self._account(row, kind, feeder, t, rep, outcome, integ, dup, has_icao)
        # A bound sensor track that left its system track is unbound: its next report is
        # associated afresh (by position, or a new track).
        off = (outcome == REJECTED) & was_bound
        if off.any():
            tr.by_sensor.drop_keys(np.unique(skey[off]))
            self.stats.sensor_tracks_unbound += int(np.unique(skey[off]).size)
        if reseeded.size:
            tr.flags[reseeded] = (tr.flags[reseeded] | FLAG_ADSB_SUSPECT) & ~FLAG_IDENTITY_CONFLICT
            self.stats.tracks_reseeded += int(reseeded.size)

    def _reseed(
        self,
        idx: I64,
        row: I64,
        t: F64,
        lat: F64,
        lon: F64,
        alt: F64,
        rep: Columns,
        sh: F64,
        sv: F64,
        svel: F64,
        svu: F64,
        outcome: I64,
    ) -> I64:
        """Restart the tracks of reports idx from the newest of them per track (their
        outcome becomes that of the re-application); returns the rows."""
        tr = self.tracks
        last = idx[::-1][np.unique(row[idx[::-1]], return_index=True)[1]]
        rows = row[last]
        tr.reseed(rows, t[last], lat[last], lon[last], alt[last], rep["ve_ms"][last],
                  rep["vn_ms"][last])  # fmt: skip
        k = last.size
        out, _ = apply_reports(
            np.arange(k + 1, dtype=np.int64), np.arange(k, dtype=np.int64), rows,
            tr.ref, tr.xh, tr.Ph, tr.xv, tr.Pv, tr.t_state,
            t[last], lat[last], lon[last], alt[last], rep["ve_ms"][last], rep["vn_ms"][last],
            rep["vu_ms"][last], sh[last], sv[last], svel[last], svu[last],
            np.full(k, np.inf), self.cfg.q_h, self.cfg.q_v,
        )  # fmt: skip
        outcome[last] = out
        return rows

    def _merge(self, t: float) -> None:
        """Fold anonymous tracks into the identified tracks they keep matching."""
        tr = self.tracks
        cfg = self.cfg
        live = tr.alive & (tr.n_updates > 0)
        anon = np.flatnonzero(live & (tr.icao < 0))
        ident = np.flatnonzero(live & (tr.icao >= 0))
        if anon.size == 0:
            return
        hit = np.full(anon.size, -1, dtype=np.int64)
        if ident.size:
            a = states_at(
                t, tr.ref[anon], tr.xh[anon], tr.Ph[anon], tr.xv[anon], tr.Pv[anon],
                tr.t_state[anon], cfg.q_h, cfg.q_v,
            )  # fmt: skip
            b = states_at(
                t, tr.ref[ident], tr.xh[ident], tr.Ph[ident], tr.xv[ident], tr.Pv[ident],
                tr.t_state[ident], cfg.q_h, cfg.q_v,
            )  # fmt: skip
            j = gnn_assign(
                np.full(anon.size, t), a[0], a[1], a[6], t, b[0], b[1], b[3], b[4], b[6],
                cfg.gate_d2, cfg.assoc_radius_m,
            )  # fmt: skip
            jj = np.maximum(j, 0)
            same_v = np.hypot(a[3] - b[3][jj], a[4] - b[4][jj]) < cfg.merge_speed_ms
            hit = np.where((j >= 0) & same_v, ident[jj], -1)
        again = (hit >= 0) & (hit == tr.merge_into[anon])
        tr.merge_hits[anon] = np.where(again, tr.merge_hits[anon] + 1, (hit >= 0).astype(int))
        tr.merge_into[anon] = hit
        due = tr.merge_hits[anon] >= cfg.merge_releases
        if due.any():
            src, dst = anon[due], hit[due]
            self._merged += list(zip(tr.id[src].tolist(), tr.id[dst].tolist(), strict=True))
            tr.merge(src, dst)
            self.stats.tracks_merged += int(due.sum())

    def _create(self, idx: I64, rep: Columns, t: F64, lat: F64, lon: F64, alt: F64) -> I64:
        rows = self.tracks.create(
            t[idx], lat[idx], lon[idx], alt[idx], rep["ve_ms"][idx], rep["vn_ms"][idx]
        )
        self.stats.tracks_created += int(idx.size)
        return rows

    def _associate(self, idx: I64, t: F64, lat: F64, lon: F64, sh: F64) -> I64:
        """Rows for reports idx by kinematics (-1: none), against tracks that exist now."""
        tr = self.tracks
        # Only tracks with an update behind them: a track created in this release still
        # has its vague prior, which would gate anything within the search radius.
        cand = np.flatnonzero(tr.alive & (tr.n_updates > 0))
        if cand.size == 0:
            return np.full(idx.size, -1, dtype=np.int64)
        tm = float(np.median(t[idx]))
        plat, plon, _, pve, pvn, _, psh, _ = states_at(
            tm, tr.ref[cand], tr.xh[cand], tr.Ph[cand], tr.xv[cand], tr.Pv[cand],
            tr.t_state[cand], self.cfg.q_h, self.cfg.q_v,
        )  # fmt: skip
        j = gnn_assign(
            t[idx], lat[idx], lon[idx], sh[idx], tm, plat, plon, pve, pvn, psh,
            self.cfg.gate_d2, self.cfg.assoc_radius_m,
        )  # fmt: skip
        return np.where(j >= 0, cand[np.maximum(j, 0)], -1)

    def _duplicates(self, row: I64, kind: I64, t: F64, by_track: I64) -> B1:
        """ADS-B reports of a track at a time no later than one already applied or earlier
        in this release (the same broadcast through another receiver). by_track: report
        indices ordered by (track row, time)."""
        dup = np.zeros(row.size, dtype=np.bool_)
        is_adsb = kind == _ADSB
        if not is_adsb.any():
            return dup
        a = np.flatnonzero(is_adsb)
        dup[a] = t[a] <= self.tracks.seen[:, _ADSB][row[a]]
        o = by_track[is_adsb[by_track]]
        same = (row[o][1:] == row[o][:-1]) & (t[o][1:] <= t[o][:-1])
        dup[o[1:][same]] = True
        return dup

    def _account(
        self,
        row: I64,
        kind: I64,
        feeder: I64,
        t: F64,
        rep: Columns,
        outcome: I64,
        integ: B1,
        dup: B1,
        has_icao: B1,
    ) -> None:
        tr = self.tracks
        st = self.stats
        ok = outcome == APPLIED
        rej = outcome == REJECTED
        st.applied += int(ok.sum())
        st.late += int((outcome == LATE).sum())
        st.duplicate += int(dup.sum())
        st.integrity_rejected += int((rej & integ).sum())
        st.identity_rejected += int((rej & ~integ).sum())
        st.bad += int((outcome == BAD).sum())
        np.bitwise_or.at(tr.flags, row[rej & integ], FLAG_ADSB_SUSPECT)
        # Only a report that names an address can conflict with one.
        np.bitwise_or.at(tr.flags, row[rej & ~integ & has_icao], FLAG_IDENTITY_CONFLICT)
        # An ADS-B report that passed the radar check clears the suspicion.
        cleared = ok & integ
        tr.flags[row[cleared]] &= ~FLAG_ADSB_SUSPECT
        r = row[ok]
        tr.n_updates += np.bincount(r, minlength=tr.n_updates.size)
        # Reports are in time order: fancy assignment keeps the last, the newest.
        tr.last_feeder[r] = feeder[ok]
        tr.last_kind[r] = kind[ok]
        scatter_max(tr.t_update, r, t[ok])
        for k in np.flatnonzero(np.bincount(kind[ok])):  # the kinds present, ascending
            sel = ok & (kind == k)
            scatter_max(tr.seen[:, k], row[sel], t[sel])
        # Identities a sensor states, the newest report's (time order: the last write wins).
        m3a = rep["mode3a"].astype(np.int64)
        s = ok & (m3a >= 0)
        tr.mode3a[row[s]] = m3a[s]
        cs = rep["callsign"]
        s = ok & _nonempty(cs)
        tr.callsign[row[s]] = cs[s]
        tr.confirmed |= tr.alive & (tr.n_updates >= self.cfg.confirm_updates)


def _nonempty(cs: npt.NDArray[np.bytes_]) -> B1:
    """cs != b"" for a contiguous array of fixed-width byte strings: as whole words
    where the width allows (numpy's string comparison is 30 times slower)."""
    if cs.dtype.itemsize == 8 and cs.flags.c_contiguous:
        return np.asarray(cs.view(np.uint64) != 0)
    return np.asarray(cs != b"")


def _take(p: _Pending, mask: B1) -> _Pending:
    sh, sv, svel, svu = p.sigmas
    return _Pending(p.reports[mask], p.kind, p.feeder, (sh[mask], sv[mask], svel[mask], svu[mask]))
