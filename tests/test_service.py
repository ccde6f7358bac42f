"""The service over the in-memory transport: routing, dead letters, retained alerts, status."""

from __future__ import annotations

import asyncio

import msgpack
import numpy as np

from fusion.alerts import decode_event
from fusion.config import ServiceConfig
from fusion.schema import empty_reports, encode_batch
from fusion.service import Service
from fusion.topics import Topics
from fusion.trackmsg import decode_tracks
from fusion.transport import MemoryBroker, MemoryTransport

T0 = 1_764_054_000.0
TOPICS = Topics("airspace")


def head_on(t: float) -> bytes:
    """Two aircraft 40 km apart, head-on at FL350, 200 m/s each: loss of separation after
    (40000 - 9260) / 400 = 77 s."""
    r = empty_reports(2)
    r["t"] = t
    r["icao"] = [0xAAAAAA, 0xBBBBBB]
    r["lat_deg"] = 50.0
    dlon = np.degrees(20000.0 / (6_390_000.0 * np.cos(np.radians(50.0))))
    r["lon_deg"] = [8.0 - dlon, 8.0 + dlon]
    r["alt_baro_ft"] = 35000.0
    r["ve_ms"] = [200.0, -200.0]
    r["vn_ms"] = 0.0
    r["vu_ms"] = 0.0
    # Positions advance with time so that later batches stay consistent.
    shift = np.degrees(200.0 * (t - T0) / (6_390_000.0 * np.cos(np.radians(50.0))))
    r["lon_deg"] += [shift, -shift]
    return encode_batch("adsb-1", "adsb", r)


async def _run(broker: MemoryBroker, svc: Service, stop: asyncio.Event) -> asyncio.Task[None]:
    task = asyncio.create_task(svc.run(stop))
    await asyncio.wait_for(svc.connected.wait(), 120)
    return task


async def test_alerts_deadletters_status_over_memory_broker() -> None:
    broker = MemoryBroker()
    svc = Service(ServiceConfig(service="unit"), broker.factory(), status_every_s=3600)
    stop = asyncio.Event()
    task = await _run(broker, svc, stop)
    async with MemoryTransport(broker) as feeder:
        for k in range(5):
            await feeder.publish(TOPICS.reports("adsb-1"), head_on(T0 + k), qos=1)
        await feeder.publish(TOPICS.reports("adsb-1"), b"junk", qos=1)
        await feeder.publish(TOPICS.reports("adsb-1"), head_on(T0 + 5), qos=1)
        await asyncio.sleep(0.05)
    await asyncio.wait_for(svc.outbox.drained(), 5)

    events = [decode_event(m.payload) for m in broker.published(TOPICS.alert_events)]
    assert [e["event"] for e in events] == ["new"]
    ev = events[0]
    assert {ev["a"]["icao"], ev["b"]["icao"]} == {"AAAAAA", "BBBBBB"}
    # Tracks are screened once confirmed (3 updates): the cycle at T0 + 2, run when data
    # past it by the reorder window arrives.
    assert ev["t"] == T0 + 2
    assert abs(ev["time_to_los_s"] - (40000.0 - 2 * 400.0 - 9260.0) / 400.0) < 1.0
    assert ev["severity"] == "predicted"
    active = broker.retained[TOPICS.alert_active(ev["alert_id"])]
    assert decode_event(active.payload)["alert_id"] == ev["alert_id"]

    # The fused picture of each cycle (QoS 0): both tracks, on their course.
    pictures = [decode_tracks(m.payload) for m in broker.published(TOPICS.tracks)]
    # An unsent picture is replaced by a newer one: times increase, the last one is sent.
    times = [t for t, _ in pictures]
    assert times == sorted(set(times)) and times[-1] == T0 + 3
    _, tracks = pictures[-1]
    assert sorted(tracks["icao"].tolist()) == [0xAAAAAA, 0xBBBBBB]
    assert np.allclose(np.abs(tracks["ve_ms"]), 200.0, atol=1.0)
    assert np.all(tracks["sources"] == 1)  # ADS-B only

    dead = broker.published(TOPICS.deadletter("adsb-1"))
    assert len(dead) == 1
    body = msgpack.unpackb(dead[0].payload, raw=False)
    assert body["payload"] == b"junk" and "msgpack" in body["reason"]

    stop.set()
    await asyncio.wait_for(task, 5)
    status = msgpack.unpackb(broker.retained[TOPICS.status("unit")].payload)
    assert status["state"] == "offline"


async def test_alert_ends_when_tracks_expire_and_retained_clears() -> None:
    broker = MemoryBroker()
    svc = Service(ServiceConfig(service="unit"), broker.factory(), status_every_s=3600)
    stop = asyncio.Event()
    task = await _run(broker, svc, stop)
    async with MemoryTransport(broker) as feeder:
        for k in range(3):
            await feeder.publish(TOPICS.reports("adsb-1"), head_on(T0 + k), qos=1)
        # Another aircraft far away, much later: the data clock moves on, the pair expires.
        far = empty_reports(1)
        far["t"], far["icao"], far["lat_deg"], far["lon_deg"] = T0 + 60, 0xCCCCCC, -30.0, 20.0
        far["alt_baro_ft"], far["ve_ms"], far["vn_ms"] = 1000.0, 10.0, 0.0
        await feeder.publish(TOPICS.reports("adsb-2"), encode_batch("adsb-2", "adsb", far))
        far["t"] += 2.0  # the cycle at T0 + 60 runs once data passes it by the window
        await feeder.publish(TOPICS.reports("adsb-2"), encode_batch("adsb-2", "adsb", far))
        await asyncio.sleep(0.05)
    await asyncio.wait_for(svc.outbox.drained(), 5)
    events = [decode_event(m.payload) for m in broker.published(TOPICS.alert_events)]
    assert [e["event"] for e in events] == ["new", "end"]
    assert events[1]["reason"] == "track_lost"
    assert not [t for t in broker.retained if t.startswith(TOPICS.base + "/alerts/active/")]
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_last_will_says_offline_when_the_service_vanishes() -> None:
    broker = MemoryBroker()
    svc = Service(ServiceConfig(service="unit"), broker.factory(), status_every_s=3600)
    stop = asyncio.Event()
    task = await _run(broker, svc, stop)
    assert msgpack.unpackb(broker.retained[TOPICS.status("unit")].payload)["state"] == "online"
    client = broker.clients[0]
    assert isinstance(client, MemoryTransport)
    client.kill()
    assert msgpack.unpackb(broker.retained[TOPICS.status("unit")].payload)["state"] == "offline"
    stop.set()
    await asyncio.wait_for(task, 10)
