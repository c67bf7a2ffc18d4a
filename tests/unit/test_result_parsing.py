"""ClickHouse answers become exact Python values (smsflow.clickhouse.parse_result), on a real
engine (chDB): every column type the reports and sinks read, NULLs, arrays, and text that holds
JSON-special and line-separator characters (the parser splits the answer on newlines only)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from smsflow.clickhouse import ClickHouse, parse_result

UTC = dt.UTC


def test_every_type_parses_exactly(clickhouse: ClickHouse) -> None:
    res = clickhouse.query(
        "SELECT toDecimal64('0.04210000', 8) AS cost, toInt64(-9007199254740993) AS big, "
        "toUInt8(7) AS small, toFloat64(0.5) AS f, "
        "toDateTime64('2024-05-01 12:34:56.000007', 6, 'UTC') AS at, "
        "toDate('2024-05-02') AS day, true AS ok, "
        "toLowCardinality('a\u2028b\u0085c\"\\n') AS text, "
        "CAST(NULL AS Nullable(Decimal(18, 8))) AS none, "
        "[toNullable(toInt64(3)), NULL] AS xs, [toDate('2024-01-01')] AS days, "
        "CAST([] AS Array(Int64)) AS empty "
        "FROM numbers(2)"
    )
    assert res.columns[:3] == ["cost", "big", "small"]
    assert res.rows == [(
        Decimal("0.04210000"), -9007199254740993, 7, 0.5,
        dt.datetime(2024, 5, 1, 12, 34, 56, 7, tzinfo=UTC), dt.date(2024, 5, 2), True,
        'a\u2028b\u0085c"\n', None, [3, None], [dt.date(2024, 1, 1)], [],
    )] * 2
    assert type(res.rows[0][0]) is Decimal  # exact, not through float


def test_an_empty_answer_has_no_rows() -> None:
    assert parse_result(b"").rows == []
    only_header = b'["n"]\n["UInt64"]\n'
    assert parse_result(only_header).rows == [] and parse_result(only_header).columns == ["n"]
