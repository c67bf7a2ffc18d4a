"""The per-message report layout (migration 0009, sinks/rollup.py) on a real engine (chDB).

* ``messages_by_day`` / ``messages_uncounted`` follow ``messages`` through materialized views:
  a message that gets its contribution leaves the uncounted table (a tombstone), also when an
  older version is replayed afterwards;
* the roll-ups equal their source after a closed day changed, including a group whose messages
  all moved on (recomputing only the groups still present would keep it);
* the message log reads a few days, not all of them, and still gives the first rows, also when
  the roll-ups undercount (late requests) or count days a retention TTL deleted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from sinks.filters import Filters
from sinks.migrate import MIGRATIONS_DIR, migrate
from sinks.reports import run_report
from sinks.rollup import Rollup, watermark
from sinks.ttl import apply_retention
from smsflow.clickhouse import ClickHouse
from smsflow.config import Settings

D1, D2, D3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)
UTC = dt.UTC


def _at(day: dt.date, seconds: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC) + dt.timedelta(seconds=seconds)


def _msg(umid: str, version: int, day: dt.date, state: str, *, counted: bool = True,
         seconds: int = 0, **extra: Any) -> dict[str, Any]:
    at = _at(day, seconds)
    row: dict[str, Any] = {
        "umid": umid, "version": version, "direction": "OUTBOUND", "counted": counted,
        "has_request": counted, "day": day, "subaccount_id": "SA" if counted else "",
        "country": "SG", "operator": "SingTel", "currency": "EUR", "state": state,
        "cost": Decimal("0.05") if counted else Decimal(0), "source": "Brand",
        "queued_at": at if counted else None, "first_event_at": at,
    }
    if state in ("sent", "delivered", "undelivered"):
        row["sent_at"] = at + dt.timedelta(seconds=2)
    if state == "delivered":
        row["delivered_at"] = at + dt.timedelta(seconds=9)
    row.update(extra)
    return row


def _uid() -> str:
    return str(uuid.uuid4())


def _rows(ch: ClickHouse, sql: str) -> list[tuple[Any, ...]]:
    return ch.query(sql).rows


def test_uncounted_versions_leave_when_the_contribution_arrives(clickhouse: ClickHouse) -> None:
    ch = clickhouse
    migrate(ch)
    early, normal = _uid(), _uid()
    ch.insert("messages", [_msg(early, 1, D2, "delivered", counted=False),
                           _msg(normal, 1, D1, "queued")])
    assert _rows(ch, "SELECT toString(umid) FROM messages_by_day FINAL") == [(normal,)]
    assert _rows(ch, "SELECT toString(umid) FROM messages_uncounted FINAL") == [(early,)]
    logs = run_report(ch, "logs", Filters()).rows
    assert sorted(r[3] for r in logs) == sorted([early, normal])  # the orphan is in the log

    ch.insert("messages", [_msg(early, 2, D1, "delivered", seconds=5)])  # its request
    ch.insert("messages", [_msg(early, 1, D2, "delivered", counted=False)])  # a replay
    assert _rows(ch, "SELECT count() FROM messages_uncounted FINAL") == [(0,)]
    assert sorted(_rows(ch, "SELECT toString(umid), version FROM messages_by_day FINAL")) == \
        sorted([(early, 2), (normal, 1)])
    logs = run_report(ch, "logs", Filters()).rows
    assert [r[3] for r in logs] == [normal, early]  # once, at its submission


_SAME = {
    "message_rollup FINAL": "message_groups",
    "latency_rollup FINAL": "latency_groups",
    "campaign_rollup FINAL": "campaign_groups",
    "flag_rollup FINAL": "flag_groups",
}


def _assert_rollups_equal_sources(ch: ClickHouse) -> None:
    for rollup, source in _SAME.items():
        got = _rows(ch, f"SELECT * EXCEPT (computed_at, is_deleted) FROM {rollup} "
                        "ORDER BY ALL")
        assert got == _rows(ch, f"SELECT * FROM {source} ORDER BY ALL"), rollup


def test_a_closed_day_that_changed_is_recomputed_whole(clickhouse: ClickHouse) -> None:
    ch = clickhouse
    migrate(ch)
    a, b, c = _uid(), _uid(), _uid()
    ch.insert("messages", [_msg(a, 1, D1, "queued"), _msg(b, 1, D1, "delivered"),
                           _msg(c, 1, D2, "sent")])
    rollup = Rollup(ch, open_days=0)
    assert rollup.update({(D1, 0), (D2, 0)}) == D2  # both days closed
    assert watermark(ch, 2) == D2
    _assert_rollups_equal_sources(ch)
    before = run_report(ch, "pending", Filters(at=_at(D3))).rows

    # a's receipt arrives: its group (queued) vanishes from D1, a new one appears
    ch.insert("messages", [_msg(a, 2, D1, "undelivered", error_code=34,
                                error_message="absent subscriber")])
    rollup.update({(D1, 0)})  # marked stale and (settle_s = 0) recomputed at once
    _assert_rollups_equal_sources(ch)
    errors = run_report(ch, "errors", Filters()).dicts()
    assert [(r["Status"], r["Error Code"], r["Messages"], r["Operator Total"]) for r in errors] \
        == [("undelivered", 34, 1, 3)]
    after = run_report(ch, "pending", Filters(at=_at(D3))).dicts()
    assert before != after and after[0]["Queued"] == 0 and after[0]["Sent"] == 3


def _log(ch: ClickHouse, limit: int) -> list[str]:
    return [r[3] for r in run_report(ch, "logs", Filters(limit=limit)).rows]


def test_the_log_cuts_on_lower_bounds_and_keeps_the_order(clickhouse: ClickHouse) -> None:
    ch = clickhouse
    migrate(ch)
    rows = [_msg(_uid(), 1, D1, "delivered", seconds=s) for s in (0, 60, 86_390)]
    rows += [_msg(_uid(), 1, D2, "delivered", seconds=s) for s in (10, 7_200, 7_300)]
    rows += [_msg(_uid(), 1, D3, "sent", seconds=s) for s in (0, 1, 7_200, 9_000)]
    ch.insert("messages", rows)
    # D1 and D2 closed, D3's hours 00:00 and 01:00 sealed
    Rollup(ch, open_days=1, open_hours=1).update(
        {(r["day"], r["queued_at"].hour) for r in rows})
    # after the roll-ups: a late request in closed D1 and one in D3's sealed first hour (the
    # roll-ups undercount both days), and an orphan receipt timed between D1 and D2
    late = [_msg(_uid(), 1, D1, "delivered", seconds=30), _msg(_uid(), 1, D3, "sent")]
    orphan = _msg(_uid(), 1, D2, "delivered", counted=False, seconds=5)
    ch.insert("messages", [*late, orphan])
    every = sorted([*rows, *late, orphan], key=lambda r: (r["first_event_at"], r["umid"]))
    expected = [r["umid"] for r in every]
    assert _log(ch, 100) == expected
    for n in range(1, len(expected) + 1):
        assert _log(ch, n) == expected[:n], n


def test_a_stale_day_backs_no_count_of_the_log(clickhouse: ClickHouse) -> None:
    ch = clickhouse
    migrate(ch)
    d1 = [_msg(_uid(), 1, D1, "sent", seconds=s, operator="X") for s in (0, 1, 2)]
    d2 = [_msg(_uid(), 1, D2, "sent", seconds=s, operator="X") for s in (0, 1)]
    ch.insert("messages", [*d1, *d2, _msg(_uid(), 1, D3, "sent")])
    rollup = Rollup(ch, open_days=1, settle_s=3600, clock=lambda: 0.0)
    rollup.update({(D1, 0), (D2, 0), (D3, 0)})  # D1 and D2 closed: 3 and 2 X messages
    # receipts name the real operator of two of D1's messages: D1 is marked stale, and its
    # roll-up (not recomputed yet) still counts three X messages
    moved = [_msg(r["umid"], 2, D1, "delivered", seconds=s, operator="Y")
             for r, s in zip(d1[1:], (1, 2), strict=True)]
    ch.insert("messages", moved)
    rollup.update({(D1, 0)})
    x = [r[3] for r in run_report(ch, "logs", Filters(operator="X", limit=2)).rows]
    assert x == [d1[0]["umid"], d2[0]["umid"]]


def test_the_log_does_not_count_days_a_retention_may_have_deleted(
    clickhouse: ClickHouse,
) -> None:
    ch = clickhouse
    migrate(ch)
    today = dt.datetime.now(UTC).date()
    old, recent, newest = (today - dt.timedelta(days=d) for d in (100, 3, 1))
    gone = [_msg(_uid(), 1, old, "delivered", seconds=s) for s in (0, 1, 2)]
    kept = [_msg(_uid(), 1, recent, "delivered", seconds=s) for s in (0, 1)]
    last = [_msg(_uid(), 1, newest, "sent")]
    ch.insert("messages", [*gone, *kept, *last])
    Rollup(ch, open_days=1).update({(old, 0), (recent, 0), (newest, 0)})
    assert watermark(ch, 2) >= recent  # the old day is rolled up: its 3 messages still count
    apply_retention(ch, Settings(retention_messages_days=30))
    for table in ("messages", "messages_by_day", "messages_uncounted"):
        ch.command(f"OPTIMIZE TABLE {table} FINAL")  # the TTL deletes the old day's rows
    assert ch.query("SELECT count() FROM messages_by_day WHERE day = {d:Date}",
                    {"d": old}).scalar() == 0
    assert _log(ch, 2) == [r["umid"] for r in kept]
    assert _log(ch, 10) == [r["umid"] for r in [*kept, *last]]


def test_an_upgraded_database_backfills_the_layout(clickhouse: ClickHouse, tmp_path: Path) -> None:
    ch = clickhouse
    old = tmp_path / "migrations"
    old.mkdir()
    for f in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if f.name < "0009":
            (old / f.name).write_text(f.read_text())
    migrate(ch, old)  # a database of version 8, with messages stored before the upgrade
    orphan, counted = _uid(), _uid()
    ch.insert("messages", [_msg(orphan, 1, D2, "delivered", counted=False),
                           _msg(counted, 1, D1, "queued"), _msg(counted, 2, D1, "delivered")])
    assert [m.version for m in migrate(ch)][:1] == [9]  # and the later ones
    assert _rows(ch, "SELECT toString(umid), version FROM messages_by_day FINAL") == \
        [(counted, 2)]
    assert _rows(ch, "SELECT toString(umid) FROM messages_uncounted FINAL") == [(orphan,)]
    assert watermark(ch, 2) == dt.date(1970, 1, 1)  # the new roll-ups start with no closed day
    Rollup(ch, open_days=0).update({(D1, 0), (D2, 0)})
    _assert_rollups_equal_sources(ch)
