"""`run` evaluates no alert while the pipeline has a backlog (its landed data is incomplete)."""

from __future__ import annotations

import asyncio
from typing import Any

from shell.alerting import run_alerts
from smsflow.config import Settings


class _Counting:
    def __init__(self, stop: asyncio.Event) -> None:
        self.settings = Settings(alert_backlog_records=1000)
        self.calls = 0
        self.stop = stop

    def evaluate(self) -> list[Any]:
        self.calls += 1
        return []


async def _run(behind: int) -> int:
    stop = asyncio.Event()
    alerting = _Counting(stop)
    checks = 0

    async def backlog() -> int:
        nonlocal checks
        checks += 1
        if checks == 3:
            stop.set()
        return behind

    await run_alerts(alerting, stop, 0.01, backlog)  # type: ignore[arg-type]
    return alerting.calls


def test_no_evaluation_while_behind() -> None:
    assert asyncio.run(_run(behind=1000)) == 0
    assert asyncio.run(_run(behind=999)) == 3
