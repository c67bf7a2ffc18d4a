"""Late deltas for a closed day (sinks/rollup.py, migration 0007): the day is marked stale at
once and read from the deduplicated deltas, recomputed into the roll-up only when due."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from sinks.migrate import migrate
from sinks.rollup import Rollup, stale_days, watermark
from smsflow.clickhouse import ClickHouse
from smsflow.contribution import COUNT_MEASURES
from smsflow.errors import ClickHouseError

D1, D2, D3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)
_SUMS = "SELECT day, sum(total), sum(cost) FROM {t} GROUP BY day ORDER BY day"


def _delta(day: dt.date, total: int, cost: str) -> dict[str, Any]:
    rec: dict[str, Any] = dict.fromkeys(COUNT_MEASURES, 0)
    rec.update(umid=str(uuid.uuid4()), version=1, day=day, subaccount_id="SA", country="SG",
               operator="SingTel", origin="HTTP_API", encoding="GSM7", campaign_id="",
               currency="EUR", total=total, received=total, cost=Decimal(cost),
               event_at=dt.datetime(2024, 5, 1, tzinfo=dt.UTC))
    return rec


def test_a_late_delta_is_exact_at_once_and_rolled_up_when_due(clickhouse: ClickHouse) -> None:
    ch = clickhouse
    migrate(ch)
    now = [0.0]
    rollup = Rollup(ch, open_days=0, settle_s=30, clock=lambda: now[0])
    ch.insert("daily_deltas", [_delta(D1, 2, "0.2"), _delta(D2, 3, "0.3"), _delta(D3, 1, "0.1")])
    assert rollup.update({(D1, 0), (D2, 0), (D3, 0)}) == D3  # every day closed
    assert watermark(ch) == D3

    ch.insert("daily_deltas", [_delta(D1, 5, "0.5")])  # a late receipt's rows for D1
    rollup.update({(D1, 0)})
    assert stale_days(ch) == [D1]
    want = [(D1, 7, Decimal("0.7")), (D2, 3, Decimal("0.3")), (D3, 1, Decimal("0.1"))]
    assert ch.query(_SUMS.format(t="daily_totals")).rows == want  # exact before the recompute
    assert ch.query(_SUMS.format(t="daily_rollup FINAL")).rows[0] == (D1, 2, Decimal("0.2"))

    now[0] = 29.0
    rollup.update(set())
    assert stale_days(ch) == [D1]  # not due yet: no recompute in this flush
    now[0] = 30.0
    rollup.update(set())
    assert stale_days(ch) == []
    assert ch.query(_SUMS.format(t="daily_rollup FINAL")).rows == want
    assert ch.query(_SUMS.format(t="daily_totals")).rows == want


def test_marks_left_by_an_earlier_process_are_settled(clickhouse: ClickHouse) -> None:
    ch = clickhouse
    migrate(ch)
    Rollup(ch, open_days=0, settle_s=3600).update({(D1, 0)})
    ch.insert("daily_deltas", [_delta(D1, 1, "0.1")])
    Rollup(ch, open_days=0, settle_s=3600).update({(D1, 0)})  # marked, then the process died
    assert stale_days(ch) == [D1]
    now = [0.0]
    later = Rollup(ch, open_days=0, settle_s=5, clock=lambda: now[0])
    later.update(set())
    assert stale_days(ch) == [D1]
    now[0] = 5.0
    later.update(set())
    assert stale_days(ch) == []
    assert ch.query(_SUMS.format(t="daily_rollup FINAL")).rows == [(D1, 1, Decimal("0.1"))]


def _into_daily_rollup(sql: str, params: Any) -> bool:
    """After the settle's recompute of ``daily_rollup`` read the source."""
    return sql.startswith("INSERT INTO daily_rollup ")


def _after_last_seal(sql: str, params: Any) -> bool:
    """After the settle's close and seal wrote their last watermark (``rollup_sealed`` of the
    last family), before it reads the stale marks."""
    return sql.startswith("INSERT INTO rollup_sealed ") and (params or {}).get("id") == 2


