"""Which message states the worker may forget: bounded memory for an unbounded stream.

The ``messages`` table keeps one state per umid, so without an end the worker's memory (and its
recovery time after a restart) grows with every message ever sent. A state is deleted from the
table (a tombstone on the message-state topic, which the deltas loop and the sink skip and
compaction removes; nothing that reached ClickHouse changes) when both hold:

* its last event is ``SMSFLOW_STATE_RETENTION_HOURS`` older than the worker's *watermark*:
  the smallest, over the input topic partitions that still hold unread records, of the
  largest event time read from each (when none does: the largest over all, the stream time).
  The minimum matters while the worker works through a backlog: it reads the topics and
  partitions at different speeds, so one can be days ahead of another that still holds
  receipts or MOs for the same messages (an MO in one partition replies to an outbound in
  another). A partition read to its end holds nothing back: what is produced later is newer.
* the watermark had passed that point :attr:`Retention.grace_s` seconds of wall time ago
  already (the watermark is used with that delay). Events derived from an input come back
  through the worker's own topics seconds later (a reply control event after its MO); while
  a backlog moves event time by days in those seconds, the delayed watermark still stands
  before the input they came from, so their message's state is still there.

The reply pairs (:mod:`streams.replies`) drop outbounds and MOs past the same limit.
With several workers each uses the watermark of its own partitions: sound while their event
times stay within the horizon of each other (days, for the 14-day default).

An event that arrives after that starts a new state, as for a umid never seen (held, then an
orphan); the horizon must therefore exceed the longest gap between two events of one message
(the default, 14 days, covers the 7-day scheduling limit of formats.md plus receipts days
later).

:class:`Retention` is the bookkeeping only: per partition a heap of (last event time, umid,
version), pushed at every state write and rebuilt from the table after a rebalance, the
event-time marks per topic and the watermark's recent values. The umid agent asks it for the
entries that are due after each event of a partition and deletes those whose state is still at
that version, in the event's own partition context, as Faust requires for table writes.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

__all__ = ["Retention", "slowest_unread"]

_HOUR_US = 3_600_000_000
_SAMPLE_EVERY_S = 1.0

Entry = tuple[int, bytes, int]  # (last event time us, key, version)


def slowest_unread(marks: Mapping[tuple[int, str], tuple[int, int]]) -> tuple[int, int] | None:
    """``(event time, unread records)`` of the mark with unread records and the smallest
    event time (None: every partition read to its end): the watermark, and (in
    :mod:`streams.alignment`) the backlog behind it."""
    return min(((t, unread) for t, unread in marks.values() if unread), default=None)


@dataclass
class Retention:
    """Due-time heaps per partition; ``hours`` 0 keeps everything (nothing is ever due)."""

    hours: float
    grace_s: float = 120.0
    heaps: dict[int, list[Entry]] = field(default_factory=dict)
    #: (partition, input topic) -> (largest event time read in us, records after the last one
    #: read, as the consumer knew at that read; 0: read to its end)
    marks: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)
    samples: deque[tuple[float, int | None]] = field(default_factory=deque)
    expired: int = 0  # states deleted so far (a counter for the stats line)
    _delayed: int | None = None
    _sampled_at: float = float("-inf")

    @property
    def enabled(self) -> bool:
        return self.hours > 0

    @property
    def horizon_us(self) -> int:
        return int(self.hours * _HOUR_US)

    def see(self, partition: int, topic: str, event_us: int | None, unread: int) -> None:
        """A record of input ``topic`` with that event time was read (None: a record without
        one, e.g. an invalid record); ``unread``: records after it in the partition already.
        Every record updates ``unread``: a partition that ends in invalid records must not hold
        the watermark back."""
        cur = self.marks.get((partition, topic))
        if event_us is None:
            if cur is not None:
                self.marks[(partition, topic)] = (cur[0], unread)
            return
        self.marks[(partition, topic)] = (
            event_us if cur is None or event_us > cur[0] else cur[0], unread)

    def watermark(self) -> int | None:
        """The smallest largest event time over the topic partitions with unread records, or
        the largest of all when every one was read to its end (None: nothing read yet)."""
        slowest = slowest_unread(self.marks)
        if slowest is not None:
            return slowest[0]
        return max((t for t, _ in self.marks.values()), default=None)

    def delayed_watermark(self, now: float) -> int | None:
        """The watermark as it was :attr:`grace_s` seconds ago (None: not known that long);
        sampled once a second."""
        if now - self._sampled_at >= _SAMPLE_EVERY_S:
            self._sampled_at = now
            self.samples.append((now, self.watermark()))
            cutoff = now - self.grace_s
            while len(self.samples) > 1 and self.samples[1][0] <= cutoff:
                self.samples.popleft()
            first = self.samples[0]
            self._delayed = first[1] if first[0] <= cutoff else None
        return self._delayed

    def limit(self, now: float) -> int | None:
        """Event time (us) before which states and pair entries are forgotten (None: keep)."""
        if not self.enabled:
            return None
        mark = self.delayed_watermark(now)
        return None if mark is None else mark - self.horizon_us

    def note(self, partition: int, key: bytes, last_event_us: int, version: int) -> None:
        """Version ``version`` of ``key``'s state in ``partition`` was written; its last
        event is at ``last_event_us``."""
        if self.enabled:
            heapq.heappush(self.heaps.setdefault(partition, []), (last_event_us, key, version))

    def due(self, partition: int, now: float) -> Iterator[tuple[bytes, int]]:
        """Pop ``(key, version)`` of the entries of ``partition`` past :meth:`limit`. The
        caller deletes the state only if it is still at that version."""
        heap = self.heaps.get(partition)
        if not heap:
            return
        limit = self.limit(now)
        while limit is not None and heap and heap[0][0] < limit:
            _, key, version = heapq.heappop(heap)
            yield key, version

    def rebuild(self, entries: Iterable[tuple[int, bytes, int, int]],
                assigned: set[int] | None = None) -> None:
        """Replace every heap with ``(partition, key, last event us, version)`` of the
        recovered table; with ``assigned``, forget the event-time marks of other partitions
        (a revoked partition's last mark would hold the watermark back for good)."""
        self.heaps = {}
        if assigned is not None:
            self.marks = {pt: m for pt, m in self.marks.items() if pt[0] in assigned}
        if not self.enabled:
            return
        for partition, key, at, version in entries:
            self.heaps.setdefault(partition, []).append((at, key, version))
        for heap in self.heaps.values():
            heapq.heapify(heap)

    @property
    def pending(self) -> int:
        """Entries waiting (an upper bound of the states the worker holds)."""
        return sum(len(h) for h in self.heaps.values())
