"""Webhook receiver: the platform's JSON callbacks to Avro records on Kafka.

Endpoints (POST, JSON): ``/webhooks/dlr`` (delivery receipts), ``/webhooks/inbound`` (MO),
``/webhooks/survey``, ``/webhooks/otp-feedback``, ``/webhooks/click``; ``GET /health``.

Answers:
* 202 ``{"status": "accepted", "umid": ...}`` only after the broker acknowledged the record;
* 400 ``{"error": reason, "detail": ...}`` for malformed JSON, a missing/invalid umid or invalid
  fields (the raw body goes to the dead-letter topic with the reason first);
* 401 ``{"error": "unauthorized"}`` (no details) when ``webhook_token`` is set and
  ``X-Smsflow-Token`` does not match, or when ``webhook_hmac_secret`` is set and the
  ``X-Smsflow-Signature`` of ``X-Smsflow-Timestamp + "." + body`` is missing, wrong or its
  timestamp is outside ``webhook_signature_window_s`` (replay); see :mod:`producers.webhook_guard`;
* 413 for bodies over ``webhook_max_body`` bytes (the first bytes go to the dead-letter topic,
  redacted by the privacy policy; with HMAC on, an oversize body cannot be authenticated and is
  only answered);
* 429 with ``Retry-After`` beyond ``webhook_rate_per_s`` (token bucket, ``webhook_rate_burst``):
  nothing of such a request was taken, the platform retries it;
* 503 when the broker does not acknowledge (the record or, for a bad body, its dead letter), so
  the platform's retries cover the outage. A worker never crashes on input.

Error answers never echo the body: ``detail`` names the field and the rule only.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from producers.bodies import WEBHOOKS, BodyError, Webhook, load_json, parse_body, umid_of
from producers.send import SendProducer, umid_key
from producers.webhook_guard import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOKEN_HEADER,
    TokenBucket,
    signature_ok,
    token_ok,
)
from smsflow.config import Settings
from smsflow.errors import SchemaError, SmsflowError

__all__ = ["TOKEN_HEADER", "create_app"]

log = logging.getLogger(__name__)
COMPONENT = "receiver"


class _TooLarge(Exception):
    def __init__(self, head: bytes) -> None:
        self.head = head


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body, or :class:`_TooLarge` with its first ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    oversize = declared.isdigit() and int(declared) > limit
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit or (oversize and len(buf) == limit):
            raise _TooLarge(bytes(buf[:limit]))
    if oversize:
        raise _TooLarge(bytes(buf[:limit]))
    return bytes(buf)


def _answer(code: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=code)


def create_app(settings: Settings, producer: SendProducer) -> FastAPI:
    """The receiver as an ASGI app producing through ``producer``, which the caller starts and
    stops (``serve`` does; tests pass a started producer). Until it is started every POST
    answers 503 and ``/health`` says so."""
    app = FastAPI(title="smsflow webhook receiver", docs_url=None, redoc_url=None, openapi_url=None)
    token = settings.webhook_token.get_secret_value().encode() if settings.webhook_token else None
    secret = (
        settings.webhook_hmac_secret.get_secret_value().encode()
        if settings.webhook_hmac_secret
        else None
    )
    window = settings.webhook_signature_window_s
    bucket = TokenBucket(settings.webhook_rate_per_s, settings.webhook_rate_burst)
    limit = settings.webhook_max_body

    async def reject(
        hook: Webhook, error: BodyError, raw: bytes, key: bytes | None, status: int
    ) -> JSONResponse:
        try:
            await producer.dead_letter(
                COMPONENT,
                error,
                topic=hook.topic(settings.topics),
                key=key,
                payload=raw,
                reason=error.reason,
            )
        except SmsflowError as e:
            log.error("dead letter not acknowledged (%s); answering 503: %s", e, error)
            return _answer(503, error="unavailable", detail="broker did not acknowledge")
        return _answer(status, error=error.reason, detail=str(error))

    async def receive(hook: Webhook, request: Request) -> JSONResponse:
        wait = bucket.take()
        if wait > 0:
            return JSONResponse(
                {"error": "rate-limited"},
                status_code=429,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if token is not None and not token_ok(token, request.headers.get(TOKEN_HEADER)):
            return _answer(401, error="unauthorized")
        try:
            raw = await _read_body(request, limit)
        except _TooLarge as big:
            if secret is not None:  # cannot be authenticated: answer only, keep nothing
                return _answer(413, error="too-large", detail=f"body larger than {limit} bytes")
            err = BodyError(f"body larger than {limit} bytes", reason="too-large")
            return await reject(hook, err, big.head, None, 413)
        if secret is not None and not signature_ok(
            secret,
            raw,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            window_s=window,
        ):
            return _answer(401, error="unauthorized")
        try:
            record = parse_body(hook, raw, now=dt.datetime.now(dt.UTC))
        except BodyError as err:
            key = None
            if err.reason != "malformed-json":
                key = umid_key(umid_of(load_json(raw)))
            return await reject(hook, err, raw, key, 400)
        topic = hook.topic(settings.topics)
        key = umid_key(record["umid"])
        try:
            await producer.send(topic, hook.schema, key, record)
        except SchemaError as e:  # a value the schema cannot hold
            return await reject(hook, BodyError(str(e), reason=e.reason), raw, key, 400)
        except SmsflowError as e:
            log.error("%s record for %s not acknowledged: %s", hook.schema, record["umid"], e)
            return _answer(503, error="unavailable", detail="broker did not acknowledge")
        return _answer(202, status="accepted", umid=record["umid"])

    def endpoint_for(hook: Webhook) -> Any:
        async def endpoint(request: Request) -> JSONResponse:
            return await receive(hook, request)

        return endpoint

    for hook in WEBHOOKS.values():
        app.add_api_route(
            f"/webhooks/{hook.path}",
            endpoint_for(hook),
            methods=["POST"],
            name=f"webhook_{hook.path}",
            include_in_schema=False,
        )

    @app.get("/health")
    async def health() -> JSONResponse:
        ok = producer.started
        return _answer(200 if ok else 503, status="ok" if ok else "producer not started")

    return app
