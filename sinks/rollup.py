"""The daily roll-up (``daily_rollup``, migration 0005): closed days pre-aggregated, exactly.

Sums of ``daily_deltas FINAL`` per day x subaccount x country x operator x currency. A day is
*closed* once it is at least ``open_days`` days older than the newest day seen in
``daily_deltas``; ``daily_rollup_watermark.rolled_through`` is the last closed day. The
``daily_totals`` view reads closed days from the roll-up, open and stale days from the deltas.

:meth:`Rollup.update` runs after every flush that inserted deltas, before the Kafka commit:

1. closed days the batch touched (late receipts) are marked stale (``daily_rollup_stale``,
   migration 0007; ``daily_totals`` reads them from the source until they are fresh again);
   once the oldest mark is ``SMSFLOW_ROLLUP_SETTLE_SECONDS`` old, every stale day is
   recomputed whole from ``daily_deltas FINAL`` (never incremented: a replay or duplicate
   collapses in the source first) and marked fresh;
2. when the newest day moved, the days that just closed are computed, then the watermark is
   raised (a crash in between leaves them read from the source, and the redelivered batch
   redoes it).

A batch of open days only costs nothing. Exactness argument: sinks/README.md.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable

from smsflow.clickhouse import ClickHouse

__all__ = ["Rollup", "recompute", "refresh", "stale_days", "watermark"]

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
    """Settle the stale days and close every day ``open_days`` older than the newest delta
    day; the new watermark."""
    newest = ch.query("SELECT max(day) FROM daily_deltas").scalar() or _EPOCH
    rollup = Rollup(ch, open_days, newest=newest)
    rollup.settle()
    return rollup.update(set())


class Rollup:
    """Keeps ``daily_rollup`` exact for the sink (one sink per database; see the README).

    ``settle_s``: closed days that got deltas are marked stale at once and recomputed together
    once the oldest mark waited this long (:meth:`settle`); ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        ch: ClickHouse,
        open_days: int,
        newest: dt.date | None = None,
        *,
        settle_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ch = ch
        self.open_days = open_days
        self.newest = newest
        self.settle_s = settle_s
        self.clock = clock
        self.stale_since: float | None = None  # when the oldest unsettled mark was written
        self._checked = False  # stale marks left by an earlier process looked for

    def update(self, days: set[dt.date]) -> dt.date:
        """After ``days``' deltas are stored: mark the closed ones stale (recomputing the stale
        days when due), close what aged; return the watermark."""
        if self.newest is None:
            self.newest = self.ch.query("SELECT max(day) FROM daily_deltas").scalar() or _EPOCH
        if days:
            self.newest = max(self.newest, *days)
        rolled = watermark(self.ch)  # read each time: cheap, and never a stale cached value
        late = sorted(d for d in days if d <= rolled)
        if not self._checked:
            self._checked = True
            if stale_days(self.ch):
                self.stale_since = self.clock()
        if late:
            _mark(self.ch, late, stale=True)
            if self.stale_since is None:
                self.stale_since = self.clock()
        if self.stale_since is not None and self.clock() - self.stale_since >= self.settle_s:
            self.settle()
        target = self.newest - dt.timedelta(days=self.open_days)
        if target > rolled:
            _close(self.ch, rolled, target)
            rolled = target
        return rolled

    def settle(self) -> list[dt.date]:
        """Recompute every stale day from the deduplicated deltas, then mark it fresh (a crash
        in between leaves it stale: read from the source, recomputed again)."""
        days = stale_days(self.ch)
        recompute(self.ch, days)
        _mark(self.ch, days, stale=False)
        self.stale_since = None
        self._checked = True
        return days


def stale_days(ch: ClickHouse) -> list[dt.date]:
    """Closed days whose deltas changed after their roll-up (read from the source meanwhile)."""
    res = ch.query("SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1 ORDER BY day")
    return [r[0] for r in res.rows]


_LAST_MARK = [dt.datetime.min.replace(tzinfo=dt.UTC)]


def _mark(ch: ClickHouse, days: list[dt.date], *, stale: bool) -> None:
    if not days:
        return
    # strictly increasing within the process: a fresh mark always outranks the stale one
    at = max(dt.datetime.now(dt.UTC), _LAST_MARK[0] + dt.timedelta(microseconds=1))
    _LAST_MARK[0] = at
    ch.insert("daily_rollup_stale",
              [{"day": d, "stale": int(stale), "changed_at": at} for d in days])
