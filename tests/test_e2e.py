"""End to end through a real Mosquitto: simulator -> broker -> service -> broker -> subscribers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgpack
import pytest

from fusion.alerts import decode_event
from fusion.broker import LocalBroker
from fusion.config import ServiceConfig
from fusion.service import Service
from fusion.sim.interference import InterferenceZone
from fusion.sim.presets import FUSION_SENSORS
from fusion.sim.publisher import publish_messages
from fusion.sim.scenario import ScenarioConfig, build_scenario
from fusion.sim.sensors import build_messages
from fusion.topics import Topics
from fusion.trackmsg import decode_tracks
from fusion.transport import AiomqttTransport, aiomqtt_factory
from tests.conftest import recording

pytestmark = pytest.mark.e2e

TOPICS = Topics("airspace")
SPEED = 50.0  # data seconds per wall second


def _pair(ev: dict[str, Any]) -> frozenset[str]:
    return frozenset({ev["a"]["icao"], ev["b"]["icao"]})


def _hex(i: int) -> str:
    return f"{i:06X}"


async def _retained(broker: LocalBroker, topic_filter: str, settle_s: float = 1.0) -> list[Any]:
    """What a subscriber arriving now receives from the retained store."""
    async with recording(broker, topic_filter) as rec:
        await asyncio.sleep(settle_s)
        return [m for _, m in rec.messages if m.retain]


async def test_simulated_scenario_alerts_deadletter_retained_and_status(
    broker: LocalBroker,
) -> None:
    scenario = build_scenario(ScenarioConfig(seed=7, t0=float(int(time.time())), duration_s=400.0))
    truth = scenario.truth_dict()
    assert truth["conflicts"] and truth["safe_pairs"]
    # Stop the feed just after the last planted loss of separation, so that the run ends
    # with alerts open for the late subscriber to find.
    last_los = max(c["t_los"] for c in truth["conflicts"])
    messages = [m for m in build_messages(scenario) if m.t_pub <= last_los + 5.0]

    cfg = ServiceConfig(broker=broker.url, service="e2e")
    service = Service(cfg, aiomqtt_factory(broker.host, broker.port), status_every_s=0.5)
    stop = asyncio.Event()
    svc = asyncio.create_task(service.run(stop))
    await asyncio.wait_for(service.connected.wait(), 120)

    async with recording(broker, TOPICS.alert_events, TOPICS.deadletter_filter) as rec:
        # The first planted loss of separation is 60 s in; the malformed message goes in
        # after 50 s of data, so later conflicts are alerted after it.
        split = next(i for i, m in enumerate(messages) if m.t_pub > truth["t0"] + 50.0)
        async with AiomqttTransport(broker.host, broker.port, "e2e-sim") as sim:
            await publish_messages(sim, TOPICS, messages[:split], SPEED)
            await sim.publish(TOPICS.reports("bogus"), b"\x93not msgpack at all", qos=1)
            bad_row = msgpack.packb(
                {
                    "v": 1,
                    "type": "report",
                    "kind": "adsb",
                    "t": 1.7e9,
                    "icao": 1,
                    "lat_deg": 95.0,
                    "lon_deg": 0.0,
                    "alt_baro_ft": 1000.0,
                    "ve_ms": 1.0,
                    "vn_ms": 0.0,
                }
            )
            await sim.publish(TOPICS.reports("bogus"), bad_row, qos=1)
            await publish_messages(sim, TOPICS, messages[split:], SPEED)
        n_in = len(messages) + 2
        await rec.wait_for(lambda: service.engine.counters.messages >= n_in, 60)
        await asyncio.wait_for(service.drained(), 30)
        await asyncio.sleep(0.5)

    events = [
        (t, m.topic, decode_event(m.payload))
        for t, m in rec.messages
        if m.topic == TOPICS.alert_events
    ]
    dead = [
        (t, msgpack.unpackb(m.payload, raw=False))
        for t, m in rec.messages
        if m.topic.startswith(TOPICS.base + "/deadletter/")
    ]

    # Every planted conflict is alerted before its loss of separation (data time).
    first_new: dict[frozenset[str], dict[str, Any]] = {}
    for _, _, ev in events:
        if ev["event"] == "new":
            first_new.setdefault(_pair(ev), ev)
    for c in truth["conflicts"]:
        pair = frozenset({_hex(c["a"]), _hex(c["b"])})
        assert pair in first_new, f"planted conflict {c} never alerted"
        ev = first_new[pair]
        assert ev["t"] < c["t_los"], f"alerted at {ev['t']} after loss at {c['t_los']}"
        assert ev["t"] + ev["time_to_los_s"] == pytest.approx(c["t_los"], abs=10.0)

    # No safe pair is alerted, and nothing but the planted conflicts is.
    safe = {frozenset({_hex(s["a"]), _hex(s["b"])}) for s in truth["safe_pairs"]}
    planted = {frozenset({_hex(c["a"]), _hex(c["b"])}) for c in truth["conflicts"]}
    alerted = {_pair(ev) for _, _, ev in events}
    assert not alerted & safe
    assert alerted <= planted

    # The malformed messages reached the dead-letter topic with reasons ...
    assert len(dead) == 2
    assert "msgpack" in dead[0][1]["reason"] and dead[0][1]["payload"].startswith(b"\x93not")
    assert dead[1][1]["rows"] == [0] and "lat_deg" in dead[1][1]["reasons"][0]
    # ... and alerts kept flowing after them.
    assert any(t > dead[-1][0] and ev["event"] == "new" for t, _, ev in events)
    assert service.engine.counters.messages_rejected == 1
    assert service.engine.counters.reports_rejected == 1

    # One alert per encounter: no pair ends and opens again (no flicker), and every
    # event of an alert carries its one id.
    ids: dict[frozenset[str], set[str]] = {}
    for _, _, ev in events:
        ids.setdefault(_pair(ev), set()).add(ev["alert_id"])
    assert all(len(v) == 1 for v in ids.values()), ids

    # A late subscriber receives every open alert from the retained topics.
    opened = {ev["alert_id"] for _, _, ev in events if ev["event"] == "new"}
    ended = {ev["alert_id"] for _, _, ev in events if ev["event"] == "end"}
    assert opened - ended, "scenario should end with alerts still open"
    retained = await _retained(broker, TOPICS.alert_active_filter)
    assert {decode_event(m.payload)["alert_id"] for m in retained} == opened - ended
    assert ended, "the earliest encounters should have ended"
    # ... and so does the operator's view, `fusion alerts --json`: one JSON object per
    # line, the full payload of each open alert, nothing that ended.
    lines = await _alerts_json(broker, len(opened - ended))
    assert {ln["alert_id"] for ln in lines} == opened - ended
    assert all(ln["view"] == "open" and ln["v"] == 2 for ln in lines)
    last = {ev["alert_id"]: ev for _, _, ev in events}
    for ln in lines:
        want = {k: v for k, v in last[ln["alert_id"]].items() if k != "t_wall_detected"}
        assert {k: v for k, v in ln.items() if k not in ("view", "t_wall_detected")} == want

    # After the service stops, its status reads offline.
    stop.set()
    await asyncio.wait_for(svc, 30)
    status = await _retained(broker, TOPICS.status("e2e"))
    assert [msgpack.unpackb(m.payload)["state"] for m in status] == ["offline"]


async def _alerts_json(broker: LocalBroker, n_open: int, quiet_s: float = 1.5) -> list[Any]:
    """Run ``fusion alerts --json`` against the broker: its lines once it has printed
    n_open of them and then nothing for quiet_s, parsed; then stop it with Ctrl-C."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fusion", "alerts", "--broker", broker.url, "--json",
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[Any] = []
    try:
        while True:
            timeout = quiet_s if len(lines) >= n_open else 60.0
            try:
                raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
            except TimeoutError:
                break
            assert raw, "fusion alerts ended early"
            lines.append(json.loads(raw))
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return lines


