"""Benchmark: stream worker events/s vs raw aiokafka consume + Avro decode on the same topics.

    .venv/bin/python -m bench.streams --messages 20000

Simulates ``--messages`` messages (all input kinds), produces them to fresh topics (prefix
``bench<tag>.``), then in the same run:

1. **raw**: a plain aiokafka consumer reads every input record (``getmany``) and decodes it
   with ``schemas.get_codec`` - the floor cost of getting the events into Python;
2. **worker**: one ``smsflow worker`` subprocess (memory store, as ``smsflow run`` starts it)
   processes the same topics; the clock runs
   from "worker ready" until its consumer group has committed every input record.

Prints the producer's rate and CPU (``produce_events`` in this process, timed with
``process_time``), both rates, their ratio, and the worker's CPU seconds (no assertions).
Uses the broker of ``SMSFLOW_BOOTSTRAP_SERVERS`` / ``KAFKA_BOOTSTRAP_SERVERS`` /
``SMSFLOW_KAFKA_PORT`` when one answers, else starts a temporary local broker and stops it at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console

from bench.e2e import cpu_seconds
from infra.broker import Broker, port_open
from schemas import get_codec
from shell.kafka_stats import KafkaStats
from simulator.simulation import SimConfig, produce_events, simulate
from smsflow import consumers
from smsflow.config import Settings, load_settings
from smsflow.kafka_client import aiokafka_kwargs, start_client
from smsflow.topics import ensure_topics
from tests.integration.workers import WorkerProcess

__all__ = ["main"]

console = Console(stderr=True)


async def raw_consume(settings: Settings, expected: int) -> float:
    """Seconds to getmany + decode ``expected`` input records with plain aiokafka."""
    codec = get_codec(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, max_poll_records=10_000,
                                **aiokafka_kwargs(settings))
    await start_client(consumer, settings)
    try:
        tps = [TopicPartition(t, p) for t in settings.topics.inputs()
               for p in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        t0 = time.perf_counter()
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                for r in records:
                    codec.decode(r.value)
                    seen += 1
        return time.perf_counter() - t0
    finally:
        await consumer.stop()


async def _wait_committed(settings: Settings, group: str, topics: list[str]) -> None:
    """Until ``group`` has committed every record of ``topics``: one long-lived client, read
    every 100 ms (a new admin client and consumer per read cost the bench's own CPU, on the
    cores the worker and the broker share, and ~0.3 s of resolution)."""
    stats = KafkaStats(settings)
    await stats.start()
    try:
        while True:
            if (await stats.read(topics, {group: topics})).lag.get(group, 1) == 0:
                return
            await asyncio.sleep(0.1)
    finally:
        await stats.stop()


def worker_run(settings: Settings) -> tuple[float, float]:
    """(seconds from ready to every input committed, worker CPU seconds in that time)."""
    w = WorkerProcess(settings, "bench").start()
    try:
        w.wait_ready()
        cpu0, t0 = cpu_seconds(w.pid), time.perf_counter()
        group = consumers.worker(settings).group
        with console.status("worker processing ..."):
            asyncio.run(_wait_committed(settings, group, settings.topics.inputs()))
        return time.perf_counter() - t0, cpu_seconds(w.pid) - cpu0
    finally:
        w.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(home: Path, bootstrap: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return load_settings(home=home, bootstrap_servers=bootstrap, topic_prefix=f"bench{tag}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    base = load_settings()
    broker: Broker | None = None
    home = Path(tempfile.mkdtemp(prefix="smsflow-bench-"))
    host, _, port = base.kafka_bootstrap.partition(":")
    if port_open(host, int(port or 9092)):
        bootstrap = base.kafka_bootstrap
    else:
        local = Settings(home=home, kafka_port=_free_port(), kafka_controller_port=_free_port())
        broker = Broker(local)
        with console.status("starting a temporary Kafka broker ..."):
            broker.up()
        bootstrap = broker.bootstrap
    try:
        settings = _settings(home, bootstrap)
        ensure_topics(settings)
        sim = simulate(SimConfig(messages=args.messages, seed=args.seed))
        n = len(sim.events)
        console.print(f"producing {n} events of {args.messages} messages to {bootstrap} ...")
        cpu0, t0 = time.process_time(), time.perf_counter()
        asyncio.run(produce_events(settings, sim.events, progress=True))
        produce_cpu, produce_s = time.process_time() - cpu0, time.perf_counter() - t0
        raw_s = asyncio.run(raw_consume(settings, n))
        worker_s, cpu_s = worker_run(settings)
    finally:
        if broker is not None:
            broker.down()
    raw_rate, worker_rate = n / raw_s, n / worker_s
    print(f"events                      {n}")
    print(f"producer (simulator)        {n / produce_s:10.0f} events/s  ({produce_s:.2f} s, "
          f"{produce_cpu:.1f} CPU s = {produce_cpu / n * 1e6:.0f} us/event)")
    print(f"raw aiokafka + Avro decode  {raw_rate:10.0f} events/s  ({raw_s:.2f} s)")
    print(f"smsflow worker              {worker_rate:10.0f} events/s  ({worker_s:.2f} s, "
          f"{cpu_s:.1f} CPU s = {cpu_s / n * 1e6:.0f} us/event)")
    print(f"ratio raw / worker          {raw_rate / worker_rate:10.1f}x")


if __name__ == "__main__":
    main()