class _FlushDuringSettle:
    """The settle's connection; right after its first command that ``after`` picks (by
    default the recompute of ``daily_rollup``), a flush on the sink's connection runs (stores
    a late delta and marks it stale), as the sink's flushes do while the settle runs in its
    own thread."""

    def __init__(self, ch: ClickHouse, flush: Any,
                 after: Callable[[str, Any], bool] = _into_daily_rollup) -> None:
        self.ch, self.flush, self.after, self.database = ch, flush, after, ch.database

    def query(self, sql: str, params: Any = None, **kw: Any) -> Any:
        return self.ch.query(sql, params, **kw)

    def command(self, sql: str, params: Any = None) -> None:
        self.ch.command(sql, params)
        if self.flush is not None and self.after(sql, params):
            self.flush, flush = None, self.flush
            flush()

    def insert(self, table: str, rows: Any, **kw: Any) -> None:
        self.ch.insert(table, rows, **kw)


def test_a_flush_during_a_settle_leaves_its_day_stale_and_exact(clickhouse: ClickHouse) -> None:
    ch = clickhouse
    migrate(ch)
    now = [0.0]
    rollup = Rollup(ch, open_days=0, settle_s=0, clock=lambda: now[0], inline=False)
    ch.insert("daily_deltas", [_delta(D1, 2, "0.2"), _delta(D2, 3, "0.3")])
    rollup.update({(D1, 0), (D2, 0)})
    rollup.advance()  # D1 and D2 close (not inline: the sink's settle thread does it)
    ch.insert("daily_deltas", [_delta(D1, 5, "0.5")])
    rollup.update({(D1, 0)})
    assert stale_days(ch) == [D1] and rollup.due()

    def flush() -> None:  # rows the recompute did not read, marked stale after it read
        now[0] = 1.0
        ch.insert("daily_deltas", [_delta(D1, 4, "0.4")])
        rollup.update({(D1, 0)})

    rollup.settle(_FlushDuringSettle(ch, flush))  # type: ignore[arg-type]
    assert stale_days(ch) == [D1]  # the flush's mark outranks the settle's fresh one
    want = [(D1, 11, Decimal("1.1")), (D2, 3, Decimal("0.3"))]
    assert ch.query(_SUMS.format(t="daily_totals")).rows == want
    assert ch.query(_SUMS.format(t="daily_rollup FINAL")).rows[0] == (D1, 7, Decimal("0.7"))
    now[0] = 10.0  # the settle took 1 s (the flush's): the next one 9 s after it
    assert rollup.due()  # and the next settle picks it up
    rollup.settle()
    assert stale_days(ch) == [] and not rollup.due()
    assert ch.query(_SUMS.format(t="daily_rollup FINAL")).rows == want


def test_settles_are_spaced_by_their_own_cost(clickhouse: ClickHouse) -> None:
    ch = clickhouse
    migrate(ch)
    now = [0.0]
    rollup = Rollup(ch, open_days=0, settle_s=10, clock=lambda: now[0], inline=False)
    ch.insert("daily_deltas", [_delta(D1, 2, "0.2")])
    rollup.update({(D1, 0)})
    ch.insert("daily_deltas", [_delta(D1, 1, "0.1")])
    rollup.update({(D1, 0)})
    now[0] = 10.0
    assert rollup.due()

    def slow() -> None:  # the recompute takes 5 s
        now[0] += 5.0

    rollup.settle(_FlushDuringSettle(ch, slow))  # type: ignore[arg-type]
    assert stale_days(ch) == [] and now[0] == 15.0
    ch.insert("daily_deltas", [_delta(D1, 4, "0.4")])  # more late rows at once
    rollup.update({(D1, 0)})
    now[0] = 25.0  # the mark waited settle_s, but the last settle ended 10 s (2 x 5 s) ago
    assert not rollup.due()
    assert ch.query(_SUMS.format(t="daily_totals")).rows == [(D1, 7, Decimal("0.7"))]
    now[0] = 15.0 + 9 * 5.0
    assert rollup.due()


