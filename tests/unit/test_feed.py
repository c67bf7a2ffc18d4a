"""The batch path's bookkeeping: records admitted after seeks, offsets committed after acks."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import aiokafka
import pytest

from smsflow.errors import SmsflowError
from streams import compat
from streams.feed import Batch, Commits, Feed, Offsets


class TP(NamedTuple):
    topic: str
    partition: int


class Rec(NamedTuple):
    offset: int


T = TP("sms.delivery-receipts", 0)


def batch(first: int, last: int, round_: int, tp: TP = T) -> Batch:
    return Batch(tp, [Rec(o) for o in range(first, last + 1)], generation=1, round=round_)


def offsets_of(records: list[Any]) -> list[int]:
    return [r.offset for r in records]


def test_duplicates_before_the_next_offset_are_dropped() -> None:
    o = Offsets()
    o.seeked({T: 10})
    r = o.start_round()
    assert offsets_of(o.admit(batch(10, 12, r))[0]) == [10, 11, 12]
    assert offsets_of(o.admit(batch(11, 14, o.start_round()))[0]) == [13, 14]
    assert o.admit(batch(5, 14, o.start_round())) == ([], None)


def test_a_batch_fetched_before_a_seek_is_stale() -> None:
    # the seek race: records fetched before a seek back to the committed offset 10 must not
    # be processed ahead of 10..19, which the seek fetches again
    o = Offsets()
    o.seeked({T: 0})
    before = o.start_round()
    o.seeked({T: 10})
    assert o.admit(batch(20, 29, before)) == ([], None)
    assert o.stale == 1
    assert offsets_of(o.admit(batch(10, 29, o.start_round()))[0]) == list(range(10, 30))


def test_records_fetched_and_never_processed_are_read_again_then_a_hole_is_passed() -> None:
    o = Offsets()
    o.seeked({T: 10})
    r = o.start_round()
    assert o.admit(batch(15, 20, r)) == ([], 10)  # 10..14 skipped: seek back to 10
    assert o.reseeks == 1 and o.expected[T] == 10
    # the same jump again: the offsets hold no record (transaction markers)
    assert offsets_of(o.admit(batch(15, 16, o.start_round()))[0]) == [15, 16]
    assert o.holes == 1 and o.expected[T] == 17


def test_unknown_position_takes_the_first_batch() -> None:
    o = Offsets()
    assert offsets_of(o.admit(batch(7, 8, o.start_round()))[0]) == [7, 8]


async def test_offsets_commit_only_after_every_output_of_the_batch_and_those_before() -> None:
    loop = asyncio.get_running_loop()
    c = Commits()
    a1, a2, b1 = loop.create_future(), loop.create_future(), loop.create_future()
    c.add(T, 10, [a1, a2])
    c.add(T, 20, [b1])
    b1.set_result(None)
    await asyncio.sleep(0)
    assert c.committable(T) is None  # batch 2 acknowledged, batch 1 not yet
    a1.set_result(None)
    await asyncio.sleep(0)
    assert c.committable(T) is None  # one output of batch 1 still pending
    a2.set_result(None)
    await asyncio.sleep(0)
    assert c.committable(T) == 20 and c.ready() == [T] and c.unacknowledged == 0
    c.add(T, 25, [])  # a batch without outputs (all duplicates' side effects elsewhere)
    assert c.committable(T) == 25


async def test_a_failed_output_never_lets_its_offsets_commit() -> None:
    loop = asyncio.get_running_loop()
    failures: list[BaseException] = []
    c = Commits(on_failure=failures.append)
    bad, later = loop.create_future(), loop.create_future()
    c.add(T, 10, [bad])
    c.add(T, 20, [later])
    bad.set_exception(RuntimeError("broker gone"))
    later.set_result(None)
    await asyncio.sleep(0)
    assert c.committable(T) is None and isinstance(c.failure, RuntimeError)
    assert len(failures) == 1


def test_revoked_partitions_are_forgotten() -> None:
    f = Feed([T.topic])
    f.seeked({T: 3, TP("other", 0): 5})
    assert T in f.offsets.expected and TP("other", 0) not in f.offsets.expected
    f.commits.add(T, 4, [])
    f.revoked({T})
    assert f.commits.committable(T) is None and T not in f.offsets.expected


async def test_records_fetched_while_the_consumer_seeks_are_processed_once_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the stall of a CI run: right after aiokafka sought T to its committed offset 10, the
    # fetch returned 10..12 and the worker processed them before the seek was reported; the
    # report moved the next offset back to 10, the next fetch (13..15, begun before the
    # report) looked fetched before the seek and was dropped as stale, and with nothing newer
    # produced nothing asked to read it again. Batches now wait while the consumer seeks.
    feed = Feed([T.topic])
    consumer = object.__new__(compat.Consumer)
    consumer.app = type("App", (), {"feed": feed})()
    fetch = feed.offsets.start_round()

    async def aiokafka_seek_to_committed(self: Any) -> dict[TP, int]:
        await feed.put(T, [Rec(o) for o in (10, 11, 12)], 1, fetch)  # fetched after the seek
        feed.offsets.start_round()  # the next fetch begins
        for _ in range(5):
            await asyncio.sleep(0)  # the worker gets the loop
        return {T: 10}

    monkeypatch.setattr(compat.faust_aiokafka.Consumer, "seek_to_committed",
                        aiokafka_seek_to_committed)
    processed: list[int] = []

    async def worker() -> None:  # what streams.agents does with each queued batch
        while True:
            b = await feed.queue.get()
            await feed.seeks.zero()
            records, reseek = feed.offsets.admit(b)
            assert reseek is None
            processed.extend(offsets_of(records))

    task = asyncio.ensure_future(worker())
    assert await consumer.seek_to_committed() == {T: 10}
    await feed.put(T, [Rec(o) for o in (13, 14, 15)], 1, feed.offsets.round)
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    assert processed == [10, 11, 12, 13, 14, 15] and feed.offsets.stale == 0


def test_other_library_versions_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    compat.check_versions()
    monkeypatch.setattr(aiokafka, "__version__", "0.15.0")
    with pytest.raises(SmsflowError, match=r"re-check streams/compat\.py"):
        compat.check_versions()
