"""Wire schema v1: sensor track reports in, decoded to NumPy record arrays.

A message on ``{root}/v1/reports/{feeder}`` is a msgpack map, either one report
(``"type": "report"``, scalar fields) or a columnar batch (``"type": "batch"``, each
column a msgpack ``bin`` holding a little-endian typed array). docs/protocol.md is the
normative description; this module is its executable form.

Decoding a batch costs one ``np.frombuffer`` per column and no Python object per report.
Validation is vectorised: rows that fail are split off with their reasons, never dropped
silently; structural faults (not msgpack, wrong version, a column of the wrong length, a
message or batch beyond the size limits) reject the whole message with
:class:`SchemaError`. :func:`decode_message` raises nothing else, whatever the bytes: the
fuzz test (tests/test_fuzz_schema.py) holds it to that.

Pure functions; safe to call from any thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgpack
import numpy as np
import numpy.typing as npt

SCHEMA_VERSION: Final = 1

SENSOR_KINDS: Final = ("adsb", "radar", "mlat", "partner")
SENSOR_KIND_CODE: Final = {k: i for i, k in enumerate(SENSOR_KINDS)}

# Column name -> little-endian dtype on the wire and in the record array. Names carry their
# unit because integrators read them: SI except where aviation practice is the edge format.
# Absent values: NaN for floats, -1 for integers, b"" for the callsign.
COLUMNS: Final[dict[str, str]] = {
    "t": "<f8",  # time of applicability, UTC seconds since 1970-01-01 (POSIX, no leap seconds)
    "icao": "<i4",  # ICAO 24-bit address 0..0xFFFFFF, -1 unknown
    "track": "<i4",  # the sensor's own track number >= 0, -1 none
    "mode3a": "<i2",  # Mode 3/A code as its integer value (octal 7700 -> 0o7700 = 4032), -1 none
    "callsign": "S8",  # ASCII, up to 8 characters, space or NUL padded
    "lat_deg": "<f8",  # WGS-84 latitude, degrees north
    "lon_deg": "<f8",  # WGS-84 longitude, degrees east, -180..180
    "alt_baro_ft": "<f8",  # pressure altitude (1013.25 hPa datum), feet
    "alt_geo_m": "<f8",  # geometric height above the WGS-84 ellipsoid, metres
    "ve_ms": "<f8",  # velocity east, m/s
    "vn_ms": "<f8",  # velocity north, m/s
    "vu_ms": "<f8",  # vertical rate, m/s, up positive
    "sigma_h_m": "<f8",  # horizontal position 1-sigma per axis, metres
    "sigma_v_m": "<f8",  # altitude 1-sigma, metres
    "sigma_vel_ms": "<f8",  # velocity 1-sigma per axis, m/s
    "nacp": "<i1",  # ADS-B navigation accuracy category, position (0..11), -1 none
    "nacv": "<i1",  # ADS-B navigation accuracy category, velocity (0..4), -1 none
}
REQUIRED: Final = ("t", "lat_deg", "lon_deg", "ve_ms", "vn_ms")
ABSENT: Final[dict[str, Any]] = {
    name: (np.nan if dt.endswith("f8") else (b"" if dt.startswith("S") else -1))
    for name, dt in COLUMNS.items()
}

REPORT_DTYPE: Final = np.dtype([(name, dt) for name, dt in COLUMNS.items()])

# Plausibility bounds. Wider than any aircraft so that they catch unit mistakes (feet sent
# as metres, knots as m/s) and corrupt values, not unusual flights.
MAX_SPEED_MS: Final = 1200.0  # about Mach 3.5; no civil or military track exceeds it
MAX_VRATE_MS: Final = 300.0  # about 60,000 ft/min
MIN_ALT_FT: Final = -2000.0  # Dead Sea airfields sit near -1,400 ft
MAX_ALT_FT: Final = 100_000.0
FT: Final = 0.3048
# A stated accuracy beyond these carries no information and, squared into a covariance,
# would overflow the filter: 100 km horizontally or vertically, and a velocity sigma above
# the highest plausible speed.
MAX_SIGMA_M: Final = 100_000.0
MAX_SIGMA_VEL_MS: Final = MAX_SPEED_MS

# Time of applicability. Beyond 2100-01-01 it is not POSIX seconds (milliseconds, most
# likely), and such a time would drag the data clock where no honest report follows it.
MAX_EPOCH_S: Final = 4_102_444_800.0
# Relative to the service's data clock (the newest report time it has accepted), when the
# caller passes it: a report more than MAX_AHEAD_S ahead of both the data clock and the
# wall clock is from a feeder whose clock is wrong, and accepting it would make every
# honest report late; more than MAX_BEHIND_S behind the data clock it is far past the
# reorder window and could never be fused. The wall clock only widens the future bound:
# after a silence of every feed, the first reports are ahead of the data clock by the
# silence, but not ahead of the wall clock (a replay of a recording is in the past of it).
MAX_AHEAD_S: Final = 300.0
MAX_BEHIND_S: Final = 300.0

# Size limits, checked before anything is allocated. The largest batch (every column) is
# MAX_BATCH_ROWS x 108 bytes = 7.1 MB, under MAX_MESSAGE_BYTES with room for the envelope.
MAX_MESSAGE_BYTES: Final = 8 * 1024 * 1024
MAX_BATCH_ROWS: Final = 65_536
# Keys a message may carry besides the report fields (single) or next to ``cols`` (batch).
ENVELOPE_KEYS: Final = frozenset({"v", "type", "feeder", "kind"})
BATCH_KEYS: Final = ENVELOPE_KEYS | {"n", "cols"}
REPORT_KEYS: Final = ENVELOPE_KEYS | set(COLUMNS)

ReportArray = npt.NDArray[np.void]


# Reason codes: short, stable identifiers of why input was rejected, one per rule. The
# dead-letter payload carries them next to the human-readable reason, and the metrics count
# rejections by them (a bounded label set, unlike the reason text, which quotes the input).
MESSAGE_REJECT_CODES: Final = (
    "message_size",
    "not_msgpack",
    "not_a_map",
    "version",
    "feeder_mismatch",
    "kind",
    "type",
    "batch_n",
    "batch_size",
    "batch_cols",
    "unknown_columns",
    "missing_columns",
    "column_type",
    "column_length",
    "missing_fields",
    "field_value",
    "unknown_fields",
)
ROW_REJECT_CODES: Final = (
    "time",
    "time_future",
    "time_past",
    "lat_range",
    "lon_range",
    "no_altitude",
    "altitude_range",
    "speed",
    "vertical_rate",
    "icao_range",
    "track_negative",
    "no_identity",
    "mode3a_range",
    "callsign_chars",
    "sigma_negative",
    "sigma_range",
    "nacp_range",
    "nacv_range",
)


class SchemaError(ValueError):
    """The message as a whole cannot be read; ``str(err)`` is the reason, ``code`` one of
    :data:`MESSAGE_REJECT_CODES`."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class DecodedMessage:
    """A decoded report message.

    ``reports`` holds the valid rows (REPORT_DTYPE[n]); ``rejected_rows`` the indices of
    rows that failed validation in the original message, ``reasons`` one reason per
    rejected row (every rule it failed) and ``codes`` one code per rejected row (the first
    rule it failed, one of :data:`ROW_REJECT_CODES`).
    """

    feeder: str
    kind: str
    reports: ReportArray
    rejected_rows: npt.NDArray[np.int64]
    reasons: tuple[str, ...]
    n_total: int
    codes: tuple[str, ...] = ()