def test_a_flush_while_its_day_closes_beside_it_leaves_the_day_exact(
    clickhouse: ClickHouse,
) -> None:
    """The sink closes days in its settle thread: a day is late from the moment the close is
    decided, so rows stored after the close read the source mark it stale."""
    ch = clickhouse
    migrate(ch)
    rollup = Rollup(ch, open_days=0, settle_s=0, clock=lambda: 0.0, inline=False)
    ch.insert("daily_deltas", [_delta(D1, 2, "0.2")])
    assert rollup.update({(D1, 0)}) == D1  # decided, not yet done
    assert watermark(ch) < D1 and rollup.due()

    def flush() -> None:  # after the close read the source, before the watermark moved
        ch.insert("daily_deltas", [_delta(D1, 5, "0.5")])
        rollup.update({(D1, 0)})

    rollup.settle(_FlushDuringSettle(ch, flush))  # type: ignore[arg-type]
    assert watermark(ch) == D1 and stale_days(ch) == []
    want = [(D1, 7, Decimal("0.7"))]
    assert ch.query(_SUMS.format(t="daily_totals")).rows == want
    assert ch.query(_SUMS.format(t="daily_rollup FINAL")).rows == want


class _RefusingRollup(_FlushDuringSettle):
    """The settle's connection, refusing the first write into ``daily_rollup``."""

    def command(self, sql: str, params: Any = None) -> None:
        if self.flush is not None and self.after(sql, params):
            self.flush = None
            raise ClickHouseError("refused")
        self.ch.command(sql, params)


def test_a_close_that_failed_is_tried_again(clickhouse: ClickHouse) -> None:
    ch = clickhouse
    migrate(ch)
    rollup = Rollup(ch, open_days=0, settle_s=0, clock=lambda: 0.0, inline=False)
    ch.insert("daily_deltas", [_delta(D1, 2, "0.2")])
    rollup.update({(D1, 0)})
    with pytest.raises(ClickHouseError):
        rollup.settle(_RefusingRollup(ch, flush=True))  # type: ignore[arg-type]
    assert watermark(ch) < D1 and rollup.due() and rollup.pending()
    rollup.settle()
    assert watermark(ch) == D1
    assert ch.query(_SUMS.format(t="daily_rollup FINAL")).rows == [(D1, 2, Decimal("0.2"))]


def test_a_late_row_in_a_day_decided_closed_marks_its_sealed_hour_too(
    clickhouse: ClickHouse,
) -> None:
    """A flush during a settle decides that D2 closes (newer rows came) and stores a late row
    in D2's sealed hour. The settle then recomputes D2's day roll-up and marks it fresh, but
    D2 is not closed before the next settle, so the views read its sealed hours from the
    hourly roll-up: that hour must be stale too, or the late row is missing until then (a
    dashboard read in that window once showed a lower delivery rate and cost, CI 2026-12-03).
    """
    ch = clickhouse
    migrate(ch)
    rollup = Rollup(ch, open_days=1, open_hours=0, settle_s=0, clock=lambda: 0.0,
                    inline=False)
    ch.insert("daily_deltas", [_delta(D1, 2, "0.2"), _delta(D2, 3, "0.3")])
    rollup.update({(D1, 0), (D2, 0)})  # D1 to close, the hours through D2 00:00 to seal

    def flush() -> None:
        ch.insert("daily_deltas", [_delta(D3, 1, "0.1")])
        rollup.update({(D3, 0)})  # newer rows: D2 to close now (not yet done)
        ch.insert("daily_deltas", [_delta(D2, 5, "0.5")])  # a late row in D2 00:00
        rollup.update({(D2, 0)})

    settle = _FlushDuringSettle(ch, flush, after=_after_last_seal)
    rollup.settle(settle)  # type: ignore[arg-type]
    assert watermark(ch) == D1 and rollup.due()  # D2 not closed yet
    want = [(D1, 2, Decimal("0.2")), (D2, 8, Decimal("0.8")), (D3, 1, Decimal("0.1"))]
    assert ch.query(_SUMS.format(t="daily_totals")).rows == want
    rollup.settle()
    assert watermark(ch) == D2
    assert ch.query(_SUMS.format(t="daily_totals")).rows == want
