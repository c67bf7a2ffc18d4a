"""The ceilings smsflow is compared with, measured on the same broker and machine.

- :func:`consume_decode`: plain aiokafka ``getmany`` + fastavro decode of every input record
  (``bench.streams.raw_consume``): the floor cost of getting the events into Python.
- :func:`faust_decode`: a Faust agent with the worker's settings that only decodes every input
  record (``bench.faust_floor``, a subprocess like the worker): the floor of Faust's per-event
  path, i.e. the fastest the worker's framework gets on this machine.
- :func:`bulk_insert`: a bare bulk insert (10,000-row chunks, ``bench.sink.bare_rate``) of
  ``rows`` rows built from synthetic MessageState records (with their delta rows) into a fresh
  chDB in a temporary directory of this process (``smsflow run`` owns its own chDB directory).
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.sink import bare_rate, records
from bench.streams import raw_consume
from sinks.migrate import migrate
from sinks.rows import rows_for_record
from smsflow.clickhouse import connect
from smsflow.config import Settings
from tests.integration.workers import ROOT, settings_env

__all__ = ["bulk_insert", "consume_decode", "faust_decode"]


def consume_decode(settings: Settings, events: int) -> float:
    """Seconds to read and decode ``events`` input records (all input topics, from offset 0)."""
    return asyncio.run(raw_consume(settings, events))


def faust_decode(settings: Settings, events: int, timeout: float = 900.0) -> float:
    """Seconds a decode-only Faust agent takes from the first to the ``events``-th record.

    Raises RuntimeError (with the log tail) when the subprocess exits or times out first.
    """
    out = settings.home / "faust-floor.seconds"
    log = settings.home / "faust-floor.log"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.faust_floor", "--events", str(events), "--out", str(out)]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=settings_env(settings), stdout=fh,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not out.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"decode-only Faust agent did not finish: {tail}")
            time.sleep(0.2)
        return float(out.read_text())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
