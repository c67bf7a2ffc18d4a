"""Report tables for a terminal: the default columns that fit, money in the currency's decimals.

A table never splits a number, date or amount across lines: those cells do not wrap (only text
such as an error message folds). By default a report shows its :data:`DEFAULT_COLUMNS` in
priority order and, when the terminal is narrower than they need, drops the last ones until the
table fits (the first :data:`KEEP` columns always stay); a caption counts the columns left out.
``wide`` (and any table that is not a named report, e.g. ``smsflow sql``) shows every column:
when they do not fit the terminal, in several tables one under the other, each as wide as the
terminal and each repeating the first :data:`KEEP` columns (rich would squeeze the columns that
do not fit to nothing and the terminal would crop the rest).
CSV and JSON are not touched by this module: they keep all columns and full precision.

Money cells (:data:`MONEY_COLUMNS`, paired with the row's ``Currency``) are shown with the
currency's usual decimals (ISO 4217 minor units from Babel's CLDR data: EUR 2, JPY 0, KWD 3),
rounded half-up; a cell listing several currencies (``1.5;200``, ``EUR;JPY``) is rounded per
currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table

__all__ = [
    "DEFAULT_COLUMNS", "KEEP", "MONEY_COLUMNS", "FittedTable", "currency_decimals",
    "money_for_table",
]

MONEY_COLUMNS = frozenset({"Cost", "Cost per Part", "Average Cost", "Cost per Delivered"})

# report -> its columns in priority order when not --wide (the rest only with --wide)
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "daily": ("Date", "Total", "Delivered", "Delivery Rate", "Cost", "Currency", "Undelivered",
              "Rejected", "Sent"),
    "dashboard": ("Period", "Total SMS", "Delivered", "Delivery Rate", "Cost", "Currency",
                  "Destination Countries"),
    "countries": ("Country", "Operator", "Total", "Delivered", "Delivery Rate", "Cost",
                  "Currency", "Undelivered"),
    "campaigns": ("Campaign", "Total", "Delivered", "Delivery Rate", "Cost", "Currency",
                  "Last Day"),
    "conversions": ("Date", "Verification Sent", "Converted", "Conversion Rate", "Cost",
                    "Currency"),
    "engage": ("Survey", "Question", "Answer", "Respondents", "Share"),
    "clicks": ("Date", "Message ID", "Clicks", "Short URL", "Last Click"),
    "logs": ("Date", "Message ID", "Status", "Cost", "Currency", "Destination", "Direction"),
    # p95 first: at 80 columns only one of these long headers fits (Samples alone said nothing)
    "latency": ("Date", "Country", "Operator", "Submit-Delivered p95 (s)",
                "Submit-Delivered Samples", "Submit-Delivered p50 (s)",
                "Submit-Delivered p99 (s)"),
    "pending": ("Operator", "Sent", "Final Receipt", "DLR Coverage", "Pending", "< 1 h",
                "1-6 h", "6-24 h", "24-48 h", "Expired"),
    "errors": ("Country", "Operator", "Error Code", "Messages", "Share", "Status",
               "Error Message"),
    "replies": ("Subaccount", "Sender", "Outbound", "Replied", "Reply Rate", "Opt-outs",
                "Replies"),
    "deadletters": ("Component", "Reason", "Dead Letters", "Last Failed", "Topic"),
    "alerts": ("Rule", "Key", "State", "Value", "Started", "Ended", "Threshold", "Fired"),
}
_TEXT_MIN = 12  # text folds, but a column narrower than this is unreadable
KEEP = 2  # a narrow terminal still shows the first two columns (the row's key)
_NUMERIC = ("Int", "UInt", "Decimal", "Float", "Nullable(Int", "Nullable(Decimal",
            "Nullable(Float", "Date", "Nullable(Date")


@lru_cache(maxsize=64)
def currency_decimals(code: str) -> int:
    """The currency's usual number of decimals (ISO 4217 minor units); 2 when unknown."""
    from babel.numbers import get_currency_precision  # CLDR data: load only when needed

    try:
        return int(get_currency_precision(code.upper())) if code else 2
    except (ValueError, LookupError):
        return 2


def _round(amount: str, code: str) -> str:
    try:
        value = Decimal(amount)
    except InvalidOperation:
        return amount
    step = Decimal(1).scaleb(-currency_decimals(code))
    return format(value.quantize(step, ROUND_HALF_UP), "f")


def money_for_table(amount: str, currency: str) -> str:
    """A money cell (``;``-separated when several currencies) in each currency's decimals."""
    if not amount:
        return amount
    amounts = amount.split(";")
    codes = currency.split(";") if currency else []
    if len(codes) != len(amounts):
        codes = [codes[0] if len(codes) == 1 else ""] * len(amounts)
    return ";".join(_round(a, c) for a, c in zip(amounts, codes, strict=True))


