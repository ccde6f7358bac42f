"""Prometheus metrics: the exposition of known values, the HTTP endpoint, a service run
updating them, the reason codes behind the rejection labels, and `fusion run` serving them."""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import msgpack
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from fusion import schema
from fusion.broker import free_port
from fusion.config import ConfigError, MetricsConfig, ServiceConfig
from fusion.engine import Counters
from fusion.metrics import CYCLE_BUCKETS_S, LATENCY_BUCKETS_S, ServiceMetrics
from fusion.schema import MESSAGE_REJECT_CODES, ROW_REJECT_CODES, SchemaError, decode_message
from fusion.service import Service
from fusion.transport import MemoryBroker, MemoryTransport
from tests.test_schema import _good
from tests.test_service import T0, TOPICS, head_on


def parse(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by (sample name, labels)."""
    out = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: bytes, name: str, **labels: str) -> float:
    samples = parse(text)
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} not exported; have {sorted(k[0] for k in samples)}"
    return samples[key]


def _known_counters() -> Counters:
    return Counters(
        messages=120,
        reports=8600,
        reports_applied=7010,
        reports_late=40,
        reports_duplicate=1500,
        reports_integrity_rejected=49,
        reports_identity_rejected=6,
        messages_rejected=1,
        reports_rejected=3,
        cycles=600,
        cycles_skipped=2,
        tracks=44,
        tracks_tentative=5,
        conflicts=3,
        alerts_open=2,
        data_time=1_764_054_724.5,
    )


def test_engine_counters_are_exported_with_their_values() -> None:
    c = _known_counters()
    m = ServiceMetrics("unit", "9.9", lambda: c, outbox_len=lambda: 17, connected=lambda: True)
    text = m.exposition()
    assert value(text, "airspace_messages_received_total") == 120
    assert value(text, "airspace_reports_applied_total") == 7010
    assert value(text, "airspace_reports_late_total") == 40
    assert value(text, "airspace_reports_duplicate_total") == 1500
    assert value(text, "airspace_reports_integrity_rejected_total") == 49
    assert value(text, "airspace_reports_identity_rejected_total") == 6
    assert value(text, "airspace_cycles_total") == 600
    assert value(text, "airspace_cycles_skipped_total") == 2
    assert value(text, "airspace_system_tracks", state="confirmed") == 44
    assert value(text, "airspace_system_tracks", state="tentative") == 5
    assert value(text, "airspace_conflicts") == 3
    assert value(text, "airspace_alerts_open") == 2
    assert value(text, "airspace_data_time_seconds") == 1_764_054_724.5
    assert value(text, "airspace_outbox_messages") == 17
    assert value(text, "airspace_broker_connected") == 1
    assert value(text, "airspace_service_info", service="unit", version="9.9") == 1
    # Types as Prometheus reads them.
    types = {f.name: f.type for f in text_string_to_metric_families(text.decode())}
    assert types["airspace_reports_late"] == "counter"
    assert types["airspace_alerts_open"] == "gauge"
    assert types["airspace_cycle_duration_seconds"] == "histogram"
    assert types["airspace_report_to_alert_latency_seconds"] == "histogram"


def test_engine_counters_are_read_live_at_every_scrape() -> None:
    c = Counters()
    m = ServiceMetrics("unit", "0", lambda: c)
    first = m.exposition()
    assert value(first, "airspace_reports_late_total") == 0
    assert value(first, "airspace_broker_connected") == 0
    # No data yet: the family is declared, without a sample.
    assert ("airspace_data_time_seconds", frozenset()) not in parse(first)
    assert "# TYPE airspace_data_time_seconds gauge" in first.decode()
    c.reports_late = 5
    c.alerts_open = 4
    c.data_time = 1_764_054_000.0
    second = m.exposition()
    assert value(second, "airspace_reports_late_total") == 5
    assert value(second, "airspace_alerts_open") == 4
    assert value(second, "airspace_data_time_seconds") == 1_764_054_000.0


def test_service_side_metrics_count_what_they_are_given() -> None:
    m = ServiceMetrics("unit", "0", Counters)
    text = m.exposition()
    # Every known label value is there from the start, at 0.
    for kind in schema.SENSOR_KINDS:
        assert value(text, "airspace_reports_received_total", kind=kind) == 0
    for code in ROW_REJECT_CODES:
        assert value(text, "airspace_reports_rejected_total", reason=code) == 0
    for code in (*MESSAGE_REJECT_CODES, "internal_error"):
        assert value(text, "airspace_messages_rejected_total", reason=code) == 0
    for ev in ("new", "update", "end"):
        assert value(text, "airspace_alert_events_published_total", event=ev) == 0
    assert value(text, "airspace_reports_shed_total") == 0

    m.received("adsb", 240)
    m.received("adsb", 10)
    m.received("radar", 7)
    m.rejected_reports(["lat_range", "lat_range", "time"])
    m.rejected_message("not_msgpack")
    m.cycle(0.0042)
    m.cycle(0.3)
    m.alert_published("new", t_received=100.0, t_published=100.003)
    m.alert_published("end", t_received=None)
    text = m.exposition()
    assert value(text, "airspace_reports_received_total", kind="adsb") == 250
    assert value(text, "airspace_reports_received_total", kind="radar") == 7
    assert value(text, "airspace_reports_received_total", kind="mlat") == 0
    assert value(text, "airspace_reports_rejected_total", reason="lat_range") == 2
    assert value(text, "airspace_reports_rejected_total", reason="time") == 1
    assert value(text, "airspace_messages_rejected_total", reason="not_msgpack") == 1
    assert value(text, "airspace_alert_events_published_total", event="new") == 1
    assert value(text, "airspace_alert_events_published_total", event="end") == 1
    assert value(text, "airspace_alert_events_published_total", event="update") == 0

    h = "airspace_cycle_duration_seconds"
    assert value(text, h + "_count") == 2
    assert value(text, h + "_sum") == pytest.approx(0.3042)
    assert value(text, h + "_bucket", le="0.002") == 0
    assert value(text, h + "_bucket", le="0.005") == 1
    assert value(text, h + "_bucket", le="0.5") == 2
    assert value(text, h + "_bucket", le="+Inf") == 2

    lat = "airspace_report_to_alert_latency_seconds"
    # The end event had no receipt time: counted as published, not timed.
    assert value(text, lat + "_count") == 1
    assert value(text, lat + "_sum") == pytest.approx(0.003)
    assert value(text, lat + "_bucket", le="0.002") == 0
    assert value(text, lat + "_bucket", le="0.005") == 1


def test_buckets_span_what_was_asked() -> None:
    assert CYCLE_BUCKETS_S[0] == 0.001 and CYCLE_BUCKETS_S[-1] == 2.0
    assert LATENCY_BUCKETS_S[0] == 0.001 and LATENCY_BUCKETS_S[-1] == 5.0
    assert list(CYCLE_BUCKETS_S) == sorted(set(CYCLE_BUCKETS_S))
    assert list(LATENCY_BUCKETS_S) == sorted(set(LATENCY_BUCKETS_S))


def test_each_service_has_its_own_registry() -> None:
    a = ServiceMetrics("a", "0", Counters)
    b = ServiceMetrics("b", "0", Counters)  # the same names again: no "Duplicated timeseries"
    a.received("adsb", 3)
    assert value(a.exposition(), "airspace_reports_received_total", kind="adsb") == 3
    assert value(b.exposition(), "airspace_reports_received_total", kind="adsb") == 0
    assert not [n for n in REGISTRY._names_to_collectors if n.startswith("airspace_")]


# --- reason codes: the bounded label values come from the schema's rules ---------------


def _schema_tree() -> ast.Module:
    return ast.parse(Path(schema.__file__).read_text(encoding="utf-8"))


def test_every_schema_error_raised_has_a_known_code() -> None:
    raised = [
        node
        for node in ast.walk(_schema_tree())
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "SchemaError"
    ]
    assert len(raised) >= len(MESSAGE_REJECT_CODES)
    codes = set()
    for call in raised:
        assert len(call.args) == 2 and isinstance(call.args[1], ast.Constant), ast.unparse(call)
        codes.add(call.args[1].value)
    assert codes == set(MESSAGE_REJECT_CODES)


def test_every_validation_rule_has_a_known_code() -> None:
    fn = next(
        n
        for n in ast.walk(_schema_tree())
        if isinstance(n, ast.FunctionDef) and n.name == "validate"
    )
    codes = set()
    for node in ast.walk(fn):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "append"
        ):
            rule = node.args[0]
            assert isinstance(rule, ast.Tuple) and isinstance(rule.elts[1], ast.Constant)
            codes.add(rule.elts[1].value)
    assert codes == set(ROW_REJECT_CODES)


DOCS = Path(__file__).parent.parent / "docs"


def test_every_code_is_documented_and_every_documented_code_exists() -> None:
    """docs/protocol.md tabulates the codes (message and row tables of "Dead letters"),
    docs/operations.md lists them next to the metrics: both say exactly what the code has."""
    proto = (DOCS / "protocol.md").read_text(encoding="utf-8")
    section = proto[proto.index("## Dead letters (out)") : proto.index("## Alert events (out)")]
    msg_table = section[section.index("| code | the message") : section.index("Row codes")]
    row_table = section[section.index("| code | the row") :]
    cell = re.compile(r"^\| `([a-z_0-9]+)` \|", re.M)
    assert cell.findall(msg_table) == [*MESSAGE_REJECT_CODES, "internal_error"]
    assert cell.findall(row_table) == list(ROW_REJECT_CODES)  # in rule order
    ops = (DOCS / "operations.md").read_text(encoding="utf-8")
    listed = ops[ops.index("Reason codes, in the `reason` label") : ops.index("Logs: every line")]
    whole, rows = listed.split("- rows that failed validation")
    assert re.findall(r"`([a-z_0-9]+)`", whole.split("- messages rejected as a whole")[1]) == [
        *MESSAGE_REJECT_CODES,
        "internal_error",
    ]
    assert re.findall(r"`([a-z_0-9]+)`", rows) == list(ROW_REJECT_CODES)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xc1", "not_msgpack"),
        (msgpack.packb([1, 2]), "not_a_map"),
        (msgpack.packb({"v": 2}), "version"),
        (msgpack.packb({"v": 1, "feeder": "other", "kind": "adsb"}), "feeder_mismatch"),
        (msgpack.packb({"v": 1, "kind": "sonar"}), "kind"),
        (msgpack.packb({"v": 1, "kind": "adsb", "type": "x"}), "type"),
        (msgpack.packb({"v": 1, "kind": "adsb", "type": "batch", "n": -1}), "batch_n"),
        (msgpack.packb({"v": 1, "kind": "adsb", "type": "report", "t": 1.0}), "missing_fields"),
        (b"\x80" * (schema.MAX_MESSAGE_BYTES + 1), "message_size"),
        (msgpack.packb({"v": 1, "kind": "adsb", "type": "batch", "n": 70_000}), "batch_size"),
        (msgpack.packb({"v": 1, "kind": "adsb", "type": "batch", "seq": 1}), "unknown_fields"),
        (msgpack.packb({"v": True, "kind": "adsb", "type": "batch"}), "version"),
    ],
)
def test_whole_message_rejections_carry_their_code(payload: bytes, code: str) -> None:
    with pytest.raises(SchemaError) as exc:
        decode_message(payload, "f")
    assert exc.value.code == code


def test_rejected_rows_carry_the_code_of_their_first_failed_rule() -> None:
    r = _good(4)
    r["lat_deg"][1] = 91.0
    r["t"][2] = -1.0
    r["lon_deg"][2] = 200.0  # fails two rules: "time" comes first
    d = decode_message(schema.encode_batch("f", "radar", r), "f")
    assert d.rejected_rows.tolist() == [1, 2]
    assert d.codes == ("lat_range", "time")
    assert "lon_deg" in d.reasons[1]


# --- the HTTP endpoint ----------------------------------------------------------------


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200
        body: bytes = resp.read()
        return body


def _refused(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_endpoint_serves_the_registry_and_stops() -> None:
    c = Counters(alerts_open=3)
    m = ServiceMetrics("unit", "0", lambda: c)
    m.received("radar", 11)
    server = m.serve("127.0.0.1", 0)
    try:
        assert server.host == "127.0.0.1" and server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        body = _get(server.url)
        assert value(body, "airspace_reports_received_total", kind="radar") == 11
        assert value(body, "airspace_alerts_open") == 3
        c.alerts_open = 1
        assert value(_get(server.url), "airspace_alerts_open") == 1
    finally:
        server.stop()
    assert _refused(server.port)


def test_endpoint_on_a_taken_port_is_a_configuration_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"metrics endpoint 127.0.0.1:{port}"):
            ServiceMetrics("unit", "0", Counters).serve("127.0.0.1", port)


# --- a service run updates them -------------------------------------------------------


async def test_service_run_updates_metrics_and_serves_them_until_it_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fusion.service")
    port = free_port()
    broker = MemoryBroker()
    cfg = ServiceConfig(service="unit", metrics=MetricsConfig(port=port))
    svc = Service(cfg, broker.factory(), status_every_s=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    await asyncio.wait_for(svc.connected.wait(), 120)
    assert svc.metrics_endpoint is not None and svc.metrics_endpoint.port == port
    bad_row = _good(3)
    bad_row["lat_deg"][0] = 95.0
    # At the data clock the head-on feed leaves: neither behind it by more than the
    # schema's bound (time_past) nor ahead (which would run cycles).
    bad_row["t"] = T0 + 4.0
    async with MemoryTransport(broker) as feeder:
        # Seven seconds of the head-on pair: confirmed tracks from T0 + 2, the prediction
        # confirmed over the alert's confirm_cycles (3) cycles.
        for k in range(7):
            await feeder.publish(TOPICS.reports("adsb-1"), head_on(T0 + k), qos=1)
        await feeder.publish(TOPICS.reports("adsb-1"), b"junk", qos=1)
        await feeder.publish(
            TOPICS.reports("radar-9"), schema.encode_batch("radar-9", "radar", bad_row), qos=1
        )
        await asyncio.sleep(0.05)
    await asyncio.wait_for(svc.drained(), 5)

    body = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
    assert value(body, "airspace_reports_received_total", kind="adsb") == 14
    assert value(body, "airspace_reports_received_total", kind="radar") == 3
    assert value(body, "airspace_messages_received_total") == 9
    assert value(body, "airspace_messages_rejected_total", reason="not_msgpack") == 1
    assert value(body, "airspace_reports_rejected_total", reason="lat_range") == 1
    assert value(body, "airspace_alerts_open") == 1
    assert value(body, "airspace_conflicts") == 1
    assert value(body, "airspace_system_tracks", state="confirmed") == 2
    assert value(body, "airspace_broker_connected") == 1
    cycles = svc.engine.counters.cycles
    assert cycles > 0
    assert value(body, "airspace_cycles_total") == cycles
    assert value(body, "airspace_cycle_duration_seconds_count") == cycles
    assert value(body, "airspace_cycle_duration_seconds_sum") > 0
    assert value(body, "airspace_alert_events_published_total", event="new") == 1
    # One alert event, timed from its report's receipt to the broker's acknowledgement.
    assert value(body, "airspace_report_to_alert_latency_seconds_count") == 1
    assert 0 < value(body, "airspace_report_to_alert_latency_seconds_sum") < 5

    # The dead letters carry the same codes as the labels.
    dead = [
        msgpack.unpackb(m.payload, raw=False) for m in broker.published(TOPICS.deadletter_filter)
    ]
    assert [(d["feeder"], d["code"], d["codes"]) for d in dead] == [
        ("adsb-1", "not_msgpack", None),
        ("radar-9", None, ["lat_range"]),
    ]

    # Log lines: every alert line has its id, every dead-letter line its feeder.
    alert_lines = [r for r in caplog.records if hasattr(r, "alert_id")]
    assert len(alert_lines) == 1
    assert f"alert_id={alert_lines[0].alert_id}" in alert_lines[0].getMessage()
    dead_lines = [r for r in caplog.records if "dead letter" in r.getMessage()]
    assert [getattr(r, "feeder", None) for r in dead_lines] == ["adsb-1", "radar-9"]
    assert "feeder=radar-9 code=lat_range" in dead_lines[1].getMessage()

    stop.set()
    await asyncio.wait_for(task, 10)
    assert svc.metrics_endpoint is None
    assert _refused(port)


async def test_service_without_a_metrics_port_opens_no_endpoint() -> None:
    broker = MemoryBroker()
    svc = Service(ServiceConfig(service="unit"), broker.factory(), status_every_s=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    await asyncio.wait_for(svc.connected.wait(), 120)
    assert svc.metrics_endpoint is None
    # The metrics are kept all the same (a scrape-less service pays for them little).
    assert value(svc.metrics.exposition(), "airspace_broker_connected") == 1
    stop.set()
    await asyncio.wait_for(task, 10)


# --- `fusion run` with --metrics-port and --log-level -------------------------------------


def test_fusion_run_serves_metrics_logs_at_the_level_asked_and_stops(tmp_path: Path) -> None:
    """No broker at all: the service keeps retrying, and the endpoint says so."""
    port = free_port()
    dead_broker = free_port()  # nothing listens there
    err_path = tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "fusion", "run",
                "--broker", f"mqtt://127.0.0.1:{dead_broker}",
                "--metrics-port", str(port), "--log-level", "info",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        body = b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                body = _get(f"http://127.0.0.1:{port}/metrics")
                break
            except OSError:
                time.sleep(0.2)
        assert body, err_path.read_text()
        assert value(body, "airspace_broker_connected") == 0
        # INFO lines show: the endpoint's own, then (after the warm-up) the retries.
        deadline = time.monotonic() + 120
        while "retrying" not in err_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        log = err_path.read_text()
        assert f"metrics on http://127.0.0.1:{port}/metrics" in log
        assert "INFO fusion.service: metrics on" in log
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, err_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _refused(port)
