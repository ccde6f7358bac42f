"""The MQTT client behind one small interface of the project's own.

``Transport`` is what the service, the simulator and the alert view use: connect (as an
async context manager), subscribe, iterate messages, publish. ``AiomqttTransport`` is the
real one (aiomqtt, itself on paho-mqtt); ``MemoryBroker``/``MemoryTransport`` are an
in-memory fake with MQTT's retained-message and last-will semantics, for unit tests.
aiomqtt 3 will change its API; only this module should have to follow.

Concurrency: a transport belongs to one asyncio event loop. ``publish`` may be awaited from
several tasks at once; ``messages()`` must be iterated by one task only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

import aiomqtt
from paho.mqtt.client import topic_matches_sub


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

    async def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False
    ) -> None: ...

    def messages(self) -> AsyncIterator[Message]: ...


# Creates a not-yet-connected transport: (client id, last will or None) -> Transport.
TransportFactory = Callable[[str, Will | None], Transport]


class AiomqttTransport:
    """Transport over aiomqtt (MQTT 3.1.1, TCP)."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        will: Will | None = None,
        timeout_s: float = 10.0,
        keepalive_s: int = 30,
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
        )

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

    async def subscribe(self, topic_filter: str, qos: int = 0) -> None:
        try:
            await self._client.subscribe(topic_filter, qos=qos)
        except aiomqtt.MqttError as exc:
            raise TransportError(str(exc)) from exc

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        try:
            await self._client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            raise TransportError(str(exc)) from exc

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


def aiomqtt_factory(host: str, port: int) -> TransportFactory:
    def make(client_id: str, will: Will | None) -> Transport:
        return AiomqttTransport(host, port, client_id, will)

    return make


@dataclass
class MemoryBroker:
    """An in-memory MQTT broker for unit tests: wildcard filters, retained messages
    (an empty retained payload clears), last wills on :meth:`MemoryTransport.kill`."""

    retained: dict[str, Message] = field(default_factory=dict)
    clients: list[MemoryTransport] = field(default_factory=list)
    log: list[Message] = field(default_factory=list)

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

    async def messages(self) -> AsyncIterator[Message]:
        while True:
            msg = await self._queue.get()
            if msg is None:
                return  # closed by our own side: the iteration simply ends
            yield msg

    def _check(self) -> None:
        if not self._connected:
            raise TransportError("not connected")
