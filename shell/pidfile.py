"""The pid file of ``smsflow run`` (``<home>/run.pid``): is a pipeline running in this home?

Kept apart from :mod:`shell.ops_client` so commands that only need to know (``report``,
``sql``) do not import an HTTP client at start-up.
"""

from __future__ import annotations

import os

from smsflow.config import Settings

__all__ = ["running_pid"]


def running_pid(settings: Settings) -> int | None:
    """Pid of the live ``smsflow run`` of this home directory, if any."""
    path = settings.home / "run.pid"
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return pid if "smsflow" in cmd and " run" in cmd else None
