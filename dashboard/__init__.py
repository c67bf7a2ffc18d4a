"""The analytics web dashboard: a FastAPI app (JSON API under ``/api/``) and a static front end.

Every number comes from :func:`sinks.reports.run_report` through the :class:`ReportSource` the
app is given (:mod:`dashboard.source`); the shell chooses it (a running ``smsflow run``, or
ClickHouse in this process) and mounts or serves the app. The dashboard imports no shell module.
"""

from dashboard.app import create_app
from dashboard.source import LocalSource, ReportSource

__all__ = ["LocalSource", "ReportSource", "create_app"]
