"""The worker's commit guard (SendTracker) and codec helpers, without a broker."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from smsflow.config import Settings
from smsflow.errors import SmsflowError
from streams.app import WORKER_FETCH, SendTracker, WorkerOptions, create_app
from streams.codec import from_micros, to_micros


async def test_tracker_waits_for_every_send_and_reports_failures() -> None:
    loop = asyncio.get_running_loop()
    tracker = SendTracker()
    ok, slow = loop.create_future(), loop.create_future()
    tracker.add(ok)
    tracker.add(slow)
    tracker.add("not a future")  # ignored
    ok.set_result(1)
    await asyncio.sleep(0)  # done callbacks run on the next loop iteration
    assert tracker.pending == 1 and tracker.sent == 2
    loop.call_later(0.05, slow.set_result, 2)
    await tracker.wait(timeout=5)
    assert tracker.pending == 0

    hung = loop.create_future()
    tracker.add(hung)
    with pytest.raises(SmsflowError, match="not acknowledged"):
        await tracker.wait(timeout=0.05)
    hung.set_exception(RuntimeError("broker gone"))
    with pytest.raises(SmsflowError, match="broker gone"):
        await tracker.wait(timeout=5)  # a failed write never lets the commit through


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
        assert consumer._fetch_min_bytes == WORKER_FETCH["fetch_min_bytes"] == 64 * 1024
        assert consumer._fetch_max_wait_ms == WORKER_FETCH["fetch_max_wait_ms"] == 50
        assert consumer._max_poll_records == 5000  # Faust's own settings still apply
    finally:
        await consumer.stop()
