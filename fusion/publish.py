"""Outbound messages: the outbox that keeps them until the broker has them, and the
encoders of the status and dead-letter payloads (alert events encode themselves).

The outbox is an in-memory FIFO: an item leaves it only after ``publish`` returned, so a
connection lost mid-publish retries the same item after reconnecting and nothing is lost
while the process lives. Single consumer (the publisher task); any number of producers on
the same event loop. The consumer may have several items in flight at once (a window of
QoS 1 publishes awaiting their acknowledgements, so that throughput is not one broker
round trip per message): :meth:`Outbox.next_unsent` hands out the items in order,
:meth:`Outbox.done` lets the oldest go once published, :meth:`Outbox.rewind` makes every
item in flight unsent again (after a lost connection: they go again, in order). Items in
flight are never replaced or dropped.

Bound and overflow policy (docs/operations.md, "Faults"): the outbox holds at most
``max_items`` messages and ``max_bytes`` of payload. Items of one kind that only the newest
matters of (the fused picture, the status) replace their unsent predecessor, so there is
at most one of each. Past a bound, the oldest unsent dead letter is dropped and counted
(``dropped``), then the next, until the outbox is back within its bounds: a dead letter
is a diagnostic copy of input already counted by reason code. Alert items (events and the
retained active state) are never dropped: when nothing else is left to drop, they are
queued beyond the bound and counted (``overflow``, one per item queued past it), because
an alert lost is worse than memory spent (a dead letter arriving then is the one dropped).
During a broker outage the service takes no input, so an outbox past its bound means a
broker that acknowledges more slowly than alerts are raised.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

import msgpack

from fusion.engine import Counters

PAYLOAD_VERSION = 1

# Default bounds: a hundred thousand messages is hours of alert events even in dense
# traffic; 256 MiB keeps a flood of large dead letters from exhausting memory.
MAX_ITEMS: Final = 100_000
MAX_BYTES: Final = 256 * 1024 * 1024
# A dead letter quotes at most this much of the rejected message (the rest is counted in
# ``payload_bytes``): enough to see what is wrong, bounded however large the input.
DEADLETTER_PAYLOAD_MAX_BYTES: Final = 64 * 1024

# Item kinds, for the overflow policy and the counts.
ALERT: Final = "alert"
DEADLETTER: Final = "deadletter"
OTHER: Final = "other"


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    # Items with the same non-empty coalesce key replace each other while unsent (the
    # newest fused picture or status makes older ones worthless); alerts never coalesce.
    coalesce: str = ""
    # For an alert event on the events topic: its kind (new/update/end) and the
    # time.monotonic() at which the service took in the report message whose detection
    # cycle raised it, so that the publisher can count it and observe the latency once the
    # broker has it. Empty/None for everything else.
    alert_event: str = ""
    t_received: float | None = None
    # ALERT (never dropped), DEADLETTER (dropped first past the bound) or OTHER.
    kind: str = OTHER


class Outbox:
    """FIFO of outgoing messages with the bounds and overflow policy of the module
    docstring. ``dropped`` counts dropped items by kind, ``overflow`` the items queued
    beyond a bound because nothing could be dropped for them."""

    def __init__(self, max_items: int = MAX_ITEMS, max_bytes: int = MAX_BYTES) -> None:
        if max_items < 1 or max_bytes < 1:
            raise ValueError("outbox bounds must be at least 1")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: deque[Outgoing] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._n_dead = 0  # dead letters waiting: nothing to scan for when 0
        # Items at the head handed to the publisher (next_unsent) and not yet done.
        self._inflight = 0
        self.dropped: Counter[str] = Counter()
        self.overflow = 0
        # Called with (kind, count) when dead letters are dropped, and with ("overflow", 1)
        # when an item is queued beyond the bound: the service counts and logs them.
        self.on_shed: Callable[[str, int], None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Payload bytes waiting."""
        return self._bytes

    def items(self) -> tuple[Outgoing, ...]:
        """A snapshot of the waiting items, oldest first."""
        return tuple(self._items)

    @property
    def inflight(self) -> int:
        """Items handed out by :meth:`next_unsent` and not yet done."""
        return self._inflight

    def _first_free(self) -> int:
        # Items in flight are never replaced or dropped; nor is index 0, which may be in
        # flight through peek().
        return max(1, self._inflight)

    def put(self, item: Outgoing) -> None:
        if item.coalesce:
            for k in range(self._first_free(), len(self._items)):
                if self._items[k].coalesce == item.coalesce:
                    self._forget(self._items[k])
                    del self._items[k]
                    break
        self._items.append(item)
        self._bytes += len(item.payload)
        if item.kind == DEADLETTER:
            self._n_dead += 1
        if self._over():
            self._shed(item)
        self._ready.set()
        self._empty.clear()

    def _forget(self, item: Outgoing) -> None:
        self._bytes -= len(item.payload)
        if item.kind == DEADLETTER:
            self._n_dead -= 1

    def _over(self) -> bool:
        return len(self._items) > self.max_items or self._bytes > self.max_bytes

    def _shed(self, item: Outgoing) -> None:
        dropped = 0
        first = self._first_free()
        while self._over() and self._n_dead > 0:
            # The oldest dead letter not in flight. Only past the bound, and usually near
            # the front: the scan is short.
            idx = next(
                (
                    k
                    for k, it in enumerate(itertools.islice(self._items, first, None), first)
                    if it.kind == DEADLETTER
                ),
                None,
            )
            if idx is None:
                break  # the only dead letters are in flight
            self._forget(self._items[idx])
            del self._items[idx]
            dropped += 1
        if dropped:
            self.dropped[DEADLETTER] += dropped
            if self.on_shed is not None:
                self.on_shed(DEADLETTER, dropped)
        if self._over() and self._items and self._items[-1] is item:
            # The new item stays although the outbox is past its bound.
            self.overflow += 1
            if self.on_shed is not None:
                self.on_shed("overflow", 1)

    async def peek(self) -> Outgoing:
        """The oldest item, waiting for one; it stays until :meth:`done`."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items[0]

    async def next_unsent(self) -> Outgoing:
        """The oldest item not yet handed out, waiting for one; it counts as in flight
        (stays in the outbox, first in line) until :meth:`done` or :meth:`rewind`."""
        while len(self._items) <= self._inflight:
            self._ready.clear()
            await self._ready.wait()
        item = self._items[self._inflight]
        self._inflight += 1
        return item

    def has_unsent(self) -> bool:
        return len(self._items) > self._inflight

    def rewind(self) -> None:
        """Every item in flight is unsent again (their publication failed with the
        connection): :meth:`next_unsent` starts from the oldest."""
        self._inflight = 0

    def done(self) -> None:
        """The oldest item is published: let it go."""
        self._forget(self._items.popleft())
        if self._inflight:
            self._inflight -= 1
        if not self._items:
            self._empty.set()

    def discard_head(self) -> Outgoing:
        """Drop the oldest item without publishing it (it can never be published: see
        ``Service._publisher``); counted in ``dropped`` under its kind."""
        item = self._items[0]
        self.done()
        self.dropped[item.kind] += 1
        return item

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
    failed, ``fusion.schema.ROW_REJECT_CODES``). ``payload`` is quoted up to
    :data:`DEADLETTER_PAYLOAD_MAX_BYTES`; ``payload_bytes`` is its full length."""
    msg: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "feeder": feeder,
        "reason": reason,
        "code": code,
        "codes": codes,
        "t_wall": time.time(),
        "rows": rows,
        "reasons": reasons,
        "payload": payload[:DEADLETTER_PAYLOAD_MAX_BYTES],
        "payload_bytes": len(payload),
    }
    return msgpack.packb(msg, use_bin_type=True)  # type: ignore[no-any-return]
