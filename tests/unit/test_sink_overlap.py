"""The sink's overlap of consuming and flushing: up to sink_flushes_in_flight flushes per lane,
roll-up updates and commits in batch order, each commit only after its own rows were stored,
and a slow lane not holding back the other (sinks/sink.py ``consume``/``hand_off``/``settle``,
sinks/writer.py ``BatchWriter.flush``).

Kafka and ClickHouse are replaced here by scripted stand-ins *inside one unit* (the loop's
bookkeeping); the real broker and chDB run the same loop in tests/integration/test_sink.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from sinks.rows import TABLES
from sinks.sink import _Sink
from sinks.writer import Batch, BatchWriter, FlushResult, Turn, Written
from smsflow.config import Settings
from smsflow.errors import SinkError


@dataclass
class _Msg:
    topic: str
    partition: int
    offset: int
    value: bytes | None = None  # a tombstone: counted, no row
    key: bytes | None = None
    timestamp: int = 0


class _Consumer:
    """Hands out the scripted records two at a time, then nothing."""

    def __init__(self, topic: str, n: int, other: str | None = None) -> None:
        """``n`` records of ``topic``, each followed by one of ``other`` when given."""
        self.todo = [m for i in range(n) for m in (
            _Msg(topic, 0, i), *([_Msg(other, 0, i)] if other else []))]

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[str, list[_Msg]]:
        if not self.todo:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        take = min(2, max_records)
        out, self.todo = self.todo[:take], self.todo[take:]
        await asyncio.sleep(0)
        return {"tp": out}


class _GatedWriter:
    """A writer whose every flush inserts once the test opens its gate, then (as
    BatchWriter.flush does) waits for the previous flush before it counts as stored."""

    retries = 0

    def __init__(self, fail_at: int | None = None) -> None:
        self.started: list[dict[tuple[str, int], int]] = []
        self.gates: list[asyncio.Event] = []
        self.stored: list[dict[tuple[str, int], int]] = []
        self.fail_at = fail_at

    async def flush(self, batch: Batch, stop: Any = None, turn: Turn | None = None
                    ) -> FlushResult:
        turn = turn or Turn()
        self.started.append(batch.commit_offsets())
        n = len(self.started)
        gate = asyncio.Event()
        self.gates.append(gate)
        try:
            if turn.previous_ordered is not None and not await turn.previous_ordered:
                raise SinkError("previous rows not stored")
            await gate.wait()
            if self.fail_at == n:
                raise SinkError("ClickHouse refused")
        finally:
            if turn.ordered is not None and not turn.ordered.done():
                turn.ordered.set_result(self.fail_at != n)
        if turn.previous is not None:
            await turn.previous
        self.stored.append(batch.commit_offsets())
        return FlushResult(Written(), 1, 0.0)


def _sink(writer: _GatedWriter, records: int,
          in_flight: int = 1) -> tuple[_Sink, list[dict[tuple[str, int], int]]]:
    settings = Settings(sink_batch_size=4, sink_batch_ms=1, sink_state_batch_ms=1,
                        sink_flushes_in_flight=in_flight)
    sink = _Sink(settings, ch=None, stop=asyncio.Event())  # type: ignore[arg-type]
    sink.lanes["state"].writers = [writer] * in_flight  # type: ignore[list-item]
    sink.rollup = SimpleNamespace(  # type: ignore[assignment]
        settle=list, due=lambda: False, pending=lambda: False)
    sink.consumer = _Consumer(settings.topics.message_state, records)  # type: ignore[assignment]
    commits: list[dict[tuple[str, int], int]] = []

    async def commit(offsets: dict[tuple[str, int], int]) -> None:
        assert offsets in writer.stored, "committed before its rows were stored"
        commits.append(offsets)

    sink._commit = commit  # type: ignore[method-assign]
    return sink, commits


async def _until(cond: Any) -> None:
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("condition not reached")


async def _finish(sink: _Sink, loop: asyncio.Task[None], writer: _GatedWriter) -> None:
    """Stop the sink and open every gate of ``writer`` until its loop has ended."""
    sink.stop.set()
    while not loop.done():
        for g in writer.gates:
            g.set()
        await asyncio.sleep(0.005)
    await loop


async def test_one_flush_in_flight_and_commits_in_order() -> None:
    writer = _GatedWriter()
    sink, commits = _sink(writer, 12)
    loop = asyncio.create_task(sink.consume())
    await _until(lambda: len(writer.started) == 1)
    # the first batch is being stored: the loop goes on reading into the next one (full at 4)
    await _until(lambda: sink.lanes["state"].batch.records == 4)
    await asyncio.sleep(0.05)
    assert len(writer.started) == 1 and commits == []  # no second flush, nothing committed
    for n in (1, 2):
        writer.gates[n - 1].set()
        await _until(lambda n=n: len(writer.started) == n + 1)
        assert len(commits) == n
    await _finish(sink, loop, writer)  # the batch in flight, then the final flush
    ends = [c[(sink.settings.topics.message_state, 0)] for c in commits]
    assert ends == sorted(ends) and ends[-1] == 12  # in batch order, every record committed


async def test_a_failed_flush_ends_the_loop_uncommitted() -> None:
    writer = _GatedWriter(fail_at=1)
    sink, commits = _sink(writer, 8)
    loop = asyncio.create_task(sink.consume())
    await _until(lambda: len(writer.started) == 1)
    writer.gates[0].set()
    with pytest.raises(SinkError, match="refused"):
        await asyncio.wait_for(loop, 5)
    assert commits == [] and len(writer.started) == 1  # the next batch was never flushed


class _OpenWriter(_GatedWriter):
    """A writer that stores every batch at once."""

    async def flush(self, batch: Batch, stop: Any = None, turn: Turn | None = None
                    ) -> FlushResult:
        self.started.append(batch.commit_offsets())
        if turn is not None and turn.ordered is not None:
            turn.ordered.set_result(True)
        if turn is not None and turn.previous is not None:
            await turn.previous
        self.stored.append(batch.commit_offsets())
        return FlushResult(Written(), 1, 0.0)


async def test_a_slow_events_lane_does_not_hold_back_the_message_states() -> None:
    """While ClickHouse still stores the input topics' first batch, the message-state records
    that came with it are stored and committed batch after batch (their own lane)."""
    events, states = _GatedWriter(), _OpenWriter()
    sink, _ = _sink(events, 0)
    t = sink.settings.topics
    sink.lanes["state"].writers = [states]  # type: ignore[list-item]
    sink.lanes["events"].writers = [events]  # type: ignore[list-item]
    sink.consumer = _Consumer(t.message_state, 12, other=t.requests)  # type: ignore[assignment]
    commits: list[dict[tuple[str, int], int]] = []

    async def commit(offsets: dict[tuple[str, int], int]) -> None:
        assert offsets in events.stored or offsets in states.stored, "committed before stored"
        commits.append(offsets)

    sink._commit = commit  # type: ignore[method-assign]
    loop = asyncio.create_task(sink.consume())
    await _until(lambda: len(events.started) == 1)
    # (the loop stops reading once the events lane's next batch is full too: 4 records)
    await _until(lambda: max((c.get((t.message_state, 0), 0) for c in commits), default=0) >= 4)
    assert len(commits) >= 2  # batch after batch
    assert len(events.started) == 1 and events.stored == []  # still storing its first batch
    assert all(list(c) == [(t.message_state, 0)] for c in commits)  # no input offset committed
    await _finish(sink, loop, events)
    left = sum(m.topic == t.requests for m in sink.consumer.todo)  # type: ignore[attr-defined]
    # every input record read is committed too, after its rows
    assert max(c.get((t.requests, 0), 0) for c in commits) == 12 - left


def test_the_state_lane_closes_its_batches_sooner() -> None:
    """sink_state_batch_ms ages the message-state lane's batches, sink_batch_ms the others'."""
    sink = _Sink(Settings(sink_batch_ms=500, sink_state_batch_ms=200), ch=None,  # type: ignore[arg-type]
                 stop=asyncio.Event())
    assert sink.lanes["state"].batch.max_age_s == pytest.approx(0.2)
    assert sink.lanes["events"].batch.max_age_s == pytest.approx(0.5)
    assert sink.lanes["state"].new_batch().max_age_s == pytest.approx(0.2)


async def test_two_flushes_insert_side_by_side_and_commit_in_order() -> None:
    """With two flushes in flight, the next batch is inserted while the previous one is still
    being stored, but it counts as stored and is committed only after that one."""
    writer = _GatedWriter()
    sink, commits = _sink(writer, 12, in_flight=2)
    loop = asyncio.create_task(sink.consume())
    await _until(lambda: len(writer.started) == 2)  # the second batch did not wait
    await _until(lambda: sink.lanes["state"].batch.records == 4)
    await asyncio.sleep(0.05)
    assert len(writer.started) == 2  # no third: both connections busy
    writer.gates[1].set()  # the second batch's inserts are done first
    await asyncio.sleep(0.05)
    assert commits == [] and writer.stored == []  # it waits for the first
    writer.gates[0].set()
    await _until(lambda: len(commits) == 2)
    state = sink.settings.topics.message_state
    assert [c[(state, 0)] for c in commits] == [4, 8]
    await _until(lambda: len(writer.started) == 3)
    await _finish(sink, loop, writer)
    ends = [c[(state, 0)] for c in commits]
    assert ends == sorted(ends) and ends[-1] == 12


async def test_a_failed_flush_leaves_the_one_beside_it_uncommitted() -> None:
    """The first of two flushes in flight fails after the second inserted its rows: neither
    is committed, and the loop ends with the error."""
    writer = _GatedWriter(fail_at=1)
    sink, commits = _sink(writer, 12, in_flight=2)
    loop = asyncio.create_task(sink.consume())
    await _until(lambda: len(writer.started) == 2)
    writer.gates[1].set()
    await asyncio.sleep(0.02)
    writer.gates[0].set()
    with pytest.raises(SinkError, match="refused"):
        await asyncio.wait_for(loop, 5)
    assert commits == [] and writer.stored == [] and len(writer.started) == 2


class _Recording:
    """A connection and a roll-up that log what the writer asks of them."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def insert(self, table: str, rows: Any, *, dedup_token: str | None = None) -> None:
        self.log.append(f"insert {table}")

    def update(self, units: Any, ch: Any = None) -> None:
        self.log.append("update")


