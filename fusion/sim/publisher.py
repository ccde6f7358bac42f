"""Publish a simulated scenario's sensor messages to a broker, paced on data time.

``speed`` scales data time to wall time: 1.0 is real time, 10.0 ten times faster, 0 as
fast as the broker takes them. Messages go out in their data-time order whatever the
speed, so the service sees the same sequence and raises the same alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from fusion.sim.sensors import SimMessage
from fusion.topics import Topics
from fusion.transport import Transport

log = logging.getLogger("fusion.sim")


async def publish_messages(
    tr: Transport,
    topics: Topics,
    messages: Sequence[SimMessage],
    speed: float,
    stop: asyncio.Event | None = None,
    qos: int = 1,
) -> int:
    """Publish ``messages`` (sorted by t_pub) at ``speed`` x data time; returns how many
    were sent before the end or ``stop``."""
    if not messages:
        return 0
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    wall0 = loop.time()
    t0 = messages[0].t_pub
    sent = 0
    for m in messages:
        if stop.is_set():
            break
        if speed > 0:
            delay = wall0 + (m.t_pub - t0) / speed - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    break
        await tr.publish(topics.reports(m.feeder), m.payload, qos=qos)
        sent += 1
    log.info("simulator published %d of %d messages", sent, len(messages))
    return sent
