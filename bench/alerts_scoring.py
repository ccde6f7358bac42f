"""Scoring of ``python -m bench alerts``: the service's alert events against the truth.

Inputs: the alert events in the order the service emitted them, each with the data time
at which it was known (:func:`collect_alerts` folds them into one :class:`AlertRecord`
per alert id), and the pairwise truth (:class:`fusion.sim.pairtruth.PairTruth`: the
losses of separation, the normalised separation ``rho`` over time). Pairs are matched by
the two aircraft's ICAO addresses (``a``/``b`` of the payload); an alert whose track has
no address cannot be matched and counts as a nuisance (``unmatched``).

Definitions (times UTC epoch s, T the look-ahead):

- **Known at**: an event is known at the data time of the sensor message whose ingestion
  made the service emit it (the cycle's own ``t`` lies about 1 s earlier: the reorder
  window). That is when it would go out in real time.
- **An alert covers a loss** (start s, end e) of its pair when the alert is open at some
  time in [s - T, e]: it opened before e and had not ended before s - T.
- **Alerted**: a loss covered by at least one alert; **alerted before the loss**: one of
  them was known at or before s. **Warning time** = s - the earliest "known at" of the
  alerts covering it (negative: alerted only after the loss began). **Available
  warning** = s - the later of the pair's common appearance and the last time before s
  that either aircraft's velocity started or stopped changing (a turn's start or
  roll-out, a climb's start or level-off), capped at T: what a straight-line predictor
  with look-ahead T could give at best (a turn hypothesis can do better). A loss is
  **predictable** when that is the whole T (no manoeuvre within T before it).
- **Alert classes**: ``loss`` (it covers a true loss of its pair); otherwise ``near``
  when the pair's rho comes below 1.5 within [opened, ended + T] (within 1.5 D and
  1.5 H at once: close enough that an alert is defensible), else ``nuisance`` (no true
  loss, and the pair stayed more than 1.5 D apart horizontally or 1.5 H vertically
  throughout). Alerts on pairs the truth does not know (a track that outlived its
  aircraft, a track without an address) are nuisances too.
- **Adjacent-level alert**: an alert that opened while, in truth, both aircraft were
  level and 1000 ft apart (within 1 ft): a pair separated by flight levels alone.
- **Encounter / flicker**: two consecutive alerts of the same pair belong to the same
  encounter when the second opened at most ``encounter_gap_s`` (default 60 s: half the
  look-ahead, far beyond the service's ``alert_end_s`` of 3 s plus the confirmation's 3
  cycles) after the first ended, or when the pair's rho stayed below 1.5 throughout the
  gap (the pair never got clear of the 1.5 D / 1.5 H band between them). Each such
  second alert is one **flicker**: an alert that ended and reopened under a new id
  within one encounter.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from fusion.sim.pairtruth import PairTruth

NEAR_RHO: Final = 1.5  # within 1.5 D and 1.5 H at once: not a nuisance
ENCOUNTER_GAP_S: Final = 60.0


@dataclass
class AlertRecord:
    """One alert id's life: ICAO addresses (None: unknown), when its ``new`` cycle ran
    (``t_new``, data time) and was known (``t_known``), when it ended (None: still open at
    the end of the run), the end reason, the severities and hypotheses it showed, the
    pair's horizontal minimum it carried (NM) and its number of updates."""

    alert_id: str
    a: int | None
    b: int | None
    t_new: float
    t_known: float
    t_end: float | None = None
    end_reason: str | None = None
    severities: list[str] = field(default_factory=list)
    hypotheses: list[str] = field(default_factory=list)
    sep_h_nm: float = math.nan
    n_updates: int = 0

    @property
    def pair(self) -> tuple[int, int] | None:
        if self.a is None or self.b is None:
            return None
        return (min(self.a, self.b), max(self.a, self.b))

    def open_until(self) -> float:
        return math.inf if self.t_end is None else self.t_end


def _icao(side: Mapping[str, Any]) -> int | None:
    v = side.get("icao")
    return None if v is None else int(str(v), 16)


