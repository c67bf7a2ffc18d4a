"""Traffic simulator: determinism, files, faults, and ground truth checked against the events."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from producers.phone import parse_destination
from producers.segments import count_segments
from schemas.codec import get_codec, load_schema
from simulator.simulation import (
    KINDS,
    SCHEMA_OF,
    SimConfig,
    Simulation,
    load_bad_records,
    load_events,
    load_truth,
    simulate,
    write_simulation,
)
from simulator.truth import InboundTruth, MessageTruth, compute_truth, is_opt_out
from smsflow.errors import ConfigError, SchemaError
from smsflow.operators import canonical_name, operator_of_mcc_mnc
from streams.state import receipt_operator

SMSFLOW = str(Path(sys.executable).parent / "smsflow")
UTC = dt.UTC


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(SimConfig(messages=3000, seed=42, bad_records=3))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


# ---- determinism ------------------------------------------------------------------------------

def test_cli_same_seed_same_bytes_across_processes(tmp_path: Path) -> None:
    """Two processes with different hash seeds write byte-identical files."""
    outs = []
    for i, hashseed in enumerate(("1", "987")):
        out = tmp_path / f"run{i}"
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        proc = subprocess.run(
            [SMSFLOW, "simulate", "--messages", "1200", "--seed", "9", "--out", str(out),
             "--bad-records", "2"], capture_output=True, text=True, env=env, timeout=300,
            check=False)
        assert proc.returncode == 0, proc.stderr
        assert "simulated 1200 messages" in proc.stderr
        outs.append(_files(out))
    assert sorted(outs[0]) == sorted(outs[1]) == [
        "events/clicks.jsonl", "events/inbound.jsonl", "events/invalid.jsonl",
        "events/order.txt", "events/otp_feedback.jsonl", "events/receipts.jsonl",
        "events/requests.jsonl", "events/surveys.jsonl", "inbound.jsonl", "messages.jsonl",
        "truth.json"]
    for name in outs[0]:
        assert outs[0][name] == outs[1][name], name
    assert len(outs[0]["events/requests.jsonl"].splitlines()) == 1200


def test_other_seed_other_traffic() -> None:
    a = simulate(SimConfig(messages=200, seed=1))
    b = simulate(SimConfig(messages=200, seed=2))
    assert a.events != b.events
    assert a.truth["meta"]["last_day"] == "2024-01-02"
    assert b.truth["meta"]["last_day"] == "2024-01-03"
    assert simulate(SimConfig(messages=200, seed=1)).truth == a.truth


def test_files_load_back_to_the_same_records(sim: Simulation, tmp_path: Path) -> None:
    write_simulation(sim, tmp_path)
    assert load_events(tmp_path) == sim.events
    assert load_bad_records(tmp_path) == sim.bad
    assert load_truth(tmp_path) == sim.truth
    line = (tmp_path / "events" / "receipts.jsonl").read_text().splitlines()[0]
    assert '"status_at":"20' in line and line.startswith('{"batch_id":')


# ---- records ----------------------------------------------------------------------------------

def test_every_record_encodes_and_round_trips(sim: Simulation) -> None:
    codec = get_codec()
    for kind, umid, rec in sim.events:
        name, back = codec.decode(codec.encode(SCHEMA_OF[kind], rec))
        assert name == SCHEMA_OF[kind]
        defaults = {f["name"]: f["default"] for f in load_schema(name)["fields"]
                    if "default" in f and f["name"] not in rec}  # e.g. flags of a clean request
        assert back == {**rec, **defaults}, (kind, umid)
        assert rec["umid"] == umid == umid.lower() and len(umid) == 36


def test_bad_records_are_invalid_on_their_topic(sim: Simulation) -> None:
    codec = get_codec()
    assert len(sim.bad) == 3 * len(KINDS)
    assert sim.truth["invalid"] == dict.fromkeys(sorted(KINDS), 3)
    flavours = Counter(b.flavour for b in sim.bad)
    assert flavours == {"random-bytes": 6, "wrong-schema": 6, "json-without-umid": 6}
    for b in sim.bad:
        with pytest.raises(SchemaError):
            codec.decode_as(SCHEMA_OF[b.kind], b.payload(codec))


def test_requests_are_built_like_the_platform(sim: Simulation) -> None:
    requests = [r for k, _, r in sim.events if k == "requests"]
    assert len(requests) == sim.truth["messages"] == 3000
    for r in requests:
        seg = count_segments(r["text"], r["requested_encoding"])
        assert (seg.encoding, seg.parts) == (r["encoding"], r["sms_count"])
        assert 1 <= r["sms_count"] <= 10
        if r["status"] == "QUEUED":
            info = parse_destination(r["destination"])
            assert (info.country, info.operator) == (r["country"], r["operator"])
        else:
            assert r["status_description"]
    assert {r["origin"] for r in requests} == {"HTTP_API", "SMPP", "MCS"}
    assert {r["encoding"] for r in requests} == {"GSM7", "UCS2"}
    assert any(r["truncated"] for r in requests)
    assert len({r["country"] for r in requests} - {None}) == 8
    subs = Counter(r["subaccount_id"] for r in requests)
    assert len(subs) == 4 and subs.most_common(1)[0][0] == "acme-shop"
    assert subs["acme-shop"] > 2 * max(v for k, v in subs.items() if k != "acme-shop")
    known = sum(1 for r in requests if r["operator"])
    assert 0.5 * len(requests) < known < len(requests)
    assert any(r["batch_id"] and r["client_batch_id"] for r in requests)
    assert any(r["campaign_id"] and r["origin"] == "MCS" for r in requests)
    for k, _, rec in sim.events:
        if k == "receipts" and rec["price_total"] is not None:
            assert rec["price_total"] == rec["price_per_sms"] * rec["sms_count"]
            assert rec["price_per_sms"].as_tuple().exponent == -8


def test_faults_are_present(sim: Simulation) -> None:
    requests = {u: (i, r) for i, (k, u, r) in enumerate(sim.events) if k == "requests"}
    receipts: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, (k, u, r) in enumerate(sim.events):
        if k == "receipts":
            receipts[u].append((i, r))
    dup = sum(len(v) - len({tuple(sorted(r.items())) for _, r in v}) for v in receipts.values())
    assert dup == sum(m.duplicate_receipts for m in sim.messages) > 0
    out_of_order = [u for u, v in receipts.items()
                    if [r["state"] for _, r in v][:1] in (["delivered"], ["undelivered"])
                    and any(r["state"] == "sent" for _, r in v)]
    assert out_of_order
    before_request = [u for u, v in receipts.items() if u in requests and v[0][0] < requests[u][0]]
    assert before_request
    orphans = set(receipts) - set(requests)
    assert len(orphans) == sim.truth["orphans"] == 6
    finals = [(m.delivered_at or m.undelivered_at, m.submitted_at) for m in sim.messages]
    late = [f for f, s in finals if f is not None and f - s > dt.timedelta(hours=24)]
    assert late and all(f.date() > s.date() for f, s in finals if f in late)
    assert sim_end(sim) >= max(late)
    states = Counter(m.state for m in sim.messages)
    assert set(states) == {"rejected", "queued", "sent", "delivered", "undelivered", "read"}
    feedback = Counter(u for k, u, _ in sim.events if k == "otp_feedback")
    assert max(feedback.values()) == 2
    clicks = Counter(u for k, u, _ in sim.events if k == "clicks")
    assert max(clicks.values()) > 1
    assert any(k == "surveys" for k, _, _ in sim.events)
    assert any(mo.reply_to for mo in sim.inbound) and any(not mo.reply_to for mo in sim.inbound)
    assert any(mo.opt_out for mo in sim.inbound)
    # SMPP receipts carry only MCC/MNC: the operator is its name from the operator table
    assert any(not m.request_operator and not m.receipt_operator and m.mcc and m.mnc
               and m.operator == operator_of_mcc_mnc(m.mcc, m.mnc) != f"{m.mcc}-{m.mnc}"
               for m in sim.messages)
    errors = {(r["error_code"], r["error_message"]) for k, _, r in sim.events
              if k == "receipts" and r["state"] == "undelivered"}
    assert len(errors) >= 4 and all(code and msg for code, msg in errors)


def sim_end(sim: Simulation) -> dt.datetime:
    return dt.datetime.fromisoformat(sim.truth["meta"]["stream_end"])


# ---- ground truth recomputed from the events alone ---------------------------------------------

RANK = {"queued": 0, "rejected": 0, "sent": 1, "delivered": 2, "undelivered": 2, "read": 3}


def _pct(a: int, b: int) -> str:
    return "0.00" if b == 0 else str((Decimal(100 * a) / b).quantize(Decimal("0.01"),
                                                                    rounding=ROUND_HALF_UP))


def _recompute_daily(events: list[tuple[str, str, dict[str, Any]]], window_h: float
                     ) -> list[dict[str, Any]]:
    """Daily rows from the event stream only (order-independent fold, as a worker must)."""
    req: dict[str, dict[str, Any]] = {}
    rcp: dict[str, list[dict[str, Any]]] = defaultdict(list)
    fb, srv, clk = set(), set(), set()
    mos = []
    for kind, umid, r in events:
        if kind == "requests":
            req[umid] = r
        elif kind == "receipts":
            rcp[umid].append(r)
        elif kind == "otp_feedback":
            fb.add(umid)
        elif kind == "surveys":
            srv.add(umid)
        elif kind == "clicks":
            clk.add(umid)
        else:
            mos.append(r)
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in req.values():
        pairs[(r["destination"], r["source"])].append(r)
    replied = set()
    window = dt.timedelta(hours=window_h)
    for mo in mos:
        cands = [r for r in pairs.get((mo["source"], mo["destination"]), [])
                 if r["submitted_at"] <= mo["received_at"] <= r["submitted_at"] + window]
        if cands:
            replied.add(max(cands, key=lambda r: r["submitted_at"])["umid"])
    rows: dict[tuple[str, str, str, str], Counter[str]] = defaultdict(Counter)
    costs: dict[tuple[str, str, str, str], dict[str, Decimal]] = defaultdict(dict)
    for umid, r in req.items():
        state = "rejected" if r["status"] == "REJECTED" else "queued"
        price = currency = None
        for x in rcp[umid]:
            if RANK[x["state"]] > RANK[state]:
                state = x["state"]
            if price is None and x["price_total"] is not None:
                price, currency = x["price_total"], x["currency"]
        op = r["operator"] or next((receipt_operator(x) for x in rcp[umid]), None) or ""
        op = canonical_name(op, r["country"])
        key = (r["submitted_at"].date().isoformat(), r["subaccount_id"], r["country"] or "", op)
        c = rows[key]
        c["total"] += 1
        c["rejected"] += state == "rejected"
        c["received"] += state == "queued"
        c["sent"] += state in ("sent", "delivered", "undelivered", "read")
        c["delivered"] += state in ("delivered", "read")
        c["undelivered"] += state == "undelivered"
        c["chargeable"] += state != "rejected"
        c["segments"] += r["sms_count"]
        c["verification_sent"] += r["verification"]
        c["verification_converted"] += r["verification"] and umid in fb
        c["replies"] += umid in replied
        c["survey_answered"] += umid in srv
        c["clicked"] += umid in clk
        if state != "rejected" and price is not None:
            costs[key][currency] = costs[key].get(currency, Decimal(0)) + price
    for mo in mos:
        key = (mo["received_at"].date().isoformat(), mo["subaccount_id"],
               parse_destination(mo["source"]).country or "", "")
        rows[key]["inbound"] += 1
    names = ("total", "received", "sent", "delivered", "undelivered", "rejected", "chargeable",
             "segments", "verification_sent", "verification_converted", "replies",
             "survey_answered", "clicked", "inbound")
    return [{"day": k[0], "subaccount_id": k[1], "country": k[2], "operator": k[3],
             **{n: rows[k][n] for n in names},
             "cost": {cur: str(v) for cur, v in sorted(costs[k].items())}}
            for k in sorted(rows)]


def test_truth_equals_an_independent_fold_of_the_events(sim: Simulation) -> None:
    assert _recompute_daily(sim.events, 24.0) == sim.truth["daily"]


def test_truth_under_heavy_faults_and_replies() -> None:
    s = simulate(SimConfig(messages=2500, seed=77, duplicate_rate=1.0, out_of_order_rate=1.0,
                           receipt_before_request_rate=0.5, reply_rate=1.0,
                           unrelated_inbound_rate=0.1, reply_window_hours=6))
    assert _recompute_daily(s.events, 6.0) == s.truth["daily"]
    assert sum(r["replies"] for r in s.truth["daily"]) == sum(m.replied for m in s.messages) > 100


@pytest.fixture(scope="module")
def sim_half_smpp() -> Simulation:
    return simulate(SimConfig(messages=1500, seed=20, smpp_receipt_share=0.5))


def test_smpp_share_changes_the_channel_of_receipts_not_the_traffic(
    sim_half_smpp: Simulation,
) -> None:
    from producers.smpp_pdu import parse_deliver_sm
    from simulator.smsc import deliver_sm_pdu

    s = sim_half_smpp
    plain = simulate(SimConfig(messages=1500, seed=20))
    assert [(k, u) for k, u, _ in s.events] == [(k, u) for k, u, _ in plain.events]
    receipts = sum(1 for k, _, _ in s.events if k == "receipts")
    assert 0.45 < len(s.smpp) / receipts < 0.55
    for i, ((kind, _, rec), (_, _, was)) in enumerate(zip(s.events, plain.events, strict=True)):
        if i not in s.smpp:
            assert rec == was
            continue
        assert kind == "receipts"
        # the bridge's parser reads the PDU the test SMSC sends for the spec as the record the
        # simulator derived without it (simulator.smpp.smpp_record)
        read = parse_deliver_sm(deliver_sm_pdu(s.smpp[i]), now=dt.datetime.now(UTC),
                                subaccount_id="x").record
        assert rec == {**read, "received_at": None}
        assert rec["price_total"] is None and rec["operator"] is None
        assert rec["status_at"] == was["status_at"].replace(
            microsecond=0, second=rec["status_at"].second)
        assert rec["state"] == ("delivered" if was["state"] == "read" else was["state"])
    tags = Counter(t for spec in s.smpp.values() for t, _ in spec["tlvs"])
    assert 0 < tags[0x001E] < len(s.smpp)  # text-only and text + TLV receipts
    assert any(r["status_at"].second for _, _, r in (s.events[i] for i in s.smpp))
    assert sum(1 for i in s.smpp if s.events[i][2]["status_at"].second == 0) > len(s.smpp) / 10


def test_half_smpp_truth_follows_what_the_channels_carry(sim_half_smpp: Simulation) -> None:
    s = sim_half_smpp
    assert _recompute_daily(s.events, 24.0) == s.truth["daily"]
    plain = simulate(SimConfig(messages=1500, seed=20))
    assert s.truth["dashboard"]["cost"]["EUR"] < plain.truth["dashboard"]["cost"]["EUR"]
    firsts: dict[str, dict[str, dt.datetime]] = defaultdict(dict)
    for kind, umid, r in s.events:
        if kind == "receipts":
            at = firsts[umid].get(r["state"])
            firsts[umid][r["state"]] = r["status_at"] if at is None else min(at, r["status_at"])
    for m in s.messages:
        f = firsts.get(m.umid, {})
        assert (m.sent_at, m.delivered_at, m.undelivered_at, m.read_at) == (
            f.get("sent"), f.get("delivered"), f.get("undelivered"), f.get("read")), m.umid
    assert sum(m.state == "read" for m in s.messages) < sum(
        m.state == "read" for m in plain.messages)


def test_truth_is_internally_consistent(sim: Simulation) -> None:
    t = sim.truth
    totals: Counter[str] = Counter()
    cost = Decimal(0)
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for row in t["daily"]:
        assert row["total"] == row["rejected"] + row["received"] + row["sent"]
        assert row["chargeable"] == row["total"] - row["rejected"]
        assert row["delivered"] + row["undelivered"] <= row["sent"]
        assert row["verification_converted"] <= row["verification_sent"]
        assert set(row["cost"]) <= {"EUR"}
        totals.update({k: v for k, v in row.items() if isinstance(v, int)})
        cost += Decimal(row["cost"].get("EUR", "0"))
        per_day[row["day"]].update({k: v for k, v in row.items() if isinstance(v, int)})
    d = t["dashboard"]
    assert (d["total"], d["delivered"]) == (totals["total"], totals["delivered"]) == (
        3000, sum(1 for m in sim.messages if m.state in ("delivered", "read")))
    assert Decimal(d["cost"]["EUR"]) == cost == sum(m.cost for m in sim.messages)
    assert d["delivery_rate"] == _pct(d["delivered"], d["total"])
    assert d["countries"] == 8
    assert totals["inbound"] == len(sim.inbound) == sim.truth["meta"]["events"]["inbound"]
    assert [p["day"] for p in d["per_day"]] == ["2024-02-10", "2024-02-11", "2024-02-12"]
    for p in d["per_day"]:
        c = per_day[p["day"]]
        assert (p["total"], p["delivered"]) == (c["total"], c["delivered"])
        assert p["delivery_rate"] == _pct(c["delivered"], c["total"])
        day_cost = sum(Decimal(r["cost"].get("EUR", "0")) for r in t["daily"]
                       if r["day"] == p["day"])
        assert Decimal(p["cost"]["EUR"]) == day_cost
        assert Decimal(p["average_cost"]) == (day_cost / c["total"]).quantize(
            Decimal("0.00000001"), rounding=ROUND_HALF_UP)
    assert sum(x["verification_sent"] for x in t["conversions"]) == totals["verification_sent"]
    assert sum(x["converted"] for x in t["conversions"]) == totals["verification_converted"]
    for x in t["conversions"]:
        assert x["conversion_rate"] == _pct(x["converted"], x["verification_sent"])
    camp = Counter(m.campaign_id for m in sim.messages if m.campaign_id)
    assert {c["campaign_id"]: c["total"] for c in t["campaigns"]} == dict(camp)
    assert t["messages"] == len(sim.messages) == sim.counts()["requests"]
    assert t["meta"]["events"] == sim.counts()


# ---- a tiny scenario computed by hand ---------------------------------------------------------

def _m(umid: str, state: str, **kw: Any) -> MessageTruth:
    base: dict[str, Any] = dict(
        umid=umid, subaccount_id="A", origin="HTTP_API",
        submitted_at=dt.datetime(2024, 5, 1, 10, tzinfo=UTC), status="QUEUED",
        status_description=None, destination="+6591234567", source="+6580000000", country="SG",
        request_operator="SingTel", network="SingTel", mcc="525", mnc="01",
        receipt_operator="SingTel", encoding="GSM7", sms_count=1, truncated=False,
        verification=False, state=state)
    base.update(kw)
    return MessageTruth(**base)


def test_hand_computed_scenario() -> None:
    p = Decimal("0.0446592")
    msgs = [
        _m("u1", "delivered", price_total=p, currency="EUR", receipts=2, verification=True,
           converted=True, campaign_id="c1"),
        _m("u2", "undelivered", price_total=p * 3, currency="EUR", sms_count=3, receipts=1,
           replied=True, clicks=2, campaign_id="c1"),
        _m("u3", "rejected", status="REJECTED", status_description="Insufficient credit",
           price_total=None, verification=True, sms_count=2),
        _m("u4", "queued", request_operator=None, submitted_at=dt.datetime(
            2024, 5, 2, 23, 59, 59, 999999, tzinfo=UTC)),
        _m("u5", "sent", request_operator=None, receipt_operator=None, receipts=1,
           submitted_at=dt.datetime(2024, 5, 2, 8, tzinfo=UTC), survey_answered=True),
    ]
    mo = InboundTruth(umid="i1", subaccount_id="A",
                      received_at=dt.datetime(2024, 5, 2, 0, 0, 1, tzinfo=UTC),
                      source="+6591234567", destination="+6580000000", country="SG",
                      body=" stop ", encoding="GSM7", sms_count=1,
                      price_total=Decimal("0.006"), currency="EUR", reply_to="u2")
    t = compute_truth(msgs, [mo], orphans=1, invalid={"requests": 2})
    zero = dict.fromkeys(("total", "received", "sent", "delivered", "undelivered", "rejected",
                          "chargeable", "segments", "verification_sent",
                          "verification_converted", "replies", "survey_answered", "clicked",
                          "inbound"), 0)
    assert t["daily"] == [
        {**zero, "day": "2024-05-01", "subaccount_id": "A", "country": "SG",
         "operator": "SingTel", "total": 3, "sent": 2, "delivered": 1, "undelivered": 1,
         "rejected": 1, "chargeable": 2, "segments": 6, "verification_sent": 2,
         "verification_converted": 1, "replies": 1, "clicked": 1,
         "cost": {"EUR": "0.17863680"}},
        {**zero, "day": "2024-05-02", "subaccount_id": "A", "country": "SG", "operator": "",
         "total": 1, "received": 1, "chargeable": 1, "segments": 1, "inbound": 1,
         "cost": {}},
        {**zero, "day": "2024-05-02", "subaccount_id": "A", "country": "SG",
         "operator": "SingTel", "total": 1, "sent": 1, "chargeable": 1, "segments": 1,
         "survey_answered": 1, "cost": {}},
    ]
    assert t["dashboard"] == {
        "total": 5, "delivered": 1, "delivery_rate": "20.00", "cost": {"EUR": "0.17863680"},
        "countries": 1,
        "per_day": [
            {"day": "2024-05-01", "total": 3, "delivered": 1, "delivery_rate": "33.33",
             "cost": {"EUR": "0.17863680"}, "average_cost": "0.05954560"},
            {"day": "2024-05-02", "total": 2, "delivered": 0, "delivery_rate": "0.00",
             "cost": {}, "average_cost": "0.00000000"},
        ],
    }
    assert t["conversions"] == [{"day": "2024-05-01", "verification_sent": 2, "converted": 1,
                                 "conversion_rate": "50.00", "cost": {"EUR": "0.04465920"}}]
    assert t["campaigns"] == [{"campaign_id": "c1", "total": 2, "delivered": 1,
                               "delivery_rate": "50.00", "cost": {"EUR": "0.17863680"}}]
    assert (t["orphans"], t["messages"], t["invalid"]) == (1, 5, {"requests": 2})
    assert mo.opt_out and is_opt_out("StopAll") and not is_opt_out("stop it")


# ---- configuration and CLI errors -------------------------------------------------------------

@pytest.mark.parametrize("kw", [{"messages": -1}, {"days": 0}, {"reject_rate": 1.5},
                                {"duplicate_rate": -0.1}, {"bad_records": -2}])
def test_bad_config_is_a_config_error(kw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SimConfig(**kw)


def test_cli_without_output_is_a_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run([SMSFLOW, "simulate", "--messages", "5"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: nothing to do: give --out DIR and/or --produce"]


def test_short_span_has_no_orphans() -> None:
    s = simulate(SimConfig(messages=2000, seed=3, days=1, orphan_rate=0.01))
    assert s.truth["orphans"] == 0 and s.truth["meta"]["orphans_generated"] == 0
    assert {p["day"] for p in s.truth["dashboard"]["per_day"]} == {s.truth["meta"]["last_day"]}
