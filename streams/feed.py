"""The batch path's bookkeeping: which fetched records to process and which offsets to commit.

:class:`Feed` is what :class:`streams.compat.Consumer` hands each fetch to (one
:class:`Batch` per partition, through a small bounded queue: the fetch loop waits while the
worker is behind) and what it asks for committable offsets. Two pure parts, unit-tested alone:

* :class:`Offsets` - the next offset to process per partition. Records before it are
  duplicates (a seek re-fetches them) and dropped. A batch that starts *after* it was fetched
  either before the last seek of its partition (stale: the seek fetches those records again;
  dropped) or past records fetched and never processed (a pause, a partition inactive for a
  moment): the partition is sought back to the next offset, once; if the same jump comes back,
  the offsets hold no record (transaction markers, retention) and the batch is taken.
* :class:`Commits` - per partition, the processed batches in order with their outputs still
  unacknowledged. A partition's committable offset is the end of the longest run of batches
  whose every output the broker acknowledged; a failed output stops that run for good (and
  :attr:`Commits.failure` is set: the worker stops, a restart processes the events again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from smsflow.config import setting_default

__all__ = ["Batch", "Commits", "Count", "Feed", "Offsets"]

log = logging.getLogger("smsflow.streams")

#: batches (one partition's records of one fetch, up to broker_max_poll_records) queued
#: between the fetch loop and the worker (the setting worker_queue_batches)
QUEUE_BATCHES: int = setting_default("worker_queue_batches")


@dataclass(frozen=True)
class Batch:
    """One partition's records of one fetch (aiokafka ``ConsumerRecord``s, in offset order)."""

    tp: Any
    records: list[Any]
    generation: int
    round: int


@dataclass
class Offsets:
    """Which fetched records are processed, given the seeks so far."""

    round: int = 0
    expected: dict[Any, int] = field(default_factory=dict)  # tp -> next offset to process
    seek_round: dict[Any, int] = field(default_factory=dict)  # tp -> round current at its seek
    reseeked: dict[Any, int] = field(default_factory=dict)  # tp -> offset of its last re-seek
    stale: int = 0
    reseeks: int = 0
    holes: int = 0

    def start_round(self) -> int:
        """A fetch begins: its number."""
        self.round += 1
        return self.round

    def seeked(self, offsets: Mapping[Any, int | None]) -> None:
        """Partitions were positioned at ``offsets`` (None or negative: unknown)."""
        for tp, offset in offsets.items():
            self.seek_round[tp] = self.round
            if offset is None or offset < 0:
                self.expected.pop(tp, None)
            else:
                self.expected[tp] = offset

    def forget(self, tps: Iterable[Any]) -> None:
        for tp in tps:
            self.expected.pop(tp, None)
            self.seek_round.pop(tp, None)
            self.reseeked.pop(tp, None)

    def admit(self, batch: Batch) -> tuple[list[Any], int | None]:
        """``(records to process, offset to seek the partition back to or None)``."""
        tp, recs = batch.tp, batch.records
        expected = self.expected.get(tp)
        i = 0
        if expected is not None:
            while i < len(recs) and recs[i].offset < expected:
                i += 1  # duplicates: already processed
            if i == len(recs):
                return [], None
            first = recs[i].offset
            if first > expected:
                if batch.round <= self.seek_round.get(tp, 0):
                    self.stale += 1  # fetched before the seek, which fetches them again
                    return [], None
                if self.reseeked.get(tp) != expected:
                    self.reseeked[tp] = expected
                    self.reseeks += 1
                    log.warning("offsets %d..%d of %s were fetched but never processed; "
                                "reading them again", expected, first - 1, tp)
                    return [], expected
                self.holes += 1
                log.warning("offsets %d..%d of %s hold no record; continuing at %d",
                            expected, first - 1, tp, first)
        taken = recs[i:] if i else recs
        self.expected[tp] = taken[-1].offset + 1
        return taken, None


class _Entry:
    __slots__ = ("end", "failed", "left")

    def __init__(self, end: int, left: int) -> None:
        self.end, self.left, self.failed = end, left, False


