"""Dead letters as rows: the ``dead_letters`` table row of a DeadLetter record, its id, and the
display copy of its payload under the PII policy. Pure functions, no I/O.

A dead letter's id is ``P:O``, its partition and offset on the dead-letter topic (the table's
identity with the topic name). The payload copy on the topic was redacted by the producing
component's policy, except binary (Avro) payloads, which :func:`display_payload` decodes with
the codec and shows as the redacted record, or not at all when they do not decode.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from smsflow.errors import ValidationError
from smsflow.privacy import Privacy

__all__ = ["Decoder", "dead_letter_id", "dead_letter_row", "display_payload", "parse_id"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: ``codec.decode``: bytes -> (schema name, record); raises on bytes that are not a record
Decoder = Callable[[bytes], tuple[str, dict[str, Any]]]


def dead_letter_id(partition: int, offset: int) -> str:
    """The id printed by ``smsflow deadletters``: ``partition:offset`` on the dead-letter topic."""
    return f"{partition}:{offset}"


def parse_id(text: str) -> tuple[int, int]:
    """``(partition, offset)`` of an id ``P:O``; :class:`ValidationError` when malformed."""
    part, sep, off = text.strip().partition(":")
    if not sep or not part.isdigit() or not off.isdigit():
        raise ValidationError(f"a dead-letter id is PARTITION:OFFSET (e.g. 3:117), got {text!r}")
    return int(part), int(off)


def _json_default(v: Any) -> Any:
    if isinstance(v, (Decimal, dt.date)):
        return v.isoformat() if isinstance(v, dt.date) else str(v)
    if isinstance(v, bytes):
        return f"[{len(v)} bytes]"
    raise TypeError(type(v).__name__)


def display_payload(payload: bytes | None, privacy: Privacy, decode: Decoder | None) -> str:
    """A printable copy of a dead letter's payload that never shows unredacted text.

    JSON or text payloads get :meth:`Privacy.redact_payload` (again: the producing component
    may have had another policy); binary payloads are decoded with ``decode`` and shown as the
    redacted record (``{"schema": ..., "record": ...}``), else as ''.
    """
    if not payload:
        return ""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _CONTROL.search(text):
        red = privacy.redact_payload(payload) or b""
        return red.decode("utf-8", errors="replace")
    if decode is None:
        return ""
    try:
        name, rec = decode(payload)
    except Exception:  # truncated, unknown schema, not Avro: nothing safe to show
        return ""
    doc = {"schema": name, "record": privacy.record(rec)}
    return json.dumps(doc, default=_json_default, sort_keys=True, ensure_ascii=False)


def dead_letter_row(
    rec: Mapping[str, Any],
    *,
    topic: str,
    partition: int,
    offset: int,
    privacy: Privacy,
    decode: Decoder | None = None,
) -> dict[str, Any]:
    """``dead_letters`` row of a decoded DeadLetter record found at topic/partition/offset."""
    payload = rec.get("payload")
    key = rec.get("key")
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "component": str(rec.get("component") or ""),
        "reason": str(rec.get("reason") or ""),
        "error": privacy.log_line(str(rec.get("error") or "")),
        "source_topic": str(rec.get("topic") or ""),
        "source_partition": rec.get("partition"),
        "source_offset": rec.get("offset"),
        "key": key.decode("utf-8", errors="replace") if key else "",
        "payload": display_payload(payload, privacy, decode),
        "payload_bytes": len(payload) if payload else 0,
        "failed_at": rec["failed_at"],
    }
