"""The worker app's settings and codec helpers, without a broker."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from smsflow.config import Settings
from smsflow.timestamps import from_micros, to_micros
from streams.app import WorkerOptions, create_app


def test_micros_round_trip_is_exact() -> None:
    t = dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC)
    assert to_micros(t) == 1709251199999999
    assert from_micros(to_micros(t)) == t
    assert to_micros(from_micros(-1)) == -1


async def test_the_worker_consumer_waits_for_a_batch_per_fetch(tmp_path: Path) -> None:
    # Faust builds it with fetch_min_bytes=1: at a steady rate each fetch carried a few records
    settings = Settings(home=tmp_path / "home", bootstrap_servers="127.0.0.1:1")
    app = create_app(settings, WorkerOptions(datadir=tmp_path / "data"))
    consumer = app.consumer._thread._create_worker_consumer(app.consumer.transport)
    try:
        assert consumer._fetch_min_bytes == settings.worker_fetch_min_bytes == 64 * 1024
        assert consumer._fetch_max_wait_ms == settings.worker_fetch_max_wait_ms == 50
        assert consumer._max_poll_records == 5000  # Faust's own settings still apply
    finally:
        await consumer.stop()


_HANGING_STOP = """
import asyncio, sys, time
from pathlib import Path
from smsflow.config import Settings
from streams.app import WorkerOptions, create_app

async def main() -> None:
    tmp = Path(sys.argv[1])
    settings = Settings(home=tmp / "home", bootstrap_servers="127.0.0.1:1",
                        worker_produce_timeout_seconds=1)
    app = create_app(settings, WorkerOptions(datadir=tmp / "data"))
    await app.crash(RuntimeError("a write was never acknowledged"))
    time.sleep(120)  # a stop that never ends (seen: after the broker froze)

asyncio.run(main())
"""


def test_a_crashed_worker_whose_stop_hangs_exits_anyway(tmp_path: Path) -> None:
    # `smsflow run` restarts a worker that exits; one that hangs after its crash stayed
    # alive doing nothing. It exits after max(5 s, the produce timeout) with its stacks
    proc = subprocess.run([sys.executable, "-c", _HANGING_STOP, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Timeout (0:00:05)!" in proc.stderr and " in main" in proc.stderr, proc.stderr[-2000:]
