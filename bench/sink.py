"""Sink throughput: rows/s through Kafka -> sink -> ClickHouse vs a bare bulk insert of the rows.

    .venv/bin/python -m bench.sink --messages 20000

Produces MessageState records (2 versions per message: queued, then delivered
and priced) to fresh topics, runs the sink in-process until it committed everything, then
inserts the very same rows straight into another database in 10,000-row chunks. Prints both
rates and their ratio; asserts nothing. Uses the broker of SMSFLOW_BOOTSTRAP_SERVERS /
KAFKA_BOOTSTRAP_SERVERS when one is set, else starts a local broker in a temporary directory
(stopped at the end); chDB in a temporary directory unless SMSFLOW_CLICKHOUSE_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import Progress

from infra.broker import Broker
from schemas import get_codec
from schemas.codec import money
from sinks.migrate import migrate
from sinks.rows import TABLES, rows_for_record
from sinks.sink import group_id, run_sink
from smsflow.clickhouse import ClickHouse, connect
from smsflow.config import Settings, load_settings
from smsflow.kafka_client import aiokafka_kwargs, start_client
from smsflow.topics import create_topics

console = Console(stderr=True)
MEASURES = ("total", "received", "sent", "delivered", "undelivered", "rejected", "chargeable",
            "segments", "verification_sent", "verification_converted", "replies", "inbound",
            "survey_answered", "clicked")


def _contribution(day: dt.date, state: str, price: Decimal | None) -> dict[str, Any]:
    c: dict[str, Any] = dict.fromkeys(MEASURES, 0)
    c.update(day=day, subaccount_id="SA-1", country="SG", operator="SingTel", origin="HTTP_API",
             encoding="GSM7", campaign_id="", currency="EUR" if price else "", total=1,
             chargeable=1, segments=1, cost=price or money(0))
    c["received" if state == "queued" else "delivered"] = 1
    c["sent"] = int(state == "delivered")
    return c


def records(n: int) -> list[tuple[str, str, str, dict[str, Any]]]:
    """``(kind, umid, schema, record)`` for ``n`` messages: 2 states each (the sink derives 3
    daily delta rows from them)."""
    out = []
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for i in range(n):
        umid = str(uuid.UUID(int=i + 1, version=4))
        at = base + dt.timedelta(seconds=i * 7)
        price = money(f"0.04{i % 1000:03d}")
        prev = None
        for version, state in ((1, "queued"), (2, "delivered")):
            c = _contribution(at.date(), state, price if state == "delivered" else None)
            st = {"umid": umid, "version": version, "direction": "OUTBOUND", "has_request": True,
                  "subaccount_id": "SA-1", "country": "SG", "operator": "SingTel",
                  "origin": "HTTP_API", "encoding": "GSM7", "sms_count": 1, "state": state,
                  "destination": "+6591234567", "source": "bench", "text": "hello",
                  "queued_at": at, "delivered_at": at if state == "delivered" else None,
                  "price_total": c["cost"] if state == "delivered" else None,
                  "currency": c["currency"] or None, "first_event_at": at,
                  "contribution": c, "previous_contribution": prev}
            out.append(("message_state", umid, "MessageState", st))
            prev = c
    return out


async def produce(settings: Settings, recs: list[tuple[str, str, str, dict[str, Any]]]) -> None:
    codec = get_codec(settings)
    topics = {"message_state": settings.topics.message_state}
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=20,
                                max_batch_size=256 * 1024, acks="all",
                                **aiokafka_kwargs(settings))
    await start_client(producer, settings)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("producing", total=len(recs))
            for i, (kind, umid, schema, rec) in enumerate(recs):
                await producer.send(topics[kind], codec.encode(schema, rec), key=umid.encode())
                if i % 5000 == 0:
                    progress.update(task, completed=i)
            await producer.flush()
    finally:
        await producer.stop()


async def committed_all(settings: Settings, total: int) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, **aiokafka_kwargs(settings)
    )
    await start_client(admin, settings)
    try:
        offsets = await admin.list_consumer_group_offsets(group_id(settings))
    except KafkaError:  # the group has no coordinator yet
        return False
    finally:
        await admin.close()
    return sum(m.offset for m in offsets.values() if m.offset > 0) >= total


async def sink_rate(settings: Settings, ch: ClickHouse, n_records: int) -> tuple[float, int]:
    stop = asyncio.Event()
    t0 = time.perf_counter()
    task = asyncio.create_task(run_sink(settings, stop, ch=ch))
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("sink", total=n_records)
        while not await committed_all(settings, n_records):
            if task.done():
                await task
            progress.update(bar, completed=ch.query("SELECT count() FROM messages").scalar())
            await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - t0
    stop.set()
    stats = await task
    return elapsed, sum(stats.rows.values())


def bare_rate(ch: ClickHouse, recs: list[tuple[str, str, str, dict[str, Any]]]) -> float:
    by_table: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    for i, (_, _, schema, rec) in enumerate(recs):
        for table, row in rows_for_record(schema, rec, topic="bench", partition=0, offset=i):
            by_table[table].append(row)
    t0 = time.perf_counter()
    for table, rows in by_table.items():
        for j in range(0, len(rows), 10_000):
            ch.insert(table, rows[j : j + 10_000])
    return time.perf_counter() - t0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main(messages: int, batch_size: int) -> None:
    base = load_settings()
    tmp = Path(tempfile.mkdtemp(prefix="smsflow-bench-"))
    broker: Broker | None = None
    explicit = bool(base.bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    bootstrap = base.kafka_bootstrap
    if not explicit:
        bs = Settings(home=tmp, kafka_port=_free_port(), kafka_controller_port=_free_port())
        console.print("starting a local Kafka broker for the benchmark ...")
        broker = Broker(bs)
        broker.up()
        bootstrap = broker.bootstrap
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        home=tmp, bootstrap_servers=bootstrap, topic_prefix=f"bench{tag}.",
        clickhouse_url=base.clickhouse_url, clickhouse_path=base.clickhouse_path or tmp / "ch",
        clickhouse_database=f"bench_{tag}", partitions=base.partitions,
        sink_batch_size=batch_size, sink_batch_ms=base.sink_batch_ms,
    )
    try:
        await create_topics(settings)
        recs = records(messages)
        console.print(f"{messages} messages -> {len(recs)} records; producing ...")
        await produce(settings, recs)
        ch = connect(settings)
        migrate(ch)
        elapsed, rows = await sink_rate(settings, ch, len(recs))
        bare_settings = settings.model_copy(update={"clickhouse_database": f"bare_{tag}"})
        bare = connect(bare_settings)
        migrate(bare)
        bare_s = bare_rate(bare, recs)
        sink_rps, bare_rps = rows / elapsed, rows / bare_s
        print(f"records consumed        {len(recs):>12,}")
        print(f"rows inserted           {rows:>12,}")
        print(f"sink (Kafka->ClickHouse) {sink_rps:>11,.0f} rows/s  ({elapsed:.2f} s, batch "
              f"{batch_size}, incl. group join)")
        print(f"bare bulk insert         {bare_rps:>11,.0f} rows/s  ({bare_s:.2f} s, 10k chunks)")
        print(f"ratio bare/sink          {bare_rps / sink_rps:>11.2f}x")
        for db in (ch, bare):
            db.command(f"DROP DATABASE IF EXISTS {db.database}")
    finally:
        if broker is not None:
            broker.down()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000, help="messages (5 records each)")
    ap.add_argument("--batch-size", type=int, default=10_000, help="sink batch size (records)")
    args = ap.parse_args()
    asyncio.run(main(args.messages, args.batch_size))
