"""Request parsing for the dashboard API: filters and message search, validated with clear errors.

Numbers come from the named reports (:mod:`sinks.reports`); the only SQL here is read-only
lookups that are not report numbers: the filter choices and the message search. The search term
is validated and rendered as an escaped ClickHouse string literal, because through the ops API
(``POST /api/sql``) queries cannot carry parameters.
"""

from __future__ import annotations

import uuid
from typing import Any

from sinks.filters import parse_text
from sinks.reports import Filters
from sinks.table_fit import MONEY_COLUMNS, currency_decimals
from smsflow.errors import ValidationError

__all__ = [
    "MAX_LIMIT", "OPTIONS_SQL", "money_info", "parse_filters", "search_sql", "sql_literal",
]

MAX_LIMIT = 100_000

OPTIONS_SQL = """
SELECT
    arraySort(groupUniqArrayIf(subaccount_id, subaccount_id != '')) AS subaccounts,
    arraySort(groupUniqArrayIf(country, country != '')) AS countries,
    arraySort(groupUniqArrayIf(operator, operator != '')) AS operators,
    toString(min(day)) AS first_day,
    toString(max(day)) AS last_day,
    count() AS keys
FROM daily_stats
WHERE total != 0
"""


def parse_filters(
    subaccount: str | None = None,
    country: str | None = None,
    operator: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    limit: str | None = None,
) -> Filters:
    """Filters from the page's query-string values (:meth:`Filters.from_query`, at most
    ``MAX_LIMIT`` rows); ``ValidationError`` with a one-line reason when bad."""
    values = {"subaccount": subaccount, "country": country, "operator": operator,
              "from": date_from, "to": date_to, "limit": limit}
    return Filters.from_query({k: v for k, v in values.items() if v is not None},
                              max_limit=MAX_LIMIT)


def sql_literal(value: str) -> str:
    """A ClickHouse single-quoted string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def search_sql(term: str, limit: int = 100) -> str:
    """SELECT of the messages whose umid, destination or clientMessageId equals ``term``.

    A destination matches with or without its leading ``+``. Raises ``ValidationError`` for an
    empty or oversized term.
    """
    t = parse_text(term, "search")
    if not t:
        raise ValidationError("search wants a umid, a destination number or a clientMessageId")
    candidates = {t}
    digits = t.removeprefix("+")
    if digits.isdigit():
        candidates |= {digits, "+" + digits}
    try:
        umid_clause = f"umid = toUUID({sql_literal(str(uuid.UUID(t)))}) OR "
    except ValueError:
        umid_clause = ""
    dest = ", ".join(sql_literal(c) for c in sorted(candidates))
    return f"""
SELECT
    toString(umid) AS message_id,
    coalesce(queued_at, rejected_at, first_event_at) AS at,
    direction, subaccount_id, destination, source, client_message_id, country, operator,
    cost, currency, state
FROM messages FINAL
WHERE {umid_clause}destination IN ({dest}) OR client_message_id = {sql_literal(t)}
ORDER BY at, message_id
LIMIT {int(limit)}
"""


_MONEY = {c.lower() for c in MONEY_COLUMNS}


def money_info(res: dict[str, Any]) -> dict[str, Any] | None:
    """How the page shows a result's money: its money columns, their currency column and the
    usual decimals of every currency in the rows (``{"EUR": 2, "JPY": 0, "KWD": 3}``).

    The decimals are the terminal's (:func:`sinks.table_fit.currency_decimals`, Babel's CLDR
    data), so a table cell on the page has the same digits as in ``smsflow report``. ``None``
    when the result has no money column or no currency column. Cells stay exact in ``rows``.
    """
    columns = list(res["columns"])
    cur = next((c for c in columns if c.lower() == "currency"), None)
    money = [c for c in columns if c.lower() in _MONEY]
    if cur is None or not money:
        return None
    i = columns.index(cur)
    codes = {code for row in res["rows"] if row[i] for code in str(row[i]).split(";")}
    return {"columns": money, "currency": cur,
            "decimals": {code: currency_decimals(code) for code in sorted(codes)}}
