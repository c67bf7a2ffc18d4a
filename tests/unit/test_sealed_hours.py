"""Sealed hours of the open days (migration 0011, sinks/rollup.py) on a real engine (chDB).

An open day's hours older than the newest one by ``open_hours`` are rolled up per hour; the
``*_totals`` views read them from there, the newest and the stale hours from the source. Every
check compares a view with its pure source (the deduplicated deltas, ``message_groups``,
``campaign_groups``, the latency samples): a sealed hour that got rows later must be exact at
once (read from the source) and again after its recompute; a closed day's hours are dropped.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sinks.migrate import MIGRATIONS_DIR, available, migrate
from sinks.rollup import OPEN_TABLES, Rollup, Unit, seals, stale_hours
from smsflow.clickhouse import ClickHouse
from smsflow.contribution import COUNT_MEASURES, request_hour

D1, D2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
UTC = dt.UTC

_DAILY = ("SELECT day, subaccount_id, sum(total), sum(delivered), sum(cost) FROM {t} "
          "GROUP BY ALL ORDER BY ALL")
_MESSAGES = ("SELECT day, subaccount_id, state, error_code, sum(messages), sum(cost), "
             "min(first_at), max(last_at) FROM {t} GROUP BY ALL ORDER BY ALL")
_CAMPAIGNS = "SELECT day, campaign_id, sum(total), sum(delivered), sum(cost) FROM {t} " \
             "GROUP BY ALL ORDER BY ALL"
_FLAGS = "SELECT day, flag, sum(messages) FROM {t} GROUP BY ALL ORDER BY ALL"
# a day's latency samples per group: the multiset the percentiles are taken from
_LATENCY = ("SELECT day, subaccount_id, country, operator, arraySort(groupArrayArray(sent)), "
            "arraySort(groupArrayArray(delivered)) FROM {t} GROUP BY ALL ORDER BY ALL")
_SAME = (
    (_DAILY, "daily_totals", "daily_deltas FINAL"),
    (_MESSAGES, "message_totals", "message_groups"),
    (_CAMPAIGNS, "campaign_totals", "campaign_groups"),
    (_FLAGS, "flag_totals", "flag_groups"),
    (_LATENCY, "latency_arrays", "latency_arrays_hourly"),
)


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _message(umid: str, version: int, at: dt.datetime, state: str, **extra: Any) -> dict[str, Any]:
    """A ``messages`` row of a counted outbound message requested at ``at``."""
    row: dict[str, Any] = {
        "umid": umid, "version": version, "direction": "OUTBOUND", "counted": True,
        "has_request": True, "day": at.date(), "subaccount_id": "SA", "country": "SG",
        "operator": "SingTel", "currency": "EUR", "state": state, "cost": Decimal("0.05"),
        "source": "Brand", "queued_at": at, "first_event_at": at, "campaign_id": "C1",
    }
    if state == "delivered":
        row["sent_at"] = row["delivered_at"] = at + dt.timedelta(seconds=9)
    row.update(extra)
    return row


def _delta(umid: str, version: int, at: dt.datetime, **measures: Any) -> dict[str, Any]:
    """A ``daily_deltas`` row of that message (its request hour, like the sink's)."""
    rec: dict[str, Any] = dict.fromkeys(COUNT_MEASURES, 0)
    rec.update(umid=umid, version=version, day=at.date(), subaccount_id="SA", country="SG",
               operator="SingTel", origin="HTTP_API", encoding="GSM7", campaign_id="C1",
               currency="EUR", cost=Decimal(0), event_at=at,
               hour=request_hour({"direction": "OUTBOUND", "queued_at": at}))
    rec.update(measures)
    return rec


def _store(ch: ClickHouse, rows: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> set[Unit]:
    """Insert messages rows with their delta rows, like one sink flush; the units touched."""
    ch.insert("daily_deltas", [d for _, deltas in rows for d in deltas])
    ch.insert("messages", [m for m, _ in rows])
    return {(m["day"], request_hour(m)) for m, _ in rows}


def _send(at: dt.datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    umid = str(uuid.uuid4())
    flags = ["number_unlisted"] if at.hour % 2 == 0 else []
    return (_message(umid, 1, at, "queued", flags=flags),
            [_delta(umid, 1, at, total=1, received=1, cost=Decimal("0.05"))])


def _deliver(sent: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    at = sent["queued_at"]
    # the receipt names the operator: the unlisted flag goes, another one comes
    return (_message(sent["umid"], 2, at, "delivered", flags=["operator_unknown"]),
            [_delta(sent["umid"], 2, at, received=-1, sent=1, delivered=1)])


def _assert_views_equal_sources(ch: ClickHouse) -> None:
    for sql, view, source in _SAME:
        assert ch.query(sql.format(t=view)).rows == ch.query(sql.format(t=source)).rows, view


def _hourly(ch: ClickHouse, table: str) -> list[tuple[Any, ...]]:
    return ch.query(f"SELECT day, hour, count() FROM {table} FINAL GROUP BY day, hour "
                    "ORDER BY day, hour").rows


def test_request_hour_is_the_one_messages_by_day_computes(clickhouse: ClickHouse) -> None:
    ch = clickhouse
    migrate(ch)
    outbound = _message(str(uuid.uuid4()), 1, _at(D1, 13, 59), "queued")
    inbound = _message(str(uuid.uuid4()), 1, _at(D1, 1), "received", direction="INBOUND",
                       queued_at=None, first_event_at=_at(D1, 22, 30))
    ch.insert("messages", [outbound, inbound])
    got = dict(ch.query("SELECT toString(umid), hour FROM messages_by_day").rows)
    assert got == {outbound["umid"]: 13, inbound["umid"]: 22}
    assert [request_hour(outbound), request_hour(inbound)] == [13, 22]


def test_a_sealed_hour_that_gets_rows_is_exact_at_once_and_rolled_up_when_due(
    clickhouse: ClickHouse,
) -> None:
    ch = clickhouse
    migrate(ch)
    now = [0.0]
    rollup = Rollup(ch, open_days=2, open_hours=2, settle_s=30, clock=lambda: now[0])
    first = [_send(_at(D1, h)) for h in (0, 0, 1, 5, 9)]
    rollup.update(_store(ch, first))
    # newest hour 09:00: the hours up to 07:00 are sealed, 09:00 is read from the source
    assert seals(ch)[1] == seals(ch)[2] == _at(D1, 7)
    assert _hourly(ch, "daily_rollup_hourly") == [(D1, 0, 1), (D1, 1, 1), (D1, 5, 1)]
    assert [u[:2] for u in _hourly(ch, "message_rollup_hourly")] == [(D1, 0), (D1, 1), (D1, 5)]
    assert _hourly(ch, "campaign_rollup_hourly") == [(D1, 0, 1), (D1, 1, 1), (D1, 5, 1)]
    _assert_views_equal_sources(ch)

    # receipts for two messages of sealed hours: their group (queued) vanishes from 00:00
    late = _store(ch, [_deliver(first[0][0]), _deliver(first[1][0]), _deliver(first[3][0])])
    rollup.update(late)
    assert stale_hours(ch) == [(D1, 0), (D1, 5)]
    _assert_views_equal_sources(ch)  # exact before the recompute: read from the source

    now[0] = 30.0
    rollup.update(set())
    assert stale_hours(ch) == []
    _assert_views_equal_sources(ch)
    assert ch.query("SELECT sum(delivered) FROM daily_rollup_hourly FINAL").scalar() == 3
    # the delivered messages' samples (9 s each), kept per sealed hour
    assert ch.query("SELECT day, hour, sent FROM latency_rollup_hourly FINAL ORDER BY hour"
                    ).rows == [(D1, 0, [9_000_000, 9_000_000]), (D1, 5, [9_000_000])]

    # a later hour moves the seal; 10:00 is late for nothing yet
    rollup.update(_store(ch, [_send(_at(D1, 12)), _send(_at(D1, 10))]))
    assert seals(ch)[1] == _at(D1, 10)
    _assert_views_equal_sources(ch)


def test_a_closed_day_drops_its_hours(clickhouse: ClickHouse) -> None:
    ch = clickhouse
    migrate(ch)
    rollup = Rollup(ch, open_days=1, open_hours=1)
    rollup.update(_store(ch, [_send(_at(D1, h)) for h in (3, 8, 20)]))
    assert [u[:2] for u in _hourly(ch, "daily_rollup_hourly")] == [(D1, 3), (D1, 8)]
    _assert_views_equal_sources(ch)
    assert rollup.update(_store(ch, [_send(_at(D2, 2))])) == D1  # D1 closes
    for table in OPEN_TABLES:  # D1 left; D2 01:00 is the newest sealed hour: no row yet
        assert ch.query(f"SELECT count() FROM {table}").scalar() == 0, table
    _assert_views_equal_sources(ch)
    rollup.update(_store(ch, [_send(_at(D2, 6))]))
    assert [u[:2] for u in _hourly(ch, "daily_rollup_hourly")] == [(D2, 2)]
    _assert_views_equal_sources(ch)


@pytest.mark.parametrize("open_hours", [0, 3])
def test_replayed_rows_in_sealed_hours_count_once(clickhouse: ClickHouse, open_hours: int) -> None:
    ch = clickhouse
    migrate(ch)
    rollup = Rollup(ch, open_days=2, open_hours=open_hours)
    sent = [_send(_at(D1, h)) for h in range(6)]
    rollup.update(_store(ch, sent))
    rollup.update(_store(ch, sent[:3]))  # the same records again (a redelivered batch)
    rollup.update(_store(ch, [_deliver(m) for m, _ in sent]))
    _assert_views_equal_sources(ch)
    assert ch.query("SELECT sum(total), sum(delivered) FROM daily_totals").rows == [(6, 6)]


@pytest.mark.parametrize(("version", "tables"), [
    (12, ("flag_rollup", "flag_rollup_hourly")), (13, ("latency_rollup_hourly",)),
])
def test_an_upgraded_database_fills_the_new_rollups(
    clickhouse: ClickHouse, version: int, tables: tuple[str, ...],
) -> None:
    ch = clickhouse
    migrate(ch)
    rollup = Rollup(ch, open_days=1, open_hours=1)
    d1 = [_send(_at(D1, h)) for h in (2, 4, 7)]
    rollup.update(_store(ch, [*d1, _deliver(d1[0][0])]))
    d2 = [_send(_at(D2, h)) for h in (0, 2, 6, 8)]
    rollup.update(_store(ch, [*d2, *(_deliver(m) for m, _ in d2[:3])]))
    # as before that version: a closed day and sealed hours, and none of its roll-ups yet
    for table in tables:
        ch.command(f"TRUNCATE TABLE {table}")
    [migration] = [m for m in available() if m.version == version]
    for st in migration.statements():
        if st.startswith("INSERT INTO"):
            ch.command(st)
    for table in tables:
        assert ch.query(f"SELECT count() FROM {table} FINAL").scalar() > 0, table
    _assert_views_equal_sources(ch)
    # the even hours carry the flag: D1 02:00, 04:00, D2 00:00, 02:00, 06:00, 08:00
    assert ch.query("SELECT sum(messages) FROM flag_totals").scalar() == 6


def test_an_upgraded_database_keeps_its_rows_in_the_rebuilt_tables(
    clickhouse: ClickHouse, tmp_path: Path,
) -> None:
    ch = clickhouse
    old = tmp_path / "migrations"
    old.mkdir()
    for f in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if f.name < "0011":
            (old / f.name).write_text(f.read_text())
    migrate(ch, old)  # version 10, with messages and deltas stored before the rebuild
    sent = [_send(_at(D1, h)) for h in (3, 9, 15)]
    rows = [*sent, _deliver(sent[0][0]), _deliver(sent[0][0])]  # a duplicate, too
    ch.insert("daily_deltas", [{k: v for k, v in d.items() if k != "hour"}
                               for _, deltas in rows for d in deltas])
    ch.insert("messages", [m for m, _ in rows])
    before = ch.query(_DAILY.format(t="daily_deltas FINAL")).rows
    assert [m.version for m in migrate(ch)][:1] == [11]
    assert ch.query(_DAILY.format(t="daily_deltas FINAL")).rows == before
    assert ch.query("SELECT DISTINCT hour FROM daily_deltas").rows == [(0,)]  # stored: hour 0
    got = ch.query("SELECT toString(umid), version, hour FROM messages_by_day FINAL "
                   "ORDER BY hour").rows
    assert got == [(sent[0][0]["umid"], 2, 3), (sent[1][0]["umid"], 1, 9),
                   (sent[2][0]["umid"], 1, 15)]
    _assert_views_equal_sources(ch)
    Rollup(ch, open_days=2, open_hours=1).update({(D1, 15)})  # seals 03:00 and 09:00
    _assert_views_equal_sources(ch)
    ch.insert("messages", [_deliver(sent[1][0])[0]])  # the feed writes to the rebuilt table
    assert ch.query("SELECT max(version) FROM messages_by_day FINAL WHERE hour = 9").scalar() == 2
