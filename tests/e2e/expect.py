"""Expected report rows computed from the simulator's ground truth (truth.json).

Each function returns the rows a report must show, as lists of strings in the report's
column order, so tests compare the CSV output exactly (counts, rates, cost to 8 decimals).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from simulator.truth import STATUS_ORDER

__all__ = ["MESSAGE_FIELDS_SQL", "average", "campaigns", "check_timeline", "clicks",
           "conversions", "countries", "daily", "dashboard", "engage", "errors", "flags",
           "latency", "message_differences", "money", "pending", "rate", "ratio", "replies",
           "timeline_sample"]

COUNTS = ("total", "sent", "chargeable", "delivered", "undelivered", "rejected", "received",
          "segments", "inbound")


def rate(part: int, whole: int) -> str:
    if whole == 0:
        return "0.00"
    return str((Decimal(100) * part / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def ratio(part: int, whole: int) -> str:
    """``part / whole`` half-up to 2 decimals ("0.00" when whole is 0)."""
    if whole == 0:
        return "0.00"
    return str((Decimal(part) / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def average(cost: dict[str, Decimal] | dict[str, str], count: int) -> str:
    """Per-currency ``cost / count`` cell (8 decimals half-up, ';'-separated like Cost)."""
    if not cost:
        return "0.00000000"
    cells = []
    for cur in sorted(cost):
        amount = Decimal(cost[cur]).quantize(Decimal("0.00000001"))
        avg = Decimal(0) if count == 0 else amount / count
        cells.append(f"{avg.quantize(Decimal('0.00000001'), rounding=ROUND_HALF_UP):.8f}")
    return ";".join(cells)


def money(cost: dict[str, str]) -> tuple[str, str]:
    """(Cost, Currency) cells: amounts ';'-separated per currency, 0 when nothing was priced."""
    if not cost:
        return "0.00000000", ""
    cur = sorted(cost)
    return ";".join(f"{Decimal(cost[c]):.8f}" for c in cur), ";".join(cur)


def _sum(rows: list[dict[str, Any]], key: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, Any]]:
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in rows:
        k = tuple(r[f] for f in key)
        acc = out.setdefault(k, {**{c: 0 for c in COUNTS}, "cost": defaultdict(Decimal)})
        for c in COUNTS:
            acc[c] += int(r[c])
        for cur, amount in r["cost"].items():
            acc["cost"][cur] += Decimal(amount)
    return out


def _cost(acc: dict[str, Any]) -> dict[str, str]:
    return {c: str(v) for c, v in acc["cost"].items()}


def daily(truth: dict[str, Any], subaccount: str | None = None) -> list[list[str]]:
    """Rows of ``report daily`` (optionally for one subaccount), by day."""
    rows = [r for r in truth["daily"] if subaccount in (None, r["subaccount_id"])]
    out = []
    for (day,), a in sorted(_sum(rows, ("day",)).items()):
        cost, cur = money(_cost(a))
        out.append([
            day, str(a["total"]), str(a["sent"]), str(a["chargeable"]), str(a["delivered"]),
            str(a["undelivered"]), str(a["rejected"]), str(a["received"]),
            rate(a["delivered"], a["total"]), cost, cur, str(a["inbound"]),
            str(a["segments"]), ratio(a["segments"], a["total"]),
            average(a["cost"], a["segments"]),
        ])
    return out


def dashboard(truth: dict[str, Any]) -> list[list[str]]:
    """Rows of ``report dashboard`` without the Destination Countries of the day rows."""
    d = truth["dashboard"]
    out = []
    for p in d["per_day"]:
        cost, cur = money(p["cost"])
        out.append([p["day"], str(p["total"]), str(p["delivered"]), p["delivery_rate"], cost, cur,
                    p["average_cost"]])
    cost, cur = money(d["cost"])
    out.append(["Total", str(d["total"]), str(d["delivered"]), d["delivery_rate"], cost, cur])
    return out


def countries(truth: dict[str, Any]) -> list[list[str]]:
    """Rows of ``report countries`` with outbound traffic, by (country, operator)."""
    out = []
    for (country, operator), a in sorted(_sum(truth["daily"], ("country", "operator")).items()):
        if a["total"] == 0:
            continue
        cost, cur = money(_cost(a))
        out.append([
            country, operator, str(a["total"]), str(a["sent"]), str(a["delivered"]),
            str(a["undelivered"]), str(a["rejected"]), rate(a["delivered"], a["total"]),
            str(a["segments"]), cost, cur, average(a["cost"], a["delivered"]),
            ratio(a["segments"], a["total"]),
        ])
    return out


def campaigns(truth: dict[str, Any]) -> dict[str, list[str]]:
    """campaign -> [Total, Delivered, Delivery Rate, Cost, Currency]."""
    out = {}
    for c in truth["campaigns"]:
        cost, cur = money(c["cost"])
        out[c["campaign_id"]] = [str(c["total"]), str(c["delivered"]), c["delivery_rate"], cost,
                                 cur]
    return out


def conversions(truth: dict[str, Any]) -> list[list[str]]:
    out = []
    for c in truth["conversions"]:
        cost, cur = money(c["cost"])
        out.append([c["day"], str(c["verification_sent"]), str(c["converted"]),
                    c["conversion_rate"], cost, cur])
    return out


def _cell(v: Any) -> str:
    return "" if v is None else str(v)


def latency(truth: dict[str, Any]) -> list[list[str]]:
    """Rows of ``report latency``: samples and nearest-rank p50/p95/p99 per stage."""
    out = []
    for r in truth["latency"]:
        row = [r["day"], r["country"], r["operator"]]
        for stage in ("sent", "delivered"):
            st = r[stage]
            row += [str(st["samples"]), _cell(st["p50"]), _cell(st["p95"]), _cell(st["p99"])]
        out.append(row)
    return out


_PENDING = ("sent", "final", "coverage", "pending", "lt_1h", "h1_6", "h6_24", "h24_48",
            "expired", "queued")


def pending(section: dict[str, Any]) -> list[list[str]]:
    """Rows of ``report pending --at <section["at"]>`` (operators, then Total)."""
    rows = [[r["operator"], *(str(r[k]) for k in _PENDING)] for r in section["operators"]
            if r["sent"] + r["queued"] > 0]
    return [*rows, ["Total", *(str(section["total"][k]) for k in _PENDING)]]


def errors(truth: dict[str, Any]) -> list[list[str]]:
    return [
        [r["country"], r["operator"], r["state"], _cell(r["error_code"]), r["error_message"],
         str(r["messages"]), str(r["operator_total"]), r["share"]]
        for r in truth["errors"]
    ]


def replies(truth: dict[str, Any]) -> list[list[str]]:
    return [
        [r["subaccount_id"], r["source"], str(r["outbound"]), str(r["replied"]),
         r["reply_rate"], str(r["replies"]), str(r["opt_outs"])]
        for r in truth["replies"]
    ]


#: per outbound message with a request: what every event of it leaves behind in the state
MESSAGE_FIELDS_SQL = (
    "SELECT umid, state, sent_at IS NOT NULL, delivered_at IS NOT NULL, "
    "undelivered_at IS NOT NULL, read_at IS NOT NULL, converted, replied, survey_answered "
    "FROM messages FINAL WHERE direction = 'OUTBOUND' AND has_request"
)
_MESSAGE_FIELDS = ("state", "sent", "delivered", "undelivered", "read", "converted", "replied",
                   "survey_answered")


def message_differences(rows: list[tuple[Any, ...]], messages: list[Any]) -> list[str]:
    """Where the landed messages (rows of :data:`MESSAGE_FIELDS_SQL`) differ from the truth:
    one line per wrong field or missing message; names the umid, so a lost event is found."""
    got = {r[0]: r[1:] for r in rows}
    out = []
    for m in messages:
        want = (m.state, m.sent_at is not None, m.delivered_at is not None,
                m.undelivered_at is not None, m.read_at is not None, m.converted, m.replied,
                m.survey_answered)
        have = got.get(m.umid)
        if have is None:
            out.append(f"{m.umid}: missing")
            continue
        for name, h, w in zip(_MESSAGE_FIELDS, have, want, strict=True):
            if (h != w) if name == "state" else (bool(h) != bool(w)):
                out.append(f"{m.umid}: {name} is {h!r}, truth {w!r}")
    return out


def timeline_sample(messages: list[Any], n: int = 15) -> list[Any]:
    """Messages whose timelines are worth checking: duplicate receipts, several receipts."""
    dup = [m for m in messages if m.duplicate_receipts > 0]
    multi = [m for m in messages if len(m.receipt_states) >= 2 and not m.duplicate_receipts]
    return dup[:n] + multi[:n]


def check_timeline(rows: list[dict[str, Any]], m: Any) -> None:
    """The ``timeline`` rows of message ``m`` (MessageTruth) show every receipt in time order,
    repeats (same state and time: webhook retries) marked ``duplicate``, the first copies'
    states those of the truth (receipts of equal time in status order: their rows are in
    arrival order)."""
    receipts = [r for r in rows if r["kind"] == "DeliveryReceipt"]
    assert len(receipts) == m.receipts, (m.umid, receipts)
    assert sum(1 for r in receipts if r["duplicate"]) == m.duplicate_receipts, (m.umid, receipts)
    times = [str(r["event_at"]) for r in rows]
    assert times == sorted(times), (m.umid, times)
    firsts = sorted((r for r in receipts if not r["duplicate"]),  # equal times: status order
                    key=lambda r: (str(r["event_at"]), STATUS_ORDER.index(r["state"])))
    assert [r["state"] for r in firsts] == m.receipt_states, m.umid
    requests = [r for r in rows if r["kind"] == "SendRequest"]
    assert len(requests) == 1 and not requests[0]["duplicate"], (m.umid, requests)


def flags(truth: dict[str, Any]) -> list[list[str]]:
    """Rows of ``report flags``: messages (outbound and inbound) per policy flag."""
    return [[flag, str(n)] for flag, n in truth["flags"].items()]


def clicks(messages: list[Any]) -> dict[str, int]:
    """umid -> clicks of every clicked message (``report clicks`` sums its rows per umid)."""
    return {m.umid: m.clicks for m in messages if m.clicks}


def engage(events: list[tuple[str, str, dict[str, Any]]]) -> list[list[str]]:
    """Rows of ``report engage`` from the survey responses the simulator sent: respondents
    (distinct invitations) per survey, question and answer, their share of the survey's."""
    answered: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    survey: dict[str, set[str]] = defaultdict(set)
    for kind, umid, rec in events:
        if kind != "surveys":
            continue
        survey[rec["survey_id"]].add(umid)
        for a in rec["answers"]:
            key = (rec["survey_id"], a["question_id"], a["question"], a["answer"] or "")
            answered[key].add(umid)
    rows = sorted(answered.items(), key=lambda kv: (kv[0][0], kv[0][1], -len(kv[1]), kv[0][3]))
    return [[*k, str(len(u)), rate(len(u), len(survey[k[0]])), str(len(survey[k[0]]))]
            for k, u in rows]
