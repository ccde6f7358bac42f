"""The fused picture on ``{root}/v1/tracks``: confirmed system tracks, one message per cycle.

Columnar like the report batches (each field one little-endian typed array in a msgpack
bin), so a display decodes 10,000 tracks with one ``np.frombuffer`` per column.
docs/protocol.md is the normative description. Pure functions; safe from any thread.
"""

from __future__ import annotations

from typing import Any, Final

import msgpack
import numpy as np
import numpy.typing as npt

from fusion.fuser import Picture
from fusion.systracks import SystemTracks

TRACKS_VERSION: Final = 1

# A sensor kind counts among a track's sources if it updated the track this recently (s):
# longer than the slowest radar rotation (12 s) so that a radar-held track does not
# flicker between scans.
SOURCES_WINDOW_S: Final = 15.0

TRACK_COLUMNS: Final[dict[str, str]] = {
    "id": "<i8",  # system track number, stable for the track's life
    "icao": "<i4",  # ICAO 24-bit address, -1 unknown
    "mode3a": "<i2",  # Mode 3/A code as its integer value, -1 none
    "callsign": "S8",  # ASCII, NUL padded
    "lat_deg": "<f8",  # WGS-84, at the message's time t
    "lon_deg": "<f8",
    "alt_m": "<f8",  # altitude, metres (pressure altitude where reported)
    "ve_ms": "<f8",  # velocity east, north, up, m/s
    "vn_ms": "<f8",
    "vu_ms": "<f8",
    "sigma_h_m": "<f8",  # 1-sigma horizontal position uncertainty per axis, metres
    "sigma_v_m": "<f8",  # 1-sigma altitude uncertainty, metres
    "t_update": "<f8",  # data time of the newest report fused in, UTC epoch s
    "sources": "u1",  # bit k: sensor kind k (0 adsb, 1 radar, 2 mlat, 3 partner) recent
    "flags": "<i4",  # 1 ADS-B suspect (disagrees with radar), 2 identity conflict
}


def encode_tracks(pic: Picture, tracks: SystemTracks, service: str) -> bytes:
    """One ``tracks`` message for the picture at data time pic.t."""
    r = pic.rows
    recent = tracks.seen[r] >= pic.t - SOURCES_WINDOW_S  # [N, kinds]
    sources = (recent * (1 << np.arange(recent.shape[1]))).sum(axis=1)
    values: dict[str, npt.NDArray[Any]] = {
        "id": pic.id,
        "icao": tracks.icao[r],
        "mode3a": tracks.mode3a[r],
        "callsign": tracks.callsign[r],
        "lat_deg": pic.lat_deg,
        "lon_deg": pic.lon_deg,
        "alt_m": pic.alt_m,
        "ve_ms": pic.ve,
        "vn_ms": pic.vn,
        "vu_ms": pic.vu,
        "sigma_h_m": pic.sigma_h,
        "sigma_v_m": pic.sigma_v,
        "t_update": tracks.t_update[r],
        "sources": sources,
        "flags": tracks.flags[r],
    }
    cols = {
        name: np.ascontiguousarray(values[name], dtype=dt).tobytes()
        for name, dt in TRACK_COLUMNS.items()
    }
    msg = {
        "v": TRACKS_VERSION,
        "type": "tracks",
        "service": service,
        "t": pic.t,
        "n": int(r.size),
        "cols": cols,
    }
    return msgpack.packb(msg, use_bin_type=True)  # type: ignore[no-any-return]


def decode_tracks(payload: bytes) -> tuple[float, npt.NDArray[np.void]]:
    """(t, tracks) of a ``tracks`` message: the data time (UTC epoch s) and a record array
    with the TRACK_COLUMNS fields. Raises ValueError on anything else."""
    msg = msgpack.unpackb(payload, raw=False)
    if not isinstance(msg, dict) or msg.get("type") != "tracks":
        raise ValueError("not a tracks message")
    if msg.get("v") != TRACKS_VERSION:
        raise ValueError(f"tracks message version {msg.get('v')!r}, expected {TRACKS_VERSION}")
    n = int(msg["n"])
    out = np.empty(n, dtype=np.dtype(list(TRACK_COLUMNS.items())))
    for name, dt in TRACK_COLUMNS.items():
        out[name] = np.frombuffer(msg["cols"][name], dtype=dt, count=n)
    return float(msg["t"]), out
