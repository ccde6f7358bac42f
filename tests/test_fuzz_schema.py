"""Fuzzing the report decoder: at least 100,000 random and mutated payloads.

Random bytes, random msgpack structures, and mutations of valid single-report and batch
messages (wrong types, NaN, infinity, huge numbers, truncated or mismatched columns, extra
and missing keys, wrong dtype bytes, flipped and cut bytes). For every payload:

- nothing but :class:`SchemaError` escapes :func:`decode_message`;
- a message rejected as a whole carries a code from :data:`MESSAGE_REJECT_CODES`, one
  structural mutation the code that names it;
- every rejected row carries a code from :data:`ROW_REJECT_CODES` and a reason;
- rows kept pass validation again, and rows + rejected rows = the message's rows;
- where known-bad values were planted in some rows of a good batch, exactly those rows are
  rejected and every good neighbour is kept, values intact.

Volume: ``FUZZ_PAYLOADS`` drawn from a NumPy generator seeded with ``FUZZ_SEED``. ``make
test`` runs 20,000 with a fixed seed (the same cases every run, about 15 s of CPU on the
2-core build machine; 100,000 take about a minute of CPU there, too long for every test
run); ``make fuzz`` runs 100,000 per pass with fresh seeds. A failure prints the seed and
the payload that broke it: ``FUZZ_SEED=... FUZZ_PAYLOADS=... pytest
tests/test_fuzz_schema.py`` replays it.
A hypothesis test beside it checks the vectorised validation row by row against a plain
Python reference.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.schema import (
    BATCH_KEYS,
    COLUMNS,
    MAX_AHEAD_S,
    MAX_BATCH_ROWS,
    MAX_BEHIND_S,
    MAX_EPOCH_S,
    MAX_MESSAGE_BYTES,
    MESSAGE_REJECT_CODES,
    REQUIRED,
    ROW_REJECT_CODES,
    SENSOR_KINDS,
    DecodedMessage,
    SchemaError,
    decode_message,
    empty_reports,
    encode_batch,
    validate,
)

# `make test` runs 20,000 (about 15 s of CPU here); `make fuzz` the full 100,000 and more.
FUZZ_PAYLOADS = int(os.environ.get("FUZZ_PAYLOADS", "20000"))
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "20261125"))

T0 = 1_764_054_000.0
DATA_TIME = T0 + 5.0  # the data clock passed to the decoder for about half the payloads
WALL_TIME = T0 + 3600.0  # a fixed wall clock: the same cases every run
FEEDER = "fz-1"
# Every good message carries t, position, velocity, pressure altitude and the ICAO address;
# any of these others may come along.
ALWAYS = [*REQUIRED, "alt_baro_ft", "icao"]
OPTIONAL = [c for c in COLUMNS if c not in ALWAYS and c != "alt_geo_m"]

# Values that fail a rule whatever the rest of the row says (per column).
SURELY_BAD: dict[str, list[Any]] = {
    "t": [np.nan, np.inf, -np.inf, -1.0, 0.0, 1.7e12, MAX_EPOCH_S, 1e308],
    "lat_deg": [np.nan, 90.000001, -91.0, np.inf, -1e308],
    "lon_deg": [np.nan, 180.5, -180.000001, -np.inf, 1e300],
    "alt_baro_ft": [np.inf, -np.inf, 1e6, -2001.0, 1e308],
    "alt_geo_m": [np.inf, 1e9, -1000.0],
    "ve_ms": [np.nan, np.inf, 1200.1, -1e30],
    "vn_ms": [np.nan, -np.inf, 5000.0],
    "vu_ms": [np.inf, -np.inf, 300.5, -1e10],
    "icao": [-2, 0x1000000, 2**31 - 1, -(2**31)],
    "track": [-2, -(2**31)],
    "mode3a": [-2, 0o10000, 32767, -32768],
    "callsign": [b"\x01ABC", b"\xffXYZ", b"AB\x00CD", b"\x7fDEL", b"A\nB"],
    "sigma_h_m": [-1.0, np.inf, 1e6, -np.inf],
    "sigma_v_m": [-0.5, 1e12],
    "sigma_vel_ms": [-3.0, np.inf, 1e5],
    "nacp": [-2, 12, 127, -128],
    "nacv": [-2, 5, 127],
}
# Time bounds only apply with a data clock: these fail only then.
# (Ahead means ahead of both the data clock and the wall clock: WALL_TIME is the later.)
SURELY_BAD_WITH_CLOCK = {"t": [WALL_TIME + MAX_AHEAD_S + 1.0, DATA_TIME - MAX_BEHIND_S - 1.0]}

# Odd scalars for wrong-type and out-of-range mutations.
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2**31, -(2**31) - 1, 2**63 - 1, -(2**63), 2**64 - 1,
    0.0, -0.0, 1e-320, 1e308, -1e308, math.nan, math.inf, -math.inf, "", "x", "adsb",
    "1", "\u00e9\u00e9", b"", b"\x00" * 8, b"\xff" * 16, [], [1, 2], {}, {"a": 1},
    msgpack.ExtType(5, b"ext"), msgpack.Timestamp(1, 0),
]  # fmt: skip
KEYS = [*COLUMNS, *BATCH_KEYS, "x", "", "T", "lat", "cols2", "\u00fc"]


def _good_rows(rng: np.random.Generator, n: int, cols: list[str]) -> np.ndarray:
    r = empty_reports(n)
    r["t"] = T0 + rng.uniform(0.0, 10.0, n)
    r["lat_deg"] = rng.uniform(-89.9, 89.9, n)
    r["lon_deg"] = rng.uniform(-179.9, 179.9, n)
    r["ve_ms"] = rng.uniform(-250.0, 250.0, n)
    r["vn_ms"] = rng.uniform(-250.0, 250.0, n)
    r["icao"] = rng.integers(0, 0xFFFFFF, n)
    r["alt_baro_ft"] = rng.uniform(-1000.0, 45000.0, n)
    fill = {
        "alt_geo_m": lambda: rng.uniform(0.0, 14000.0, n),
        "track": lambda: rng.integers(0, 1_000_000, n),
        "mode3a": lambda: rng.integers(0, 0o7777 + 1, n),
        "callsign": lambda: np.array([b"DLH%03d" % k for k in rng.integers(0, 999, n)]),
        "vu_ms": lambda: rng.uniform(-20.0, 20.0, n),
        "sigma_h_m": lambda: rng.uniform(0.0, 1000.0, n),
        "sigma_v_m": lambda: rng.uniform(0.0, 100.0, n),
        "sigma_vel_ms": lambda: rng.uniform(0.0, 10.0, n),
        "nacp": lambda: rng.integers(0, 12, n),
        "nacv": lambda: rng.integers(0, 5, n),
    }
    for c in cols:
        if c in fill:
            r[c] = fill[c]()
    return r


def _batch_msg(r: np.ndarray, kind: str, cols: list[str]) -> dict[str, Any]:
    present = [*ALWAYS, *cols]
    return {
        "v": 1,
        "type": "batch",
        "feeder": FEEDER,
        "kind": kind,
        "n": len(r),
        "cols": {c: np.ascontiguousarray(r[c], dtype=COLUMNS[c]).tobytes() for c in present},
    }


def _single_msg(rng: np.random.Generator, kind: str) -> dict[str, Any]:
    cols = [c for c in OPTIONAL if rng.random() < 0.4]
    row = _good_rows(rng, 1, cols)[0]
    msg: dict[str, Any] = {"v": 1, "type": "report", "feeder": FEEDER, "kind": kind}
    for c in [*ALWAYS, *cols]:
        v = row[c]
        msg[c] = v.decode() if c == "callsign" else v.item()
    return msg


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def _random_obj(rng: np.random.Generator, depth: int = 0) -> Any:
    k = int(rng.integers(0, 9 if depth < 3 else 6))
    if k == 0:
        return ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]
    if k == 1:
        return int(rng.integers(-(2**63), 2**63 - 1, dtype=np.int64))
    if k == 2:
        return float(rng.standard_normal() * 10.0 ** rng.integers(-5, 300))
    if k == 3:
        return "".join(chr(int(c)) for c in rng.integers(32, 0x3000, rng.integers(0, 12)))
    if k == 4:
        return rng.bytes(int(rng.integers(0, 40)))
    if k == 5:
        return KEYS[int(rng.integers(len(KEYS)))]
    if k == 6:
        return [_random_obj(rng, depth + 1) for _ in range(rng.integers(0, 5))]
    return {
        (KEYS[int(rng.integers(len(KEYS)))] if rng.random() < 0.8 else rng.bytes(3)): _random_obj(
            rng, depth + 1
        )
        for _ in range(rng.integers(0, 8))
    }


def _random_map(rng: np.random.Generator) -> bytes:
    """A msgpack map that looks like a message: envelope keys mostly right, the rest random."""
    msg: dict[Any, Any] = {}
    if rng.random() < 0.8:
        msg["v"] = 1 if rng.random() < 0.8 else _random_obj(rng)
    if rng.random() < 0.8:
        msg["kind"] = SENSOR_KINDS[int(rng.integers(4))] if rng.random() < 0.8 else _random_obj(rng)
    if rng.random() < 0.8:
        msg["type"] = ["batch", "report"][int(rng.integers(2))]
    for _ in range(rng.integers(0, 10)):
        msg[KEYS[int(rng.integers(len(KEYS)))]] = _random_obj(rng, 1)
    if msg.get("type") == "batch" and rng.random() < 0.7:
        n = int(rng.integers(0, 6))
        msg["n"] = n
        msg["cols"] = {
            c: rng.bytes(max(0, n * np.dtype(COLUMNS[c]).itemsize + int(rng.integers(-1, 2)) * 8))
            if rng.random() < 0.9
            else _random_obj(rng)
            for c in COLUMNS
            if rng.random() < 0.7
        }
    return _pack(msg)


# Structural mutations of a good batch of n >= 1 rows, each with the code it must get.
def _structural(rng: np.random.Generator, msg: dict[str, Any]) -> tuple[bytes, str]:
    m = dict(msg)
    cols = dict(m["cols"])
    m["cols"] = cols
    k = int(rng.integers(0, 16))
    name = list(cols)[int(rng.integers(len(cols)))]
    if k == 0:  # a column cut short or grown by a few bytes
        cut = int(rng.integers(1, 9))
        cols[name] = cols[name][:-cut] if rng.random() < 0.5 else cols[name] + b"\x00" * cut
        return _pack(m), "column_length"
    if k == 1:  # a column in another dtype's width (int32 where float64 is expected, ...)
        other = {"<f8": "<i4", "<i4": "<f8", "<i2": "<i4", "<i1": "<i2", "S8": "<i4"}
        dt = other[COLUMNS[name]]
        cols[name] = rng.bytes(m["n"] * np.dtype(dt).itemsize)
        return _pack(m), "column_length"
    if k == 2:  # a required column missing
        del cols[REQUIRED[int(rng.integers(len(REQUIRED)))]]
        return _pack(m), "missing_columns"
    if k == 3:  # both altitudes missing
        cols.pop("alt_baro_ft", None)
        cols.pop("alt_geo_m", None)
        return _pack(m), "missing_columns"
    if k == 4:
        cols[["speed_kt", "lat", "T", "t "][int(rng.integers(4))]] = b"\x00" * (8 * m["n"])
        return _pack(m), "unknown_columns"
    if k == 5:
        m[["extra", "seq", "N", "col"][int(rng.integers(4))]] = _random_obj(rng)
        return _pack(m), "unknown_fields"
    if k == 6:
        m["n"] = [-1, -(2**63), 1.0, True, "3", None, [1]][int(rng.integers(7))]
        return _pack(m), "batch_n"
    if k == 7:
        m["n"] = int(rng.integers(MAX_BATCH_ROWS + 1, 2**63 - 1, dtype=np.int64))
        return _pack(m), "batch_size"
    if k == 8:
        m["cols"] = [[], None, 3, "cols", b"x"][int(rng.integers(5))]
        return _pack(m), "batch_cols"
    if k == 9:
        cols[name] = [None, 1, 2.5, "abc", [b"x"], {"a": b""}][int(rng.integers(6))]
        return _pack(m), "column_type"
    if k == 10:
        m["v"] = [2, 0, "1", 1.0, True, None, [1], -1][int(rng.integers(8))]
        return _pack(m), "version"
    if k == 11:
        m["kind"] = ["sonar", "", "ADSB", 1, None, [1], {"k": 1}, b"adsb"][int(rng.integers(8))]
        return _pack(m), "kind"
    if k == 12:
        m["type"] = ["reports", "", None, 1, ["batch"], b"batch"][int(rng.integers(6))]
        return _pack(m), "type"
    if k == 13:
        m["feeder"] = ["other", "", None, 1, ["fz-1"], b"fz-1"][int(rng.integers(6))]
        return _pack(m), "feeder_mismatch"
    if k == 14 or rng.random() < 0.9:
        return _pack([m] if rng.random() < 0.5 else m["n"]), "not_a_map"
    # A message past the size limit is refused before it is unpacked (rarely drawn: each
    # one is 8 MiB to build).
    return _pack(m) + b"\x00" * (MAX_MESSAGE_BYTES + 1 - len(_pack(m))), "message_size"


def _mutate_single(rng: np.random.Generator, msg: dict[str, Any]) -> bytes:
    m = dict(msg)
    for _ in range(rng.integers(1, 4)):
        op = rng.random()
        key = KEYS[int(rng.integers(len(KEYS)))]
        if op < 0.15:
            m.pop(key, None)
        elif op < 0.75:
            m[key] = ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]
        elif op < 0.9 and key in SURELY_BAD:
            v = SURELY_BAD[key][int(rng.integers(len(SURELY_BAD[key])))]
            m[key] = v.decode("latin-1") if isinstance(v, bytes) else v
            m[key] = m[key].item() if isinstance(m[key], np.generic) else m[key]
        else:
            m[key] = _random_obj(rng)
    return _pack(m)


def _mutate_bytes(rng: np.random.Generator, payload: bytes) -> bytes:
    b = bytearray(payload)
    op = int(rng.integers(0, 4))
    if op == 0 and b:  # truncated anywhere
        return bytes(b[: int(rng.integers(0, len(b)))])
    if op == 1 and b:  # bytes flipped
        for i in rng.integers(0, len(b), int(rng.integers(1, 6))):
            b[i] ^= 1 << int(rng.integers(0, 8))
        return bytes(b)
    if op == 2:  # bytes inserted
        i = int(rng.integers(0, len(b) + 1))
        return bytes(b[:i]) + rng.bytes(int(rng.integers(1, 9))) + bytes(b[i:])
    return bytes(b) + rng.bytes(int(rng.integers(1, 9)))  # trailing garbage


def _check(
    d: DecodedMessage | SchemaError, payload: bytes, clock: bool, revalidate: bool = True
) -> DecodedMessage | None:
    if isinstance(d, SchemaError):
        assert d.code in MESSAGE_REJECT_CODES, (d.code, payload[:200])
        assert str(d)
        return None
    n = d.n_total
    assert d.reports.size + d.rejected_rows.size == n
    assert len(d.codes) == len(d.reasons) == d.rejected_rows.size
    assert set(d.codes) <= set(ROW_REJECT_CODES), (d.codes, payload[:200])
    assert all(d.reasons)
    rows = d.rejected_rows.tolist()
    assert rows == sorted(set(rows)) and all(0 <= i < n for i in rows)
    if not revalidate or not d.reports.size:
        return d
    again, _, _ = validate(
        d.reports, data_time=DATA_TIME if clock else None, wall_time=WALL_TIME if clock else None
    )
    assert again.all()
    return d


def _decode(payload: bytes, clock: bool) -> DecodedMessage | SchemaError:
    try:
        if clock:
            return decode_message(payload, FEEDER, data_time=DATA_TIME, wall_time=WALL_TIME)
        return decode_message(payload, FEEDER)
    except SchemaError as exc:
        return exc


def _plant_bad_rows(
    rng: np.random.Generator, kind: str, clock: bool
) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A good batch with known-bad values planted in about 30 % of its rows: (payload,
    the good rows as sent, the indices of the planted rows)."""
    n = int(rng.integers(1, 24))
    cols = [c for c in OPTIONAL if rng.random() < 0.5]
    if rng.random() < 0.3:
        cols.append("alt_geo_m")
    r = _good_rows(rng, n, cols)
    present = [*ALWAYS, *cols]
    pool = {c: SURELY_BAD[c] + (SURELY_BAD_WITH_CLOCK.get(c, []) if clock else []) for c in present}
    bad_rows = np.flatnonzero(rng.random(n) < 0.3)
    for row in bad_rows:
        if rng.random() < 0.1:  # rules that take two columns to break
            if rng.random() < 0.5:
                r["alt_baro_ft"][row] = r["alt_geo_m"][row] = np.nan
            else:
                r["icao"][row] = r["track"][row] = -1
            continue
        for _ in range(rng.integers(1, 3)):
            col = present[int(rng.integers(len(present)))]
            r[col][row] = pool[col][int(rng.integers(len(pool[col])))]
    return _pack(_batch_msg(r, kind, cols)), r, bad_rows


