"""Dead-letter records: what could not be used, with the reason. Nothing is dropped silently."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smsflow.errors import SchemaError, SmsflowError

__all__ = ["dead_letter"]


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
) -> dict[str, Any]:
    """A ``DeadLetter`` record dict (encode it with the codec, produce to the dead-letter topic).

    ``reason`` defaults to the ``SchemaError.reason`` tag, ``invalid`` for other smsflow errors.
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
        "payload": payload,
        "failed_at": failed_at or dt.datetime.now(dt.UTC),
    }
