"""A guard against a known faust-streaming liveness failure: a partition whose commits stop.

Faust commits a partition only up to the first gap in its acknowledged offsets; when the head
of that list is more than one offset past the committed offset it commits nothing (see
``faust.transport.consumer.Consumer._new_offset``). We saw this once after a worker was
SIGKILLed and restarted (rocksdb store): one input partition stayed committed at an old offset
while later offsets were processed, so the consumer lag never reached zero. Nothing is lost in
that state (a restart re-reads from the committed offset), but nothing is committed either.
The cause we later traced (a seek racing Faust's fetch loop) is fixed in ``streams.seek_guard``;
this watchdog stays as the second line for any other way into that state.

This timer detects exactly Faust's stuck condition persisting for ``stuck_after`` seconds and
seeks the partition back to its committed offset. The re-read events are processed again,
which the pure, idempotent state transition turns into "no change" (see ``streams.state``),
and the acknowledgements fill the gap so commits resume. It reads two private attributes of
the pinned faust-streaming version (``_committed_offset`` and ``_acked``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust

__all__ = ["install_commit_watchdog"]

log = logging.getLogger("smsflow.streams")


def stuck(committed: int | None, acked: list[int] | None) -> bool:
    """Faust's own condition for committing nothing on a partition."""
    return committed is not None and bool(acked) and min(acked or [0]) - committed > 1


def install_commit_watchdog(app: faust.App, *, stuck_after: float = 60.0) -> None:
    """Add the timer to ``app`` (call before the worker starts)."""
    since: dict[tuple[Any, int], float] = {}

    @app.timer(interval=10.0)
    async def commit_watchdog() -> None:
        if app.rebalancing:
            since.clear()
            return
        consumer = app.consumer
        now = time.monotonic()
        seen: set[tuple[Any, int]] = set()
        for tp, acked in list(getattr(consumer, "_acked", {}).items()):
            committed = getattr(consumer, "_committed_offset", {}).get(tp)
            if not stuck(committed, acked):
                continue
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
