"""The batching ClickHouse writer: rows per table, bounded by size and age, flushed with retries.

Contract (commit order): the sink adds every consumed record's rows with :meth:`Batch.add`
(and notes records that produced no row with :meth:`Batch.note`), calls :meth:`BatchWriter.flush`
when :meth:`Batch.due` says so, and commits the Kafka offsets of :meth:`Batch.commit_offsets`
only after ``flush`` returned. A flush inserts every table with an insert deduplication token
derived from the batch's offset ranges, then brings the roll-ups up to date for the days and hours
the batch's deltas and counted messages touched (:class:`sinks.rollup.Rollup`, idempotent) once
the previous batch's flush is done; a ClickHouse error is retried with exponential backoff (the
same batch, the same tokens), so an insert whose outcome was unknown is not stored twice and the
roll-up update is made again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

from sinks.logline import line
from sinks.rollup import Rollup
from sinks.rows import TABLES, dedup_token
from smsflow.clickhouse import ClickHouse
from smsflow.contribution import request_hour
from smsflow.errors import ClickHouseError, SinkError

__all__ = ["ORDERED_TABLES", "Batch", "BatchWriter", "FlushResult", "Turn", "Written"]

log = logging.getLogger("smsflow.sink")
T = TypeVar("T")


@dataclass
class Batch:
    """Rows of consumed records not yet in ClickHouse, and the offsets they came from."""

    max_records: int
    max_age_s: float
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    ranges: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    records: int = 0
    started: float | None = None
    #: umid -> [(version, state), ...] of the batch's MessageState records, in consumed order:
    #: the ``messages`` table keeps only a umid's highest version (ReplacingMergeTree(version)),
    #: so the sink builds and inserts one row per umid and batch (:meth:`add_state`)
    states: dict[Any, list[tuple[int, Any]]] = field(default_factory=dict)

    def note(self, topic: str, partition: int, offset: int) -> None:
        """Count one consumed record (with or without rows) towards the batch and its offsets."""
        key = (topic, partition)
        first, last = self.ranges.get(key, (offset, offset))
        self.ranges[key] = (min(first, offset), max(last, offset))
        self.records += 1
        if self.started is None:
            self.started = time.monotonic()

    def add(self, table: str, row: dict[str, Any]) -> None:
        """Add one row for ``table`` (call :meth:`note` for the record too)."""
        self.rows[table].append(row)

    def add_state(self, umid: Any, version: int, state: Any) -> None:
        """Keep one MessageState version of ``umid`` for the batch's ``messages`` row."""
        self.states.setdefault(umid, []).append((version, state))

    def latest_states(self) -> list[list[Any]]:
        """Per umid of the batch, its states from the highest version down (a later record
        first among equal versions: it is the one a row-per-record insert would keep)."""
        # a stable sort of the reversed list keeps the later of equal versions first
        return [[state for _, state in sorted(reversed(versions), key=itemgetter(0),
                                              reverse=True)]
                for versions in self.states.values()]

    def due(self, now: float | None = None) -> bool:
        """True when the batch is full or its first record waited ``max_age_s``."""
        if self.records == 0:
            return False
        if self.records >= self.max_records:
            return True
        now = time.monotonic() if now is None else now
        return self.started is not None and now - self.started >= self.max_age_s

    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def commit_offsets(self) -> dict[tuple[str, int], int]:
        """Kafka offsets to commit once flushed: last consumed offset + 1 per partition."""
        return {key: last + 1 for key, (_, last) in self.ranges.items()}


#: tables whose inserts keep batch order among a lane's flushes in flight: on an insert into
#: ``messages``, ``messages_uncounted_feed`` (migration 0010) writes the tombstone of a
#: message counted now by looking up the uncounted row an earlier version's insert wrote, so
#: that insert must be done first (two at once: the later one could miss it)
ORDERED_TABLES = ("messages",)
_OTHER_TABLES = tuple(t for t in TABLES if t not in ORDERED_TABLES)


@dataclass
class Turn:
    """A flush's place among its lane's flushes in flight: the previous one (its task, and
    whether it stored its :data:`ORDERED_TABLES` rows) and this one's own such outcome."""

    previous: asyncio.Task[None] | None = None
    previous_ordered: asyncio.Future[bool] | None = None
    ordered: asyncio.Future[bool] | None = None


@dataclass
class Written:
    """What one attempt of :meth:`BatchWriter.insert` stored, and where its time went (and
    the roll-up update's)."""

    rows: dict[str, int] = field(default_factory=dict)
    table_seconds: dict[str, float] = field(default_factory=dict)
    rollup_seconds: float = 0.0


@dataclass(frozen=True)
class FlushResult:
    """What one flush stored (its last attempt's :class:`Written`), attempts, seconds spent."""

    written: Written
    attempts: int
    seconds: float


