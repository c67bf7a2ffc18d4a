"""The webhook receiver in-process (ASGI) with a real SendProducer on the real broker."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import pytest

from producers.send import SendProducer
from producers.webhooks import create_app
from schemas import get_codec
from smsflow.config import Settings
from smsflow.errors import InfraError
from tests.integration.kafka_records import consume, count_records

pytestmark = pytest.mark.integration

DLR_UMID = "5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
MO_UMID = "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a"
SURVEY_UMID = "84e7ee9a-5c41-e811-814c-020897df5459"

# formats.md sections 3-5, verbatim apart from the placeholders filled in
DLR = (
    '{"namespace": "SMS", "eventType": "outbound_message_status_changed",'
    ' "description": "SMS outbound message delivery receipt",'
    ' "payload": {"umid": "' + DLR_UMID + '", "batchId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",'
    ' "clientMessageId": "cm-42", "clientBatchId": "cb-7",'
    ' "subAccountId": "SubAccount-1", "source": "MyBrand", "destination": "+6591234567",'
    ' "status": {"state": "delivered", "detail": "delivered_to_recipient",'
    ' "timestamp": "2016-01-01T14:34:56.017Z"},'
    ' "price": {"total": 0.0446592, "perSms": 0.0446592, "currency": "EUR"},'
    ' "smsCount": 1}}'
)
INBOUND = (
    '{"namespace": "SMS", "eventType": "inbound_message_received",'
    ' "description": "SMS inbound message",'
    ' "payload": {"umid": "' + MO_UMID + '", "subAccountId": "SubAccount-1",'
    ' "timestamp": "2016-01-01T14:34:56.017Z", "source": "+6581968289",'
    ' "destination": "+4534735477", "body": "Test MO message", "encoding": "GSM7",'
    ' "smsCount": 2, "price": {"total": 0.0446592, "perSms": 0.0446592, "currency": "EUR"}}}'
)
SURVEY = (
    '{"umid": "' + SURVEY_UMID + '", "surveyId": "test-surveyid",'
    ' "surveyStartedAt": "2018-04-16T09:59:48Z", "surveySubmittedAt": "2018-04-16T10:00:14Z",'
    ' "templateVariables": [{"name": "firstname", "value": "John"}],'
    ' "answers": [{"questionId": "3", "answerId": "10003", "question": "Cancel?",'
    ' "answer": "Cancel Now"},'
    ' {"questionId": "16", "answerId": null, "question": "Full Name", "answer": "John"}]}'
)
UTC = dt.UTC


@pytest.fixture
def hook_settings(make_settings: Callable[..., Settings]) -> Settings:
    """Topics created (synchronously, before the test's event loop runs anything)."""
    return make_settings(webhook_max_body=2048, webhook_token="s3cret")


@pytest.fixture
async def receiver(hook_settings: Settings) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    settings = hook_settings
    async with SendProducer(settings, ack_timeout=10) as producer:
        app = create_app(settings, producer)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://receiver", headers={"X-Smsflow-Token": "s3cret"}
        ) as client:
            yield settings, client


