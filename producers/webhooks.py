"""Webhook receiver: the platform's JSON callbacks to Avro records on Kafka.

Endpoints (POST, JSON): ``/webhooks/dlr`` (delivery receipts), ``/webhooks/inbound`` (MO),
``/webhooks/survey``, ``/webhooks/otp-feedback``, ``/webhooks/click``; ``GET /health``.

Answers:
* 202 ``{"status": "accepted", "umid": ...}`` only after the broker acknowledged the record;
* 400 ``{"error": reason, "detail": ...}`` for malformed JSON, a missing/invalid umid or invalid
  fields (the raw body goes to the dead-letter topic with the reason first);
* 401 without details when ``webhook_token`` is set and ``X-Smsflow-Token`` does not match;
* 413 for bodies over ``webhook_max_body`` bytes (the first bytes go to the dead-letter topic);
* 503 when the broker does not acknowledge (the record or, for a bad body, its dead letter), so
  the platform's retries cover the outage. A worker never crashes on input.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from producers.bodies import WEBHOOKS, BodyError, Webhook, load_json, parse_body, umid_of
from producers.send import SendProducer, umid_key
from smsflow.config import Settings
from smsflow.errors import SchemaError, SmsflowError

__all__ = ["TOKEN_HEADER", "create_app"]

log = logging.getLogger(__name__)
TOKEN_HEADER = "X-Smsflow-Token"
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
        if token is not None:
            given = request.headers.get(TOKEN_HEADER, "").encode()
            if not hmac.compare_digest(given, token):
                return _answer(401, error="unauthorized")
        try:
            raw = await _read_body(request, limit)
        except _TooLarge as big:
            err = BodyError(f"body larger than {limit} bytes", reason="too-large")
            return await reject(hook, err, big.head, None, 413)
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
