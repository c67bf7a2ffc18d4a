"""Expected report rows computed from the simulator's ground truth (truth.json).

Each function returns the rows a report must show, as lists of strings in the report's
column order, so tests compare the CSV output exactly (counts, rates, cost to 8 decimals).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from simulator.truth import STATUS_ORDER
from smsflow.operators import canonical_name, is_unresolved, operator_of_mcc_mnc

__all__ = ["MESSAGE_FIELDS_SQL", "average", "campaigns", "check_timeline", "clicks",
           "conversions", "countries", "daily", "dashboard", "engage", "errors", "flags",
           "latency", "logs", "message_differences", "message_fields", "message_sample", "money",
           "pending", "rate", "ratio", "replies", "timeline_sample"]

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


def _iso(t: dt.datetime | None) -> str | None:
    """A report's DateTime64(6, 'UTC') cell."""
    return None if t is None else t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _orphan_rows(sim: Any) -> list[list[str]]:
    """``logs`` rows of the umids that only ever get receipts (the simulator's orphans, held
    or marked): first receipt's time, numbers, subaccount and operator (the name of its
    MCC/MNC, else the name it carries), no country or cost, state delivered or sent."""
    known = {m.umid for m in sim.messages} | {mo.umid for mo in sim.inbound}
    receipts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for kind, umid, rec in sim.events:
        if kind == "receipts" and umid not in known:
            receipts[umid].append(rec)
    out = []
    for umid, recs in receipts.items():
        first = min(recs, key=lambda r: r["status_at"])
        mcc, mnc = first["mcc"], first["mnc"]
        said = operator_of_mcc_mnc(mcc, mnc) if mcc and mnc else None
        if said is None or (first["operator"] and is_unresolved(said, mcc, mnc)):
            said = first["operator"]
        currency = next((r["currency"] for r in recs if r["price_total"] is not None), None)
        state = "delivered" if any(r["state"] == "delivered" for r in recs) else "sent"
        out.append([_iso(first["status_at"]) or "", "OUTBOUND", first["subaccount_id"] or "",
                    umid, first["destination"] or "", first["source"] or "", "", "",
                    canonical_name(said, None) if said else "", f"{0:.8f}", currency or "",
                    state])
    return out


def logs(sim: Any) -> list[list[str]]:
    """Every row of the ``logs`` report (no limit), in its order (time, umid): outbound
    messages at their submission, MOs at their arrival, orphans at their first receipt."""
    rows = [
        [_iso(m.submitted_at) or "", "OUTBOUND", m.subaccount_id, m.umid, m.destination,
         m.source or "", m.origin, m.country or "", m.operator, f"{m.cost:.8f}",
         m.currency or "", m.state]
        for m in sim.messages
    ]
    rows += [
        [_iso(mo.received_at) or "", "INBOUND", mo.subaccount_id, mo.umid, mo.destination,
         mo.source, "", mo.country or "", "", f"{0:.8f}", mo.currency, ""]
        for mo in sim.inbound
    ]
    rows += _orphan_rows(sim)
    return sorted(rows, key=lambda r: (r[0], r[3]))


def clicks(sim: Any) -> list[list[str]]:
    """The ``clicks`` report: per clicked message and link, clicks and first / last click."""
    by_umid = {m.umid: m for m in sim.messages}
    got: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for kind, umid, rec in sim.events:
        if kind == "clicks":
            got[umid].append(rec)
    rows = []
    for umid, recs in got.items():
        m = by_umid[umid]
        assert len(recs) == m.clicks and len({(r["short_url"], r["url"]) for r in recs}) == 1
        times = sorted(r["clicked_at"] for r in recs)
        rows.append([m.day.isoformat(), m.subaccount_id, umid, m.destination,
                     recs[0]["short_url"], recs[0]["url"], str(len(recs)),
                     _iso(times[0]) or "", _iso(times[-1]) or ""])
    return sorted(rows, key=lambda r: (r[0], r[1], r[2], r[4], r[5]))


def engage(sim: Any) -> list[list[str]]:
    """The ``engage`` report: per survey, question and answer, respondents (distinct
    invitations), their share of the survey's respondents and that number."""
    answered: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    surveys: dict[str, set[str]] = defaultdict(set)
    for kind, umid, rec in sim.events:
        if kind != "surveys":
            continue
        surveys[rec["survey_id"]].add(umid)
        for a in rec["answers"]:
            answered[(rec["survey_id"], a["question_id"], a["question"], a["answer"] or "")].add(
                umid)
    rows = []
    for (survey, qid, question, answer), umids in answered.items():
        total = len(surveys[survey])
        rows.append([survey, qid, question, answer, str(len(umids)),
                     rate(len(umids), total), str(total)])
    return sorted(rows, key=lambda r: (r[0], r[1], -int(r[4]), r[3]))


def message_sample(messages: list[Any], n: int = 60) -> list[Any]:
    """Messages whose ``message`` report to check: spread over the stream, every state."""
    sample = messages[:: max(1, len(messages) // n)]
    for state in STATUS_ORDER:
        sample += [m for m in messages if m.state == state][:2]
    return sample


def _money(v: Decimal | None) -> str | None:
    return None if v is None else str(v.normalize())


def message_fields(m: Any) -> dict[str, Any]:
    """The ``message`` report's fields (ops API JSON values) the truth of ``m`` decides."""
    rejected = m.status == "REJECTED"
    return {
        "umid": m.umid, "direction": "OUTBOUND", "has_request": True, "orphan": False,
        "day": m.day.isoformat(), "subaccount_id": m.subaccount_id,
        "batch_id": m.batch_id or "", "client_message_id": m.client_message_id or "",
        "client_batch_id": m.client_batch_id or "", "campaign_id": m.campaign_id or "",
        "origin": m.origin, "source": m.source or "", "destination": m.destination,
        "encoding": m.encoding, "sms_count": m.sms_count, "country": m.country or "",
        "operator": m.operator, "mcc": (m.mcc or "") if m.receipts else "",
        "mnc": (m.mnc or "") if m.receipts else "", "verification": m.verification,
        "state": m.state, "detail": m.detail or "", "error_code": m.error_code,
        "error_message": (m.status_description if rejected else m.error_message) or "",
        "price_total": _money(m.price_total), "price_per_sms": _money(m.price_per_sms),
        "currency": m.currency or "", "cost": _money(m.cost),
        "queued_at": _iso(m.submitted_at), "rejected_at": _iso(m.submitted_at) if rejected
        else None, "sent_at": _iso(m.sent_at), "delivered_at": _iso(m.delivered_at),
        "undelivered_at": _iso(m.undelivered_at), "read_at": _iso(m.read_at),
        "converted": m.converted, "converted_at": _iso(m.converted_at), "replied": m.replied,
        "replied_at": _iso(m.replied_at), "survey_answered": m.survey_answered,
        "clicked": m.clicks > 0, "clicks": m.clicks, "flags": m.flags,
    }
