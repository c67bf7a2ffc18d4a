"""Where a command reads: through the running ``smsflow run``, or ClickHouse opened here.

chDB serves one data directory per process. While a ``smsflow run`` owns it, every read
(reports, read-only SQL, dead letters, alerts) and every table detach/attach goes through that
run's ops API (:class:`~shell.ops_client.OpsClient`); otherwise (no run, or a ClickHouse
server in ``SMSFLOW_CLICKHOUSE_URL``) the command opens ClickHouse itself. :func:`through_run`
is the one place that decides it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from shell.pidfile import running_pid
from smsflow.clickhouse import ClickHouse, Result, connect
from smsflow.config import Settings
from smsflow.errors import ClickHouseError

if TYPE_CHECKING:  # imported when used: a local `smsflow report` loads none of these
    from dashboard.source import ReportSource
    from shell.ops_client import OpsClient
    from sinks.reports import Filters

__all__ = ["OpsSource", "open_clickhouse", "open_source", "through_run"]


def through_run(settings: Settings) -> OpsClient | None:
    """A client of the ``smsflow run`` that owns the chDB directory; None when this process
    may open ClickHouse itself (a server in ``SMSFLOW_CLICKHOUSE_URL``, or no run here)."""
    if settings.clickhouse_url or not running_pid(settings):
        return None
    from shell.ops_client import OpsClient

    return OpsClient(settings)


def _lock_owner(path: Path) -> str | None:
    """``pid N (command line)`` of the live process holding a chDB directory, if any."""
    try:
        text = (path / "status").read_text()
        pid = int(text.split("PID:", 1)[1].split()[0])
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        cmd = " ".join(raw.decode(errors="replace").split())[:200]
    except (OSError, IndexError, ValueError):
        return None
    return f"pid {pid} ({cmd})" if cmd else f"pid {pid}"


def open_clickhouse(settings: Settings) -> ClickHouse:
    """Connect as :func:`smsflow.clickhouse.connect`; name the process holding a locked chDB."""
    try:
        return connect(settings)
    except ClickHouseError as e:
        if settings.clickhouse_url:
            raise
        path = settings.chdb_path.resolve()
        owner = _lock_owner(path)
        if owner is None:
            raise
        raise ClickHouseError(
            f"chDB directory {path} is in use by {owner}; stop it, or query through it "
            f"(chDB allows one process per directory)"
        ) from e


class OpsSource:
    """The dashboard's reports from the ops API of the ``smsflow run`` that owns chDB."""

    def __init__(self, client: OpsClient) -> None:
        self.client = client

    def report(self, name: str, filters: Filters) -> dict[str, Any]:
        return _as_json(self.client.report(name, **filters.to_query()))

    def report_csv(self, name: str, filters: Filters) -> str:
        return self.client.report_text(name, "csv", **filters.to_query())

    def sql(self, text: str) -> dict[str, Any]:
        return _as_json(self.client.sql(text))

    def describe(self) -> str:
        return f"smsflow run at {self.client.base}"


def _as_json(res: Result) -> dict[str, Any]:
    return {"columns": res.columns, "types": res.types, "rows": [list(r) for r in res.rows]}


def open_source(settings: Settings) -> ReportSource:
    """The dashboard's source: through the running pipeline when it owns chDB, else
    ClickHouse opened here.

    A local database gets the schema migrations first (idempotent), so an empty database shows
    empty reports instead of errors. Raises :class:`~smsflow.errors.ClickHouseError` when
    ClickHouse cannot be opened (e.g. another process holds the chDB directory).
    """
    client = through_run(settings)
    if client is not None:
        return OpsSource(client)
    from dashboard.source import LocalSource
    from sinks.migrate import migrate
    from smsflow.read_only_sql import ReadOnly

    ch = open_clickhouse(settings)
    migrate(ch)
    if settings.clickhouse_url:
        u = urlparse(settings.clickhouse_url)  # never show credentials
        where = f"ClickHouse at {u.hostname}:{u.port or ''}"
    else:
        where = f"chDB at {settings.chdb_path.resolve()}"
    return LocalSource(ReadOnly(ch), where)