async def test_a_flush_inserts_at_once_and_updates_the_rollup_after_the_previous() -> None:
    """BatchWriter.flush: the inserts do not wait for ``after`` (the previous flush), the
    roll-up update does."""
    log: list[str] = []
    rec = _Recording(log)
    writer = BatchWriter(rec, rollup=rec)  # type: ignore[arg-type]
    batch = Batch(10, 1.0)
    batch.note("t", 0, 0)
    batch.add("daily_deltas", {"day": dt.date(2026, 1, 2), "hour": 3})
    previous: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    flushing = asyncio.create_task(writer.flush(batch, turn=Turn(previous=previous)))  # type: ignore[arg-type]
    await _until(lambda: log == ["insert daily_deltas"])
    await asyncio.sleep(0.02)
    assert log == ["insert daily_deltas"] and not flushing.done()
    previous.set_result(None)
    res = await asyncio.wait_for(flushing, 5)
    assert log == ["insert daily_deltas", "update"] and res.attempts == 1


async def test_the_messages_rows_are_inserted_after_the_previous_batchs() -> None:
    """The ``messages`` insert of a flush waits until the previous flush stored its own (the
    uncounted feed looks up what earlier inserts wrote), the other tables' do not wait for
    anything more; a previous flush that did not store them stops this one before any
    insert."""
    log: list[str] = []
    rec = _Recording(log)
    writer = BatchWriter(rec, rollup=None)  # type: ignore[arg-type]

    def batch() -> Batch:
        b = Batch(10, 1.0)
        b.note("t", 0, 0)
        b.add("messages", {"umid": "u", "counted": False})
        b.add("daily_deltas", {"day": dt.date(2026, 1, 2), "hour": 3})
        return b

    loop = asyncio.get_running_loop()
    previous_ordered: asyncio.Future[bool] = loop.create_future()
    turn = Turn(previous_ordered=previous_ordered, ordered=loop.create_future())
    flushing = asyncio.create_task(writer.flush(batch(), turn=turn))
    await asyncio.sleep(0.05)
    assert log == [] and not turn.ordered.done()  # type: ignore[union-attr]
    previous_ordered.set_result(True)
    await asyncio.wait_for(flushing, 5)
    assert log == ["insert messages", "insert daily_deltas"] and turn.ordered.result()  # type: ignore[union-attr]

    log.clear()
    refused: asyncio.Future[bool] = loop.create_future()
    refused.set_result(False)
    turn = Turn(previous_ordered=refused, ordered=loop.create_future())
    with pytest.raises(SinkError, match="not stored"):
        await writer.flush(batch(), turn=turn)
    assert log == [] and turn.ordered.result() is False  # type: ignore[union-attr]