@dataclass
class Commits:
    """Committable offsets: processed, and every output acknowledged (see module doc)."""

    on_failure: Callable[[BaseException], None] | None = None
    pending: dict[Any, deque[_Entry]] = field(default_factory=dict)
    offsets: dict[Any, int] = field(default_factory=dict)  # tp -> committable offset
    failure: BaseException | None = None
    unacknowledged: int = 0  # outputs sent and not acknowledged yet

    def add(self, tp: Any, end: int, futures: list[asyncio.Future[Any]]) -> None:
        """Records of ``tp`` up to ``end - 1`` were processed; ``futures``: their outputs."""
        entry = _Entry(end, len(futures))
        self.pending.setdefault(tp, deque()).append(entry)
        if not futures:
            self._advance(tp)
            return
        self.unacknowledged += len(futures)
        for fut in futures:
            fut.add_done_callback(lambda f, tp=tp, e=entry: self._done(tp, e, f))

    def _done(self, tp: Any, entry: _Entry, fut: asyncio.Future[Any]) -> None:
        self.unacknowledged -= 1
        entry.left -= 1
        exc = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if exc is not None:
            entry.failed = True
            if self.failure is None:
                self.failure = exc
                log.critical("a record could not be written to Kafka, no offset of %s is "
                             "committed past %s: %r", tp, self.offsets.get(tp), exc)
                if self.on_failure is not None:
                    self.on_failure(exc)
        self._advance(tp)

    def _advance(self, tp: Any) -> None:
        queue = self.pending.get(tp)
        while queue and queue[0].left == 0 and not queue[0].failed:
            self.offsets[tp] = queue.popleft().end

    def committable(self, tp: Any) -> int | None:
        return self.offsets.get(tp)

    def ready(self) -> list[Any]:
        return list(self.offsets)

    def forget(self, tps: Iterable[Any]) -> None:
        for tp in tps:
            self.pending.pop(tp, None)
            self.offsets.pop(tp, None)


class Count:
    """How many of something are under way; :meth:`zero` returns once none is."""

    def __init__(self) -> None:
        self.n, self._zero = 0, asyncio.Event()
        self._zero.set()

    def up(self) -> None:
        self.n += 1
        self._zero.clear()

    def down(self) -> None:
        self.n -= 1
        if not self.n:
            self._zero.set()

    async def zero(self) -> None:
        await self._zero.wait()


class Feed:
    """The batch path of one worker: owned topics, the batch queue, offsets and commits.

    * :attr:`seeks`: no batch is admitted while the consumer seeks. A batch fetched after a
      seek and processed before :meth:`seeked` reported it moved the next offset past the
      seek's, the report moved it back, and the next batch looked fetched before the seek:
      dropped as stale, and never read again if nothing newer came (a stalled worker).
    * :attr:`sets`: sets of batches taken for processing whose outputs have not reached the
      producer. Before a revoke the worker waits for none and flushes, so that the worker
      taking the partitions over recovers every state written here (else it processed the
      same events again from an older state and wrote the same versions with other contents).
    """

    def __init__(self, topics: Iterable[str], maxsize: int = QUEUE_BATCHES) -> None:
        self.topics = frozenset(topics)
        self.queue: asyncio.Queue[Batch] = asyncio.Queue(maxsize)
        self.offsets = Offsets()
        self.commits = Commits()
        self.seeks, self.sets = Count(), Count()

    @contextlib.contextmanager
    def seeking(self) -> Iterator[None]:
        """Around a seek and its :meth:`seeked` report."""
        self.seeks.up()
        try:
            yield
        finally:
            self.seeks.down()

    def owns(self, topic: str) -> bool:
        return topic in self.topics

    async def put(self, tp: Any, records: list[Any], generation: int, round_: int) -> None:
        await self.queue.put(Batch(tp, records, generation, round_))

    def seeked(self, offsets: Mapping[Any, int | None]) -> None:
        owned = {tp: off for tp, off in offsets.items() if tp.topic in self.topics}
        self.offsets.seeked(owned)

    def revoked(self, tps: Iterable[Any]) -> None:
        owned = [tp for tp in tps if tp.topic in self.topics]
        self.offsets.forget(owned)
        self.commits.forget(owned)
