"""The analytics web dashboard: a FastAPI app (JSON API under ``/api/``) and a static front end.

Every number comes from :func:`sinks.reports.run_report`, either in this process or through the
ops API of a running ``smsflow run`` (see :mod:`dashboard.source`).
"""

from dashboard.app import create_app
from dashboard.source import LocalSource, OpsSource, ReportSource, open_source

__all__ = ["LocalSource", "OpsSource", "ReportSource", "create_app", "open_source"]