def test_decoder_survives_random_and_mutated_payloads() -> None:
    rng = np.random.default_rng(FUZZ_SEED)
    tally: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    rows_planted = rows_kept = 0
    start = time.perf_counter()
    for i in range(FUZZ_PAYLOADS):
        clock = bool(i & 1)
        kind = SENSOR_KINDS[int(rng.integers(4))]
        what = int(rng.integers(0, 10))
        payload = b""
        try:
            if what == 0:  # random bytes, half of them behind a map header
                label = "random_bytes"
                payload = rng.bytes(int(rng.integers(0, 200)))
                if rng.random() < 0.5:
                    payload = bytes([0x80 | int(rng.integers(0, 16))]) + payload
                res = _decode(payload, clock)
            elif what == 1:
                label = "random_msgpack"
                payload = _random_map(rng)
                res = _decode(payload, clock)
            elif what == 2:
                label = "mutated_single"
                payload = _mutate_single(rng, _single_msg(rng, kind))
                res = _decode(payload, clock)
            elif what in (3, 4, 5):
                # Exactly the planted rows go; every good neighbour stays, values intact.
                label = "batch_bad_rows"
                payload, r, bad_rows = _plant_bad_rows(rng, kind, clock)
                res = _decode(payload, clock)
                assert isinstance(res, DecodedMessage), (res, payload[:200])
                assert res.rejected_rows.tolist() == bad_rows.tolist(), (res.codes, res.reasons)
                good = np.setdiff1d(np.arange(len(r)), bad_rows)
                assert np.array_equal(res.reports["t"], r["t"][good])
                assert np.array_equal(res.reports["icao"], r["icao"][good])
                rows_planted += bad_rows.size
                rows_kept += good.size
            elif what in (6, 7):
                label = "batch_structural"
                n = int(rng.integers(1, 12))
                cols = [c for c in OPTIONAL if rng.random() < 0.5]
                payload, code = _structural(rng, _batch_msg(_good_rows(rng, n, cols), kind, cols))
                res = _decode(payload, clock)
                assert isinstance(res, SchemaError) and res.code == code, (code, res)
            elif what == 8:
                label = "batch_bytes"
                n = int(rng.integers(0, 8))
                cols = [c for c in OPTIONAL if rng.random() < 0.5]
                payload = _mutate_bytes(
                    rng, _pack(_batch_msg(_good_rows(rng, n, cols), kind, cols))
                )
                res = _decode(payload, clock)
            else:
                label = "single_bytes"
                payload = _mutate_bytes(rng, _pack(_single_msg(rng, kind)))
                res = _decode(payload, clock)
            # Re-validating what was kept doubles the cost: every 8th payload is plenty.
            _check(res, payload, clock, revalidate=i % 8 == 0)
        except Exception as exc:  # anything escaping the decoder, or a failed check
            raise AssertionError(
                f"seed {FUZZ_SEED}, payload {i}: {type(exc).__name__}: {exc}; "
                f"payload[:300]={payload[:300]!r}"
            ) from exc
        tally[label] += 1
        if isinstance(res, SchemaError):
            codes[res.code] += 1
        else:
            codes.update(res.codes)
    elapsed = time.perf_counter() - start
    assert sum(tally.values()) == FUZZ_PAYLOADS
    print(
        f"\nfuzz: {FUZZ_PAYLOADS} payloads in {elapsed:.1f} s (seed {FUZZ_SEED}); "
        f"{dict(tally)}; {rows_planted} planted bad rows rejected, {rows_kept} good kept; "
        f"codes seen: {dict(sorted(codes.items()))}"
    )
    if FUZZ_PAYLOADS >= 20_000:
        # The mix reaches every rule (message_size is drawn about once per 800 payloads).
        assert set(codes) == set(MESSAGE_REJECT_CODES) | set(ROW_REJECT_CODES)


