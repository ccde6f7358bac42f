"""The service's own bounded ingest stage: decoded report rows wait here between the MQTT
reader and the engine.

Why a stage of our own: aiomqtt's incoming queue is unbounded, and bounding it would drop
messages after their QoS 1 acknowledgement, where nothing counts them. So the reader takes
every message off the client as it comes (decoding is cheap next to fusion), and the
bound and the shedding live here, in rows, visible in the service's counters
(``reports_shed``, ``airspace_reports_shed_total``).

Policy (docs/operations.md, "Overload"):

- The buffer holds at most ``max_rows`` report rows
  (:class:`fusion.config.IngestConfig`), in arrival order, as :class:`Chunk` s of one
  feeder and sensor kind each.
- A message that would take it past the bound makes it **coalesce**: of all the rows
  waiting and the new ones, only the newest report per (feeder, sensor track) is kept,
  the sensor track being the report's own track number where it has one, else its ICAO
  address. Newest is by data time ``t``; of equal times, the later arrival. The fuser
  would have applied the older reports of that track only to overwrite them with the
  newest one within the same release, so a track under overload is updated less often
  but never goes stale.
- If that still leaves more than half the bound (more live sensor tracks than half of
  it: a bound set too small for the traffic), the rows with the oldest data times go as
  well, down to half the bound. Either way the next coalescing is at least half a
  buffer of input away, so its cost (a sort of at most ``max_rows`` + one message's rows)
  is spread over that many rows.
- Every row dropped is counted in :attr:`IngestBuffer.shed`. The buffer never holds more
  than ``max_rows`` rows once :meth:`IngestBuffer.put` returns (:attr:`peak_rows` says
  so); while it coalesces it holds at most ``max_rows`` + one message's rows (at most
  65,536, ``fusion.schema.MAX_BATCH_ROWS``) plus the sort's index arrays.

Memory: a row is ``fusion.schema.REPORT_DTYPE`` (108 bytes), so the default bound of
250,000 rows is 27 MB. Not thread-safe: the event loop's thread only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from fusion.config import DEFAULT_INGEST_MAX_ROWS, IngestConfig
from fusion.schema import ReportArray

I64 = npt.NDArray[np.int64]

# Identity bits of a coalescing key: ICAO addresses are 24 bits, sensor track numbers 31;
# a track number is offset by 2**32 so that the two never collide.
_TRACK_OFFSET: Final = 1 << 32
_GROUP_SHIFT: Final = 34


@dataclass(frozen=True)
class Chunk:
    """Valid reports of one feeder and sensor kind, waiting for the engine.

    ``t_received`` is the ``time.monotonic()`` at which the service took in the message
    they came in (for a coalesced chunk, the newest of its messages): the start of the
    report-to-alert latency.
    """

    feeder: str
    kind: str
    reports: ReportArray
    t_received: float


@dataclass(frozen=True)
class Taken:
    """What :meth:`IngestBuffer.take` hands the engine: the chunks in arrival order, and
    whether the buffer shed rows since the previous take (overload: the engine then runs
    only the newest detection cycle that is due; see ``fusion.service``)."""

    chunks: list[Chunk]
    overloaded: bool

    @property
    def rows(self) -> int:
        return sum(len(c.reports) for c in self.chunks)


class IngestBuffer:
    """Bounded FIFO of report rows with the coalescing policy of the module docstring.

    ``shed``: rows dropped since start; ``coalescings``: how often it coalesced;
    ``peak_rows``: the most rows it held after any :meth:`put`.
    """

    def __init__(self, max_rows: int = DEFAULT_INGEST_MAX_ROWS) -> None:
        IngestConfig(max_rows)  # validates
        self.max_rows = max_rows
        self._chunks: list[Chunk] = []
        self._rows = 0
        self.shed = 0
        self.coalescings = 0
        self.peak_rows = 0
        self._shed_since_take = False
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        """Rows waiting."""
        return self._rows

    def put(self, chunk: Chunk) -> int:
        """Queue one message's valid rows; returns how many rows this call shed."""
        n = len(chunk.reports)
        if n == 0:
            return 0
        if self._rows + n <= self.max_rows:
            self._chunks.append(chunk)
            self._rows += n
            shed = 0
        else:
            chunks = [*self._chunks, chunk]
            before = self._rows + n
            self._chunks = coalesce(chunks, self.max_rows // 2)
            self._rows = sum(len(c.reports) for c in self._chunks)
            shed = before - self._rows
            self.shed += shed
            self.coalescings += 1
            self._shed_since_take = self._shed_since_take or shed > 0
        self.peak_rows = max(self.peak_rows, self._rows)
        if self._rows:
            self._ready.set()
        return shed

    def take(self) -> Taken:
        """Everything waiting, oldest first; the buffer is then empty."""
        out = Taken(self._chunks, self._shed_since_take)
        self._chunks = []
        self._rows = 0
        self._shed_since_take = False
        self._ready.clear()
        return out

    async def wait(self) -> None:
        """Until at least one row waits."""
        while not self._rows:
            self._ready.clear()
            await self._ready.wait()


def coalesce(chunks: list[Chunk], target_rows: int) -> list[Chunk]:
    """The newest report per (feeder, kind, sensor track) of ``chunks``; if more than
    ``target_rows`` remain, only the ``target_rows`` with the newest data times.

    Returns one chunk per (feeder, kind) that kept rows, ordered by the arrival of its
    newest message, rows in time order; ``t_received`` the newest of its messages.
    """
    groups: dict[tuple[str, str], int] = {}
    gid = np.array(
        [groups.setdefault((c.feeder, c.kind), len(groups)) for c in chunks], dtype=np.int64
    )
    sizes = np.array([len(c.reports) for c in chunks], dtype=np.int64)
    rep = np.concatenate([c.reports for c in chunks])
    g = np.repeat(gid, sizes)
    track = rep["track"].astype(np.int64)
    ident = np.where(track >= 0, track + _TRACK_OFFSET, rep["icao"].astype(np.int64))
    key = (g << _GROUP_SHIFT) | ident
    t = rep["t"]
    # Sorted by key, then time; lexsort is stable, so equal (key, t) stay in arrival
    # order and the last row of each key is its newest report, latest arrival.
    order = np.lexsort((t, key))
    ks = key[order]
    last = np.ones(order.size, dtype=bool)
    last[:-1] = ks[1:] != ks[:-1]
    keep: I64 = order[last]
    if keep.size > target_rows:
        # More live sensor tracks than the target: the newest data wins.
        newest = np.argpartition(t[keep], keep.size - target_rows)[keep.size - target_rows :]
        keep = keep[newest]
    keep.sort()  # arrival order
    out: list[tuple[int, Chunk]] = []
    kept_g = g[keep]
    for (feeder, kind), k in groups.items():
        rows = keep[kept_g == k]
        if rows.size == 0:
            continue
        # Time order inside (the fuser's fast path for a sorted batch).
        rows = rows[np.argsort(t[rows], kind="stable")]
        members = np.flatnonzero(gid == k)
        t_received = max(chunks[int(i)].t_received for i in members)
        out.append((int(members.max()), Chunk(feeder, kind, rep[rows], t_received)))
    # Groups in the order of their newest message's arrival.
    out.sort(key=lambda p: p[0])
    return [c for _, c in out]
