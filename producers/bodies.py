"""Webhook JSON bodies exactly as the platform posts them (formats.md sections 3-5), plus OTP
feedback and URL clicks, and their conversion to the Avro input records.

:func:`parse_body` takes the raw bytes: JSON is parsed with ``parse_float=Decimal`` so prices
never pass through float; timestamps keep microseconds (7 fractional digits are truncated).
Unknown extra fields are ignored (the platform may add fields); anything missing or malformed
raises :class:`BodyError` with a reason tag for the dead-letter topic.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from producers.dlr_status import complete_status
from producers.fields import Umid, UtcDatetime, describe_errors, umid_str
from schemas.codec import money
from smsflow.config import TopicNames
from smsflow.errors import ValidationError
from smsflow.input_kinds import INPUT_KINDS, InputKind

__all__ = ["WEBHOOKS", "BodyError", "Webhook", "parse_body", "umid_of"]

_MAX_MONEY = Decimal("1e10")


def _money(v: Decimal) -> Decimal:
    if not v.is_finite() or v < 0 or v >= _MAX_MONEY:
        raise ValueError("must be a non-negative amount below 10^10")
    q = money(v)
    if q != v:
        raise ValueError("has more than 8 decimal places")
    return q


Money = Annotated[Decimal, AfterValidator(_money)]


class BodyError(ValidationError):
    """A webhook body that cannot be used; ``reason`` is the dead-letter tag."""

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Price(_Model):
    """price object; camelCase field names are the platform's JSON names."""

    total: Money | None = None
    perSms: Money | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class Status(_Model):
    state: Literal["queued", "rejected", "sent", "delivered", "undelivered", "read"]
    detail: str | None = None
    timestamp: UtcDatetime
    errorCode: int | None = None
    errorMessage: str | None = None


class DlrPayload(_Model):
    umid: Umid
    batchId: str | None = None
    clientMessageId: str | None = None
    clientBatchId: str | None = None
    subAccountId: str | None = None
    source: str | None = None
    destination: str | None = None
    status: Status
    price: Price | None = None
    smsCount: int | None = Field(default=None, ge=0)
    mcc: str | None = None
    mnc: str | None = None
    operator: str | None = None


class DlrBody(_Model):
    namespace: str | None = None
    eventType: Literal["outbound_message_status_changed"]
    description: str | None = None
    payload: DlrPayload

    def record(self, now: dt.datetime) -> dict[str, Any]:
        p, price = self.payload, self.payload.price or Price()
        st = complete_status(
            p.status.state, p.status.detail, p.status.errorCode, p.status.errorMessage
        )
        return {
            "umid": p.umid,
            "batch_id": p.batchId,
            "client_message_id": p.clientMessageId,
            "client_batch_id": p.clientBatchId,
            "subaccount_id": p.subAccountId,
            "source": p.source,
            "destination": p.destination,
            "state": st.state,
            "detail": st.detail,
            "status_at": p.status.timestamp,
            "error_code": st.error_code,
            "error_message": st.error_message,
            "price_total": price.total,
            "price_per_sms": price.perSms,
            "currency": price.currency,
            "sms_count": p.smsCount,
            "mcc": p.mcc,
            "mnc": p.mnc,
            "operator": p.operator,
            "received_at": now,
        }


class InboundPayload(_Model):
    umid: Umid
    subAccountId: str
    timestamp: UtcDatetime
    source: str
    destination: str
    body: str
    encoding: Literal["GSM7", "UCS2"]
    smsCount: int = Field(ge=0)
    price: Price | None = None


class InboundBody(_Model):
    namespace: str | None = None
    eventType: Literal["inbound_message_received"]
    description: str | None = None
    payload: InboundPayload

    def record(self, now: dt.datetime) -> dict[str, Any]:
        p, price = self.payload, self.payload.price or Price()
        return {
            "umid": p.umid,
            "subaccount_id": p.subAccountId,
            "received_at": p.timestamp,
            "source": p.source,
            "destination": p.destination,
            "body": p.body,
            "encoding": p.encoding,
            "sms_count": p.smsCount,
            "price_total": price.total,
            "price_per_sms": price.perSms,
            "currency": price.currency,
        }


