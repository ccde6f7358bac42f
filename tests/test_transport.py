"""The in-memory transport keeps MQTT's semantics the service relies on."""

from __future__ import annotations

import asyncio

import pytest

from fusion.transport import MemoryBroker, MemoryTransport, TransportError, Will


async def _next(tr: MemoryTransport) -> tuple[str, bytes, bool]:
    async for m in tr.messages():
        return m.topic, m.payload, m.retain
    raise AssertionError("stream ended")


async def test_wildcards_retained_and_clearing() -> None:
    broker = MemoryBroker()
    async with MemoryTransport(broker) as pub, MemoryTransport(broker) as sub:
        await pub.publish("a/v1/alerts/active/X", b"state", qos=1, retain=True)
        await pub.publish("a/v1/alerts/active/Y", b"gone", qos=1, retain=True)
        await pub.publish("a/v1/alerts/active/Y", b"", qos=1, retain=True)
        await sub.subscribe("a/v1/alerts/active/+")
        assert await asyncio.wait_for(_next(sub), 1) == ("a/v1/alerts/active/X", b"state", True)
        await pub.publish("a/v1/alerts/active/Z", b"live", qos=1, retain=True)
        assert await asyncio.wait_for(_next(sub), 1) == ("a/v1/alerts/active/Z", b"live", False)
        await pub.publish("a/v1/other", b"x")
        assert sub._queue.empty()


async def test_will_published_only_when_killed() -> None:
    broker = MemoryBroker()
    clean = MemoryTransport(broker, will=Will("s/one", b"offline"))
    async with clean:
        pass
    assert "s/one" not in broker.retained
    dead = MemoryTransport(broker, will=Will("s/two", b"offline"))
    await dead.__aenter__()
    dead.kill()
    assert broker.retained["s/two"].payload == b"offline"
    with pytest.raises(TransportError):
        await dead.publish("x", b"y")
