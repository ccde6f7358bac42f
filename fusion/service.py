"""The service: ingest from MQTT, run the engine, publish alerts, status and dead letters.

Tasks on one event loop, and one engine thread:
- reader: iterates the transport's messages as they come, decodes and validates them
  (dead letters at once) and puts the valid rows into the ingest buffer
  (:mod:`fusion.ingest`): bounded in rows, coalescing to the newest report per sensor
  track and counting what it sheds when input outruns the engine;
- engine: takes everything waiting in the ingest buffer and runs it through the engine
  (fusion, the detection cycles the data clock has passed, alert lifecycle) on a thread of
  its own, so that a long cycle never stops the reader from draining the MQTT client
  (whose own queue is unbounded: the bound must be ours, where shedding is counted); the
  alert events and the fused picture it returns go to the outbox;
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
- Overload (docs/operations.md, "Overload"): the ingest buffer holds at most
  ``config.ingest.max_rows`` report rows; past it, it coalesces to the newest report per
  (feeder, sensor track) and counts the rest as shed. The engine takes the whole buffer
  at every pass, so a pass never has more than that many rows to fuse; after a pass that
  shed, it runs only the newest detection cycle due (the others counted in
  ``cycles_shed``), so a pass costs one cycle however far behind it was. The detection
  cycle therefore trails the data clock by at most the reorder window, a cycle period and
  one bounded pass, whatever the input rate.
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
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from fusion.alerts import AlertEvent
from fusion.config import ServiceConfig
from fusion.engine import Engine
from fusion.ingest import Chunk, IngestBuffer, Taken
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

# The reader yields to the event loop after this many messages in a row.
READER_YIELD_EVERY = 8
# The engine thread runs this much nicer than the rest of the process (Linux: a thread has
# its own nice value; the kernels' worker threads, started from it by the warm-up, inherit
# it). On a busy machine the reader then keeps draining the MQTT client, whose queue is
# unbounded, and the overload lands in the ingest buffer, bounded and counted, instead.
ENGINE_NICE = 5
# Outbox messages published at once, awaiting their acknowledgements (paho's own window of
# QoS 1 messages in flight is 20 by default; beyond it paho queues them in order).
PUBLISH_WINDOW = 20

try:
    VERSION = version("airspace-fusion")
except PackageNotFoundError:  # running from a source tree without install
    VERSION = "0+unknown"


def _lower_priority(increment: int) -> None:
    """Make the calling thread ``increment`` nicer (Linux; elsewhere, or when refused,
    nothing happens: only scheduling under contention changes)."""
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None:
        return
    try:
        tid = threading.get_native_id()
        setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except OSError as exc:
        log.info("engine thread priority unchanged: %s", exc)


@dataclass(frozen=True)
class _Pass:
    """What one engine pass produced: alert events with the ``time.monotonic()`` receipt
    of the message whose data made their cycle run, their encoded payloads, and the newest
    fused-picture message (None if no cycle ran)."""

    events: list[tuple[AlertEvent, float]]
    payloads: list[bytes]
    tracks: bytes | None


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
            ingest_rows=lambda: len(self.ingest),
            cycle_lag_s=self.cycle_lag_s,
            client_backlog=self.client_backlog,
        )
        self.engine.on_cycle = self.metrics.cycle
        # Valid report rows waiting for the engine (bounded; fusion.ingest).
        self.ingest = IngestBuffer(config.ingest.max_rows)
        # Newest report time taken in, buffered or fused: the data clock that bounds report
        # times on decoding (the engine's own clock trails it by what waits in the buffer).
        self.data_clock: float | None = None
        # The engine has one owner at a time: the engine thread while ``run`` runs, or the
        # caller of ``handle``.
        self._engine_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        # While _emit queues a pass's events: the retained states, queued after them.
        self._retained_later: list[Outgoing] | None = None
        # Set while nothing waits in the ingest buffer and the engine is not running a pass.
        self._idle = asyncio.Event()
        self._idle.set()
        # The broker session's transport while one is up (for its client backlog).
        self._transport: Transport | None = None
        # The HTTP endpoint while ``run`` runs with ``config.metrics.port`` set, else None.
        self.metrics_endpoint: MetricsServer | None = None

    @property
    def status_topic(self) -> str:
        return self.topics.status(self.config.service)

    def client_backlog(self) -> int:
        """Messages the MQTT client holds that the reader has not taken yet (0 without a
        session). The client's queue is unbounded: this stays near 0 while the reader
        keeps up, and the service's own bound (the ingest buffer) does the shedding."""
        tr = self._transport
        return 0 if tr is None else tr.backlog()

    def cycle_lag_s(self) -> float | None:
        """Data time from the newest detection cycle's boundary to the newest report taken
        in, s (None before the first cycle): the reorder window plus up to a cycle period
        when the engine keeps up, more when it falls behind."""
        t, tc = self.data_clock, self.engine.last_cycle_t
        return None if t is None or tc is None else t - tc

    def handle(self, msg: Message) -> None:
        """Take in one message and process it at once on the calling thread: decode, the
        ingest buffer, the engine, the outbox. For callers without a running service (tests,
        tools); ``run`` reads through the ingest buffer and the engine thread instead.
        Never raises on bad input."""
        self.receive(msg)
        self._emit(self._process(self.ingest.take()))
        if not len(self.ingest):
            self._idle.set()

    def receive(self, msg: Message) -> None:
        """Decode one incoming message: dead letters and counts at once, the valid rows
        into the ingest buffer. Never raises on bad input."""
        # The start of the report-to-alert latency: the payload carries no publish time,
        # so the service's own receipt (the reader taking the message) is the earliest
        # moment it knows.
        t_received = time.monotonic()
        feeder = self.topics.feeder_of(msg.topic)
        if feeder is None:
            log.warning("ignoring message on unexpected topic %s", msg.topic)
            return
        clock = self.data_clock
        engine_clock = self.engine.counters.data_time
        if engine_clock is not None and (clock is None or engine_clock > clock):
            clock = engine_clock  # an engine fed directly, beside the service
        try:
            # Report times are bounded relative to the data clock (and, for the future,
            # the wall clock): fusion.schema.MAX_AHEAD_S.
            decoded = decode_message(msg.payload, feeder, data_time=clock, wall_time=time.time())
        except SchemaError as exc:
            self._dead_letter(feeder, str(exc), msg.payload, code=exc.code)
            self.engine.note_rejected(0, whole_message=True)
            self.metrics.rejected_message(exc.code)
            return
        self.engine.note_received(decoded)
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
        reports = decoded.reports
        if reports.size == 0:
            return
        tmax = float(reports["t"].max())
        self.data_clock = tmax if self.data_clock is None else max(self.data_clock, tmax)
        shed = self.ingest.put(Chunk(feeder, decoded.kind, reports, t_received))
        self._idle.clear()
        if shed:
            self.engine.note_shed(shed)
            n = self.ingest.coalescings
            # At powers of two: a flood says so without writing a line per message.
            if n & (n - 1) == 0:
                log.warning(
                    "overload: ingest buffer full (%d rows), coalesced to the newest report "
                    "per sensor track; %d reports shed now, %d so far (%d coalescings)",
                    self.ingest.max_rows,
                    shed,
                    self.ingest.shed,
                    n,
                )

    def _process(self, taken: Taken) -> _Pass:
        """One engine pass over what the ingest buffer held (on the engine thread, or the
        caller's in ``handle``): the alert events raised, each with the receipt time of the
        message that made its cycle run, and the newest fused picture."""
        events: list[tuple[AlertEvent, float]] = []
        with self._engine_lock:
            eng = self.engine
            if taken.overloaded:
                # Input outran us: fuse all of it, screen only the newest picture due.
                for ch in taken.chunks:
                    eng.add(ch.reports, ch.kind, ch.feeder)
                if taken.chunks:
                    t_rx = taken.chunks[-1].t_received
                    events = [(ev, t_rx) for ev in eng.advance(newest_only=True)]
            else:
                # Chunk by chunk, as the messages came: the same cycles, in the same
                # places, as a service fed one message at a time (replays stay exact).
                for ch in taken.chunks:
                    eng.add(ch.reports, ch.kind, ch.feeder)
                    events += [(ev, ch.t_received) for ev in eng.advance()]
            # Encoded here, off the event loop.
            payloads = [ev.encode() for ev, _ in events]
            return _Pass(events, payloads, eng.take_tracks())

    def _emit(self, p: _Pass) -> None:
        """Queue what an engine pass produced (event loop thread): the pass's alert events
        first, then their retained states (each still after its own event), so that the
        live stream is not held up by the copies for late subscribers."""
        self._retained_later = []
        try:
            for (ev, t_received), payload in zip(p.events, p.payloads, strict=True):
                self._queue_event(ev, t_received, payload)
        finally:
            later, self._retained_later = self._retained_later, None
            for item in later:
                self.outbox.put(item)
        if p.tracks is not None:
            # Only the newest picture matters: an unsent older one is replaced, so a slow
            # broker link never piles pictures up in front of the alerts.
            self.outbox.put(Outgoing(self.topics.tracks, p.tracks, qos=0, coalesce="tracks"))

    async def _engine_loop(self) -> None:
        """Pass after pass over the ingest buffer, on the engine thread, for as long as
        ``run`` runs (broker sessions come and go; what was taken in is processed)."""
        loop = asyncio.get_running_loop()
        executor = self._executor
        assert executor is not None
        while True:
            await self.ingest.wait()
            taken = self.ingest.take()
            fut = loop.run_in_executor(executor, self._process, taken)
            try:
                result = await asyncio.shield(fut)
            except asyncio.CancelledError:
                # Stopping: the pass finishes on its thread anyway; its events are queued
                # (the outbox may still get them out), not lost with the task.
                try:
                    self._emit(await fut)
                except Exception:
                    log.exception("internal error in the engine pass cut short by a stop")
                raise
            except Exception:  # a defect must not stop the engine for good
                log.exception(
                    "internal error in an engine pass over %d reports of %d message(s)",
                    taken.rows,
                    len(taken.chunks),
                )
            else:
                try:
                    self._emit(result)
                except Exception:
                    log.exception("internal error queueing the results of an engine pass")
            if not len(self.ingest):
                self._idle.set()
            # Let the reader take in what came meanwhile before the next pass.
            await asyncio.sleep(0)

    async def drained(self) -> None:
        """Until everything taken in so far is processed and published: nothing in the
        ingest buffer, no engine pass running, the outbox empty."""
        while True:
            await self._idle.wait()
            await self.outbox.drained()
            if self._idle.is_set() and not len(self.outbox):
                return

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

    def _queue_event(
        self, ev: AlertEvent, t_received: float | None = None, payload: bytes | None = None
    ) -> None:
        if log.isEnabledFor(logging.INFO):
            self._log_event(ev)
        if payload is None:
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
        state = Outgoing(active, b"" if ev.event == "end" else payload, 1, retain=True, kind=ALERT)
        if self._retained_later is not None:
            self._retained_later.append(state)
        else:
            self.outbox.put(state)

    def _log_event(self, ev: AlertEvent) -> None:
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
        # One thread: the engine has one owner, and its passes run one after another.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"{self.config.service}-engine")
        engine_task: asyncio.Task[None] | None = None
        try:
            # Compile (or load from cache) before the first report, so the first cycle is
            # on time; on the engine thread, where the kernels will run.
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, _lower_priority, ENGINE_NICE)
            await loop.run_in_executor(self._executor, warm_up)
            engine_task = asyncio.create_task(self._engine_loop(), name="engine")
            await self._sessions(stop)
        finally:
            if engine_task is not None:
                engine_task.cancel()
                await asyncio.gather(engine_task, return_exceptions=True)
            executor, self._executor = self._executor, None
            # Waits for a pass still running (bounded: one pass), off the event loop.
            await asyncio.to_thread(executor.shutdown)
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
            self._transport = tr
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
                self._transport = None

    async def _stop_session(self, tr: Transport, tasks: list[asyncio.Task[None]]) -> None:
        """A clean stop on a live connection: no more input, the outbox out, then offline."""
        reader, _, status = tasks
        reader.cancel()
        status.cancel()
        # Our session is persistent: without this the broker would queue reports for it
        # until it expires.
        await tr.unsubscribe(self.topics.reports_filter)
        # What was taken in is processed (the ingest buffer, bounded), and what that
        # raised published, within the same limit.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drained(), self._drain_timeout_s)
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
        n = 0
        async for msg in tr.messages():
            n += 1
            if n % READER_YIELD_EVERY == 0:
                # With messages queued in the client, its iterator does not yield: let the
                # engine task hand the engine thread its next pass meanwhile.
                await asyncio.sleep(0)
            try:
                self.receive(msg)
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
        """Publish the outbox in order, up to PUBLISH_WINDOW messages awaiting their
        acknowledgement at once (one broker round trip per message would cap alerts at a
        few hundred a second); an item leaves the outbox only once published, oldest
        first, so a lost connection publishes every unacknowledged one again."""
        self.outbox.rewind()  # what was in flight on a lost connection goes again
        inflight: deque[tuple[Outgoing, asyncio.Future[None]]] = deque()
        try:
            while True:
                while len(inflight) < PUBLISH_WINDOW and (not inflight or self.outbox.has_unsent()):
                    item = await self.outbox.next_unsent()
                    sending: asyncio.Future[None] = asyncio.ensure_future(
                        tr.publish(item.topic, item.payload, item.qos, item.retain)
                    )
                    inflight.append((item, sending))
                item, fut = inflight[0]
                try:
                    await fut
                except TransportError:
                    raise  # the items stay in the outbox for the next connection
                except Exception:
                    # Not the connection: this message itself cannot be published (a
                    # defect). Retrying would block everything behind it for good; drop it,
                    # loudly.
                    log.exception(
                        "cannot publish a %s message to %s (%d bytes): dropped",
                        item.kind,
                        item.topic,
                        len(item.payload),
                    )
                    inflight.popleft()
                    self.outbox.discard_head()
                    self.metrics.outbox_dropped(item.kind)
                    continue
                inflight.popleft()
                if item.alert_event:
                    # Counted once the broker has it (QoS 1: acknowledged), so that a retry
                    # after a lost connection is neither counted twice nor timed from the
                    # retry.
                    self.metrics.alert_published(item.alert_event, item.t_received)
                self.outbox.done()
        finally:
            for _, pending in inflight:
                pending.cancel()
            if inflight:
                await asyncio.gather(*(f for _, f in inflight), return_exceptions=True)

    async def _status_loop(self, tr: Transport) -> None:
        while True:
            await asyncio.sleep(self._status_every_s)
            self.outbox.put(self._status("online"))
