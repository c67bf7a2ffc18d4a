"""Alert evaluation as a service: evaluate, notify (webhook), expose (Prometheus).

``smsflow run`` keeps :func:`run_alerts` going: every ``check_s`` seconds of wall time it
evaluates the instants up to the event-time watermark (the newest submission in ClickHouse
less ``alert_grace_s``; a backlog at most ``alert_catch_up_instants`` instants per check), so
alerts follow event time whether traffic is live or a replay of history. ``smsflow alerts
evaluate`` does the same once (through ``run``'s ops API while it owns chDB).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from sinks.alert_state import AlertState, evaluate, last_evaluated, open_states
from smsflow.clickhouse import ClickHouse
from smsflow.config import Settings
from smsflow.read_only_sql import ReadOnly

__all__ = ["Alerting", "run_alerts", "watermark"]


log = logging.getLogger("smsflow.alerts")


def watermark(ch: ClickHouse, grace_s: int) -> dt.datetime | None:
    """Event time up to which evaluation is due: the newest submission less ``grace_s``."""
    res = ReadOnly(ch).query(
        "SELECT max(queued_at) FROM messages WHERE queued_at IS NOT NULL HAVING count() > 0"
    )
    newest = res.scalar()
    return None if newest is None else newest - dt.timedelta(seconds=grace_s)


@dataclass(eq=False)  # registered with Prometheus: hashed by identity
class Alerting:
    """Evaluates alerts on ``ch`` for ``settings``, remembers what it last saw for metrics."""

    settings: Settings
    ch: ClickHouse
    open: list[AlertState] = field(default_factory=list)
    evaluated: dt.datetime | None = None
    webhooks_failed: int = 0
    webhooks_sent: int = 0
    ran_at: float = 0.0  # wall time (epoch seconds) the last evaluation ran, 0: never
    lock: threading.Lock = field(default_factory=threading.Lock)  # one evaluation at a time

    def evaluate(
        self, until: dt.datetime | None = None, since: dt.datetime | None = None
    ) -> list[AlertState]:
        """Evaluate up to ``until`` (default: the watermark), notify, return transitions."""
        with self.lock:
            return self._evaluate(until, since)

    def _evaluate(self, until: dt.datetime | None, since: dt.datetime | None) -> list[AlertState]:
        from shell.alert_webhook import send_alerts

        self.ran_at = time.time()
        rules = self.settings.alert_rules
        if until is None:
            until = watermark(self.ch, self.settings.alert_grace_s)
            if until is None:
                return []
            last = last_evaluated(self.ch) if since is None else None
            if last is not None:  # a backlog is caught up a few instants per check
                step = dt.timedelta(seconds=rules.interval_s
                                          * self.settings.alert_catch_up_instants)
                until = min(until, last + step)
        transitions = evaluate(self.ch, rules, until, since)
        if transitions and self.settings.alert_webhook_url:
            if send_alerts(self.settings, transitions):
                self.webhooks_sent += 1
            else:
                self.webhooks_failed += 1
        self.open = open_states(self.ch)
        self.evaluated = last_evaluated(self.ch)
        for t in transitions:
            log.info("alert %s %s %s value=%s threshold=%s at=%s", t.state, t.rule, t.key,
                     t.value, t.threshold, t.ended_at or t.fired_at)
        return transitions

    def collect(self) -> Iterator[Any]:
        """Prometheus metrics of the last evaluation."""
        firing = GaugeMetricFamily(
            "smsflow_alert_firing", "1 per open alert (state firing or pending).",
            labels=["rule", "key", "state"],
        )
        value = GaugeMetricFamily(
            "smsflow_alert_value", "Measured value of each open alert.", labels=["rule", "key"]
        )
        for s in self.open:
            firing.add_metric([s.rule, s.key, s.state], 1)
            value.add_metric([s.rule, s.key], float(s.value))
        yield firing
        yield value
        at = GaugeMetricFamily("smsflow_alert_evaluated_timestamp_seconds",
                               "Event time of the last evaluated instant.")
        at.add_metric([], self.evaluated.timestamp() if self.evaluated else 0.0)
        yield at
        ran = GaugeMetricFamily("smsflow_alert_run_timestamp_seconds",
                                "Wall time the last alert evaluation ran (0: never).")
        ran.add_metric([], self.ran_at)
        yield ran
        hooks = CounterMetricFamily("smsflow_alert_webhook_failures",
                                    "Alert webhook deliveries that failed.")
        hooks.add_metric([], self.webhooks_failed)
        yield hooks


async def run_alerts(alerting: Alerting, stop: asyncio.Event, check_s: float,
                     backlog: Callable[[], Awaitable[int]] | None = None) -> None:
    """Evaluate every ``check_s`` seconds until ``stop``; a failure is logged, never fatal.

    ``backlog``: records the pipeline's consumer groups have not committed yet. While it is
    ``alert_backlog_records`` or more nothing is evaluated: in a backlog the landed data is
    incomplete (receipts still behind their requests), and an instant evaluated then would be
    judged on half its events and stay judged so."""
    limit = alerting.settings.alert_backlog_records
    while not stop.is_set():
        try:
            behind = await backlog() if backlog is not None else 0
            if behind < limit:
                await asyncio.to_thread(alerting.evaluate)
            else:
                # grouped digits: the log redaction masks a bare digit run as a possible code
                log.info("alerts wait: the pipeline is %s records behind", f"{behind:,}")
        except Exception as e:  # ClickHouse away, table detached: try again next time
            log.warning("alert evaluation failed: %r", e)
        try:
            await asyncio.wait_for(stop.wait(), timeout=check_s)
        except TimeoutError:
            pass
