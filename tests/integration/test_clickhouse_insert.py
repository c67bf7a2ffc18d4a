"""Rows reach ClickHouse exactly as the sink holds them (the JSONEachRow encoding of inserts)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from smsflow.clickhouse import ClickHouse, encode_rows


def test_inserted_values_are_exact(clickhouse: ClickHouse) -> None:
    clickhouse.command(
        "CREATE TABLE t (k UInt32, at DateTime64(6, 'UTC'), maybe Nullable(DateTime64(6, 'UTC')),"
        " day Date, price Decimal(18, 8), text String, tags Array(String)) "
        "ENGINE = MergeTree ORDER BY k")
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    rows = [
        {"k": 1, "at": dt.datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=dt.UTC),
         "maybe": None, "day": dt.date(2026, 11, 30), "price": Decimal("0.00000001"),
         "text": "Grüße \"quoted\"\n😀", "tags": {"b", "a"}},
        # another offset: stored as the same instant in UTC (05:30 +05:30 = 00:00 UTC)
        {"k": 2, "at": dt.datetime(2026, 12, 1, 5, 30, tzinfo=ist),
         "maybe": dt.datetime(2026, 12, 1, 0, 0, 0, 1, tzinfo=dt.UTC), "day": dt.date(1970, 1, 1),
         "price": Decimal("1234567890.12345678"), "text": b"raw", "tags": []},
    ]
    clickhouse.insert("t", rows, dedup_token="tok-1")
    got = clickhouse.query("SELECT k, at, maybe, day, price, text, tags FROM t ORDER BY k").rows
    assert got[0][1:] == (rows[0]["at"], None, dt.date(2026, 11, 30), Decimal("0.00000001"),
                          "Grüße \"quoted\"\n😀", ["a", "b"])
    assert got[1][1:] == (dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
                          dt.datetime(2026, 12, 1, 0, 0, 0, 1, tzinfo=dt.UTC),
                          dt.date(1970, 1, 1), Decimal("1234567890.12345678"), "raw", [])


def test_encoding_is_one_json_object_per_line() -> None:
    body = encode_rows([{"a": Decimal("1.10")}, {"a": None}])
    assert body == b'{"a":"1.10"}\n{"a":null}\n'
