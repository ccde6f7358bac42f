"""The service: ingest from MQTT, run the engine, publish alerts, status and dead letters.

Tasks, all on one event loop:
- reader: iterates the transport's messages, decodes, feeds the engine (the engine's
  Numba kernels run inline: a cycle over a few thousand tracks takes milliseconds);
- publisher: empties the outbox in order (alerts, dead letters and status QoS 1; the fused
  picture on ``tracks`` QoS 0, only the newest unsent one kept);
- status: republishes the retained status with counters every ``status_every_s``.

Metrics (fusion.metrics) live in ``Service.metrics``, a registry of this instance's own;
with ``config.metrics.port`` set, ``run`` serves them over HTTP on a thread of their own
from start to stop, reconnections included.

A lost connection is retried with back-off; the track table, open alerts and unsent
outbox survive it. ``stop`` (SIGINT/SIGTERM in the CLI) drains the outbox, publishes the
retained status ``offline`` and disconnects; if the process dies instead, the broker
publishes the same ``offline`` as our last will.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from importlib.metadata import PackageNotFoundError, version

from fusion.alerts import AlertEvent
from fusion.config import ServiceConfig
from fusion.engine import Engine
from fusion.metrics import INTERNAL_ERROR, MetricsServer, ServiceMetrics
from fusion.publish import Outbox, Outgoing, encode_deadletter, encode_status
from fusion.schema import SchemaError, decode_message
from fusion.topics import Topics
from fusion.transport import Message, Transport, TransportError, TransportFactory, Will

log = logging.getLogger("fusion.service")

try:
    VERSION = version("airspace-fusion")
except PackageNotFoundError:  # running from a source tree without install
    VERSION = "0+unknown"


class Service:
    def __init__(
        self,
        config: ServiceConfig,
        transport_factory: TransportFactory,
        status_every_s: float = 5.0,
        reconnect_max_s: float = 10.0,
    ) -> None:
        self.config = config
        self.topics = Topics(config.root)
        self.engine = Engine(config)
        self.outbox = Outbox()
        self._factory = transport_factory
        self._status_every_s = status_every_s
        self._reconnect_max_s = reconnect_max_s
        self.connected = asyncio.Event()
        self.client_id = f"{config.service}-{socket.gethostname()}-{os.getpid()}"
        self.metrics = ServiceMetrics(
            config.service,
            VERSION,
            counters=lambda: self.engine.counters,
            outbox_len=lambda: len(self.outbox),
            connected=self.connected.is_set,
        )
        self.engine.on_cycle = self.metrics.cycle
        # The HTTP endpoint while ``run`` runs with ``config.metrics.port`` set, else None.
        self.metrics_endpoint: MetricsServer | None = None

    @property
    def status_topic(self) -> str:
        return self.topics.status(self.config.service)

    def handle(self, msg: Message) -> None:
        """Decode one incoming message and queue what it causes. Never raises on bad input."""
        # The start of the report-to-alert latency: the payload carries no publish time,
        # so the service's own receipt (the reader taking the message) is the earliest
        # moment it knows.
        t_received = time.monotonic()
        feeder = self.topics.feeder_of(msg.topic)
        if feeder is None:
            log.warning("ignoring message on unexpected topic %s", msg.topic)
            return
        try:
            decoded = decode_message(msg.payload, feeder)
        except SchemaError as exc:
            self._dead_letter(feeder, str(exc), msg.payload, code=exc.code)
            self.engine.note_rejected(0, whole_message=True)
            self.metrics.rejected_message(exc.code)
            return
        self.metrics.received(decoded.kind, decoded.n_total)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "message from feeder=%s kind=%s: %d reports, %d rejected",
                feeder,
                decoded.kind,
                decoded.n_total,
                decoded.rejected_rows.size,
                extra={"feeder": feeder},
            )
        if decoded.rejected_rows.size:
            rows = decoded.rejected_rows.tolist()
            self._dead_letter(
                feeder,
                f"{len(rows)} of {decoded.n_total} reports failed validation",
                msg.payload,
                rows,
                list(decoded.reasons),
                codes=list(decoded.codes),
            )
            self.engine.note_rejected(len(rows), whole_message=False)
            self.metrics.rejected_reports(decoded.codes)
        for ev in self.engine.ingest(decoded):
            self._queue_event(ev, t_received)
        tracks = self.engine.take_tracks()
        if tracks is not None:
            # Only the newest picture matters: an unsent older one is replaced, so a slow
            # broker link never piles pictures up in front of the alerts.
            self.outbox.put(Outgoing(self.topics.tracks, tracks, qos=0, coalesce="tracks"))

    def _dead_letter(
        self,
        feeder: str,
        reason: str,
        payload: bytes,
        rows: list[int] | None = None,
        reasons: list[str] | None = None,
        code: str | None = None,
        codes: list[str] | None = None,
    ) -> None:
        log.warning(
            "dead letter from feeder=%s code=%s: %s",
            feeder,
            code if code is not None else ",".join(sorted(set(codes or []))),
            reason,
            extra={"feeder": feeder},
        )
        self.outbox.put(
            Outgoing(
                self.topics.deadletter(feeder),
                encode_deadletter(feeder, reason, payload, rows, reasons, code, codes),
                qos=1,
            )
        )

    def _queue_event(self, ev: AlertEvent, t_received: float | None = None) -> None:
        log.info(
            "alert_id=%s %s severity=%s a=%s(%s) b=%s(%s) t_los=%+.0fs d_cpa=%.2fNM%s",
            ev.alert_id,
            ev.event,
            ev.severity,
            ev.a.label(),
            ev.a.feeder,
            ev.b.label(),
            ev.b.feeder,
            ev.time_to_los_s,
            ev.d_cpa_m / 1852.0,
            f" reason={ev.reason}" if ev.reason else "",
            extra={"alert_id": ev.alert_id},
        )
        payload = ev.encode()
        self.outbox.put(
            Outgoing(
                self.topics.alert_events,
                payload,
                qos=1,
                alert_event=ev.event,
                t_received=t_received,
            )
        )
        active = self.topics.alert_active(ev.alert_id)
        # An empty retained message deletes the retained state: the alert is over.
        self.outbox.put(Outgoing(active, b"" if ev.event == "end" else payload, 1, retain=True))

    def _status(self, state: str) -> Outgoing:
        counters = self.engine.counters if state == "online" else None
        payload = encode_status(self.config.service, state, counters, VERSION)
        return Outgoing(self.status_topic, payload, qos=1, retain=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, reconnecting when the broker goes away. Serves the
        metrics endpoint meanwhile if ``config.metrics.port`` is set (ConfigError if it
        cannot bind), and closes it on the way out, whichever way that is."""
        from fusion.warmup import warm_up

        m = self.config.metrics
        if m.port:
            # Before the warm-up: a scrape during those seconds shows the service alive.
            self.metrics_endpoint = self.metrics.serve(m.host, m.port)
            log.info("metrics on %s", self.metrics_endpoint.url)
        try:
            # Compile (or load from cache) before the first report, so the first cycle is
            # on time.
            await asyncio.to_thread(warm_up)
            await self._sessions(stop)
        finally:
            endpoint, self.metrics_endpoint = self.metrics_endpoint, None
            if endpoint is not None:
                # shutdown() waits for the server's poll loop (up to 0.5 s): not on the
                # event loop. The thread finishes the job even if this await is cancelled.
                await asyncio.to_thread(endpoint.stop)

    async def _sessions(self, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                await self._session(stop)
                return
            except TransportError as exc:
                self.connected.clear()
                log.warning("broker connection lost or refused (%s); retrying in %.1fs", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2.0, self._reconnect_max_s)

    async def _session(self, stop: asyncio.Event) -> None:
        offline = encode_status(self.config.service, "offline", None, VERSION)
        will = Will(self.status_topic, offline, qos=1, retain=True)
        async with self._factory(self.client_id, will) as tr:
            st = self._status("online")
            await tr.publish(st.topic, st.payload, st.qos, st.retain)
            await tr.subscribe(self.topics.reports_filter, qos=1)
            log.info(
                "service %s online, subscribed to %s",
                self.config.service,
                self.topics.reports_filter,
            )
            self.connected.set()
            tasks = [
                asyncio.create_task(self._reader(tr), name="reader"),
                asyncio.create_task(self._publisher(tr), name="publisher"),
                asyncio.create_task(self._status_loop(tr), name="status"),
            ]
            stopper = asyncio.create_task(stop.wait(), name="stop")
            try:
                done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    if t is not stopper and t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
                # Stopping: no more input; let the publisher empty the outbox, then say so.
                tasks[0].cancel()
                tasks[2].cancel()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.outbox.drained(), 5.0)
                st = self._status("offline")
                await tr.publish(st.topic, st.payload, st.qos, st.retain)
                log.info("service %s offline", self.config.service)
            finally:
                stopper.cancel()
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, stopper, return_exceptions=True)
                self.connected.clear()

    async def _reader(self, tr: Transport) -> None:
        async for msg in tr.messages():
            try:
                self.handle(msg)
            except Exception as exc:  # a defect must not take the service down
                feeder = self.topics.feeder_of(msg.topic) or "unknown"
                log.exception(
                    "internal error handling a message from feeder=%s on %s",
                    feeder,
                    msg.topic,
                    extra={"feeder": feeder},
                )
                self._dead_letter(
                    feeder,
                    f"internal error: {type(exc).__name__}: {exc}",
                    msg.payload,
                    code=INTERNAL_ERROR,
                )
                self.metrics.rejected_message(INTERNAL_ERROR)
        raise TransportError("message stream ended")

    async def _publisher(self, tr: Transport) -> None:
        while True:
            item = await self.outbox.peek()
            await tr.publish(item.topic, item.payload, item.qos, item.retain)
            if item.alert_event:
                # Counted once the broker has it (QoS 1: acknowledged), so that a retry
                # after a lost connection is neither counted twice nor timed from the retry.
                self.metrics.alert_published(item.alert_event, item.t_received)
            self.outbox.done()

    async def _status_loop(self, tr: Transport) -> None:
        while True:
            await asyncio.sleep(self._status_every_s)
            self.outbox.put(self._status("online"))
