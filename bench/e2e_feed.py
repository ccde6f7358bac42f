"""The feeder of ``python -m bench e2e``: simulated ADS-B receivers and radars publishing
report batches in real time, as such sensors do.

Traffic: :func:`bench.traffic.realistic_traffic` (about one aircraft per 100 km^2, the
cpa benchmark's), flying straight lines from the epoch ``--epoch`` (UTC epoch s: data
time is wall time, speed 1); climbing and descending aircraft bounce between 300 m and
12,500 m so that nobody flies into the ground during a long soak. Every aircraft is ADS-B
equipped and seen by about two radars (fewer near the edges of the region).

- **ADS-B**: every aircraft broadcasts ``adsb_hz`` state vectors per second, at its own
  phase; the region is cut into a grid of one receiver per ~1,000 aircraft, and each
  receiver publishes one batch per second (what it heard in [s, s + 1), at s + 1 +
  ``latency_s``) on ``airspace/v1/reports/adsb-rx-K``. Position noise 12 m per axis
  (NACp 9), velocity 0.5 m/s, altitude in 25 ft steps.
- **Radar**: Mode S radars (ICAO address and a track number per aircraft), 250 km range,
  one rotation every ``radar_period_s``, on a grid with 2.5 radars over an average point;
  each publishes one batch per scan sector (``sectors`` per rotation) when the beam leaves
  it, on ``airspace/v1/reports/radar-K``. An aircraft is reported at the time the beam
  crosses its azimuth. Position noise 80 m per axis, velocity 2 m/s.

Rate control: ``--control FILE``, a JSON object read every second; ``{"adsb_hz": 6}``
changes the broadcast rate from the next second on (whole numbers, >= 1). SIGTERM stops
it after the message in flight.

Log (``--log FILE``, CSV, one line per published message, flushed every second):
``wall_pub,wall_ack,feeder,n,t_min,t_max,adsb_hz``: wall clock just before the publish
and once the broker acknowledged it (QoS 1), UTC epoch s; rows; the data-time span of the
rows. The benchmark finds there the publish of the report that closes each detection
cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

import numpy as np
import numpy.typing as npt

from bench.traffic import realistic_traffic
from fusion.schema import ReportArray, empty_reports, encode_batch
from fusion.topics import Topics
from fusion.transport import AiomqttTransport

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

M_PER_DEG: Final = 111_195.0  # metres per degree of latitude (spherical, mean radius)
FT: Final = 0.3048
ALT_LO_M: Final = 300.0
ALT_HI_M: Final = 12_500.0
AIRCRAFT_PER_RECEIVER: Final = 1000
RADAR_RANGE_M: Final = 250_000.0
RADAR_COVER: Final = 2.5  # radars over an average point of the region (~2 at the edges)
ADSB_SIGMA_M: Final = 12.0
RADAR_SIGMA_M: Final = 80.0


@dataclass(frozen=True)
class FeedConfig:
    """What the feeder simulates; distances in m, times in s, rates in Hz."""

    n: int
    seed: int = 1
    epoch: float = 0.0  # data time of the traffic's initial state, UTC epoch s
    adsb_hz: int = 2
    radar_period_s: float = 4.0
    sectors: int = 8
    latency_s: float = 0.1  # publication after the end of the second / sector


@dataclass(frozen=True)
class Outgoing:
    """One batch due at wall (= data) time ``t_pub``."""

    t_pub: float
    feeder: str
    kind: str
    reports: ReportArray
    adsb_hz: int = 0  # ADS-B: the broadcast rate it was made with; radar: 0


class Feed:
    """The traffic and the sensors; :meth:`second` gives every batch due in [s, s + 1)."""

    def __init__(self, cfg: FeedConfig) -> None:
        self.cfg = cfg
        tr = realistic_traffic(cfg.n, cfg.seed)
        self.lat0, self.lon0, self.alt0 = tr.lat_deg, tr.lon_deg, tr.alt_m
        self.ve, self.vn, self.vu = tr.ve, tr.vn, tr.vu
        self.coslat = np.cos(np.radians(self.lat0))
        rng = np.random.default_rng([cfg.seed, 11])
        self.phase = rng.random(cfg.n)
        self.icao = 0x400000 + np.arange(cfg.n)
        self.rng = np.random.default_rng([cfg.seed, 12])
        reg = tr.region
        # ADS-B receivers: a grid of cells over the region, one per ~1000 aircraft.
        n_rx = max(1, round(cfg.n / AIRCRAFT_PER_RECEIVER))
        self.rx_nx, self.rx_ny = _grid(n_rx, reg.lon_max - reg.lon_min, reg.lat_max - reg.lat_min)
        self.box = (reg.lat_min, reg.lat_max, reg.lon_min, reg.lon_max)
        # Radars: a grid, as many as give about RADAR_COVER radars over a point.
        n_radar = max(1, round(RADAR_COVER * reg.area_km2 * 1e6 / (math.pi * RADAR_RANGE_M**2)))
        nx, ny = _grid(n_radar, reg.lon_max - reg.lon_min, reg.lat_max - reg.lat_min)
        glon = reg.lon_min + (np.arange(nx) + 0.5) * (reg.lon_max - reg.lon_min) / nx
        glat = reg.lat_min + (np.arange(ny) + 0.5) * (reg.lat_max - reg.lat_min) / ny
        la, lo = np.meshgrid(glat, glon, indexing="ij")
        self.radar_lat, self.radar_lon = la.ravel(), lo.ravel()
        self.radar_az0 = np.random.default_rng([cfg.seed, 13]).uniform(0, 360, self.radar_lat.size)

    @property
    def receivers(self) -> int:
        return self.rx_nx * self.rx_ny

    @property
    def radars(self) -> int:
        return int(self.radar_lat.size)

    def state(self, rows: I64 | slice, tau: F64) -> tuple[F64, F64, F64, F64, F64, F64]:
        """(lat, lon, alt, ve, vn, vu) of aircraft ``rows`` at ``tau`` s after the epoch."""
        lat = self.lat0[rows] + self.vn[rows] * tau / M_PER_DEG
        lon = self.lon0[rows] + self.ve[rows] * tau / (M_PER_DEG * self.coslat[rows])
        # Altitude bounces between ALT_LO_M and ALT_HI_M (a triangle wave).
        span = ALT_HI_M - ALT_LO_M
        alt0 = np.clip(self.alt0[rows], ALT_LO_M, ALT_HI_M)
        x = np.mod(alt0 - ALT_LO_M + self.vu[rows] * tau, 2 * span)
        up = x < span
        alt = ALT_LO_M + np.where(up, x, 2 * span - x)
        vu = np.where(up, self.vu[rows], -self.vu[rows])
        return lat, lon, alt, self.ve[rows], self.vn[rows], vu

    def second(self, s: float, adsb_hz: int) -> list[Outgoing]:
        """Every batch published in [s + 1, s + 2) about data time [s, s + 1) for ADS-B,
        and every radar sector ending in [s, s + 1); sorted by publication time."""
        return sorted(self._adsb(s, adsb_hz) + self._radar(s), key=lambda o: (o.t_pub, o.feeder))

    def _adsb(self, s: float, hz: int) -> list[Outgoing]:
        n = self.cfg.n
        rows = np.repeat(np.arange(n), hz)
        t = s + (self.phase[rows] + np.tile(np.arange(hz), n)) / hz
        lat, lon, alt, ve, vn, vu = self.state(rows, t - self.cfg.epoch)
        noise = self.rng.normal(size=(3, rows.size))
        r = empty_reports(rows.size)
        r["t"] = t
        r["icao"] = self.icao[rows]
        r["lat_deg"] = lat + noise[0] * ADSB_SIGMA_M / M_PER_DEG
        r["lon_deg"] = lon + noise[1] * ADSB_SIGMA_M / (M_PER_DEG * self.coslat[rows])
        r["alt_baro_ft"] = np.round(alt / FT / 25.0) * 25.0
        r["ve_ms"] = ve + noise[2] * 0.5
        r["vn_ms"] = vn
        r["vu_ms"] = vu
        r["nacp"] = 9
        r["nacv"] = 2
        cell = self._cell(lat, lon)
        order = np.lexsort((t, cell))
        cells = cell[order]
        cuts = np.searchsorted(cells, np.arange(self.receivers + 1))
        out = []
        for k in range(self.receivers):
            a, b = cuts[k], cuts[k + 1]
            if b > a:
                out.append(
                    Outgoing(
                        s + 1.0 + self.cfg.latency_s, f"adsb-rx-{k}", "adsb", r[order[a:b]], hz
                    )
                )
        return out

    def _cell(self, lat: F64, lon: F64) -> I64:
        la0, la1, lo0, lo1 = self.box
        i = np.clip(((lat - la0) / (la1 - la0) * self.rx_ny).astype(np.int64), 0, self.rx_ny - 1)
        j = np.clip(((lon - lo0) / (lo1 - lo0) * self.rx_nx).astype(np.int64), 0, self.rx_nx - 1)
        cell: I64 = i * self.rx_nx + j
        return cell

    def _radar(self, s: float) -> list[Outgoing]:
        cfg = self.cfg
        period = cfg.radar_period_s
        dt_sector = period / cfg.sectors
        out = []
        # Where every aircraft is mid-second: who is in range of which radar, and at which
        # azimuth (aircraft move 200 m in a second; the beam takes its time from it).
        lat, lon, *_ = self.state(slice(None), np.full(cfg.n, s + 0.5 - cfg.epoch))
        for k in range(self.radars):
            rlat, rlon = self.radar_lat[k], self.radar_lon[k]
            east = (lon - rlon) * M_PER_DEG * math.cos(math.radians(rlat))
            north = (lat - rlat) * M_PER_DEG
            inr = np.flatnonzero(east * east + north * north < RADAR_RANGE_M**2)
            if inr.size == 0:
                continue
            az = np.degrees(np.arctan2(east[inr], north[inr])) % 360.0
            # Beam azimuth (a0 + 360 (t - epoch) / period): the time it crosses az, in the
            # rotation that contains s.
            phase = ((az - self.radar_az0[k]) % 360.0) / 360.0 * period
            rot0 = cfg.epoch + math.floor((s - cfg.epoch) / period) * period
            t_det = rot0 + phase
            # The sectors that end in [s, s + 1): sector ends are rot + (j + 1) dt_sector.
            first = math.ceil((s - cfg.epoch) / dt_sector)
            last = math.ceil((s + 1.0 - cfg.epoch) / dt_sector)
            for e in range(first, last):
                t_end = cfg.epoch + e * dt_sector
                # Detections in (t_end - dt_sector, t_end], from this rotation or the
                # neighbouring ones.
                sel_t = np.concatenate([t_det - period, t_det, t_det + period])
                sel_i = np.concatenate([inr, inr, inr])
                m = (sel_t > t_end - dt_sector) & (sel_t <= t_end)
                if not m.any():
                    continue
                plots = self._plots(sel_i[m], sel_t[m])
                out.append(Outgoing(t_end + cfg.latency_s, f"radar-{k}", "radar", plots))
        return out

    def _plots(self, rows: I64, t: F64) -> ReportArray:
        order = np.argsort(t)
        rows, t = rows[order], t[order]
        lat, lon, alt, ve, vn, vu = self.state(rows, t - self.cfg.epoch)
        noise = self.rng.normal(size=(4, rows.size))
        r = empty_reports(rows.size)
        r["t"] = t
        r["icao"] = self.icao[rows]
        r["track"] = rows
        r["lat_deg"] = lat + noise[0] * RADAR_SIGMA_M / M_PER_DEG
        r["lon_deg"] = lon + noise[1] * RADAR_SIGMA_M / (M_PER_DEG * self.coslat[rows])
        r["alt_baro_ft"] = np.round(alt / FT / 25.0) * 25.0
        r["ve_ms"] = ve + noise[2] * 2.0
        r["vn_ms"] = vn + noise[3] * 2.0
        r["vu_ms"] = vu
        r["sigma_h_m"] = RADAR_SIGMA_M
        r["sigma_vel_ms"] = 2.0
        return r


def _grid(n: int, width: float, height: float) -> tuple[int, int]:
    """(nx, ny) with nx * ny close to n cells about square over width x height."""
    nx = max(1, round(math.sqrt(n * width / height)))
    ny = max(1, round(n / nx))
    return nx, ny


def _read_hz(path: Path | None, current: int) -> int:
    if path is None:
        return current
    try:
        hz = int(json.loads(path.read_text())["adsb_hz"])
    except (OSError, ValueError, KeyError, TypeError):
        return current
    return hz if hz >= 1 else current


async def feed(cfg: FeedConfig, host: str, port: int, control: Path | None, log: TextIO) -> int:
    """Publish in real time until SIGTERM; returns the number of messages published."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    sim = Feed(cfg)
    topics = Topics("airspace")
    hz = cfg.adsb_hz
    sent = 0
    print(
        f"feeder: {cfg.n} aircraft, {sim.receivers} ADS-B receivers, {sim.radars} radars",
        file=sys.stderr,
        flush=True,
    )
    async with AiomqttTransport(host, port, f"bench-e2e-feeder-{cfg.seed}", timeout_s=60) as tr:
        # The first whole second from now: its ADS-B batches go out a second later. Each
        # second's batches are made on a worker thread while the previous second's go out.
        s = float(math.floor(time.time()))
        nxt = loop.run_in_executor(None, sim.second, s, hz)
        while not stop.is_set():
            batch = await nxt
            hz = _read_hz(control, hz)
            nxt = loop.run_in_executor(None, sim.second, s + 1.0, hz)
            for o in batch:
                delay = o.t_pub - time.time()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    break
                payload = encode_batch(o.feeder, o.kind, o.reports)
                t_pub = time.time()
                await tr.publish(topics.reports(o.feeder), payload, qos=1)
                t_ack = time.time()
                t = o.reports["t"]
                log.write(
                    f"{t_pub:.6f},{t_ack:.6f},{o.feeder},{len(t)},"
                    f"{t.min():.6f},{t.max():.6f},{hz_of(o, hz)}\n"
                )
                sent += 1
            log.flush()
            s += 1.0
        await nxt
    return sent


