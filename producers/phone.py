"""Destination numbers: E.164 validation and country/operator enrichment (phonenumbers)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import carrier

from smsflow.errors import ValidationError

__all__ = ["NumberInfo", "parse_destination"]

_E164 = re.compile(r"\+?[1-9][0-9]{1,14}")


@dataclass(frozen=True)
class NumberInfo:
    """A valid destination: canonical E.164 with '+', country and operator when known."""

    e164: str  # "+6591234567"
    country: str | None  # ISO alpha-2
    operator: str | None  # carrier name (phonenumbers.carrier, English) or None


@lru_cache(maxsize=65536)
def parse_destination(number: str) -> NumberInfo:
    """Validate an E.164 number (leading '+' optional) and derive its country and operator.

    The operator is the number range's original carrier (phonenumbers does not know porting);
    None when the range does not tell it (fixed lines, some countries). Raises
    :class:`~smsflow.errors.ValidationError` ("not a valid phone number") for anything else:
    other characters, wrong length, or a number phonenumbers does not consider valid.
    """
    if not isinstance(number, str) or not _E164.fullmatch(number.strip()):
        raise ValidationError(f"not a valid phone number: {number!r} (E.164 expected)")
    digits = number.strip().lstrip("+")
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as e:
        raise ValidationError(f"not a valid phone number: {number!r}") from e
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(f"not a valid phone number: {number!r}")
    country = phonenumbers.region_code_for_number(parsed)
    if country in (None, "ZZ", "001"):
        country = None
    operator = carrier.name_for_number(parsed, "en") or None
    return NumberInfo(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        country=country,
        operator=operator,
    )
