"""Where the dashboard's numbers come from: a :class:`ReportSource`.

The dashboard is given its source and never chooses it: :class:`LocalSource` runs
:func:`sinks.reports.run_report` on a ClickHouse connection of this process; the shell gives
a source that goes through a running ``smsflow run`` when that process owns the chDB directory
(:mod:`shell.report_source`). Both return the same rows and the same CSV text, so the dashboard
equals ``smsflow report`` either way.
"""

from __future__ import annotations

from typing import Any, Protocol

from sinks.render import result_json, to_csv
from sinks.reports import Filters, run_report
from smsflow.clickhouse import ClickHouse
from smsflow.read_only_sql import run_read_only

__all__ = ["LocalSource", "ReportSource"]


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