def empty_reports(n: int) -> ReportArray:
    """An array of n reports with every field absent."""
    out = np.empty(n, dtype=REPORT_DTYPE)
    for name, value in ABSENT.items():
        out[name] = value
    return out


def encode_batch(feeder: str, kind: str, reports: ReportArray) -> bytes:
    """Encode reports (REPORT_DTYPE[n]) as one columnar batch message.

    Columns that are absent in every row are left out, as the schema allows.
    """
    if kind not in SENSOR_KIND_CODE:
        raise ValueError(f"unknown sensor kind {kind!r}; expected one of {SENSOR_KINDS}")
    cols: dict[str, bytes] = {}
    for name, dt in COLUMNS.items():
        col = reports[name]
        if name not in REQUIRED and _all_absent(name, col):
            continue
        cols[name] = np.ascontiguousarray(col, dtype=dt).tobytes()
    msg = {
        "v": SCHEMA_VERSION,
        "type": "batch",
        "feeder": feeder,
        "kind": kind,
        "n": len(reports),
        "cols": cols,
    }
    return msgpack.packb(msg, use_bin_type=True)  # type: ignore[no-any-return]


def encode_report(feeder: str, kind: str, **fields: Any) -> bytes:
    """Encode one report as a single-report message. Fields use the column names."""
    if kind not in SENSOR_KIND_CODE:
        raise ValueError(f"unknown sensor kind {kind!r}; expected one of {SENSOR_KINDS}")
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown report fields: {sorted(unknown)}")
    msg: dict[str, Any] = {"v": SCHEMA_VERSION, "type": "report", "feeder": feeder, "kind": kind}
    for name, value in fields.items():
        if name == "callsign" and isinstance(value, bytes):
            value = value.decode("ascii")
        msg[name] = value
    return msgpack.packb(msg, use_bin_type=True)  # type: ignore[no-any-return]


