"""Two fixes to what faust-streaming 0.15.3 commits: never an offset whose record was not processed.

1. **The head of the acknowledged offsets** (faust-streaming issue #606). Faust commits the
   first run of consecutive acknowledged offsets of a partition
   (``Consumer._new_offset``) and holds back only when that run starts *more than one* offset
   after the committed offset C. A run that starts at C + 1 is committed although nothing
   acknowledged the record at C. A per-offset check (each commit compared with the offsets the
   agents had processed) caught it in 3 of 19 SIGKILL-restart runs (the record at C was a
   delivery receipt, an OTP feedback, a reply-pair event); in one the next SIGKILL came before
   C was processed and the OTP conversion was lost, the shape of the CI failure where a
   receipt's ``sent`` stage was missing. The restart makes it likely: Faust's seek to the
   committed offsets after recovery takes 0.2 - 1.2 s (one request per partition) while its
   fetcher already hands on records; the seek then resets Faust's committed offset to the
   value it read, which can be older than a commit made meanwhile, and a record in flight
   overwrites the reset read offset, so re-fetched records are dropped as already read. Fix: a
   partition is committed only when its acknowledged run starts at C, or when C is a known
   hole of the partition (offsets that hold no record, e.g. a transaction marker;
   :mod:`streams.seek_guard` adds those to Faust's gap list). A partition held this way is
   re-read from C by :mod:`streams.watchdog`.

2. **Acknowledgements of records that were not processed.** A Faust stream acknowledges the
   events it drops while the flow is stopped or that were fetched in an earlier consumer
   generation (a rebalance), "so that the lag does not grow", which makes their offsets
   committable. Fix: such an acknowledgement is not recorded; the record is read again from
   the committed offset after the rebalance.

:func:`install_ack_guard` wraps ``Consumer.ack`` and ``Consumer._new_offset`` of the pinned
version (:data:`streams.seek_guard.FAUST_VERSION`); counts are in :func:`stats`.
"""

from __future__ import annotations

from typing import Any

from faust.transport import consumer as faust_consumer

from streams.seek_guard import check_faust_version

__all__ = ["committed_offset", "head_held", "install_ack_guard", "partition_held", "stats"]


def head_held(committed: int | None, acked: list[int], hole_at_committed: bool) -> bool:
    """True when a partition must not be committed: its acknowledged offsets start after the
    committed offset (the record there was not processed) and no hole explains it."""
    return (committed is not None and bool(acked) and min(acked) > committed
            and not hole_at_committed)


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The offset the group resumes ``tp`` from: Faust's committed offset, or for a partition
    the group never committed, the log start the consumer was sought to
    (:mod:`streams.seek_guard`; Faust itself keeps None there, and 0 as None)."""
    committed: int | None = consumer._committed_offset.get(tp)
    if committed is None:
        committed = getattr(consumer, "_smsflow_start", {}).get(tp)
    return committed


def partition_held(consumer: Any, tp: Any) -> bool:
    """:func:`head_held` for one partition of a Faust consumer."""
    committed = committed_offset(consumer, tp)
    gaps = consumer._gap.get(tp)
    hole = committed is not None and gaps is not None and bool(gaps.overlaps(committed))
    return head_held(committed, consumer._acked.get(tp) or [], hole)


def _counts(consumer: Any) -> dict[str, int]:
    counts: dict[str, int] | None = getattr(consumer, "_smsflow_ack_counts", None)
    if counts is None:
        counts = consumer._smsflow_ack_counts = {"held": 0, "refused": 0}
    return counts


def stats(consumer: Any) -> tuple[int, int]:
    """(commits held at an unprocessed head, acknowledgements refused) of one consumer."""
    c = _counts(consumer)
    return c["held"], c["refused"]


def install_ack_guard() -> None:
    """Wrap the pinned Faust consumer's ack and commit-offset methods (idempotent).

    Raises :class:`~smsflow.errors.SmsflowError` on another faust-streaming version.
    """
    base = faust_consumer.Consumer
    if getattr(base, "_smsflow_ack_guard", False):
        return
    check_faust_version("streams.ack_guard", "Consumer.ack and Consumer._new_offset")
    ack, new_offset = base.ack, base._new_offset

    def guarded_ack(self: Any, message: Any) -> bool:
        app = self.app
        gen = message.generation_id
        # the topic lookup last: Faust's own ack repeats it for every event that gets through
        if ((gen is not None and gen != app.consumer_generation_id)
                or not app.flow_control.is_active()) and app.topics.acks_enabled_for(message.topic):
            if not message.acked:  # dropped by the stream, not processed: read it again
                message.acked = True
                self._unacked_messages.discard(message)
                _counts(self)["refused"] += 1
            return False
        return bool(ack(self, message))

    def guarded_new_offset(self: Any, tp: Any) -> int | None:
        if partition_held(self, tp):
            _counts(self)["held"] += 1
            return None
        result: int | None = new_offset(self, tp)
        return result

    base.ack = guarded_ack  # type: ignore[method-assign]
    base._new_offset = guarded_new_offset  # type: ignore[method-assign]
    base._smsflow_ack_guard = True  # type: ignore[attr-defined]
