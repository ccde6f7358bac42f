"""The service over the in-memory transport: routing, dead letters, retained alerts, status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgpack
import numpy as np
import pytest

from fusion.alerts import decode_event
from fusion.config import ServiceConfig
from fusion.publish import ALERT, Outgoing
from fusion.schema import empty_reports, encode_batch
from fusion.service import Service
from fusion.topics import Topics
from fusion.trackmsg import decode_tracks
from fusion.transport import MemoryBroker, MemoryTransport, Message

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
        for k in range(7):
            await feeder.publish(TOPICS.reports("adsb-1"), head_on(T0 + k), qos=1)
        await feeder.publish(TOPICS.reports("adsb-1"), b"junk", qos=1)
        await feeder.publish(TOPICS.reports("adsb-1"), head_on(T0 + 7), qos=1)
        await asyncio.sleep(0.05)
    await asyncio.wait_for(svc.drained(), 5)

    events = [decode_event(m.payload) for m in broker.published(TOPICS.alert_events)]
    assert [e["event"] for e in events] == ["new"]
    ev = events[0]
    assert {ev["a"]["icao"], ev["b"]["icao"]} == {"AAAAAA", "BBBBBB"}
    # Tracks are screened once confirmed (3 updates): from the cycle at T0 + 2, run when
    # data past it by the reorder window arrives; the prediction is alerted once it has
    # held for confirm_cycles consecutive cycles.
    t_new = T0 + 2 + svc.config.alerts.confirm_cycles - 1
    assert ev["t"] == t_new
    assert abs(ev["time_to_los_s"] - (40000.0 - (t_new - T0) * 400.0 - 9260.0) / 400.0) < 1.0
    assert ev["severity"] == "predicted" and ev["v"] == 2
    assert ev["thresholds"]["sep_h_nm"] == 5.0 and ev["hypothesis"] == "straight"
    assert 0.99 < ev["confidence"] <= 1.0  # ADS-B: metres of error against a 5 NM minimum
    active = broker.retained[TOPICS.alert_active(ev["alert_id"])]
    assert decode_event(active.payload)["alert_id"] == ev["alert_id"]

    # The fused picture of each cycle (QoS 0): both tracks, on their course.
    pictures = [decode_tracks(m.payload) for m in broker.published(TOPICS.tracks)]
    # An unsent picture is replaced by a newer one: times increase, the last one is sent.
    times = [t for t, _ in pictures]
    assert times == sorted(set(times)) and times[-1] == T0 + 5
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
        for k in range(6):
            await feeder.publish(TOPICS.reports("adsb-1"), head_on(T0 + k), qos=1)
        # Another aircraft far away, much later: the data clock moves on, the pair expires.
        far = empty_reports(1)
        far["t"], far["icao"], far["lat_deg"], far["lon_deg"] = T0 + 60, 0xCCCCCC, -30.0, 20.0
        far["alt_baro_ft"], far["ve_ms"], far["vn_ms"] = 1000.0, 10.0, 0.0
        await feeder.publish(TOPICS.reports("adsb-2"), encode_batch("adsb-2", "adsb", far))
        far["t"] += 2.0  # the cycle at T0 + 60 runs once data passes it by the window
        await feeder.publish(TOPICS.reports("adsb-2"), encode_batch("adsb-2", "adsb", far))
        await asyncio.sleep(0.05)
    await asyncio.wait_for(svc.drained(), 5)
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


def pair(t: float, icao: tuple[int, int], lat: float, t_start: float) -> bytes:
    """Like :func:`head_on`, for another pair at another latitude, 40 km apart at
    ``t_start``."""
    r = empty_reports(2)
    r["t"] = t
    r["icao"] = list(icao)
    r["lat_deg"] = lat
    k = 6_390_000.0 * np.cos(np.radians(lat))
    dlon = np.degrees((20000.0 - 200.0 * (t - t_start)) / k)
    r["lon_deg"] = [8.0 - dlon, 8.0 + dlon]
    r["alt_baro_ft"] = 35000.0
    r["ve_ms"] = [200.0, -200.0]
    r["vn_ms"] = 0.0
    r["vu_ms"] = 0.0
    return encode_batch("adsb-1", "adsb", r)


async def test_broker_crash_keeps_tracks_republishes_open_alerts_and_loses_no_event() -> None:
    """The broker dies (retained messages lost) with an alert open; while it is away, the
    service raises a new alert from messages it had already taken in. After the restart:
    the same tracks, the open alert back on its retained topic, the new one delivered."""
    broker = MemoryBroker()
    svc = Service(
        ServiceConfig(service="unit"),
        broker.factory(),
        status_every_s=3600,
        reconnect_max_s=0.1,
        reconnect_initial_s=0.02,
    )
    stop = asyncio.Event()
    task = await _run(broker, svc, stop)
    ab, cd = (0xAAAAAA, 0xBBBBBB), (0xCCCCCC, 0xDDDDDD)
    async with MemoryTransport(broker) as feeder:
        for k in range(7):
            await feeder.publish(TOPICS.reports("adsb-1"), pair(T0 + k, ab, 50.0, T0), qos=1)
        await asyncio.sleep(0.05)
    await asyncio.wait_for(svc.drained(), 5)
    first = [decode_event(m.payload) for m in broker.published(TOPICS.alert_events)]
    assert [e["event"] for e in first] == ["new"]
    ab_id = first[0]["alert_id"]
    tracks = svc.engine.fuser.tracks
    ids_before = set(tracks.id[tracks.alive].tolist())
    assert len(ids_before) == 2

    broker.crash()
    await asyncio.wait_for(_until(lambda: not svc.connected.is_set()), 2)
    assert not broker.retained
    # Messages already received when the link broke: A-B carries on, C-D meets.
    for k in range(7, 15):
        svc.handle(Message(TOPICS.reports("adsb-1"), pair(T0 + k, ab, 50.0, T0)))
        svc.handle(Message(TOPICS.reports("adsb-1"), pair(T0 + k, cd, 40.0, T0 + 7)))
    raised = [m for m in svc.outbox.items() if m.topic == TOPICS.alert_events]
    assert raised, "the test needs an event raised while disconnected"
    raised_ids = [decode_event(m.payload)["alert_id"] for m in raised]
    assert ab_id not in raised_ids  # A-B's state is not in the outbox: republished

    broker.restart()
    await asyncio.wait_for(svc.connected.wait(), 5)
    await asyncio.wait_for(svc.drained(), 5)
    assert svc.connections == 2
    # Every event raised while away reached the broker after the reconnection.
    events = [decode_event(m.payload) for m in broker.published(TOPICS.alert_events)]
    assert [e["alert_id"] for e in events[1:]] == raised_ids
    # Both open alerts are retained again: A-B republished, C-D from the outbox.
    active = {t.rsplit("/", 1)[1] for t in broker.retained if "/alerts/active/" in t}
    assert active == set(svc.open_alerts) == {ab_id, *raised_ids}
    # The track table lived through it: A-B kept its system tracks (no new alert id).
    assert ids_before <= set(tracks.id[tracks.alive].tolist())
    assert [e["event"] for e in events if e["alert_id"] == ab_id].count("new") == 1
    assert svc.metrics.broker_connections._value.get() == 2
    stop.set()
    await asyncio.wait_for(task, 5)
    # A clean stop leaves the open alerts retained, and says offline.
    assert {t.rsplit("/", 1)[1] for t in broker.retained if "/alerts/active/" in t} == active
    status = msgpack.unpackb(broker.retained[TOPICS.status("unit")].payload)
    assert status["state"] == "offline"


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


async def test_a_message_that_cannot_be_published_is_dropped_not_retried_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A publish that fails for another reason than the connection (a defect) drops that
    one message, logged and counted; the ones behind it go out."""

    class Picky(MemoryTransport):
        async def publish(
            self, topic: str, payload: bytes, qos: int = 0, retain: bool = False
        ) -> None:
            if payload == b"poison":
                raise ValueError("payload the client refuses")
            await super().publish(topic, payload, qos, retain)

    broker = MemoryBroker()
    svc = Service(
        ServiceConfig(service="unit"),
        lambda cid, will: Picky(broker, cid, will),
        status_every_s=3600,
    )
    stop = asyncio.Event()
    task = await _run(broker, svc, stop)
    svc.outbox.put(Outgoing("x/poison", b"poison", kind=ALERT))
    svc.outbox.put(Outgoing("x/fine", b"fine", kind=ALERT))
    await asyncio.wait_for(svc.drained(), 5)
    assert [m.payload for m in broker.published("x/#")] == [b"fine"]
    assert svc.outbox.dropped["alert"] == 1
    assert "cannot publish a alert message to x/poison" in caplog.text
    assert svc.connections == 1  # no reconnection for it
    stop.set()
    await asyncio.wait_for(task, 5)
