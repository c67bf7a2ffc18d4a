"""What one message adds to the daily report, and the delta rows between two versions.

Pure functions of a ``MessageState`` dict (docs/design.md "Report semantics", binding):

* :func:`contribution` - the report key ``(day, subaccount_id, country, operator, origin,
  encoding, campaign_id, currency)`` and the measures of one message, or None when it counts
  nowhere yet (receipts without a request, orphans).
* :func:`delta_rows` - ``DailyDelta`` rows = contribution - previous_contribution per key, with
  identity ``(umid, version, key)``. A pure function of the state record, so a replayed record
  yields byte-identical rows that downstream deduplication collapses; summing every row of a key
  gives the current truth after any sequence of versions (the sum telescopes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from operator import add, itemgetter
from typing import Any

__all__ = ["KEY_FIELDS", "MEASURES", "change_time", "contribution", "delta_rows", "request_hour"]

KEY_FIELDS = (
    "day",
    "subaccount_id",
    "country",
    "operator",
    "origin",
    "encoding",
    "campaign_id",
    "currency",
)
COUNT_MEASURES = (
    "total",
    "received",
    "sent",
    "delivered",
    "undelivered",
    "rejected",
    "chargeable",
    "segments",
    "verification_sent",
    "verification_converted",
    "replies",
    "inbound",
    "survey_answered",
    "clicked",
)
MEASURES = (*COUNT_MEASURES, "cost")
_ZERO = Decimal("0E-8")
_SENT = frozenset({"sent", "delivered", "undelivered", "read"})
_DELIVERED = frozenset({"delivered", "read"})
_TIMES = ("queued_at", "rejected_at", "sent_at", "delivered_at", "undelivered_at", "read_at",
          "converted_at", "replied_at", "first_event_at")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_key_of = itemgetter(*KEY_FIELDS)
_counts_of = itemgetter(*COUNT_MEASURES)
_times_of = itemgetter(*_TIMES)


def _s(value: str | None) -> str:
    return value if value is not None else ""


def _zero_measures() -> dict[str, Any]:
    m: dict[str, Any] = dict.fromkeys(COUNT_MEASURES, 0)
    m["cost"] = _ZERO
    return m


def contribution(state: dict[str, Any]) -> dict[str, Any] | None:
    """The ``Contribution`` record of one message version, None when it counts nowhere.

    Outbound with a request: day = UTC date of the request's ``queued_at`` (its submitted
    time); cost = ``price_total`` unless rejected or unpriced (then 0; currency '' until
    priced). Inbound MO: ``inbound = 1`` on the UTC day of its receipt, key (day, subaccount,
    country of the MO source, '', '', encoding, '', currency of its price), cost 0.
    """
    if not state["has_request"]:
        return None
    c: dict[str, Any]
    if state["direction"] == "INBOUND":
        c = {
            "day": state["first_event_at"].astimezone(dt.UTC).date(),
            "subaccount_id": _s(state["subaccount_id"]),
            "country": _s(state["country"]),
            "operator": "",
            "origin": "",
            "encoding": _s(state["encoding"]),
            "campaign_id": "",
            "currency": _s(state["currency"]),
        }
        c.update(_zero_measures())
        c["inbound"] = 1
        return c
    st = state["state"]
    rejected = 1 if st == "rejected" else 0
    priced = state["price_total"] is not None
    c = {
        "day": state["queued_at"].astimezone(dt.UTC).date(),
        "subaccount_id": _s(state["subaccount_id"]),
        "country": _s(state["country"]),
        "operator": _s(state["operator"]),
        "origin": _s(state["origin"]),
        "encoding": _s(state["encoding"]),
        "campaign_id": _s(state["campaign_id"]),
        "currency": _s(state["currency"]) if priced else "",
        "total": 1,
        "received": 1 if st == "queued" else 0,
        "sent": 1 if st in _SENT else 0,
        "delivered": 1 if st in _DELIVERED else 0,
        "undelivered": 1 if st == "undelivered" else 0,
        "rejected": rejected,
        "chargeable": 1 - rejected,
        "segments": int(state["sms_count"]),
        "verification_sent": 1 if state["verification"] else 0,
        "verification_converted": 1 if state["verification"] and state["converted"] else 0,
        "replies": 1 if state["replied"] else 0,
        "inbound": 0,
        "survey_answered": 1 if state["survey_answered"] else 0,
        "clicked": 1 if state["clicked"] else 0,
        "cost": (state["price_total"] + _ZERO) if priced and not rejected else _ZERO,
    }
    return c


def change_time(state: Mapping[str, Any]) -> dt.datetime:
    """The latest event time recorded in the state: the ``event_at`` of its delta rows.

    A pure function of the record (replays give the same value), close to the time of the
    event that caused the version.
    """
    try:  # a decoded record has every field: one itemgetter call
        times = _times_of(state)
    except KeyError:
        times = tuple(map(state.get, _TIMES))
    return max(filter(None, times), default=_EPOCH)


def request_hour(state: Mapping[str, Any]) -> int:
    """The UTC hour (0-23) of the time that gives a message its report day: the request's
    ``queued_at``, the receipt time ``first_event_at`` of an inbound MO; 0 without it.

    The roll-ups cut open days by it (sinks/README.md "Sealed hours"); ``messages_by_day``
    computes the same from its row (migration 0011: keep the two in step).
    """
    at = state.get("first_event_at" if state.get("direction") == "INBOUND" else "queued_at")
    return at.astimezone(dt.UTC).hour if at is not None else 0


def delta_rows(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``DailyDelta`` rows of one state version: contribution - previous_contribution per key.

    Keys whose measures do not change give no row; a version that moves the message to another
    key (operator learnt from a receipt, currency learnt from the price) gives a negative row
    for the old key and a positive one for the new key. Never raises on a valid MessageState.
    The sink runs this on every state record: the measures go as tuples (``itemgetter``), and
    the cost is summed in the same order as ever from ``0E-8`` (the same Decimal, digits too).
    """
    prev, cur = state.get("previous_contribution"), state.get("contribution")
    # (key, count measures, cost) per key, the previous contribution's sign first
    parts: list[tuple[tuple[Any, ...], tuple[int, ...], Decimal]] = []
    if prev is not None:
        parts.append((_key_of(prev), tuple(-n for n in _counts_of(prev)), _ZERO - prev["cost"]))
    if cur is not None:
        key, counts = _key_of(cur), _counts_of(cur)
        if parts and parts[0][0] == key:  # the usual version: the same key, one row
            _, before, cost = parts[0]
            parts[0] = (key, tuple(map(add, before, counts)), cost + cur["cost"])
        else:
            parts.append((key, counts, _ZERO + cur["cost"]))
    rows: list[dict[str, Any]] = []
    if not parts:
        return rows
    event_at, hour = change_time(state), request_hour(state)
    for key, counts, cost in parts:
        if not cost and not any(counts):
            continue
        row: dict[str, Any] = {"umid": state["umid"], "version": state["version"]}
        row.update(zip(KEY_FIELDS, key, strict=True))
        row.update(zip(COUNT_MEASURES, counts, strict=True))
        row["cost"] = cost
        row["event_at"] = event_at
        row["hour"] = hour
        rows.append(row)
    return rows
