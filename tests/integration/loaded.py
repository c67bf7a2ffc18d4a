"""A simulation loaded through the real pipeline parts: broker, one worker, the sink, chDB.

Report tests (quality reports, the acceptance scenario) share this: simulate, produce, let one
worker process everything, land it with the sink, then compare reports with the truth.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from pathlib import Path
from typing import Any

from simulator.simulation import Simulation, produce_events
from sinks.render import to_csv
from sinks.reports import Filters, run_report
from sinks.sink import group_id, run_sink
from smsflow.clickhouse import ClickHouse, connect
from smsflow.config import Settings
from smsflow.topics import ensure_topics
from tests.integration.sink_factory import wait_drained
from tests.integration.workers import start_worker, wait_caught_up

__all__ = ["Loaded", "load_simulation", "report_csv"]

Loaded = tuple[Settings, ClickHouse, Simulation]


def report_csv(ch: ClickHouse, name: str, **filters: Any) -> list[list[str]]:
    """The rows (no header) of ``smsflow report NAME --format csv`` over ``ch``."""
    rows = list(csv.reader(io.StringIO(to_csv(run_report(ch, name, Filters(**filters))))))
    return rows[1:]


async def _sink_until_drained(settings: Settings, ch: ClickHouse) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_sink(settings, stop, ch=ch))
    try:
        await wait_drained(settings, group_id(settings), within=300)
    finally:
        stop.set()
        await task


def load_simulation(sim: Simulation, *, prefix: str, kafka_bootstrap: str, test_home: Path,
                    chdb_path: Path) -> Loaded:
    """``sim`` through topics of their own, one worker and the sink into a database of its own
    (drop it when done: ``ch.command(f"DROP DATABASE IF EXISTS {ch.database}")``)."""
    tag = f"{prefix}{int(time.time() * 1000) % 10**8}"
    settings = Settings(
        home=test_home / tag, bootstrap_servers=kafka_bootstrap, topic_prefix=f"{tag}.",
        clickhouse_path=chdb_path, clickhouse_database=f"test_{tag}", partitions=6,
        sink_batch_size=1000, sink_batch_ms=200,
    )
    settings.home.mkdir(parents=True, exist_ok=True)
    ensure_topics(settings)
    worker = start_worker(settings, tag)
    try:
        asyncio.run(produce_events(settings, sim.events, progress=False))
        asyncio.run(wait_caught_up(settings))
    finally:
        code = worker.stop()
    assert code == 0, worker.log_text()[-2000:]
    ch = connect(settings)
    asyncio.run(_sink_until_drained(settings, ch))
    return settings, ch, sim