def _cell(value: Any) -> str:
    from sinks.render import cell

    return cell(value)


class FittedTable:
    """A rich renderable: the report's table cut to the columns that fit the render width."""

    def __init__(
        self, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]], *,
        title: str | None = None, report: str | None = None, wide: bool = False,
    ) -> None:
        self.columns = list(columns)
        self.types = list(types)
        self.title = title
        self.wide = wide
        cur = self.columns.index("Currency") if "Currency" in self.columns else None
        self.rows = [self._texts(row, cur) for row in rows]
        order = DEFAULT_COLUMNS.get(report or "") if not wide else None
        self.fit = order is not None  # only a known report's columns are cut (not `sql`)
        if order is None:
            self.order = list(range(len(self.columns)))
        else:
            self.order = [self.columns.index(c) for c in order if c in self.columns]

    def _texts(self, row: Sequence[Any], cur: int | None) -> list[str]:
        out = []
        for name, value in zip(self.columns, row, strict=True):
            text = _cell(value)
            if name in MONEY_COLUMNS and cur is not None:
                text = money_for_table(text, _cell(row[cur]))
            out.append(text)
        return out

    def _numeric(self, i: int) -> bool:
        return (self.types[i].startswith(_NUMERIC) or self.columns[i] in MONEY_COLUMNS
                or self._all_numbers(i))

    def _all_numbers(self, i: int) -> bool:
        """Cells that read as one number or timestamp (e.g. String Cost cells) never wrap."""
        def one_token(s: str) -> bool:
            return " " not in s and (s[:1].isdigit() or s[:1] in "-+.")
        return bool(self.rows) and all(one_token(r[i]) for r in self.rows if r[i])

    def table(self, shown: Sequence[int], part: tuple[int, int] = (1, 1)) -> Table:
        """The rich table of the columns ``shown`` (indexes, in the report's own order);
        ``part``: its number and the count of tables every column is spread over."""
        hidden = len(self.columns) - len(shown)
        caption = f"{hidden} more column{'s' * (hidden > 1)} with --wide" if hidden else None
        k, n = part
        if n > 1:
            caption = f"columns, part {k} of {n}"
        table = Table(title=self.title if k == 1 else None, caption=caption, show_lines=False)
        for i in sorted(shown):
            numeric = self._numeric(i)
            table.add_column(
                self.columns[i], justify="right" if numeric else "left",
                no_wrap=numeric, overflow="fold", min_width=self._col_min(i),
            )
        for row in self.rows:
            table.add_row(*[row[i] for i in sorted(shown)])
        return table

    def shown(self, console: Console, options: ConsoleOptions) -> list[int]:
        """The column indexes shown at ``options.max_width``."""
        shown = list(self.order)
        if not self.fit:
            return shown
        while len(shown) > KEEP and self.min_width(shown) > options.max_width:
            shown.pop()
        return shown

    def parts(self, shown: Sequence[int], max_width: int) -> list[list[int]]:
        """``shown`` as the column sets of tables that each fit ``max_width``: one table when
        all fit, else the first :data:`KEEP` columns in each and the others spread in order
        (a column too wide even so gets a table of its own)."""
        shown = list(shown)
        if len(shown) <= KEEP or self.min_width(shown) <= max_width:
            return [shown]
        keys, out, part = shown[:KEEP], [], []
        for i in shown[KEEP:]:
            if part and self.min_width([*keys, *part, i]) > max_width:
                out.append([*keys, *part])
                part = []
            part.append(i)
        return [*out, [*keys, *part]]

    def min_width(self, shown: Sequence[int]) -> int:
        """Columns ``shown`` at their narrowest without splitting a number or a header word:
        cells plus padding and borders (3 per column, 1 more for the last border)."""
        return 1 + sum(self._col_min(i) + 3 for i in shown)

    def _col_min(self, i: int) -> int:
        """Column ``i`` at its narrowest: no number and no header word split (a number column
        does not wrap at all, its header included)."""
        words = [self.columns[i]] if self._numeric(i) else self.columns[i].split()
        width = max(cell_len(w) for w in words) if words else 1
        for row in self.rows:
            text = row[i]
            if self._numeric(i):
                width = max(width, cell_len(text))
            else:
                width = max(width, min(_TEXT_MIN, max((cell_len(w) for w in text.split()),
                                                      default=0)))
        return width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        parts = self.parts(self.shown(console, options), options.max_width)
        for k, shown in enumerate(parts, 1):
            yield self.table(shown, (k, len(parts)))
