"""Operator's alert view: subscribe to the alert topics and print one line per event.

On connecting it first receives the retained state of every open alert (shown as
``OPEN``), then the live events. ``--json`` prints each event as one JSON object per line,
for piping into other tools: the alert payload of docs/protocol.md field for field, plus
``"view"``: ``"open"`` for an alert already open when the view connected (its retained
state), ``"event"`` for a live event; non-finite numbers become ``null``. A message that
cannot be decoded is a line ``{"view": "error", "topic": ..., "error": ...}``, so that
every line stays one JSON object.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from fusion.alerts import decode_event
from fusion.topics import Topics
from fusion.transport import Transport


def _who(ident: dict[str, Any]) -> str:
    name = ident.get("icao") or f"{ident.get('feeder')}.{ident.get('track')}"
    cs = ident.get("callsign")
    return f"{name} {cs}" if cs else str(name)


def _dur(s: float) -> str:
    if not math.isfinite(s):
        return "-"
    s = max(0.0, s)
    return f"{int(s // 60)}m{int(s % 60):02d}s" if s >= 60 else f"{s:.0f}s"


def format_line(ev: dict[str, Any], label: str | None = None) -> str:
    """One readable line for an alert event dict (as decoded from the wire)."""
    t = datetime.fromtimestamp(float(ev["t"]), UTC).strftime("%H:%M:%SZ")
    label = label or str(ev["event"]).upper()
    sev = str(ev["severity"]).upper()
    th = ev.get("thresholds", {})
    extra = ""
    if ev.get("confidence") is not None:
        extra += f" p={float(ev['confidence']):.2f}"
    if ev.get("hypothesis") == "turn":
        extra += " TURN"
    base = (
        f"{t} {label:<6} {sev:<9} {_who(ev['a'])} / {_who(ev['b'])}"
        f"  LoS in {_dur(float(ev['time_to_los_s']))}"
        f"  CPA in {_dur(float(ev['t_cpa_s']))} {ev['d_cpa_nm']:.1f} NM {ev['dz_cpa_ft']:.0f} ft"
        f"  now {ev['d_now_nm']:.1f} NM {ev['dz_now_ft']:.0f} ft"
        f"  [{th.get('sep_h_nm', '?')} NM/{th.get('sep_v_ft', '?')} ft]{extra}"
        f"  {ev['alert_id']}"
    )
    if ev.get("reason"):
        base += f"  ({ev['reason']})"
    return base


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    return obj


def format_json(ev: dict[str, Any], label: str | None = None) -> str:
    """One JSON object (one line) for an alert event dict: every field of the payload,
    plus ``view``: ``label`` in lower case (``"open"``), else ``"event"``."""
    out = dict(ev)
    out["view"] = label.lower() if label is not None else "event"
    return json.dumps(_jsonable(out), sort_keys=True)


def format_error(topic: str, error: str, as_json: bool) -> str:
    """The line for a message that could not be decoded."""
    if as_json:
        return json.dumps({"view": "error", "topic": topic, "error": error}, sort_keys=True)
    return f"undecodable message on {topic}: {error}"


async def view_alerts(
    tr: Transport,
    topics: Topics,
    out: TextIO,
    as_json: bool = False,
    show_open: bool = True,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Print alerts from an already connected transport until it closes."""
    fmt = format_json if as_json else format_line
    if show_open:
        await tr.subscribe(topics.alert_active_filter, qos=1)
    await tr.subscribe(topics.alert_events, qos=1)
    async for msg in tr.messages():
        if msg.topic != topics.alert_events and not msg.retain:
            # Live copies of the active states duplicate the events; only the retained
            # snapshot sent on subscribing is news.
            continue
        if not msg.payload:
            continue
        try:
            ev = decode_event(msg.payload)
        except Exception as exc:
            print(format_error(msg.topic, str(exc), as_json), file=out, flush=True)
            continue
        if msg.topic == topics.alert_events:
            print(fmt(ev), file=out, flush=True)
        else:
            print(fmt(ev, "open"), file=out, flush=True)
        if on_event is not None:
            on_event(ev)