# --- the vectorised rules against a plain Python reference, row by row ------------------


def _reference_ok(row: dict[str, Any], data_time: float | None, wall: float | None) -> bool:
    t = row["t"]
    if not (0.0 < t < MAX_EPOCH_S):
        return False
    if data_time is not None and t < data_time - MAX_BEHIND_S:
        return False
    refs = [x for x in (data_time, wall) if x is not None]
    if refs and t > max(refs) + MAX_AHEAD_S:
        return False
    if not (-90.0 <= row["lat_deg"] <= 90.0 and -180.0 <= row["lon_deg"] <= 180.0):
        return False
    baro, geo = row["alt_baro_ft"], row["alt_geo_m"]
    if math.isnan(baro) and math.isnan(geo):
        return False
    if not math.isnan(baro) and not (-2000.0 <= baro <= 100_000.0):
        return False
    if not math.isnan(geo) and not (-2000.0 * 0.3048 <= geo <= 100_000.0 * 0.3048):
        return False
    if not math.hypot(row["ve_ms"], row["vn_ms"]) <= 1200.0:
        return False
    if not (math.isnan(row["vu_ms"]) or abs(row["vu_ms"]) <= 300.0):
        return False
    if not (-1 <= row["icao"] <= 0xFFFFFF) or row["track"] < -1:
        return False
    if row["icao"] == -1 and row["track"] == -1:
        return False
    if not (-1 <= row["mode3a"] <= 0o7777) or not (-1 <= row["nacp"] <= 11):
        return False
    if not (-1 <= row["nacv"] <= 4):
        return False
    cs = row["callsign"].ljust(8, b"\x00")
    text = cs.rstrip(b"\x00")
    if any(not 0x20 <= c <= 0x7E for c in text):
        return False
    for name, bound in (("sigma_h_m", 1e5), ("sigma_v_m", 1e5), ("sigma_vel_ms", 1200.0)):
        s = row[name]
        if not math.isnan(s) and not (0.0 <= s <= bound):
            return False
    return True


