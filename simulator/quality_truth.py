"""Ground truth of the delivery-quality reports (issue 9) from the simulator's per-message facts.

Computed from :class:`~simulator.truth.MessageTruth` /
:class:`~simulator.truth.InboundTruth` only, never from pipeline output. Sections
added to truth.json:

* ``latency``: per (send day, country, operator): submit -> sent and submit -> delivered
  ``{"samples": n, "p50": s, "p95": s, "p99": s}``, seconds with 6 decimals as strings, ``None``
  without samples. Percentile = nearest rank: value at 1-based rank ``ceil(p * n / 100)`` of the
  exact microsecond values sorted ascending (integer arithmetic).
* ``pending``: ``{"at", "operators": [...], "total": {...}}``; per operator: sent (state sent,
  delivered, undelivered or read), final (delivered, undelivered, read), coverage (rate), pending
  (state sent) bucketed by age ``at - submitted_at``: lt_1h, h1_6, h6_24, h24_48, expired
  (>= 48 h); queued (never a receipt). ``at`` is the simulation's stream end.
* ``errors``: per (country, operator, state, error_code, error_message) of undelivered and
  rejected messages (rejected: no code, the platform's description): messages, operator_total
  (every message of the country x operator), share (rate).
* ``replies``: per (subaccount, sender id): outbound, replied, reply_rate, replies (MOs answering
  them), opt_outs (those replies that are stop keywords).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from simulator.truth import InboundTruth, MessageTruth, rate, to_json_value

__all__ = ["AGE_BUCKETS", "PERCENTILES", "nearest_rank", "quality_truth", "seconds"]

PERCENTILES = (50, 95, 99)
_HOUR_US = 3600 * 1_000_000
#: (name, lower bound inclusive, upper bound exclusive) of pending ages in microseconds
AGE_BUCKETS: tuple[tuple[str, int | None, int | None], ...] = (
    ("lt_1h", None, _HOUR_US),
    ("h1_6", _HOUR_US, 6 * _HOUR_US),
    ("h6_24", 6 * _HOUR_US, 24 * _HOUR_US),
    ("h24_48", 24 * _HOUR_US, 48 * _HOUR_US),
    ("expired", 48 * _HOUR_US, None),
)
_PENDING_KEYS = ("sent", "final", "pending", *(b[0] for b in AGE_BUCKETS), "queued")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def nearest_rank(sorted_values: Sequence[int], p: int) -> int | None:
    """Nearest-rank ``p``-th percentile of ascending values (None when empty)."""
    n = len(sorted_values)
    if n == 0:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in 1..100, got {p}")
    return sorted_values[(p * n + 99) // 100 - 1]


def seconds(us: int | None) -> str | None:
    """Microseconds as a seconds string with exactly 6 decimals (``-0.000001`` kept signed)."""
    if us is None:
        return None
    sign = "-" if us < 0 else ""
    whole, frac = divmod(abs(us), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def _us(a: dt.datetime, b: dt.datetime) -> int:
    return (b - a) // dt.timedelta(microseconds=1)


def _stats(values: list[int]) -> dict[str, Any]:
    values.sort()
    out: dict[str, Any] = {"samples": len(values)}
    for p in PERCENTILES:
        out[f"p{p}"] = seconds(nearest_rank(values, p))
    return out


def _latency(messages: list[MessageTruth]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], tuple[list[int], list[int]]] = defaultdict(
        lambda: ([], []))
    for m in messages:
        if m.sent_at is None and m.delivered_at is None:
            continue
        sent, delivered = groups[(m.day.isoformat(), m.country or "", m.operator)]
        if m.sent_at is not None:
            sent.append(_us(m.submitted_at, m.sent_at))
        if m.delivered_at is not None:
            delivered.append(_us(m.submitted_at, m.delivered_at))
    return [
        {"day": k[0], "country": k[1], "operator": k[2], "sent": _stats(s),
         "delivered": _stats(d)}
        for k, (s, d) in sorted(groups.items())
    ]


def _bucket(age_us: int) -> str:
    for name, lo, hi in AGE_BUCKETS:
        if (lo is None or age_us >= lo) and (hi is None or age_us < hi):
            return name
    raise AssertionError("buckets cover every age")  # pragma: no cover


def _pending_row(n: dict[str, int]) -> dict[str, Any]:
    return {**n, "coverage": rate(n["final"], n["sent"])}


def _pending(messages: list[MessageTruth], at: dt.datetime | None) -> dict[str, Any]:
    per_op: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_PENDING_KEYS, 0))
    for m in messages:
        if m.state == "rejected":
            continue
        n = per_op[m.operator]
        if m.state == "queued":
            n["queued"] += 1
            continue
        n["sent"] += 1
        if m.state == "sent":
            n["pending"] += 1
            if at is not None:
                n[_bucket(_us(m.submitted_at, at))] += 1
        else:
            n["final"] += 1
    total = dict.fromkeys(_PENDING_KEYS, 0)
    for n in per_op.values():
        for k in _PENDING_KEYS:
            total[k] += n[k]
    return {
        "at": to_json_value(at) if at is not None else None,
        "operators": [{"operator": op, **_pending_row(n)} for op, n in sorted(per_op.items())],
        "total": _pending_row(total),
    }


def _errors(messages: list[MessageTruth]) -> list[dict[str, Any]]:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    counts: dict[tuple[str, str, str, int | None, str], int] = defaultdict(int)
    for m in messages:
        key = (m.country or "", m.operator)
        totals[key] += 1
        if m.state == "undelivered":
            counts[(*key, "undelivered", m.error_code, m.error_message or "")] += 1
        elif m.state == "rejected":
            counts[(*key, "rejected", None, m.status_description or "")] += 1

    def order(k: tuple[str, str, str, int | None, str]) -> tuple[Any, ...]:
        return (k[0], k[1], k[2], k[3] is not None, k[3] or 0, k[4])

    return [
        {"country": k[0], "operator": k[1], "state": k[2], "error_code": k[3],
         "error_message": k[4], "messages": n, "operator_total": totals[(k[0], k[1])],
         "share": rate(n, totals[(k[0], k[1])])}
        for k, n in sorted(counts.items(), key=lambda kv: order(kv[0]))
    ]


def _replies(messages: list[MessageTruth], inbound: list[InboundTruth]) -> list[dict[str, Any]]:
    by_umid = {m.umid: m for m in messages}
    acc: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"outbound": 0, "replied": 0, "replies": 0, "opt_outs": 0})
    for m in messages:
        a = acc[(m.subaccount_id, m.source or "")]
        a["outbound"] += 1
        a["replied"] += m.replied
    for mo in inbound:
        if mo.reply_to is None:
            continue
        o = by_umid[mo.reply_to]
        a = acc[(o.subaccount_id, o.source or "")]
        a["replies"] += 1
        a["opt_outs"] += mo.opt_out
    return [
        {"subaccount_id": k[0], "source": k[1], **a, "reply_rate": rate(a["replied"],
                                                                        a["outbound"])}
        for k, a in sorted(acc.items())
    ]


def quality_truth(
    messages: list[MessageTruth], inbound: list[InboundTruth], *, at: dt.datetime | None
) -> dict[str, Any]:
    """The ``latency``, ``pending``, ``errors`` and ``replies`` sections (pure). ``at`` is the
    reference time of the pending ages (the stream end; None: no message is bucketed)."""
    return {
        "latency": _latency(messages),
        "pending": _pending(messages, at),
        "errors": _errors(messages),
        "replies": _replies(messages, inbound),
    }
