"""Engine on data time: the same data gives the same alerts, however it is batched or paced."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from fusion.config import ServiceConfig
from fusion.engine import Engine
from fusion.schema import decode_message, encode_batch
from fusion.sim import ScenarioConfig, SimMessage, build_messages, build_scenario

T0 = 1_764_054_000.0


@cache
def _scenario() -> tuple[list[SimMessage], dict[str, object]]:
    sc = build_scenario(ScenarioConfig(seed=11, t0=T0, duration_s=240.0, n_conflicts=3,
                                       n_background=15))  # fmt: skip
    return build_messages(sc), sc.truth_dict()


def _events(messages: list[SimMessage]) -> list[tuple[object, ...]]:
    eng = Engine(ServiceConfig())
    out = []
    for m in messages:
        for ev in eng.ingest(decode_message(m.payload, m.feeder)):
            out.append((ev.alert_id, ev.event, ev.t, ev.severity, round(ev.time_to_los_s, 6),
                        round(ev.d_cpa_m, 3)))  # fmt: skip
    return out


def _split(m: SimMessage, parts: int) -> list[SimMessage]:
    d = decode_message(m.payload, m.feeder)
    kind = d.kind
    return [
        SimMessage(m.t_pub, m.feeder, encode_batch(m.feeder, kind, chunk), len(chunk))
        for chunk in np.array_split(d.reports, parts)
        if len(chunk)
    ]


def test_replay_is_deterministic() -> None:
    messages, _ = _scenario()
    first = _events(messages)
    assert first and first == _events(messages)


@pytest.mark.parametrize("parts", [2, 5])
def test_batching_does_not_change_alerts(parts: int) -> None:
    messages, _ = _scenario()
    split = [piece for m in messages for piece in _split(m, parts)]
    assert len(split) > len(messages)
    assert _events(split) == _events(messages)


def test_every_planted_conflict_alerted_before_loss() -> None:
    messages, truth = _scenario()
    events = _events(messages)
    conflicts = truth["conflicts"]
    assert isinstance(conflicts, list) and len(conflicts) == 3
    for c in conflicts:
        tag = f"{c['a']:06X}-{c['b']:06X}-"
        news = [e for e in events if str(e[0]).startswith(tag) and e[1] == "new"]
        assert news, f"conflict {c} not alerted"
        assert float(news[0][2]) < c["t_los"]  # type: ignore[arg-type]
    # One alert per encounter (no end-and-restart of a pair), and updates only on news:
    # a handful per alert (closest approach inside the look-ahead, imminent, loss), not
    # one per cycle, and none while the pair recedes.
    pairs: dict[str, set[object]] = {}
    for e in events:
        pairs.setdefault(str(e[0]).rsplit("-", 1)[0], set()).add(e[0])
    assert all(len(ids) == 1 for ids in pairs.values()), pairs
    for aid in {e[0] for e in events}:
        kinds = [e[1] for e in events if e[0] == aid]
        assert kinds.count("new") == 1 and kinds.count("update") <= 5, (aid, kinds)
        severities = [e[3] for e in events if e[0] == aid and e[1] != "end"]
        runs = [v for k, v in enumerate(severities) if k == 0 or v != severities[k - 1]]
        assert len(runs) == len(set(runs)), (aid, severities)  # no flip-flop


def test_cycles_run_on_boundaries_the_data_passes() -> None:
    messages, _ = _scenario()
    eng = Engine(ServiceConfig())
    for m in messages:
        eng.ingest(decode_message(m.payload, m.feeder))
    c = eng.counters
    assert c.data_time is not None
    # One cycle per second of data, from the first report to the last boundary the data
    # clock has passed by the reorder window.
    t_first = min(float(decode_message(m.payload, m.feeder).reports["t"].min())
                  for m in messages[:5])  # fmt: skip
    window = eng.config.fusion.reorder_window_s
    expected = int(np.ceil(c.data_time - window)) - int(np.ceil(t_first))
    assert c.cycles == expected
    # Every report is accounted for: fused, late, duplicate, rejected, or still queued.
    assert c.reports == (
        c.reports_applied + c.reports_late + c.reports_duplicate
        + c.reports_integrity_rejected + c.reports_identity_rejected + eng.fuser.pending
    )  # fmt: skip
    assert eng.fuser.pending > 0  # the last second waits for its window
