"""Wire schema v1: encode/decode round trips, validation, and rejection of bad input."""

from __future__ import annotations

import contextlib

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.schema import (
    COLUMNS,
    REPORT_DTYPE,
    SchemaError,
    altitude_m,
    decode_message,
    empty_reports,
    encode_batch,
    encode_report,
)


def _good(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = empty_reports(n)
    r["t"] = 1_764_054_000.0 + rng.uniform(0, 10, n)  # the service tests' T0 (data clock)
    r["icao"] = rng.integers(0, 0xFFFFFF, n)
    r["lat_deg"] = rng.uniform(-90, 90, n)
    r["lon_deg"] = rng.uniform(-180, 180, n)
    r["alt_baro_ft"] = rng.uniform(0, 45000, n)
    r["ve_ms"] = rng.uniform(-250, 250, n)
    r["vn_ms"] = rng.uniform(-250, 250, n)
    r["vu_ms"] = rng.uniform(-20, 20, n)
    r["callsign"] = b"TEST1"
    return r


def test_batch_round_trip_is_exact() -> None:
    r = _good(1000)
    d = decode_message(encode_batch("adsb-1", "adsb", r), "adsb-1")
    assert d.kind == "adsb" and d.feeder == "adsb-1" and d.n_total == 1000
    assert d.rejected_rows.size == 0
    assert d.reports.dtype == REPORT_DTYPE
    for name in COLUMNS:
        a, b = d.reports[name], r[name]
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_array_equal(a[~np.isnan(a)], b[~np.isnan(b)])
        else:
            np.testing.assert_array_equal(a, b)


def test_batch_columns_are_little_endian_bins() -> None:
    r = _good(3)
    msg = msgpack.unpackb(encode_batch("r", "radar", r), raw=False)
    assert msg["v"] == 1 and msg["type"] == "batch" and msg["n"] == 3
    t = np.frombuffer(msg["cols"]["t"], dtype="<f8")
    np.testing.assert_array_equal(t, r["t"])
    assert "nacp" not in msg["cols"]  # absent in every row: left out


def test_single_report_round_trip() -> None:
    payload = encode_report(
        "partner-x",
        "partner",
        t=1.764e9,
        icao=0x3C6586,
        lat_deg=50.1,
        lon_deg=8.6,
        alt_baro_ft=35000.0,
        ve_ms=200.0,
        vn_ms=-10.0,
        callsign="DLH4AB",
        mode3a=0o4321,
    )
    d = decode_message(payload, "partner-x")
    assert d.reports.size == 1 and d.rejected_rows.size == 0
    rec = d.reports[0]
    assert rec["icao"] == 0x3C6586 and rec["mode3a"] == 0o4321 and rec["callsign"] == b"DLH4AB"
    assert np.isnan(rec["vu_ms"]) and rec["track"] == -1
    assert altitude_m(d.reports)[0] == pytest.approx(35000 * 0.3048)


def test_geometric_altitude_used_when_no_pressure_altitude() -> None:
    payload = encode_report(
        "m",
        "mlat",
        t=1.764e9,
        track=7,
        lat_deg=1.0,
        lon_deg=2.0,
        alt_geo_m=1234.5,
        ve_ms=0.0,
        vn_ms=0.0,
    )
    d = decode_message(payload, "m")
    assert altitude_m(d.reports)[0] == pytest.approx(1234.5)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"\xc1garbage", "not a msgpack"),
        (msgpack.packb([1, 2, 3]), "expected a map"),
        (msgpack.packb({"v": 2, "type": "batch", "kind": "adsb"}), "version"),
        (msgpack.packb({"v": 1, "type": "batch", "kind": "sonar"}), "sensor kind"),
        (msgpack.packb({"v": 1, "type": "other", "kind": "adsb"}), "neither"),
        (msgpack.packb({"v": 1, "type": "report", "kind": "adsb", "t": 1.0}), "missing"),
        (msgpack.packb({"v": 1, "type": "batch", "kind": "adsb", "n": 2, "cols": {}}), "missing"),
        (msgpack.packb({"v": 1, "type": "report", "kind": "adsb", "feeder": "other"}), "differs"),
        (
            msgpack.packb(
                {
                    "v": 1,
                    "type": "report",
                    "kind": "adsb",
                    "t": 1.7e9,
                    "lat_deg": "x",
                    "lon_deg": 1.0,
                    "ve_ms": 1.0,
                    "vn_ms": 1.0,
                    "alt_geo_m": 1.0,
                }
            ),
            "expected a number",
        ),
    ],
)
def test_unreadable_messages_raise_with_reason(payload: bytes, fragment: str) -> None:
    with pytest.raises(SchemaError, match=fragment):
        decode_message(payload, "f")


def test_column_of_wrong_length_is_rejected() -> None:
    msg = msgpack.unpackb(encode_batch("f", "adsb", _good(4)), raw=False)
    msg["cols"]["lat_deg"] = msg["cols"]["lat_deg"][:-8]
    with pytest.raises(SchemaError, match="lat_deg"):
        decode_message(msgpack.packb(msg, use_bin_type=True), "f")


