"""Alert lifecycle: conflicts of each detection cycle in, new / update / end events out.

One alert per encounter, keyed by the pair of system track numbers. Its id is made from the two
identities and the data time it opened, so a replay of the same data gives the same ids.
docs/architecture.md ("Alert lifecycle") has the rules and their reasons; in short:

- Severity: ``loss`` (separation lost now: horizontal < the pair's minimum and vertical <
  its minimum less the altitude tolerance), ``imminent`` (predicted loss within
  ``imminent_s``), ``predicted`` (within the look-ahead). Escalation is immediate;
  de-escalation waits for a margin (imminent -> predicted once the time to loss exceeds
  ``imminent_s + severity_margin_s``; loss -> lower once the next loss is more than
  ``severity_margin_s`` away). A change of severity is an ``update`` of the same alert.
- ``new``: a prediction raised for ``confirm_cycles`` consecutive cycles, or a current
  loss at once.
- ``update``: the severity changes, the pair's minima change, the predicted time of loss
  moves by more than ``update_step_s``, the closest approach comes inside the look-ahead,
  or (while the pair still approaches) its miss distance moves by more than
  ``update_step_nm``. Past the closest approach nothing but the severity is news.
- Hold band: a pair that only loses its minima widened by the hold margin keeps its open
  alert open, unchanged (the detection cycle's hysteresis, fusion.detect).
- ``end``: the pair is neither raised nor held for ``alert_end_s`` of data time (reason
  ``clear``; until then the alert is "closing" and a pair that comes back continues it
  under the same id), one of its tracks expires (reason ``track_lost``), or fusion folds
  one track into the other or into a track already in another open alert with the same
  partner (reason ``merged``); otherwise an alert follows a merged track unchanged.

Python loops here run over conflicts, not tracks: they are few even when tracks are many.
Not thread-safe: one owner (the detection cycle).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

import msgpack
import numpy as np

from fusion.config import FT, NM, Thresholds
from fusion.schema import SENSOR_KINDS, callsign_str
from fusion.systracks import SENSOR_SHIFT, SystemTracks

if TYPE_CHECKING:
    # Only a type here: `fusion alerts` (the viewer) imports this module and need not
    # load the kernels.
    from fusion.detect import CycleResult

EventKind = Literal["new", "update", "end"]
Severity = Literal["predicted", "imminent", "loss"]
Hypothesis = Literal["straight", "turn"]
# 2: severity "imminent"; thresholds per pair (airspace volumes); confidence, hypothesis
# and the volume names added.
ALERT_SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Identity:
    """What is known of one aircraft of the pair."""

    key: int  # system track number
    icao: str | None  # six hex digits
    track: int | None  # the last reporting feeder's own track number for it
    feeder: str  # the feeder of the newest report fused into the track
    kind: str  # that feeder's sensor kind
    mode3a: str | None  # four octal digits
    callsign: str | None

    def label(self) -> str:
        if self.icao is not None:
            return self.icao
        return f"T{self.key}"


@dataclass(frozen=True)
class AlertEvent:
    """One alert event as published on ``alerts/events``. Times: UTC epoch seconds (``t``,
    ``t_opened``) or seconds from ``t``; distances in metres with NM/ft twins for display."""

    alert_id: str
    event: EventKind
    severity: Severity
    t: float
    t_opened: float
    a: Identity
    b: Identity
    time_to_los_s: float
    t_cpa_s: float
    d_cpa_m: float
    dz_cpa_m: float
    d_now_m: float
    dz_now_m: float
    sep_h_nm: float  # the pair's own minima (its tracks' volumes, else the service's)
    sep_v_ft: float
    sep_v_effective_ft: float
    lookahead_s: float
    service: str
    confidence: float  # P(horizontal miss distance < sep_h), 0..1, given track accuracy
    hypothesis: Hypothesis = "straight"  # which prediction the figures come from
    volume_a: str | None = None  # the separation volume each track is in, None: none
    volume_b: str | None = None
    reason: str | None = None
    t_wall_detected: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        # What dataclasses.asdict gives, in its order, without its recursive deep copy (a
        # tenth of the cost: thousands of events a second in dense traffic).
        d = {f: getattr(self, f) for f in _EVENT_FIELDS}
        d["a"] = {f: getattr(self.a, f) for f in _IDENTITY_FIELDS}
        d["b"] = {f: getattr(self.b, f) for f in _IDENTITY_FIELDS}
        d["v"] = ALERT_SCHEMA_VERSION
        d["d_cpa_nm"] = self.d_cpa_m / NM
        d["dz_cpa_ft"] = self.dz_cpa_m / FT
        d["d_now_nm"] = self.d_now_m / NM
        d["dz_now_ft"] = self.dz_now_m / FT
        d["thresholds"] = {
            "sep_h_nm": d.pop("sep_h_nm"),
            "sep_v_ft": d.pop("sep_v_ft"),
            "sep_v_effective_ft": d.pop("sep_v_effective_ft"),
            "lookahead_s": d.pop("lookahead_s"),
            "volume_a": d.pop("volume_a"),
            "volume_b": d.pop("volume_b"),
        }
        return d

    def encode(self) -> bytes:
        return msgpack.packb(self.to_dict(), use_bin_type=True)  # type: ignore[no-any-return]


_EVENT_FIELDS: Final = tuple(f.name for f in fields(AlertEvent))
_IDENTITY_FIELDS: Final = tuple(f.name for f in fields(Identity))


@dataclass
class _Open:
    alert_id: str
    t_opened: float
    last_seen: float  # data time of the last cycle that raised or held the pair
    last: AlertEvent  # as last published; its severity is the alert's current one
    # The raw callsigns and Mode 3/A codes (tracks.callsign, tracks.mode3a) of a and b
    # when ``last`` was made: equal now means the labels are unchanged, without formatting.
    labels: tuple[bytes, int, bytes, int] | None = None


def alert_id(a: Identity, b: Identity, t_opened: float) -> str:
    """Stable id: both identities and the opening data time, e.g.
    ``3C4B21-3C6586-20261125T071203Z``. Safe as one MQTT topic level."""
    stamp = datetime.fromtimestamp(t_opened, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{a.label()}-{b.label()}-{stamp}"


def identity(tracks: SystemTracks, row: int, feeders: list[str]) -> Identity:
    """What the system track in ``row`` knows of its aircraft. ``key`` is the system
    track number; ``feeder``/``kind`` the source of its newest report, ``track`` that
    feeder's own track number for it where it has one."""
    icao = int(tracks.icao[row])
    m3a = int(tracks.mode3a[row])
    cs = callsign_str(bytes(tracks.callsign[row]))
    fi = int(tracks.last_feeder[row])
    trk = tracks.sensor_track(row, fi) if fi >= 0 else -1
    kind = int(tracks.last_kind[row])
    return Identity(
        key=int(tracks.id[row]),
        icao=f"{icao:06X}" if icao >= 0 else None,
        track=trk if trk >= 0 else None,
        feeder=feeders[fi] if fi >= 0 else "",
        kind=SENSOR_KINDS[kind] if kind >= 0 else "",
        mode3a=f"{m3a:04o}" if m3a >= 0 else None,
        callsign=cs or None,
    )


