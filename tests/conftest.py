"""Shared fixtures: a private Mosquitto per test, and a subscriber that records messages."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import settings

from fusion.broker import LocalBroker
from fusion.transport import AiomqttTransport, Message

# `make test` (and CI) draws the same hypothesis cases every run, so that a submission
# passes or fails on its code and not on the draw; `make fuzz` draws fresh cases many times
# over. A failure prints the blob that reproduces it.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("fuzz", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """Mosquitto on a free 127.0.0.1 port, configured in tmp_path, stopped by PID."""
    with LocalBroker(tmp_path) as b:
        yield b


@dataclass
class Recorder:
    """Messages received on some filters, with the wall time each arrived."""

    messages: list[tuple[float, Message]] = field(default_factory=list)

    def on(self, topic_prefix: str) -> list[Message]:
        return [m for _, m in self.messages if m.topic.startswith(topic_prefix)]

    async def wait_for(self, predicate: object, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for messages")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def recording(broker: LocalBroker, *filters: str) -> AsyncIterator[Recorder]:
    """Subscribe to ``filters`` on the broker and record until the block ends."""
    rec = Recorder()
    tr = AiomqttTransport(broker.host, broker.port, f"recorder-{time.monotonic_ns()}")
    async with tr:
        for f in filters:
            await tr.subscribe(f, qos=1)

        async def pump() -> None:
            async for m in tr.messages():
                rec.messages.append((time.monotonic(), m))

        task = asyncio.create_task(pump())
        await asyncio.sleep(0.1)  # the subscriptions are acknowledged; give retained a moment
        try:
            yield rec
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
