"""Where the dashboard's numbers come from: ``run_report`` locally or through ``smsflow run``.

chDB serves one data directory per process. When a ``smsflow run`` owns it, reports (and the
few read-only lookups the dashboard needs besides reports) go through its ops API
(:class:`~smsflow.ops_client.OpsClient`); otherwise the dashboard opens ClickHouse itself and
calls :func:`sinks.reports.run_report`. Both return the same :class:`Result` rows and the same
CSV text, so the dashboard equals ``smsflow report`` either way.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlparse

from sinks.render import to_csv
from sinks.reports import Filters, run_report
from smsflow.clickhouse import ClickHouse, Result
from smsflow.config import Settings
from smsflow.ops import result_json
from smsflow.ops_client import OpsClient, running_pid
from smsflow.read_only_sql import ReadOnly, run_read_only

__all__ = ["LocalSource", "OpsSource", "ReportSource", "open_source"]


class ReportSource(Protocol):
    """Reports and read-only SQL; failures raise :class:`~smsflow.errors.SmsflowError`."""

    def report(self, name: str, filters: Filters) -> dict[str, Any]:
        """The report as ``{"columns", "types", "rows"}`` with JSON values (exact strings)."""
        ...

    def report_csv(self, name: str, filters: Filters) -> str:
        """The report as CSV text, byte-identical to ``smsflow report NAME --format csv``."""
        ...

    def sql(self, text: str) -> dict[str, Any]:
        """Rows of one read-only SELECT, same shape as :meth:`report`."""
        ...

    def describe(self) -> str:
        """Where the data comes from, for the page footer."""
        ...


def _params(f: Filters) -> dict[str, object]:
    return {
        "subaccount": f.subaccount, "country": f.country, "operator": f.operator,
        "from": f.date_from, "to": f.date_to, "umid": f.umid, "limit": f.limit,
    }


class LocalSource:
    """Reports on a ClickHouse connection this process owns."""

    def __init__(self, ch: ClickHouse, where: str = "ClickHouse") -> None:
        self.ch = ch
        self.where = where

    def report(self, name: str, filters: Filters) -> dict[str, Any]:
        return result_json(run_report(self.ch, name, filters))

    def report_csv(self, name: str, filters: Filters) -> str:
        return to_csv(run_report(self.ch, name, filters))

    def sql(self, text: str) -> dict[str, Any]:
        return result_json(run_read_only(self.ch, text))

    def describe(self) -> str:
        return self.where


class OpsSource:
    """Reports from the ops API of the ``smsflow run`` that owns the chDB directory."""

    def __init__(self, client: OpsClient) -> None:
        self.client = client

    def report(self, name: str, filters: Filters) -> dict[str, Any]:
        return _as_json(self.client.report(name, **_params(filters)))

    def report_csv(self, name: str, filters: Filters) -> str:
        return self.client.report_text(name, "csv", **_params(filters))

    def sql(self, text: str) -> dict[str, Any]:
        return _as_json(self.client.sql(text))

    def describe(self) -> str:
        return f"smsflow run at {self.client.base}"


def _as_json(res: Result) -> dict[str, Any]:
    return {"columns": res.columns, "types": res.types, "rows": [list(r) for r in res.rows]}


def open_source(settings: Settings) -> ReportSource:
    """Through the running pipeline when it owns chDB, else open ClickHouse here.

    A local database gets the schema migrations first (idempotent), so an empty database shows
    empty reports instead of errors. Raises :class:`~smsflow.errors.ClickHouseError` when
    ClickHouse cannot be opened (e.g. another process holds the chDB directory).
    """
    if not settings.clickhouse_url and running_pid(settings):
        return OpsSource(OpsClient(settings))
    from sinks.cli import open_clickhouse
    from sinks.migrate import migrate

    ch = open_clickhouse(settings)
    migrate(ch)
    if settings.clickhouse_url:
        u = urlparse(settings.clickhouse_url)  # never show credentials
        where = f"ClickHouse at {u.hostname}:{u.port or ''}"
    else:
        where = f"chDB at {settings.chdb_path.resolve()}"
    return LocalSource(ReadOnly(ch), where)
