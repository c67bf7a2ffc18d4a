"""``smsflow sink run``: Kafka (derived, input, dead-letter topics) -> ClickHouse, in batches.

Order of one cycle, the whole exactness argument:

1. consume records (aiokafka consumer group ``<prefix>clickhouse-sink``, auto-commit off);
2. decode each and turn it into identity-keyed rows (:mod:`sinks.rows`); a record that does not
   decode is counted and skipped - on the derived topics it is also dead-lettered; of the
   MessageState versions of one umid in a batch only the highest becomes a ``messages`` row
   (``_message_rows``: a ReplacingMergeTree(version) keeps no other);
3. when the batch is full (``SMSFLOW_SINK_BATCH_SIZE`` records) or old
   (``SMSFLOW_SINK_BATCH_MS``), flush: dead letters are acknowledged by the broker, then every
   table is inserted with an insert dedup token; ClickHouse errors are retried with backoff;
   then the closed days the deltas touched are recomputed in the daily roll-up
   (:mod:`sinks.rollup`);
4. only then commit the batch's offsets.

The topics go in two lanes, each with batches of its own: ``state`` (the message-state topic:
``messages``, ``daily_deltas`` and the roll-ups) and ``events`` (input and dead-letter topics:
``message_events``, ``conversions``, ``survey_responses``, ``clicks``, ``dead_letters``). Their
partitions and tables are disjoint, so each lane's exactness argument stands alone, and each
flushes on a ClickHouse connection of its own: a message's row does not wait for the event
tables' inserts. Per lane up to ``SMSFLOW_SINK_FLUSHES_IN_FLIGHT`` flushes are in flight, as
tasks, each on a connection of its own: while ClickHouse inserts batch N (in a thread; the
engine works outside the GIL), the loop goes on consuming and decoding into batch N+1, which is
handed over as soon as a connection is free (or waits, full, for one). Batch N+1's inserts may
run beside batch N's; its roll-up update and its commit wait until batch N's flush is done. So
a lane's roll-up updates and offset commits come in batch order, each commit only after its
own rows and every earlier batch's are stored; a failed flush ends the run with nothing of it,
or of a later batch, committed.

A crash anywhere before 4 redelivers the batch; its rows are identity-keyed
(ReplacingMergeTree, read with FINAL) and carry the same token when re-sent unchanged, so they
never count twice. SIGTERM (``stop_event``) flushes, commits and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from schemas import get_codec
from schemas.deadletter import dead_letter
from sinks.logline import line
from sinks.migrate import migrate
from sinks.rollup import Rollup
from sinks.rows import TopicRoute, message_row, routes, rows_for_record
from sinks.ttl import apply_retention
from sinks.writer import Batch, BatchWriter, Turn
from smsflow import consumers
from smsflow.clickhouse import ClickHouse, connect
from smsflow.config import Settings
from smsflow.contribution import delta_rows
from smsflow.errors import ClickHouseError, SchemaError, SinkError
from smsflow.kafka_client import aiokafka_kwargs, start_client
from smsflow.privacy import Privacy

__all__ = ["SinkStats", "group_id", "new_consumer", "run_sink"]

log = logging.getLogger("smsflow.sink")


#: what building a row raises on a decoded record it cannot use
_UNUSABLE = (KeyError, TypeError, ValueError, AttributeError)


def _unusable(schema: str, e: Exception) -> SchemaError:
    return SchemaError(f"{schema} record has no usable row: {e!r}", reason="unusable")


def group_id(settings: Settings) -> str:
    """Consumer group of the sink (one per topic prefix; :func:`smsflow.consumers.sink`)."""
    return consumers.sink(settings).group


def new_consumer(settings: Settings, topics: list[str]) -> AIOKafkaConsumer:
    """The sink's consumer of ``topics`` (not started): group, polling and fetch settings of
    :func:`smsflow.consumers.sink`, the connection's security of ``settings``."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        **consumers.sink(settings).aiokafka_kwargs(),
        **aiokafka_kwargs(settings),
    )


