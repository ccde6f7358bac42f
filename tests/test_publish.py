"""The outbox: FIFO, items leave only when done, coalescing of the newest fused picture."""

from __future__ import annotations

from fusion.publish import Outbox, Outgoing


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
