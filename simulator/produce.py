"""Produce simulator events to the broker: input topics, key = umid bytes, Avro values."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn

from schemas.codec import get_codec
from simulator.config import KINDS, SCHEMA_OF
from simulator.events import Event
from simulator.files import BadRecord
from smsflow.config import Settings
from smsflow.errors import InfraError
from smsflow.kafka_client import aiokafka_kwargs, start_client
from smsflow.producer_batches import Outputs, key_partition

__all__ = ["produce_events"]


async def produce_events(
    settings: Settings,
    events: Sequence[Event],
    *,
    bad: Iterable[BadRecord] = (),
    progress: bool = True,
    ack_timeout: float = 60.0,
) -> dict[str, int]:
    """Produce every event (then the invalid records) in order; return records per kind.

    Each record goes to ``settings.topics.<kind>`` with key ``umid.encode()`` and value
    ``codec.encode(schema, record)``, the partition the default partitioner gives the key, sent
    as producer batches (:mod:`smsflow.producer_batches`); invalid records go out as their raw
    bytes, partitioned by the producer. Returns only
    when the broker acknowledged everything (idempotent producer, ``acks=all``). Raises
    :class:`~smsflow.errors.SchemaError` when a record does not fit its schema (before it is
    sent) and :class:`~smsflow.errors.InfraError` when the broker is unreachable or does not
    acknowledge within ``ack_timeout``.
    """
    codec = get_codec(settings)
    topics = {k: getattr(settings.topics, k) for k in KINDS}
    bad = list(bad)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, client_id="smsflow-simulator", acks="all",
        enable_idempotence=True, linger_ms=20, max_batch_size=512 * 1024,
        request_timeout_ms=int(ack_timeout * 1000), **aiokafka_kwargs(settings),
    )
    try:
        await start_client(producer, settings, timeout=ack_timeout)
    except InfraError:
        await producer.stop()
        raise
    counts: Counter[str] = Counter()
    total = len(events) + len(bad)
    bar, task = _bar(progress, total)
    out = Outputs(producer)
    in_flight: list[tuple[list[asyncio.Future[Any]], int]] = []  # sent chunks: acks, records
    chunk = max(1, settings.simulator_in_flight // 2)  # one chunk filled while one is in flight

    async def drain(keep: int) -> None:
        """Send the chunk filled, then wait until at most ``keep`` sent chunks are not
        acknowledged (1: encoding goes on while the broker writes; 0: at the end)."""
        nonlocal out
        sent, out = out, Outputs(producer)
        in_flight.append((await sent.send(), sent.records))
        while len(in_flight) > keep:
            acks, n = in_flight.pop(0)
            try:
                await asyncio.wait_for(asyncio.gather(*acks), ack_timeout)
            except (KafkaError, TimeoutError) as e:
                raise InfraError(f"Kafka did not acknowledge simulator records: {e!r}") from e
            if bar is not None:
                bar.advance(task, n)

    try:
        partitions = {k: len(await producer.partitions_for(t)) for k, t in topics.items()}
        for kind, umid, record in events:
            value, key = codec.encode(SCHEMA_OF[kind], record), umid.encode()
            out.add(topics[kind], key_partition(key, partitions[kind]), key, value)
            counts[kind] += 1
            if out.records >= chunk:
                await drain(keep=1)
        for b in bad:
            out.add_keyed(topics[b.kind], b.key, b.payload(codec))
            counts[b.kind] += 1
        await drain(keep=0)
    except KafkaError as e:
        raise InfraError(f"Kafka refused a simulator record: {e!r}") from e
    finally:
        if bar is not None:
            bar.stop()
        await producer.stop()
    return {k: counts[k] for k in KINDS}


def _bar(enabled: bool, total: int) -> tuple[Progress | None, TaskID]:
    if not enabled:
        return None, TaskID(0)

    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True))
    task = bar.add_task("producing to Kafka", total=total)
    bar.start()
    return bar, task
