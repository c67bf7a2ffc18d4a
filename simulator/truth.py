"""Ground truth of a simulation: per-message facts and the reports they must produce.

The simulator knows the true final state of every message it generated; this module turns those
facts into the expected analytics with the binding definitions of formats.md section 7 and
docs/design.md, independently of any streams or sink code. Conventions beyond those documents
(the report code must follow them, or the comparison must say why not):

* ``cost`` maps currency -> amount (decimal string, 8 fractional digits); only currencies of
  priced messages appear, so a group without any priced message has ``{}``.
* ``dashboard.countries`` counts distinct non-empty destination countries of outbound messages
  (an invalid destination of a rejected request has country ``''`` and is not a country).
* ``dashboard.per_day`` and ``conversions`` list the days with at least one outbound message
  (conversions: at least one verification message), ascending.
* Rates are ``100 * part / whole`` rounded half-up to 2 decimals, ``"0.00"`` when whole is 0.
* A reply is an MO whose source equals the outbound destination and whose destination equals the
  outbound source, received at ``submitted_at <= received_at <= submitted_at + window``; it marks
  the most recent such outbound (greatest submitted_at) as replied. Opt-out: a reply whose body,
  with all whitespace removed and upper-cased, is one of STOP, UNSUBSCRIBE, CANCEL, END, QUIT,
  STOPALL.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from smsflow.operators import OPERATOR_UNKNOWN, canonical_name, is_unresolved, operator_of_mcc_mnc

__all__ = [
    "STATUS_ORDER",
    "InboundTruth",
    "MessageTruth",
    "compute_truth",
    "fold_receipts",
    "is_opt_out",
    "rate",
    "to_json_value",
]

MONEY = Decimal("0.00000001")
PCT = Decimal("0.01")
STOP_WORDS = frozenset({"STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOPALL"})
COUNTERS = ("total", "received", "sent", "delivered", "undelivered", "rejected", "chargeable",
            "segments", "verification_sent", "verification_converted", "replies",
            "survey_answered", "clicked", "inbound")


@dataclass(slots=True)
class MessageTruth:
    """What really happened to one outbound message (a send request exists for it)."""

    umid: str
    subaccount_id: str
    origin: str
    submitted_at: dt.datetime
    status: str  # QUEUED | REJECTED (the platform's answer)
    status_description: str | None
    destination: str
    source: str | None
    country: str | None
    request_operator: str | None
    network: str | None  # the real operator the receipts name (ported numbers differ)
    mcc: str | None
    mnc: str | None
    receipt_operator: str | None  # operator name carried by the receipts (None: MCC/MNC only)
    encoding: str
    sms_count: int
    truncated: bool
    verification: bool
    campaign_id: str | None = None
    batch_id: str | None = None
    client_batch_id: str | None = None
    client_message_id: str | None = None
    text_kind: str = ""
    state: str = "queued"  # final state by the lifecycle ranks
    detail: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    price_per_sms: Decimal | None = None
    price_total: Decimal | None = None  # None: no priced receipt ever arrives
    currency: str | None = None
    sent_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    undelivered_at: dt.datetime | None = None
    read_at: dt.datetime | None = None
    receipts: int = 0  # receipt records delivered, duplicates included
    # of them, those with the state and status time of an earlier one (webhook retries, ...)
    duplicate_receipts: int = 0
    # states of the others, by status time (ties in status order)
    receipt_states: list[str] = field(default_factory=list)
    converted: bool = False
    converted_at: dt.datetime | None = None
    otp_feedback_events: int = 0
    replied: bool = False
    replied_at: dt.datetime | None = None
    replies: int = 0
    opt_outs: int = 0
    survey_answered: bool = False
    clicks: int = 0
    request_flags: list[str] = field(default_factory=list)  # the request's policy flags

    @property
    def day(self) -> dt.date:
        return self.submitted_at.date()

    @property
    def operator(self) -> str:
        """Report operator (README "Acceptance policy", one name per operator): request's, else
        the name of the receipts' MCC/MNC, else the name they carry, canonical; else ''."""
        if self.request_operator:
            return canonical_name(self.request_operator, self.country)
        if self.receipts:  # the name of their MCC/MNC when listed, else the name they carry
            said = operator_of_mcc_mnc(self.mcc, self.mnc) if self.mcc and self.mnc else None
            if said is None or (self.receipt_operator and is_unresolved(said, self.mcc,
                                                                          self.mnc)):
                said = self.receipt_operator
            if said:
                return canonical_name(said, self.country)
        return ""

    @property
    def flags(self) -> list[str]:
        """The message's policy flags: the request's, plus operator_unknown for an MCC/MNC the
        operator table does not list."""
        out = set(self.request_flags)
        if is_unresolved(self.operator, self.mcc, self.mnc):
            out.add(OPERATOR_UNKNOWN)
        return sorted(out)

    @property
    def cost(self) -> Decimal:
        if self.state == "rejected" or self.price_total is None:
            return Decimal(0)
        return self.price_total

    def to_json(self) -> dict[str, Any]:
        d = {f.name: to_json_value(getattr(self, f.name)) for f in fields(self)}
        d["day"] = self.day.isoformat()
        d["report_operator"] = self.operator
        d["flags"] = self.flags
        d["cost"] = to_json_value(self.cost.quantize(MONEY))
        return d