def hz_of(o: Outgoing, hz: int) -> int:
    """The ADS-B rate a batch was made with (radar batches: the rate of the moment)."""
    return o.adsb_hz if o.adsb_hz else hz


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.e2e_feed",
        description="Simulated ADS-B receivers and radars publishing in real time "
        "(the feeder of python -m bench e2e).",
    )
    p.add_argument("--broker-host", default="127.0.0.1")
    p.add_argument("--broker-port", type=int, required=True)
    p.add_argument("--aircraft", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epoch", type=float, default=None, help="traffic epoch, UTC s (now)")
    p.add_argument("--adsb-hz", type=int, default=2)
    p.add_argument("--radar-period-s", type=float, default=4.0)
    p.add_argument("--sectors", type=int, default=8)
    p.add_argument("--control", type=Path, default=None, help="JSON file: {'adsb_hz': N}")
    p.add_argument("--log", type=Path, required=True, help="CSV of published messages")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = FeedConfig(
        n=args.aircraft,
        seed=args.seed,
        epoch=float(args.epoch if args.epoch is not None else math.floor(time.time())),
        adsb_hz=args.adsb_hz,
        radar_period_s=args.radar_period_s,
        sectors=args.sectors,
    )
    with open(args.log, "w", buffering=1 << 16) as log:
        log.write("wall_pub,wall_ack,feeder,n,t_min,t_max,adsb_hz\n")
        sent = asyncio.run(feed(cfg, args.broker_host, args.broker_port, args.control, log))
    print(f"feeder: {sent} messages published", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
