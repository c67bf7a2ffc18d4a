"""The ceilings smsflow is compared with, measured on the same broker and machine.

- :func:`consume_decode`: plain aiokafka ``getmany`` + fastavro decode of every input record
  (``bench.streams.raw_consume``): the floor cost of getting the events into Python.
- :func:`bulk_insert`: a bare bulk insert (10,000-row chunks, ``bench.sink.bare_rate``) of
  ``rows`` rows built from synthetic MessageState/DailyDelta records into a fresh chDB in a
  temporary directory of this process (``smsflow run`` owns its own chDB directory).
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

from bench.sink import bare_rate, records
from bench.streams import raw_consume
from sinks.migrate import migrate
from sinks.rows import rows_for_record
from smsflow.clickhouse import connect
from smsflow.config import Settings

__all__ = ["bulk_insert", "consume_decode"]


def consume_decode(settings: Settings, events: int) -> float:
    """Seconds to read and decode ``events`` input records (all input topics, from offset 0)."""
    return asyncio.run(raw_consume(settings, events))


def _rows(recs: list[tuple[str, str, str, dict[str, Any]]]) -> int:
    return sum(len(list(rows_for_record(s, r, topic="bench", partition=0, offset=i)))
               for i, (_, _, s, r) in enumerate(recs))


def bulk_insert(path: Path, rows: int) -> tuple[int, float]:
    """(rows inserted, seconds) for a bare bulk insert of about ``rows`` rows into chDB."""
    per_message = records(1)
    per_record = _rows(per_message) / len(per_message)
    recs = records(math.ceil(rows / per_record / len(per_message)) + 1)
    recs = recs[: max(1, round(rows / per_record))]
    ch = connect(Settings(clickhouse_path=path, clickhouse_database="bench_bare"))
    try:
        migrate(ch)
        return _rows(recs), bare_rate(ch, recs)
    finally:
        ch.close()
