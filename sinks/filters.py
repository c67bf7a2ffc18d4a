"""Report filters and the named-query runner shared by every report module.

:class:`Filters` carries what a report may be narrowed by (subaccount, country, operator, an
inclusive range of UTC send days, a umid, a row limit) plus the reference time ``at`` of the
delivery-quality reports (the time ``pending`` ages messages against, default now). The reply
window is the worker's alone (``SMSFLOW_REPLY_WINDOW_SECONDS``): ``replies`` sums the counts it
stored.
:func:`query_rows` binds them to ``sinks/queries/<name>.sql``.

The one place filters are read and written as text: :meth:`Filters.from_query` parses and
validates query-string values (the ops API, the dashboard; the CLI's options use the same
:func:`parse_day` and :func:`parse_time`), :meth:`Filters.to_query` writes them back for a
request to a running pipeline, and :meth:`Filters.params` turns them into query parameters.
Bad values raise :class:`~smsflow.errors.ValidationError` with a one-line reason.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from smsflow.clickhouse import ClickHouse, Result
from smsflow.errors import ValidationError

__all__ = [
    "Filters", "epoch_us", "load_query", "parse_day", "parse_text", "parse_time",
    "query_result", "query_rows",
]

QUERIES_DIR = Path(__file__).parent / "queries"
_PARAM = re.compile(r"\{(\w+):[^}]+\}")
_MIN_DAY = dt.date(1970, 1, 1)
_MAX_DAY = dt.date(2149, 6, 6)  # the largest ClickHouse Date
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_US = 2**62
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_TEXT = 128


def parse_day(value: str | None, flag: str) -> dt.date | None:
    """``flag``'s day ``YYYY-MM-DD``, None when empty; ValidationError when malformed."""
    v = (value or "").strip()
    if not v:
        return None
    try:
        return dt.date.fromisoformat(v)
    except ValueError as e:
        raise ValidationError(f"{flag} wants a date YYYY-MM-DD, got {v!r}") from e


def parse_time(value: str | None, flag: str) -> dt.datetime | None:
    """``flag``'s ISO-8601 time or day (UTC when it has no offset), None when not given;
    ValidationError when malformed."""
    if not value:
        return None
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError as e:
        raise ValidationError(
            f"{flag} wants an ISO-8601 time like 2024-01-31T12:00:00Z (or a day), got {value!r}"
        ) from e
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def parse_text(value: str | None, name: str) -> str:
    """A filter's free text, stripped; ValidationError unless printable and short."""
    v = (value or "").strip()
    if len(v) > _MAX_TEXT or _CONTROL.search(v):
        raise ValidationError(f"{name} must be printable text of at most {_MAX_TEXT} characters")
    return v


def _limit(value: str | None, most: int | None) -> int:
    if value in (None, ""):
        return 1000
    try:
        n = int(str(value))
    except ValueError as e:
        raise ValidationError(f"limit must be a whole number, got {value!r}") from e
    if most is not None and not 1 <= n <= most:
        raise ValidationError(f"limit must be between 1 and {most}, got {n}")
    if n < 1:
        raise ValidationError(f"limit must be at least 1, got {n}")
    return n


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
    since: dt.datetime | None = None  # failure time range of `deadletters` (UTC, [since, until))
    until: dt.datetime | None = None

    @classmethod
    def from_query(
        cls,
        q: Mapping[str, str | None],
        *,
        max_limit: int | None = None,
        flag: str = "",
    ) -> Filters:
        """Filters from query-string values (``subaccount country operator from to umid limit
        at since until``; missing or None: any), validated: ValidationError with a one-line
        reason when bad. ``flag`` prefixes the option names in errors (``--`` for the CLI)."""
        country = parse_text(q.get("country"), "country")
        if country and not _COUNTRY.fullmatch(country):
            raise ValidationError(
                f"country must be an ISO 3166 alpha-2 code (two letters), got {country!r}")
        f = cls(
            subaccount=parse_text(q.get("subaccount"), "subaccount"),
            country=country.upper(),
            operator=parse_text(q.get("operator"), "operator"),
            date_from=parse_day(q.get("from"), f"{flag}from"),
            date_to=parse_day(q.get("to"), f"{flag}to"),
            umid=q.get("umid") or None,
            limit=_limit(q.get("limit"), max_limit),
            at=parse_time(q.get("at"), f"{flag}at"),
            since=parse_time(q.get("since"), f"{flag}since"),
            until=parse_time(q.get("until"), f"{flag}until"),
        )
        f.params()  # from after to, a bad umid, ...
        return f

    def to_query(self) -> dict[str, str]:
        """The query-string values :meth:`from_query` reads back (empty ones left out)."""
        values: dict[str, object] = {
            "subaccount": self.subaccount, "country": self.country, "operator": self.operator,
            "from": self.date_from, "to": self.date_to, "umid": self.umid, "limit": self.limit,
            "at": self.at.isoformat() if self.at is not None else None,
            "since": self.since.isoformat() if self.since is not None else None,
            "until": self.until.isoformat() if self.until is not None else None,
        }
        return {k: str(v) for k, v in values.items() if v not in (None, "")}

    def params(self) -> dict[str, Any]:
        """Query parameters (``ValidationError`` on a bad umid, limit or date range)."""
        lo = self.date_from or _MIN_DAY
        hi = self.date_to or _MAX_DAY
        if lo > hi:
            raise ValidationError(f"--from {lo} is after --to {hi}")
        if self.limit < 1:
            raise ValidationError(f"limit must be at least 1, got {self.limit}")
        out: dict[str, Any] = {
            "subaccount": self.subaccount,
            "country": self.country.upper(),
            "operator": self.operator,
            "date_from": lo,
            "date_to": hi,
            "limit": self.limit,
            "at_us": epoch_us(self.at or dt.datetime.now(dt.UTC)),
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


def query_result(ch: ClickHouse, name: str, filters: Filters) -> Result:
    """The answer to query ``name`` with the filters bound; ValidationError when one is
    missing, :class:`~smsflow.errors.ClickHouseError` when ClickHouse fails."""
    sql = load_query(name)
    params = filters.params()
    wanted = set(_PARAM.findall(sql))
    missing = wanted - params.keys()
    if missing:
        raise ValidationError(f"report {name} needs {', '.join(sorted(missing))}")
    return ch.query(sql, {k: v for k, v in params.items() if k in wanted})


def query_rows(ch: ClickHouse, name: str, filters: Filters) -> list[dict[str, Any]]:
    """:func:`query_result`'s rows as dicts by column name."""
    return query_result(ch, name, filters).dicts()
