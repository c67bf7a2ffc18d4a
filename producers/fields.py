"""Field types shared by the input models: UTC timestamps, umids, readable validation errors."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, BeforeValidator

__all__ = ["Umid", "UtcDatetime", "describe_errors", "to_utc", "umid_str"]


def to_utc(value: dt.datetime) -> dt.datetime:
    """An aware datetime converted to UTC (microseconds); naive datetimes are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp needs a UTC offset or 'Z'")
    return value.astimezone(dt.UTC)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def umid_str(value: Any) -> str:
    """Canonical lower-case 36-character uuid string of ``value``; ValueError if it is none."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise ValueError("umid must be a UUID string")
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError as e:
        raise ValueError(f"umid is not a UUID: {value[:60]!r}") from e


# Timestamps: ISO-8601 with offset; more than 6 fractional digits (the platform sends 7) are
# truncated to microseconds by pydantic's parser; stored as aware UTC datetimes.
UtcDatetime = Annotated[dt.datetime, BeforeValidator(_strip), AfterValidator(to_utc)]
Umid = Annotated[str, BeforeValidator(umid_str)]


def describe_errors(exc: pydantic.ValidationError, *, limit: int = 3) -> str:
    """One line naming each failing field with the platform's JSON name and the reason."""
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        if err["type"] == "missing":
            msg = "required field missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc}: {msg}" if loc else msg)
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"(+{more} more)")
    return "; ".join(parts)
