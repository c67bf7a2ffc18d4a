"""Ground truth of the delivery-quality reports and the percentile method, by hand."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest

from simulator.quality_truth import nearest_rank, quality_truth, seconds
from simulator.truth import InboundTruth, MessageTruth
from sinks import quality
from sinks.filters import Filters, epoch_us

T0 = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)


def msg(n: int, **kw: Any) -> MessageTruth:
    base: dict[str, Any] = dict(
        umid=f"00000000-0000-4000-8000-{n:012d}", subaccount_id="sa", origin="HTTP_API",
        submitted_at=T0, status="QUEUED", status_description=None, destination="+6591230000",
        source="+6580000000", country="SG", request_operator="SingTel", network="SingTel",
        mcc="525", mnc="01", receipt_operator="SingTel", encoding="GSM7", sms_count=1,
        truncated=False, verification=False,
    )
    base.update(kw)
    return MessageTruth(**base)


def test_nearest_rank_definition() -> None:
    values = list(range(1, 101))  # 1..100
    assert [nearest_rank(values, p) for p in (1, 50, 95, 99, 100)] == [1, 50, 95, 99, 100]
    assert nearest_rank([7], 50) == 7 and nearest_rank([7], 99) == 7
    assert nearest_rank([1, 2], 50) == 1  # rank ceil(1.0) = 1: the lower median
    assert nearest_rank([1, 2, 3], 50) == 2
    assert nearest_rank([10, 20, 30, 40], 95) == 40 and nearest_rank([10, 20, 30, 40], 75) == 30
    assert nearest_rank([], 50) is None
    with pytest.raises(ValueError):
        nearest_rank([1], 0)


def test_truth_and_report_percentiles_are_the_same_function() -> None:
    rng = random.Random(3)
    for _ in range(300):
        values = sorted(rng.randrange(-5, 10**9) for _ in range(rng.randrange(1, 250)))
        for p in (50, 95, 99):
            assert quality.nearest_rank(values, p) == nearest_rank(values, p)


def test_seconds_rendering_is_exact() -> None:
    assert seconds(2_345_678) == "2.345678"
    assert seconds(5) == "0.000005"
    assert seconds(0) == "0.000000"
    assert seconds(None) is None
    assert quality.micros_to_seconds(2_345_678) == Decimal("2.345678")
    assert str(quality.micros_to_seconds(5)) == "0.000005"
    assert quality.ratio(7, 3) == Decimal("2.33") and quality.ratio(5, 2) == Decimal("2.50")
    assert quality.ratio(1, 0) == Decimal("0.00")


def test_latency_groups_and_percentiles() -> None:
    ms = []
    for i in range(1, 21):  # sent after i seconds, delivered after 10*i seconds + 1 us
        ms.append(msg(i, state="delivered", sent_at=T0 + dt.timedelta(seconds=i),
                      delivered_at=T0 + dt.timedelta(seconds=10 * i) + US))
    ms.append(msg(21, state="delivered", delivered_at=T0 + dt.timedelta(seconds=3)))  # no 'sent'
    ms.append(msg(22, state="rejected", status="REJECTED"))  # no stage time: no sample
    ms.append(msg(23, country="DE", request_operator="O2", state="sent",
                  sent_at=T0 + 1500 * US))
    [de, sg] = quality_truth(ms, [], at=None)["latency"]
    assert de == {"day": "2024-03-01", "country": "DE", "operator": "O2",
                  "sent": {"samples": 1, "p50": "0.001500", "p95": "0.001500",
                           "p99": "0.001500"},
                  "delivered": {"samples": 0, "p50": None, "p95": None, "p99": None}}
    assert sg["sent"] == {"samples": 20, "p50": "10.000000", "p95": "19.000000",
                          "p99": "20.000000"}
    # delivered: 3 s and 10..200 s (+1 us): 21 samples, ranks 11, 20, 21
    assert sg["delivered"] == {"samples": 21, "p50": "100.000001", "p95": "190.000001",
                               "p99": "200.000001"}


def test_pending_buckets_by_age_at_reference_time() -> None:
    at = T0 + dt.timedelta(hours=50)
    ages_h = [0.5, 1, 5.99, 6, 23, 24, 47.9, 48, 49]  # hours before `at`
    ms = [msg(i, state="sent", submitted_at=at - dt.timedelta(hours=h),
              sent_at=at - dt.timedelta(hours=h) + dt.timedelta(seconds=1))
          for i, h in enumerate(ages_h)]
    ms.append(msg(20, state="delivered", delivered_at=T0))
    ms.append(msg(21, state="undelivered", undelivered_at=T0, request_operator="Other"))
    ms.append(msg(22, state="read", read_at=T0))
    ms.append(msg(23, state="queued"))
    ms.append(msg(24, state="rejected", status="REJECTED", request_operator="Gone"))
    ms.append(msg(25, state="sent", submitted_at=at + dt.timedelta(hours=2)))  # after `at`
    p = quality_truth(ms, [], at=at)["pending"]
    assert p["at"] == "2024-03-03T12:00:00.000000Z"
    assert [r["operator"] for r in p["operators"]] == ["Other", "SingTel"]
    assert p["operators"][0] == {"operator": "Other", "sent": 1, "final": 1, "pending": 0,
                                 "lt_1h": 0, "h1_6": 0, "h6_24": 0, "h24_48": 0, "expired": 0,
                                 "queued": 0, "coverage": "100.00"}
    assert p["operators"][1] == {"operator": "SingTel", "sent": 12, "final": 2, "pending": 10,
                                 "lt_1h": 2, "h1_6": 2, "h6_24": 2, "h24_48": 2, "expired": 2,
                                 "queued": 1, "coverage": "16.67"}
    assert p["total"]["sent"] == 13 and p["total"]["coverage"] == "23.08"


def test_errors_by_code_with_share_of_operator_traffic() -> None:
    ms = [
        msg(1, state="undelivered", error_code=11, error_message="Absent subscriber"),
        msg(2, state="undelivered", error_code=11, error_message="Absent subscriber"),
        msg(3, state="undelivered", error_code=1, error_message="Unknown subscriber"),
        msg(4, state="rejected", status="REJECTED", status_description="Insufficient credit"),
        msg(5, state="delivered"),
        msg(6, state="delivered"),
        msg(7, state="rejected", status="REJECTED", country=None, request_operator=None,
            status_description="Invalid destination number"),
    ]
    assert quality_truth(ms, [], at=None)["errors"] == [
        {"country": "", "operator": "", "state": "rejected", "error_code": None,
         "error_message": "Invalid destination number", "messages": 1, "operator_total": 1,
         "share": "100.00"},
        {"country": "SG", "operator": "SingTel", "state": "rejected", "error_code": None,
         "error_message": "Insufficient credit", "messages": 1, "operator_total": 6,
         "share": "16.67"},
        {"country": "SG", "operator": "SingTel", "state": "undelivered", "error_code": 1,
         "error_message": "Unknown subscriber", "messages": 1, "operator_total": 6,
         "share": "16.67"},
        {"country": "SG", "operator": "SingTel", "state": "undelivered", "error_code": 11,
         "error_message": "Absent subscriber", "messages": 2, "operator_total": 6,
         "share": "33.33"},
    ]


def _mo(n: int, reply_to: str | None, body: str) -> InboundTruth:
    return InboundTruth(
        umid=f"10000000-0000-4000-8000-{n:012d}", subaccount_id="sa", received_at=T0,
        source="+6591230000", destination="+6580000000", country="SG", body=body,
        encoding="GSM7", sms_count=1, price_total=Decimal("0.01"), currency="EUR",
        reply_to=reply_to,
    )


def test_replies_and_opt_outs_per_subaccount_and_sender() -> None:
    a, b, c = msg(1, replied=True), msg(2, replied=True), msg(3)
    d = msg(4, source="BRAND", subaccount_id="other")
    mos = [_mo(1, a.umid, "thanks"), _mo(2, a.umid, " s t o p \n"), _mo(3, b.umid, "StopAll"),
           _mo(4, None, "STOP"), _mo(5, b.umid, "stop please")]
    assert quality_truth([a, b, c, d], mos, at=None)["replies"] == [
        {"subaccount_id": "other", "source": "BRAND", "outbound": 1, "replied": 0,
         "replies": 0, "opt_outs": 0, "reply_rate": "0.00"},
        {"subaccount_id": "sa", "source": "+6580000000", "outbound": 3, "replied": 2,
         "replies": 4, "opt_outs": 2, "reply_rate": "66.67"},
    ]


def test_filters_bind_reference_time() -> None:
    at = dt.datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=dt.UTC)
    p = Filters(at=at).params()
    assert p["at_us"] == 1704067200123456 == epoch_us(at.replace(tzinfo=None))
