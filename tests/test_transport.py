"""The in-memory transport keeps MQTT's semantics the service relies on; back-off and the
reconnecting transport of feeders and viewers."""

from __future__ import annotations

import asyncio
import random

import pytest

from fusion.broker import LocalBroker
from fusion.transport import (
    AiomqttTransport,
    Backoff,
    MemoryBroker,
    MemoryTransport,
    ReconnectingTransport,
    TransportError,
    Will,
)


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


def test_backoff_doubles_to_its_bound_with_jitter_and_resets() -> None:
    b = Backoff(initial_s=0.5, max_s=4.0, jitter=0.5, rng=random.Random(1))
    delays = [b.next() for _ in range(8)]
    bases = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    for d, base in zip(delays, bases, strict=True):
        assert base * 0.5 <= d <= base
    assert len(set(delays)) == len(delays)  # jittered: no two alike
    b.reset()
    assert b.next() <= 0.5
    with pytest.raises(ValueError):
        Backoff(initial_s=0.0)


async def test_reconnecting_transport_survives_a_broker_restart() -> None:
    broker = MemoryBroker()
    stop = asyncio.Event()
    backoff = Backoff(initial_s=0.01, max_s=0.05)
    async with (
        ReconnectingTransport(broker.factory(), "feeder", backoff=backoff, stop=stop) as pub,
        ReconnectingTransport(broker.factory(), "viewer", backoff=backoff, stop=stop) as sub,
    ):
        await sub.subscribe("a/#", qos=1)
        got: list[bytes] = []

        async def pump() -> None:
            async for m in sub.messages():
                got.append(m.payload)

        task = asyncio.create_task(pump())
        await pub.publish("a/1", b"before", qos=1)
        await asyncio.sleep(0.01)
        broker.crash()
        # Published while the broker is down: waits, then goes once it is back.
        sending = asyncio.create_task(pub.publish("a/2", b"during", qos=1))
        await asyncio.sleep(0.1)
        assert not sending.done()
        broker.restart()
        await asyncio.wait_for(sending, 2)
        # The viewer reconnected and subscribed again by itself.
        deadline = asyncio.get_running_loop().time() + 2
        while b"after" not in got:
            await pub.publish("a/3", b"after", qos=1)
            await asyncio.sleep(0.02)
            assert asyncio.get_running_loop().time() < deadline, got
        assert got[0] == b"before"
        assert pub.connections == 2 and sub.connections == 2
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_reconnecting_transport_gives_up_only_when_stopped() -> None:
    broker = MemoryBroker()
    stop = asyncio.Event()
    async with ReconnectingTransport(
        broker.factory(), "feeder", backoff=Backoff(0.01, 0.02), stop=stop
    ) as pub:
        broker.crash()
        sending = asyncio.create_task(pub.publish("a", b"x"))
        await asyncio.sleep(0.1)
        assert not sending.done()
        stop.set()
        with pytest.raises(TransportError, match="stopped"):
            await asyncio.wait_for(sending, 2)


async def test_a_refused_first_connection_fails_at_once() -> None:
    broker = MemoryBroker()
    broker.crash()
    with pytest.raises(TransportError, match="refused"):
        async with ReconnectingTransport(broker.factory(), "feeder"):
            pass


async def test_a_window_of_publishes_in_flight_is_not_warned_about(
    broker: LocalBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """The service keeps PUBLISH_WINDOW QoS 1 publishes awaiting their acknowledgement;
    aiomqtt would log a warning at each one past 10 of them."""
    from fusion.service import PUBLISH_WINDOW

    async with AiomqttTransport(broker.host, broker.port, "window") as tr:
        await asyncio.gather(
            *(tr.publish(f"w/{k}", b"x" * 1000, qos=1) for k in range(PUBLISH_WINDOW))
        )
    assert "pending publish calls" not in caplog.text
