"""Alert lifecycle: conflicts of each detection cycle in, new / update / end events out.

One alert per encounter, keyed by the pair of system track numbers. Its id is made from the two
identities and the data time it opened, so a replay of the same data gives the same ids.
- ``new``: the pair enters the conflict set.
- ``update``: severity changes, the predicted time of loss moves by more than a step, the
  closest approach comes inside the look-ahead, or its miss distance moves by more than a
  step (so a steady encounter does not flood the topic).
- ``end``: the pair stays out of the conflict set for ``alert_end_s`` of data time
  (reason ``clear``), one of its tracks expires (reason ``track_lost``), or fusion folds
  one track into the other or into a track already in another open alert with the same
  partner (reason ``merged``); otherwise an alert follows a merged track unchanged.

Python loops here run over conflicts, not tracks: they are few even when tracks are many.
Not thread-safe: one owner (the detection cycle).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import msgpack

from fusion.config import FT, NM, Thresholds
from fusion.detect import CycleResult
from fusion.schema import SENSOR_KINDS, callsign_str
from fusion.systracks import SystemTracks

EventKind = Literal["new", "update", "end"]
Severity = Literal["predicted", "loss"]
ALERT_SCHEMA_VERSION = 1


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
    sep_h_nm: float
    sep_v_ft: float
    sep_v_effective_ft: float
    lookahead_s: float
    service: str
    reason: str | None = None
    t_wall_detected: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
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
        }
        return d

    def encode(self) -> bytes:
        return msgpack.packb(self.to_dict(), use_bin_type=True)  # type: ignore[no-any-return]


@dataclass
class _Open:
    alert_id: str
    t_opened: float
    last_seen: float
    last: AlertEvent


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


class AlertManager:
    def __init__(
        self,
        th: Thresholds,
        service: str,
        sep_h_nm: float,
        sep_v_ft: float,
        alt_tolerance_ft: float,
    ) -> None:
        self.th = th
        self.service = service
        self._sep_h_nm = sep_h_nm
        self._sep_v_ft = sep_v_ft
        self._sep_v_eff_ft = sep_v_ft - alt_tolerance_ft
        self.open: dict[tuple[int, int], _Open] = {}

    def step(
        self, cycle: CycleResult, tracks: SystemTracks, feeders: list[str]
    ) -> list[AlertEvent]:
        """Advance the lifecycle by one detection cycle; returns the events to publish."""
        events: list[AlertEvent] = []
        seen: set[tuple[int, int]] = set()
        th = self.th
        for k in range(len(cycle)):
            pair = (int(cycle.key_a[k]), int(cycle.key_b[k]))
            seen.add(pair)
            a = identity(tracks, int(cycle.slot_a[k]), feeders)
            b = identity(tracks, int(cycle.slot_b[k]), feeders)
            inside = cycle.d_now[k] < th.sep_h_m and cycle.dz_now[k] < th.sep_v_eff_m
            severity: Severity = "loss" if inside else "predicted"
            current = self.open.get(pair)
            t_opened = cycle.t if current is None else current.t_opened
            aid = alert_id(a, b, t_opened) if current is None else current.alert_id
            ev = AlertEvent(
                alert_id=aid,
                event="new" if current is None else "update",
                severity=severity,
                t=cycle.t,
                t_opened=t_opened,
                a=a,
                b=b,
                time_to_los_s=float(cycle.t_in[k]),
                t_cpa_s=float(cycle.t_cpa[k]),
                d_cpa_m=float(cycle.d_cpa[k]),
                dz_cpa_m=float(cycle.dz_cpa[k]),
                d_now_m=float(cycle.d_now[k]),
                dz_now_m=float(cycle.dz_now[k]),
                sep_h_nm=self._sep_h_nm,
                sep_v_ft=self._sep_v_ft,
                sep_v_effective_ft=self._sep_v_eff_ft,
                lookahead_s=th.lookahead_s,
                service=self.service,
            )
            if current is None:
                self.open[pair] = _Open(aid, cycle.t, cycle.t, ev)
                events.append(ev)
                continue
            current.last_seen = cycle.t
            if self._changed(current.last, ev):
                current.last = ev
                events.append(ev)
        expired = set(cycle.expired.tolist())
        for pair, st in list(self.open.items()):
            if pair in seen:
                continue
            lost = pair[0] in expired or pair[1] in expired
            if lost or cycle.t - st.last_seen >= th.alert_end_s:
                del self.open[pair]
                last = st.last
                events.append(_ended(last, cycle.t, "track_lost" if lost else "clear"))
        return events

    def rekey(self, merges: list[tuple[int, int]], t: float) -> list[AlertEvent]:
        """Move open alerts from merged tracks to the tracks they were folded into
        (merges: (old id, surviving id)). The alert keeps its id and lifecycle; an alert
        that would pair a track with itself (one aircraft tracked twice) or duplicate an
        open alert ends with reason "merged"."""
        events: list[AlertEvent] = []
        for old_id, new_id in merges:
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
        th = self.th
        if old.severity != new.severity:
            return True
        # Which sensor last updated a track changes every second; a new callsign or squawk
        # is news for the operator.
        for o, n in ((old.a, new.a), (old.b, new.b)):
            if (o.callsign, o.mode3a) != (n.callsign, n.mode3a):
                return True
        # The clock runs down in a steady encounter: compare the predicted time of loss,
        # not the countdown to it.
        t_los_old = old.t + old.time_to_los_s
        t_los_new = new.t + new.time_to_los_s
        # Once separation is lost the "time of loss" is simply now, moving every cycle.
        lost = old.time_to_los_s == 0.0 and new.time_to_los_s == 0.0
        if not lost and abs(t_los_new - t_los_old) > th.update_step_s:
            return True
        # While the closest approach lies beyond the look-ahead, d_cpa is the distance at
        # the horizon and shrinks every cycle by itself: only a CPA inside it is news.
        horizon = th.lookahead_s
        if old.t_cpa_s < horizon and new.t_cpa_s < horizon:
            return abs(new.d_cpa_m - old.d_cpa_m) > th.update_step_m
        return (old.t_cpa_s < horizon) != (new.t_cpa_s < horizon)


def _ended(last: AlertEvent, t: float, reason: str) -> AlertEvent:
    # The figures stay those of the last published state: the operator sees what ended.
    return replace(last, event="end", t=t, reason=reason, t_wall_detected=time.time())


def decode_event(payload: bytes) -> dict[str, Any]:
    """Decode an alert event payload (msgpack map) to a dict."""
    out = msgpack.unpackb(payload, raw=False)
    if not isinstance(out, dict):
        raise ValueError("alert payload is not a map")
    return out
