"""The PII policy: what of message text and phone numbers may be stored, copied or logged.

One :class:`Privacy` object per process, built from settings with :meth:`Privacy.from_settings`:

* message text (``text`` / ``body`` fields): not stored by default (``store_text=False``): only
  its length and derived facts (encoding and parts are separate fields; ``opt_out_keyword``
  keeps the replies report working). With ``store_text=True`` the text is kept with every run
  of 4-8 digits (OTP codes) masked as ``*``.
* phone numbers (``source`` / ``destination`` that look like numbers): ``plain`` (as-is),
  ``mask`` (country calling code and last 3 digits kept: ``+65*****567``) or ``hash``
  (``h:`` + HMAC-SHA256 of the digits under ``phone_hash_secret``, 24 hex chars). The same
  number always gives the same stored value, so joins on numbers keep working under ``hash``
  (``mask`` is lossy: two numbers may share a mask). Alphanumeric sender ids are not numbers
  and stay as they are.

The same policy applies to ClickHouse rows (:mod:`sinks.rows`), to dead-letter payload copies
(:func:`Privacy.redact_payload`, used by :func:`schemas.deadletter.dead_letter`) and to logs
(:class:`RedactingFilter`). Nothing here raises on odd input: values it cannot classify are
treated as text (redacted) or left alone when they are not text fields.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import phonenumbers

from smsflow.config import Settings
from smsflow.errors import ConfigError

__all__ = [
    "OPT_OUT_WORDS",
    "PHONE_FIELDS",
    "TEXT_FIELDS",
    "Privacy",
    "RedactingFilter",
    "install_log_redaction",
    "mask_codes",
    "opt_out_keyword",
]

TEXT_FIELDS = frozenset({"text", "body"})
_PLAIN = frozenset({int, float, bool, type(None), bytes, Decimal, dt.datetime, dt.date})
PHONE_FIELDS = frozenset({"source", "destination"})
_POLICED = TEXT_FIELDS | PHONE_FIELDS  # string fields the policy changes
OPT_OUT_WORDS = frozenset({"STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOPALL"})

_CODE = re.compile(r"(?<!\d)\d{4,8}(?!\d)")
_PHONE = re.compile(r"^\s*\+?\d{6,15}\s*$")
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])\+\d{7,15}(?!\d)")
_JSON_TEXT = re.compile(r'("(?:text|body)"\s*:\s*")((?:[^"\\]|\\.)*)("?)')
# In log lines: digit runs that are not part of a word, a key=value number, a time or a path.
_LOG_CODE = re.compile(r"(?<![\w=.:/+-])\d{4,8}(?![\w.:/-])")


class _PolicedKeys(dict[str, bool]):
    """key -> whether a policy may change a string under it (one of ``fields``, any case),
    remembered for the first keys seen (record field names: a few dozen)."""

    def __init__(self, fields: frozenset[str]) -> None:
        super().__init__()
        self.fields = fields

    def __missing__(self, key: str) -> bool:
        policed = key.lower() in self.fields
        if len(self) < 4096:
            self[key] = policed
        return policed


_POLICED_KEY = _PolicedKeys(_POLICED)
#: with phones kept as they are, only text fields change (the sink's receipts: none of theirs)
_TEXT_KEY = _PolicedKeys(TEXT_FIELDS)


def mask_codes(text: str) -> str:
    """``text`` with every run of 4-8 digits (an OTP code) replaced by as many ``*``."""
    return _CODE.sub(lambda m: "*" * len(m.group()), text)


def opt_out_keyword(text: str | None) -> str:
    """The stop keyword ``text`` is (whitespace removed, upper-cased), else ''."""
    if not text:
        return ""
    word = "".join(text.split()).upper()
    return word if word in OPT_OUT_WORDS else ""


def _text_marker(text: str) -> str:
    return f"[text removed: {len(text)} chars]"


@dataclass(frozen=True)
class Privacy:
    """The policy; the defaults are the safe ones (no text, numbers as-is)."""

    store_text: bool = False
    phones: Literal["plain", "mask", "hash"] = "plain"
    phone_key: bytes | None = None

    def __post_init__(self) -> None:
        if self.phones == "hash" and not self.phone_key:
            raise ConfigError("phone_policy=hash needs SMSFLOW_PHONE_HASH_SECRET (or its _FILE)")

    @classmethod
    def from_settings(cls, settings: Settings) -> Privacy:
        """The policy of ``settings``; :class:`ConfigError` when hashing lacks its secret."""
        key = settings.phone_hash_secret
        return cls(
            store_text=settings.store_text,
            phones=settings.phone_policy,
            phone_key=key.get_secret_value().encode() if key else None,
        )

    # ----------------------------------------------------------------- single values
    def text(self, text: str | None) -> str:
        """The stored form of message text: '' unless text storage is on (then codes masked)."""
        if not text or not self.store_text:
            return ""
        return mask_codes(text)

    def phone(self, value: str | None) -> str:
        """The stored form of a number (alphanumeric sender ids and '' are kept as they are)."""
        if not value or self.phones == "plain" or not _PHONE.match(value):
            return value or ""
        digits = value.strip().lstrip("+")
        if self.phones == "hash":
            assert self.phone_key is not None
            mac = hmac.new(self.phone_key, digits.encode(), hashlib.sha256).hexdigest()
            return f"h:{mac[:24]}"
        return _mask_number(digits)

    # ----------------------------------------------------------------- records
    def record(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of a (nested) record with text fields and numbers under the policy; text
        fields become a ``[text removed: N chars]`` marker when text storage is off."""
        return self._walk(rec)  # type: ignore[no-any-return]

    def _walk(self, value: Any, key: str | None = None) -> Any:
        # the sink runs this on every input record: plain values are told by their exact type
        # first (an ABC isinstance per field cost ~30 us per record, 2026-11-30)
        kind = type(value)
        if kind is str:
            if key is not None:
                k = key.lower()
                if k in TEXT_FIELDS:
                    return self.text(value) if self.store_text else _text_marker(value)
                if k in PHONE_FIELDS:
                    return self.phone(value)
            return value
        if kind in _PLAIN:
            return value
        if kind is dict or isinstance(value, Mapping):  # a value kept as it is is not walked
            walk, policed = self._walk, _TEXT_KEY if self.phones == "plain" else _POLICED_KEY
            return {k: v if (t := type(v)) in _PLAIN or (t is str and not policed[k])
                    else walk(v, k) for k, v in value.items()}
        if kind is list or isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, str):  # a str subclass (an enum symbol)
            return self._walk(str(value), key)
        return value

    def redact_payload(self, payload: bytes | None) -> bytes | None:
        """A dead-letter copy of raw input under the policy.

        JSON documents get :meth:`record` (bytes kept exactly when nothing changes); text that
        is not valid JSON (a cut-off body, a CSV row) gets its ``"text"``/``"body"`` values
        removed and its OTP-like digit runs masked; other bytes (binary) are kept as they are.
        """
        if not payload:
            return payload
        try:
            doc = json.loads(payload)
        except ValueError:
            doc = None
        if isinstance(doc, (dict, list)):
            red = self._walk(doc)
            if red == doc:
                return payload
            return json.dumps(red, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload
        out = text
        if not self.store_text:
            out = _JSON_TEXT.sub(lambda m: m.group(1) + "[text removed]" + m.group(3), out)
        out = _WORD_CODE.sub(lambda m: "*" * len(m.group()), out)
        if self.phones != "plain":
            out = _PHONE_IN_TEXT.sub(lambda m: self.phone(m.group()), out)
        return payload if out == text else out.encode()

    def log_line(self, message: str) -> str:
        """A log message with OTP-like digit runs masked and numbers under the phone policy."""
        out = _LOG_CODE.sub(lambda m: "*" * len(m.group()), message)
        if self.phones != "plain":
            out = _PHONE_IN_TEXT.sub(lambda m: self.phone(m.group()), out)
        return out


# digit runs of 4-8 standing alone (not inside a uuid, a date, a word or a longer number)
_WORD_CODE = re.compile(r"(?<![\w-])\d{4,8}(?![\w-])")


def _mask_number(digits: str) -> str:
    try:
        cc = str(phonenumbers.parse(f"+{digits}", None).country_code)
    except phonenumbers.NumberParseException:
        cc = ""
    if not digits.startswith(cc):
        cc = ""
    hidden = max(0, len(digits) - len(cc) - 3)
    return f"+{cc}{'*' * hidden}{digits[len(cc) + hidden:]}"


class RedactingFilter(logging.Filter):
    """A handler filter applying :meth:`Privacy.log_line` to every record's final message."""

    def __init__(self, privacy: Privacy) -> None:
        super().__init__()
        self.privacy = privacy

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        red = self.privacy.log_line(msg)
        if red != msg:
            record.msg, record.args = red, None
        return True


def install_log_redaction(privacy: Privacy, logger: logging.Logger | None = None) -> None:
    """Add a :class:`RedactingFilter` to every handler of ``logger`` (default: the root)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(privacy))
