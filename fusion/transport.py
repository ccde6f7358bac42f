"""The MQTT client behind one small interface of the project's own.

``Transport`` is what the service, the simulator and the alert view use: connect (as an
async context manager), subscribe, unsubscribe, iterate messages, publish. A transport is
one connection: when it is lost, its calls raise :class:`TransportError` and the caller
makes a new one (the service does so itself, with :class:`Backoff`;
:class:`ReconnectingTransport` does it for feeders and viewers). ``AiomqttTransport`` is
the real one (aiomqtt, itself on paho-mqtt); ``MemoryBroker``/``MemoryTransport`` are an
in-memory fake with MQTT's retained-message and last-will semantics, for unit tests.
aiomqtt 3 will change its API; only this module should have to follow.

Concurrency: a transport belongs to one asyncio event loop. ``publish`` may be awaited from
several tasks at once; ``messages()`` must be iterated by one task only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

import aiomqtt
from paho.mqtt.client import topic_matches_sub

log = logging.getLogger("fusion.transport")

# Publishes awaiting acknowledgement past which aiomqtt logs a warning (its default: 10).
PENDING_CALLS_WARNING = 200


class TransportError(ConnectionError):
    """The connection to the broker failed or was lost."""


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False


@dataclass(frozen=True)
class Will:
    """Published by the broker for us if we vanish without disconnecting."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class Transport(Protocol):
    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def subscribe(self, topic_filter: str, qos: int = 0) -> None: ...

    async def unsubscribe(self, topic_filter: str) -> None: ...

    async def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False
    ) -> None: ...

    def messages(self) -> AsyncIterator[Message]: ...

    def backlog(self) -> int:
        """Messages the client has received that ``messages()`` has not handed out yet."""
        ...


# Creates a not-yet-connected transport: (client id, last will or None) -> Transport.
TransportFactory = Callable[[str, Will | None], Transport]


