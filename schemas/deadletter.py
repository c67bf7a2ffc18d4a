"""Dead-letter records: what could not be used, with the reason. Nothing is dropped silently."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smsflow.errors import SchemaError, SmsflowError
from smsflow.privacy import Privacy

__all__ = ["dead_letter"]

_DEFAULT = Privacy()


def dead_letter(
    component: str,
    error: BaseException | str,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | None = None,
    payload: bytes | None = None,
    reason: str | None = None,
    failed_at: dt.datetime | None = None,
    privacy: Privacy | None = None,
) -> dict[str, Any]:
    """A ``DeadLetter`` record dict (encode it with the codec, produce to the dead-letter topic).

    ``reason`` defaults to the ``SchemaError.reason`` tag, ``invalid`` for other smsflow errors.
    ``payload`` is copied under the PII policy (:meth:`Privacy.redact_payload`: message text
    removed or OTP-masked, numbers per policy); ``privacy`` defaults to the safe default policy.
    Never raises for odd payloads.
    """
    if reason is None:
        if isinstance(error, SchemaError):
            reason = error.reason
        elif isinstance(error, SmsflowError):
            reason = "invalid"
        else:
            reason = "error"
    return {
        "component": component,
        "reason": reason,
        "error": str(error)[:2000],
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key,
        "payload": (privacy or _DEFAULT).redact_payload(payload),
        "failed_at": failed_at or dt.datetime.now(dt.UTC),
    }
