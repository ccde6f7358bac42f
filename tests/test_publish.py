"""The outbox: FIFO, items leave only when done, coalescing of the newest fused picture and
status, the bounds and their overflow policy; dead letters' bounded quote of the input."""

from __future__ import annotations

import msgpack

from fusion.publish import (
    ALERT,
    DEADLETTER,
    DEADLETTER_PAYLOAD_MAX_BYTES,
    Outbox,
    Outgoing,
    encode_deadletter,
)


async def test_fifo_and_coalescing_never_touch_the_item_in_flight() -> None:
    box = Outbox()
    box.put(Outgoing("tracks", b"p1", qos=0, coalesce="tracks"))
    box.put(Outgoing("alerts", b"a1"))
    head = await box.peek()  # p1 is being published
    assert head.payload == b"p1"
    box.put(Outgoing("tracks", b"p2", qos=0, coalesce="tracks"))
    box.put(Outgoing("alerts", b"a2"))
    box.put(Outgoing("tracks", b"p3", qos=0, coalesce="tracks"))  # replaces p2, not p1
    out = []
    while len(box):
        out.append((await box.peek()).payload)
        box.done()
    # Alerts keep their order and are never dropped; only the unsent p2 went.
    assert out == [b"p1", b"a1", b"a2", b"p3"]
    await box.drained()


def _dead(k: int) -> Outgoing:
    return Outgoing("dead", b"d%d" % k, kind=DEADLETTER)


def _alert(k: int) -> Outgoing:
    return Outgoing("alerts", b"a%d" % k, kind=ALERT)


async def test_past_the_bound_the_oldest_dead_letters_go_first_and_are_counted() -> None:
    box = Outbox(max_items=4)
    shed: list[tuple[str, int]] = []
    box.on_shed = lambda kind, n: shed.append((kind, n))
    box.put(_dead(0))  # becomes the item in flight: never dropped
    assert (await box.peek()).payload == b"d0"
    for item in (_alert(1), _dead(2), _dead(3), _alert(4), _alert(5)):
        box.put(item)
    # 6 items for 4 places: d2 then d3 went, oldest first; d0 is in flight.
    assert [it.payload for it in box.items()] == [b"d0", b"a1", b"a4", b"a5"]
    assert box.dropped["deadletter"] == 2 and box.overflow == 0
    assert shed == [("deadletter", 1), ("deadletter", 1)]


async def test_alerts_are_never_dropped_they_overflow_the_bound_counted() -> None:
    box = Outbox(max_items=3)
    for k in range(5):
        box.put(_alert(k))
    assert [it.payload for it in box.items()] == [b"a0", b"a1", b"a2", b"a3", b"a4"]
    assert box.overflow == 2 and not box.dropped
    # A dead letter arriving now goes itself: nothing older is droppable.
    box.put(_dead(9))
    assert len(box) == 5 and box.dropped["deadletter"] == 1 and box.overflow == 2
    out = []
    while len(box):
        out.append((await box.peek()).payload)
        box.done()
    assert out == [b"a0", b"a1", b"a2", b"a3", b"a4"]


async def test_byte_bound_drops_large_dead_letters() -> None:
    box = Outbox(max_items=100, max_bytes=1000)
    box.put(_alert(0))
    box.put(Outgoing("dead", b"x" * 600, kind=DEADLETTER))
    box.put(Outgoing("dead", b"y" * 600, kind=DEADLETTER))  # 1202 bytes: the x one goes
    assert [it.payload[:1] for it in box.items()] == [b"a", b"y"]
    assert box.nbytes == 602 and box.dropped["deadletter"] == 1


async def test_status_coalesces_like_the_picture() -> None:
    box = Outbox()
    box.put(Outgoing("status", b"s1", coalesce="status"))
    box.put(_alert(1))
    box.put(Outgoing("status", b"s2", coalesce="status"))
    box.put(Outgoing("status", b"s3", coalesce="status"))
    assert [it.payload for it in box.items()] == [b"s1", b"a1", b"s3"]


def test_dead_letters_quote_a_bounded_part_of_the_input() -> None:
    big = bytes(range(256)) * 1000
    msg = msgpack.unpackb(encode_deadletter("f", "why", big, code="not_msgpack"), raw=False)
    assert msg["payload"] == big[:DEADLETTER_PAYLOAD_MAX_BYTES]
    assert msg["payload_bytes"] == len(big)


async def test_a_window_in_flight_is_never_replaced_or_dropped_and_goes_again_on_rewind() -> None:
    box = Outbox(max_items=5)
    box.put(Outgoing("tracks", b"p1", qos=0, coalesce="tracks"))
    box.put(_dead(1))
    box.put(_alert(2))
    # Three in flight at once, in order.
    assert [(await box.next_unsent()).payload for _ in range(3)] == [b"p1", b"d1", b"a2"]
    assert box.inflight == 3 and not box.has_unsent()
    box.put(Outgoing("tracks", b"p2", qos=0, coalesce="tracks"))  # p1 is in flight: kept
    for k in (3, 4, 5):
        box.put(_alert(k))
    # Past the bound (6 items for 5): the only dead letter is in flight, so nothing goes.
    assert [it.payload for it in box.items()] == [b"p1", b"d1", b"a2", b"p2", b"a3", b"a4", b"a5"]
    assert box.dropped["deadletter"] == 0 and box.overflow == 2
    box.done()  # p1 acknowledged
    assert box.inflight == 2
    # The connection is lost: what was in flight goes again, from the oldest.
    box.rewind()
    assert (await box.next_unsent()).payload == b"d1"
    box.done()
    out = [(await box.next_unsent()).payload for _ in range(len(box))]
    assert out == [b"a2", b"p2", b"a3", b"a4", b"a5"]
    for _ in out:
        box.done()
    await box.drained()