_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-400.0, 400.0),
    st.sampled_from([0.0, -0.0, 90.0, -90.0, 180.0, -180.0, 1200.0, 300.0, 1e5]),
)


@st.composite
def _rows(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "t": draw(st.one_of(st.floats(allow_nan=True), st.floats(T0 - 400.0, T0 + 4000.0))),
        "lat_deg": draw(_floats),
        "lon_deg": draw(_floats),
        "alt_baro_ft": draw(st.one_of(st.just(math.nan), _floats, st.floats(-3000.0, 1.1e5))),
        "alt_geo_m": draw(st.one_of(st.just(math.nan), _floats)),
        "ve_ms": draw(_floats),
        "vn_ms": draw(_floats),
        "vu_ms": draw(st.one_of(st.just(math.nan), _floats)),
        "icao": draw(st.integers(-(2**31), 2**31 - 1) | st.sampled_from([-1, 0, 0xFFFFFF])),
        "track": draw(st.integers(-(2**31), 2**31 - 1) | st.just(-1)),
        "mode3a": draw(st.integers(-(2**15), 2**15 - 1) | st.sampled_from([-1, 0o7777])),
        "callsign": draw(st.binary(max_size=8)),
        "sigma_h_m": draw(st.one_of(st.just(math.nan), _floats)),
        "sigma_v_m": draw(st.one_of(st.just(math.nan), _floats)),
        "sigma_vel_ms": draw(st.one_of(st.just(math.nan), _floats)),
        "nacp": draw(st.integers(-128, 127)),
        "nacv": draw(st.integers(-128, 127)),
    }


