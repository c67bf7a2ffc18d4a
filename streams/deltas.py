"""Message-state records -> DailyDelta rows (a plain aiokafka consume-produce loop).

Every ``MessageState`` version on the message-state topic becomes the rows of
:func:`streams.contribution.delta_rows` on the daily-deltas topic, keyed by umid. Each row is a
pure function of the state record, so reprocessing after a crash or a rebalance produces
byte-identical records, which downstream deduplicates by (umid, version, key). Offsets are
committed only after every row of the batch was acknowledged by the broker (at-least-once).

This is not a Faust agent: the message-state topic is the ``messages`` table's changelog, which
Faust reads itself for recovery; a separate consumer group (:func:`group_id`,
``<prefix>streams-deltas``) reads it here.
A record that does not decode goes to the dead-letter topic (component ``worker``).

Where it runs: ``smsflow deltas`` (:func:`serve_deltas`) runs it as a process of its own, which
is how ``smsflow run`` supervises it, so that it does not share the worker's one core (in the
worker it took 30% of the CPU: ``python -m bench.streams --messages 20000`` measured 545 CPU
us/event with it, 384 without, 2026-11-27); ``smsflow worker`` alone still runs it as a task
unless started with ``--no-deltas``.

Why the rows are not sent by the umid agent next to the state write (tried on 2026-11-25: the
end-to-end benchmark went from 2,098 to 2,731 events/s, this loop being ~22% of the worker's
CPU): the rows would then not follow the changelog. A SIGKILL can land after a version's rows
were acknowledged but before its changelog record was; the replayed events then meet the older
state, and when Faust fetches the input topics in another interleaving than before (a request
and its receipts live on different topics) the same version number gets other contents and
other rows. Deduplication by (umid, version, key) cannot repair that: the e2e SIGKILL test
counted 2,157 messages where the truth has 2,153. Reading the changelog makes every row a
function of a state version that exists.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError, KafkaError

from schemas import get_codec
from schemas.deadletter import dead_letter
from smsflow.config import Settings
from smsflow.errors import SchemaError
from smsflow.kafka_client import BATCH_FETCH, aiokafka_kwargs, start_client
from streams.contribution import delta_rows
from streams.outputs import Outputs

__all__ = ["DeltaStats", "group_id", "run_deltas", "serve_deltas"]

log = logging.getLogger("smsflow.streams.deltas")


def group_id(settings: Settings) -> str:
    """Consumer group of the deltas loop (the worker's app id + ``-deltas``)."""
    return f"{settings.topic_prefix}streams-deltas"


class DeltaStats:
    """Counters of the deltas loop (read by the worker's stats line and the benchmark)."""

    def __init__(self) -> None:
        self.states = 0
        self.rows = 0
        self.dead_letters = 0

    def line(self) -> str:
        return f"deltas states={self.states} rows={self.rows} dead_letters={self.dead_letters}"


async def run_deltas(
    settings: Settings, stop: asyncio.Event, stats: DeltaStats | None = None
) -> None:
    """Consume message-state, produce DailyDelta rows, commit after the broker acked them.

    Runs until ``stop`` is set (or the task is cancelled). Kafka errors on commit (a rebalance
    took the partitions) are logged and the batch is simply processed again by the new owner.
    """
    stats = stats or DeltaStats()
    codec = get_codec(settings)
    topics = settings.topics
    deltas_topic = topics.daily_deltas
    consumer = AIOKafkaConsumer(
        topics.message_state,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group_id(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
        max_poll_records=5000,
        **BATCH_FETCH,
        **aiokafka_kwargs(settings),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=10,
        max_batch_size=256 * 1024,
        **aiokafka_kwargs(settings),
    )
    await start_client(producer, settings)
    await start_client(consumer, settings)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            if not batch:
                continue
            out = Outputs(producer)  # producer batches, not a future per row
            for tp, records in batch.items():
                for r in records:
                    if r.value is None:
                        continue  # tombstone: nothing to count
                    try:
                        state = codec.decode_as("MessageState", r.value)
                    except SchemaError as e:
                        stats.dead_letters += 1
                        rec = dead_letter("worker", e, topic=tp.topic, partition=tp.partition,
                                          offset=r.offset, key=r.key, payload=r.value)
                        out.add_keyed(topics.dead_letter, r.key, codec.encode("DeadLetter", rec))
                        continue
                    stats.states += 1
                    for row in delta_rows(state):  # the state's partition: keyed by umid too
                        out.add(deltas_topic, tp.partition, r.key, codec.encode("DailyDelta", row))
                        stats.rows += 1
            await asyncio.gather(*await out.send())  # raises if a row was not written: no commit
            try:
                await consumer.commit()
            except (CommitFailedError, KafkaError) as e:
                log.warning("deltas commit failed (will be reprocessed): %r", e)
    finally:
        await consumer.stop()
        await producer.stop()


async def serve_deltas(settings: Settings, stats_interval: float = 10.0) -> None:
    """``smsflow deltas``: :func:`run_deltas` until SIGTERM/SIGINT, a stats line every 10 s.

    A stop lets the current batch finish (rows acknowledged, offsets committed). A failed write
    raises (the process exits non-zero, its supervisor restarts it, the batch is redone).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stats = DeltaStats()

    async def report() -> None:
        while True:
            await asyncio.sleep(stats_interval)
            log.info(stats.line())

    reporter = asyncio.create_task(report())
    log.info("deltas starting group=%s bootstrap=%s", group_id(settings), settings.kafka_bootstrap)
    try:
        await run_deltas(settings, stop, stats)
    finally:
        reporter.cancel()
        log.info("stopped %s", stats.line())