class _Lenient(_Model):
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)


class TemplateVariable(_Lenient):
    name: str
    value: str | None = None


class Answer(_Lenient):
    questionId: str
    answerId: str | None = None
    question: str = ""
    answer: str | None = None


class SurveyBody(_Lenient):
    umid: Umid
    surveyId: str
    surveyStartedAt: UtcDatetime | None = None
    surveySubmittedAt: UtcDatetime
    templateVariables: list[TemplateVariable] = []
    answers: list[Answer] = []

    def record(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "umid": self.umid,
            "survey_id": self.surveyId,
            "survey_started_at": self.surveyStartedAt,
            "survey_submitted_at": self.surveySubmittedAt,
            "template_variables": [
                {"name": v.name, "value": v.value} for v in self.templateVariables
            ],
            "answers": [
                {
                    "question_id": a.questionId,
                    "answer_id": a.answerId,
                    "question": a.question,
                    "answer": a.answer,
                }
                for a in self.answers
            ],
        }


class OtpFeedbackBody(_Model):
    umid: Umid
    timestamp: UtcDatetime
    subAccountId: str | None = None

    def record(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "umid": self.umid,
            "subaccount_id": self.subAccountId,
            "converted_at": self.timestamp,
        }


class ClickBody(_Model):
    umid: Umid
    timestamp: UtcDatetime
    url: str | None = None
    shortUrl: str | None = None
    userAgent: str | None = None

    def record(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "umid": self.umid,
            "clicked_at": self.timestamp,
            "url": self.url,
            "short_url": self.shortUrl,
            "user_agent": self.userAgent,
        }


_Body = DlrBody | InboundBody | SurveyBody | OtpFeedbackBody | ClickBody


@dataclass(frozen=True)
class Webhook:
    """One webhook endpoint: its input kind (path, Avro schema, topic) and body model."""

    kind: InputKind
    model: type[_Body]

    @property
    def path(self) -> str:
        return str(self.kind.webhook)

    @property
    def schema(self) -> str:
        return self.kind.schema

    def topic(self, topics: TopicNames) -> str:
        return self.kind.topic(topics)


_MODELS: dict[str, type[_Body]] = {
    "receipts": DlrBody, "inbound": InboundBody, "surveys": SurveyBody,
    "otp_feedback": OtpFeedbackBody, "clicks": ClickBody,
}
#: webhook path -> endpoint, one per input kind the platform posts
WEBHOOKS: dict[str, Webhook] = {
    str(k.webhook): Webhook(k, _MODELS[k.name]) for k in INPUT_KINDS if k.webhook is not None
}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(raw: bytes) -> Any:
    """JSON with exact decimals; :class:`BodyError` (``malformed-json``) when it is not JSON."""
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise BodyError(f"malformed JSON: {e}", reason="malformed-json") from None


def umid_of(data: Any) -> str | None:
    """The canonical umid of a parsed body (top level or under ``payload``), None if absent."""
    if isinstance(data, dict):
        value = data.get("umid")
        if value is None and isinstance(data.get("payload"), dict):
            value = data["payload"].get("umid")
        try:
            return umid_str(value)
        except ValueError:
            return None
    return None


def parse_body(hook: Webhook, raw: bytes, *, now: dt.datetime) -> dict[str, Any]:
    """The Avro record dict of a raw webhook body; :class:`BodyError` when it is unusable
    (reason ``malformed-json``, ``missing-umid`` for a missing/invalid umid, else ``invalid``)."""
    data = load_json(raw)
    if not isinstance(data, dict):
        raise BodyError(f"body must be a JSON object, not {type(data).__name__}")
    try:
        body = hook.model.model_validate(data)
    except pydantic.ValidationError as e:
        bad_umid = any(err["loc"][-1:] == ("umid",) for err in e.errors())
        raise BodyError(
            describe_errors(e), reason="missing-umid" if bad_umid else "invalid"
        ) from None
    return body.record(now)