@dataclass
class SinkStats:
    """Counters of one sink run."""

    records: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    dead_lettered: int = 0
    flushes: int = 0
    retries: int = 0
    commits: int = 0
    batch_seconds_sum: float = 0.0  # time spent inserting flushed batches (retries included)
    last_batch_seconds: float = 0.0
    #: days to close, hours to seal or stale ones wait for the settle, or it runs
    rollup_pending: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "rows": dict(self.rows),
            "skipped": dict(self.skipped),
            "dead_lettered": self.dead_lettered,
            "flushes": self.flushes,
            "retries": self.retries,
            "commits": self.commits,
            "batch_seconds_sum": round(self.batch_seconds_sum, 4),
            "last_batch_seconds": round(self.last_batch_seconds, 4),
            "rollup_pending": self.rollup_pending,
        }


#: the lane of each topic role (module docstring); every other role is an ``events`` topic
_LANE_OF_ROLE = {"message_state": "state"}


class _Lane:
    """One lane's batch being filled, its dead letters, its writers (one connection each)
    and its flushes in flight (at most one per writer, oldest first)."""

    def __init__(self, name: str, writers: list[BatchWriter], settings: Settings) -> None:
        self.name = name
        self.writers = writers
        age_ms = settings.sink_state_batch_ms if name == "state" else settings.sink_batch_ms
        self._size, self._age = settings.sink_batch_size, age_ms / 1000
        self.batch = self.new_batch()
        self.dead: list[tuple[bytes | None, dict[str, Any]]] = []
        self.inflight: deque[asyncio.Task[None]] = deque()  # the previous batches' flushes
        #: whether the newest flush stored its ordered rows (writer.ORDERED_TABLES)
        self.last_ordered: asyncio.Future[bool] | None = None
        self._turn = 0

    def new_batch(self) -> Batch:
        return Batch(self._size, self._age)

    def has_room(self) -> bool:
        """Whether another flush may start (fewer in flight than writers)."""
        return len(self.inflight) < len(self.writers)

    def next_writer(self) -> BatchWriter:
        """The writers in turn: with at most one flush per writer in flight, the writer of
        the oldest flush is the next one free."""
        writer = self.writers[self._turn % len(self.writers)]
        self._turn += 1
        return writer


