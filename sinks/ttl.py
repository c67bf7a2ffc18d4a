"""Retention: ClickHouse TTLs per table from settings, (re)applied whenever the sink starts.

``retention_messages_days`` -> ``messages`` and its report-layout copies ``messages_by_day`` and
``messages_uncounted`` (by report day), ``retention_events_days`` ->
``message_events``, ``conversions``, ``survey_responses``, ``clicks`` (by event time) and
``dead_letters`` (by failure time),
``retention_text_days`` -> the ``messages.text`` column (only stored with ``store_text``).
0 means keep forever (an existing TTL is removed). The aggregates (``daily_deltas`` and the
roll-ups) hold no personal data and are kept. The dead-letter topic's retention is a topic config
(``dead_letter_retention_ms``, :func:`smsflow.topics.topic_configs`).
"""

from __future__ import annotations

import re

from smsflow.clickhouse import ClickHouse
from smsflow.config import Settings

__all__ = ["apply_retention", "retention_plan"]

# table -> time expression the TTL counts from
_EVENT_TABLES = {
    "message_events": "toDateTime(event_at)",
    "conversions": "toDateTime(converted_at)",
    "survey_responses": "toDateTime(survey_submitted_at)",
    "clicks": "toDateTime(clicked_at)",
    "dead_letters": "toDateTime(failed_at)",
}


def retention_plan(settings: Settings) -> dict[str, tuple[str, int]]:
    """Target -> (time expression, days); target is a table or ``messages.text``."""
    # the report layout's copies of the messages (migration 0009) expire with them
    plan = {t: ("day", settings.retention_messages_days)
            for t in ("messages", "messages_by_day", "messages_uncounted")}
    for table, expr in _EVENT_TABLES.items():
        plan[table] = (expr, settings.retention_events_days)
    plan["messages.text"] = ("day", settings.retention_text_days)
    return plan


def _has_table_ttl(create: str) -> bool:
    return re.search(r"^TTL ", create, re.MULTILINE) is not None


def _has_column_ttl(create: str, column: str) -> bool:
    return re.search(rf"`{column}` [^\n]* TTL ", create) is not None


def _already(create: str, column: str, days: int) -> bool:
    if column:
        pattern = rf"`{column}` [^\n]* TTL [^\n]*toIntervalDay\({days}\)"
        return re.search(pattern, create) is not None
    return re.search(rf"^TTL [^\n]*toIntervalDay\({days}\)", create, re.MULTILINE) is not None


def apply_retention(ch: ClickHouse, settings: Settings) -> list[str]:
    """Set or remove the TTLs of :func:`retention_plan`; return the statements run.

    Idempotent (a TTL already absent is not removed again). Raises
    :class:`~smsflow.errors.ClickHouseError` when ClickHouse refuses a statement.
    """
    done: list[str] = []
    for target, (expr, days) in retention_plan(settings).items():
        table, _, column = target.partition(".")
        create = str(ch.query(f"SHOW CREATE TABLE {table}").scalar() or "")
        if days and _already(create, column, days):
            continue
        if column:
            if days:
                stmt = (f"ALTER TABLE {table} MODIFY COLUMN {column} String "
                        f"TTL {expr} + INTERVAL {days} DAY")
            elif _has_column_ttl(create, column):
                stmt = f"ALTER TABLE {table} MODIFY COLUMN {column} REMOVE TTL"
            else:
                continue
        elif days:
            stmt = f"ALTER TABLE {table} MODIFY TTL {expr} + INTERVAL {days} DAY"
        elif _has_table_ttl(create):
            stmt = f"ALTER TABLE {table} REMOVE TTL"
        else:
            continue
        ch.command(stmt)
        done.append(stmt)
    return done
