"""The second line behind :mod:`streams.ack_guard`: partitions whose commits stop.

Two states stop a partition's commits for good although nothing is lost (a restart re-reads
from the committed offset C), and both leave a lag that never reaches zero:

1. **Held**: with the ack guard Faust commits a partition only while its acknowledged offsets
   start at C. If the record at C is never processed (fetched and dropped somewhere in Faust's
   fetch path, or never fetched again after a seek) the acknowledged offsets after it are
   never committed. First seen after a SIGKILL restart (RocksDB store; the cause then was the
   seek race fixed in :mod:`streams.seek_guard`).
2. **Idle behind**: the consumer's fetch position is past C (aiokafka returned the records
   from C on to Faust), nothing of the partition is acknowledged, no record of it is in flight
   (handed to a stream, not yet acknowledged) and it is not paused. Every record from C on was
   dropped after it was fetched, so nothing will ever be acknowledged there. A lone tail of
   dropped records (e.g. refused acknowledgements of a stream's last records before a
   rebalance whose seek came first) has this shape. A partition whose records were simply not
   fetched yet (position at C: a backlog, other partitions served first) is not idle; counting
   those (the first version) re-read 218 partitions in 4 minutes of a 1M-message backlog.

A timer finds a partition that stays in either state for ``stuck_after`` seconds with the same
C and seeks it back to C. The re-read events are processed again, which the pure, idempotent
state transition turns into "no change" (see ``streams.state``), and their acknowledgements let
commits resume. A seek in the idle state costs nothing when the records were only slow to come
(they were not handed on yet, so none is processed twice). Both checks read private attributes
of the pinned faust-streaming version (``_committed_offset``, ``_acked``, ``_gap``,
``_unacked_messages``, ``_paused_partitions``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust

from streams.ack_guard import committed_offset, partition_held

__all__ = ["idle_behind", "install_commit_watchdog", "stuck_partitions"]

log = logging.getLogger("smsflow.streams")


def idle_behind(committed: int | None, position: int | None, acked: bool, in_flight: bool,
                paused: bool) -> bool:
    """True when the records after a partition's committed offset were fetched (``position``
    past it) but none is acknowledged, in flight or held back by a pause: nothing will ever
    commit it."""
    return (committed is not None and position is not None and committed < position
            and not acked and not in_flight and not paused)


def fetch_position(consumer: Any, tp: Any) -> int | None:
    """The next offset aiokafka returns to Faust for ``tp`` (None: unknown), read the way
    Faust's own stall check does (private state of the pinned versions)."""
    try:
        aio = consumer._thread._ensure_consumer()
        state = aio._fetcher._subscriptions.subscription.assignment.state_value(tp)
    except Exception:  # revoked, not started
        return None
    if state is None or not state.has_valid_position:
        return None
    position: int = state.position
    return position


def stuck_partitions(consumer: Any, assigned: set[Any]) -> dict[Any, tuple[str, int]]:
    """Partitions of ``assigned`` (stream topics only) whose commits stopped:
    tp -> (state, committed offset)."""
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    in_flight = {m.tp for m in list(consumer._unacked_messages)}
    paused = consumer._paused_partitions
    out: dict[Any, tuple[str, int]] = {}
    for tp in assigned:
        if not acks_enabled_for(tp.topic):
            continue
        committed = committed_offset(consumer, tp)
        if committed is None:
            continue  # nothing to hold at or go back to (both states need it)
        if partition_held(consumer, tp):
            out[tp] = ("held", committed)
        elif idle_behind(committed, fetch_position(consumer, tp),
                         bool(consumer._acked.get(tp)), tp in in_flight, tp in paused):
            out[tp] = ("idle", committed)
    return out


def install_commit_watchdog(app: faust.App, *, stuck_after: float = 15.0) -> None:
    """Add the timer to ``app`` (call before the worker starts).

    A partition stuck again at the same committed offset after a re-read waits twice as long
    before the next one (a tail of offsets that hold no record stays "idle" for good)."""
    since: dict[tuple[Any, int | None], float] = {}
    rereads: dict[tuple[Any, int | None], int] = {}

    @app.timer(interval=5.0)
    async def commit_watchdog() -> None:
        if app.rebalancing or app.tables.recovery.in_recovery:
            since.clear()
            return
        consumer = app.consumer
        now = time.monotonic()
        seen: set[tuple[Any, int | None]] = set()
        for tp, (state, committed) in stuck_partitions(consumer,
                                                       set(consumer.assignment())).items():
            key = (tp, committed)
            seen.add(key)
            first = since.setdefault(key, now)
            n = rereads.get(key, 0)
            if now - first >= stuck_after * 2**n:
                acked = consumer._acked.get(tp)
                log.warning(
                    "commit_stuck state=%s topic=%s partition=%s committed=%s first_acked=%s "
                    "position=%s rereads=%d: re-reading from the committed offset", state,
                    tp.topic, tp.partition, committed, min(acked) if acked else None,
                    fetch_position(consumer, tp), n,
                )
                await consumer.seek(tp, committed)
                rereads[key] = n + 1
                since.pop(key, None)
        for key in list(since):
            if key not in seen:
                since.pop(key, None)
        for key in list(rereads):
            if key not in seen and committed_offset(consumer, key[0]) != key[1]:
                rereads.pop(key, None)  # commits moved on: forget

    del commit_watchdog
