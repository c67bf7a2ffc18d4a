"""Report filters and the named-query runner shared by every report module.

:class:`Filters` carries what a report may be narrowed by (subaccount, country, operator, an
inclusive range of UTC send days, a umid, a row limit) plus the two reference values of the
delivery-quality reports: ``at`` (the time ``pending`` ages messages against, default now) and
``reply_window_seconds`` (the window ``replies`` matches inbound replies in; the worker's
``SMSFLOW_REPLY_WINDOW_SECONDS``). :func:`query_rows` binds them to ``sinks/queries/<name>.sql``.
Bad values raise :class:`~smsflow.errors.ValidationError`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from smsflow.clickhouse import ClickHouse
from smsflow.errors import ValidationError

__all__ = ["DEFAULT_REPLY_WINDOW_SECONDS", "Filters", "epoch_us", "load_query", "query_rows"]

QUERIES_DIR = Path(__file__).parent / "queries"
DEFAULT_REPLY_WINDOW_SECONDS = 24 * 3600
_PARAM = re.compile(r"\{(\w+):[^}]+\}")
_MIN_DAY = dt.date(1970, 1, 1)
_MAX_DAY = dt.date(2149, 6, 6)  # the largest ClickHouse Date
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_US = 2**62


def epoch_us(at: dt.datetime) -> int:
    """Exact microseconds since the epoch of ``at`` (a naive datetime is taken as UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return (at - _EPOCH) // dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Filters:
    """Report filters; empty strings and ``None`` mean "any". Dates are inclusive UTC days."""

    subaccount: str = ""
    country: str = ""
    operator: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    umid: str | None = None
    limit: int = 1000
    at: dt.datetime | None = None  # reference time of `pending` (None: now)
    reply_window_seconds: int = DEFAULT_REPLY_WINDOW_SECONDS
    since: dt.datetime | None = None  # failure time range of `deadletters` (UTC, [since, until))
    until: dt.datetime | None = None

    def params(self) -> dict[str, Any]:
        """Query parameters (``ValidationError`` on a bad umid, limit, window or date range)."""
        lo = self.date_from or _MIN_DAY
        hi = self.date_to or _MAX_DAY
        if lo > hi:
            raise ValidationError(f"--from {lo} is after --to {hi}")
        if self.limit < 1:
            raise ValidationError(f"limit must be at least 1, got {self.limit}")
        if self.reply_window_seconds < 0:
            raise ValidationError(
                f"reply window must be >= 0 seconds, got {self.reply_window_seconds}"
            )
        out: dict[str, Any] = {
            "subaccount": self.subaccount,
            "country": self.country.upper(),
            "operator": self.operator,
            "date_from": lo,
            "date_to": hi,
            "limit": self.limit,
            "at_us": epoch_us(self.at or dt.datetime.now(dt.UTC)),
            "window_us": self.reply_window_seconds * 1_000_000,
            "since_us": epoch_us(self.since) if self.since else 0,
            "until_us": epoch_us(self.until) if self.until else _MAX_US,
        }
        if self.umid is not None:
            try:
                out["umid"] = str(uuid.UUID(self.umid))
            except ValueError as e:
                raise ValidationError(f"not a umid (UUID): {self.umid!r}") from e
        return out


@cache
def load_query(name: str) -> str:
    """SQL text of report ``name`` (``sinks/queries/<name>.sql``); ValidationError if none."""
    path = QUERIES_DIR / f"{name}.sql"
    if not path.exists():
        raise ValidationError(f"no report named {name!r}")
    return path.read_text()


def query_rows(ch: ClickHouse, name: str, filters: Filters) -> list[dict[str, Any]]:
    """Rows of query ``name`` with the filters bound; ValidationError when one is missing,
    :class:`~smsflow.errors.ClickHouseError` when ClickHouse fails."""
    sql = load_query(name)
    params = filters.params()
    wanted = set(_PARAM.findall(sql))
    missing = wanted - params.keys()
    if missing:
        raise ValidationError(f"report {name} needs {', '.join(sorted(missing))}")
    return ch.query(sql, {k: v for k, v in params.items() if k in wanted}).dicts()
