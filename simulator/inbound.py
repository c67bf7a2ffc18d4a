"""Inbound (MO) traffic of the simulator: replies to two-way messages and unrelated MOs.

Which outbound an MO answers is decided by the definition in :mod:`simulator.truth`
(same pair of numbers, inside the reply window, most recent outbound), applied to every MO,
whatever the simulator meant it to be. MOs whose answer would depend on delivery order (a
request of the pair not yet delivered when the MO arrives) or would point at a rejected
request are not generated, so the truth is the same under any reasonable matching rule.
"""

from __future__ import annotations

import bisect
import random
from typing import Any

from producers.segments import count_segments
from schemas.codec import money
from simulator.config import SimConfig
from simulator.events import HOUR, MINUTE, SECOND, Emitter, between, new_umid, ts
from simulator.outbound import Plan
from simulator.texts import inbound_text
from simulator.truth import InboundTruth
from simulator.world import COUNTRIES, COUNTRY_BY_CODE, Recipients
from smsflow.numbers import classify

__all__ = ["simulate_inbound"]


def simulate_inbound(
    cfg: SimConfig,
    rng: random.Random,
    plans: list[Plan],
    virtual: dict[str, tuple[str, str]],
    recipients: Recipients,
    emitter: Emitter,
    start_us: int,
    end_us: int,
) -> list[InboundTruth]:
    """Emit replies and unrelated MOs; mark the outbound truths they answer.

    ``virtual`` maps each virtual number to (subaccount id, country code).
    """
    window = int(cfg.reply_window_hours * 3600) * SECOND
    pairs: dict[tuple[str, str], list[Plan]] = {}
    for p in plans:  # plans are in submission order within a unit, not globally: sort below
        if p.truth.source in virtual:
            pairs.setdefault((p.truth.destination, p.truth.source), []).append(p)
    for lst in pairs.values():
        lst.sort(key=lambda p: p.submitted_us)
    two_way = [p for lst in pairs.values() for p in lst if p.truth.status == "QUEUED"]
    two_way.sort(key=lambda p: p.submitted_us)
    numbers = sorted(virtual)

    # (source, destination, received_at, meant as reply) for every candidate MO
    candidates: list[tuple[str, str, int, bool]] = []
    for p in two_way:
        if p.delivered_us is not None and rng.random() < cfg.reply_rate:
            t = p.submitted_us + between(rng, MINUTE, int(window * 0.9))
            candidates.append((p.truth.destination, p.truth.source or "", t, True))
    for _ in range(len(plans)):
        if rng.random() >= cfg.unrelated_inbound_rate:
            continue
        if two_way and rng.random() < 0.3:  # a known handset writes after the window closed
            p = rng.choice(two_way)
            t = p.submitted_us + window + between(rng, HOUR, 12 * HOUR)
            candidates.append((p.truth.destination, p.truth.source or "", t, False))
        elif numbers:
            stranger = recipients.new(rng.choice(COUNTRIES))
            t = start_us + between(rng, 0, end_us - start_us)
            candidates.append((stranger.number, rng.choice(numbers), t, False))

    out: list[InboundTruth] = []
    for source, destination, t, meant in candidates:
        lst = pairs.get((source, destination), [])
        times = [p.submitted_us for p in lst]
        i = bisect.bisect_right(times, t)  # lst[:i]: submitted at or before t
        if any(p.request_arrival_us >= t for p in lst[:i]):
            continue  # the pair's history would still be in flight when the MO arrives
        match = lst[i - 1] if i and t - lst[i - 1].submitted_us <= window else None
        if match is not None and match.truth.status != "QUEUED":
            continue
        opt_out = rng.random() < cfg.opt_out_share
        body = inbound_text(rng, reply=meant, opt_out=opt_out)
        owner, vcountry = virtual[destination]
        seg = count_segments(body)
        per_sms = money(COUNTRY_BY_CODE[vcountry].mo_price)
        mo = InboundTruth(
            umid=new_umid(rng), subaccount_id=owner, received_at=ts(t), source=source,
            destination=destination, country=classify(source).country, body=body,
            encoding=seg.encoding, sms_count=seg.parts,
            price_total=money(per_sms * seg.parts), currency=cfg.currency,
            reply_to=match.truth.umid if match else None, flags=list(classify(source).flags),
        )
        if match is not None:
            m = match.truth
            m.replies += 1
            m.opt_outs += mo.opt_out
            if not m.replied or (m.replied_at is not None and mo.received_at < m.replied_at):
                m.replied_at = mo.received_at
            m.replied = True
        emitter.emit(t + between(rng, 50_000, 2 * SECOND), "inbound", mo.umid,
                     _record(mo, per_sms), t)
        out.append(mo)
    return out


def _record(mo: InboundTruth, per_sms: Any) -> dict[str, Any]:
    return {
        "umid": mo.umid, "subaccount_id": mo.subaccount_id, "received_at": mo.received_at,
        "source": mo.source, "destination": mo.destination, "body": mo.body,
        "encoding": mo.encoding, "sms_count": mo.sms_count, "price_total": mo.price_total,
        "price_per_sms": per_sms, "currency": mo.currency,
    }
