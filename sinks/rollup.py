"""The daily roll-up (``daily_rollup``, migration 0005): closed days pre-aggregated, exactly.

Sums of ``daily_deltas FINAL`` per day x subaccount x country x operator x currency. A day is
*closed* once it is at least ``open_days`` days older than the newest day seen in
``daily_deltas``; ``daily_rollup_watermark.rolled_through`` is the last closed day. The
``daily_totals`` view reads closed days from the roll-up and open days from the deltas.

:meth:`Rollup.update` runs after every flush that inserted deltas, before the Kafka commit:

1. closed days the batch touched (late receipts) are recomputed whole from ``daily_deltas
   FINAL`` (never incremented: a replay or duplicate collapses in the source first);
2. when the newest day moved, the days that just closed are computed, then the watermark is
   raised (a crash in between leaves them read from the source, and the redelivered batch
   redoes it).

A batch of open days only costs nothing. Exactness argument: sinks/README.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from smsflow.clickhouse import ClickHouse

__all__ = ["Rollup", "recompute", "refresh", "watermark"]

_EPOCH = dt.date(1970, 1, 1)
_MEASURES = (
    "total", "received", "sent", "delivered", "undelivered", "rejected", "chargeable",
    "segments", "verification_sent", "verification_converted", "replies", "inbound",
    "survey_answered", "clicked", "cost",
)
_KEY = "day, subaccount_id, country, operator, currency"
_RECOMPUTE = (
    f"INSERT INTO daily_rollup ({_KEY}, {', '.join(_MEASURES)}, computed_at) "
    f"SELECT {_KEY}, {', '.join(f'sum({m})' for m in _MEASURES)}, now64(6) "
    "FROM daily_deltas FINAL WHERE {where} GROUP BY " + _KEY
)


def watermark(ch: ClickHouse) -> dt.date:
    """The last rolled-up day (1970-01-01: none)."""
    return ch.query("SELECT max(rolled_through) FROM daily_rollup_watermark").scalar() or _EPOCH


def recompute(ch: ClickHouse, days: Iterable[dt.date]) -> None:
    """Recompute the roll-up of ``days`` whole from the deduplicated deltas (idempotent)."""
    wanted = sorted(set(days))
    if wanted:
        days_text = "[" + ",".join(f"'{d.isoformat()}'" for d in wanted) + "]"
        ch.command(_RECOMPUTE.format(where="day IN {days:Array(Date)}"), {"days": days_text})


def _close(ch: ClickHouse, after: dt.date, through: dt.date) -> None:
    ch.command(_RECOMPUTE.format(where="day > {lo:Date} AND day <= {hi:Date}"),
               {"lo": after, "hi": through})
    ch.command(
        "INSERT INTO daily_rollup_watermark (id, rolled_through, updated_at) "
        "VALUES (1, {day:Date}, now64(6))", {"day": through},
    )


def refresh(ch: ClickHouse, open_days: int) -> dt.date:
    """Close every day ``open_days`` older than the newest delta day; the new watermark."""
    newest = ch.query("SELECT max(day) FROM daily_deltas").scalar() or _EPOCH
    return Rollup(ch, open_days, newest=newest).update(set())


class Rollup:
    """Keeps ``daily_rollup`` exact for the sink (one sink per database; see the README)."""

    def __init__(self, ch: ClickHouse, open_days: int, newest: dt.date | None = None) -> None:
        self.ch = ch
        self.open_days = open_days
        self.newest = newest

    def update(self, days: set[dt.date]) -> dt.date:
        """After ``days``' deltas are stored: recompute the closed ones, close what aged."""
        if self.newest is None:
            self.newest = self.ch.query("SELECT max(day) FROM daily_deltas").scalar() or _EPOCH
        if days:
            self.newest = max(self.newest, *days)
        rolled = watermark(self.ch)  # read each time: cheap, and never a stale cached value
        recompute(self.ch, (d for d in days if d <= rolled))
        target = self.newest - dt.timedelta(days=self.open_days)
        if target > rolled:
            _close(self.ch, rolled, target)
            rolled = target
        return rolled