class _Tables(BatchWriter):
    """A writer that logs which tables each insert hand-off was given."""

    def __init__(self, log: list[Any]) -> None:
        super().__init__(_Recording([]), rollup=None)  # type: ignore[arg-type]
        self.calls = log

    def insert(self, batch: Batch, tables: tuple[str, ...] = TABLES) -> Written:
        self.calls.append(tuple(t for t in tables if batch.rows.get(t)))
        return super().insert(batch, tables)


async def test_a_flush_with_nothing_to_wait_for_inserts_in_one_hand_off() -> None:
    """No previous flush: every table in one insert call (one thread hand-off); after one,
    the ordered step is skipped for a batch without ``messages`` rows."""
    calls: list[Any] = []
    writer = _Tables(calls)
    b = Batch(10, 1.0)
    b.note("t", 0, 0)
    b.add("messages", {"umid": "u", "counted": False})
    b.add("daily_deltas", {"day": dt.date(2026, 1, 2), "hour": 3})
    await writer.flush(b)
    assert calls == [("messages", "daily_deltas")]

    calls.clear()
    loop = asyncio.get_running_loop()
    stored: asyncio.Future[bool] = loop.create_future()
    stored.set_result(True)
    del b.rows["messages"]
    turn = Turn(previous_ordered=stored, ordered=loop.create_future())
    res = await writer.flush(b, turn=turn)
    assert calls == [("daily_deltas",)] and turn.ordered.result()  # type: ignore[union-attr]
    assert res.written.rows == {"daily_deltas": 1} and res.attempts == 1
