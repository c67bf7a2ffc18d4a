"""Send requests: validation by the platform's rules and conversion to ``SendRequest`` records.

Input uses the platform's JSON field names (``destination``, ``text``, ``clientMessageId`` ...,
formats.md section 1) plus smsflow's own (``umid``, ``subAccountId``, ``campaignId``,
``origin``, ``verification``, ``status``, ``statusDescription``, ``submittedAt``); the
snake_case names of the Avro record are accepted as well. Unknown fields are refused.

Destination (README "Acceptance policy"): the platform answered the request, so a destination
libphonenumber does not call valid keeps the request, with the country of its calling code and
the flag ``number_unlisted`` (or no country and ``number_invalid``,
:func:`smsflow.numbers.classify`); a text with characters outside GSM 03.38 under a requested
GSM7 is counted as the platform sends it (UCS2) and flagged ``encoding_mismatch``.
``strict=True`` (``smsflow produce requests --strict``, for our own services checking before
they send) refuses both instead. Every other rule still refuses the row.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from producers.fields import Umid, UtcDatetime, describe_errors
from producers.phone import parse_destination
from producers.segments import Segments, count_segments
from smsflow.errors import ValidationError
from smsflow.numbers import NumberFacts, classify

__all__ = ["ENCODING_MISMATCH", "SendRequestIn", "send_request_record", "validate_request"]

ENCODING_MISMATCH = "encoding_mismatch"

MAX_SCHEDULE_AHEAD = dt.timedelta(days=7)
_ALNUM_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}")
_NUMERIC_SENDER = re.compile(r"\+?[0-9]{1,17}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SendRequestIn(BaseModel):
    """One outbound send request as a caller or the platform describes it."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    destination: str
    text: str = Field(min_length=1)
    source: str | None = None
    client_message_id: str | None = Field(default=None, alias="clientMessageId", max_length=350)
    client_batch_id: str | None = Field(default=None, alias="clientBatchId")
    batch_id: str | None = Field(default=None, alias="batchId")
    encoding: Literal["AUTO", "GSM7", "UCS2"] = "AUTO"
    scheduled: UtcDatetime | None = None
    expiry: UtcDatetime | None = None
    dlr_callback_url: str | None = Field(default=None, alias="dlrCallbackUrl")
    umid: Umid | None = None
    subaccount_id: str = Field(alias="subAccountId", min_length=1)
    campaign_id: str | None = Field(default=None, alias="campaignId")
    origin: Literal["HTTP_API", "SMPP", "MCS"] = "HTTP_API"
    verification: bool = False
    status: Literal["QUEUED", "REJECTED"] = "QUEUED"
    status_description: str | None = Field(default=None, alias="statusDescription")
    submitted_at: UtcDatetime = Field(default_factory=_now, alias="submittedAt")

    _number: NumberFacts = PrivateAttr()
    _segments: Segments = PrivateAttr()
    _flags: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("encoding", "origin", "status", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.strip().upper().replace(" ", "_") if isinstance(v, str) else v

    @field_validator("source")
    @classmethod
    def _sender(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if _NUMERIC_SENDER.fullmatch(v) or _ALNUM_SENDER.fullmatch(v):
            return v
        raise ValueError(
            "sender id must be alphanumeric (letters, digits, space) up to 11 characters "
            "or numeric up to 17 digits with optional '+'"
        )

    @field_validator("destination")
    @classmethod
    def _destination(cls, v: str, info: ValidationInfo) -> str:
        if not (info.context or {}).get("strict"):
            return classify(v).e164
        try:
            return parse_destination(v).e164
        except ValidationError as e:
            raise ValueError(str(e)) from None

    @field_validator("dlr_callback_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v or None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> SendRequestIn:
        if self.scheduled is not None and self.scheduled > self.submitted_at + MAX_SCHEDULE_AHEAD:
            raise ValueError("scheduled: more than 7 days ahead of submission")
        flags: set[str] = set()
        try:
            self._segments = count_segments(self.text, self.encoding)
        except ValidationError as e:
            if (info.context or {}).get("strict") or self.encoding != "GSM7":
                raise ValueError(f"text: {e}") from None
            self._segments = count_segments(self.text, "AUTO")
            flags.add(ENCODING_MISMATCH)
        self._number = classify(self.destination)
        self._flags = tuple(sorted(flags.union(self._number.flags)))
        return self

    @property
    def segments(self) -> Segments:
        """Resolved encoding, parts and the (possibly truncated) text."""
        return self._segments

    @property
    def flags(self) -> tuple[str, ...]:
        """Acceptance-policy flags of the request (sorted; empty when clean)."""
        return self._flags

    @property
    def number(self) -> NumberFacts:
        """Destination in E.164 with its country, operator and policy flags."""
        return self._number


def validate_request(data: Mapping[str, Any], *, strict: bool = False) -> SendRequestIn:
    """Validate one request; raises :class:`~smsflow.errors.ValidationError` with a one-line
    reason naming the field (``text: ...``; with ``strict`` also ``destination: not a valid
    phone number: '123' ...``)."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"a request must be a JSON object, not {type(data).__name__}")
    try:
        return SendRequestIn.model_validate(data, context={"strict": strict})
    except pydantic.ValidationError as e:
        raise ValidationError(describe_errors(e)) from None


def send_request_record(req: SendRequestIn) -> dict[str, Any]:
    """The ``SendRequest`` Avro record dict of a validated request (umid assigned if absent)."""
    seg = req.segments
    return {
        "umid": req.umid or str(uuid.uuid4()),
        "batch_id": req.batch_id,
        "client_message_id": req.client_message_id,
        "client_batch_id": req.client_batch_id,
        "subaccount_id": req.subaccount_id,
        "campaign_id": req.campaign_id,
        "origin": req.origin,
        "source": req.source,
        "destination": req.destination,
        "text": seg.text,
        "requested_encoding": req.encoding,
        "encoding": seg.encoding,
        "sms_count": seg.parts,
        "truncated": seg.truncated,
        "country": req.number.country,
        "operator": req.number.operator,
        "verification": req.verification,
        "status": req.status,
        "status_description": req.status_description,
        "submitted_at": req.submitted_at,
        "scheduled": req.scheduled,
        "expiry": req.expiry,
        "dlr_callback_url": req.dlr_callback_url,
        "flags": list(req.flags),
    }
