"""Phone numbers under the acceptance policy: what a number tells, never a reason to drop.

:func:`classify` describes any destination or MO source the platform handled. A number
libphonenumber calls valid gets its region and range carrier; an E.164 number of a possible
length in a range libphonenumber's metadata does not list (``is_valid_number`` False) keeps
the country of its calling code (``region_code_for_country_code``: for a calling code several
regions share, +1, +7, +44 ..., that is the code's main region US, RU, GB) and the flag
``number_unlisted``; anything else (not E.164, impossible length, unknown calling code)
has no country and the flag ``number_invalid``. Both flags keep the event (README
"Acceptance policy").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import carrier

__all__ = ["NUMBER_INVALID", "NUMBER_UNLISTED", "NumberFacts", "classify"]

NUMBER_UNLISTED = "number_unlisted"
NUMBER_INVALID = "number_invalid"
_E164 = re.compile(r"\+?[1-9][0-9]{1,14}")
_NO_REGION = (None, "ZZ", "001")


@dataclass(frozen=True)
class NumberFacts:
    """What a number tells: E.164 form (as given when it does not parse), country, range
    carrier and the policy flags (empty for a number libphonenumber calls valid)."""

    e164: str
    country: str | None
    operator: str | None
    flags: tuple[str, ...] = ()


@lru_cache(maxsize=65536)
def classify(number: str) -> NumberFacts:
    """Facts of ``number`` (leading '+' optional); never raises for a string."""
    text = number.strip() if isinstance(number, str) else ""
    if not _E164.fullmatch(text):
        return NumberFacts(text, None, None, (NUMBER_INVALID,))
    try:
        parsed = phonenumbers.parse("+" + text.lstrip("+"), None)
    except phonenumbers.NumberParseException:
        return NumberFacts(text, None, None, (NUMBER_INVALID,))
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.is_valid_number(parsed):
        region = phonenumbers.region_code_for_number(parsed)
        operator = carrier.name_for_number(parsed, "en") or None
        return NumberFacts(e164, None if region in _NO_REGION else region, operator)
    region = phonenumbers.region_code_for_country_code(parsed.country_code)
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if region in _NO_REGION or possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        return NumberFacts(e164, None, None, (NUMBER_INVALID,))
    return NumberFacts(e164, region, None, (NUMBER_UNLISTED,))