@dataclass(slots=True)
class InboundTruth:
    """One inbound (MO) message and the outbound it answers, if any."""

    umid: str
    subaccount_id: str
    received_at: dt.datetime
    source: str
    destination: str
    country: str | None
    body: str
    encoding: str
    sms_count: int
    price_total: Decimal
    currency: str
    reply_to: str | None = None  # umid of the outbound it answers
    flags: list[str] = field(default_factory=list)  # policy flags of the source number

    @property
    def opt_out(self) -> bool:
        return self.reply_to is not None and is_opt_out(self.body)

    def to_json(self) -> dict[str, Any]:
        d = {f.name: to_json_value(getattr(self, f.name)) for f in fields(self)}
        d["day"] = self.received_at.date().isoformat()
        d["opt_out"] = self.opt_out
        return d


STATUS_ORDER = ("queued", "sent", "delivered", "undelivered", "rejected", "read")
_FINAL_RANK = {"delivered": 0, "undelivered": 1, "rejected": 2}


def fold_receipts(m: MessageTruth, records: list[dict[str, Any]]) -> None:
    """Set the receipt facts of ``m`` from the receipt records that reach smsflow (copies
    included, any order), by formats.md section 2 / docs/design.md "Exactness": per stage its
    earliest time; the state is ``read`` if read, else the final stage with the latest time
    (ties: rejected > undelivered > delivered), else ``sent``; detail and error are those of
    the earliest receipt of that stage; the price is the priced receipts' (else no price,
    per-SMS price or currency); the operator name carried is any receipt's."""
    first: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, dt.datetime]] = set()
    for rec in records:
        st, at = rec["state"], rec["status_at"]
        m.receipts += 1
        if (st, at) in seen:
            m.duplicate_receipts += 1
            continue
        seen.add((st, at))
        if st not in first or at < first[st]["status_at"]:
            first[st] = rec
    m.receipt_states = [st for st, _ in sorted(seen, key=lambda k: (k[1],
                                                                   STATUS_ORDER.index(k[0])))]
    for st in ("sent", "delivered", "undelivered", "read"):
        setattr(m, f"{st}_at", first[st]["status_at"] if st in first else None)
    finals = [(first[st]["status_at"], rank, st) for st, rank in _FINAL_RANK.items()
              if st in first]
    state = ("read" if "read" in first else max(finals)[2] if finals else
             "sent" if "sent" in first else None)
    if state is not None:
        owner = first[state]
        m.state, m.detail = state, owner["detail"]
        m.error_code, m.error_message = owner["error_code"], owner["error_message"]
    priced = [r for r in records if r["price_total"] is not None]
    if priced:
        m.price_total = priced[0]["price_total"]
    else:
        m.price_total = m.price_per_sms = m.currency = None
    names = [r["operator"] for r in records if r.get("operator")]
    m.receipt_operator = names[0] if names else None


def is_opt_out(body: str) -> bool:
    """True when the body is a stop keyword (case- and whitespace-insensitive)."""
    return "".join(body.split()).upper() in STOP_WORDS


def to_json_value(v: Any) -> Any:
    """JSON form used in every simulator file: Decimal -> string, datetime -> ISO 'Z' string."""
    if isinstance(v, Decimal):
        return f"{v:f}"
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return [to_json_value(x) for x in v]
    return v


def _stream_end(meta: dict[str, Any] | None) -> dt.datetime | None:
    end = (meta or {}).get("stream_end")
    return dt.datetime.fromisoformat(end) if end else None


def rate(part: int, whole: int) -> str:
    """``100 * part / whole`` rounded half-up to 2 decimals; "0.00" when whole is 0."""
    if whole == 0:
        return "0.00"
    return f"{(Decimal(100 * part) / Decimal(whole)).quantize(PCT, rounding=ROUND_HALF_UP):f}"