@settings(max_examples=120, deadline=None)
@given(st.lists(_rows(), min_size=1, max_size=12), st.booleans())
def test_vectorised_rules_match_a_row_by_row_reference(
    rows: list[dict[str, Any]], clock: bool
) -> None:
    r = empty_reports(len(rows))
    for i, row in enumerate(rows):
        for name, value in row.items():
            r[name][i] = value
    data_time, wall = (T0, T0 + 1000.0) if clock else (None, None)
    ok, reasons, codes = validate(r, data_time=data_time, wall_time=wall)
    expected = [_reference_ok(dict(zip(r.dtype.names, rec.item(), strict=True)), data_time, wall)
                for rec in r]  # fmt: skip
    assert ok.tolist() == expected
    for i in range(len(rows)):
        assert bool(reasons[i]) == bool(codes[i]) == (not ok[i])
        assert not codes[i] or codes[i] in ROW_REJECT_CODES


@pytest.mark.parametrize("n", [0, 1, MAX_BATCH_ROWS])
def test_batch_size_limit_is_inclusive(n: int) -> None:
    r = empty_reports(n)
    r["t"], r["lat_deg"], r["lon_deg"], r["ve_ms"], r["vn_ms"] = T0, 1.0, 2.0, 0.0, 0.0
    r["alt_baro_ft"], r["icao"] = 1000.0, 1
    d = decode_message(encode_batch(FEEDER, "adsb", r), FEEDER)
    assert d.n_total == n and d.reports.size == n
