"""watchdog: which partitions have stopped committing and are re-read from the committed offset."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from intervaltree import IntervalTree

from streams.watchdog import idle_behind, stuck_partitions

RECEIPTS = TP("delivery-receipts", 3)
REQUESTS = TP("send-requests", 0)
CHANGELOG = TP("message-state", 3)


@pytest.mark.parametrize(("committed", "position", "acked", "in_flight", "paused", "idle"), [
    (100, 150, False, False, False, True),  # 100..149 fetched, never acknowledged
    (150, 150, False, False, False, False),  # nothing fetched after the commit (or the end)
    (100, 150, True, False, False, False),  # processing: commits follow
    (100, 150, False, True, False, False),  # a record is on its way through a stream
    (100, 150, False, False, True, False),  # paused (recovery, flow control)
    (None, 150, False, False, False, False),  # never committed: nothing to seek to
    (100, None, False, False, False, False),  # position unknown (revoked, resetting)
])
def test_idle_behind(committed: int | None, position: int | None, acked: bool,
                     in_flight: bool, paused: bool, idle: bool) -> None:
    assert idle_behind(committed, position, acked, in_flight, paused) is idle


class FakeConsumer:
    """The attributes of a Faust 0.15.3 consumer :func:`stuck_partitions` reads."""

    def __init__(self, positions: dict[Any, int]) -> None:
        states = {tp: SimpleNamespace(has_valid_position=True, position=p)
                  for tp, p in positions.items()}
        assignment = SimpleNamespace(state_value=states.get)
        aio = SimpleNamespace(_fetcher=SimpleNamespace(_subscriptions=SimpleNamespace(
            subscription=SimpleNamespace(assignment=assignment))))
        self._thread = SimpleNamespace(_ensure_consumer=lambda: aio)
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._gap: dict[Any, IntervalTree] = defaultdict(IntervalTree)
        self._unacked_messages: list[Any] = []
        self._paused_partitions: set[Any] = set()
        self.app = SimpleNamespace(
            topics=SimpleNamespace(acks_enabled_for=lambda topic: topic != CHANGELOG.topic)
        )


def test_stuck_partitions_names_held_and_idle_ones_only() -> None:
    c = FakeConsumer({RECEIPTS: 900, REQUESTS: 500, CHANGELOG: 70})
    c._committed_offset.update({RECEIPTS: 434, REQUESTS: 480, CHANGELOG: 10})
    c._acked[RECEIPTS] = [435, 436]  # the record at 434 was not processed
    # changelogs are never committed: not judged
    assert stuck_partitions(c, {RECEIPTS, REQUESTS, CHANGELOG}) == {
        RECEIPTS: ("held", 434), REQUESTS: ("idle", 480)}

    c._unacked_messages.append(SimpleNamespace(tp=REQUESTS))  # 480 is being processed
    c._acked[RECEIPTS] = [434, 435]
    assert stuck_partitions(c, {RECEIPTS, REQUESTS, CHANGELOG}) == {}


def test_a_partition_without_a_fetch_position_is_skipped() -> None:
    c = FakeConsumer({})
    c._committed_offset[REQUESTS] = 3
    assert stuck_partitions(c, {REQUESTS}) == {}