class AiomqttTransport:
    """Transport over aiomqtt (MQTT 3.1.1, TCP).

    ``clean_session=False`` asks the broker for a persistent session under ``client_id``:
    its subscriptions, and the QoS 1 messages that match them while we are away, are kept
    for our next connection with the same id (for as long as the broker keeps sessions:
    Mosquitto's ``persistence`` and ``persistent_client_expiration``).
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        will: Will | None = None,
        timeout_s: float = 10.0,
        keepalive_s: int = 30,
        clean_session: bool = True,
    ) -> None:
        self._client = aiomqtt.Client(
            host,
            port,
            identifier=client_id,
            will=None
            if will is None
            else aiomqtt.Will(will.topic, will.payload, qos=will.qos, retain=will.retain),
            timeout=timeout_s,
            keepalive=keepalive_s,
            clean_session=clean_session,
        )
        # aiomqtt logs a WARNING at every publish while more than 10 await their
        # acknowledgement; the service keeps a window of them in flight on purpose
        # (fusion.service.PUBLISH_WINDOW), so warn only well past it.
        self._client.pending_calls_threshold = PENDING_CALLS_WARNING

    async def __aenter__(self) -> Self:
        try:
            await self._client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise TransportError(str(exc)) from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Already disconnected: nothing left to close.
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(exc_type, exc, tb)
        lost = getattr(self._client, "_disconnected", None)
        if isinstance(lost, asyncio.Future) and lost.done() and not lost.cancelled():
            # The loss is known to us (we are closing): marked as retrieved, or asyncio
            # would log "Future exception was never retrieved" when it is collected.
            lost.exception()

    async def subscribe(self, topic_filter: str, qos: int = 0) -> None:
        try:
            await self._until_lost(self._client.subscribe(topic_filter, qos=qos))
        except aiomqtt.MqttError as exc:
            raise TransportError(str(exc)) from exc

    async def unsubscribe(self, topic_filter: str) -> None:
        try:
            await self._until_lost(self._client.unsubscribe(topic_filter))
        except aiomqtt.MqttError as exc:
            raise TransportError(str(exc)) from exc

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        try:
            await self._until_lost(self._client.publish(topic, payload, qos=qos, retain=retain))
        except aiomqtt.MqttError as exc:
            raise TransportError(str(exc)) from exc

    async def _until_lost(self, call: Coroutine[Any, Any, Any]) -> None:
        """Await ``call``, or raise TransportError as soon as the connection is lost.

        aiomqtt 2 leaves a QoS 1 publish waiting for its PUBACK after the connection has
        gone (paho queues it for a reconnection this client never makes) until its timeout,
        10 s: a lost broker would hold the publisher that long. The private
        ``_disconnected`` future is aiomqtt 2's; without it, the timeout still applies.
        """
        lost = getattr(self._client, "_disconnected", None)
        if not isinstance(lost, asyncio.Future):
            await call
            return
        task = asyncio.ensure_future(call)
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task.done():
            task.result()  # raises what the call raised
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task
        # Marks the future's exception as retrieved (asyncio would log it otherwise).
        reason = lost.exception() if not lost.cancelled() else None
        raise TransportError(f"connection lost: {reason}" if reason else "connection lost")

    def backlog(self) -> int:
        # aiomqtt's incoming queue: unbounded (bounding it would drop messages after their
        # QoS 1 acknowledgement), so the service must keep it short: it watches this.
        return len(self._client.messages)

    async def messages(self) -> AsyncIterator[Message]:
        try:
            async for m in self._client.messages:
                payload = m.payload
                if isinstance(payload, str):
                    payload = payload.encode()
                elif payload is None:
                    payload = b""
                elif not isinstance(payload, bytes | bytearray):
                    payload = str(payload).encode()
                yield Message(m.topic.value, bytes(payload), m.qos, bool(m.retain))
        except aiomqtt.MqttError as exc:
            raise TransportError(str(exc)) from exc


def aiomqtt_factory(host: str, port: int, clean_session: bool = True) -> TransportFactory:
    def make(client_id: str, will: Will | None) -> Transport:
        return AiomqttTransport(host, port, client_id, will, clean_session=clean_session)

    return make


class Backoff:
    """Delays between reconnection attempts, seconds: ``initial_s``, doubling per failed
    attempt up to ``max_s``, each shortened by up to ``jitter`` (a fraction) at random so
    that clients that lost one broker together do not all return at the same instant.
    :meth:`reset` after a connection that worked starts again from ``initial_s``."""

    def __init__(
        self,
        initial_s: float = 0.5,
        max_s: float = 10.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if not (0.0 < initial_s <= max_s) or not (0.0 <= jitter < 1.0):
            raise ValueError("backoff needs 0 < initial_s <= max_s and 0 <= jitter < 1")
        self.initial_s = initial_s
        self.max_s = max_s
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._attempt = 0

    def next(self) -> float:
        """The delay before the next attempt, seconds, in [(1 - jitter) x base, base]."""
        base = min(self.max_s, self.initial_s * 2.0 ** min(self._attempt, 60))
        self._attempt += 1
        return base * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        self._attempt = 0


class ReconnectingTransport:
    """A :class:`Transport` that outlives its connections, for feeders and viewers.

    Entering connects once (TransportError if the broker cannot be reached: a wrong
    address should fail at once). After that, a lost connection is made again with
    :class:`Backoff`, subscriptions are replayed on every new connection, ``publish``
    retries the same message until the broker has it (at least once: a message whose
    acknowledgement was lost with the connection goes again), and ``messages()`` carries
    on across reconnections. Only ``stop``, set while reconnecting, ends a call early with
    TransportError. ``connections`` counts the connections made.
    """

    def __init__(
        self,
        factory: TransportFactory,
        client_id: str,
        will: Will | None = None,
        backoff: Backoff | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self._factory = factory
        self._client_id = client_id
        self._will = will
        self._backoff = backoff or Backoff()
        self._stop = stop or asyncio.Event()
        self._tr: Transport | None = None
        self._lock = asyncio.Lock()
        self._subs: dict[str, int] = {}
        self._closing = False
        self.connections = 0

    async def __aenter__(self) -> Self:
        self._tr = await self._connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        tr, self._tr = self._tr, None
        if tr is not None:
            await tr.__aexit__(None, None, None)

    async def _connect(self) -> Transport:
        tr = self._factory(self._client_id, self._will)
        await tr.__aenter__()
        try:
            for f, qos in self._subs.items():
                await tr.subscribe(f, qos)
        except TransportError:
            with contextlib.suppress(TransportError):
                await tr.__aexit__(None, None, None)
            raise
        self.connections += 1
        return tr

    async def _current(self) -> Transport:
        """The live connection, making a new one (with back-off) if there is none."""
        async with self._lock:
            while self._tr is None:
                if self._closing:
                    raise TransportError("closed")
                delay = self._backoff.next()
                log.warning("broker connection lost; reconnecting in %.1fs", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                if self._stop.is_set():
                    raise TransportError("stopped while reconnecting")
                try:
                    self._tr = await self._connect()
                    self._backoff.reset()
                    log.warning("broker connection made again")
                except TransportError as exc:
                    log.warning("reconnection failed: %s", exc)
            return self._tr

    async def _lost(self, tr: Transport) -> None:
        if self._tr is tr:
            self._tr = None
            with contextlib.suppress(Exception):
                await tr.__aexit__(None, None, None)

    async def subscribe(self, topic_filter: str, qos: int = 0) -> None:
        self._subs[topic_filter] = qos
        while True:
            tr = await self._current()
            try:
                await tr.subscribe(topic_filter, qos)
                return
            except TransportError:
                await self._lost(tr)

    async def unsubscribe(self, topic_filter: str) -> None:
        self._subs.pop(topic_filter, None)
        tr = self._tr
        if tr is not None:
            try:
                await tr.unsubscribe(topic_filter)
            except TransportError:
                await self._lost(tr)  # the next connection does not replay it

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        while True:
            tr = await self._current()
            try:
                await tr.publish(topic, payload, qos, retain)
                return
            except TransportError:
                await self._lost(tr)

    def backlog(self) -> int:
        return 0 if self._tr is None else self._tr.backlog()

    async def messages(self) -> AsyncIterator[Message]:
        while True:
            tr = await self._current()
            try:
                async for m in tr.messages():
                    yield m
            except TransportError:
                pass
            if self._closing:
                return
            await self._lost(tr)


@dataclass
class MemoryBroker:
    """An in-memory MQTT broker for unit tests: wildcard filters, retained messages
    (an empty retained payload clears), last wills on :meth:`MemoryTransport.kill`."""

    retained: dict[str, Message] = field(default_factory=dict)
    clients: list[MemoryTransport] = field(default_factory=list)
    log: list[Message] = field(default_factory=list)
    # While True (after crash(), until restart()), connections are refused.
    down: bool = False

    def crash(self, keep_retained: bool = False) -> None:
        """The broker process dies: every connection breaks at once, without last wills
        (the broker that would send them is gone), retained messages are lost unless
        ``keep_retained`` (persistence), and connections are refused until
        :meth:`restart`."""
        self.down = True
        for client in list(self.clients):
            client._disconnect()
        if not keep_retained:
            self.retained.clear()

    def restart(self) -> None:
        self.down = False

    def route(self, msg: Message) -> None:
        self.log.append(msg)
        if msg.retain:
            if msg.payload:
                self.retained[msg.topic] = msg
            else:
                self.retained.pop(msg.topic, None)
        for client in list(self.clients):
            if any(topic_matches_sub(f, msg.topic) for f in client.filters):
                client.deliver(Message(msg.topic, msg.payload, msg.qos, retain=False))

    def factory(self) -> TransportFactory:
        def make(client_id: str, will: Will | None) -> Transport:
            return MemoryTransport(self, client_id, will)

        return make

    def published(self, topic_filter: str) -> list[Message]:
        return [m for m in self.log if topic_matches_sub(topic_filter, m.topic)]


_ids = itertools.count()


class MemoryTransport:
    def __init__(self, broker: MemoryBroker, client_id: str = "", will: Will | None = None) -> None:
        self.broker = broker
        self.client_id = client_id or f"memory-{next(_ids)}"
        self.will = will
        self.filters: list[str] = []
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self._connected = False

    async def __aenter__(self) -> Self:
        if self.broker.down:
            raise TransportError("connection refused")
        self._connected = True
        self.broker.clients.append(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._disconnect()

    def kill(self) -> None:
        """Vanish without a clean disconnect: the broker publishes the last will."""
        self._disconnect()
        if self.will is not None:
            w = self.will
            self.broker.route(Message(w.topic, w.payload, w.qos, w.retain))

    def _disconnect(self) -> None:
        if self._connected:
            self._connected = False
            self.broker.clients.remove(self)
            self._queue.put_nowait(None)

    def deliver(self, msg: Message) -> None:
        self._queue.put_nowait(msg)

    async def unsubscribe(self, topic_filter: str) -> None:
        self._check()
        with contextlib.suppress(ValueError):
            self.filters.remove(topic_filter)

    async def subscribe(self, topic_filter: str, qos: int = 0) -> None:
        self._check()
        self.filters.append(topic_filter)
        for topic, msg in sorted(self.broker.retained.items()):
            if topic_matches_sub(topic_filter, topic):
                self.deliver(msg)

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self._check()
        await asyncio.sleep(0)  # a real publish yields to the loop; so does the fake
        self.broker.route(Message(topic, bytes(payload), qos, retain))

    def backlog(self) -> int:
        return self._queue.qsize()

    async def messages(self) -> AsyncIterator[Message]:
        while True:
            msg = await self._queue.get()
            if msg is None:
                return  # closed by our own side: the iteration simply ends
            yield msg

    def _check(self) -> None:
        if not self._connected:
            raise TransportError("not connected")
