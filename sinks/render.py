"""Report output: rich table, CSV (header = the report's documented columns) or JSON.

CSV and JSON cells are rendered exactly: Decimals as written (rates with 2 decimals, money
with 8), dates ``YYYY-MM-DD``, timestamps ISO-8601 UTC with microseconds and ``Z``, ``None``
as empty (CSV/table) or ``null`` (JSON). Tables (:func:`to_table`) show the columns that fit the
terminal and money in the currency's usual decimals (:mod:`sinks.table_fit`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from smsflow.clickhouse import Result

if TYPE_CHECKING:  # imported by the table functions: CSV and JSON output load no rich
    from rich.table import Table

    from sinks.table_fit import FittedTable

__all__ = [
    "FORMATS", "cell", "jsonable", "result_json", "to_csv", "to_json", "to_table",
    "to_vertical_table",
]

FORMATS = ("table", "csv", "json")


def cell(value: Any) -> str:
    """One value as report text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=cell, ensure_ascii=False)
    return str(value)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return cell(value)


def to_csv(result: Result) -> str:
    """CSV text: the header row, then one line per row (``\\n`` line ends)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(result.columns)
    for row in result.rows:
        w.writerow([cell(v) for v in row])
    return buf.getvalue()


def to_json(result: Result) -> str:
    """A JSON array of objects keyed by column (Decimals and dates as strings)."""
    return json.dumps(
        [{c: _json_value(v) for c, v in zip(result.columns, row, strict=True)}
         for row in result.rows],
        ensure_ascii=False,
        indent=2,
    )


def jsonable(v: Any) -> Any:
    """Exact JSON values: Decimal as string, datetimes as ISO-8601 UTC with microseconds."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.datetime):
        return v.isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def result_json(res: Result) -> dict[str, Any]:
    return {
        "columns": res.columns,
        "types": res.types,
        "rows": [[jsonable(v) for v in r] for r in res.rows],
    }


def to_table(
    result: Result, title: str | None = None, *, report: str | None = None, wide: bool = False
) -> FittedTable:
    """A rich renderable table for a terminal (:mod:`sinks.table_fit`): numbers right-aligned
    and never split across lines, money in the currency's usual decimals; ``report``'s default
    columns that fit the width, or every column when ``wide``."""
    from sinks.table_fit import FittedTable

    return FittedTable(result.columns, result.types, result.rows, title=title,
                       report=report, wide=wide)


def to_vertical_table(result: Result, title: str | None = None) -> Table:
    """One record as a two-column table (field, value), for single-message views."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("Field")
    table.add_column("Value", overflow="fold")
    for row in result.rows:
        for name, value in zip(result.columns, row, strict=True):
            table.add_row(name, cell(value))
    return table
