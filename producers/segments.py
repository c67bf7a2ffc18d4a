"""SMS segment (part) counting by the platform's rules (formats.md section 1).

GSM7: the GSM 03.38 default alphabet; characters of its extension table (``^ { } \\ [ ~ ] | €``
and form feed) take two septets (escape + character). One part holds 160 septets; a multi-part
message holds 153 septets per part. UCS2: one part holds 70 UTF-16 code units, a multi-part
message 67 per part (characters outside the BMP, e.g. emoji, take two code units).

Parts are packed greedily and an escape pair or a surrogate pair is never split across two
parts (it moves whole to the next part, as SMSCs do). Text longer than 10 parts is truncated to
what fits in 10 parts.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from gsm0338.charset import BASIC_CHARACTER_SET, BASIC_CHARACTER_SET_EXTENSION

from smsflow.errors import ValidationError

__all__ = [
    "ENCODINGS",
    "MAX_PARTS",
    "Segments",
    "count_segments",
    "gsm7_units",
    "is_gsm7",
    "ucs2_units",
]

MAX_PARTS = 10
ENCODINGS = ("AUTO", "GSM7", "UCS2")
# (single-part capacity, per-part capacity of a multi-part message) in units
_LIMITS = {"GSM7": (160, 153), "UCS2": (70, 67)}


def _chars(table: dict[int, str]) -> frozenset[str]:
    out = set()
    for name in table.values():
        if name == "ESCAPE":  # the escape code itself is not a character a text may carry
            continue
        out.add("\x0c" if name == "FORM FEED" else unicodedata.lookup(name))
    return frozenset(out)


GSM7_EXTENSION: frozenset[str] = _chars(BASIC_CHARACTER_SET_EXTENSION)
GSM7_BASIC: frozenset[str] = _chars(BASIC_CHARACTER_SET) - GSM7_EXTENSION
GSM7_CHARS: frozenset[str] = GSM7_BASIC | GSM7_EXTENSION


@dataclass(frozen=True)
class Segments:
    """How a text is sent: resolved encoding, parts, the text after truncation and its units."""

    encoding: str  # "GSM7" | "UCS2" (resolved)
    parts: int  # 1..10
    text: str  # text after truncation to 10 parts
    truncated: bool
    units: int  # septets (GSM7) or UTF-16 code units (UCS2) of the sent text


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in GSM 03.38 (default alphabet or extension)."""
    return GSM7_CHARS.issuperset(text)


def gsm7_units(text: str) -> int:
    """Septets of ``text`` in GSM7 (extension characters count two). Assumes :func:`is_gsm7`."""
    return len(text) + sum(1 for c in text if c in GSM7_EXTENSION)


def ucs2_units(text: str) -> int:
    """UTF-16 code units of ``text`` (characters outside the BMP count two)."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _cost(encoding: str, ch: str) -> int:
    if encoding == "GSM7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def _pack(text: str, encoding: str, per_part: int, units: int) -> tuple[int, int, int]:
    """Greedy packing: (parts, characters kept within MAX_PARTS, units kept)."""
    if units == len(text):  # every character costs one unit: plain arithmetic
        kept = min(len(text), MAX_PARTS * per_part)
        return -(-kept // per_part), kept, kept
    parts, used, kept_units = 1, 0, 0
    for i, ch in enumerate(text):
        cost = _cost(encoding, ch)
        if used + cost > per_part:
            if parts == MAX_PARTS:
                return parts, i, kept_units
            parts += 1
            used = 0
        used += cost
        kept_units += cost
    return parts, len(text), kept_units


def count_segments(text: str, requested: str = "AUTO") -> Segments:
    """Resolve the encoding and count the parts of ``text``; truncate beyond 10 parts.

    ``requested`` is ``AUTO`` (GSM7 when every character is in GSM 03.38, else UCS2), ``GSM7``
    or ``UCS2``. Raises :class:`~smsflow.errors.ValidationError` for an unknown encoding or
    for ``GSM7`` requested with characters outside GSM 03.38.
    """
    requested = requested.upper()
    if requested not in ENCODINGS:
        raise ValidationError(f"encoding must be AUTO, GSM7 or UCS2, not {requested!r}")
    gsm = is_gsm7(text)
    if requested == "GSM7" and not gsm:
        bad = next(c for c in text if c not in GSM7_CHARS)
        raise ValidationError(f"encoding GSM7 requested but text has non-GSM character {bad!r}")
    encoding = "UCS2" if requested == "UCS2" or not gsm else "GSM7"
    units = gsm7_units(text) if encoding == "GSM7" else ucs2_units(text)
    single, per_part = _LIMITS[encoding]
    if units <= single:
        return Segments(encoding=encoding, parts=1, text=text, truncated=False, units=units)
    parts, kept, kept_units = _pack(text, encoding, per_part, units)
    truncated = kept < len(text)
    return Segments(
        encoding=encoding,
        parts=parts,
        text=text[:kept] if truncated else text,
        truncated=truncated,
        units=kept_units,
    )