def collect_alerts(events: Iterable[tuple[float, Mapping[str, Any]]]) -> list[AlertRecord]:
    """Fold (known-at data time, alert payload as ``AlertEvent.to_dict()``) pairs, in
    emission order, into one record per alert id (in order of opening).

    ValueError on an ``update`` or ``end`` of an unknown id, a second ``new``, or an
    event after the ``end``: the lifecycle contract itself."""
    out: dict[str, AlertRecord] = {}
    for t_known, ev in events:
        aid = str(ev["alert_id"])
        kind = ev["event"]
        rec = out.get(aid)
        if kind == "new":
            if rec is not None:
                raise ValueError(f"alert {aid}: a second 'new'")
            rec = AlertRecord(
                alert_id=aid,
                a=_icao(ev["a"]),
                b=_icao(ev["b"]),
                t_new=float(ev["t"]),
                t_known=float(t_known),
                sep_h_nm=float(ev["thresholds"]["sep_h_nm"]),
            )
            out[aid] = rec
        elif rec is None:
            raise ValueError(f"alert {aid}: '{kind}' before its 'new'")
        elif rec.t_end is not None:
            raise ValueError(f"alert {aid}: '{kind}' after its 'end'")
        elif kind == "update":
            rec.n_updates += 1
        elif kind == "end":
            rec.t_end = float(ev["t"])
            rec.end_reason = ev.get("reason")
        else:
            raise ValueError(f"alert {aid}: unknown event {kind!r}")
        if kind != "end":
            if ev["severity"] not in rec.severities:
                rec.severities.append(str(ev["severity"]))
            hyp = str(ev.get("hypothesis", "straight"))
            if hyp not in rec.hypotheses:
                rec.hypotheses.append(hyp)
    return list(out.values())


@dataclass
class LossScore:
    """One true loss of separation and how it was alerted (times UTC epoch s)."""

    a: int
    b: int
    start: float
    end: float
    alerted: bool
    alerted_before: bool
    warning_s: float | None
    available_s: float
    alert_ids: list[str]
    predictable: bool = False

    def to_dict(self, t0: float = 0.0) -> dict[str, Any]:
        return {
            "a": f"{self.a:06X}",
            "b": f"{self.b:06X}",
            "start_s": self.start - t0,
            "end_s": self.end - t0,
            "alerted": self.alerted,
            "alerted_before_loss": self.alerted_before,
            "warning_s": self.warning_s,
            "available_warning_s": self.available_s,
            "predictable": self.predictable,
            "alert_ids": self.alert_ids,
        }


@dataclass
class Scored:
    """The score of one run: every loss, every alert's class, flickers, and counts."""

    losses: list[LossScore]
    alert_class: dict[str, str]  # alert id -> "loss" | "near" | "nuisance"
    adjacent_level: list[str]  # ids of alerts opened on a pair level at adjacent FLs
    flickers: list[dict[str, Any]]
    alerts: list[AlertRecord]

    def warnings(self) -> list[float]:
        return [x.warning_s for x in self.losses if x.warning_s is not None]

    def counts(self) -> dict[str, int]:
        c = {"loss": 0, "near": 0, "nuisance": 0}
        for v in self.alert_class.values():
            c[v] += 1
        return c


def warning_stats(warnings: Sequence[float]) -> dict[str, float | None]:
    """Median, 5th percentile (linear interpolation) and minimum, s; None when empty."""
    if not warnings:
        return {"median_s": None, "p5_s": None, "min_s": None}
    w = np.asarray(warnings, dtype=np.float64)
    return {
        "median_s": float(np.median(w)),
        "p5_s": float(np.percentile(w, 5.0)),
        "min_s": float(w.min()),
    }


def available_warning(loss_start: float, common_from: float, manoeuvres: Sequence[float]) -> float:
    """Loss start less the later of the pair's appearance and the last manoeuvre time
    (velocity change) before the loss (all UTC epoch s); not capped."""
    before = [m for m in manoeuvres if m < loss_start]
    return loss_start - max([common_from, *before])