async def test_platform_samples_land_as_avro(receiver: tuple[Settings, httpx.AsyncClient]) -> None:
    settings, client = receiver
    before = dt.datetime.now(UTC)
    for path, body in [("dlr", DLR), ("inbound", INBOUND), ("survey", SURVEY)]:
        resp = await client.post(
            f"/webhooks/{path}", content=body, headers={"content-type": "application/json"}
        )
        assert resp.status_code == 202, resp.text
        assert resp.json()["status"] == "accepted"
    otp = {"umid": DLR_UMID, "timestamp": "2020-12-22T01:24:30.6030893Z", "subAccountId": "S1"}
    click = {
        "umid": DLR_UMID,
        "timestamp": "2020-12-22T02:00:00+01:00",
        "url": "https://example.com/offer",
        "shortUrl": "https://sms.to/a1",
        "userAgent": "Mozilla/5.0",
    }
    assert (await client.post("/webhooks/otp-feedback", json=otp)).status_code == 202
    assert (await client.post("/webhooks/click", json=click)).status_code == 202
    after = dt.datetime.now(UTC)

    codec = get_codec(settings)
    t = settings.topics
    (dlr,) = await consume(settings, t.receipts, 1)
    assert dlr.key == DLR_UMID.encode()
    name, rec = codec.decode(dlr.value)
    assert name == "DeliveryReceipt"
    received_at = rec.pop("received_at")
    assert before <= received_at <= after
    assert rec == {
        "umid": DLR_UMID,
        "batch_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "client_message_id": "cm-42",
        "client_batch_id": "cb-7",
        "subaccount_id": "SubAccount-1",
        "source": "MyBrand",
        "destination": "+6591234567",
        "state": "delivered",
        "detail": "delivered_to_recipient",
        "status_at": dt.datetime(2016, 1, 1, 14, 34, 56, 17000, tzinfo=UTC),
        "error_code": None,
        "error_message": None,
        "price_total": Decimal("0.04465920"),
        "price_per_sms": Decimal("0.04465920"),
        "currency": "EUR",
        "sms_count": 1,
        "mcc": None,
        "mnc": None,
        "operator": None,
    }
    assert str(rec["price_total"]) == "0.04465920"

    (mo,) = await consume(settings, t.inbound, 1)
    assert mo.key == MO_UMID.encode()
    assert codec.decode(mo.value) == (
        "InboundMessage",
        {
            "umid": MO_UMID,
            "subaccount_id": "SubAccount-1",
            "received_at": dt.datetime(2016, 1, 1, 14, 34, 56, 17000, tzinfo=UTC),
            "source": "+6581968289",
            "destination": "+4534735477",
            "body": "Test MO message",
            "encoding": "GSM7",
            "sms_count": 2,
            "price_total": Decimal("0.0446592"),
            "price_per_sms": Decimal("0.0446592"),
            "currency": "EUR",
        },
    )

    (survey,) = await consume(settings, t.surveys, 1)
    assert survey.key == SURVEY_UMID.encode()
    assert codec.decode(survey.value) == (
        "SurveyResponse",
        {
            "umid": SURVEY_UMID,
            "survey_id": "test-surveyid",
            "survey_started_at": dt.datetime(2018, 4, 16, 9, 59, 48, tzinfo=UTC),
            "survey_submitted_at": dt.datetime(2018, 4, 16, 10, 0, 14, tzinfo=UTC),
            "template_variables": [{"name": "firstname", "value": "John"}],
            "answers": [
                {
                    "question_id": "3",
                    "answer_id": "10003",
                    "question": "Cancel?",
                    "answer": "Cancel Now",
                },
                {"question_id": "16", "answer_id": None, "question": "Full Name", "answer": "John"},
            ],
        },
    )

    (conv,) = await consume(settings, t.otp_feedback, 1)
    assert codec.decode(conv.value) == (
        "OtpFeedback",
        {
            "umid": DLR_UMID,
            "subaccount_id": "S1",
            "converted_at": dt.datetime(2020, 12, 22, 1, 24, 30, 603089, tzinfo=UTC),
        },
    )
    (clk,) = await consume(settings, t.clicks, 1)
    assert codec.decode(clk.value) == (
        "UrlClick",
        {
            "umid": DLR_UMID,
            "clicked_at": dt.datetime(2020, 12, 22, 1, 0, tzinfo=UTC),
            "url": "https://example.com/offer",
            "short_url": "https://sms.to/a1",
            "user_agent": "Mozilla/5.0",
        },
    )
    # the same partition for the same umid on every topic (default murmur2 partitioner)
    assert dlr.partition == conv.partition == clk.partition
    assert await count_records(settings, t.receipts) == 1
    assert await count_records(settings, t.dead_letter) == 0


