"""Outbound traffic of the simulator: send requests, receipts, OTP feedback, surveys, clicks.

Every message is planned first (who, what, when, true outcome), then its events are emitted
with the time each reaches smsflow, faults included. The :class:`MessageTruth` of a message
is filled from the plan, never by reading the events back.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass
from typing import Any

from producers.segments import count_segments, is_gsm7
from schemas.codec import money
from simulator.config import SimConfig
from simulator.events import HOUR, MINUTE, SECOND, Emitter, between, new_umid, ts, us
from simulator.smpp import SmppChannel
from simulator.texts import make_text
from simulator.truth import MessageTruth, fold_receipts
from simulator.world import (
    COUNTRIES,
    DELIVERY_ERRORS,
    INVALID_DESTINATION,
    REJECT_REASONS,
    SUBACCOUNTS,
    UNLISTED_COUNTRIES,
    Country,
    Recipient,
    Recipients,
    Subaccount,
)
from smsflow.numbers import NUMBER_UNLISTED

__all__ = ["Plan", "plan_outbound"]

HOUR_WEIGHTS = (1, 1, 1, 1, 2, 3, 5, 7, 9, 10, 10, 10, 10, 10, 10, 9, 9, 8, 7, 6, 5, 4, 3, 2)
RETRY_AFTER = (1, 11, 41, 131)  # cumulative seconds of webhook retries after 1, 10, 30, 90 s
_CUM_HOURS = list(itertools.accumulate(HOUR_WEIGHTS))
_CUM_COUNTRIES = list(itertools.accumulate(c.weight for c in COUNTRIES))


def _weighted(rng: random.Random, items: tuple[Any, ...], cum: list[float]) -> Any:
    return items[bisect.bisect_right(cum, rng.random() * cum[-1])]


@dataclass(slots=True)
class Plan:
    """One outbound message: its truth plus what the later stages need."""

    truth: MessageTruth
    submitted_us: int
    request_arrival_us: int
    sent_us: int | None
    delivered_us: int | None
    text_kind: str
    has_url: bool
    recipient: Recipient


@dataclass(slots=True)
class _Unit:
    sa: Subaccount
    origin: str
    size: int
    kind: str
    campaign_id: str | None
    batch_id: str | None
    client_batch_id: str | None
    source_pool: tuple[str, ...]
    t0: int


class _Outbound:
    def __init__(self, cfg: SimConfig, rng: random.Random, recipients: Recipients,
                 virtual: dict[str, list[str]], emitter: Emitter, start_us: int,
                 end_us: int) -> None:
        self.cfg, self.rng, self.recipients, self.virtual = cfg, rng, recipients, virtual
        self.emitter, self.start_us, self.end_us = emitter, start_us, end_us
        self.cum_sa = list(itertools.accumulate(s.weight for s in SUBACCOUNTS))
        self.countries = COUNTRIES if not cfg.countries else tuple(
            c for c in COUNTRIES if c.code in cfg.countries)
        self.cum_countries = (_CUM_COUNTRIES if not cfg.countries else
                              list(itertools.accumulate(c.weight for c in self.countries)))
        self.counter = itertools.count(1)
        self.channel = SmppChannel(cfg.seed, cfg.smpp_receipt_share)

    # ---- units: a single message, an HTTP batch or an MCS campaign batch --------------------
    def unit(self, remaining: int) -> list[_Unit]:
        rng, cfg = self.rng, self.cfg
        sa: Subaccount = _weighted(rng, SUBACCOUNTS, self.cum_sa)
        cap = max(1, min(remaining, max(2, cfg.messages // 25)))
        shares = (sa.campaign_share / 150, sa.batch_share / 40, sa.smpp_share,
                  1 - sa.campaign_share - sa.batch_share - sa.smpp_share)
        r = rng.random() * sum(shares)
        two_way = bool(self.virtual[sa.id]) and rng.random() < sa.two_way_share
        sources = tuple(self.virtual[sa.id]) if two_way else sa.sender_ids
        t0 = self.when()
        if r < shares[0]:
            size = min(cap, between(rng, 20, 280))
            kind = "survey" if rng.random() < sa.survey_share else "promo"
            cid = f"cmp-{sa.id}-{ts(t0):%m%d}-{next(self.counter)}"
            sizes = [size]
            if size > 1 and rng.random() < 0.25:  # the campaign goes out in two batches
                sizes = [size // 2, size - size // 2]
            units, t = [], t0
            for i, s in enumerate(sizes):
                if i:
                    t = t0 + between(rng, 18 * HOUR, 30 * HOUR)
                    if t > self.end_us - s * 20_000:
                        t = t0 + between(rng, HOUR, 3 * HOUR)
                units.append(_Unit(sa, "MCS", s, kind, cid, new_umid(rng), None, sources,
                                   self.clamp(t, s)))
            return units
        if r < shares[0] + shares[1]:
            size = min(cap, between(rng, 2, 80))
            y = rng.random()
            kind = ("survey" if y < sa.survey_share / 3 else "reminder" if two_way
                    else "long" if y < sa.survey_share / 3 + sa.long_share else "notify")
            return [_Unit(sa, "HTTP_API", size, kind, None, new_umid(rng),
                          f"{sa.id}-batch-{next(self.counter)}", sources, self.clamp(t0, size))]
        origin = "SMPP" if r < sum(shares[:3]) else "HTTP_API"
        x = rng.random()
        kind = ("otp" if x < sa.otp_share else "long" if x < sa.otp_share + sa.long_share
                else "reminder" if two_way else "notify")
        return [_Unit(sa, origin, 1, kind, None, None, None, sources, t0)]

    def when(self) -> int:
        """A submission time: a random day of the span, busier in (UTC) daytime."""
        day = self.rng.randrange(self.cfg.days)
        hour = bisect.bisect_right(_CUM_HOURS, self.rng.random() * _CUM_HOURS[-1])
        return self.start_us + (day * 24 + hour) * HOUR + self.rng.randrange(HOUR)

    def clamp(self, t: int, size: int) -> int:
        return min(t, self.end_us - size * 20_000 - SECOND)

    # ---- one message ---------------------------------------------------------------------
    def message(self, u: _Unit, submitted: int) -> Plan:
        rng, cfg, sa = self.rng, self.cfg, u.sa
        country: Country = _weighted(rng, self.countries, self.cum_countries)
        flags: list[str] = []
        if cfg.unlisted_share and rng.random() < cfg.unlisted_share:  # no draw when off
            if country not in UNLISTED_COUNTRIES:
                country = rng.choice(UNLISTED_COUNTRIES)
            rcp = self.recipients.unlisted(country)
            flags = [NUMBER_UNLISTED]
        else:
            rcp = self.recipients.pick(country)
        text = make_text(u.kind, sa.brand, country.code, rng)
        x = rng.random()
        gsm = is_gsm7(text)
        requested = ("GSM7" if gsm and x < 0.06 else "UCS2" if x < 0.09 or (not gsm and x < 0.2)
                     else "AUTO")
        seg = count_segments(text, requested)
        umid = new_umid(rng)
        source = rng.choice(u.source_pool)
        cmid = (f"{sa.id}-{next(self.counter):08d}"
                if u.origin == "HTTP_API" and rng.random() < 0.7 else None)
        destination, dest_country, operator = rcp.number, rcp.info.country, rcp.info.operator
        status, description = "QUEUED", None
        if rng.random() < cfg.reject_rate:
            status = "REJECTED"
            if rng.random() < cfg.invalid_destination_share:
                description = INVALID_DESTINATION
                destination = "+" + country.calling + str(rng.randrange(100, 99999))
                dest_country = operator = None
            else:
                description = rng.choice(REJECT_REASONS)
        scheduled = expiry = None
        if u.origin == "HTTP_API" and u.kind != "otp" and rng.random() < 0.03:
            scheduled = submitted + between(rng, 10 * MINUTE, 6 * HOUR)
        if u.kind == "otp":
            expiry = submitted + 10 * MINUTE
        truth = MessageTruth(
            umid=umid, subaccount_id=sa.id, origin=u.origin, submitted_at=ts(submitted),
            status=status, status_description=description, destination=destination,
            source=source, country=dest_country, request_operator=operator,
            network=rcp.network.name, mcc=rcp.network.mcc, mnc=rcp.network.mnc,
            receipt_operator=None if u.origin == "SMPP" else rcp.network.name,
            encoding=seg.encoding, sms_count=seg.parts, truncated=seg.truncated,
            verification=u.kind == "otp", campaign_id=u.campaign_id, batch_id=u.batch_id,
            client_batch_id=u.client_batch_id, client_message_id=cmid, text_kind=u.kind,
            state="rejected" if status == "REJECTED" else "queued",
            request_flags=list(flags) if dest_country else [],
        )
        request = {
            "umid": umid, "batch_id": u.batch_id, "client_message_id": cmid,
            "client_batch_id": u.client_batch_id, "subaccount_id": sa.id,
            "campaign_id": u.campaign_id, "origin": u.origin, "source": source,
            "destination": destination, "text": seg.text, "requested_encoding": requested,
            "encoding": seg.encoding, "sms_count": seg.parts, "truncated": seg.truncated,
            "country": dest_country, "operator": operator, "verification": truth.verification,
            "status": status, "status_description": description,
            "submitted_at": ts(submitted),
            "scheduled": ts(scheduled) if scheduled else None,
            "expiry": ts(expiry) if expiry else None,
            "dlr_callback_url": (f"https://hooks.{sa.id}.example/dlr"
                                 if rng.random() < 0.05 else None),
        }
        if truth.request_flags:  # as our producer enriches it; absent = the schema default []
            request["flags"] = list(truth.request_flags)
        plan = Plan(truth, submitted, submitted + between(rng, 1000, 50_000), None, None,
                    u.kind, "https://sms.to/" in seg.text, rcp)
        first_arrival = self.receipts(plan, scheduled or submitted)
        if first_arrival is not None and rng.random() < cfg.receipt_before_request_rate:
            plan.request_arrival_us = first_arrival + between(rng, SECOND, 120 * SECOND)
        self.emitter.emit(plan.request_arrival_us, "requests", umid, request, submitted)
        self.engagement(plan)
        return plan

    # ---- receipts --------------------------------------------------------------------------
    def receipts(self, plan: Plan, start: int) -> int | None:
        """Decide the outcome, emit the receipts; the delivery time of the first one."""
        rng, cfg, m = self.rng, self.cfg, plan.truth
        if m.status == "REJECTED":
            return None
        x = rng.random()
        q, s, u = cfg.stay_queued_rate, cfg.sent_only_rate, cfg.undelivered_rate
        outcome = ("queued" if x < q else "sent" if x < q + s else "undelivered"
                   if x < q + s + u else "delivered")
        incidents = [i for i in cfg.incidents
                     if i.hits(m.country, m.request_operator, plan.submitted_us, self.start_us)]
        forced_error = None
        for inc in incidents:  # no draw without an incident: incident-free runs are unchanged
            if inc.kind == "collapse" and outcome == "delivered" and rng.random() < inc.share:
                outcome = "undelivered"
            elif inc.kind == "errors" and outcome in ("delivered", "undelivered") \
                    and rng.random() < inc.share:
                outcome = "undelivered"
                forced_error = next(e for e in DELIVERY_ERRORS if e[0] == inc.error_code)
        if outcome == "queued":
            return None
        submitted = plan.submitted_us
        sent = start + min(120 * SECOND, int(rng.lognormvariate(math.log(2e6), 1.0)))
        y = rng.random()
        if y < cfg.late_receipt_rate:
            final = submitted + between(rng, 24 * HOUR + MINUTE, 47 * HOUR)
        elif y < cfg.late_receipt_rate + 0.1:
            final = sent + between(rng, MINUTE, 6 * HOUR)
        else:
            final = sent + min(10 * MINUTE, int(rng.lognormvariate(math.log(4e6), 1.2)))
        for inc in incidents:
            if inc.kind == "latency":
                final = max(final, submitted + inc.delay_s * SECOND + between(rng, 0, MINUTE))
        steps: list[tuple[str, int]] = []
        if outcome == "sent" or rng.random() < 0.9:  # some operators report only the outcome
            steps.append(("sent", sent))
        if outcome != "sent":
            steps.append((outcome, final))
        if outcome == "delivered" and rng.random() < cfg.read_rate:
            steps.append(("read", min(final + between(rng, 30 * SECOND, 6 * HOUR),
                                      submitted + 47 * HOUR + 50 * MINUTE)))
        m.currency = cfg.currency
        m.price_per_sms = money(plan.recipient.country.price)
        total = money(plan.recipient.country.price * m.sms_count)
        arrivals: list[int] = []
        records: list[dict[str, Any]] = []
        for state, at in steps:
            rec = self.receipt_record(plan, state, at, forced_error)
            if state == "sent" and rng.random() < cfg.unpriced_sent_rate:
                rec["price_total"] = rec["price_per_sms"] = rec["currency"] = None
            else:
                rec["price_total"] = total
            if state == "sent":
                plan.sent_us = at
            elif state == "delivered":
                plan.delivered_us = at
            arrivals.append(at + between(rng, 50_000, 3 * SECOND))
            records.append(rec)
        if len(steps) >= 2 and steps[0][0] == "sent" and rng.random() < cfg.out_of_order_rate:
            arrivals[0] = arrivals[1] + between(rng, SECOND // 2, 60 * SECOND)
        delivered: list[dict[str, Any]] = []  # the records as they reach smsflow, copies too
        for at, rec in zip(arrivals, records, strict=True):
            rec, spec = self.channel.receipt(rec)
            event_us = us(rec["status_at"])
            self.emitter.emit(at, "receipts", m.umid, rec, event_us, spec)
            delivered.append(rec)
            if rng.random() < cfg.duplicate_rate:
                for k in range(1 + (rng.random() < 0.3) + (rng.random() < 0.1)):
                    self.emitter.emit(at + RETRY_AFTER[k] * SECOND, "receipts", m.umid,
                                      dict(rec), event_us, spec)
                    delivered.append(rec)
        fold_receipts(m, delivered)
        return min(arrivals)

    def receipt_record(self, plan: Plan, state: str, at: int,
                       error: tuple[int, str, str] | None = None) -> dict[str, Any]:
        m, rcp = plan.truth, plan.recipient
        detail = error_code = error_message = None
        if state == "delivered":
            detail = "delivered_to_recipient" if rcp.country.handset_dlr else (
                "delivered_to_operator")
        elif state == "undelivered":
            error_code, error_message, detail = error or self.rng.choice(DELIVERY_ERRORS)
        return {
            "umid": m.umid, "batch_id": m.batch_id, "client_message_id": m.client_message_id,
            "client_batch_id": m.client_batch_id, "subaccount_id": m.subaccount_id,
            "source": m.source, "destination": m.destination, "state": state,
            "detail": detail, "status_at": ts(at), "error_code": error_code,
            "error_message": error_message, "price_total": None,
            "price_per_sms": m.price_per_sms, "currency": m.currency,
            "sms_count": m.sms_count, "mcc": m.mcc, "mnc": m.mnc,
            "operator": m.receipt_operator, "received_at": None,
        }

    # ---- OTP feedback, survey responses, clicks -------------------------------------------
    def engagement(self, plan: Plan) -> None:
        rng, cfg, m, emit = self.rng, self.cfg, plan.truth, self.emitter.emit
        base = plan.delivered_us
        if m.verification and (base is not None or (m.state == "sent" and rng.random() < 0.3)):
            if rng.random() < cfg.otp_conversion_rate:
                at = (base or plan.sent_us or plan.submitted_us) + between(
                    rng, 5 * SECOND, 300 * SECOND)
                rec = {"umid": m.umid, "subaccount_id": m.subaccount_id, "converted_at": ts(at)}
                m.converted, m.converted_at = True, ts(at)
                copies = 2 if rng.random() < cfg.otp_duplicate_rate else 1
                for k in range(copies):
                    emit(at + k * between(rng, SECOND, 30 * SECOND), "otp_feedback", m.umid,
                         dict(rec), at)
                    m.otp_feedback_events += 1
        if base is None:
            return
        if plan.text_kind == "survey" and rng.random() < cfg.survey_response_rate:
            started = base + between(rng, MINUTE, 40 * HOUR)
            done = min(started + between(rng, 20 * SECOND, 10 * MINUTE),
                       plan.submitted_us + 47 * HOUR + 55 * MINUTE)
            emit(done + between(rng, 50_000, 2 * SECOND), "surveys", m.umid,
                 _survey_record(rng, m, started, done), done)
            m.survey_answered = True
        if plan.has_url and rng.random() < cfg.click_rate:
            at = base + between(rng, 10 * SECOND, 20 * HOUR)
            while True:
                emit(at + between(rng, 50_000, SECOND), "clicks", m.umid, {
                    "umid": m.umid, "clicked_at": ts(at),
                    "url": f"https://{m.subaccount_id}.example/l/{m.umid[:8]}",
                    "short_url": "https://sms.to/" + m.umid[-6:],
                    "user_agent": rng.choice(_AGENTS),
                }, at)
                m.clicks += 1
                if m.clicks >= 8 or rng.random() > 0.35:
                    break
                at += between(rng, 5 * SECOND, 3 * HOUR)


_AGENTS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15",
           "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile",
           "Mozilla/5.0 (Linux; Android 13; SM-A546B) AppleWebKit/537.36 Chrome/123.0 Mobile")


def _survey_record(rng: random.Random, m: MessageTruth, started: int, done: int) -> dict[str, Any]:
    score = str(rng.randrange(1, 11))
    return {
        "umid": m.umid, "survey_id": f"srv-{m.campaign_id or m.subaccount_id}",
        "survey_started_at": ts(started), "survey_submitted_at": ts(done),
        "template_variables": [{"name": "brand", "value": m.subaccount_id}],
        "answers": [
            {"question_id": "1", "answer_id": f"100{score}", "question": "How likely are you "
             "to recommend us (1-10)?", "answer": score},
            {"question_id": "2", "answer_id": None, "question": "Anything we could do better?",
             "answer": rng.choice((None, "Faster delivery", "All good", "Cheaper shipping"))},
        ],
    }


def plan_outbound(cfg: SimConfig, rng: random.Random, recipients: Recipients,
                  virtual: dict[str, list[str]], emitter: Emitter, start_us: int, end_us: int,
                  advance: Any = None) -> list[Plan]:
    """Plan ``cfg.messages`` outbound messages and emit their events; ``advance(n)`` reports
    progress. Raises RuntimeError only if a country's number ranges run dry."""
    out = _Outbound(cfg, rng, recipients, virtual, emitter, start_us, end_us)
    plans: list[Plan] = []
    while len(plans) < cfg.messages:
        for u in out.unit(cfg.messages - len(plans)):
            n = min(u.size, cfg.messages - len(plans))
            submitted = u.t0
            for _ in range(n):
                plans.append(out.message(u, submitted))
                submitted += between(rng, 1000, 20_000)
            if advance is not None:
                advance(n)
    return plans
