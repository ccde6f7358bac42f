"""Prometheus metrics of the service, and the HTTP endpoint that serves them.

Every :class:`ServiceMetrics` has its own ``CollectorRegistry``, never the process-wide
default one, so that tests and several services in one process do not collide.

Two kinds of metrics, chosen by where the number already lives:

- What the engine already counts (:class:`fusion.engine.Counters`: fused, late, duplicate,
  integrity- and identity-rejected reports, cycles, tracks, conflicts, open alerts, data
  time) is read by :class:`_EngineCollector` at scrape time, straight from the live
  ``Counters``. Nothing runs between scrapes, the hot path is untouched, and the values are
  monotone by construction because the engine's totals only grow. The scrape runs on the
  endpoint's thread while the event loop updates the counters; each value is one attribute
  read (atomic under the GIL), so a scrape may mix values from either side of a cycle but
  never sees a torn or decreasing one.
- What the engine does not keep (reports by sensor kind, rejections by reason code, alert
  events the broker has acknowledged, every cycle's duration, report-to-alert latency) is
  a prometheus-client metric that the service updates where it happens: once per message,
  per rejection, per cycle or per alert event, never per report.

Units are in the names (``_seconds``), counters end in ``_total``; see docs/operations.md,
"Metrics", for the list.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from threading import Thread
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from fusion.config import ConfigError
from fusion.engine import Counters
from fusion.schema import MESSAGE_REJECT_CODES, ROW_REJECT_CODES, SENSOR_KINDS

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

PREFIX = "airspace_"

# A message whose handling raised inside the service (a defect, not bad input): dead-
# lettered with this code next to the schema's codes.
INTERNAL_ERROR = "internal_error"

# A cycle over a handful of tracks takes well under a millisecond, thousands of tracks a
# few to tens of milliseconds; past a second the service falls behind a 1 s cycle.
CYCLE_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
# Receipt to broker acknowledgement: a few ms on a quiet loopback broker; seconds mean a
# backlog in the outbox or a broker outage.
LATENCY_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

ALERT_EVENT_KINDS = ("new", "update", "end")
# Outbox item kinds (fusion.publish): what a drop or an overflow concerns.
OUTBOX_KINDS = ("alert", "deadletter", "other")


class ServiceMetrics:
    """The metrics of one service instance, in its own registry.

    ``counters`` returns the engine's live counters, ``outbox_len`` the number of messages
    waiting to be published, ``connected`` whether the broker session is up,
    ``ingest_rows`` the report rows waiting in the ingest buffer, ``cycle_lag_s`` how far
    (data time, s) the newest detection cycle trails the newest report taken in (None
    before the first cycle); all are read at scrape time, possibly from the endpoint's
    thread.
    """

    def __init__(
        self,
        service: str,
        version: str,
        counters: Callable[[], Counters],
        outbox_len: Callable[[], int] = lambda: 0,
        connected: Callable[[], bool] = lambda: False,
        ingest_rows: Callable[[], int] = lambda: 0,
        cycle_lag_s: Callable[[], float | None] = lambda: None,
        client_backlog: Callable[[], int] = lambda: 0,
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        Info(PREFIX + "service", "The service name and version.", registry=r).info(
            {"service": service, "version": version}
        )
        received = Counter(
            PREFIX + "reports_received",
            "Reports received in decodable messages, valid or not, by sensor kind.",
            ["kind"],
            registry=r,
        )
        # Children made up front: every known label value is exported from the start (a
        # series that appears only on its first increment hides that increment from rate()).
        self._received = {k: received.labels(kind=k) for k in SENSOR_KINDS}
        self._reports_rejected = Counter(
            PREFIX + "reports_rejected",
            "Reports that failed validation (dead-lettered), by reason code of the first "
            "rule failed.",
            ["reason"],
            registry=r,
        )
        for code in ROW_REJECT_CODES:
            self._reports_rejected.labels(reason=code)
        self._messages_rejected = Counter(
            PREFIX + "messages_rejected",
            "Report messages rejected as a whole (dead-lettered), by reason code.",
            ["reason"],
            registry=r,
        )
        for code in (*MESSAGE_REJECT_CODES, INTERNAL_ERROR):
            self._messages_rejected.labels(reason=code)
        events = Counter(
            PREFIX + "alert_events_published",
            "Alert events acknowledged by the broker on the events topic, by event.",
            ["event"],
            registry=r,
        )
        self._events = {k: events.labels(event=k) for k in ALERT_EVENT_KINDS}
        self._events_metric = events
        dropped = Counter(
            PREFIX + "outbox_dropped",
            "Outbox messages dropped unpublished, by kind: dead letters past the outbox "
            "bound; any kind whose publication raised a defect (not a lost connection).",
            ["kind"],
            registry=r,
        )
        self._dropped = {k: dropped.labels(kind=k) for k in OUTBOX_KINDS}
        self.outbox_overflow = Counter(
            PREFIX + "outbox_overflow",
            "Messages queued past the outbox bound because nothing droppable was left "
            "(alerts are never dropped for room).",
            registry=r,
        )
        self.broker_connections = Counter(
            PREFIX + "broker_connections",
            "Broker sessions established, the first one included: more than one means the "
            "service reconnected.",
            registry=r,
        )
        self.cycle_duration = Histogram(
            PREFIX + "cycle_duration_seconds",
            "Wall time of one detection cycle: release, fusion, screening, alert lifecycle.",
            unit="seconds",
            buckets=CYCLE_BUCKETS_S,
            registry=r,
        )
        self.alert_latency = Histogram(
            PREFIX + "report_to_alert_latency_seconds",
            "Wall time from taking in the report message whose cycle raised an alert event "
            "to the broker's acknowledgement of that event.",
            unit="seconds",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        r.register(
            _EngineCollector(
                counters, outbox_len, connected, ingest_rows, cycle_lag_s, client_backlog
            )
        )

    def received(self, kind: str, n_reports: int) -> None:
        """Count the ``n_reports`` reports of one decoded message of sensor ``kind``."""
        self._received[kind].inc(n_reports)

    def rejected_message(self, code: str) -> None:
        """Count one message rejected as a whole with reason ``code``."""
        self._messages_rejected.labels(reason=code).inc()

    def rejected_reports(self, codes: Iterable[str]) -> None:
        """Count rejected reports, one reason code each."""
        for code, n in Tally(codes).items():
            self._reports_rejected.labels(reason=code).inc(n)

    def outbox_dropped(self, kind: str, n: int = 1) -> None:
        """Count ``n`` outbox messages of ``kind`` dropped unpublished."""
        self._dropped[kind if kind in self._dropped else "other"].inc(n)

    def cycle(self, duration_s: float) -> None:
        """Observe one detection cycle's duration, seconds."""
        self.cycle_duration.observe(duration_s)

    def alert_published(
        self, event: str, t_received: float | None, t_published: float | None = None
    ) -> None:
        """Count one alert event the broker acknowledged and observe its latency, seconds
        between ``t_received`` and ``t_published`` (``time.monotonic()``, default now)."""
        child = self._events.get(event)
        (child if child is not None else self._events_metric.labels(event=event)).inc()
        if t_received is not None:
            now = time.monotonic() if t_published is None else t_published
            self.alert_latency.observe(max(0.0, now - t_received))

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format, as a scrape would see it."""
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> MetricsServer:
        """Start the HTTP endpoint on ``host:port`` (port 0: any free port)."""
        return MetricsServer(self.registry, host, port)


class _EngineCollector:
    """Reads the engine's live counters at scrape time (see the module docstring)."""

    def __init__(
        self,
        counters: Callable[[], Counters],
        outbox_len: Callable[[], int],
        connected: Callable[[], bool],
        ingest_rows: Callable[[], int],
        cycle_lag_s: Callable[[], float | None],
        client_backlog: Callable[[], int] = lambda: 0,
    ) -> None:
        self._client_backlog = client_backlog
        self._counters = counters
        self._outbox_len = outbox_len
        self._connected = connected
        self._ingest_rows = ingest_rows
        self._cycle_lag_s = cycle_lag_s

    def describe(self) -> Iterator[Metric]:
        # The names, so that the registry refuses a native metric of the same name.
        return self._families(Counters(), 0, False, 0, None, 0)

    def collect(self) -> Iterator[Metric]:
        return self._families(
            self._counters(),
            self._outbox_len(),
            self._connected(),
            self._ingest_rows(),
            self._cycle_lag_s(),
            self._client_backlog(),
        )

    @staticmethod
    def _families(
        c: Counters,
        outbox: int,
        connected: bool,
        ingest_rows: int,
        cycle_lag_s: float | None,
        client_backlog: int,
    ) -> Iterator[Metric]:
        p = PREFIX
        totals = (
            ("messages_received", c.messages, "Report messages received, decodable or not."),
            ("reports_applied", c.reports_applied, "Reports fused into a system track."),
            (
                "reports_late",
                c.reports_late,
                "Reports older than what had been fused already: never applied.",
            ),
            (
                "reports_duplicate",
                c.reports_duplicate,
                "ADS-B broadcasts received through another receiver too: applied once.",
            ),
            (
                "reports_integrity_rejected",
                c.reports_integrity_rejected,
                "ADS-B reports kept out for disagreeing with radar.",
            ),
            (
                "reports_identity_rejected",
                c.reports_identity_rejected,
                "Reports kept out for lying far off the track of the address they carry.",
            ),
            (
                "reports_shed",
                c.reports_shed,
                "Reports coalesced away under overload: the ingest buffer kept the newest "
                "report per sensor track.",
            ),
            ("cycles", c.cycles, "Detection cycles run."),
            (
                "cycles_skipped",
                c.cycles_skipped,
                "Empty cycles jumped over after a silence longer than the track expiry.",
            ),
            (
                "cycles_shed",
                c.cycles_shed,
                "Detection cycles left out under overload (only the newest one due ran).",
            ),
        )
        for name, value, doc in totals:
            yield CounterMetricFamily(p + name, doc, value=value)
        tracks = GaugeMetricFamily(
            p + "system_tracks",
            "System tracks at the last cycle: confirmed (screened, published) or tentative.",
            labels=["state"],
        )
        tracks.add_metric(["confirmed"], c.tracks)
        tracks.add_metric(["tentative"], c.tracks_tentative)
        yield tracks
        yield GaugeMetricFamily(
            p + "conflicts", "Conflicting pairs found by the last cycle.", value=c.conflicts
        )
        yield GaugeMetricFamily(p + "alerts_open", "Alerts open now.", value=c.alerts_open)
        data_time = GaugeMetricFamily(
            p + "data_time_seconds",
            "Newest report time of applicability seen, UTC epoch seconds (absent before the "
            "first report).",
            unit="seconds",
        )
        if c.data_time is not None:
            data_time.add_metric([], c.data_time)
        yield data_time
        yield GaugeMetricFamily(
            p + "outbox_messages",
            "Messages waiting to be published (alerts, dead letters, status, tracks).",
            value=outbox,
        )
        yield GaugeMetricFamily(
            p + "ingest_rows",
            "Report rows waiting in the ingest buffer for the engine (bounded by ingest.max_rows).",
            value=ingest_rows,
        )
        yield GaugeMetricFamily(
            p + "client_backlog_messages",
            "Messages the MQTT client has received that the reader has not taken yet (the "
            "client's queue is unbounded: near 0 while the reader keeps up).",
            value=client_backlog,
        )
        lag = GaugeMetricFamily(
            p + "cycle_lag_seconds",
            "Data time from the newest detection cycle's boundary to the newest report "
            "taken in (absent before the first cycle): the reorder window plus up to a "
            "cycle while the engine keeps up.",
            unit="seconds",
        )
        if cycle_lag_s is not None:
            lag.add_metric([], cycle_lag_s)
        yield lag
        yield GaugeMetricFamily(
            p + "broker_connected",
            "1 while the broker session is up, else 0.",
            value=1.0 if connected else 0.0,
        )


class MetricsServer:
    """``GET /metrics`` on a daemon thread (prometheus-client's WSGI server).

    A thread rather than the event loop: a scrape then never delays a detection cycle by
    more than the GIL hand-over, and prometheus-client's own server handles content
    negotiation (OpenMetrics), compression and HEAD. :meth:`stop` closes the socket.
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        try:
            server, thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:  # port in use, address not ours, host unknown
            raise ConfigError(f"metrics endpoint {host}:{port}: {exc}") from exc
        self._server: WSGIServer = server
        self._thread: Thread = thread

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (the one picked when started with port 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and release the port. Blocks up to about half a second (the
        server's poll interval); call it from a worker thread inside the event loop."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