class _Sink:
    def __init__(
        self,
        settings: Settings,
        ch: ClickHouse,
        stop: asyncio.Event,
        stats: SinkStats | None = None,
    ) -> None:
        self.settings = settings
        self.ch = ch
        self.stop = stop
        self.codec = get_codec(settings)
        self.privacy = Privacy.from_settings(settings)
        self.routes: dict[str, TopicRoute] = routes(settings)
        self.rollup = Rollup(ch, settings.rollup_open_days, settings.rollup_open_hours,
                             settle_s=settings.rollup_settle_seconds,
                             cluster=settings.clickhouse_cluster, inline=False)
        #: the connections of the lanes' writers: sink_flushes_in_flight per lane, the first
        #: state writer's is ch (ch itself throughout where there is none: unit tests)
        n = settings.sink_flushes_in_flight
        self.conns = [ch, *(self._another() for _ in range(2 * n - 1))]
        self.lanes = {
            "state": _Lane("state", [BatchWriter(c, rollup=self.rollup)
                                     for c in self.conns[:n]], settings),
            "events": _Lane("events", [BatchWriter(c) for c in self.conns[n:]], settings),
        }
        self.lane_of = {topic: self.lanes[_LANE_OF_ROLE.get(route.role, "events")]
                        for topic, route in self.routes.items()}
        self.stats = stats if stats is not None else SinkStats()
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        #: closes, seals and the stale days' and hours' recompute, beside the flushes
        #: (Rollup.settle)
        self.settling: asyncio.Task[None] | None = None
        self.settle_ch: ClickHouse | None = None

    def _another(self) -> ClickHouse:
        return self.ch.another() if self.ch is not None else self.ch

    def _skip(self, topic: str, reason: str) -> None:
        k = f"{self.routes[topic].role}:{reason}"
        self.stats.skipped[k] = self.stats.skipped.get(k, 0) + 1

    def take(self, msg: Any) -> None:
        """Turn one consumed record into rows of the batch (never raises for bad data)."""
        route, lane = self.routes[msg.topic], self.lane_of[msg.topic]
        batch = lane.batch
        batch.note(msg.topic, msg.partition, msg.offset)
        self.stats.records += 1
        if msg.value is None:  # tombstone on the compacted state topic
            self._skip(msg.topic, "tombstone")
            return
        try:
            name, rec = self.codec.decode(msg.value)
            if name != route.schema:
                raise SchemaError(
                    f"expected {route.schema} on {msg.topic}, got {name}", reason="wrong-schema"
                )
            try:
                if name == "MessageState":  # its messages row: one per umid, at hand-off
                    pairs = [("daily_deltas", d) for d in delta_rows(rec)]
                    umid, version = rec["umid"], int(rec["version"])
                else:
                    pairs = rows_for_record(
                        name, rec, topic=msg.topic, partition=msg.partition, offset=msg.offset,
                        timestamp_ms=msg.timestamp, privacy=self.privacy,
                        decode=self.codec.decode,
                    )
            except _UNUSABLE as e:
                raise _unusable(name, e) from e
        except SchemaError as e:
            self._dead(msg, e)
            return
        if name == "MessageState":
            batch.add_state(umid, version, (rec, msg))
        for table, row in pairs:
            batch.add(table, row)

    def _dead(self, msg: Any, e: SchemaError) -> None:
        self._skip(msg.topic, e.reason)
        if self.routes[msg.topic].derived:
            self.lane_of[msg.topic].dead.append((msg.key, dead_letter(
                "sink", e, topic=msg.topic, partition=msg.partition, offset=msg.offset,
                key=msg.key, payload=msg.value, privacy=self.privacy,
            )))

    def _message_rows(self, batch: Batch) -> None:
        """The batch's ``messages`` rows: per umid the row of its highest usable version.

        ``messages`` is a ReplacingMergeTree(version) read with FINAL, so the lower versions
        of a umid in the same batch would only be merged away: not building, encoding and
        inserting them is exact whatever way Kafka cuts the batches (any subset holding the
        highest version gives the same final row). A version whose row cannot be built is
        dead-lettered and the next lower one of the batch stands in for it.
        """
        for states in batch.latest_states():
            for rec, msg in states:
                try:
                    row = message_row(rec, self.privacy)
                except SchemaError as e:
                    self._dead(msg, e)
                    continue
                except _UNUSABLE as e:
                    self._dead(msg, _unusable("MessageState", e))
                    continue
                batch.add("messages", row)
                break

    def hand_off(self, lane: _Lane) -> None:
        """Start flushing ``lane``'s current batch as a task on its next writer (the lane
        must have room) and begin a new batch. The flush inserts at once, and updates the
        roll-ups and commits after the lane's previous flush did."""
        assert lane.has_room()
        if lane.batch.records == 0:
            return
        self._message_rows(lane.batch)
        batch, dead = lane.batch, lane.dead
        lane.batch, lane.dead = lane.new_batch(), []
        turn = Turn(ordered=asyncio.get_running_loop().create_future())
        if lane.inflight:
            turn.previous, turn.previous_ordered = lane.inflight[-1], lane.last_ordered
        lane.last_ordered = turn.ordered
        lane.inflight.append(asyncio.create_task(
            self._flush(lane.next_writer(), batch, dead, turn), name=f"sink-flush-{lane.name}"))

    @staticmethod
    async def settle(lane: _Lane, *, done_only: bool = False, oldest: bool = False) -> None:
        """Wait for ``lane``'s flushes in flight, oldest first (``oldest``: that one only;
        ``done_only``: only those already done); re-raise the first error (nothing of that
        batch or a later one was committed)."""
        while lane.inflight and not (done_only and not lane.inflight[0].done()):
            await lane.inflight.popleft()
            if oldest:
                return

    async def flush(self) -> None:
        """Flush every lane's current batch and wait until it and every earlier one is
        committed."""
        for lane in self.lanes.values():
            while not lane.has_room():
                await self.settle(lane, oldest=True)
            self.hand_off(lane)
        for lane in self.lanes.values():
            await self.settle(lane)

    async def _flush(self, writer: BatchWriter, batch: Batch,
                     dead: list[tuple[bytes | None, dict[str, Any]]],
                     turn: Turn | None = None) -> None:
        """Dead letters, then ClickHouse (in ``turn`` among the lane's flushes: the roll-up
        update once the previous flush is done), then the offset commit (see the module
        docstring)."""
        try:
            if dead:
                assert self.producer is not None
                try:
                    for key, rec in dead:
                        await self.producer.send_and_wait(
                            self.settings.topics.dead_letter,
                            self.codec.encode("DeadLetter", rec), key=key,
                        )
                except KafkaError as e:
                    raise SinkError(
                        f"cannot write dead letters (batch left uncommitted): {e}") from e
                self.stats.dead_lettered += len(dead)
            res = await writer.flush(batch, self.stop, turn)
        finally:  # failed before the writer said: the next flush must not insert either
            if turn is not None and turn.ordered is not None and not turn.ordered.done():
                turn.ordered.set_result(False)
        self.stats.flushes += 1
        self.stats.batch_seconds_sum += res.seconds
        self.stats.last_batch_seconds = res.seconds
        self.stats.retries = sum(w.retries for lane in self.lanes.values() for w in lane.writers)
        for table, n in res.written.rows.items():
            self.stats.rows[table] = self.stats.rows.get(table, 0) + n
        offsets = batch.commit_offsets()
        await self._commit(offsets)
        log.info(line(
            "sink.flush", records=batch.records, rows=res.written.rows, attempts=res.attempts,
            seconds=round(res.seconds, 4), rollup_seconds=round(res.written.rollup_seconds, 4),
            table_seconds=res.written.table_seconds,
            partitions=len(offsets),
        ))

    def _recompute_stale_when_due(self) -> None:
        """Start closing the decided days, sealing the decided hours and recomputing the
        stale ones once due, in a thread of its own, so that the next flushes do not wait for
        it (Rollup.advance and Rollup.settle say why it stays exact)."""
        if self._settle_idle() and self.rollup.due():
            self.settling = asyncio.create_task(self._recompute_stale(), name="sink-settle")
        self._note_rollup_pending()

    def _settle_idle(self) -> bool:
        return self.settling is None or self.settling.done()

    def _note_rollup_pending(self) -> None:
        """``rollup_pending`` of /health: a recompute running, days to close, hours to seal,
        or stale days or hours left."""
        self.stats.rollup_pending = not self._settle_idle() or self.rollup.pending()

    async def _recompute_stale(self) -> None:
        t0 = time.monotonic()
        try:
            if self.settle_ch is None:
                self.settle_ch = self.ch.another()
            days, hours = await asyncio.to_thread(self.rollup.settle, self.settle_ch)
        except ClickHouseError as e:  # still exact: they stay read from the source
            log.warning(line("sink.settle_failed", error=str(e)))
            return
        log.info(line("sink.settled", days=len(days), hours=len(hours),
                      seconds=round(time.monotonic() - t0, 4)))

    async def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        tps = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        mine = {tp: o for tp, o in tps.items() if tp in assigned}
        if len(mine) < len(tps):
            log.warning(line("sink.commit_skipped", partitions=len(tps) - len(mine),
                             why="revoked; the new owner re-inserts them (deduplicated)"))
        if not mine:
            return
        try:
            await self.consumer.commit(mine)
            self.stats.commits += 1
        except (CommitFailedError, IllegalStateError) as e:
            log.warning(line("sink.commit_failed", error=str(e),
                             why="rebalance; records are redelivered and deduplicated"))

    async def run(self) -> SinkStats:
        s = self.settings
        self.consumer = new_consumer(s, list(self.routes))
        self.producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap, acks="all", **aiokafka_kwargs(s)
        )
        try:
            await start_client(self.consumer, s, error=SinkError)
            await start_client(self.producer, s, error=SinkError)
        except SinkError:
            await self._close()
            raise
        log.info(line("sink.start", group=group_id(s), topics=len(self.routes),
                      batch_size=s.sink_batch_size, batch_ms=s.sink_batch_ms,
                      database=self.ch.database))
        try:
            await self.consume()
        finally:
            await self._close()
        log.info(line("sink.stop", **self.stats.as_dict()))
        return self.stats

    async def consume(self) -> None:
        """The loop: consume into the lanes' batches, hand each to a flush when due, until
        ``stop``; then flush the rest. Returns with nothing in flight (a failed flush
        raises)."""
        assert self.consumer is not None
        size = self.settings.sink_batch_size
        lanes = list(self.lanes.values())
        try:
            while not self.stop.is_set():
                self._recompute_stale_when_due()  # also when no batch comes
                for lane in lanes:
                    await self.settle(lane, done_only=True)  # an error ends the run here
                    if lane.batch.due() and lane.has_room():
                        self.hand_off(lane)
                fullest = max(lanes, key=lambda lane: lane.batch.records)
                room = size - fullest.batch.records
                if room <= 0:  # full while its previous batches are still being stored
                    await self.settle(fullest, oldest=True)
                    continue
                data = await self.consumer.getmany(
                    timeout_ms=self._poll_timeout_ms(), max_records=room
                )
                for msgs in data.values():
                    for msg in msgs:
                        self.take(msg)
            await self.flush()
            if self.settling is not None:
                await self.settling
            try:  # decided closes and seals and stale days done now, not at the next start
                await asyncio.to_thread(self.rollup.settle)
            except ClickHouseError as e:  # still exact: they stay read from the source
                log.warning(line("sink.settle_failed", error=str(e)))
        finally:
            for lane in lanes:  # an error elsewhere: let the flushes finish or fail
                while lane.inflight:
                    with contextlib.suppress(Exception):
                        await self.settle(lane, oldest=True)
            if self.settling is not None:  # a thread cannot be cancelled: let it end
                with contextlib.suppress(Exception):
                    await self.settling

    def _poll_timeout_ms(self) -> int:
        return min(self._lane_timeout_ms(lane) for lane in self.lanes.values())

    @staticmethod
    def _lane_timeout_ms(lane: _Lane) -> int:
        batch = lane.batch
        if batch.due() and not lane.has_room():
            return 10  # ready to hand over: look again soon whether a flush is done
        if batch.started is None:
            return 200
        left = batch.max_age_s - (time.monotonic() - batch.started)
        return int(min(200, max(1, left * 1000)))

    async def _close(self) -> None:
        for other in (self.settle_ch, *self.conns):
            if other is not None and other is not self.ch:
                other.close()
        for client in (self.consumer, self.producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception as e:  # closing must not hide the original outcome
                    log.warning(line("sink.close_failed", error=str(e)))


async def run_sink(
    settings: Settings,
    stop_event: asyncio.Event,
    *,
    ch: ClickHouse | None = None,
    stats: SinkStats | None = None,
) -> SinkStats:
    """Run the sink until ``stop_event`` is set; then flush, commit and return the counters.

    Applies the missing migrations and the retention TTLs of the settings first. ``ch``
    defaults to :func:`smsflow.clickhouse.connect`.
    Raises :class:`SinkError` when Kafka cannot be reached, or when stopped while ClickHouse
    still refuses the pending batch (then nothing of it is committed: Kafka redelivers it).
    """
    ch = ch or connect(settings)
    await asyncio.to_thread(migrate, ch)
    await asyncio.to_thread(apply_retention, ch, settings)
    return await _Sink(settings, ch, stop_event, stats).run()
