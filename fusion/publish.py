"""Outbound messages: the outbox that keeps them until the broker has them, and the
encoders of the status and dead-letter payloads (alert events encode themselves).

The outbox is an in-memory FIFO: an item leaves it only after ``publish`` returned, so a
connection lost mid-publish retries the same item after reconnecting and nothing is lost
while the process lives. Single consumer (the publisher task); any number of producers on
the same event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import msgpack

from fusion.engine import Counters

PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    # Items with the same non-empty coalesce key replace each other while unsent (the
    # newest fused picture makes older ones worthless); alerts never coalesce.
    coalesce: str = ""
    # For an alert event on the events topic: its kind (new/update/end) and the
    # time.monotonic() at which the service took in the report message whose detection
    # cycle raised it, so that the publisher can count it and observe the latency once the
    # broker has it. Empty/None for everything else.
    alert_event: str = ""
    t_received: float | None = None


class Outbox:
    def __init__(self) -> None:
        self._items: deque[Outgoing] = deque()
        self._ready = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Outgoing) -> None:
        if item.coalesce:
            # Index 0 may be in flight (peeked, not done): never replace it.
            for k in range(1, len(self._items)):
                if self._items[k].coalesce == item.coalesce:
                    del self._items[k]
                    break
        self._items.append(item)
        self._ready.set()
        self._empty.clear()

    async def peek(self) -> Outgoing:
        """The oldest item, waiting for one; it stays until :meth:`done`."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items[0]

    def done(self) -> None:
        self._items.popleft()
        if not self._items:
            self._empty.set()

    async def drained(self) -> None:
        await self._empty.wait()


def encode_status(
    service: str, state: str, counters: Counters | None = None, version: str = ""
) -> bytes:
    msg: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "service": service,
        "state": state,
        "t_wall": time.time(),
        "version": version,
    }
    if counters is not None:
        msg["counters"] = asdict(counters)
    return msgpack.packb(msg, use_bin_type=True)  # type: ignore[no-any-return]


def encode_deadletter(
    feeder: str,
    reason: str,
    payload: bytes,
    rows: list[int] | None = None,
    reasons: list[str] | None = None,
    code: str | None = None,
    codes: list[str] | None = None,
) -> bytes:
    """The rejected message as it came, with why. ``code``: the reason code of a message
    rejected as a whole (``fusion.schema.MESSAGE_REJECT_CODES`` or ``internal_error``).
    ``rows``/``reasons``/``codes``: for a batch whose rows failed one by one, their indices
    in the batch, one reason each (every rule failed) and one code each (the first rule
    failed, ``fusion.schema.ROW_REJECT_CODES``)."""
    msg: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "feeder": feeder,
        "reason": reason,
        "code": code,
        "codes": codes,
        "t_wall": time.time(),
        "rows": rows,
        "reasons": reasons,
        "payload": payload,
    }
    return msgpack.packb(msg, use_bin_type=True)  # type: ignore[no-any-return]