class _Acc:
    """Counters plus cost per currency of one group."""

    __slots__ = ("cost", "n")

    def __init__(self) -> None:
        self.n: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.cost: dict[str, Decimal] = defaultdict(Decimal)

    def add_message(self, m: MessageTruth) -> None:
        n = self.n
        n["total"] += 1
        s = m.state
        if s == "rejected":
            n["rejected"] += 1
        elif s == "queued":
            n["received"] += 1
        else:
            n["sent"] += 1
        n["delivered"] += s in ("delivered", "read")
        n["undelivered"] += s == "undelivered"
        n["chargeable"] += s != "rejected"
        n["segments"] += m.sms_count
        n["verification_sent"] += m.verification
        n["verification_converted"] += m.verification and m.converted
        n["replies"] += m.replied
        n["survey_answered"] += m.survey_answered
        n["clicked"] += m.clicks > 0
        if m.state != "rejected" and m.price_total is not None and m.currency:
            self.cost[m.currency] += m.price_total

    def cost_json(self) -> dict[str, str]:
        return {c: f"{v.quantize(MONEY):f}" for c, v in sorted(self.cost.items())}


def compute_truth(
    messages: list[MessageTruth],
    inbound: list[InboundTruth],
    *,
    orphans: int,
    invalid: dict[str, int],
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The truth.json sections (daily, dashboard, conversions, campaigns, orphans, messages,
    invalid, and the delivery-quality sections of :mod:`simulator.quality_truth`: latency,
    pending aged at ``meta["stream_end"]``, errors, replies) from per-message facts. Pure;
    never fails on consistent input."""
    from simulator.quality_truth import quality_truth  # imports this module's types

    daily: dict[tuple[str, str, str, str], _Acc] = defaultdict(_Acc)
    per_day: dict[str, _Acc] = defaultdict(_Acc)
    campaigns: dict[str, _Acc] = defaultdict(_Acc)
    verif: dict[str, _Acc] = defaultdict(_Acc)
    overall = _Acc()
    countries: set[str] = set()
    for m in messages:
        day = m.day.isoformat()
        daily[(day, m.subaccount_id, m.country or "", m.operator)].add_message(m)
        per_day[day].add_message(m)
        overall.add_message(m)
        if m.campaign_id:
            campaigns[m.campaign_id].add_message(m)
        if m.verification:
            verif[day].add_message(m)
        if m.country:
            countries.add(m.country)
    for mo in inbound:
        key = (mo.received_at.date().isoformat(), mo.subaccount_id, mo.country or "", "")
        daily[key].n["inbound"] += 1
    flags: dict[str, int] = defaultdict(int)
    for flagged in (*(m.flags for m in messages), *(mo.flags for mo in inbound)):
        for f in flagged:
            flags[f] += 1

    currencies = set(overall.cost)
    single = next(iter(currencies)) if len(currencies) == 1 else None

    def day_row(day: str, a: _Acc) -> dict[str, Any]:
        total = a.n["total"]
        if len(currencies) > 1:
            avg: str | None = None
        else:
            c = a.cost.get(single, Decimal(0)) if single else Decimal(0)
            avg = f"{(c / total).quantize(MONEY, rounding=ROUND_HALF_UP):f}" if total else None
        return {"day": day, "total": total, "delivered": a.n["delivered"],
                "delivery_rate": rate(a.n["delivered"], total), "cost": a.cost_json(),
                "average_cost": avg}

    return {
        "meta": meta or {},
        "daily": [
            {"day": k[0], "subaccount_id": k[1], "country": k[2], "operator": k[3],
             **a.n, "cost": a.cost_json()}
            for k, a in sorted(daily.items())
        ],
        "dashboard": {
            "total": overall.n["total"],
            "delivered": overall.n["delivered"],
            "delivery_rate": rate(overall.n["delivered"], overall.n["total"]),
            "cost": overall.cost_json(),
            "countries": len(countries),
            "per_day": [day_row(d, a) for d, a in sorted(per_day.items()) if a.n["total"]],
        },
        "conversions": [
            {"day": d, "verification_sent": a.n["verification_sent"],
             "converted": a.n["verification_converted"],
             "conversion_rate": rate(a.n["verification_converted"], a.n["verification_sent"]),
             "cost": a.cost_json()}
            for d, a in sorted(verif.items())
        ],
        "campaigns": [
            {"campaign_id": c, "total": a.n["total"], "delivered": a.n["delivered"],
             "delivery_rate": rate(a.n["delivered"], a.n["total"]), "cost": a.cost_json()}
            for c, a in sorted(campaigns.items())
        ],
        **quality_truth(messages, inbound, at=_stream_end(meta)),
        "orphans": orphans,
        "messages": len(messages),
        "invalid": dict(sorted(invalid.items())),
        "flags": dict(sorted(flags.items())),
    }
