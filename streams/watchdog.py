"""The second line behind :mod:`streams.ack_guard`: a partition whose commits are held.

With the ack guard Faust commits a partition only while its acknowledged offsets start at the
committed offset C. If the record at C is never processed (it was fetched and dropped somewhere
in Faust's fetch path, or never fetched again after a seek) the partition's commits stop: nothing
is lost (a restart re-reads from C), but nothing is committed either and the lag never reaches
zero. We first saw that state after a SIGKILL restart (RocksDB store; the cause then was the
seek race fixed in :mod:`streams.seek_guard`).

This timer detects a held partition that stays held for ``stuck_after`` seconds and seeks it
back to C. The re-read events are processed again, which the pure, idempotent state transition
turns into "no change" (see ``streams.state``), and the acknowledgement of C lets commits resume.
It reads private attributes of the pinned faust-streaming version (``_committed_offset``,
``_acked``, ``_gap``) through :func:`streams.ack_guard.partition_held`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust

from streams.ack_guard import partition_held

__all__ = ["install_commit_watchdog"]

log = logging.getLogger("smsflow.streams")


def install_commit_watchdog(app: faust.App, *, stuck_after: float = 15.0) -> None:
    """Add the timer to ``app`` (call before the worker starts)."""
    since: dict[tuple[Any, int], float] = {}

    @app.timer(interval=5.0)
    async def commit_watchdog() -> None:
        if app.rebalancing:
            since.clear()
            return
        consumer = app.consumer
        now = time.monotonic()
        seen: set[tuple[Any, int]] = set()
        for tp, acked in list(consumer._acked.items()):
            if not partition_held(consumer, tp):
                continue
            committed = consumer._committed_offset.get(tp)
            key = (tp, committed)
            seen.add(key)
            first = since.setdefault(key, now)
            if now - first >= stuck_after:
                log.warning(
                    "commit_stuck topic=%s partition=%s committed=%s first_acked=%s: "
                    "re-reading from the committed offset", tp.topic, tp.partition, committed,
                    min(acked),
                )
                await consumer.seek(tp, committed)
                since.pop(key, None)
        for key in list(since):
            if key not in seen:
                since.pop(key, None)

    del commit_watchdog
