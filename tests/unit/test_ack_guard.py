"""ack_guard: Faust must never commit an offset whose record was not processed."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport import consumer as faust_consumer
from intervaltree import IntervalTree

from streams import ack_guard
from streams.ack_guard import head_held, install_ack_guard

TP = ("delivery-receipts", 3)


class FakeConsumer:
    """The attributes Faust 0.15.3's ``ack`` and ``_new_offset`` use, nothing else."""

    def __init__(self, committed: int | None, *, generation: int = 7, flowing: bool = True):
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._committed_offset[TP] = committed
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._acked_index: dict[Any, set[int]] = defaultdict(set)
        self._gap: dict[Any, IntervalTree] = defaultdict(IntervalTree)
        self._unacked_messages: set[Any] = set()
        self._n_acked = 0
        self._waiting_for_ack = None
        self.app = SimpleNamespace(
            consumer_generation_id=generation,
            flow_control=SimpleNamespace(is_active=lambda: flowing),
            topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
        )

    def ack(self, message: Any) -> bool:
        return bool(faust_consumer.Consumer.ack(self, message))

    def new_offset(self) -> int | None:
        result: int | None = faust_consumer.Consumer._new_offset(self, TP)
        return result


class Msg:
    def __init__(self, offset: int, generation: int) -> None:
        self.topic, self.tp, self.offset = TP[0], TP, offset
        self.generation_id, self.acked = generation, False


def message(offset: int, generation: int = 7) -> Msg:
    return Msg(offset, generation)


@pytest.fixture(autouse=True)
def installed() -> None:
    install_ack_guard()


@pytest.mark.parametrize(("committed", "acked", "hole", "held"), [
    (None, [5, 6], False, False),  # nothing committed yet: Faust starts where it read
    (434, [], False, False),
    (434, [434, 435], False, False),
    (434, [435, 436], False, True),  # the record at 434 was not processed
    (434, [440], False, True),
    (434, [435, 436], True, False),  # 434 holds no record
])
def test_head_held(committed: int | None, acked: list[int], hole: bool, held: bool) -> None:
    assert head_held(committed, acked, hole) is held


def test_no_commit_past_an_unprocessed_head_until_it_is_processed() -> None:
    c = FakeConsumer(committed=434)
    for o in range(435, 441):
        assert c.ack(message(o))
    assert c.new_offset() is None  # unpatched Faust returned 441 here, losing 434
    assert ack_guard.stats(c) == (1, 0)
    assert c.ack(message(434))
    assert c.new_offset() == 441


def test_a_known_hole_at_the_head_is_committed_past() -> None:
    c = FakeConsumer(committed=10)
    c._gap[TP].addi(10, 11)  # a transaction marker at 10, entered by streams.seek_guard
    for o in (11, 12):
        c.ack(message(o))
    assert c.new_offset() == 13


def test_acks_of_dropped_events_are_not_recorded() -> None:
    stale = FakeConsumer(committed=100, generation=8)
    m = message(100, generation=7)  # fetched before the rebalance
    assert stale.ack(m) is False and m.acked
    assert stale._acked[TP] == [] and stale.new_offset() is None

    stopped = FakeConsumer(committed=100, flowing=False)  # flow stopped by a rebalance
    assert stopped.ack(message(100)) is False
    assert stopped._acked[TP] == [] and ack_guard.stats(stopped) == (0, 1)

    normal = FakeConsumer(committed=100)
    assert normal.ack(message(100)) and normal.new_offset() == 101


def test_install_wraps_the_pinned_faust_once() -> None:
    wrapped = faust_consumer.Consumer.ack
    install_ack_guard()
    assert faust_consumer.Consumer.ack is wrapped


def test_partition_held_reads_the_consumer() -> None:
    c = FakeConsumer(committed=20)
    c.ack(message(21))
    assert ack_guard.partition_held(c, TP)  # the watchdog re-reads from 20 after a while
    c.ack(message(20))
    assert not ack_guard.partition_held(c, TP)
