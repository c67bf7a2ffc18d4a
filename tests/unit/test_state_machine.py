"""The pure state machine (streams.state) and reply matching (streams.replies), table-driven.

Every case is a list of events for one umid and the expected final record; unless a case says
otherwise, every permutation of its events must give the same final content (order-insensitive)
and applying any of its events again must change nothing (duplicates / replays).
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest

from schemas import get_codec
from smsflow.errors import ValidationError
from streams.replies import compute_counts, compute_replies, merge_pair, pair_key, reply_targets
from streams.state import apply, derive_state, new_state, number_country

U = "0b7f3f4e-8c1a-4c55-9a3e-2f1d6a7b8c9d"
T0 = dt.datetime(2024, 3, 1, 23, 59, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
EUR = Decimal("0.04465920")


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def request(**kw: Any) -> tuple[str, dict[str, Any]]:
    r: dict[str, Any] = {
        "umid": U, "batch_id": None, "client_message_id": "c-1", "client_batch_id": None,
        "subaccount_id": "acme", "campaign_id": None, "origin": "HTTP_API", "source": "ACME",
        "destination": "+6591234567", "text": "hi", "requested_encoding": "AUTO",
        "encoding": "GSM7", "sms_count": 2, "truncated": False, "country": "SG",
        "operator": None, "verification": False, "status": "QUEUED",
        "status_description": None, "submitted_at": T0,
    }
    r.update(kw)
    return "request", r


def receipt(state: str, hours: float, **kw: Any) -> tuple[str, dict[str, Any]]:
    r: dict[str, Any] = {
        "umid": U, "state": state, "status_at": at(hours), "detail": None, "error_code": None,
        "error_message": None, "price_total": None, "price_per_sms": None, "currency": None,
        "sms_count": None, "mcc": None, "mnc": None, "operator": None,
    }
    r.update(kw)
    return "receipt", r


def priced(state: str, hours: float, **kw: Any) -> tuple[str, dict[str, Any]]:
    return receipt(state, hours, price_total=EUR, price_per_sms=EUR / 2, currency="EUR", **kw)


def otp(hours: float) -> tuple[str, dict[str, Any]]:
    return "otp", {"umid": U, "subaccount_id": None, "converted_at": at(hours)}


def run(events: list[tuple[str, dict[str, Any]]], state: dict[str, Any] | None = None,
        **kw: Any) -> dict[str, Any] | None:
    for kind, ev in events:
        new = apply(state, kind, ev, **kw)
        if new is not None:
            assert new["version"] == (state["version"] if state else 0) + 1
            assert new["previous_contribution"] == (state["contribution"] if state else None)
            state = new
    return state


#: bookkeeping that legitimately depends on the path (how many versions it took)
PATH_FIELDS = ("version", "receipts", "previous_contribution")


def content(s: dict[str, Any] | None) -> dict[str, Any]:
    assert s is not None
    return {k: v for k, v in s.items() if k not in PATH_FIELDS}


CASES: dict[str, tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]] = {
    "in order: queued, sent, delivered": (
        [request(), receipt("sent", 0.01),
         priced("delivered", 0.1, detail="delivered_to_recipient")],
        {"state": "delivered", "detail": "delivered_to_recipient", "sent_at": at(0.01),
         "delivered_at": at(0.1), "price_total": EUR, "currency": "EUR", "queued_at": T0},
    ),
    "late sent after delivered keeps delivered, fills sent_at": (
        [request(), priced("delivered", 0.1), receipt("sent", 0.02)],
        {"state": "delivered", "sent_at": at(0.02), "delivered_at": at(0.1)},
    ),
    "receipts before the request are held then merged": (
        [priced("delivered", 0.2), receipt("sent", 0.1), request()],
        {"state": "delivered", "has_request": True, "queued_at": T0, "first_event_at": T0},
    ),
    "queued receipt before the request: the request's time wins": (
        [receipt("queued", -0.5), request()],
        {"state": "queued", "queued_at": T0},
    ),
    "undelivered carries its detail and error": (
        [request(), receipt("sent", 0.1),
         priced("undelivered", 0.3, detail="undelivered_to_recipient", error_code=27,
                error_message="Absent subscriber")],
        {"state": "undelivered", "detail": "undelivered_to_recipient", "error_code": 27,
         "error_message": "Absent subscriber"},
    ),
    "two finals: the later one wins whatever the order": (
        [request(), priced("delivered", 0.2, detail="delivered_to_operator"),
         receipt("undelivered", 0.9, detail="undelivered_to_recipient")],
        {"state": "undelivered", "detail": "undelivered_to_recipient", "delivered_at": at(0.2),
         "undelivered_at": at(0.9)},
    ),
    "read after delivered counts as delivered": (
        [request(), priced("delivered", 0.2), receipt("read", 3)],
        {"state": "read", "read_at": at(3)},
    ),
    "rejected request: cost 0, reason kept": (
        [request(status="REJECTED", status_description="invalid destination"),
         priced("sent", 0.1)],
        {"state": "rejected", "rejected_at": T0, "error_message": "invalid destination",
         "detail": None},
    ),
    "operator from MCC/MNC, then a receipt naming it": (
        [request(), receipt("sent", 0.1, mcc="525", mnc="01"),
         priced("delivered", 0.2, operator="Singtel")],
        {"operator": "SingTel", "mcc": "525", "mnc": "01", "flags": []},
    ),
    "MCC/MNC only: the operator's name, one row with receipts naming it (issue 17)": (
        [request(destination="+5511912345678", country="BR"),
         receipt("sent", 0.1, mcc="724", mnc="02")],
        {"operator": "TIM", "flags": []},
    ),
    "receipt name made canonical (T-Mobile USA is 310-260's T-Mobile)": (
        [request(destination="+12125550100", country="US"),
         priced("delivered", 0.2, operator="T-Mobile USA", mcc="310", mnc="260")],
        {"operator": "T-Mobile", "flags": []},
    ),
    "request's operator stays when a ported number's receipts name its network's brand": (
        # 262-03 (E-Plus) is listed as brand O2: the receipts' 'Eplus' must not replace it
        [request(destination="+4915112345678", country="DE", operator="O2"),
         receipt("sent", 0.1, mcc="262", mnc="03", operator="Eplus"),
         priced("delivered", 0.2, mcc="262", mnc="03", operator="Eplus")],
        {"operator": "O2"},
    ),
    "receipts: the name of a listed MCC/MNC wins over the name they carry": (
        [request(destination="+4915112345678", country="DE"),
         receipt("sent", 0.1, mcc="262", mnc="01", operator="T-Mobile"),
         priced("delivered", 0.2, mcc="262", mnc="01")],
        {"operator": "Telekom"},
    ),
    "MCC/MNC the table does not list: kept as mcc-mnc, flagged": (
        [request(), receipt("sent", 0.1, mcc="999", mnc="77")],
        {"operator": "999-77", "flags": ["operator_unknown"]},
    ),
    "request flags are carried, an unknown MCC/MNC named later clears its flag": (
        [request(flags=["number_unlisted"], destination="+4912345678901", country="DE"),
         receipt("sent", 0.1, mcc="999", mnc="77"), priced("delivered", 0.2, operator="Acme")],
        {"operator": "Acme", "flags": ["number_unlisted"], "country": "DE"},
    ),
    "request operator beats receipt operator": (
        [request(operator="StarHub"), priced("delivered", 0.2, operator="Singtel")],
        {"operator": "StarHub"},
    ),
    "verification converted, feedback first or last": (
        [request(verification=True), priced("delivered", 0.1), otp(0.2), otp(0.15)],
        {"converted": True, "converted_at": at(0.15), "verification": True},
    ),
    "survey and clicks": (
        [request(), priced("delivered", 0.1),
         ("survey", {"umid": U, "survey_id": "s", "survey_submitted_at": at(1)}),
         ("click", {"umid": U, "clicked_at": at(2), "url": "u", "distinct_clicks": 1}),
         ("click", {"umid": U, "clicked_at": at(3), "url": "u", "distinct_clicks": 2})],
        {"survey_answered": True, "clicked": True, "clicks": 2},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_case_final_state(name: str) -> None:
    events, expected = CASES[name]
    final = run(events)
    assert final is not None
    for field, value in expected.items():
        assert final[field] == value, (name, field)


@pytest.mark.parametrize("name", list(CASES))
def test_case_is_order_insensitive_and_idempotent(name: str) -> None:
    events, _ = CASES[name]
    reference = content(run(events))
    for perm in itertools.permutations(events):
        final = run(list(perm))
        assert content(final) == reference, (name, [k for k, _ in perm])
        for kind, ev in events:  # every event again: a duplicate or a replay
            assert apply(final, kind, ev) is None


def test_versions_contributions_and_encoding() -> None:
    codec = get_codec()
    s1 = run([request()])
    s2 = run([receipt("sent", 0.1)], s1)
    s3 = run([priced("delivered", 0.2)], s2)
    assert [s["version"] for s in (s1, s2, s3)] == [1, 2, 3]  # type: ignore[index]
    assert s3 is not None and s2 is not None
    assert s3["previous_contribution"] == s2["contribution"]
    assert s3["receipts"] == 2 and s3["duplicates"] == 0
    assert s3["contribution"]["cost"] == EUR and s3["contribution"]["day"] == dt.date(2024, 3, 1)
    assert codec.decode_as("MessageState", codec.encode("MessageState", s3)) == s3


def test_held_receipts_count_nowhere_and_orphan_after_ttl() -> None:
    held = run([priced("delivered", 0.0)])
    assert held is not None
    assert held["has_request"] is False and held["contribution"] is None
    assert apply(held, "orphan", {"as_of": at(47.9)}) is None  # not yet
    orphan = apply(held, "orphan", {"as_of": at(48)})
    assert orphan is not None and orphan["orphan"] is True and orphan["contribution"] is None
    assert apply(orphan, "orphan", {"as_of": at(100)}) is None  # marked once
    late = run([request()], orphan)
    assert late is not None and late["orphan"] is False and late["contribution"]["total"] == 1
    assert apply(late, "orphan", {"as_of": at(500)}) is None  # a request is never an orphan
    short = apply(held, "orphan", {"as_of": at(2)}, orphan_ttl=dt.timedelta(hours=1))
    assert short is not None and short["orphan"] is True


def test_first_priced_receipt_sets_the_price_once() -> None:
    s = run([request(), priced("sent", 0.1),
             receipt("delivered", 0.2, price_total=Decimal("9.00000000"), currency="USD")])
    assert s is not None and (s["price_total"], s["currency"]) == (EUR, "EUR")


def test_control_events_need_an_outbound_record() -> None:
    assert apply(None, "reply", {"replied": True, "replied_at": at(1)}) is None
    assert apply(None, "orphan", {"as_of": at(100)}) is None
    s = run([request(), ("reply", {"replied": True, "replied_at": at(1)})])
    assert s is not None and (s["replied"], s["replied_at"]) == (True, at(1))
    s2 = apply(s, "reply", {"replied": False, "replied_at": None})
    assert s2 is not None and (s2["replied"], s2["replied_at"]) == (False, None)
    assert s2["contribution"]["replies"] == 0 and s["contribution"]["replies"] == 1


def test_inbound_record_and_direction_conflicts() -> None:
    mo = {"umid": U, "subaccount_id": "acme", "received_at": at(5), "source": "+6591234567",
          "destination": "+4534735477", "body": "YES", "encoding": "GSM7", "sms_count": 1,
          "price_total": EUR, "price_per_sms": EUR, "currency": "EUR"}
    s = apply(None, "inbound", mo)
    assert s is not None and s["direction"] == "INBOUND" and s["country"] == "SG"
    assert s["contribution"]["inbound"] == 1 and s["contribution"]["cost"] == 0
    assert apply(s, "inbound", mo) is None
    assert apply(s, "orphan", {"as_of": at(500)}) is None
    assert apply(s, "reply", {"replied": True, "replied_at": at(6)}) is None
    with pytest.raises(ValidationError):
        apply(s, *receipt("sent", 1))
    with pytest.raises(ValidationError):
        apply(run([request()]), "inbound", mo)


def test_derive_state_and_helpers() -> None:
    s = new_state(U)
    assert derive_state(s) is None
    s["queued_at"] = T0
    assert derive_state(s) == "queued"
    s["rejected_at"] = s["delivered_at"] = at(1)  # tie: rejected ranks highest
    assert derive_state(s) == "rejected"
    assert number_country("+6591234567") == "SG"
    assert number_country("12345") is None and number_country(None) is None


# ----------------------------------------------------------------------- replies
W = 24 * 3600 * 1_000_000


def test_reply_marks_most_recent_outbound_in_window() -> None:
    out = {"a": 0, "b": 10 * 3600 * 1_000_000}
    assert compute_replies(out, {"m1": 11 * 3600 * 1_000_000}, W) == {"b": 11 * 3600 * 1_000_000}
    assert compute_replies(out, {"m1": 5}, W) == {"a": 5}
    assert compute_replies(out, {"m1": 10 * 3600 * 1_000_000 + W + 1}, W) == {}  # too late
    assert compute_replies(out, {"m1": -1}, W) == {}  # before any outbound
    assert compute_replies({"a": 0}, {"m1": 9, "m2": 7}, W) == {"a": 7}  # first MO


def test_late_outbound_takes_the_reply_over_whatever_the_order() -> None:
    events = [("outbound", "a", 0), ("inbound", "m1", 100), ("outbound", "b", 50),
              ("outbound", "a", 0)]
    finals = set()
    for perm in itertools.permutations(events):
        pair = None
        sent: dict[str, tuple[bool, int | None, int, int]] = {}
        for side, umid, t in perm:
            new = merge_pair(pair, side, umid, t, W)
            current = new if new is not None else pair
            assert current is not None
            for u, replied, when, n, k in reply_targets(pair, new, current):
                sent[u] = (replied, when, n, k)
            pair = current
        assert pair is not None
        finals.add(tuple(sorted(pair["replies"].items())))
        assert sent.get("b") == (True, 100, 1, 0)
        assert sent.get("a", (False, None, 0, 0)) == (False, None, 0, 0)
    assert finals == {(("b", 100),)}


def _play(events: list[tuple[str, str, int, bool]]) -> tuple[Any, dict[str, tuple[Any, ...]]]:
    """(final pair, last control event per outbound) after ``events`` (side, umid, at,
    opt-out) merged one by one, as the pair agent does."""
    pair = None
    sent: dict[str, tuple[Any, ...]] = {}
    for side, umid, t, opt in events:
        new = merge_pair(pair, side, umid, t, W, opt_out=opt)  # type: ignore[arg-type]
        current = new if new is not None else pair
        assert current is not None
        for u, *status in reply_targets(pair, new, current):
            sent[u] = tuple(status)
        pair = current
    return pair, sent


def test_reply_counts_count_every_answering_mo_and_its_opt_outs() -> None:
    out = {"a": 0, "b": 10 * 3600 * 1_000_000}
    mos = {"m1": 5, "m2": 7, "m3": 11 * 3600 * 1_000_000, "m4": -1,
           "m5": 10 * 3600 * 1_000_000 + W + 1}  # m4 before any outbound, m5 too late
    assert compute_counts(out, mos, ["m2", "m4", "m5"], W) == {"a": [2, 1], "b": [1, 0]}
    assert compute_counts(out, mos, [], W) == {"a": [2, 0], "b": [1, 0]}
    assert compute_counts({}, mos, ["m1"], W) == {}


def test_reply_counts_do_not_depend_on_the_order_and_move_with_a_late_outbound() -> None:
    """Duplicates (an MO twice, once without its flag as an old pair event reads), every
    order: the same final counts; the outbound 'b' arriving late takes both MOs over from 'a'
    (which is then sent 0 counts), and the second MO after the first still updates the
    counts though replied_at stays."""
    events = [("outbound", "a", 0, False), ("inbound", "m1", 100, False),
              ("inbound", "m2", 200, True), ("outbound", "b", 50, False),
              ("inbound", "m2", 200, False), ("inbound", "m1", 100, False)]
    finals = set()
    for perm in itertools.permutations(events):
        pair, sent = _play(list(perm))
        finals.add((tuple(sorted((u, tuple(c)) for u, c in pair["counts"].items())),
                    tuple(pair["opt_outs"])))
        assert sent["b"] == (True, 100, 2, 1), perm
        assert sent.get("a", (False, None, 0, 0)) == (False, None, 0, 0), perm
    assert finals == {((("b", (2, 1)),), ("m2",))}


def test_a_late_outbound_takes_the_counts_over_and_the_older_keeps_earlier_mos() -> None:
    pair, sent = _play([("outbound", "a", 0, False), ("inbound", "m1", 10, True),
                        ("inbound", "m2", 100, True), ("inbound", "m3", 300, False)])
    assert sent == {"a": (True, 10, 3, 2)}
    pair, sent = _play([("outbound", "a", 0, False), ("inbound", "m1", 10, True),
                        ("inbound", "m2", 100, True), ("inbound", "m3", 300, False),
                        ("outbound", "b", 50, False)])
    assert sent == {"a": (True, 10, 1, 1), "b": (True, 100, 2, 1)}
    assert pair["counts"] == {"a": [1, 1], "b": [2, 1]}


def test_a_duplicate_mo_is_counted_once_and_re_sends_the_counts() -> None:
    pair, sent = _play([("outbound", "a", 0, False), ("inbound", "m1", 10, True)])
    assert merge_pair(pair, "inbound", "m1", 10, W, opt_out=True) is None
    assert reply_targets(pair, None, pair) == [("a", True, 10, 1, 1)]
    pair, sent = _play([("outbound", "a", 0, False), ("inbound", "m1", 10, True),
                        ("inbound", "m1", 10, True), ("inbound", "m1", 10, False)])
    assert sent == {"a": (True, 10, 1, 1)} and pair["counts"] == {"a": [1, 1]}


def test_a_pair_value_without_counts_is_recomputed_on_a_duplicate() -> None:
    """A value written before the counts: the next event, even a duplicate, recomputes them
    and sends them for every outbound whose counts it did not hold."""
    old = {"outbound": {"a": 0}, "inbound": {"m1": 10}, "replies": {"a": 10}, "opt_outs": []}
    new = merge_pair(old, "inbound", "m1", 10, W)  # type: ignore[arg-type]
    assert new is not None and new["counts"] == {"a": [1, 0]}
    assert reply_targets(old, new, new) == [("a", True, 10, 1, 0)]  # type: ignore[arg-type]


def test_a_reply_event_sets_the_counts_and_not_replied_clears_them() -> None:
    s = run([request()])
    assert s is not None and s["reply_count"] == 0 and s["opt_out_count"] == 0
    r = apply(s, "reply", {"replied": True, "replied_at": at(5), "reply_count": 3,
                           "opt_out_count": 1})
    assert r is not None and (r["replied"], r["reply_count"], r["opt_out_count"]) == (True, 3, 1)
    # only the counts change: still a new version
    r2 = apply(r, "reply", {"replied": True, "replied_at": at(5), "reply_count": 4,
                            "opt_out_count": 1})
    assert r2 is not None and r2["reply_count"] == 4 and r2["version"] == r["version"] + 1
    cleared = apply(r2, "reply", {"replied": False, "replied_at": None, "reply_count": 0,
                                  "opt_out_count": 0})
    assert cleared is not None and (cleared["reply_count"], cleared["opt_out_count"]) == (0, 0)
    # an old control event without the counts reads as 0
    old_form = apply(cleared, "reply", {"replied": True, "replied_at": at(5)})
    assert old_form is not None and old_form["reply_count"] == 0


def test_pair_keys() -> None:
    assert pair_key("+6591234567", "+4534735477") == b"6591234567|4534735477"
    assert pair_key("6591234567", "4534735477") == pair_key("+6591234567", "+4534735477")
    assert pair_key("+6591234567", "ACME Deals") is None
    assert pair_key(None, "123") is None
