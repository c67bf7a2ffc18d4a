"""A fix for a faust-streaming 0.15.3 race that loses input events after a seek.

What happens without it. Faust's fetch loop (``Consumer._drain_messages``) iterates one
``getmany`` batch at a time and remembers the last offset it handed on per partition
(``_read_offset``). A seek (``perform_seek`` after table recovery, or ``seek``) resets that
offset to the committed one, C, while the batch fetched *before* the seek is still being
iterated. The next stale record of that batch, offset X > C + 1, then looks like a hole in the
partition: Faust records C+1..X-1 as a "gap" (offsets it will commit as if processed) and sets
the read offset to X, so the records C..X-1 that the seek re-fetches are dropped as already
read. They are never processed, and their offsets are committed with the gap. We saw it as a
send request missing after a worker was SIGKILLed and restarted (its umid's state held the two
receipts only), and its other face as a partition whose commits stop (``streams.watchdog``).

The same bookkeeping loses records in a second way: records Faust fetched but did not hand on
(its ``getmany`` skips partitions that are not active at that moment and stops a batch when the
flow is suspended) leave the fetch position past them, so the next record seen jumps ahead and
Faust again records the skipped offsets as a gap. We saw offsets 28..687 of a reply-pairs
partition jump this way in a RocksDB restart.

The fix. :class:`SeekGuard` numbers the ``getmany`` rounds and remembers, per partition, the
next offset it must hand on and the round in which the last seek happened. A record of a round
that started at or before that seek is passed on only if it is exactly the next offset (older
ones are duplicates Faust drops itself); later ones are stale and skipped, because the seek
re-fetches them in a later round. A jump ahead in a later round on a topic whose offsets Faust
commits makes the guard seek the partition back to the next offset once and skip the record;
if the same jump comes back, the offsets really hold no record (retention, transaction
markers) and the record is passed on with a warning, the hole entered in Faust's gap list so
that :mod:`streams.ack_guard` lets commits pass it. Jumps on changelogs (compacted, read by
recovery, never committed) pass unchanged.

A third way: aiokafka's ``seek_to_committed`` seeks only partitions committed past offset 0;
one the group never committed keeps the position its fetcher reached while recovery had the
flow stopped, past records Faust fetched and dropped (a reply-pairs record lost after a
SIGKILL, 2026-11-27). Such stream partitions are sought to their log start, which
:func:`streams.ack_guard.committed_offset` then reports as their committed offset.

:func:`install_seek_guard` wires it into the pinned faust-streaming version by wrapping
``Consumer.getmany``, ``Consumer.seek`` and ``ThreadDelegateConsumer.seek_to_committed``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.transport import consumer as faust_consumer

from smsflow.errors import SmsflowError

__all__ = ["FAUST_VERSION", "SeekGuard", "check_faust_version", "install_seek_guard", "stats"]

log = logging.getLogger("smsflow.streams")

#: the faust-streaming version whose private fetch loop this module was written against
FAUST_VERSION = "0.15.3"


@dataclass
class SeekGuard:
    """Which fetched records may be handed on, given the seeks so far (one per consumer)."""

    round: int = 0
    next_offset: dict[Any, int] = field(default_factory=dict)  # tp -> next offset to hand on
    seek_round: dict[Any, int] = field(default_factory=dict)  # tp -> round current at its seek
    skipped: int = 0  # stale records not handed on
    reseeks: int = 0  # partitions sought back to records fetched but never handed on
    holes: int = 0  # records after a real hole in a partition
    reseeked: dict[Any, int] = field(default_factory=dict)  # tp -> offset of its last re-seek
    warned: set[Any] = field(default_factory=set)  # partitions whose first hole was logged

    def start_round(self) -> int:
        """A ``getmany`` call begins: its number."""
        self.round += 1
        return self.round

    def seeked(self, offsets: Mapping[Any, int | None]) -> None:
        """Partitions were positioned at ``offsets`` (the next offset each will deliver)."""
        for tp, offset in offsets.items():
            self.seek_round[tp] = self.round
            if offset is None or offset < 0:
                self.next_offset.pop(tp, None)  # position unknown (auto offset reset)
            else:
                self.next_offset[tp] = offset

    def admit(self, tp: Any, offset: int, round_: int, *, committed_topic: bool = True) -> str:
        """What to do with a record of ``round_``: ``"pass"`` it on, pass it on as the first
        record after a ``"hole"`` (offsets :attr:`next_offset` .. ``offset - 1`` hold no record),
        skip it as ``"stale"``, or ``"reseek"`` the partition to :attr:`next_offset` and skip
        it (then call :meth:`seeked`). ``committed_topic``: Faust commits offsets of this topic
        (a stream topic, not a changelog)."""
        expected = self.next_offset.get(tp)
        if expected is not None and offset > expected:
            if round_ <= self.seek_round.get(tp, 0):
                self.skipped += 1  # fetched before the seek: it comes again
                return "stale"
            if committed_topic and self.reseeked.get(tp) != expected:
                self.reseeked[tp] = expected  # fetched past records never handed on
                self.reseeks += 1
                return "reseek"
            self.holes += 1
            if tp not in self.warned:  # compacted changelogs have many holes: once per partition
                self.warned.add(tp)
                log.warning("offsets %d..%d of %s are missing from the topic (retention, "
                            "compaction or transaction markers); continuing at %d", expected,
                            offset - 1, tp, offset)
            self.next_offset[tp] = offset + 1
            return "hole"
        if expected is None or offset >= expected:
            self.next_offset[tp] = offset + 1
        return "pass"


def guard_of(consumer: Any) -> SeekGuard:
    """The guard of one Faust consumer (kept on the consumer, created on first use)."""
    g: SeekGuard | None = getattr(consumer, "_smsflow_guard", None)
    if g is None:
        g = consumer._smsflow_guard = SeekGuard()
    return g


def stats(consumer: Any) -> tuple[int, int, int]:
    """(stale records skipped, re-seeks, records after a hole) of one Faust consumer."""
    g = guard_of(consumer)
    return g.skipped, g.reseeks, g.holes


def check_faust_version(module: str, code: str) -> None:
    """Raise :class:`~smsflow.errors.SmsflowError` unless faust-streaming is
    :data:`FAUST_VERSION`: ``module`` patches ``code`` of that version."""
    if faust.__version__ != FAUST_VERSION:
        raise SmsflowError(
            f"{module} was written for faust-streaming {FAUST_VERSION}, found "
            f"{faust.__version__}: re-check {code} before upgrading"
        )


def install_seek_guard() -> None:
    """Wrap the pinned Faust consumer's fetch and seek methods (idempotent).

    Raises :class:`~smsflow.errors.SmsflowError` on another faust-streaming version: the fix
    relies on that version's private fetch loop and must be re-checked before an upgrade.
    """
    base = faust_consumer.Consumer
    if getattr(base, "_smsflow_seek_guard", False):
        return
    check_faust_version("streams.seek_guard", "Consumer._drain_messages")
    delegate = faust_consumer.ThreadDelegateConsumer
    getmany, seek, seek_to_committed = base.getmany, base.seek, delegate.seek_to_committed

    async def guarded_seek(self: Any, partition: Any, offset: int) -> None:
        await seek(self, partition, offset)
        guard_of(self).seeked({partition: offset})

    async def guarded_getmany(  # the signature of Faust's getmany
        self: Any, timeout: float  # noqa: ASYNC109
    ) -> AsyncIterator[tuple[Any, Any]]:
        g = guard_of(self)
        round_ = g.start_round()
        committed_topic = self.app.topics.acks_enabled_for
        async for tp, message in getmany(self, timeout):
            committed = committed_topic(message.topic)
            expected = g.next_offset.get(tp)
            verdict = g.admit(tp, message.offset, round_, committed_topic=committed)
            if verdict == "pass":
                yield tp, message
            elif verdict == "hole":
                if committed and expected is not None:  # committable: see streams.ack_guard
                    self._gap[tp].addi(expected, message.offset)
                yield tp, message
            elif verdict == "reseek":  # admit saw expected, so it is set
                log.warning("offsets %d..%d of %s were fetched but never processed; "
                            "reading them again", expected, message.offset - 1, tp)
                await guarded_seek(self, tp, expected)

    async def guarded_seek_to_committed(self: Any) -> Mapping[Any, int]:
        offsets = dict(await seek_to_committed(self))
        # aiokafka seeks only partitions committed past 0: the others keep the position the
        # fetcher reached meanwhile, past records that were fetched and never handed on.
        # Stream partitions the group never committed are sought to their log start instead
        # (auto_offset_reset=earliest), which also gives the ack guard and the watchdog the
        # offset they must see processed first (streams.ack_guard.committed_offset)
        acks_enabled_for = self.app.topics.acks_enabled_for
        fresh = [tp for tp, off in offsets.items()
                 if (off is None or off <= 0) and acks_enabled_for(tp.topic)]
        starts = await self.earliest_offsets(*fresh) if fresh else {}
        known: dict[Any, int] = getattr(self, "_smsflow_start", {})
        self._smsflow_start = {tp: at for tp, at in known.items() if tp not in offsets}
        for tp in fresh:
            start = starts.get(tp)
            if start is None or start < 0:
                continue
            await seek(self, tp, start)
            offsets[tp] = start
            self._smsflow_start[tp] = start
        guard_of(self).seeked(offsets)
        return offsets

    base.getmany = guarded_getmany  # type: ignore[method-assign]
    base.seek = guarded_seek  # type: ignore[method-assign]
    delegate.seek_to_committed = guarded_seek_to_committed  # type: ignore[method-assign]
    base._smsflow_seek_guard = True  # type: ignore[attr-defined]