def identities(tracks: SystemTracks, rows: list[int], feeders: list[str]) -> dict[int, Identity]:
    """:func:`identity` of several rows at once (row -> Identity): one pass over the
    sensor-track index for all of them, where :func:`identity` scans it per row."""
    if not rows:
        return {}
    r = np.asarray(rows, dtype=np.int64)
    fi = tracks.last_feeder[r].astype(np.int64)
    # The track number each row's last feeder knows it by: of the index entries of these
    # rows, keyed (feeder + 1) << SENSOR_SHIFT | track, the last one of each (row, feeder)
    # in index order, as SystemTracks.sensor_track picks it.
    idx = tracks.by_sensor
    mine = np.isin(idx.rows, r[fi >= 0])
    number: dict[tuple[int, int], int] = {}
    for key, row in zip(idx.keys[mine].tolist(), idx.rows[mine].tolist(), strict=True):
        f = (key >> SENSOR_SHIFT) - 1
        number[(row, f)] = key - ((f + 1) << SENSOR_SHIFT)
    out: dict[int, Identity] = {}
    for row, f, key, icao, m3a, cs, kind in zip(
        rows,
        fi.tolist(),
        tracks.id[r].tolist(),
        tracks.icao[r].tolist(),
        tracks.mode3a[r].tolist(),
        tracks.callsign[r].tolist(),
        tracks.last_kind[r].tolist(),
        strict=True,
    ):
        trk = number.get((row, f), -1) if f >= 0 else -1
        out[row] = Identity(
            key=key,
            icao=f"{icao:06X}" if icao >= 0 else None,
            track=trk if trk >= 0 else None,
            feeder=feeders[f] if f >= 0 else "",
            kind=SENSOR_KINDS[kind] if kind >= 0 else "",
            mode3a=f"{m3a:04o}" if m3a >= 0 else None,
            callsign=callsign_str(cs) or None,
        )
    return out


