"""Smoke tests of the real parts: 1,000 records through the broker, rows through ClickHouse."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from smsflow.clickhouse import ClickHouse
from smsflow.config import Settings

pytestmark = pytest.mark.integration


async def test_thousand_records_round_trip(settings: Settings) -> None:
    topic = settings.topics.requests
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    await producer.start()
    try:
        for i in range(1000):
            await producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"{settings.topic_prefix}smoke",
    )
    await consumer.start()
    seen: dict[bytes, bytes] = {}
    try:
        while len(seen) < 1000:
            batch = await consumer.getmany(timeout_ms=2000)
            assert batch, f"broker stopped delivering after {len(seen)} records"
            for records in batch.values():
                for r in records:
                    assert r.key is not None and r.value is not None
                    seen[r.key] = r.value
        partitions = consumer.assignment()
    finally:
        await consumer.stop()
    assert len(seen) == 1000
    assert seen[b"k0"] == b"v0" and seen[b"k999"] == b"v999"
    assert len(partitions) == settings.partitions


def test_clickhouse_rows_round_trip(clickhouse: ClickHouse) -> None:
    clickhouse.command(
        "CREATE TABLE smoke (id UInt32, cost Decimal(18, 8), at DateTime64(6, 'UTC'), "
        "country LowCardinality(String)) ENGINE = MergeTree ORDER BY id"
    )
    at = dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    rows = [
        {"id": i, "cost": Decimal("0.0446592"), "at": at, "country": "SG" if i % 2 else "US"}
        for i in range(1000)
    ]
    clickhouse.insert("smoke", rows)
    res = clickhouse.query(
        "SELECT count(), sum(cost), max(at), uniqExact(country) FROM smoke WHERE id < {n:UInt32}",
        {"n": 1000},
    )
    assert res.rows == [(1000, Decimal("44.6592"), at, 2)]
