"""Delivery-quality reports: ``latency``, ``pending``, ``errors``, ``replies`` (issue 9) and
``flags`` (messages kept under the acceptance policy, per reason; issue 17).

Each turns the rows of its named query (``sinks/queries/<name>.sql``) into the documented
columns (:data:`HEADERS`). Exact arithmetic only: latencies are integer microseconds rendered
as seconds with 6 decimals, rates are Decimal ``100 * part / whole`` ROUND_HALF_UP to 2 decimals.

Percentile method (``latency``): nearest rank on the exact values. For ``n`` samples sorted
ascending, the p-th percentile is the value at 1-based rank ``ceil(p * n / 100)`` computed in
integers; ClickHouse computes it in SQL and :func:`nearest_rank` is the same rule in Python.

Bad filters raise :class:`~smsflow.errors.ValidationError`; ClickHouse failures
:class:`~smsflow.errors.ClickHouseError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sinks.filters import Filters, query_result, query_rows
from sinks.measures import rate
from smsflow.clickhouse import ClickHouse, Result

__all__ = ["HEADERS", "PERCENTILES", "QUALITY_REPORTS", "micros_to_seconds", "nearest_rank",
           "ratio"]

PERCENTILES = (50, 95, 99)
_RATIO = Decimal("0.01")
_INT = "Int64"
_RATE_T = "Decimal(5, 2)"
_SECONDS_T = "Nullable(Decimal(18, 6))"

HEADERS: dict[str, list[str]] = {
    "latency": [
        "Date", "Country", "Operator",
        "Submit-Sent Samples", "Submit-Sent p50 (s)", "Submit-Sent p95 (s)",
        "Submit-Sent p99 (s)",
        "Submit-Delivered Samples", "Submit-Delivered p50 (s)", "Submit-Delivered p95 (s)",
        "Submit-Delivered p99 (s)",
    ],
    "pending": [
        "Operator", "Sent", "Final Receipt", "DLR Coverage", "Pending", "< 1 h", "1-6 h",
        "6-24 h", "24-48 h", "Expired", "Queued",
    ],
    "errors": [
        "Country", "Operator", "Status", "Error Code", "Error Message", "Messages",
        "Operator Total", "Share",
    ],
    "replies": [
        "Subaccount", "Sender", "Outbound", "Replied", "Reply Rate", "Replies", "Opt-outs",
    ],
    "flags": ["Flag", "Messages"],
}


def nearest_rank(sorted_values: Sequence[int], p: int) -> int | None:
    """The ``p``-th percentile (integer percent 1..100) of ascending values by nearest rank:
    the value at 1-based rank ``ceil(p * n / 100)``; None for no values."""
    n = len(sorted_values)
    if n == 0:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in 1..100, got {p}")
    return sorted_values[(p * n + 99) // 100 - 1]


def micros_to_seconds(us: int | None) -> Decimal | None:
    """Integer microseconds as exact seconds with 6 decimals (``2.345678``); None stays None."""
    if us is None:
        return None
    return Decimal(us).scaleb(-6)  # exact: an integer's exponent 0 becomes -6


def ratio(part: int, whole: int) -> Decimal:
    """``part / whole`` rounded half-up to 2 decimals; ``0.00`` when ``whole`` is 0."""
    if whole == 0:
        return Decimal("0.00")
    return (Decimal(part) / Decimal(whole)).quantize(_RATIO, ROUND_HALF_UP)


def _latency(ch: ClickHouse, f: Filters) -> Result:
    seconds = micros_to_seconds
    rows = [
        (day, country, operator, int(sent_n), seconds(s50), seconds(s95), seconds(s99),
         int(delivered_n), seconds(d50), seconds(d95), seconds(d99))
        for day, country, operator, sent_n, s50, s95, s99, delivered_n, d50, d95, d99
        in query_result(ch, "latency", f).rows
    ]
    types = ["Date", "String", "String", *([_INT, *[_SECONDS_T] * 3] * 2)]
    return Result(list(HEADERS["latency"]), types, rows)


_PENDING = ("sent", "final", "pending", "lt_1h", "h1_6", "h6_24", "h24_48", "expired", "queued")


def _pending_row(label: str, n: dict[str, int]) -> tuple[Any, ...]:
    return (label, n["sent"], n["final"], rate(n["final"], n["sent"]), n["pending"], n["lt_1h"],
            n["h1_6"], n["h6_24"], n["h24_48"], n["expired"], n["queued"])


def _pending(ch: ClickHouse, f: Filters) -> Result:
    total = dict.fromkeys(_PENDING, 0)
    rows = []
    for r in query_rows(ch, "pending", f):
        n = {k: int(r[k]) for k in _PENDING}
        for k in _PENDING:
            total[k] += n[k]
        rows.append(_pending_row(r["operator"], n))
    rows.append(_pending_row("Total", total))
    types = ["String", _INT, _INT, _RATE_T, *[_INT] * 7]
    return Result(list(HEADERS["pending"]), types, rows)


def _errors(ch: ClickHouse, f: Filters) -> Result:
    rows = [
        (r["country"], r["operator"], r["state"], r["error_code"], r["error_message"],
         int(r["messages"]), int(r["operator_total"]),
         rate(int(r["messages"]), int(r["operator_total"])))
        for r in query_rows(ch, "errors", f)
    ]
    types = ["String", "String", "String", "Nullable(Int32)", "String", _INT, _INT, _RATE_T]
    return Result(list(HEADERS["errors"]), types, rows)


def _replies(ch: ClickHouse, f: Filters) -> Result:
    rows = [
        (r["subaccount_id"], r["source"], int(r["outbound"]), int(r["replied"]),
         rate(int(r["replied"]), int(r["outbound"])), int(r["replies"]), int(r["opt_outs"]))
        for r in query_rows(ch, "replies", f)
    ]
    types = ["String", "String", _INT, _INT, _RATE_T, _INT, _INT]
    return Result(list(HEADERS["replies"]), types, rows)


def _flags(ch: ClickHouse, f: Filters) -> Result:
    rows = [(r["flag"], int(r["messages"])) for r in query_rows(ch, "flags", f)]
    return Result(list(HEADERS["flags"]), ["String", _INT], rows)


QUALITY_REPORTS: dict[str, Callable[[ClickHouse, Filters], Result]] = {
    "latency": _latency,
    "pending": _pending,
    "errors": _errors,
    "replies": _replies,
    "flags": _flags,
}
