"""The synchronous core: decoded reports in, alert events out, on data time.

The data clock is the newest time of applicability seen. A detection cycle for boundary
``tc`` (a multiple of ``cycle_s``) runs as soon as a report newer than ``tc`` arrives, over
the reports with ``t <= tc``; a batch spanning a boundary is split at it. The cycles thus
depend only on the order of the data, not on wall-clock pacing: a recording replayed at
1x or 100x gives the same alerts.

No I/O and no asyncio: the service feeds it messages and publishes what it returns, and
unit tests drive it directly. Not thread-safe: one owner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from fusion.alerts import AlertEvent, AlertManager
from fusion.config import ServiceConfig
from fusion.detect import first_cycle_after, run_cycle
from fusion.schema import DecodedMessage
from fusion.tracks import TrackTable


@dataclass
class Counters:
    """Running totals since start (the status topic publishes them)."""

    messages: int = 0
    reports: int = 0
    reports_applied: int = 0
    reports_superseded: int = 0
    messages_rejected: int = 0
    reports_rejected: int = 0
    cycles: int = 0
    cycles_skipped: int = 0
    tracks: int = 0
    conflicts: int = 0
    alerts_open: int = 0
    alert_events: dict[str, int] = field(default_factory=lambda: {"new": 0, "update": 0, "end": 0})
    last_cycle_ms: float = 0.0
    data_time: float | None = None


class Engine:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.th = config.si()
        d = config.detection
        self.table = TrackTable()
        self.alerts = AlertManager(
            self.th, config.service, d.sep_h_nm, d.sep_v_ft, d.alt_tolerance_ft
        )
        self.counters = Counters()
        self.feeders: list[str] = []
        self._feeder_index: dict[str, int] = {}
        self.next_cycle: float | None = None

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

    def ingest(self, msg: DecodedMessage) -> list[AlertEvent]:
        """Apply one decoded message; run every cycle whose boundary the data clock passes."""
        c = self.counters
        c.messages += 1
        c.reports += msg.n_total
        reports = msg.reports
        if reports.size == 0:
            return []
        idx = self.feeder_index(msg.feeder)
        t = reports["t"]
        if self.next_cycle is None:
            self.next_cycle = first_cycle_after(float(t.min()), self.th.cycle_s)
        events: list[AlertEvent] = []
        while reports.size and float(t.max()) > self.next_cycle:
            due = t <= self.next_cycle
            self._apply(reports[due], msg.kind, idx)
            events += self._cycle(self.next_cycle)
            reports, t = reports[~due], t[~due]
            self.next_cycle += self.th.cycle_s
            # After a silence longer than the track lifetime the cycles in between would
            # only expire tracks one by one: jump to the first boundary of the new data.
            gap = float(t.min()) - self.next_cycle if t.size else 0.0
            if gap > self.th.track_expiry_s:
                jump = first_cycle_after(float(t.min()), self.th.cycle_s)
                c.cycles_skipped += round((jump - self.next_cycle) / self.th.cycle_s)
                self.next_cycle = jump
        self._apply(reports, msg.kind, idx)
        tmax = float(msg.reports["t"].max())
        c.data_time = tmax if c.data_time is None else max(c.data_time, tmax)
        return events

    def _apply(self, reports: np.ndarray, kind: str, feeder_index: int) -> None:
        if reports.size == 0:
            return
        st = self.table.update(reports, kind, feeder_index)
        self.counters.reports_applied += st.applied
        self.counters.reports_superseded += st.superseded

    def _cycle(self, tc: float) -> list[AlertEvent]:
        start = time.perf_counter()
        result = run_cycle(self.table, tc, self.th)
        events = self.alerts.step(result, self.table, self.feeders)
        c = self.counters
        c.cycles += 1
        c.tracks = result.n_tracks
        c.conflicts = len(result)
        c.alerts_open = len(self.alerts.open)
        for ev in events:
            c.alert_events[ev.event] += 1
        c.last_cycle_ms = (time.perf_counter() - start) * 1e3
        return events