async def test_bad_bodies_get_4xx_and_are_dead_lettered(
    receiver: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, client = receiver
    no_umid = json.loads(DLR)
    del no_umid["payload"]["umid"]
    bad_state = json.loads(DLR)
    bad_state["payload"]["status"]["state"] = "lost"
    cases: list[tuple[str, bytes, int, str]] = [
        ("dlr", b'{"namespace": "SMS", "payload": ', 400, "malformed-json"),
        ("dlr", json.dumps(no_umid).encode(), 400, "missing-umid"),
        ("inbound", b'{"umid": "nope"}', 400, "invalid"),
        (
            "click",
            b'{"umid": "not-a-uuid", "timestamp": "2020-01-01T00:00:00Z"}',
            400,
            "missing-umid",
        ),
        ("dlr", json.dumps(bad_state).encode(), 400, "invalid"),
        (
            "survey",
            b'{"umid": "' + SURVEY_UMID.encode() + b'", "x": "' + b"y" * 3000 + b'"}',
            413,
            "too-large",
        ),
    ]
    for path, body, status, reason in cases:
        resp = await client.post(f"/webhooks/{path}", content=body)
        assert resp.status_code == status, resp.text
        assert resp.json()["error"] == reason

    unauthorized = await client.post(
        "/webhooks/dlr", content=DLR, headers={"X-Smsflow-Token": "wrong"}
    )
    assert (unauthorized.status_code, unauthorized.json()) == (401, {"error": "unauthorized"})
    no_token = await client.post("/webhooks/dlr", content=DLR, headers={"X-Smsflow-Token": ""})
    assert no_token.status_code == 401

    codec = get_codec(settings)
    letters = await consume(settings, settings.topics.dead_letter, len(cases))
    got = sorted(
        (codec.decode_as("DeadLetter", r.value) for r in letters), key=lambda d: d["failed_at"]
    )
    assert [(d["reason"], d["component"], d["topic"]) for d in got] == [
        ("malformed-json", "receiver", settings.topics.receipts),
        ("missing-umid", "receiver", settings.topics.receipts),
        ("invalid", "receiver", settings.topics.inbound),
        ("missing-umid", "receiver", settings.topics.clicks),
        ("invalid", "receiver", settings.topics.receipts),
        ("too-large", "receiver", settings.topics.surveys),
    ]
    assert [d["payload"] for d in got[:5]] == [c[1] for c in cases[:5]]
    assert got[5]["payload"] == cases[5][1][:2048]
    assert got[1]["error"] == "payload.umid: required field missing"
    assert got[3]["error"] == "umid: umid is not a UUID: 'not-a-uuid'"
    assert [d["key"] for d in got] == [None, None, None, None, DLR_UMID.encode(), None]
    assert got[4]["error"].startswith("payload.status.state: Input should be 'queued'")
    # nothing reached the input topics
    assert await count_records(settings, settings.topics.receipts) == 0


async def test_503_when_the_broker_does_not_acknowledge(hook_settings: Settings) -> None:
    settings = hook_settings
    producer = SendProducer(settings, ack_timeout=2.0)
    app = create_app(settings, producer)
    headers = {"X-Smsflow-Token": "s3cret"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://receiver", headers=headers
    ) as client:
        assert (await client.get("/health")).status_code == 503  # not connected yet
        await producer.start()
        assert (await client.get("/health")).json() == {"status": "ok"}
        assert (await client.post("/webhooks/dlr", content=DLR)).status_code == 202
        await producer.stop()  # the broker connection is gone
        resp = await client.post("/webhooks/dlr", content=DLR)
        assert resp.json() == {"error": "unavailable", "detail": "broker did not acknowledge"}
        assert resp.status_code == 503
        bad = await client.post("/webhooks/dlr", content=b"{")  # its dead letter fails too
        assert bad.status_code == 503
    assert await count_records(settings, settings.topics.receipts) == 1
    assert await count_records(settings, settings.topics.dead_letter) == 0


async def test_unreachable_broker_fails_start() -> None:
    settings = Settings(bootstrap_servers="127.0.0.1:1", topic_prefix="unreachable.")
    with pytest.raises(InfraError, match=r"cannot reach Kafka at 127\.0\.0\.1:1"):
        await SendProducer(settings, ack_timeout=1.0).start()
