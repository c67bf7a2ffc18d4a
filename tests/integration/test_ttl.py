"""Retention TTLs from settings on a real ClickHouse (chDB): set, changed, removed."""

from __future__ import annotations

import pytest

from sinks.migrate import migrate
from sinks.ttl import apply_retention
from smsflow.clickhouse import ClickHouse
from smsflow.config import Settings

pytestmark = pytest.mark.integration


def _create(ch: ClickHouse, table: str) -> str:
    return str(ch.query(f"SHOW CREATE TABLE {table}").scalar())


def test_ttls_follow_the_settings(clickhouse: ClickHouse) -> None:
    migrate(clickhouse)
    assert apply_retention(clickhouse, Settings()) == []  # nothing to keep short by default
    s = Settings(retention_messages_days=400, retention_events_days=90, retention_text_days=7)
    done = apply_retention(clickhouse, s)
    assert len(done) == 9
    for table in ("messages", "messages_by_day", "messages_uncounted"):
        assert "TTL day + toIntervalDay(400)" in _create(clickhouse, table)
    assert "`text` String TTL day + toIntervalDay(7)" in _create(clickhouse, "messages")
    for table, col in [("message_events", "event_at"), ("conversions", "converted_at"),
                       ("survey_responses", "survey_submitted_at"), ("clicks", "clicked_at"),
                       ("dead_letters", "failed_at")]:
        assert f"TTL toDateTime({col}) + toIntervalDay(90)" in _create(clickhouse, table)
    for aggregate in ("daily_deltas", "daily_rollup", "message_rollup", "latency_rollup"):
        assert "TTL" not in _create(clickhouse, aggregate)  # aggregates are kept
    assert apply_retention(clickhouse, s) == []  # idempotent: nothing re-applied
    off = apply_retention(clickhouse, Settings(retention_events_days=30))
    assert off == [
        *[f"ALTER TABLE {t} REMOVE TTL"
          for t in ("messages", "messages_by_day", "messages_uncounted")],
        *[f"ALTER TABLE {t} MODIFY TTL toDateTime({c}) + INTERVAL 30 DAY" for t, c in [
            ("message_events", "event_at"), ("conversions", "converted_at"),
            ("survey_responses", "survey_submitted_at"), ("clicks", "clicked_at"),
            ("dead_letters", "failed_at")]],
        "ALTER TABLE messages MODIFY COLUMN text REMOVE TTL",
    ]
    assert "TTL" not in _create(clickhouse, "messages")
