"""Receiver authentication (HMAC signatures, replays), size limit and rate limit, on the real
broker: what is answered 202 is on the topic, exactly; what is refused left nothing behind."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from producers.send import SendProducer
from producers.webhook_guard import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from producers.webhooks import create_app
from schemas import get_codec
from smsflow.config import Settings
from tests.integration.kafka_records import consume, count_records
from tests.integration.test_webhooks import DLR, DLR_UMID

pytestmark = pytest.mark.integration

SECRET = b"hmac-test-secret"


def _signed(body: bytes, *, at: float | None = None, secret: bytes = SECRET) -> dict[str, str]:
    ts = str(int(time.time() if at is None else at))
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(secret, ts, body)}


async def _client(settings: Settings) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    async with SendProducer(settings, ack_timeout=10) as producer:
        transport = httpx.ASGITransport(app=create_app(settings, producer))
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
            yield settings, client


@pytest.fixture
def signed_settings(make_settings: Callable[..., Settings]) -> Settings:
    """Topics created synchronously, before the test's event loop runs."""
    return make_settings(
        webhook_hmac_secret=SECRET.decode(), webhook_signature_window_s=300,
        webhook_max_body=2048, webhook_rate_per_s=0,
    )


@pytest.fixture
def flood_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(webhook_rate_per_s=2, webhook_rate_burst=20)


@pytest.fixture
async def signed_receiver(
    signed_settings: Settings,
) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    async for pair in _client(signed_settings):
        yield pair


def _altered(signature: str) -> str:
    """The signature with its last hex digit changed (to a digit it is not: a fixed "0" left
    every 16th signature unchanged, which made this test fail on its own now and then)."""
    return signature[:-1] + ("1" if signature.endswith("0") else "0")


async def test_signatures_missing_wrong_replayed_and_valid(
    signed_receiver: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, client = signed_receiver
    body = DLR.encode()
    now = time.time()
    good = _signed(body)
    refused = [
        {},  # no headers at all
        {TIMESTAMP_HEADER: good[TIMESTAMP_HEADER]},  # no signature
        {SIGNATURE_HEADER: good[SIGNATURE_HEADER]},  # no timestamp
        _signed(body, secret=b"another-secret"),  # wrong key
        {**good, SIGNATURE_HEADER: _altered(good[SIGNATURE_HEADER])},  # altered signature
        {**_signed(body + b" "), TIMESTAMP_HEADER: good[TIMESTAMP_HEADER]},  # other body's
        _signed(body, at=now - 301),  # replayed outside the window
        _signed(body, at=now + 301),  # from the future
        {**good, TIMESTAMP_HEADER: "not-a-number"},
    ]
    for headers in refused:
        resp = await client.post("/webhooks/dlr", content=body, headers=headers)
        assert (resp.status_code, resp.json()) == (401, {"error": "unauthorized"}), headers
        assert DLR_UMID not in resp.text
    ok = await client.post("/webhooks/dlr", content=body, headers=good)
    assert (ok.status_code, ok.json()) == (202, {"status": "accepted", "umid": DLR_UMID})
    older = await client.post("/webhooks/dlr", content=body, headers=_signed(body, at=now - 250))
    assert older.status_code == 202  # inside the window: a platform retry is accepted
    hexonly = {**good, SIGNATURE_HEADER: good[SIGNATURE_HEADER].removeprefix("sha256=")}
    assert (await client.post("/webhooks/dlr", content=body, headers=hexonly)).status_code == 202

    (rec1, rec2, rec3) = await consume(settings, settings.topics.receipts, 3)
    assert {r.key for r in (rec1, rec2, rec3)} == {DLR_UMID.encode()}
    # refused requests left nothing: no dead letters either
    assert await count_records(settings, settings.topics.dead_letter) == 0


async def test_oversize_signed_body_is_refused_without_echo(
    signed_receiver: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, client = signed_receiver
    body = b'{"secret-marker": "' + b"z" * 4000 + b'"}'
    resp = await client.post("/webhooks/dlr", content=body, headers=_signed(body))
    assert resp.status_code == 413
    assert resp.json() == {"error": "too-large", "detail": "body larger than 2048 bytes"}
    assert "secret-marker" not in resp.text
    assert await count_records(settings, settings.topics.receipts) == 0


async def test_invalid_signed_body_is_answered_without_its_content(
    signed_receiver: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, client = signed_receiver
    body = b'{"payload": {"umid": "' + DLR_UMID.encode() + b'", "body": "code 482913"}}'
    resp = await client.post("/webhooks/inbound", content=body, headers=_signed(body))
    assert resp.status_code == 400
    assert "482913" not in resp.text and "code" not in resp.json()["detail"]
    (letter,) = await consume(settings, settings.topics.dead_letter, 1)
    dead = get_codec(settings).decode_as("DeadLetter", letter.value)
    assert b"482913" not in dead["payload"]
    assert dead["payload"] == (
        b'{"payload":{"umid":"' + DLR_UMID.encode() + b'","body":"[text removed: 11 chars]"}}'
    )


async def test_a_flood_beyond_the_rate_limit_gets_429_and_loses_no_accepted_request(
    flood_settings: Settings,
) -> None:
    settings = flood_settings
    async for _, client in _client(settings):
        answers: list[httpx.Response] = []
        for _ in range(120):
            answers.append(await client.post("/webhooks/dlr", content=DLR))
        codes = [r.status_code for r in answers]
        accepted = codes.count(202)
        limited = [r for r in answers if r.status_code == 429]
        assert set(codes) == {202, 429}
        assert accepted + len(limited) == 120
        assert 20 <= accepted < 60  # the burst, plus at most what refilled meanwhile
        assert codes[:20] == [202] * 20  # the whole burst passes first
        assert all(r.json() == {"error": "rate-limited"} for r in limited)
        assert {r.headers["Retry-After"] for r in limited} == {"1"}
        # every accepted request reached the broker, exactly once; no refused one did
        assert await count_records(settings, settings.topics.receipts) == accepted
        assert await count_records(settings, settings.topics.dead_letter) == 0