def test_unknown_column_is_rejected() -> None:
    msg = msgpack.unpackb(encode_batch("f", "adsb", _good(2)), raw=False)
    msg["cols"]["speed_kt"] = b"\x00" * 16
    with pytest.raises(SchemaError, match="unknown columns"):
        decode_message(msgpack.packb(msg, use_bin_type=True), "f")


BAD_ROWS = {
    "lat_deg": (91.0, "lat_deg"),
    "lon_deg": (-180.5, "lon_deg"),
    "alt_baro_ft": (150_000.0, "altitude"),
    "ve_ms": (np.nan, "ground speed"),
    "vu_ms": (np.inf, "vertical rate"),
    "icao": (0x1000000, "icao"),
    "t": (np.nan, "time"),
    "mode3a": (0o10000, "mode3a"),
    "sigma_h_m": (-1.0, "sigma_h_m"),
    "sigma_v_m": (np.inf, "sigma_v_m above"),
    "sigma_vel_ms": (5000.0, "sigma_vel_ms above"),
    "alt_geo_m": (1e9, "altitude"),  # geometric height checked even beside a pressure one
    "callsign": (b"AB\x07", "callsign"),
}


@pytest.mark.parametrize("field", sorted(BAD_ROWS))
def test_bad_rows_are_split_off_with_reasons(field: str) -> None:
    r = _good(5)
    value, fragment = BAD_ROWS[field]
    r[field][2] = value
    d = decode_message(encode_batch("f", "radar", r), "f")
    assert d.rejected_rows.tolist() == [2]
    assert fragment in d.reasons[0]
    assert d.reports.size == 4
    np.testing.assert_array_equal(d.reports["t"], np.delete(r["t"], 2))


def test_report_without_identity_is_rejected() -> None:
    r = _good(2)
    r["icao"][1] = -1
    r["track"][1] = -1
    d = decode_message(encode_batch("f", "radar", r), "f")
    assert d.rejected_rows.tolist() == [1] and "identity" in d.reasons[0]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(payload: bytes) -> None:
    try:
        d = decode_message(payload, "f")
    except SchemaError:
        return
    assert d.reports.size + d.rejected_rows.size == d.n_total


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*COLUMNS, "v", "type", "kind", "n", "cols", "feeder"]),
        st.one_of(
            st.none(),
            st.integers(-(2**40), 2**40),
            st.floats(),
            st.text(max_size=9),
            st.binary(max_size=24),
        ),
    )
)
def test_arbitrary_maps_never_crash(fields: dict[str, object]) -> None:
    payload = msgpack.packb(fields, use_bin_type=True)
    with contextlib.suppress(SchemaError):
        decode_message(payload, "f")


def test_empty_batch_is_valid() -> None:
    d = decode_message(encode_batch("radar-1", "radar", empty_reports(0)), "radar-1")
    assert d.n_total == 0 and d.reports.size == 0 and d.rejected_rows.size == 0


def test_report_times_are_bounded_by_the_data_clock_and_the_wall_clock() -> None:
    r = _good(6)
    clock = float(r["t"].max())
    r["t"][1] = clock + 301.0  # ahead of the data clock, but not of a wall clock a day later
    r["t"][2] = clock + 86_400.0 + 301.0  # ahead of both
    r["t"][3] = clock - 301.0  # far behind the data clock
    r["t"][4] = 1.7e12  # milliseconds: not POSIX seconds at all
    payload = encode_batch("f", "radar", r)
    d = decode_message(payload, "f", data_time=clock, wall_time=clock + 86_400.0)
    assert d.rejected_rows.tolist() == [2, 3, 4]
    assert d.codes == ("time_future", "time_past", "time")
    # Without a wall clock (or with one behind the data), the data clock bounds the future.
    d = decode_message(payload, "f", data_time=clock)
    assert d.rejected_rows.tolist() == [1, 2, 3, 4]
    # Before the first report, the wall clock alone; without clocks, the absolute bounds.
    assert decode_message(payload, "f", wall_time=clock).rejected_rows.tolist() == [1, 2, 4]
    assert decode_message(payload, "f").rejected_rows.tolist() == [4]


def test_unknown_fields_of_a_single_report_are_rejected_not_ignored() -> None:
    msg = msgpack.unpackb(
        encode_report("p", "partner", t=1.764e9, icao=1, lat_deg=1.0, lon_deg=2.0,
                      alt_baro_ft=1.0, ve_ms=0.0, vn_ms=0.0),
        raw=False,
    )  # fmt: skip
    msg["vu_fpm"] = 500.0  # a misspelt vu_ms
    with pytest.raises(SchemaError, match="vu_fpm") as exc:
        decode_message(msgpack.packb(msg), "p")
    assert exc.value.code == "unknown_fields"


def test_a_batch_claiming_more_rows_than_it_holds_allocates_nothing() -> None:
    msg = msgpack.unpackb(encode_batch("f", "adsb", _good(2)), raw=False)
    msg["n"] = 60_000  # under the row limit; the columns hold 2 rows
    with pytest.raises(SchemaError) as exc:
        decode_message(msgpack.packb(msg, use_bin_type=True), "f")
    assert exc.value.code == "column_length"