def decode_message(
    payload: bytes,
    topic_feeder: str,
    *,
    data_time: float | None = None,
    wall_time: float | None = None,
) -> DecodedMessage:
    """Decode and validate one report message published under ``topic_feeder``.

    Raises SchemaError when the message as a whole is unreadable, and nothing else whatever
    the bytes. Row-level faults are returned in ``rejected_rows``/``reasons``/``codes``.

    ``data_time`` (the caller's data clock, UTC epoch s) and ``wall_time`` (its wall clock,
    UTC epoch s), when given, bound each report's time (``time_future``, ``time_past``; see
    :data:`MAX_AHEAD_S`); without them only the absolute bounds apply.
    """
    if len(payload) > MAX_MESSAGE_BYTES:
        # Before unpacking: a huge message costs memory and time to even look at.
        raise SchemaError(
            f"message of {len(payload)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}",
            "message_size",
        )
    try:
        msg = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise SchemaError(
            f"not a msgpack message: {type(exc).__name__}: {exc}", "not_msgpack"
        ) from None
    if not isinstance(msg, dict):
        raise SchemaError(f"message is a msgpack {type(msg).__name__}, expected a map", "not_a_map")
    version = msg.get("v")
    # type() rather than ==: True and 1.0 compare equal to 1 but are not what v1 says.
    if type(version) is not int or version != SCHEMA_VERSION:
        raise SchemaError(
            f"unsupported schema version {_short(version)}; this service reads v1", "version"
        )
    feeder = msg.get("feeder", topic_feeder)
    if feeder != topic_feeder:
        raise SchemaError(
            f"feeder {_short(feeder)} in the payload differs from {topic_feeder!r} in the topic",
            "feeder_mismatch",
        )
    kind = msg.get("kind")
    # Type first: an unhashable value (a list, a map) cannot even be looked up.
    if not isinstance(kind, str) or kind not in SENSOR_KIND_CODE:
        raise SchemaError(
            f"sensor kind {_short(kind)} is not one of {', '.join(SENSOR_KINDS)}", "kind"
        )
    mtype = msg.get("type")
    if mtype == "batch":
        reports = _decode_batch(msg)
    elif mtype == "report":
        reports = _decode_single(msg)
    else:
        raise SchemaError(f"message type {_short(mtype)} is neither 'report' nor 'batch'", "type")
    ok, reasons, codes = validate(reports, data_time=data_time, wall_time=wall_time)
    bad = np.flatnonzero(~ok)
    return DecodedMessage(
        feeder=topic_feeder,
        kind=kind,
        reports=reports[ok],
        rejected_rows=bad.astype(np.int64),
        reasons=tuple(reasons[i] for i in bad),
        n_total=len(reports),
        codes=tuple(codes[i] for i in bad),
    )


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: reasons quote input, not all of it."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _all_absent(name: str, col: npt.NDArray[Any]) -> bool:
    absent = ABSENT[name]
    if isinstance(absent, float):
        return bool(np.isnan(col).all())
    return bool((col == absent).all())


