"""Overload: a flood of reports the engine cannot keep up with. Memory stays bounded (the
ingest buffer never holds more than its bound), what is shed is counted, the newest report
of every track survives, and the detection cycle keeps running on time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from fusion.broker import LocalBroker
from fusion.config import IngestConfig, ServiceConfig
from fusion.schema import empty_reports, encode_batch
from fusion.service import Service
from fusion.topics import Topics
from fusion.transport import AiomqttTransport, MemoryBroker, MemoryTransport, aiomqtt_factory
from tests.test_metrics import value

T0 = 1_764_054_000.0
TOPICS = Topics("airspace")
N_AIRCRAFT = 3000
BOUND = 20_000
HZ = 2  # reports per aircraft per second of data


def batch(k: int, n: int = N_AIRCRAFT) -> bytes:
    """The k-th half second of an ADS-B feed of n aircraft spread over 10 x 10 degrees,
    far enough apart that no pair conflicts, flying east at 200 m/s."""
    t = T0 + k / HZ
    r = empty_reports(n)
    idx = np.arange(n)
    r["t"] = t
    r["icao"] = 0x100000 + idx
    lat = 45.0 + (idx // 60) * 0.2
    r["lat_deg"] = lat
    r["lon_deg"] = 5.0 + (idx % 60) * 0.2 + 200.0 * (t - T0) / (111_195.0 * np.cos(np.radians(lat)))
    r["alt_baro_ft"] = 30000.0 + (idx % 7) * 2000.0
    r["ve_ms"], r["vn_ms"], r["vu_ms"] = 200.0, 0.0, 0.0
    r["nacp"] = 9
    return encode_batch("adsb-flood", "adsb", r)


def slow_engine(svc: Service, pause_s: float) -> None:
    """Make every engine pass take at least ``pause_s`` longer (on the engine thread), so
    that the flood outruns it whatever the machine."""
    advance = svc.engine.advance

    def slow(newest_only: bool = False) -> Any:
        time.sleep(pause_s)
        return advance(newest_only)

    svc.engine.advance = slow  # type: ignore[method-assign]


def accounted(svc: Service) -> int:
    """Reports the counters place somewhere: fused, late, duplicate, kept out, rejected,
    shed, or waiting in the reorder window or the ingest buffer."""
    c = svc.engine.counters
    return (
        c.reports_applied
        + c.reports_late
        + c.reports_duplicate
        + c.reports_integrity_rejected
        + c.reports_identity_rejected
        + c.reports_rejected
        + c.reports_shed
        + svc.engine.fuser.pending
        + len(svc.ingest)
    )


async def sample_while(
    running: Callable[[], bool], probe: Callable[[], int], every_s: float = 0.001
) -> list[int]:
    out = []
    while running():
        out.append(probe())
        await asyncio.sleep(every_s)
    return out


async def test_flood_keeps_memory_bounded_counts_what_it_sheds_and_cycles_on_time() -> None:
    broker = MemoryBroker()
    cfg = replace(ServiceConfig(service="flood"), ingest=IngestConfig(max_rows=BOUND))
    svc = Service(cfg, broker.factory(), status_every_s=3600)
    slow_engine(svc, 0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    await asyncio.wait_for(svc.connected.wait(), 120)

    n_msgs = 60 * HZ  # a minute of data, 360,000 reports, as fast as the broker takes them
    flooding = True
    sizes = asyncio.create_task(sample_while(lambda: flooding, lambda: len(svc.ingest)))
    cycles = asyncio.create_task(sample_while(lambda: flooding, lambda: svc.engine.counters.cycles))
    async with MemoryTransport(broker) as feeder:
        for k in range(n_msgs):
            await feeder.publish(TOPICS.reports("adsb-flood"), batch(k), qos=1)
            await asyncio.sleep(0.004)
        flooding = False
        seen_sizes, seen_cycles = await sizes, await cycles
        await asyncio.wait_for(svc.drained(), 30)
        c = svc.engine.counters
        # Memory: the buffer never held more than its bound, sampled or at its peak.
        assert max(seen_sizes) <= BOUND and svc.ingest.peak_rows <= BOUND
        # Shedding happened, and is counted the same everywhere.
        assert c.reports == n_msgs * N_AIRCRAFT == accounted(svc)
        assert c.reports_shed == svc.ingest.shed > 0
        body = svc.metrics.exposition()
        assert value(body, "airspace_reports_shed_total") == c.reports_shed
        assert value(body, "airspace_cycles_shed_total") == c.cycles_shed
        assert value(body, "airspace_ingest_rows") == 0
        # Cycles kept running during the flood, not only after it ...
        assert len(set(seen_cycles)) >= 3, seen_cycles
        # ... and are on time: every boundary the data passed by the reorder window was
        # screened or knowingly left out, the newest one screened.
        last_t = T0 + (n_msgs - 1) / HZ
        window = cfg.fusion.reorder_window_s
        due = int(np.floor(last_t - window - T0 - 1e-9)) + 1  # boundaries T0, T0 + 1, ...
        assert c.cycles + c.cycles_shed == due
        assert svc.engine.last_cycle_t == T0 + due - 1
        assert value(body, "airspace_cycle_lag_seconds") == last_t - (T0 + due - 1)

        # The newest report of every aircraft was kept: data two seconds on releases it,
        # and every track then carries it.
        await feeder.publish(TOPICS.reports("adsb-flood"), batch(n_msgs + 2 * HZ), qos=1)
        await asyncio.sleep(0.01)
        await asyncio.wait_for(svc.drained(), 30)
    tr = svc.engine.fuser.tracks
    alive = tr.alive & (tr.icao >= 0)
    assert int(alive.sum()) == N_AIRCRAFT
    assert np.all(tr.t_update[alive] == last_t)
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_no_shedding_below_the_bound_and_the_same_alerts_as_one_message_at_a_time() -> None:
    """A feed the engine keeps up with (the buffer never fills) sheds nothing, and every
    cycle runs: the same counts as an engine fed message by message."""
    from fusion.engine import Engine
    from fusion.schema import decode_message

    broker = MemoryBroker()
    svc = Service(ServiceConfig(service="calm"), broker.factory(), status_every_s=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    await asyncio.wait_for(svc.connected.wait(), 120)
    payloads = [batch(k, 200) for k in range(20)]
    async with MemoryTransport(broker) as feeder:
        for p in payloads:
            await feeder.publish(TOPICS.reports("adsb-flood"), p, qos=1)
        await asyncio.sleep(0.01)
    await asyncio.wait_for(svc.drained(), 30)
    ref = Engine(ServiceConfig())
    for p in payloads:
        ref.ingest(decode_message(p, "adsb-flood"))
    c, r = svc.engine.counters, ref.counters
    assert c.reports_shed == 0 and c.cycles_shed == 0
    assert (c.cycles, c.reports_applied, c.tracks) == (r.cycles, r.reports_applied, r.tracks)
    stop.set()
    await asyncio.wait_for(task, 10)


@pytest.mark.e2e
async def test_flood_through_a_real_broker_is_shed_by_the_service_not_lost_before_it(
    broker: LocalBroker,
) -> None:
    """Through Mosquitto, at QoS 1: every message the feeder published reaches the
    service's counters (nothing dropped unseen in the client or the broker), and what the
    service could not fuse in time is counted as shed."""
    cfg = replace(ServiceConfig(broker=broker.url, service="flood-e2e"), ingest=IngestConfig(BOUND))
    svc = Service(cfg, aiomqtt_factory(broker.host, broker.port), status_every_s=3600)
    slow_engine(svc, 0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    await asyncio.wait_for(svc.connected.wait(), 120)
    n_msgs = 40
    payloads = [batch(k) for k in range(n_msgs)]
    async with AiomqttTransport(broker.host, broker.port, "flood-feeder") as feeder:
        for p in payloads:
            await feeder.publish(TOPICS.reports("adsb-flood"), p, qos=1)
    deadline = time.monotonic() + 60
    while svc.engine.counters.messages < n_msgs and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.wait_for(svc.drained(), 30)
    c = svc.engine.counters
    assert c.messages == n_msgs and c.reports == n_msgs * N_AIRCRAFT == accounted(svc)
    assert c.reports_shed > 0 and svc.ingest.peak_rows <= BOUND
    stop.set()
    await asyncio.wait_for(task, 10)


def test_engine_behind_runs_only_the_newest_cycle_due_when_asked() -> None:
    """``advance(newest_only=True)`` (the service after a pass that shed): of the cycles
    due, only the newest runs, over every report up to its boundary; the rest are counted."""
    from fusion.engine import Engine
    from fusion.schema import decode_message

    eng = Engine(ServiceConfig())
    for k in range(12 * HZ):  # 12 s of data arrive before the engine gets to run
        d = decode_message(batch(k, 50), "adsb-flood")
        eng.note_received(d)
        eng.add(d.reports, d.kind, d.feeder)
    assert eng.counters.cycles == 0
    eng.advance(newest_only=True)
    c = eng.counters
    # Data up to T0 + 11.5: boundaries T0 .. T0 + 10 are past by the 1 s window.
    assert (c.cycles, c.cycles_shed) == (1, 10) and eng.last_cycle_t == T0 + 10
    # Everything up to the boundary was fused in that one release; the rest waits.
    assert c.reports_applied == 21 * 50 and eng.fuser.pending == 3 * 50
    assert c.tracks == 50  # confirmed and screened in that one cycle
    # Caught up: data past the next boundary by the window runs its cycle as usual.
    d = decode_message(batch(12 * HZ + 1, 50), "adsb-flood")
    eng.ingest(d)
    assert (c.cycles, c.cycles_shed) == (2, 10) and eng.last_cycle_t == T0 + 11
