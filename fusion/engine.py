"""The synchronous core: decoded reports in, alert events and the fused picture out,
on data time.

The data clock is the newest time of applicability seen. Reports go to the fuser, which
holds them for its reorder window; the detection cycle for boundary ``tc`` (a multiple
of ``cycle_s``) runs as soon as the data clock passes ``tc + reorder_window_s``: the
fuser then fuses every report with ``t <= tc`` in time order, deletes tracks silent for
``track_expiry_s``, and predicts its confirmed tracks to ``tc``; the kernels screen that
picture. The cycles depend only on the data, not on wall-clock pacing: a recording
replayed at 1x or 100x gives the same alerts.

No I/O and no asyncio: the service feeds it messages and publishes what it returns, and
unit tests drive it directly. Not thread-safe: one owner at a time. The service splits
:meth:`Engine.ingest` in two: :meth:`Engine.note_received` (and ``note_rejected``,
``note_shed``) on its event loop as messages arrive, :meth:`Engine.add` and
:meth:`Engine.advance` on its engine thread; each field of :class:`Counters` is written
by one of the two only (the comments say which), so neither loses the other's updates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fusion.alerts import AlertEvent, AlertManager
from fusion.config import ServiceConfig
from fusion.detect import Detector, first_cycle_after
from fusion.fuser import Fuser
from fusion.schema import DecodedMessage, ReportArray
from fusion.trackmsg import encode_tracks
from fusion.volumes import AirspaceVolumes


@dataclass
class Counters:
    """Running totals since start (the status topic publishes them).

    Written on receipt (the service's event loop): ``messages``, ``reports``,
    ``messages_rejected``, ``reports_rejected``, ``reports_shed``; everything else by the
    fusion and the detection cycle (the service's engine thread).
    """

    messages: int = 0
    reports: int = 0
    reports_applied: int = 0  # fused into a system track
    reports_late: int = 0  # older than what had been fused already: never applied
    reports_duplicate: int = 0  # one ADS-B broadcast through another receiver
    reports_integrity_rejected: int = 0  # ADS-B inconsistent with radar
    reports_identity_rejected: int = 0  # far off the track of the address it carries
    messages_rejected: int = 0
    reports_rejected: int = 0
    # Coalesced away in the ingest buffer under overload (fusion.ingest): never fused.
    reports_shed: int = 0
    cycles: int = 0
    cycles_skipped: int = 0
    # Cycles left out under overload: the engine ran only the newest one that was due.
    cycles_shed: int = 0
    tracks: int = 0  # confirmed system tracks at the last cycle
    tracks_tentative: int = 0
    conflicts: int = 0
    alerts_open: int = 0
    alert_events: dict[str, int] = field(default_factory=lambda: {"new": 0, "update": 0, "end": 0})
    last_cycle_ms: float = 0.0
    data_time: float | None = None


class Engine:
    def __init__(self, config: ServiceConfig, airspace: AirspaceVolumes | None = None) -> None:
        """airspace: the volumes to use; None loads the file ``config.airspace`` names, if
        any (:class:`fusion.config.ConfigError` when it is unusable)."""
        self.config = config
        self.th = config.si()
        self.fuser = Fuser(config.fusion)
        self.airspace = airspace if airspace is not None else config.load_airspace()
        self.detector = Detector(self.th, self.airspace)
        self.alerts = AlertManager(self.th, config.service)
        self.counters = Counters()
        self.feeders: list[str] = []
        self._feeder_index: dict[str, int] = {}
        self.next_cycle: float | None = None
        # Data time of the newest cycle run (its boundary tc), None before the first.
        self.last_cycle_t: float | None = None
        self._tracks_msg: bytes | None = None
        # Called after every detection cycle with its duration in seconds of wall time
        # (perf_counter): the service feeds its metrics' histogram with it. Counters keep
        # only the last cycle's duration.
        self.on_cycle: Callable[[float], None] | None = None

    def feeder_index(self, feeder: str) -> int:
        idx = self._feeder_index.get(feeder)
        if idx is None:
            idx = len(self.feeders)
            self.feeders.append(feeder)
            self._feeder_index[feeder] = idx
        return idx

    def note_rejected(self, n_reports: int, whole_message: bool) -> None:
        if whole_message:
            self.counters.messages += 1
            self.counters.messages_rejected += 1
        self.counters.reports_rejected += n_reports

    def note_received(self, msg: DecodedMessage) -> None:
        """Count one decoded message and its reports (valid or not) as received."""
        self.counters.messages += 1
        self.counters.reports += msg.n_total

    def note_shed(self, n_reports: int) -> None:
        """Count reports dropped before fusion (the ingest buffer's coalescing)."""
        self.counters.reports_shed += n_reports

    def take_tracks(self) -> bytes | None:
        """The newest fused-picture message (``tracks`` topic) not yet taken, if any."""
        msg, self._tracks_msg = self._tracks_msg, None
        return msg

    def ingest(self, msg: DecodedMessage) -> list[AlertEvent]:
        """Count and queue one decoded message; run every cycle the data clock has moved
        past (:meth:`note_received`, :meth:`add`, :meth:`advance`)."""
        self.note_received(msg)
        self.add(msg.reports, msg.kind, msg.feeder)
        return self.advance()

    def add(self, reports: ReportArray, kind: str, feeder: str) -> None:
        """Queue valid reports of one feeder for fusion and move the data clock; no cycle
        runs until :meth:`advance`."""
        if reports.size == 0:
            return
        c = self.counters
        self.fuser.add(reports, kind, self.feeder_index(feeder))
        t = reports["t"]
        tmax = float(t.max())
        c.data_time = tmax if c.data_time is None else max(c.data_time, tmax)
        if self.next_cycle is None:
            self.next_cycle = first_cycle_after(float(t.min()), self.th.cycle_s)

    def advance(self, newest_only: bool = False) -> list[AlertEvent]:
        """Run every detection cycle the data clock has moved past by the reorder window;
        returns the alert events they raised, in order.

        ``newest_only`` (the service under overload): of several cycles due, run only the
        newest; the others are counted in ``cycles_shed``. The fuser then releases every
        report up to that boundary at once, so nothing is lost but the screening of the
        intermediate pictures, and a pass costs one cycle however far behind it was.
        """
        c = self.counters
        events: list[AlertEvent] = []
        if c.data_time is None or self.next_cycle is None:
            return events
        window = self.config.fusion.reorder_window_s
        cycle_s = self.th.cycle_s
        while c.data_time > self.next_cycle + window:
            if newest_only:
                # Boundaries tc with tc + window < data_time, beyond the next one.
                behind = math.ceil((c.data_time - window - self.next_cycle) / cycle_s) - 1
                if behind > 0:
                    c.cycles_shed += behind
                    self.next_cycle += behind * cycle_s
            events += self._cycle(self.next_cycle)
            self.next_cycle += cycle_s
            # After a silence longer than the track lifetime the cycles in between would
            # only expire tracks one by one: jump to the first boundary of the new data.
            nxt = self.fuser.earliest_pending()
            if nxt is not None and nxt - self.next_cycle > self.th.track_expiry_s:
                jump = first_cycle_after(nxt, cycle_s)
                c.cycles_skipped += round((jump - self.next_cycle) / cycle_s)
                self.next_cycle = jump
        self._count_fusion()
        return events

    def _count_fusion(self) -> None:
        st = self.fuser.stats
        c = self.counters
        c.reports_applied = st.applied
        c.reports_late = st.late
        c.reports_duplicate = st.duplicate
        c.reports_integrity_rejected = st.integrity_rejected
        c.reports_identity_rejected = st.identity_rejected

    def _cycle(self, tc: float) -> list[AlertEvent]:
        start = time.perf_counter()
        self.last_cycle_t = tc
        fu = self.fuser
        fu.release(tc)
        # An alert on a track that was folded into another follows it (same alert id).
        ended = self.alerts.rekey(fu.take_merges(), tc)
        expired = fu.expire(tc, self.th.track_expiry_s)
        pic = fu.picture(tc)
        tr = fu.tracks
        # Velocity variances of the filter state (per horizontal axis, the mean of the
        # two): the confidence of a prediction grows with them over the look-ahead.
        p_vel = tr.Ph[pic.rows]
        sigma_vel = np.sqrt(0.5 * (p_vel[:, 2, 2] + p_vel[:, 3, 3]))
        result = self.detector.cycle(pic, expired, tr.mode3a[pic.rows], sigma_vel)
        events = ended + self.alerts.step(result, fu.tracks, self.feeders)
        self._tracks_msg = encode_tracks(pic, fu.tracks, self.config.service)
        c = self.counters
        c.cycles += 1
        c.tracks = result.n_tracks
        c.tracks_tentative = len(fu.tracks) - result.n_tracks
        c.conflicts = int(result.raised.sum())  # held-only pairs are not conflicts
        c.alerts_open = len(self.alerts.open)
        for ev in events:
            c.alert_events[ev.event] += 1
        duration_s = time.perf_counter() - start
        c.last_cycle_ms = duration_s * 1e3
        if self.on_cycle is not None:
            self.on_cycle(duration_s)
        return events