class BatchWriter:
    """Inserts batches into ClickHouse, retrying errors with exponential backoff."""

    def __init__(
        self,
        ch: ClickHouse,
        *,
        backoff_initial: float = 0.2,
        backoff_max: float = 30.0,
        rollup: Rollup | None = None,
    ) -> None:
        self.ch = ch
        self.rollup = rollup
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.retries = 0

    def insert(self, batch: Batch, tables: tuple[str, ...] = TABLES) -> Written:
        """One attempt: insert every table's rows (of ``tables``) with its dedup token
        (blocking)."""
        done = Written()
        for table in tables:
            rows = batch.rows.get(table)
            if rows:
                t0 = time.monotonic()
                self.ch.insert(table, rows, dedup_token=dedup_token(table, batch.ranges))
                done.rows[table] = len(rows)
                done.table_seconds[table] = round(time.monotonic() - t0, 4)
        return done

    def update_rollup(self, batch: Batch) -> float:
        """One attempt: bring the roll-ups up to date for the days and hours of the batch's
        deltas and counted messages, on this writer's connection (blocking); its seconds."""
        if self.rollup is None:
            return 0.0
        # a counted version can change a message report without a delta (a second reply,
        # an error text): its day and hour (messages_by_day's) are touched too
        units = {(r["day"], r["hour"]) for r in batch.rows.get("daily_deltas", ())}
        units.update((r["day"], request_hour(r))
                     for r in batch.rows.get("messages", ()) if r["counted"])
        if not units:
            return 0.0
        t0 = time.monotonic()
        self.rollup.update(units, self.ch)
        return time.monotonic() - t0

    async def flush(self, batch: Batch, stop: asyncio.Event | None = None,
                    turn: Turn | None = None) -> FlushResult:
        """Insert the batch, then (once the previous batch's flush is done) update the
        roll-ups, retrying each step until ClickHouse acknowledges it.

        ``turn`` places the flush among its lane's flushes in flight (:class:`Turn`): the
        batch's :data:`ORDERED_TABLES` rows are inserted after the previous batch's, its other
        tables beside the previous batch's roll-up update and commit; the updates, and the
        commits after them, stay in batch order. Each step runs in a thread (the event loop
        keeps the consumer's heartbeats going). Raises :class:`SinkError` when ``stop`` is set
        while ClickHouse still refuses, or the previous batch's ordered rows were not stored:
        the batch is then not committed and Kafka redelivers it after the restart (nothing
        lost); an error of the previous flush is raised as it is.
        """
        turn = turn or Turn()
        t0 = time.monotonic()
        waits = turn.previous_ordered is not None
        # nothing to wait for: every table in one hand-off to a thread
        first = ORDERED_TABLES if waits else TABLES
        done, attempts = Written(), 1
        ordered = False
        try:
            if waits and not await turn.previous_ordered:
                raise SinkError("the previous batch's messages rows were not stored: this "
                                "batch is left uncommitted too (Kafka redelivers both)")
            if any(batch.rows.get(t) for t in first):
                done, attempts = await self._retrying(
                    lambda b: self.insert(b, first), batch, stop)
            ordered = True
        finally:
            if turn.ordered is not None and not turn.ordered.done():
                turn.ordered.set_result(ordered)
        if waits:
            rest, more = await self._retrying(
                lambda b: self.insert(b, _OTHER_TABLES), batch, stop)
            done.rows.update(rest.rows)
            done.table_seconds.update(rest.table_seconds)
            attempts += more - 1
        if turn.previous is not None:
            await turn.previous
        if self.rollup is not None:
            done.rollup_seconds, more = await self._retrying(self.update_rollup, batch, stop)
            attempts += more - 1
        return FlushResult(done, attempts, time.monotonic() - t0)

    async def _retrying(self, step: Callable[[Batch], T], batch: Batch,
                        stop: asyncio.Event | None) -> tuple[T, int]:
        """``step(batch)`` in a thread until it does not raise a ClickHouse error (exponential
        backoff); its result and the attempts made."""
        delay = self.backoff_initial
        attempt = 0
        while True:
            attempt += 1
            try:
                return await asyncio.to_thread(step, batch), attempt
            except ClickHouseError as e:
                self.retries += 1
                log.warning(
                    line("sink.retry", attempt=attempt, delay_s=round(delay, 3), error=str(e))
                )
                if stop is not None and stop.is_set():
                    raise SinkError(
                        f"stopping with {batch.records} records not accepted by ClickHouse "
                        f"(left uncommitted, Kafka redelivers them): {e}"
                    ) from e
                if stop is not None:
                    try:
                        await asyncio.wait_for(stop.wait(), delay)
                    except TimeoutError:
                        pass
                else:
                    await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)

