"""Reading back what tests produced: the first n records of a topic, or its record count."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition

from smsflow.config import Settings
from smsflow.kafka_client import aiokafka_kwargs

__all__ = ["consume", "count_records"]


async def consume(settings: Settings, topic: str, n: int) -> list[ConsumerRecord[bytes, bytes]]:
    """The first ``n`` records of ``topic`` (all partitions); fails if fewer arrive."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        **aiokafka_kwargs(settings),
    )
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        for _ in range(30):
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                out.extend(records)
            if len(out) >= n:
                # one more poll: nothing beyond n may be there
                extra = await consumer.getmany(timeout_ms=500)
                out.extend(r for rs in extra.values() for r in rs)
                break
    finally:
        await consumer.stop()
    assert len(out) == n, f"{topic}: expected {n} records, got {len(out)}"
    return out


async def count_records(settings: Settings, topic: str) -> int:
    """Records ever written to ``topic`` (sum of end offsets of all its partitions)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, **aiokafka_kwargs(settings)
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(parts)
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()
