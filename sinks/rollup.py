"""The roll-ups: closed days and sealed hours pre-aggregated, exactly (migrations 0005, 0007,
0009, 0011-0013).

Two families, each with its watermark (``daily_rollup_watermark`` row ``id``; the last closed
day, 1970-01-01 when none):

- id 1, ``daily_rollup``: sums of ``daily_deltas FINAL`` per day x subaccount x country x
  operator x currency (read through ``daily_totals``);
- id 2, the per-message report layout: ``message_rollup`` (``message_groups`` of
  ``messages_by_day``), ``latency_rollup`` (``latency_groups``), ``campaign_rollup``
  (``campaign_groups`` of the deltas) and ``flag_rollup`` (``flag_groups``, migration 0012),
  read through ``message_totals``, ``campaign_totals`` and ``flag_totals`` (the latency
  report reads ``latency_rollup`` and ``latency_arrays`` itself). A recompute first
  tombstones the days' rows (``is_deleted``: a group can vanish when its messages move on),
  then inserts the new ones.

A day is *closed* once it is at least ``open_days`` days older than the newest day seen in
``daily_deltas``. Within the other days, an hour (the UTC hour of the time that gives a row its
day, ``daily_deltas.hour`` / ``messages_by_day.hour``) is *sealed* once it starts at least
``open_hours`` hours before the newest one seen: each family rolls it up per hour
(``*_rollup_hourly``; watermark ``rollup_sealed``, the start of the last sealed hour). The
``*_totals`` views read closed days from the day roll-up, sealed hours from the hourly one, the
newest hours and the stale days and hours from the source. Latency percentiles do not add up
over hours, their samples do: ``latency_rollup_hourly`` keeps a sealed hour's sorted samples
per group, and the days after the watermark take their percentiles from the union of their
hours' samples (``latency_arrays``, migration 0013).

:meth:`Rollup.update` runs after every flush, before the Kafka commit, with the days the batch
touched (its deltas' and its counted messages' days):

1. closed days the batch touched (late receipts) are marked stale (``daily_rollup_stale``,
   shared by the families; the views read them from the source until they are fresh again),
   and so are the sealed hours it touched (``rollup_stale_hours``); once the oldest mark is
   ``SMSFLOW_ROLLUP_SETTLE_SECONDS`` old, every stale day and hour is recomputed whole in every
   family from the deduplicated source (never incremented: a replay or duplicate collapses in
   the source first) and marked fresh (:meth:`Rollup.settle`; the sink runs it in a thread of
   its own, beside the flushes: ``inline=False``);
2. when the newest day moved, the days that just aged are decided closed (``close_to``), and
   when the newest hour moved, the hours that aged are decided sealed (``seal_to``). From that
   moment rows of those days and hours are late (step 1 marks them). :meth:`Rollup.advance`
   then computes them in each family behind and raises its watermark or seal (a crash in
   between leaves them read from the source, and the next update decides again); the days
   closed in every family leave the hourly roll-ups (their partitions are dropped: no view
   reads them any more). ``inline`` (tests, ``refresh``): in the same call; the sink: in its
   settle thread (:meth:`Rollup.settle`), so that a backlog that moves the newest hour at
   every flush (days of traffic in minutes) does not compute hours inside every flush.

A batch of open hours costs two one-row reads. Exactness argument: sinks/README.md.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from smsflow.clickhouse import ClickHouse

__all__ = [
    "FAMILIES", "OPEN_TABLES", "Family", "Rollup", "Unit", "recompute", "recompute_hours",
    "refresh", "seals", "stale_days", "stale_hours", "watermark", "watermarks",
]

_EPOCH = dt.date(1970, 1, 1)
_EPOCH_HOUR = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: (day, hour): the rows of one day whose request time falls in that UTC hour
Unit = tuple[dt.date, int]
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
_UNITS = "(day, hour) IN {units:Array(Tuple(Date, UInt8))}"
# the hours after lo through hi, on day and hour apart: key ranges of the sources
_HOURS = ("day > {open_after:Date} "
          "AND day >= toDate({lo:DateTime('UTC')}) AND day <= toDate({hi:DateTime('UTC')}) "
          "AND (day > toDate({lo:DateTime('UTC')}) OR hour > toHour({lo:DateTime('UTC')})) "
          "AND (day < toDate({hi:DateTime('UTC')}) OR hour <= toHour({hi:DateTime('UTC')}))")


@dataclass(frozen=True)
class Family:
    """Roll-up tables closed together under one watermark row ``id`` (days) and sealed
    together under one ``rollup_sealed`` row ``id`` (hours)."""

    id: int
    statements: tuple[str, ...]  # each with a {where} on day and an {at:DateTime64(6)}
    hourly: tuple[str, ...]  # the same per hour: {where} on day and hour

    def recompute(self, ch: ClickHouse, where: str, params: dict[str, object], *,
                  hourly: bool = False) -> None:
        for sql in self.hourly if hourly else self.statements:
            ch.command(sql.replace("{where}", where), {**params, "at": _tick()})


def _replaced(table: str, view: str) -> tuple[str, str]:
    """A roll-up ``table`` (its groups ``view``'s columns, then computed_at and is_deleted):
    tombstones for the days' rows, then the days' groups."""
    where = "{where}"
    return (f"INSERT INTO {table} SELECT * EXCEPT (computed_at, is_deleted), {_AT}, 1 "
            f"FROM {table} FINAL WHERE {where}",
            f"INSERT INTO {table} SELECT *, {_AT}, 0 FROM {view} WHERE {where}")


FAMILIES = (
    Family(1, (_DAILY,), _replaced("daily_rollup_hourly", "daily_groups_hourly")),
    Family(2, (*_replaced("message_rollup", "message_groups"),
               *_replaced("latency_rollup", "latency_groups"),
               *_replaced("campaign_rollup", "campaign_groups"),
               *_replaced("flag_rollup", "flag_groups")),
           (*_replaced("message_rollup_hourly", "message_groups_hourly"),
            *_replaced("latency_rollup_hourly", "latency_arrays_hourly"),
            *_replaced("campaign_rollup_hourly", "campaign_groups_hourly"),
            *_replaced("flag_rollup_hourly", "flag_groups_hourly"))),
)
#: the hourly roll-ups, partitioned by day and read only for the days after a watermark: a
#: day's partitions are dropped once every family closed it
OPEN_TABLES = ("daily_rollup_hourly", "message_rollup_hourly", "latency_rollup_hourly",
               "campaign_rollup_hourly", "flag_rollup_hourly")

#: a settle waits this many times the last one's duration after it ended (Rollup.due): at
#: most about a tenth of the sink's time goes to recomputing stale days and hours
SETTLE_SPACING = 9.0

_LAST_TICK = [dt.datetime.min.replace(tzinfo=dt.UTC)]
_TICK_LOCK = threading.Lock()  # the sink settles in a thread of its own


def _tick() -> dt.datetime:
    """Now, strictly later than every earlier tick of the process: a later recompute's rows
    (and a fresh stale mark) always outrank the earlier ones."""
    with _TICK_LOCK:
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


def seals(ch: ClickHouse) -> dict[int, dt.datetime]:
    """The start of the last sealed hour of every family (1970-01-01 00:00: none)."""
    got = dict(ch.query("SELECT id, max(sealed_through) FROM rollup_sealed GROUP BY id").rows)
    return {f.id: _utc(got.get(f.id)) for f in FAMILIES}


def _utc(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return _EPOCH_HOUR
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def hour_start(unit: Unit) -> dt.datetime:
    """When the hour ``unit`` starts (UTC)."""
    day, hour = unit
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def recompute(ch: ClickHouse, days: Iterable[dt.date]) -> None:
    """Recompute every family's roll-up of ``days`` whole from the deduplicated source
    (idempotent)."""
    wanted = sorted(set(days))
    if wanted:
        days_text = "[" + ",".join(f"'{d.isoformat()}'" for d in wanted) + "]"
        for family in FAMILIES:
            family.recompute(ch, _DAYS, {"days": days_text})


def recompute_hours(ch: ClickHouse, units: Iterable[Unit]) -> None:
    """Recompute every family's hourly roll-up of ``units`` whole from the deduplicated source
    (idempotent)."""
    wanted = sorted(set(units))
    if wanted:
        text = "[" + ",".join(f"('{d.isoformat()}',{h})" for d, h in wanted) + "]"
        for family in FAMILIES:
            family.recompute(ch, _UNITS, {"units": text}, hourly=True)


def _close(ch: ClickHouse, family: Family, after: dt.date, through: dt.date) -> None:
    family.recompute(ch, _RANGE, {"lo": after, "hi": through})
    ch.command(
        "INSERT INTO daily_rollup_watermark (id, rolled_through, updated_at) "
        "VALUES ({id:UInt8}, {day:Date}, now64(6))", {"id": family.id, "day": through},
    )


def _drop_closed(ch: ClickHouse, through: dt.date, cluster: str | None) -> None:
    """Drop the partitions (one per day) of :data:`OPEN_TABLES` up to ``through``, closed in
    every family: the views read those days from the day roll-ups, or from the source while
    stale, so they only took space."""
    for table in OPEN_TABLES:
        local, on = (f"{table}_local", f" ON CLUSTER {cluster}") if cluster else (table, "")
        days = ch.query(f"SELECT DISTINCT day FROM {table} WHERE day <= {{day:Date}}",
                        {"day": through}).rows
        for (day,) in days:
            ch.command(f"ALTER TABLE {local}{on} DROP PARTITION '{day.isoformat()}'")


def _seal(ch: ClickHouse, family: Family, after: dt.datetime, through: dt.datetime,
          open_after: dt.date) -> None:
    family.recompute(ch, _HOURS, {"lo": _second(after), "hi": _second(through),
                                  "open_after": open_after}, hourly=True)
    ch.command(
        "INSERT INTO rollup_sealed (id, sealed_through, updated_at) "
        "VALUES ({id:UInt8}, {at:DateTime('UTC')}, now64(6))",
        {"id": family.id, "at": _second(through)},
    )


def _second(at: dt.datetime) -> str:
    """A DateTime('UTC') query parameter (whole seconds)."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _newest(ch: ClickHouse) -> tuple[dt.date, dt.datetime]:
    """The newest day and the start of the newest hour stored in ``daily_deltas``."""
    day, hour = ch.query(
        "WITH (SELECT max(day) FROM daily_deltas) AS newest "
        "SELECT newest, max(hour) FROM daily_deltas WHERE day = newest").rows[0]
    if not day or day <= _EPOCH:
        return _EPOCH, _EPOCH_HOUR
    return day, hour_start((day, int(hour)))


def refresh(ch: ClickHouse, open_days: int, open_hours: int = 2) -> dt.date:
    """Settle the stale days and hours, close every day ``open_days`` older than the newest
    delta day and seal every hour ``open_hours`` older than the newest one; the new
    watermark."""
    day, hour = _newest(ch)
    rollup = Rollup(ch, open_days, open_hours, newest=day, newest_hour=hour)
    rollup.settle()
    return rollup.update(set())


class Rollup:
    """Keeps the roll-ups exact for the sink (one sink per database; see the README).

    ``settle_s``: closed days and sealed hours that got rows are marked stale at once and
    recomputed together once the oldest mark waited this long (:meth:`settle`); ``clock`` is
    monotonic seconds. ``cluster``: hourly partitions are dropped on every replica.
    """

    def __init__(
        self,
        ch: ClickHouse,
        open_days: int,
        open_hours: int = 2,
        newest: dt.date | None = None,
        newest_hour: dt.datetime | None = None,
        *,
        settle_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        cluster: str | None = None,
        inline: bool = True,
    ) -> None:
        self.ch = ch
        self.open_days = open_days
        self.open_hours = open_hours
        self.newest = newest
        self.newest_hour = newest_hour
        self.settle_s = settle_s
        self.clock = clock
        self.cluster = cluster
        self.inline = inline  # update() advances and settles; else the caller runs settle()
        self.stale_since: float | None = None  # when the oldest unsettled mark was written
        self.last_mark: float | None = None  # when the newest stale mark was written
        self.settled_at: float | None = None  # when the last settle ended
        self.settle_cost = 0.0  # how long it took (clock seconds)
        self._checked = False  # stale marks left by an earlier process looked for
        #: the days up to close_to are to be closed and the hours up to seal_to sealed (never
        #: lowered: from the moment they are set, rows of those days and hours are late)
        self.close_to: dt.date | None = None
        self.seal_to: dt.datetime | None = None
        self._advance_due = False  # close_to or seal_to moved since the last advance began

    def update(self, units: set[Unit], ch: ClickHouse | None = None) -> dt.date:
        """After ``units``' rows are stored: mark the closed days and sealed hours among them
        stale, decide which days close and which hours seal now that they aged (``inline``:
        close and seal them, and recompute the stale ones when due; else :meth:`settle`
        does both); return the lowest day watermark of the families, counting the days
        decided. ``ch``: the connection to read and mark on (default: the roll-up's own);
        the updates themselves come one at a time, in the order of their rows' batches."""
        ch = ch or self.ch
        if self.newest is None or self.newest_hour is None:
            self.newest, self.newest_hour = _newest(ch)
        if units:
            self.newest = max(self.newest, *(d for d, _ in units))
            self.newest_hour = max(self.newest_hour, *(hour_start(u) for u in units))
        # read each time: cheap, and never a stale cached value; a close or seal decided and
        # not yet written counts as written (its days and hours take stale marks)
        stored = watermarks(ch)
        rolled = {f: max(d, self.close_to or d) for f, d in stored.items()}
        sealed = {f: max(h, self.seal_to or h) for f, h in seals(ch).items()}
        late = sorted({d for d, _ in units if d <= max(rolled.values())})
        # the hours of a day decided closed but not closed yet are still read from the
        # hourly roll-ups: a settle may recompute the day (its day mark) and mark it fresh
        # before the close, so its hours take their own marks too
        late_hours = sorted(u for u in units if u[0] > min(stored.values())
                            and hour_start(u) <= max(sealed.values()))
        if not self._checked:
            self._checked = True
            if stale_days(ch) or stale_hours(ch):
                self.stale_since = self.clock()
        if late or late_hours:
            _mark(ch, late, stale=True)
            _mark_hours(ch, late_hours, stale=True)
            self.last_mark = self.clock()
            if self.stale_since is None:
                self.stale_since = self.last_mark
        target = self.newest - dt.timedelta(days=self.open_days)
        seal_to = self.newest_hour - dt.timedelta(hours=self.open_hours)
        if target > min(rolled.values()):
            self.close_to = target
            self._advance_due = True
        if seal_to > min(sealed.values()):
            self.seal_to = seal_to
            self._advance_due = True
        if self.inline:
            if self._advance_due:
                self.advance()
            if self.due():
                self.settle()
        return min(max(d, self.close_to or d) for d in rolled.values())

    def advance(self, ch: ClickHouse | None = None) -> None:
        """Close the days up to :attr:`close_to` and seal the hours up to :attr:`seal_to` in
        every family behind them: compute them from the source, then raise the watermarks
        (a crash in between leaves them read from the source; the next update decides again).

        May run in another thread (on ``ch``) while flushes call :meth:`update`: a flush that
        stored rows in these days or hours after they were decided marks them stale (they are
        late from that moment), and one that stored them before had its rows stored before this
        reads the source, since the decision is taken after the rows of the flush that made
        it."""
        ch = ch or self.ch
        self._advance_due = False  # before reading the targets: a later move sets it again
        close_to, seal_to = self.close_to, self.seal_to
        try:
            rolled, sealed = watermarks(ch), seals(ch)
            lowest = min(rolled.values())
            for family in FAMILIES:
                if close_to is not None and close_to > rolled[family.id]:
                    _close(ch, family, rolled[family.id], close_to)
                    rolled[family.id] = close_to
                if seal_to is not None and seal_to > sealed[family.id]:
                    _seal(ch, family, sealed[family.id], seal_to, rolled[family.id])
            if min(rolled.values()) > lowest:
                _drop_closed(ch, min(rolled.values()), self.cluster)
        except BaseException:
            self._advance_due = True  # not done: the next settle tries again
            raise

    def pending(self) -> bool:
        """Days to close, hours to seal, or stale days and hours to recompute."""
        return self._advance_due or self.stale_since is not None

    def due(self) -> bool:
        """True when days wait to close or hours to seal, or the oldest unsettled stale mark
        waited ``settle_s``; and the last settle ended :data:`SETTLE_SPACING` times its own
        duration ago: late rows streaming into closed days (a backlog) would otherwise
        recompute whole days every ``settle_s``, and the sink would spend most of its time on
        it (the demo: 54 s of 190)."""
        if not self.pending():
            return False
        now = self.clock()
        spaced = self.settled_at is None or now - self.settled_at >= SETTLE_SPACING * \
            self.settle_cost
        waited = self._advance_due or (self.stale_since is not None
                                       and now - self.stale_since >= self.settle_s)
        return spaced and waited

    def settle(self, ch: ClickHouse | None = None) -> tuple[list[dt.date], list[Unit]]:
        """Close and seal what :meth:`update` decided (:meth:`advance`), then recompute every
        stale day and hour in every family and mark them fresh (a crash in between leaves them
        stale: read from the source, recomputed again).

        May run in another thread (on ``ch``, a connection of its own) while flushes go on
        calling :meth:`update`: the fresh marks carry the time taken *before* the stale ones
        and the source were read, so a stale mark written by a flush whose rows the recompute
        may have missed outranks them, and the unit stays stale until the next settle.
        """
        ch = ch or self.ch
        started = self.clock()
        if self._advance_due:
            self.advance(ch)
        fresh_at = _tick()
        days, units = stale_days(ch), stale_hours(ch)
        recompute(ch, days)
        recompute_hours(ch, units)
        _mark(ch, days, stale=False, at=fresh_at)
        _mark_hours(ch, units, stale=False, at=fresh_at)
        marked = self.last_mark
        # a mark written while this ran (or at its start) waits for the next settle
        self.stale_since = marked if marked is not None and marked >= started else None
        self.settled_at = self.clock()
        self.settle_cost = self.settled_at - started
        self._checked = True
        return days, units


def stale_days(ch: ClickHouse) -> list[dt.date]:
    """Closed days whose deltas changed after their roll-up (read from the source meanwhile)."""
    res = ch.query("SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1 ORDER BY day")
    return [r[0] for r in res.rows]


def stale_hours(ch: ClickHouse) -> list[Unit]:
    """Sealed hours that got rows after their roll-up (read from the source meanwhile)."""
    res = ch.query("SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1 "
                   "ORDER BY day, hour")
    return [(r[0], int(r[1])) for r in res.rows]


def _mark(ch: ClickHouse, days: list[dt.date], *, stale: bool,
          at: dt.datetime | None = None) -> None:
    if not days:
        return
    at = at or _tick()  # a mark outranks every mark written before it
    ch.insert("daily_rollup_stale",
              [{"day": d, "stale": int(stale), "changed_at": at} for d in days])


def _mark_hours(ch: ClickHouse, units: list[Unit], *, stale: bool,
                at: dt.datetime | None = None) -> None:
    if not units:
        return
    at = at or _tick()
    ch.insert("rollup_stale_hours",
              [{"day": d, "hour": h, "stale": int(stale), "changed_at": at} for d, h in units])
