"""Report tables in an 80-column terminal: no number split across lines, money in the
currency's usual decimals, ``--wide`` shows every column; CSV keeps full precision."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from rich.console import Console

from sinks.render import to_csv, to_table
from sinks.reports import DAILY_HEADER
from sinks.table_fit import money_for_table
from smsflow.clickhouse import Result

_INT = "Int64"
_RATE = "Decimal(5, 2)"


def _daily() -> Result:
    types = ["Date", *[_INT] * 7, _RATE, "String", "String", _INT, _INT, _RATE, "String"]
    rows = [
        (dt.date(2024, 1, d), 1_234_567, 1_234_000, 1_230_001, 1_100_456, 100_234, 1_234,
         12, Decimal("89.14"), "1913.02409780;15000.00000000", "EUR;JPY", 4_321, 2_345_678,
         Decimal("1.90"), "0.00081556;0.00639470")
        for d in range(1, 8)
    ]
    return Result(list(DAILY_HEADER), types, rows)


def _render(renderable: object, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.export_text()


def _cells(text: str) -> list[list[str]]:
    return [[c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
            for line in text.splitlines() if line.startswith(("│", "┃"))]


def test_daily_fits_80_columns_and_no_number_is_split() -> None:
    text = _render(to_table(_daily(), title="daily", report="daily"))
    assert max(len(line) for line in text.splitlines()) <= 80
    body = [r for r in _cells(text) if r and re.fullmatch(r"\d{4}-\d\d-\d\d", r[0])]
    assert len(body) == 7  # one line per row: nothing wrapped onto a second line
    assert body[0][:4] == ["2024-01-01", "1234567", "1100456", "89.14"]
    assert "1913.02;15000" in body[0]  # EUR 2 decimals, JPY 0
    assert "EUR;JPY" in body[0]


def test_wide_shows_every_column() -> None:
    text = _render(to_table(_daily(), report="daily", wide=True), width=400)
    header = " ".join(" ".join(r) for r in _cells(text)[:3])
    for name in ("Parts per Message", "Inbound", "Cost per Part", "Total Chargeable"):
        assert name.split()[0] in header
    assert "0.00;0 " in text  # cost per part in the currency's decimals (EUR 2, JPY 0)


def test_narrow_terminal_keeps_key_columns_whole() -> None:
    text = _render(to_table(_daily(), report="daily"), width=40)
    body = [r for r in _cells(text) if r and re.fullmatch(r"\d{4}-\d\d-\d\d", r[0])]
    assert len(body) == 7 and body[0][1] == "1234567"


def test_money_rounding_per_currency() -> None:
    assert money_for_table("1913.02509780", "EUR") == "1913.03"
    assert money_for_table("1.50000000;2.50000000", "JPY;KWD") == "2;2.500"
    assert money_for_table("0.00000000", "") == "0.00"


def test_csv_keeps_full_precision_and_all_columns() -> None:
    csv = to_csv(_daily())
    assert csv.splitlines()[0].split(",") == DAILY_HEADER
    assert "1913.02409780;15000.00000000" in csv


def test_caption_counts_hidden_columns_and_sql_tables_keep_all() -> None:
    text = _render(to_table(_daily(), report="daily"))
    assert "9 more columns with --wide" in text
    assert "more column" not in _render(to_table(_daily(), report="daily", wide=True), 400)
    plain = _render(to_table(_daily()), width=400)  # no report name: `smsflow sql`
    assert "Cost per Part" in plain and "more column" not in plain


def test_headers_stay_whole_and_the_table_fits() -> None:
    """Rich shrinks a text column below its header when the numbers take the room: every shown
    header is on one line and no line is wider than the terminal."""
    for width in (80, 100, 60):
        text = _render(to_table(_daily(), report="daily"), width)
        assert max(len(line) for line in text.splitlines()) <= width
        header = _cells(text)[0]
        assert all(h in DAILY_HEADER for h in header), header


def test_wide_in_80_columns_spreads_every_column_over_tables_that_fit() -> None:
    """--wide in an 80-column pane: rich squeezed columns to nothing (Total, Sent gone) and the
    terminal cropped the rest (Received's numbers cut); now each table fits, every column is
    shown whole once, and the first two columns repeat as the rows' key."""
    for width in (80, 60):
        text = _render(to_table(_daily(), report="daily", wide=True), width)
        assert max(len(line) for line in text.splitlines()) <= width
        rows = _cells(text)
        headers = [r for r in rows if r and r[0] == "Date"]
        assert len(headers) > 1 and all(h[:2] == ["Date", "Total"] for h in headers)
        shown = [c for h in headers for c in h[2:]]
        assert sorted(["Date", "Total", *shown]) == sorted(DAILY_HEADER)  # each once, whole
        body = [r for r in rows if r and re.fullmatch(r"\d{4}-\d\d-\d\d", r[0])]
        assert len(body) == 7 * len(headers)  # one line per row in every table
        first: dict[str, str] = {}
        for r in rows:  # each table's header, then its rows
            if r and r[0] == "Date":
                header = r
            elif r and r[0] == "2024-01-01":
                first.update(zip(header, r, strict=True))
        assert {k: first[k] for k in ("Total", "Sent", "Received", "Inbound", "Parts")} == {
            "Total": "1234567", "Sent": "1234000", "Received": "12", "Inbound": "4321",
            "Parts": "2345678"}
