"""Event-time alignment: input partitions that run ahead in event time wait for the others.

Working through a backlog, Faust serves the input partitions at unequal speeds (in the
1M-message bench run the worker had read 12-15% of every delivery-receipts partition and
17-22% of the send-requests ones). Two things suffer: receipts read before their requests are
held in memory (76-90k at a time in that run), and the retention watermark
(:mod:`streams.forgetting`, the slowest partition with unread records) hardly moves, so no state
is forgotten while the backlog lasts and the worker's memory grows with it.

Kafka Streams answers this by picking the record with the smallest timestamp across a task's
partitions; the same idea here, at partition grain: a timer compares each input partition's
event-time mark (the largest event time read from it, kept by :class:`~streams.forgetting.
Retention`) with the watermark, and pauses fetching from a partition that still has unread
records and is more than ``SMSFLOW_ALIGNMENT_SECONDS`` ahead, while the slowest one holds a
backlog (:data:`MIN_BACKLOG` records); it resumes it once the watermark is within half of that
(or the partition has nothing to read, or there is no backlog). The slowest partition is never
paused, so reading always goes on; and should it stop being read for another reason, a
watermark that stands still for 30 s while partitions wait resumes them all
(:meth:`Alignment.step`).

The pause is aiokafka's own (``AIOKafkaConsumer.pause``, run in Faust's consumer thread):
aiokafka stops fetching the partition and discards the records it had fetched but not yet
returned, without moving its position, so they are fetched again after the resume
(:func:`streams.compat.pause_resume`). A rebalance gives every partition a fresh
aiokafka state (not paused), so the bookkeeping starts again after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import faust

from smsflow.config import setting_default
from streams.compat import pause_resume
from streams.forgetting import Retention, slowest_unread

__all__ = ["Alignment", "install_alignment", "plan"]

log = logging.getLogger("smsflow.streams")

Mark = tuple[int, int]  # (largest event time read in us, records after the last one read)

#: the slowest partition must hold at least this many unread records (a backlog) before others
#: wait for it: the setting alignment_min_backlog (its description has the measured reason)
MIN_BACKLOG: int = setting_default("alignment_min_backlog")


def plan(marks: Mapping[tuple[int, str], Mark], paused: set[tuple[int, str]],
         skew_us: int, min_backlog: int = MIN_BACKLOG,
         ) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    """``(to_pause, to_resume)`` among the ``(partition, topic)`` keys of ``marks``.

    The watermark is the smallest mark with unread records. When its partition holds at least
    ``min_backlog`` of them, pause partitions with unread records whose mark is more than
    ``skew_us`` past it. Resume (only what is in ``paused``): the mark is within
    ``skew_us / 2`` of the watermark, nothing unread, no watermark or no backlog behind it, or
    no mark any more."""
    slowest = slowest_unread(marks)
    watermark = slowest[0] if slowest is not None and slowest[1] >= min_backlog else None
    to_pause: set[tuple[int, str]] = set()
    to_resume: set[tuple[int, str]] = set()
    for key, (at, unread) in marks.items():
        ahead = None if watermark is None else at - watermark
        if key in paused:
            if ahead is None or not unread or ahead <= skew_us // 2:
                to_resume.add(key)
        elif ahead is not None and unread and ahead > skew_us:
            to_pause.add(key)
    to_resume |= {key for key in paused if key not in marks}
    return to_pause, to_resume


@dataclass
class Alignment:
    """The partitions this worker paused, how often (for the stats line), and the stall guard.

    Waiting must never stop the worker (Kafka Streams bounds it with ``max.task.idle.ms``): when
    the watermark has not moved for ``stall_s`` seconds while partitions are paused (the
    slowest partition not being read, whatever the reason), :meth:`step` resumes them all and
    pauses nothing more until the watermark moves again."""

    seconds: float
    stall_s: float = setting_default("alignment_stall_seconds")
    min_backlog: int = MIN_BACKLOG
    paused: set[tuple[int, str]] = field(default_factory=set)
    pauses: int = 0
    stalls: int = 0
    _watermark: int | None = None
    _moved_at: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def step(self, marks: Mapping[tuple[int, str], Mark], now: float,
             ) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
        """``(to_pause, to_resume)`` at monotonic time ``now``: :func:`plan`, or under a
        stalled watermark every paused partition resumed and none paused; records the
        result in :attr:`paused`."""
        slowest = slowest_unread(marks)
        watermark = None if slowest is None else slowest[0]
        if watermark != self._watermark:
            self._watermark, self._moved_at = watermark, now
        to_pause: set[tuple[int, str]]
        to_resume: set[tuple[int, str]]
        if now - self._moved_at >= self.stall_s:
            to_pause, to_resume = set(), set(self.paused)
            if to_resume:
                self.stalls += 1
                log.warning("alignment: the watermark has not moved for %.0f s; resuming "
                            "%d paused partitions", now - self._moved_at, len(to_resume))
        else:
            to_pause, to_resume = plan(marks, self.paused, int(self.seconds * 1_000_000),
                                       self.min_backlog)
        self.paused = (self.paused | to_pause) - to_resume
        self.pauses += len(to_pause)
        return to_pause, to_resume


def install_alignment(app: faust.App, retention: Retention, alignment: Alignment,
                      interval: float = 1.0) -> None:
    """Add the alignment timer to ``app`` (call before the worker starts; no-op when off)."""
    if not alignment.enabled:
        return
    generation = [-1]

    @app.timer(interval=interval)
    async def align_event_time() -> None:
        if app.rebalancing or app.tables.recovery.in_recovery:
            return
        if generation[0] != app.rebalancing_count:  # fresh aiokafka states: nothing paused
            generation[0] = app.rebalancing_count
            alignment.paused.clear()
        to_pause, to_resume = alignment.step(retention.marks, time.monotonic())
        if not to_pause and not to_resume:
            return
        pause_resume(app, [(topic, p) for p, topic in to_pause],
                     [(topic, p) for p, topic in to_resume])

    del align_event_time