async def _status_state(broker: LocalBroker, service: str) -> str | None:
    msgs = await _retained(broker, TOPICS.status(service), settle_s=0.3)
    return msgpack.unpackb(msgs[-1].payload)["state"] if msgs else None


async def _wait_state(broker: LocalBroker, service: str, state: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while await _status_state(broker, service) != state:
        assert time.monotonic() < deadline, f"status never read {state}"


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
async def test_fusion_run_status_offline_after_stop(
    broker: LocalBroker, how: str, tmp_path: Path
) -> None:
    """The CLI service says offline on SIGTERM itself, and through its last will on SIGKILL."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fusion", "run", "--broker", broker.url, "--service", how],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
    try:
        await _wait_state(broker, how, "online", 120)
        proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
        code = await asyncio.to_thread(proc.wait, 30)
        if how == "sigterm":
            assert code == 0, (tmp_path / "stderr.txt").read_text()
        await _wait_state(broker, how, "offline", 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_spoofed_adsb_neither_raises_nor_hides_alerts(broker: LocalBroker) -> None:
    """From 90 s on, every ADS-B position in the whole scenario is spoofed to one false
    point with its claimed accuracy kept (the worst case: trusted, it would put every
    aircraft on top of every other). Radars see all aircraft. Through the real broker,
    the alerts are exactly the planted conflicts, each before its loss of separation,
    and the fused picture flags the spoofed aircraft."""
    zone = InterferenceZone(
        "spoof-all", radius_km=400.0, start_s=90.0, mode="jump", jump_east_km=10.0
    )
    sensors = replace(FUSION_SENSORS, interference=(zone,))
    scenario = build_scenario(ScenarioConfig(seed=7, t0=float(int(time.time())), duration_s=400.0))
    truth = scenario.truth_dict()
    last_los = max(c["t_los"] for c in truth["conflicts"])
    assert sum(c["t_los"] > truth["t0"] + 120.0 for c in truth["conflicts"]) >= 3
    messages = [m for m in build_messages(scenario, sensors) if m.t_pub <= last_los + 5.0]

    cfg = ServiceConfig(broker=broker.url, service="e2e-spoof")
    service = Service(cfg, aiomqtt_factory(broker.host, broker.port), status_every_s=0.5)
    stop = asyncio.Event()
    svc = asyncio.create_task(service.run(stop))
    await asyncio.wait_for(service.connected.wait(), 120)
    async with recording(broker, TOPICS.alert_events, TOPICS.tracks) as rec:
        async with AiomqttTransport(broker.host, broker.port, "e2e-sim") as sim:
            await publish_messages(sim, TOPICS, messages, SPEED)
        await rec.wait_for(lambda: service.engine.counters.messages >= len(messages), 60)
        await asyncio.wait_for(service.drained(), 30)
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(svc, 30)

    events = [decode_event(m.payload) for _, m in rec.messages if m.topic == TOPICS.alert_events]
    planted = {frozenset({_hex(c["a"]), _hex(c["b"])}) for c in truth["conflicts"]}
    alerted = {_pair(ev) for ev in events}
    assert alerted == planted
    for c in truth["conflicts"]:
        pair = frozenset({_hex(c["a"]), _hex(c["b"])})
        first = next(ev for ev in events if _pair(ev) == pair and ev["event"] == "new")
        assert first["t"] < c["t_los"]
    assert service.engine.counters.reports_integrity_rejected > 1000
    # The last fused picture: every ADS-B aircraft flagged suspect, none near the false point.
    pictures = [decode_tracks(m.payload) for _, m in rec.messages if m.topic == TOPICS.tracks]
    _, last = pictures[-1]
    adsb_icao = {int(i) for i in scenario.icao[scenario.adsb]}
    flagged = {int(i) for i in last["icao"][(last["flags"] & 1) != 0]}
    assert len(flagged) >= 0.9 * len(adsb_icao & {int(i) for i in last["icao"]})
    lat_f, lon_f = scenario.config.centre_lat_deg, scenario.config.centre_lon_deg
    near_false = (abs(last["lat_deg"] - lat_f) < 0.02) & (
        abs(last["lon_deg"] - (lon_f + 10.0 / 71.5)) < 0.03
    )
    assert near_false.sum() <= 1
