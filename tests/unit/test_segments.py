"""Segment counting on hand-checked cases (formats.md section 1)."""

from __future__ import annotations

import pytest

from producers.segments import Segments, count_segments, is_gsm7
from smsflow.errors import ValidationError

EMOJI = "\U0001f600"  # outside the BMP: a surrogate pair, two UTF-16 code units
CYR = "Ж"  # in the BMP, not in GSM 03.38


@pytest.mark.parametrize(
    ("text", "encoding", "parts", "units"),
    [
        ("a" * 160, "GSM7", 1, 160),
        ("a" * 161, "GSM7", 2, 161),
        ("a" * 306, "GSM7", 2, 306),
        ("a" * 307, "GSM7", 3, 307),
        # extension characters take two septets: at the 160 boundary
        ("a" * 158 + "€", "GSM7", 1, 160),
        ("a" * 159 + "€", "GSM7", 2, 161),
        ("{" * 80, "GSM7", 1, 160),
        ("{" * 81, "GSM7", 2, 162),
        ("^{}\\[~]|€\x0c", "GSM7", 1, 20),
        # an escape pair is never split across parts: 152 + (2 + 152) needs a third part
        ("a" * 152 + "€" + "a" * 152, "GSM7", 3, 306),
        ("a" * 151 + "€" + "a" * 153, "GSM7", 2, 306),
        # UCS2: 70 / 67 UTF-16 code units
        (CYR * 70, "UCS2", 1, 70),
        (CYR * 71, "UCS2", 2, 71),
        (CYR * 134, "UCS2", 2, 134),
        (CYR * 135, "UCS2", 3, 135),
        # emoji = 2 code units
        (EMOJI * 35, "UCS2", 1, 70),
        (EMOJI * 36, "UCS2", 2, 72),
        ("a" * 69 + EMOJI, "UCS2", 2, 71),
        ("a" * 68 + EMOJI, "UCS2", 1, 70),
        # a surrogate pair is never split: 66 + (2 + 66) needs a third part
        ("a" * 66 + EMOJI + "a" * 66, "UCS2", 3, 134),
        # GSM characters that look exotic are still GSM7
        ("Ünïcode? ÄÖÑÜ§¿äöñüà ΔΦΓΛΩΠΨΣΘΞ", "UCS2", 1, 31),
        ("ÄÖÑÜ§¿äöñüà ΔΦΓΛΩΠΨΣΘΞ @£$¥èéùìòÇ", "GSM7", 1, 33),
        ("", "GSM7", 1, 0),
    ],
)
def test_parts(text: str, encoding: str, parts: int, units: int) -> None:
    assert count_segments(text) == Segments(
        encoding=encoding, parts=parts, text=text, truncated=False, units=units
    )


def test_truncation_gsm7_at_ten_parts() -> None:
    assert count_segments("a" * 1530) == Segments("GSM7", 10, "a" * 1530, False, 1530)
    assert count_segments("a" * 1531) == Segments("GSM7", 10, "a" * 1530, True, 1530)
    assert count_segments("b" * 5000) == Segments("GSM7", 10, "b" * 1530, True, 1530)


def test_truncation_never_splits_escape_pair() -> None:
    text = "a" * 1529 + "€" + "tail"
    assert count_segments(text) == Segments("GSM7", 10, "a" * 1529, True, 1529)


def test_truncation_ucs2_and_surrogate_pair() -> None:
    assert count_segments(CYR * 670) == Segments("UCS2", 10, CYR * 670, False, 670)
    assert count_segments(CYR * 671) == Segments("UCS2", 10, CYR * 670, True, 670)
    text = CYR * 669 + EMOJI
    assert count_segments(text) == Segments("UCS2", 10, CYR * 669, True, 669)


def test_requested_encodings() -> None:
    assert count_segments("hello", "UCS2") == Segments("UCS2", 1, "hello", False, 5)
    assert count_segments("hello €", "gsm7") == Segments("GSM7", 1, "hello €", False, 8)
    assert count_segments("hello " + CYR, "AUTO").encoding == "UCS2"
    with pytest.raises(ValidationError, match="non-GSM character 'Ж'"):
        count_segments("hello " + CYR, "GSM7")
    with pytest.raises(ValidationError, match="encoding must be AUTO, GSM7 or UCS2"):
        count_segments("hello", "LATIN1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà", True),
        ("^{}\\[~]|€\x0c", True),
        ("`", False),  # grave accent is not in GSM 03.38
        ("ç", False),  # only the capital C with cedilla is
        ("\x1b", False),  # the escape code is not a character
        ("\t", False),
        (EMOJI, False),
    ],
)
def test_is_gsm7(text: str, expected: bool) -> None:
    assert is_gsm7(text) is expected
