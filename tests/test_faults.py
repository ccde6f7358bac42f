"""Faults end to end, through a real Mosquitto that each test starts on a free loopback port:
malformed input interleaved with a conflict scenario, the broker killed (SIGKILL) and
restarted mid-encounter, and `fusion run` stopped by SIGTERM and Ctrl-C with alerts open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import psutil
import pytest

from fusion.alerts import decode_event
from fusion.broker import LocalBroker
from fusion.config import ServiceConfig
from fusion.metrics import INTERNAL_ERROR
from fusion.schema import (
    MAX_MESSAGE_BYTES,
    MESSAGE_REJECT_CODES,
    ROW_REJECT_CODES,
    empty_reports,
    encode_batch,
    encode_report,
)
from fusion.service import Service
from fusion.sim.publisher import publish_messages
from fusion.sim.scenario import ScenarioConfig, build_scenario
from fusion.sim.sensors import SimMessage, build_messages
from fusion.topics import Topics
from fusion.trackmsg import decode_tracks
from fusion.transport import AiomqttTransport, TransportError, aiomqtt_factory
from tests.conftest import recording
from tests.test_service import T0, head_on

pytestmark = pytest.mark.e2e

TOPICS = Topics("airspace")
DOC_CODES = {*MESSAGE_REJECT_CODES, INTERNAL_ERROR, *ROW_REJECT_CODES}


def _hex(i: int) -> str:
    return f"{i:06X}"


def _pair(ev: dict[str, Any]) -> frozenset[str]:
    return frozenset({ev["a"]["icao"], ev["b"]["icao"]})


def _event_key(ev: dict[str, Any]) -> tuple[str, str, float]:
    return ev["alert_id"], ev["event"], ev["t"]


async def _until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


# --- malformed input interleaved with a conflict scenario ------------------------------

REMOTE = (0xF00001, 0xF00002, 0xF00003)  # three aircraft far from the scenario


def _mixed_batch(t: float, feeder: str) -> bytes:
    """Three good reports of remote aircraft and two bad rows between them (rows 1, 3)."""
    r = empty_reports(5)
    r["t"] = t
    r["icao"] = [REMOTE[0], 0x123456, REMOTE[1], 0x123457, REMOTE[2]]
    r["lat_deg"] = [-30.0, 95.0, -30.1, -30.2, -30.2]  # row 1: latitude out of range
    r["lon_deg"] = [20.0, 20.0, 20.2, 20.0, 20.4]
    r["alt_baro_ft"] = [10000.0, 10000.0, 12000.0, 1e6, 14000.0]  # row 3: altitude
    r["ve_ms"], r["vn_ms"], r["vu_ms"] = 0.0, 0.0, 0.0  # hovering: the same place each time
    return encode_batch(feeder, "adsb", r)


def _malformed(t: float, k: int) -> tuple[str, bytes, str]:
    """The k-th malformed message (cycling): (feeder, payload, expected code). ``t`` is the
    data time of the neighbouring scenario message."""
    cases: list[tuple[str, Callable[[], bytes], str]] = [
        ("bad-bytes", lambda: b"\x93 not msgpack \xc1", "not_msgpack"),
        ("bad-list", lambda: msgpack.packb([1, 2, 3]), "not_a_map"),
        ("bad-version", lambda: msgpack.packb({"v": 2, "type": "batch"}), "version"),
        ("bad-kind", lambda: msgpack.packb({"v": 1, "type": "batch", "kind": ["adsb"]}), "kind"),
        (
            "bad-n",
            lambda: msgpack.packb({"v": 1, "type": "batch", "kind": "adsb", "n": 10**9}),
            "batch_size",
        ),
        (
            "bad-truncated",
            lambda: encode_report("bad-truncated", "adsb", t=t, icao=1, lat_deg=1.0,
                                  lon_deg=1.0, alt_baro_ft=1.0, ve_ms=1.0, vn_ms=1.0)[:-3],
            "not_msgpack",
        ),
        (
            "bad-extra",
            lambda: msgpack.packb({"v": 1, "type": "report", "kind": "adsb", "t": t, "icao": 1,
                                   "lat_deg": 1.0, "lon_deg": 1.0, "alt_ft": 1.0, "ve_ms": 1.0,
                                   "vn_ms": 1.0}),
            "unknown_fields",
        ),
        ("bad-size", lambda: b"\x00" * (MAX_MESSAGE_BYTES + 1), "message_size"),
        (
            "bad-nan",
            lambda: encode_report("bad-nan", "radar", t=t, track=4, lat_deg=math.nan,
                                  lon_deg=1.0, alt_baro_ft=1.0, ve_ms=1.0, vn_ms=1.0),
            "lat_range",
        ),
        (
            "bad-future",
            lambda: encode_report("bad-future", "radar", t=t + 86_400.0, track=4, lat_deg=1.0,
                                  lon_deg=1.0, alt_baro_ft=1.0, ve_ms=1.0, vn_ms=1.0),
            "time_future",
        ),
        (
            "bad-past",
            lambda: encode_report("bad-past", "radar", t=t - 3600.0, track=4, lat_deg=1.0,
                                  lon_deg=1.0, alt_baro_ft=1.0, ve_ms=1.0, vn_ms=1.0),
            "time_past",
        ),
    ]  # fmt: skip
    if k % 2 == 0:
        # Every other one: often enough (every 16 good messages, about 12 s of data) for
        # the good rows' aircraft to become confirmed tracks before they would expire.
        return "mixed", _mixed_batch(t, "mixed"), "lat_range,altitude_range"
    feeder, make, code = cases[(k // 2) % len(cases)]
    return feeder, make(), code


async def test_malformed_messages_interleaved_with_a_conflict_scenario(
    broker: LocalBroker,
) -> None:
    """One malformed message after every 8 good ones, 12 kinds in turn, for the whole
    scenario: every planted conflict is alerted before its loss of separation and nothing
    else is; every bad message is dead-lettered once with its code; the good rows beside
    bad ones are fused; the service is still running at the end."""
    scenario = build_scenario(ScenarioConfig(seed=7, t0=float(int(time.time())), duration_s=400.0))
    truth = scenario.truth_dict()
    last_los = max(c["t_los"] for c in truth["conflicts"])
    good = [m for m in build_messages(scenario) if m.t_pub <= last_los + 5.0]
    messages: list[SimMessage] = []
    expected: list[tuple[str, str]] = []
    for i, m in enumerate(good):
        messages.append(m)
        if i % 8 == 7:
            feeder, payload, code = _malformed(m.t_pub, len(expected))
            messages.append(SimMessage(m.t_pub, feeder, payload, 0))
            expected.append((feeder, code))

    cfg = ServiceConfig(broker=broker.url, service="e2e-bad")
    service = Service(cfg, aiomqtt_factory(broker.host, broker.port), status_every_s=0.5)
    stop = asyncio.Event()
    svc = asyncio.create_task(service.run(stop))
    await asyncio.wait_for(service.connected.wait(), 120)
    async with recording(
        broker, TOPICS.alert_events, TOPICS.deadletter_filter, TOPICS.tracks
    ) as rec:
        async with AiomqttTransport(broker.host, broker.port, "e2e-bad-sim") as sim:
            await publish_messages(sim, TOPICS, messages, 50.0)
        await rec.wait_for(lambda: service.engine.counters.messages >= len(messages), 60)
        await asyncio.wait_for(service.drained(), 30)
        await rec.wait_for(lambda: len(rec.on(TOPICS.base + "/deadletter/")) >= len(expected))
        await asyncio.sleep(0.5)
    assert not svc.done(), "the service stopped"

    # Alerts kept flowing: every planted conflict before its loss, nothing else.
    events = [decode_event(m.payload) for m in rec.on(TOPICS.alert_events)]
    planted = {frozenset({_hex(c["a"]), _hex(c["b"])}): c["t_los"] for c in truth["conflicts"]}
    assert {_pair(ev) for ev in events} == set(planted)
    for pair, t_los in planted.items():
        first = next(ev for ev in events if _pair(ev) == pair and ev["event"] == "new")
        assert first["t"] < t_los

    # Each bad message: one dead letter on its feeder's topic, with its documented code.
    dead = [msgpack.unpackb(m.payload, raw=False) for m in rec.on(TOPICS.base + "/deadletter/")]
    got = [(d["feeder"], d["code"] or ",".join(d["codes"])) for d in dead]
    assert sorted(got) == sorted(expected)
    for d in dead:
        assert (d["code"] is None) != (d["codes"] is None)
        assert {d["code"]} <= DOC_CODES | {None} and set(d["codes"] or []) <= DOC_CODES
        assert len(d["payload"]) <= 64 * 1024 and d["payload_bytes"] >= len(d["payload"])
    mixed = [d for d in dead if d["feeder"] == "mixed"]
    assert len(mixed) >= 10 and all(d["rows"] == [1, 3] for d in mixed)
    # ... and the good rows beside the bad ones were fused: the remote aircraft are tracks.
    pictures = [set(decode_tracks(m.payload)[1]["icao"].tolist()) for m in rec.on(TOPICS.tracks)]
    assert any(set(REMOTE) <= p for p in pictures)

    c = service.engine.counters
    whole = [code for _, code in expected if code in MESSAGE_REJECT_CODES]
    single_rows = [code for _, code in expected if code in ROW_REJECT_CODES]
    assert c.messages_rejected == len(whole)
    assert c.reports_rejected == len(single_rows) + 2 * len(mixed)
    text = service.metrics.exposition().decode()
    for code in set(whole):
        n = sum(1 for w in whole if w == code)
        assert f'airspace_messages_rejected_total{{reason="{code}"}} {float(n)}' in text
    stop.set()
    await asyncio.wait_for(svc, 30)


# --- the broker killed mid-encounter ----------------------------------------------------


async def test_broker_killed_and_restarted_mid_encounter_loses_no_alert_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Timeline (wall clock; the feeder plays 20 data seconds per second):

    1. Mosquitto with persistence (sessions saved every second); an operator console
       subscribes to the alert events with a persistent session (clean_session false,
       fixed client id, QoS 1); the service starts, with a persistent session too; the
       feeder, the `fusion simulate` command, plays a scenario of planted conflicts.
    2. Once the data clock is 100 s in and an alert is open, Mosquitto is killed with
       SIGKILL by its PID. The service, the feeder and the console all lose it.
    3. 3 s later Mosquitto starts again on the same port. The service reconnects (back-off
       with jitter), subscribes again and republishes its open alerts, retained; the
       feeder reconnects and sends what it could not send meanwhile, then the rest.
    4. Only after the feeder has finished and the service has published everything does
       the console come back, with its session, without subscribing again.

    Checked: every alert event the service raised, before, during and after the outage,
    reaches the console (the ones published while it was away queued by the broker for
    its session); every planted conflict is alerted before its loss of separation, once
    (the track table lived through it: the same system tracks, no alert reopened under a
    new id); the retained active alerts are the service's open alerts; the service
    reconnected once; the feeder lost nothing it was given.
    """
    caplog.set_level(logging.INFO, logger="fusion.service")
    (tmp_path / "broker").mkdir()
    with LocalBroker(tmp_path / "broker", persistence=True) as broker:
        console_id = "ops-console-1"

        def console() -> AiomqttTransport:
            return AiomqttTransport(broker.host, broker.port, console_id, clean_session=False)

        received: list[tuple[int, dict[str, Any]]] = []  # (console connection, event)

        async def pump(tr: AiomqttTransport, connection: int) -> None:
            with contextlib.suppress(TransportError):
                async for m in tr.messages():
                    if m.topic == TOPICS.alert_events:
                        received.append((connection, decode_event(m.payload)))

        ops = console()
        await ops.__aenter__()
        await ops.subscribe(TOPICS.alert_events, qos=1)
        ops_task = asyncio.create_task(pump(ops, 1))

        cfg = ServiceConfig(broker=broker.url, service="e2e-fault")
        service = Service(
            cfg,
            aiomqtt_factory(broker.host, broker.port, clean_session=False),
            status_every_s=1.0,
            reconnect_initial_s=0.2,
            reconnect_max_s=1.0,
        )
        raised: list[tuple[bool, dict[str, Any]]] = []  # (connected when raised, event)
        queue_event = service._queue_event

        def recording_queue_event(
            ev: Any, t_received: float | None = None, payload: bytes | None = None
        ) -> None:
            raised.append((service.connected.is_set(), ev.to_dict()))
            queue_event(ev, t_received, payload)

        service._queue_event = recording_queue_event  # type: ignore[method-assign]
        stop = asyncio.Event()
        svc = asyncio.create_task(service.run(stop))
        await asyncio.wait_for(service.connected.wait(), 120)

        t0 = float(int(time.time()))
        truth_path = tmp_path / "truth.json"
        feeder_err = tmp_path / "feeder.txt"
        with open(feeder_err, "wb") as err:
            feeder = subprocess.Popen(
                [sys.executable, "-m", "fusion", "simulate", "--broker", broker.url,
                 "--speed", "20", "--duration-s", "300", "--aircraft", "6",
                 "--conflicts", "4", "--seed", "3", "--start", str(t0),
                 "--truth", str(truth_path), "--log-level", "INFO"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        try:
            # 2. Mid-encounter: 100 s of data in, an alert open.
            await _until(
                lambda: (
                    (service.engine.counters.data_time or 0) >= t0 + 100.0
                    and bool(service.open_alerts)
                ),
                120,
                "the encounter to develop",
            )
            ids_before = _track_ids(service)
            open_before = set(service.open_alerts)
            assert broker.pid is not None
            broker.kill()  # SIGKILL to its PID
            assert broker.pid is None
            await _until(lambda: not service.connected.is_set(), 5, "the service to notice")
            await asyncio.sleep(3.0)
            assert not service.connected.is_set()

            # 3. The broker again, on the same port, with the sessions it had saved.
            broker.restart_same_port()
            await asyncio.wait_for(service.connected.wait(), 30)
            assert service.connections == 2
            code = await asyncio.to_thread(feeder.wait, 120)
            assert code == 0, feeder_err.read_text()
            log_text = feeder_err.read_text()
            sent = re.search(r"simulator published (\d+) of (\d+) messages", log_text)
            assert sent is not None and sent.group(1) == sent.group(2), log_text
            assert "reconnecting" in log_text  # the feeder did lose the broker
            # Everything the feeder sent is in (a report acknowledged by the broker but
            # not yet forwarded when it was killed dies with it: at most a couple).
            n_sent = int(sent.group(1))
            await _until(
                lambda: service.engine.counters.messages >= n_sent - 2, 60, "the feeder's messages"
            )
            await asyncio.sleep(1.0)
            await asyncio.wait_for(service.drained(), 30)
        finally:
            if feeder.poll() is None:
                feeder.kill()
                feeder.wait()

        # 4. The console returns with its session, without subscribing again.
        ops_task.cancel()
        await asyncio.gather(ops_task, return_exceptions=True)
        with contextlib.suppress(TransportError):
            await ops.__aexit__(None, None, None)
        n_before = len(received)
        ops = console()
        await ops.__aenter__()
        ops_task = asyncio.create_task(pump(ops, 2))
        want = {_event_key(ev) for _, ev in raised}
        await _until(
            lambda: {_event_key(ev) for _, ev in received} >= want, 30, "the queued events"
        )
        await asyncio.sleep(0.5)

        # No alert event lost, whenever it was raised; the ones raised after the kill
        # came through the console's persistent session.
        got = {_event_key(ev) for _, ev in received}
        assert got == want
        after_kill = [ev for conn, ev in received[n_before:] if conn == 2]
        assert after_kill, "no event was delivered to the console after reconnecting"

        # Every planted conflict alerted before its loss, under one alert id, once.
        truth = json.loads(truth_path.read_text())
        events = [ev for _, ev in raised]
        for c in truth["conflicts"]:
            pair = frozenset({_hex(c["a"]), _hex(c["b"])})
            news = [ev for ev in events if _pair(ev) == pair and ev["event"] == "new"]
            assert len(news) == 1, (pair, news)
            assert news[0]["t"] < c["t_los"]
            assert {ev["alert_id"] for ev in events if _pair(ev) == pair} == {news[0]["alert_id"]}
        assert open_before <= {ev["alert_id"] for ev in events}
        # The same system tracks after the outage as before it.
        ids_after = _track_ids(service)
        assert len(set(ids_before) & set(ids_after)) >= len(ids_before) / 2
        for icao in set(ids_before) & set(ids_after):
            assert ids_after[icao] == ids_before[icao], _hex(icao)

        # The retained active alerts are the open ones (republished to the new broker).
        retained = await _retained_alerts(broker)
        assert retained == set(service.open_alerts)
        assert any("retrying in" in r.getMessage() for r in caplog.records)
        assert any("reconnected (connection 2)" in r.getMessage() for r in caplog.records)

        ops_task.cancel()
        await asyncio.gather(ops_task, return_exceptions=True)
        with contextlib.suppress(TransportError):
            await ops.__aexit__(None, None, None)
        stop.set()
        await asyncio.wait_for(svc, 30)


async def test_broker_restarted_without_persistence_gets_the_open_alerts_again(
    broker: LocalBroker,
) -> None:
    """A broker without persistence comes back empty: no retained alert, no status. The
    service puts both back on reconnecting, so a subscriber arriving later sees them."""
    cfg = ServiceConfig(broker=broker.url, service="e2e-empty")
    service = Service(
        cfg,
        aiomqtt_factory(broker.host, broker.port, clean_session=False),
        status_every_s=3600.0,
        reconnect_initial_s=0.2,
        reconnect_max_s=1.0,
    )
    stop = asyncio.Event()
    svc = asyncio.create_task(service.run(stop))
    await asyncio.wait_for(service.connected.wait(), 120)
    async with AiomqttTransport(broker.host, broker.port, "e2e-empty-feeder") as feeder:
        for k in range(8):
            await feeder.publish(TOPICS.reports("adsb-1"), head_on(T0 + k), qos=1)
    await _until(lambda: bool(service.open_alerts), 30, "an alert")
    await asyncio.wait_for(service.drained(), 30)
    assert await _retained_alerts(broker) == set(service.open_alerts)

    broker.kill()
    await _until(lambda: not service.connected.is_set(), 5, "the service to notice")
    broker.restart_same_port()  # persistence false: an empty broker
    await asyncio.wait_for(service.connected.wait(), 30)
    await asyncio.wait_for(service.drained(), 30)
    assert await _retained_alerts(broker) == set(service.open_alerts) != set()
    async with recording(broker, TOPICS.status("e2e-empty")) as rec:
        await asyncio.sleep(0.5)
    assert [msgpack.unpackb(m.payload)["state"] for _, m in rec.messages] == ["online"]
    stop.set()
    await asyncio.wait_for(svc, 30)


def _track_ids(service: Service) -> dict[int, int]:
    """ICAO address -> system track number of every confirmed track with an address."""
    tr = service.engine.fuser.tracks
    keep = tr.alive & tr.confirmed & (tr.icao >= 0)
    return dict(zip(tr.icao[keep].tolist(), tr.id[keep].tolist(), strict=True))


async def _retained_alerts(broker: LocalBroker) -> set[str]:
    async with recording(broker, TOPICS.alert_active_filter) as rec:
        await asyncio.sleep(1.0)
    return {decode_event(m.payload)["alert_id"] for _, m in rec.messages if m.retain and m.payload}


# --- SIGTERM and Ctrl-C with alerts open -----------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
async def test_fusion_run_stops_cleanly_with_alerts_open(
    broker: LocalBroker, sig: signal.Signals, tmp_path: Path
) -> None:
    """`fusion run` with an alert open gets SIGTERM (or Ctrl-C's SIGINT): exit code 0,
    status offline (retained), the open alert still retained (it is still open as far as
    anyone knows; the status says who would end it is offline), no process left."""
    name = f"stop-{sig.name.lower()}"
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fusion", "run", "--broker", broker.url, "--service", name,
             "--log-level", "INFO"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        await _until(lambda: "online, subscribed" in err_path.read_text(), 120, "online")
        children = psutil.Process(proc.pid).children(recursive=True)
        async with recording(broker, TOPICS.alert_events) as rec:
            async with AiomqttTransport(broker.host, broker.port, f"{name}-feeder") as feeder:
                for k in range(8):
                    await feeder.publish(TOPICS.reports("adsb-1"), head_on(T0 + k), qos=1)
            await rec.wait_for(lambda: bool(rec.on(TOPICS.alert_events)), 30)
        opened = {decode_event(m.payload)["alert_id"] for m in rec.on(TOPICS.alert_events)}
        assert len(opened) == 1

        proc.send_signal(sig)
        code = await asyncio.to_thread(proc.wait, 30)
        assert code == 0, err_path.read_text()
        log = err_path.read_text()
        assert "offline; 1 open alert(s) left retained" in log
        _, alive = psutil.wait_procs(children, timeout=5)
        assert not alive
        async with recording(broker, TOPICS.status(name), TOPICS.alert_active_filter) as rec:
            await asyncio.sleep(1.0)
        status = [msgpack.unpackb(m.payload) for m in rec.on(TOPICS.status(name))]
        assert [s["state"] for s in status] == ["offline"]
        active = [decode_event(m.payload)["alert_id"] for m in rec.on(TOPICS.base + "/alerts/")]
        assert set(active) == opened
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