class AlertManager:
    """The open alerts and the predictions waiting for confirmation, advanced one
    detection cycle at a time (:meth:`step`)."""

    def __init__(self, th: Thresholds, service: str) -> None:
        self.th = th
        self.service = service
        self.open: dict[tuple[int, int], _Open] = {}
        # Raised predictions not yet alerted: consecutive cycles seen so far.
        self.pending: dict[tuple[int, int], int] = {}

    def severity(self, lost: bool, time_to_los_s: float, prev: Severity | None) -> Severity:
        """The severity of a raised pair, with hysteresis against its previous one.

        lost: separation lost now; time_to_los_s: predicted time to loss (s, 0 when
        lost); prev: the open alert's severity, None for a new alert."""
        th = self.th
        if lost:
            return "loss"
        if prev == "loss" and time_to_los_s <= th.severity_margin_s:
            return "loss"
        if time_to_los_s < th.imminent_s:
            return "imminent"
        if prev in ("loss", "imminent") and time_to_los_s <= th.imminent_s + th.severity_margin_s:
            return "imminent"
        return "predicted"

    def step(
        self, cycle: CycleResult, tracks: SystemTracks, feeders: list[str]
    ) -> list[AlertEvent]:
        """Advance the lifecycle by one detection cycle; returns the events to publish.

        Cost: a Python loop over the cycle's pairs, on plain floats; the identities
        (:func:`identity`, whose sensor-track lookup scans an index) and the event itself
        are built only for a pair that gets an event, which is what keeps thousands of
        open alerts affordable (conflict-heavy traffic has about 0.4 conflicting pairs per
        aircraft). The events are exactly those of comparing a full event every cycle
        (:meth:`_changed`)."""
        events: list[AlertEvent] = []
        seen: set[tuple[int, int]] = set()
        pending: dict[tuple[int, int], int] = {}
        th = self.th
        t = cycle.t
        # Plain Python numbers, once: indexing NumPy arrays element by element is slow.
        key_a, key_b = cycle.key_a.tolist(), cycle.key_b.tolist()
        slot_a, slot_b = cycle.slot_a.tolist(), cycle.slot_b.tolist()
        raised = cycle.raised.tolist()
        sep_h_m, sep_v_m = cycle.sep_h.tolist(), cycle.sep_v.tolist()
        d_now, dz_now = cycle.d_now.tolist(), cycle.dz_now.tolist()
        t_in, t_cpa, d_cpa = cycle.t_in.tolist(), cycle.t_cpa.tolist(), cycle.d_cpa.tolist()
        cs_a, cs_b = tracks.callsign[cycle.slot_a].tolist(), tracks.callsign[cycle.slot_b].tolist()
        m3_a, m3_b = tracks.mode3a[cycle.slot_a].tolist(), tracks.mode3a[cycle.slot_b].tolist()
        # Pairs that get an event: (k, pair, open alert or None, severity, time to loss).
        news: list[tuple[int, tuple[int, int], _Open | None, Severity, float]] = []
        for k in range(len(key_a)):
            pair = (key_a[k], key_b[k])
            seen.add(pair)
            current = self.open.get(pair)
            if current is not None:
                current.last_seen = t
            if not raised[k]:
                # The hold band: an open alert stays as it is; a prediction waiting for
                # confirmation starts again.
                continue
            sep_h = sep_h_m[k]
            sep_v_eff = sep_v_m[k] - th.alt_tolerance_m
            lost = d_now[k] < sep_h and dz_now[k] < sep_v_eff
            ttl = 0.0 if lost else t_in[k]
            prev = None if current is None else current.last.severity
            severity = self.severity(lost, ttl, prev)
            if current is None:
                if severity != "loss":
                    count = self.pending.get(pair, 0) + 1
                    if count < th.confirm_cycles:
                        pending[pair] = count
                        continue
            elif not self._news(
                current.last, severity, t, ttl, t_cpa[k], d_cpa[k], sep_h / NM, sep_v_m[k] / FT
            ) and (
                current.labels == (cs_a[k], m3_a[k], cs_b[k], m3_b[k])
                or not (
                    _labels_changed(tracks, slot_a[k], current.last.a)
                    or _labels_changed(tracks, slot_b[k], current.last.b)
                )
            ):
                continue
            news.append((k, pair, current, severity, ttl))
        # The events, with the identities of their tracks looked up together.
        ident = identities(
            tracks, sorted({slot_a[k] for k, *_ in news} | {slot_b[k] for k, *_ in news}), feeders
        )
        for k, pair, current, severity, ttl in news:
            ev = self._event(cycle, k, ident[slot_a[k]], ident[slot_b[k]], current, severity, ttl)
            labels = (cs_a[k], m3_a[k], cs_b[k], m3_b[k])
            if current is None:
                self.open[pair] = _Open(ev.alert_id, t, t, ev, labels)
            else:
                current.last = ev
                current.labels = labels
            events.append(ev)
        # A prediction is confirmed over consecutive cycles: one missing cycle forgets it.
        self.pending = pending
        expired = set(cycle.expired.tolist())
        for pair, st in list(self.open.items()):
            if pair in seen:
                continue
            lost_track = pair[0] in expired or pair[1] in expired
            if lost_track or t - st.last_seen >= th.alert_end_s:
                del self.open[pair]
                events.append(_ended(st.last, t, "track_lost" if lost_track else "clear"))
        return events

    def _event(
        self,
        cycle: CycleResult,
        k: int,
        a: Identity,
        b: Identity,
        current: _Open | None,
        severity: Severity,
        ttl: float,
    ) -> AlertEvent:
        """The event of pair ``k`` between tracks ``a`` and ``b``: ``new`` without an open
        alert, else ``update``."""
        th = self.th
        t_opened = cycle.t if current is None else current.t_opened
        aid = alert_id(a, b, t_opened) if current is None else current.alert_id
        sep_h = float(cycle.sep_h[k])
        sep_v_eff = float(cycle.sep_v[k]) - th.alt_tolerance_m
        names = cycle.volume_names
        va, vb = int(cycle.volume_a[k]), int(cycle.volume_b[k])
        return AlertEvent(
            alert_id=aid,
            event="new" if current is None else "update",
            severity=severity,
            t=cycle.t,
            t_opened=t_opened,
            a=a,
            b=b,
            time_to_los_s=ttl,
            t_cpa_s=float(cycle.t_cpa[k]),
            d_cpa_m=float(cycle.d_cpa[k]),
            dz_cpa_m=float(cycle.dz_cpa[k]),
            d_now_m=float(cycle.d_now[k]),
            dz_now_m=float(cycle.dz_now[k]),
            sep_h_nm=sep_h / NM,
            sep_v_ft=float(cycle.sep_v[k]) / FT,
            sep_v_effective_ft=sep_v_eff / FT,
            lookahead_s=th.lookahead_s,
            service=self.service,
            confidence=float(cycle.confidence[k]),
            hypothesis="turn" if cycle.turn[k] else "straight",
            volume_a=names[va] if va >= 0 else None,
            volume_b=names[vb] if vb >= 0 else None,
        )

    def rekey(self, merges: list[tuple[int, int]], t: float) -> list[AlertEvent]:
        """Move open alerts from merged tracks to the tracks they were folded into
        (merges: (old id, surviving id)). The alert keeps its id and lifecycle; an alert
        that would pair a track with itself (one aircraft tracked twice) or duplicate an
        open alert ends with reason "merged". Predictions waiting for confirmation on a
        merged track start again."""
        events: list[AlertEvent] = []
        for old_id, new_id in merges:
            for pair in [p for p in self.pending if old_id in p]:
                del self.pending[pair]
            for pair in [p for p in self.open if old_id in p]:
                st = self.open.pop(pair)
                a, b = (new_id if k == old_id else k for k in pair)
                moved = (min(a, b), max(a, b))
                if a == b or moved in self.open:
                    events.append(_ended(st.last, t, "merged"))
                else:
                    self.open[moved] = st
        return events

    def _changed(self, old: AlertEvent, new: AlertEvent) -> bool:
        """Whether ``new`` is news against the last published ``old`` of the same alert."""
        # Which sensor last updated a track changes every second; a new callsign or squawk
        # is news for the operator.
        for o, n in ((old.a, new.a), (old.b, new.b)):
            if (o.callsign, o.mode3a) != (n.callsign, n.mode3a):
                return True
        return self._news(
            old,
            new.severity,
            new.t,
            new.time_to_los_s,
            new.t_cpa_s,
            new.d_cpa_m,
            new.sep_h_nm,
            new.sep_v_ft,
        )

    def _news(
        self,
        old: AlertEvent,
        severity: Severity,
        t: float,
        time_to_los_s: float,
        t_cpa_s: float,
        d_cpa_m: float,
        sep_h_nm: float,
        sep_v_ft: float,
    ) -> bool:
        """:meth:`_changed` but for the identities, on the new figures alone (s, m, NM,
        ft, as in :class:`AlertEvent`)."""
        th = self.th
        if old.severity != severity:
            return True
        # Other minima are news (a track entered a volume).
        if (old.sep_h_nm, old.sep_v_ft) != (sep_h_nm, sep_v_ft):
            return True
        # The clock runs down in a steady encounter: compare the predicted time of loss,
        # not the countdown to it.
        t_los_old = old.t + old.time_to_los_s
        t_los_new = t + time_to_los_s
        # Once separation is lost the "time of loss" is simply now, moving every cycle.
        lost = old.time_to_los_s == 0.0 and time_to_los_s == 0.0
        if not lost and abs(t_los_new - t_los_old) > th.update_step_s:
            return True
        # Past the closest approach (t_cpa clamped to 0) the miss distance is the current
        # distance, growing every cycle as the pair recedes: not news.
        if t_cpa_s <= 0.0:
            return False
        # While the closest approach lies beyond the look-ahead, d_cpa is the distance at
        # the horizon and shrinks every cycle by itself: only a CPA inside it is news.
        horizon = th.lookahead_s
        if old.t_cpa_s < horizon and t_cpa_s < horizon:
            return abs(d_cpa_m - old.d_cpa_m) > th.update_step_m
        return (old.t_cpa_s < horizon) != (t_cpa_s < horizon)


def _labels_changed(tracks: SystemTracks, row: int, old: Identity) -> bool:
    """Whether the callsign or Mode 3/A code of the track in ``row`` differs from what
    ``old`` published (the only parts of an identity that are news)."""
    m3a = int(tracks.mode3a[row])
    if (f"{m3a:04o}" if m3a >= 0 else None) != old.mode3a:
        return True
    return (callsign_str(bytes(tracks.callsign[row])) or None) != old.callsign


def _ended(last: AlertEvent, t: float, reason: str) -> AlertEvent:
    # The figures stay those of the last published state: the operator sees what ended.
    return replace(last, event="end", t=t, reason=reason, t_wall_detected=time.time())


def decode_event(payload: bytes) -> dict[str, Any]:
    """Decode an alert event payload (msgpack map) to a dict."""
    out = msgpack.unpackb(payload, raw=False)
    if not isinstance(out, dict):
        raise ValueError("alert payload is not a map")
    return out