def _unknown_keys(msg: dict[str, Any], known: frozenset[str]) -> None:
    # v1 is read strictly: a misspelt optional field ("vu_fpm") would otherwise vanish
    # without a trace, which is what dead letters are for.
    unknown = [k for k in msg if k not in known]
    if unknown:
        names = ", ".join(sorted(_short(k, 30) for k in unknown)[:10])
        raise SchemaError(f"unknown fields: {names}", "unknown_fields")


def _decode_batch(msg: dict[str, Any]) -> ReportArray:
    _unknown_keys(msg, BATCH_KEYS)
    n = msg.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise SchemaError(
            f"batch field 'n' must be a non-negative integer, got {_short(n)}", "batch_n"
        )
    if n > MAX_BATCH_ROWS:
        raise SchemaError(f"batch of {n} rows exceeds the limit of {MAX_BATCH_ROWS}", "batch_size")
    cols = msg.get("cols")
    if not isinstance(cols, dict):
        raise SchemaError("batch field 'cols' must be a map of column name to bin", "batch_cols")
    unknown = set(cols) - set(COLUMNS)
    if unknown:
        names = ", ".join(sorted(_short(c, 30) for c in unknown)[:10])
        raise SchemaError(f"unknown columns: {names}", "unknown_columns")
    missing = [c for c in REQUIRED if c not in cols]
    if "alt_baro_ft" not in cols and "alt_geo_m" not in cols:
        missing.append("alt_baro_ft or alt_geo_m")
    # An empty batch (a radar sector with nothing in it) is valid whatever columns it has.
    if missing and n > 0:
        raise SchemaError(f"missing required columns: {', '.join(missing)}", "missing_columns")
    # Every column checked before the record array is allocated.
    for name, raw in cols.items():
        if not isinstance(raw, bytes):
            raise SchemaError(
                f"column {name!r} must be a msgpack bin, got {type(raw).__name__}", "column_type"
            )
        dt = np.dtype(COLUMNS[name])
        if len(raw) != n * dt.itemsize:
            raise SchemaError(
                f"column {name!r} holds {len(raw)} bytes; n={n} rows of {dt.str} need "
                f"{n * dt.itemsize}",
                "column_length",
            )
    out = empty_reports(n)
    for name, raw in cols.items():
        out[name] = np.frombuffer(raw, dtype=COLUMNS[name])
    return out


def _decode_single(msg: dict[str, Any]) -> ReportArray:
    _unknown_keys(msg, REPORT_KEYS)
    out = empty_reports(1)
    missing = [c for c in REQUIRED if msg.get(c) is None]
    if msg.get("alt_baro_ft") is None and msg.get("alt_geo_m") is None:
        missing.append("alt_baro_ft or alt_geo_m")
    if missing:
        raise SchemaError(f"missing required fields: {', '.join(missing)}", "missing_fields")
    for name in COLUMNS:
        value = msg.get(name)
        if value is None:
            continue
        try:
            if name == "callsign":
                if not isinstance(value, str) or len(value) > 8 or not value.isascii():
                    raise ValueError("callsign must be ASCII text of at most 8 characters")
                out[name] = value.encode("ascii")
            elif COLUMNS[name].endswith("f8"):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"expected a number, got {type(value).__name__}")
                # Ranges, NaN and infinity are the row rules' business, as in a batch.
                out[name] = float(value)
            else:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"expected an integer, got {type(value).__name__}")
                info = np.iinfo(np.dtype(COLUMNS[name]))
                if not info.min <= value <= info.max:
                    raise ValueError(f"{value} is out of range")
                out[name] = value
        except ValueError as exc:
            raise SchemaError(f"field {name!r}: {exc}", "field_value") from None
    return out


