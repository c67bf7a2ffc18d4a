"""The roll-ups: closed days pre-aggregated, exactly (migrations 0005, 0007, 0009).

Two families, each with its watermark (``daily_rollup_watermark`` row ``id``; the last closed
day, 1970-01-01 when none):

- id 1, ``daily_rollup``: sums of ``daily_deltas FINAL`` per day x subaccount x country x
  operator x currency (read through ``daily_totals``);
- id 2, the per-message report layout: ``message_rollup`` (``message_groups`` of
  ``messages_by_day``), ``latency_rollup`` (``latency_groups``) and ``campaign_rollup``
  (``campaign_groups`` of the deltas), read through ``message_totals``, ``latency_totals`` and
  ``campaign_totals``. A recompute first tombstones the days' rows (``is_deleted``: a group
  can vanish when its messages move on), then inserts the new ones.

A day is *closed* once it is at least ``open_days`` days older than the newest day seen in
``daily_deltas``. The ``*_totals`` views read closed days from the roll-up, open and stale days
from the source.

:meth:`Rollup.update` runs after every flush, before the Kafka commit, with the days the batch
touched (its deltas' and its counted messages' days):

1. closed days the batch touched (late receipts) are marked stale (``daily_rollup_stale``,
   shared by the families; the views read them from the source until they are fresh again);
   once the oldest mark is ``SMSFLOW_ROLLUP_SETTLE_SECONDS`` old, every stale day is
   recomputed whole in every family from the deduplicated source (never incremented: a replay
   or duplicate collapses in the source first) and marked fresh;
2. when the newest day moved, each family computes the days that just closed, then raises its
   watermark (a crash in between leaves them read from the source, and the redelivered batch
   redoes it).

A batch of open days only costs nothing. Exactness argument: sinks/README.md.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from smsflow.clickhouse import ClickHouse

__all__ = [
    "FAMILIES", "Family", "Rollup", "recompute", "refresh", "stale_days", "watermark",
    "watermarks",
]

_EPOCH = dt.date(1970, 1, 1)
_MEASURES = (
    "total", "received", "sent", "delivered", "undelivered", "rejected", "chargeable",
    "segments", "verification_sent", "verification_converted", "replies", "inbound",
    "survey_answered", "clicked", "cost",
)
_KEY = "day, subaccount_id, country, operator, currency"
_AT = "{at:DateTime64(6)}"
_DAILY = (
    f"INSERT INTO daily_rollup ({_KEY}, {', '.join(_MEASURES)}, computed_at) "
    f"SELECT {_KEY}, {', '.join(f'sum({m})' for m in _MEASURES)}, {_AT} "
    "FROM daily_deltas FINAL WHERE {where} GROUP BY " + _KEY
)
_DAYS = "day IN {days:Array(Date)}"
_RANGE = "day > {lo:Date} AND day <= {hi:Date}"


@dataclass(frozen=True)
class Family:
    """Roll-up tables closed together under one watermark row ``id``."""

    id: int
    statements: tuple[str, ...]  # each with a {where} on day and an {at:DateTime64(6)}

    def recompute(self, ch: ClickHouse, where: str, params: dict[str, object]) -> None:
        for sql in self.statements:
            ch.command(sql.replace("{where}", where), {**params, "at": _tick()})


def _replaced(table: str, view: str) -> tuple[str, str]:
    """A roll-up ``table`` (its groups ``view``'s columns, then computed_at and is_deleted):
    tombstones for the days' rows, then the days' groups."""
    where = "{where}"
    return (f"INSERT INTO {table} SELECT * EXCEPT (computed_at, is_deleted), {_AT}, 1 "
            f"FROM {table} FINAL WHERE {where}",
            f"INSERT INTO {table} SELECT *, {_AT}, 0 FROM {view} WHERE {where}")


FAMILIES = (
    Family(1, (_DAILY,)),
    Family(2, (*_replaced("message_rollup", "message_groups"),
               *_replaced("latency_rollup", "latency_groups"),
               *_replaced("campaign_rollup", "campaign_groups"))),
)

_LAST_TICK = [dt.datetime.min.replace(tzinfo=dt.UTC)]


def _tick() -> dt.datetime:
    """Now, strictly later than every earlier tick of the process: a later recompute's rows
    (and a fresh stale mark) always outrank the earlier ones."""
    at = max(dt.datetime.now(dt.UTC), _LAST_TICK[0] + dt.timedelta(microseconds=1))
    _LAST_TICK[0] = at
    return at


def watermarks(ch: ClickHouse) -> dict[int, dt.date]:
    """The last rolled-up day of every family (1970-01-01: none), in one read."""
    got = dict(ch.query("SELECT id, max(rolled_through) FROM daily_rollup_watermark GROUP BY id"
                        ).rows)
    return {f.id: got.get(f.id) or _EPOCH for f in FAMILIES}


def watermark(ch: ClickHouse, family: int = 1) -> dt.date:
    """The last rolled-up day of ``family`` (1970-01-01: none)."""
    return watermarks(ch)[family]


def recompute(ch: ClickHouse, days: Iterable[dt.date]) -> None:
    """Recompute every family's roll-up of ``days`` whole from the deduplicated source
    (idempotent)."""
    wanted = sorted(set(days))
    if wanted:
        days_text = "[" + ",".join(f"'{d.isoformat()}'" for d in wanted) + "]"
        for family in FAMILIES:
            family.recompute(ch, _DAYS, {"days": days_text})


def _close(ch: ClickHouse, family: Family, after: dt.date, through: dt.date) -> None:
    family.recompute(ch, _RANGE, {"lo": after, "hi": through})
    ch.command(
        "INSERT INTO daily_rollup_watermark (id, rolled_through, updated_at) "
        "VALUES ({id:UInt8}, {day:Date}, now64(6))", {"id": family.id, "day": through},
    )


def refresh(ch: ClickHouse, open_days: int) -> dt.date:
    """Settle the stale days and close every day ``open_days`` older than the newest delta
    day; the new watermark."""
    newest = ch.query("SELECT max(day) FROM daily_deltas").scalar() or _EPOCH
    rollup = Rollup(ch, open_days, newest=newest)
    rollup.settle()
    return rollup.update(set())


class Rollup:
    """Keeps the roll-ups exact for the sink (one sink per database; see the README).

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
        """After ``days``' rows are stored: mark the closed ones stale (recomputing the stale
        days when due), close what aged; return the lowest watermark of the families."""
        if self.newest is None:
            self.newest = self.ch.query("SELECT max(day) FROM daily_deltas").scalar() or _EPOCH
        if days:
            self.newest = max(self.newest, *days)
        # read each time: cheap, and never a stale cached value
        rolled = watermarks(self.ch)
        late = sorted(d for d in days if d <= max(rolled.values()))
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
        for family in FAMILIES:
            if target > rolled[family.id]:
                _close(self.ch, family, rolled[family.id], target)
                rolled[family.id] = target
        return min(rolled.values())

    def settle(self) -> list[dt.date]:
        """Recompute every stale day in every family, then mark it fresh (a crash
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


def _mark(ch: ClickHouse, days: list[dt.date], *, stale: bool) -> None:
    if not days:
        return
    at = _tick()  # a fresh mark always outranks the stale one
    ch.insert("daily_rollup_stale",
              [{"day": d, "stale": int(stale), "changed_at": at} for d in days])