def score(
    alerts: Sequence[AlertRecord],
    truths: Iterable[PairTruth],
    lookahead_s: float,
    manoeuvres: Mapping[int, Sequence[float]] | None = None,
    encounter_gap_s: float = ENCOUNTER_GAP_S,
) -> Scored:
    """Score ``alerts`` against ``truths`` (see the module docstring).

    manoeuvres: ICAO address -> the times (UTC epoch s) that aircraft's velocity started
    or stopped changing, for the available warning (none: only the common appearance
    bounds it)."""
    by_pair: dict[tuple[int, int], PairTruth] = {p.key: p for p in truths}
    alerts_of: dict[tuple[int, int], list[AlertRecord]] = {}
    for al in alerts:
        if al.pair is not None:
            alerts_of.setdefault(al.pair, []).append(al)
    man = manoeuvres or {}
    T = lookahead_s

    losses: list[LossScore] = []
    covering: set[str] = set()
    for key, pt in sorted(by_pair.items()):
        for start, end in pt.losses:
            cover = [
                al
                for al in alerts_of.get(key, [])
                if al.t_new <= end and al.open_until() >= start - T
            ]
            covering.update(al.alert_id for al in cover)
            first = min((al.t_known for al in cover), default=None)
            avail = float(
                available_warning(start, pt.t_from, [*man.get(key[0], ()), *man.get(key[1], ())])
            )
            losses.append(
                LossScore(
                    a=key[0],
                    b=key[1],
                    start=start,
                    end=end,
                    alerted=bool(cover),
                    alerted_before=first is not None and first <= start,
                    warning_s=None if first is None else start - first,
                    available_s=min(avail, T),
                    alert_ids=[al.alert_id for al in cover],
                    predictable=avail >= T,
                )
            )

    cls: dict[str, str] = {}
    adjacent: list[str] = []
    for al in alerts:
        truth = by_pair.get(al.pair) if al.pair is not None else None
        if al.alert_id in covering:
            cls[al.alert_id] = "loss"
        elif truth is None:
            cls[al.alert_id] = "nuisance"  # a ghost track or one without an address
        else:
            hi = math.inf if al.t_end is None else al.t_end + T
            near = truth.rho_min_between(al.t_new, hi) < NEAR_RHO
            cls[al.alert_id] = "near" if near else "nuisance"
        if truth is not None and truth.level_at(al.t_new):
            adjacent.append(al.alert_id)

    flickers: list[dict[str, Any]] = []
    for key, lst in sorted(alerts_of.items()):
        lst = sorted(lst, key=lambda r: r.t_new)
        pair_truth = by_pair.get(key)
        for prev, nxt in itertools.pairwise(lst):
            if prev.t_end is None:
                continue  # overlapping ids for one pair: cannot happen (one per pair)
            gap = nxt.t_new - prev.t_end
            stayed_close = (
                pair_truth is not None
                and pair_truth.rho_max_between(prev.t_end, nxt.t_new) < NEAR_RHO
            )
            if gap <= encounter_gap_s or stayed_close:
                flickers.append(
                    {
                        "a": f"{key[0]:06X}",
                        "b": f"{key[1]:06X}",
                        "ended": prev.alert_id,
                        "end_reason": prev.end_reason,
                        "reopened": nxt.alert_id,
                        "gap_s": gap,
                        "stayed_within_1.5": stayed_close,
                    }
                )
    return Scored(losses, cls, adjacent, flickers, list(alerts))


def summary(sc: Scored, duration_h: float, flight_h: float, t0: float = 0.0) -> dict[str, Any]:
    """The JSON summary of one or several pooled runs (durations in hours): losses,
    warning times (all; of the predictable losses; the shortfall against the available
    warning), alert classes, nuisance rate and share, flickers, adjacent-level alerts.
    Loss times in ``missed`` are s after t0."""
    n = len(sc.losses)
    counts = sc.counts()
    n_alerts = len(sc.alerts)
    return {
        "true_losses": n,
        "alerted": sum(x.alerted for x in sc.losses),
        "alerted_before_loss": sum(x.alerted_before for x in sc.losses),
        "share_alerted": sum(x.alerted for x in sc.losses) / n if n else None,
        "share_alerted_before_loss": sum(x.alerted_before for x in sc.losses) / n if n else None,
        "missed": [x.to_dict(t0) for x in sc.losses if not x.alerted],
        "warning": warning_stats(sc.warnings()),
        "warning_s": sorted(sc.warnings()),
        "available_warning": warning_stats([x.available_s for x in sc.losses]),
        # Losses a straight-line predictor could see a whole look-ahead ahead, and how far
        # each alerted loss's warning fell short of what was available.
        "warning_predictable": warning_stats(
            [x.warning_s for x in sc.losses if x.warning_s is not None and x.predictable]
        ),
        "predictable_losses": sum(x.predictable for x in sc.losses),
        "warning_shortfall": warning_stats(
            [x.available_s - x.warning_s for x in sc.losses if x.warning_s is not None]
        ),
        "alerts": n_alerts,
        "alerts_by_class": counts,
        "nuisance_per_hour": counts["nuisance"] / duration_h if duration_h > 0 else None,
        "nuisance_per_100_flight_hours": (
            100.0 * counts["nuisance"] / flight_h if flight_h > 0 else None
        ),
        "nuisance_share": counts["nuisance"] / n_alerts if n_alerts else 0.0,
        "flickers": len(sc.flickers),
        "adjacent_level_alerts": len(sc.adjacent_level),
        "hours_of_traffic": duration_h,
        "flight_hours": flight_h,
    }


def pool(scores: Sequence[Scored]) -> Scored:
    """Several runs' scores as one (alert ids are unique per run and stay apart)."""
    out = Scored([], {}, [], [], [])
    for s in scores:
        out.losses += s.losses
        out.alert_class.update(s.alert_class)
        out.adjacent_level += s.adjacent_level
        out.flickers += s.flickers
        out.alerts += s.alerts
    return out
