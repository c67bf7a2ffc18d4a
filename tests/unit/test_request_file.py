"""Reading send-request files: row numbers, raw bytes, parse errors (no broker)."""

from __future__ import annotations

import io

import pytest

from producers.bulk import known_request_fields
from producers.request_file import Row, detect_format, read_rows
from smsflow.errors import ValidationError

KNOWN = known_request_fields()


def rows(data: bytes, fmt: str) -> list[Row]:
    return list(read_rows(io.BytesIO(data), fmt, known_fields=KNOWN))


def test_jsonl_rows_are_line_numbers() -> None:
    got = rows(b'{"text": "a"}\n\n  \n[1]\n{"text": \n{"text": "\xc3\xa9"}\r\n', "jsonl")
    assert [(r.number, r.raw, r.data) for r in got] == [
        (1, b'{"text": "a"}', {"text": "a"}),
        (4, b"[1]", None),
        (5, b'{"text": ', None),
        (6, b'{"text": "\xc3\xa9"}', {"text": "é"}),
    ]
    assert got[1].error == "a row must be a JSON object, not list"
    assert got[2].error is not None and got[2].error.startswith("not valid JSON: ")


def test_csv_rows_start_lines_and_raw_bytes() -> None:
    data = (
        "\ufeffdestination,text,subAccountId\r\n"
        '+6591234567,"two\r\nlines",a\r\n'
        ",,\r\n"
        "+6591234567,é,a,extra\r\n"
        "+6591234567,last,\r\n"
    ).encode()
    got = rows(data, "csv")
    assert [(r.number, r.raw, r.data, r.error) for r in got] == [
        (
            2,
            b'+6591234567,"two\r\nlines",a',
            {"destination": "+6591234567", "text": "two\r\nlines", "subAccountId": "a"},
            None,
        ),
        (5, "+6591234567,é,a,extra".encode(), None, "more fields than the header"),
        (6, b"+6591234567,last,", {"destination": "+6591234567", "text": "last"}, None),
    ]


def test_csv_header_is_checked() -> None:
    with pytest.raises(ValidationError, match="CSV header has unknown columns: txt, x"):
        rows(b"destination,txt,x\n1,2,3\n", "csv")
    assert rows(b"", "csv") == []


def test_detect_format() -> None:
    assert detect_format("a.CSV", None) == "csv"
    assert detect_format("a.jsonl", None) == "jsonl"
    assert detect_format("a.txt", "csv") == "csv"
    with pytest.raises(ValidationError, match=r"cannot tell the format of 'a\.txt'"):
        detect_format("a.txt", None)
    with pytest.raises(ValidationError, match="--format must be one of jsonl, csv"):
        detect_format("a.csv", "xml")
