"""Alert rules over event time, evaluated from ClickHouse (issue 19).

:func:`conditions` answers, for one evaluation instant ``t`` (event time), which rule keys are
true, reading only (through :class:`~smsflow.read_only_sql.ReadOnly`). Rules (thresholds in
:class:`~smsflow.config.AlertRules`):

- ``delivery_rate_operator`` / ``delivery_rate_country``: delivery rate (delivered before the
  window's end / submitted in it) of the window ending at ``t`` below ``(1 - delivery_drop)``
  times the same window's rate over the previous 7 days, both with ``delivery_min_volume``.
- ``latency_p95``: submit->delivered p95 of the window's messages delivered by ``t`` above
  ``latency_p95_s`` (``latency_min_samples`` samples).
- ``receipts_pending``: percent of the messages submitted in the window ending 1 h before ``t``
  without a final receipt at ``t`` above ``pending_share``.
- ``error_code_share``: an error code's share of an operator's window messages at least
  ``error_jump`` points above its share over the previous 7 days (``error_min_count``).
- ``dead_letters``: dead letters per minute over ``dead_letters_window_s`` above
  ``dead_letters_per_min``. A dead letter's time is when it failed (``failed_at``, wall
  clock), the only time an undecodable record has: live that is event time too; a replay of
  old traffic sees it at the replay's time, not the traffic's.

Every value is exact (Decimal percentages with 2 decimals, seconds with 6).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sinks.filters import epoch_us, load_query
from sinks.measures import rate
from sinks.quality import micros_to_seconds
from smsflow.clickhouse import ClickHouse
from smsflow.config import AlertRules
from smsflow.read_only_sql import ReadOnly

__all__ = ["RULES", "Condition", "conditions", "instants"]

RULES = ("delivery_rate_operator", "delivery_rate_country", "latency_p95", "receipts_pending",
         "error_code_share", "dead_letters")
_US = 1_000_000


@dataclass(frozen=True)
class Condition:
    """One rule key found true at an instant: the measured value against its threshold."""

    rule: str
    key: str
    value: Decimal
    threshold: Decimal
    detail: str


def instants(since: dt.datetime, until: dt.datetime, interval_s: int) -> list[dt.datetime]:
    """Evaluation instants ``interval_s`` apart (multiples of it since the epoch) in
    ``(since, until]``: the same instants whoever evaluates and from wherever they start."""
    step = interval_s * _US
    first = (epoch_us(since) // step + 1) * step
    last = epoch_us(until)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return [epoch + dt.timedelta(microseconds=us) for us in range(first, last + 1, step)]


def _rows(ch: ClickHouse, name: str, t: dt.datetime, window_s: int) -> list[dict[str, Any]]:
    return ReadOnly(ch).query(
        load_query(name), {"t_us": epoch_us(t), "window_us": window_s * _US}
    ).dicts()


def _pct(part: int, whole: int) -> Decimal:
    return rate(part, whole)


def _delivery(rows: list[dict[str, Any]], r: AlertRules) -> list[Condition]:
    # (country, operator) -> [now_total, now_delivered, base_total, base_delivered]
    per_op: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        i = 0 if int(row["d"]) == 0 else 2
        acc = per_op[(row["country"], row["operator"])]
        acc[i] += int(row["total"])
        acc[i + 1] += int(row["delivered"])
    per_country: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (country, _), acc in per_op.items():
        per_country[country] = [a + b for a, b in zip(per_country[country], acc, strict=True)]
    out = []
    keyed = [("delivery_rate_operator", f"{c}/{o}", acc) for (c, o), acc in per_op.items()]
    keyed += [("delivery_rate_country", c, acc) for c, acc in per_country.items()]
    for rule, key, (n, dl, bn, bdl) in keyed:
        if n < r.delivery_min_volume or bn < r.delivery_min_volume:
            continue
        now, base = Decimal(dl) / n, Decimal(bdl) / bn
        limit = base * (1 - r.delivery_drop)
        if now < limit:
            out.append(Condition(
                rule, key, _pct(dl, n), (100 * limit).quantize(Decimal("0.01"), ROUND_HALF_UP),
                f"{dl}/{n} delivered; previous 7 days {bdl}/{bn} ({_pct(bdl, bn)}%)",
            ))
    return out


def _errors(rows: list[dict[str, Any]], r: AlertRules) -> list[Condition]:
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    failed: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        i = 0 if int(row["d"]) == 0 else 1
        op = (row["country"], row["operator"])
        totals[op][i] += int(row["total"])
        if row["error_code"] is not None:
            failed[(*op, int(row["error_code"]))][i] += int(row["failed"])
    out = []
    for (country, operator, code), (now, base) in failed.items():
        n, bn = totals[(country, operator)]
        if now < r.error_min_count or n < r.delivery_min_volume or bn < r.delivery_min_volume:
            continue
        share, base_share = Decimal(100 * now) / n, Decimal(100 * base) / bn
        if share - base_share >= r.error_jump:
            out.append(Condition(
                "error_code_share", f"{country}/{operator}/{code}", _pct(now, n),
                (base_share + r.error_jump).quantize(Decimal("0.01"), ROUND_HALF_UP),
                f"{now}/{n} failed with {code}; previous 7 days {base}/{bn}",
            ))
    return out


def _latency(rows: list[dict[str, Any]], r: AlertRules) -> list[Condition]:
    out = []
    for row in rows:
        p95 = micros_to_seconds(row["p95_us"])
        if int(row["samples"]) >= r.latency_min_samples and p95 is not None \
                and p95 > r.latency_p95_s:
            out.append(Condition("latency_p95", f"{row['country']}/{row['operator']}", p95,
                                 r.latency_p95_s, f"{row['samples']} delivered"))
    return out


def _pending(rows: list[dict[str, Any]], r: AlertRules) -> list[Condition]:
    out = []
    for row in rows:
        n, p = int(row["total"]), int(row["pending"])
        if n >= r.pending_min_volume and Decimal(100 * p) / n > r.pending_share:
            out.append(Condition("receipts_pending", f"{row['country']}/{row['operator']}",
                                 _pct(p, n), r.pending_share, f"{p}/{n} pending > 1 h"))
    return out


def _dead_letters(rows: list[dict[str, Any]], r: AlertRules) -> list[Condition]:
    n = int(rows[0]["dead_letters"]) if rows else 0
    per_min = (Decimal(n * 60) / r.dead_letters_window_s).quantize(Decimal("0.01"),
                                                                   ROUND_HALF_UP)
    if per_min > r.dead_letters_per_min:
        return [Condition("dead_letters", "all", per_min, r.dead_letters_per_min,
                          f"{n} in {r.dead_letters_window_s} s")]
    return []


def conditions(ch: ClickHouse, t: dt.datetime, rules: AlertRules) -> list[Condition]:
    """Every rule key true at event time ``t`` (sorted by rule, key)."""
    delivery = _rows(ch, "alert_delivery", t, rules.window_s)
    found = [
        *_delivery(delivery, rules),
        *_errors(delivery, rules),
        *_latency(_rows(ch, "alert_latency", t, rules.window_s), rules),
        *_pending(_rows(ch, "alert_pending", t, rules.window_s), rules),
        *_dead_letters(_rows(ch, "alert_deadletters", t, rules.dead_letters_window_s), rules),
    ]
    return sorted(found, key=lambda c: (c.rule, c.key))
