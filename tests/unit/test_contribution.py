"""Contributions and delta rows (smsflow.contribution), and the pure pipeline against truth.

The last test runs a whole simulation (duplicates, reordering, receipts before requests,
orphans, replies, conversions, clicks) through the pure functions the worker uses - no Kafka -
in delivery order and shuffled, and requires the summed delta rows to equal the ground truth
exactly, every state and row to encode with the Avro codec.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from schemas import get_codec
from simulator.simulation import SimConfig, simulate
from smsflow.contribution import KEY_FIELDS, contribution, delta_rows
from smsflow.privacy import opt_out_keyword
from smsflow.timestamps import from_micros, to_micros
from streams.replies import merge_pair, pair_key, reply_targets
from streams.state import apply
from tests.unit.test_state_machine import EUR, at, priced, receipt, request, run

KIND = {"requests": "request", "receipts": "receipt", "inbound": "inbound",
        "surveys": "survey", "otp_feedback": "otp", "clicks": "click"}


def test_outbound_contribution_per_state() -> None:
    queued = run([request()])
    assert queued is not None
    c = queued["contribution"]
    assert {k: c[k] for k in KEY_FIELDS} == {
        "day": dt.date(2024, 3, 1), "subaccount_id": "acme", "country": "SG", "operator": "",
        "origin": "HTTP_API", "encoding": "GSM7", "campaign_id": "", "currency": ""}
    assert (c["total"], c["received"], c["sent"], c["chargeable"], c["segments"]) == (1, 1, 0, 1, 2)
    assert c["cost"] == Decimal("0E-8")
    delivered = run([priced("delivered", 0.1)], queued)
    assert delivered is not None
    d = delivered["contribution"]
    assert (d["received"], d["sent"], d["delivered"], d["currency"], d["cost"]) == (
        0, 1, 1, "EUR", EUR)
    rejected = run([request(status="REJECTED"), priced("sent", 0.1)])
    assert rejected is not None
    r = rejected["contribution"]
    assert (r["rejected"], r["chargeable"], r["sent"], r["cost"]) == (1, 0, 0, Decimal("0E-8"))
    assert r["total"] == r["rejected"] + r["received"] + r["sent"]
    assert contribution(run([receipt("sent", 1)])) is None  # type: ignore[arg-type]


def test_delta_rows_move_between_keys_and_skip_zero_changes() -> None:
    s1 = run([request()])
    assert s1 is not None
    assert [(r["total"], r["received"], r["currency"]) for r in delta_rows(s1)] == [(1, 1, "")]
    s2 = run([priced("delivered", 0.1, operator="Singtel")], s1)
    assert s2 is not None
    rows = delta_rows(s2)
    moved = [(r["operator"], r["currency"], r["total"], r["delivered"], r["cost"]) for r in rows]
    assert moved == [("", "", -1, 0, Decimal("0E-8")), ("SingTel", "EUR", 1, 1, EUR)]
    assert all((r["umid"], r["version"]) == (s2["umid"], 2) for r in rows)
    assert rows[0]["event_at"] == at(0.1)
    s3 = run([receipt("sent", 0.05)], s2)  # fills sent_at only: a version, no delta
    assert s3 is not None and s3["version"] == 3 and delta_rows(s3) == []


def test_deltas_telescope_to_the_final_contribution() -> None:
    events = [priced("sent", 0.1), request(), receipt("delivered", 0.3, operator="M1"),
              ("otp", {"umid": request()[1]["umid"], "converted_at": at(1)}),
              ("reply", {"replied": True, "replied_at": at(2)}), receipt("read", 4)]
    s: dict[str, Any] | None = None
    total: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for kind, ev in events:
        new = apply(s, kind, ev)
        if new is None:
            continue
        s = new
        for row in delta_rows(s):
            key = tuple(row[k] for k in KEY_FIELDS)
            for f in ("total", "delivered", "replies", "cost"):
                total[key][f] += row[f]
    assert s is not None
    live = {k: dict(v) for k, v in total.items() if any(v.values())}
    final = s["contribution"]
    assert live == {tuple(final[k] for k in KEY_FIELDS): {
        "total": 1, "delivered": 1, "replies": 1, "cost": EUR}}


def _pure_pipeline(events: list[tuple[str, str, dict[str, Any]]]) -> tuple[
        dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """What the worker does, without Kafka: umid table, click identities, reply pairs."""
    states: dict[str, dict[str, Any]] = {}
    pairs: dict[bytes, Any] = {}
    clicks: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    rows: list[dict[str, Any]] = []
    window_us = 24 * 3600 * 1_000_000

    def put(umid: str, kind: str, ev: dict[str, Any]) -> None:
        new = apply(states.get(umid), kind, ev)
        if new is not None:
            states[umid] = new
            rows.extend(delta_rows(new))

    for topic, umid, rec in events:
        kind = KIND[topic]
        if kind == "click":
            clicks[umid].add((rec["clicked_at"], rec.get("url")))
            rec = {**rec, "distinct_clicks": len(clicks[umid])}
        put(umid, kind, rec)
        if kind == "request":
            pk, side = pair_key(rec["destination"], rec.get("source")), "outbound"
            t = rec["submitted_at"]
        elif kind == "inbound":
            pk, side, t = pair_key(rec["source"], rec["destination"]), "inbound", rec["received_at"]
        else:
            continue
        if pk is None:
            continue
        old = pairs.get(pk)
        # the MO's opt-out flag from its state's text, as the umid join sends it
        opt_out = side == "inbound" and opt_out_keyword(states[rec["umid"]]["text"]) != ""
        new = merge_pair(old, side, rec["umid"], to_micros(t), window_us, opt_out=opt_out)
        current = new if new is not None else old
        pairs[pk] = current
        for u, replied, when, n, k in reply_targets(old, new, current):
            put(u, "reply", {"replied": replied,
                             "replied_at": from_micros(when) if when is not None else None,
                             "reply_count": n, "opt_out_count": k})
    end = max(s["first_event_at"] for s in states.values()) + dt.timedelta(hours=49)
    for umid in list(states):
        put(umid, "orphan", {"as_of": end})
    return states, rows


def _sum_at_truth_grain(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    out: dict[tuple[str, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        k = (r["day"].isoformat(), r["subaccount_id"], r["country"], r["operator"])
        for f in ("total", "received", "sent", "delivered", "undelivered", "rejected",
                  "chargeable", "segments", "verification_sent", "verification_converted",
                  "replies", "survey_answered", "clicked", "inbound"):
            out[k][f] += r[f]
        out[k].setdefault("cost", defaultdict(Decimal))
        out[k]["cost"][r["currency"]] += r["cost"]
    return {k: {f: ({c: str(a) for c, a in v.items() if a} if f == "cost" else v)
                for f, v in m.items()} for k, m in out.items()}


@pytest.mark.parametrize(
    ("seed", "messages", "unlisted_share", "shuffle"),
    [(77, 3000, 0.0, False), (77, 3000, 0.0, True),
     (20240, 4000, 0.0, False),  # ported numbers whose request and receipts name other networks
     (1717, 3000, 0.1, True)],  # 10% destinations libphonenumber does not list (issue 17)
)
def test_simulation_through_pure_functions_equals_truth(
    seed: int, messages: int, unlisted_share: float, shuffle: bool
) -> None:
    sim = simulate(SimConfig(messages=messages, seed=seed, unlisted_share=unlisted_share))
    events = list(sim.events)
    if shuffle:  # any arrival order: the final records and sums must not change
        random.Random(5).shuffle(events)
    states, rows = _pure_pipeline(events)
    got = _sum_at_truth_grain(rows)
    want = {(d["day"], d["subaccount_id"], d["country"], d["operator"]):
            {**{f: v for f, v in d.items() if f not in ("day", "subaccount_id", "country",
                                                        "operator")}} for d in sim.truth["daily"]}
    for k in set(got) | set(want):
        g = {f: v for f, v in got.get(k, {}).items() if v}
        w = {f: v for f, v in want.get(k, {}).items() if v}
        assert g == w, k
    assert sum(1 for s in states.values() if s["orphan"]) == sim.truth["orphans"] > 0
    assert sum(d["replies"] for d in sim.truth["daily"]) > 0
    # the stored reply counts per outbound equal the simulator's, in any arrival order
    counts = {m.umid: (m.replies, m.opt_outs) for m in sim.messages}
    got_counts = {u: (s["reply_count"], s["opt_out_count"]) for u, s in states.items()
                  if s["direction"] == "OUTBOUND" and s["has_request"]}
    assert got_counts == {u: c for u, c in counts.items() if u in got_counts}
    assert sum(n for n, _ in got_counts.values()) == sum(1 for mo in sim.inbound if mo.reply_to)
    assert sum(k for _, k in got_counts.values()) == sum(
        1 for mo in sim.inbound if mo.opt_out) > 0
    codec = get_codec()
    for s in list(states.values())[:500]:
        assert codec.decode_as("MessageState", codec.encode("MessageState", s)) == s
    for r in rows[:2000]:
        assert codec.decode_as("DailyDelta", codec.encode("DailyDelta", r)) == r