def validate(
    reports: ReportArray,
    data_time: float | None = None,
    wall_time: float | None = None,
) -> tuple[npt.NDArray[np.bool_], list[str], list[str]]:
    """Check every row. Returns (ok bool[n], reasons, codes): per row the text of every rule
    it failed and the code of the first one (:data:`ROW_REJECT_CODES`), '' for good rows.

    ``data_time``/``wall_time`` (UTC epoch s): see :func:`decode_message`.

    Vectorised: one mask per rule; the reason strings are built only for bad rows. Every
    comparison is written so that NaN fails it (``~(x <= bound)``) where NaN is not an
    allowed "absent".
    """
    n = len(reports)
    rules: list[tuple[npt.NDArray[np.bool_], str, str]] = []
    t = reports["t"]
    rules.append(
        (
            ~((t > 0.0) & (t < MAX_EPOCH_S)),
            "time",
            "time 't' is missing or not UTC epoch seconds between 1970 and 2100",
        )
    )
    if data_time is not None or wall_time is not None:
        refs = [x for x in (data_time, wall_time) if x is not None]
        ahead = max(refs) + MAX_AHEAD_S
        rules.append(
            (
                t > ahead,
                "time_future",
                f"time 't' more than {MAX_AHEAD_S:.0f} s ahead of the data clock and the "
                "wall clock",
            )
        )
    if data_time is not None:
        rules.append(
            (
                t < data_time - MAX_BEHIND_S,
                "time_past",
                f"time 't' more than {MAX_BEHIND_S:.0f} s behind the data clock",
            )
        )
    lat = reports["lat_deg"]
    lon = reports["lon_deg"]
    rules.append((~(np.abs(lat) <= 90.0), "lat_range", "lat_deg outside -90..90"))
    rules.append((~(np.abs(lon) <= 180.0), "lon_range", "lon_deg outside -180..180"))
    baro = reports["alt_baro_ft"]
    geo = reports["alt_geo_m"]
    no_alt = np.isnan(baro) & np.isnan(geo)
    rules.append((no_alt, "no_altitude", "no altitude (alt_baro_ft or alt_geo_m)"))
    # Each altitude given must be plausible, the one not used for separation too: the fuser
    # keeps both. Geometric height is compared in metres: dividing a huge value by FT would
    # overflow.
    baro_bad = ~np.isnan(baro) & ~((baro >= MIN_ALT_FT) & (baro <= MAX_ALT_FT))
    geo_bad = ~np.isnan(geo) & ~((geo >= MIN_ALT_FT * FT) & (geo <= MAX_ALT_FT * FT))
    rules.append(
        (
            baro_bad | geo_bad,
            "altitude_range",
            f"altitude outside {MIN_ALT_FT:.0f}..{MAX_ALT_FT:.0f} ft",
        ),
    )
    with np.errstate(over="ignore"):  # beyond 1.3e308 m/s it is inf, and fails all the same
        speed = np.hypot(reports["ve_ms"], reports["vn_ms"])
    rules.append(
        (
            ~(speed <= MAX_SPEED_MS),
            "speed",
            f"ground speed missing or above {MAX_SPEED_MS:.0f} m/s",
        )
    )
    vu = reports["vu_ms"]
    rules.append(
        (
            np.isinf(vu) | (np.abs(vu) > MAX_VRATE_MS),
            "vertical_rate",
            f"vertical rate above {MAX_VRATE_MS:.0f} m/s",
        )
    )
    icao = reports["icao"]
    rules.append(((icao < -1) | (icao > 0xFFFFFF), "icao_range", "icao outside 0..0xFFFFFF"))
    track = reports["track"]
    rules.append((track < -1, "track_negative", "track number negative"))
    rules.append(
        (
            (icao == -1) & (track == -1),
            "no_identity",
            "no identity: neither icao nor track number",
        )
    )
    m3a = reports["mode3a"]
    rules.append(((m3a < -1) | (m3a > 0o7777), "mode3a_range", "mode3a outside 0000..7777 octal"))
    rules.append(
        (
            _bad_callsigns(reports["callsign"]),
            "callsign_chars",
            "callsign not printable ASCII, NUL padded",
        )
    )
    for name in ("sigma_h_m", "sigma_v_m", "sigma_vel_ms"):
        s = reports[name]
        rules.append((s < 0.0, "sigma_negative", f"{name} negative"))
    for name, bound in (
        ("sigma_h_m", MAX_SIGMA_M),
        ("sigma_v_m", MAX_SIGMA_M),
        ("sigma_vel_ms", MAX_SIGMA_VEL_MS),
    ):
        s = reports[name]
        rules.append((s > bound, "sigma_range", f"{name} above {bound:.0f}"))
    nacp = reports["nacp"]
    nacv = reports["nacv"]
    rules.append(((nacp < -1) | (nacp > 11), "nacp_range", "nacp outside 0..11"))
    rules.append(((nacv < -1) | (nacv > 4), "nacv_range", "nacv outside 0..4"))

    assert len(rules) < 64  # the failure pattern below is one uint64 per row
    failed = np.stack([mask for mask, _, _ in rules])  # [rules, n]: one op, not one per rule
    bad: npt.NDArray[np.bool_] = np.asarray(failed.any(axis=0))
    reasons = [""] * n
    codes = [""] * n
    bad_rows = np.flatnonzero(bad)
    if bad_rows.size:
        # One text per distinct combination of failed rules, not per row: a batch of
        # 65,536 bad rows costs milliseconds, not a Python loop over rules x rows. The
        # failed rules of a row are the bits of one integer.
        weights = np.left_shift(np.uint64(1), np.arange(len(rules), dtype=np.uint64))
        key = (failed[:, bad_rows].T.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
        patterns, inverse = np.unique(key, return_inverse=True)
        texts = [_failed_text(p, rules) for p in patterns.tolist()]
        for i, k in zip(bad_rows.tolist(), inverse.ravel().tolist(), strict=True):
            codes[i], reasons[i] = texts[k]
    return ~bad, reasons, codes


def _failed_text(
    pattern: int, rules: list[tuple[npt.NDArray[np.bool_], str, str]]
) -> tuple[str, str]:
    """(code of the first rule failed, the reasons of all) for a bit pattern of rules."""
    hit = [(code, reason) for b, (_, code, reason) in enumerate(rules) if pattern >> b & 1]
    return hit[0][0], "; ".join(reason for _, reason in hit)


def _bad_callsigns(cs: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bool_]:
    """Rows whose callsign bytes are not printable ASCII (0x20..0x7E) followed only by NUL
    padding: a control character or a byte above 0x7F would reach operators' displays."""
    b = np.ascontiguousarray(cs, dtype="S8").view(np.uint8).reshape(-1, 8)
    if not b.any():
        return np.zeros(len(b), dtype=np.bool_)  # no callsigns at all: the common radar case
    nul = b == 0
    after_nul = np.logical_or.accumulate(nul, axis=1) & ~nul
    unprintable = ~nul & ((b < 0x20) | (b > 0x7E))
    return np.asarray((after_nul | unprintable).any(axis=1))


def altitude_m(reports: ReportArray) -> npt.NDArray[np.float64]:
    """Altitude used for vertical separation, metres: pressure altitude where reported,
    else geometric height (no QNH or geoid correction: see docs/protocol.md)."""
    baro = reports["alt_baro_ft"]
    return np.where(np.isnan(baro), reports["alt_geo_m"], baro * FT)


def callsign_str(raw: bytes) -> str:
    """Callsign bytes from a record to text, padding removed."""
    return raw.decode("ascii", "replace").strip(" \x00")
