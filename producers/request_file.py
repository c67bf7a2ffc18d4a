"""Rows of a send-request file (JSON lines or CSV), each with its row number and raw bytes.

Row numbers are file line numbers (1-based) where the row starts, so they match an editor or
a spreadsheet (a CSV header is line 1, its first data row line 2). A row that cannot be parsed
is still yielded, with ``error`` set, so the caller can report and dead-letter it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from smsflow.errors import ValidationError

__all__ = ["FORMATS", "Row", "detect_format", "read_rows"]

FORMATS = ("jsonl", "csv")


@dataclass(frozen=True)
class Row:
    """One input row: where it starts, its bytes, and the parsed fields or the parse error."""

    number: int
    raw: bytes
    data: dict[str, Any] | None
    error: str | None = None


def detect_format(name: str, given: str | None) -> str:
    """``given`` if set, else from the extension (.csv -> csv, .jsonl/.ndjson/.json -> jsonl)."""
    if given:
        if given not in FORMATS:
            raise ValidationError(f"--format must be one of {', '.join(FORMATS)}, not {given!r}")
        return given
    lower = name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise ValidationError(f"cannot tell the format of {name!r}: use --format jsonl|csv")


def _jsonl(stream: IO[bytes]) -> Iterator[Row]:
    for number, raw in enumerate(stream, 1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (ValueError, UnicodeDecodeError) as e:
            yield Row(number, line, None, f"not valid JSON: {e}")
            continue
        if not isinstance(data, dict):
            yield Row(number, line, None, f"a row must be a JSON object, not {type(data).__name__}")
            continue
        yield Row(number, line, data)


def _csv(stream: IO[bytes], known: frozenset[str]) -> Iterator[Row]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    captured: list[str] = []

    def lines() -> Iterator[str]:
        for line in text:
            captured.append(line)
            yield line

    reader = csv.DictReader(lines(), strict=True)
    try:
        header = reader.fieldnames
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValidationError(f"CSV header unreadable: {e}") from e
    if not header:
        return
    unknown = [h for h in header if h not in known]
    if unknown:
        raise ValidationError(f"CSV header has unknown columns: {', '.join(unknown)}")
    line = len(captured) + 1
    captured.clear()
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as e:
            raise ValidationError(f"line {line}: file is not UTF-8 ({e})") from e
        except csv.Error as e:
            raw = "".join(captured).rstrip("\r\n").encode()
            yield Row(line, raw, None, f"bad CSV: {e}")
            line += len(captured)
            captured.clear()
            continue
        raw = "".join(captured).rstrip("\r\n").encode()
        number, line = line, line + len(captured)
        captured.clear()
        if None in rec:
            yield Row(number, raw, None, "more fields than the header")
            continue
        data = {k: v for k, v in rec.items() if v not in (None, "")}
        if not data:
            continue  # blank line
        yield Row(number, raw, data)


def read_rows(stream: IO[bytes], fmt: str, *, known_fields: frozenset[str]) -> Iterator[Row]:
    """Rows of ``stream`` in format ``fmt``. A CSV header naming a column outside
    ``known_fields``, or a CSV that is not UTF-8, raises :class:`ValidationError`; every other
    problem becomes a row with ``error`` set."""
    if fmt == "csv":
        return _csv(stream, known_fields)
    return _jsonl(stream)
