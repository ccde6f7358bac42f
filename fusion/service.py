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

Faults (docs/operations.md, "Faults"):

- A lost or refused connection is retried with exponential back-off and jitter
  (:class:`fusion.transport.Backoff`, 0.5 s doubling to ``reconnect_max_s``). The track
  table, the open alerts and the unsent outbox live in this object and survive it. Each
  new connection publishes the status, subscribes again and republishes, retained, the
  state of every open alert the outbox does not already hold a newer copy of (a broker
  that restarted without persistence has lost its retained messages). Give it a
  transport factory with persistent sessions (``aiomqtt_factory(..., clean_session=
  False)``, as ``fusion run`` does): the client id is fixed for the process, so reports
  published while only our link was down are queued by the broker for us.
- The outbox is bounded (fusion.publish: dead letters dropped oldest first past the
  bound, counted; alerts never dropped).
- Input never takes the service down: the decoder raises only SchemaError (dead-lettered
  with its code), anything else raised while handling a message is dead-lettered as
  ``internal_error`` with its traceback logged, and a publish that fails for any reason
  but a lost connection drops that one message, logged and counted.
- ``stop`` (SIGINT/SIGTERM in the CLI) stops reading, unsubscribes (so that the broker
  queues no reports for a session that will not return), publishes what the outbox holds
  (up to ``drain_timeout_s``), then the retained status ``offline``, and disconnects. The
  retained active alerts stay: they are still open as far as anyone knows, and the status
  says the service that would end them is offline. If the process dies instead, the broker
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
from fusion.publish import (
    ALERT,
    DEADLETTER,
    MAX_BYTES,
    MAX_ITEMS,
    Outbox,
    Outgoing,
    encode_deadletter,
    encode_status,
)
from fusion.schema import SchemaError, decode_message
from fusion.topics import Topics
from fusion.transport import (
    Backoff,
    Message,
    Transport,
    TransportError,
    TransportFactory,
    Will,
)
from fusion.volumes import AirspaceVolumes

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
        airspace: AirspaceVolumes | None = None,
        *,
        reconnect_initial_s: float = 0.5,
        drain_timeout_s: float = 5.0,
        outbox_max_items: int = MAX_ITEMS,
        outbox_max_bytes: int = MAX_BYTES,
    ) -> None:
        """airspace: volumes already loaded; None loads ``config.airspace`` if it names
        a file (ConfigError when it is unusable).

        Times in seconds: ``status_every_s`` between status republications,
        ``reconnect_initial_s``/``reconnect_max_s`` the back-off bounds, ``drain_timeout_s``
        the most a stop waits for the outbox; ``outbox_max_items`` and ``outbox_max_bytes``
        bound the outbox (fusion.publish)."""
        self.config = config
        self.topics = Topics(config.root)
        self.engine = Engine(config, airspace)
        self.outbox = Outbox(outbox_max_items, outbox_max_bytes)
        self.outbox.on_shed = self._on_shed
        self._factory = transport_factory
        self._status_every_s = status_every_s
        self._reconnect_max_s = reconnect_max_s
        self._backoff = Backoff(reconnect_initial_s, reconnect_max_s)
        self._drain_timeout_s = drain_timeout_s
        # alert_id -> the retained payload of each open alert (its newest new/update), for
        # republication after a reconnection.
        self._active: dict[str, bytes] = {}
        # Broker sessions established so far (1 after the first connection).
        self.connections = 0
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
            # Report times are bounded relative to the data clock (and, for the future,
            # the wall clock): fusion.schema.MAX_AHEAD_S.
            decoded = decode_message(
                msg.payload,
                feeder,
                data_time=self.engine.counters.data_time,
                wall_time=time.time(),
            )
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
                kind=DEADLETTER,
            )
        )

    def _queue_event(self, ev: AlertEvent, t_received: float | None = None) -> None:
        log.info(
            "alert_id=%s %s severity=%s a=%s(%s) b=%s(%s) t_los=%+.0fs d_cpa=%.2fNM "
            "minima=%.1fNM/%.0fft conf=%.2f %s%s",
            ev.alert_id,
            ev.event,
            ev.severity,
            ev.a.label(),
            ev.a.feeder,
            ev.b.label(),
            ev.b.feeder,
            ev.time_to_los_s,
            ev.d_cpa_m / 1852.0,
            ev.sep_h_nm,
            ev.sep_v_ft,
            ev.confidence,
            ev.hypothesis,
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
                kind=ALERT,
            )
        )
        active = self.topics.alert_active(ev.alert_id)
        # An empty retained message deletes the retained state: the alert is over.
        if ev.event == "end":
            self._active.pop(ev.alert_id, None)
        else:
            self._active[ev.alert_id] = payload
        self.outbox.put(
            Outgoing(active, b"" if ev.event == "end" else payload, 1, retain=True, kind=ALERT)
        )

    def _on_shed(self, kind: str, n: int) -> None:
        # Logged at powers of two: a flood says so without writing a line per message.
        if kind == "overflow":
            self.metrics.outbox_overflow.inc(n)
            total = self.outbox.overflow
            if total & (total - 1) == 0:
                log.error(
                    "outbox past its bound (%d messages, %d bytes) with nothing left to "
                    "drop: alert messages queued beyond it (%d times so far)",
                    len(self.outbox),
                    self.outbox.nbytes,
                    total,
                )
        else:
            self.metrics.outbox_dropped(kind, n)
            total = self.outbox.dropped[kind]
            if total & (total - 1) == 0 or n > 1:
                log.warning(
                    "outbox full: %d %s message(s) dropped, oldest first (%d so far)",
                    n,
                    kind,
                    total,
                )

    def _status(self, state: str) -> Outgoing:
        counters = self.engine.counters if state == "online" else None
        payload = encode_status(self.config.service, state, counters, VERSION)
        # Only the newest status matters: an unsent older one is replaced.
        return Outgoing(self.status_topic, payload, qos=1, retain=True, coalesce="status")

    @property
    def open_alerts(self) -> dict[str, bytes]:
        """alert_id -> retained payload of every open alert, as the service last queued it."""
        return dict(self._active)

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
        while not stop.is_set():
            t_start = time.monotonic()
            try:
                await self._session(stop)
                return
            except TransportError as exc:
                problem = f"broker connection lost or refused ({exc})"
            except Exception:  # a defect: logged, and the service carries on
                log.exception("internal error in the broker session")
                problem = "internal error in the broker session"
            self.connected.clear()
            # A session that ran a while proves the broker back: start the back-off again.
            # One that failed at once (refused, or a broker that drops us at every connect)
            # keeps doubling it.
            if time.monotonic() - t_start >= self._reconnect_max_s:
                self._backoff.reset()
            delay = self._backoff.next()
            log.warning("%s; retrying in %.1fs", problem, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, stop: asyncio.Event) -> None:
        offline = encode_status(self.config.service, "offline", None, VERSION)
        will = Will(self.status_topic, offline, qos=1, retain=True)
        async with self._factory(self.client_id, will) as tr:
            st = self._status("online")
            await tr.publish(st.topic, st.payload, st.qos, st.retain)
            await tr.subscribe(self.topics.reports_filter, qos=1)
            republished = await self._republish_active(tr)
            self.connections += 1
            self.metrics.broker_connections.inc()
            if self.connections == 1:
                log.info(
                    "service %s online, subscribed to %s",
                    self.config.service,
                    self.topics.reports_filter,
                )
            else:
                log.warning(
                    "service %s reconnected (connection %d): subscribed again, %d open "
                    "alert(s) republished, %d message(s) waiting in the outbox",
                    self.config.service,
                    self.connections,
                    republished,
                    len(self.outbox),
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
                await self._stop_session(tr, tasks)
            finally:
                stopper.cancel()
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, stopper, return_exceptions=True)
                self.connected.clear()

    async def _stop_session(self, tr: Transport, tasks: list[asyncio.Task[None]]) -> None:
        """A clean stop on a live connection: no more input, the outbox out, then offline."""
        reader, _, status = tasks
        reader.cancel()
        status.cancel()
        # Our session is persistent: without this the broker would queue reports for it
        # until it expires.
        await tr.unsubscribe(self.topics.reports_filter)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.outbox.drained(), self._drain_timeout_s)
        if len(self.outbox):
            alerts = sum(1 for it in self.outbox.items() if it.kind == ALERT)
            log.warning(
                "stopping with %d message(s) unpublished after %.0fs, %d of them alert "
                "messages: the broker is not taking them",
                len(self.outbox),
                self._drain_timeout_s,
                alerts,
            )
        st = self._status("offline")
        await tr.publish(st.topic, st.payload, st.qos, st.retain)
        log.info(
            "service %s offline; %d open alert(s) left retained",
            self.config.service,
            len(self._active),
        )

    async def _republish_active(self, tr: Transport) -> int:
        """Publish, retained, the state of every open alert the outbox holds no newer copy
        of (it would republish that one itself, in order). Returns how many."""
        pending = {it.topic for it in self.outbox.items() if it.retain}
        n = 0
        for alert_id, payload in list(self._active.items()):
            topic = self.topics.alert_active(alert_id)
            if topic not in pending:
                await tr.publish(topic, payload, 1, retain=True)
                n += 1
        return n

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
            try:
                await tr.publish(item.topic, item.payload, item.qos, item.retain)
            except TransportError:
                raise  # the item stays first in the outbox for the next connection
            except Exception:
                # Not the connection: this message itself cannot be published (a defect).
                # Retrying would block everything behind it for good; drop it, loudly.
                log.exception(
                    "cannot publish a %s message to %s (%d bytes): dropped",
                    item.kind,
                    item.topic,
                    len(item.payload),
                )
                self.outbox.discard_head()
                self.metrics.outbox_dropped(item.kind)
                continue
            if item.alert_event:
                # Counted once the broker has it (QoS 1: acknowledged), so that a retry
                # after a lost connection is neither counted twice nor timed from the retry.
                self.metrics.alert_published(item.alert_event, item.t_received)
            self.outbox.done()

    async def _status_loop(self, tr: Transport) -> None:
        while True:
            await asyncio.sleep(self._status_every_s)
            self.outbox.put(self._status("online"))
