"""`smsflow simulate --produce` and `produce_events` against the real broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from schemas.codec import get_codec, load_schema
from simulator.simulation import (
    KINDS,
    SCHEMA_OF,
    SimConfig,
    load_truth,
    produce_events,
    simulate,
)
from smsflow.config import Settings
from smsflow.errors import SchemaError

pytestmark = pytest.mark.integration
SMSFLOW = str(Path(sys.executable).parent / "smsflow")
_DEFAULT = DefaultPartitioner()  # what a producer that picks the partition itself does


async def _read_all(settings: Settings) -> dict[str, list[tuple[bytes | None, bytes]]]:
    """Every record of every input topic, per kind, in partition order (partitions ascending);
    each keyed one in the partition the producer's default partitioner gives its key."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        by_topic = {getattr(settings.topics, k): k for k in KINDS}
        parts = list(range(settings.partitions))
        tps = [TopicPartition(t, p) for t in by_topic for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: dict[str, list[tuple[bytes | None, bytes]]] = {k: [] for k in KINDS}
        per_tp: dict[TopicPartition, list[tuple[bytes | None, bytes]]] = defaultdict(list)
        deadline = asyncio.get_running_loop().time() + 60
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            assert asyncio.get_running_loop().time() < deadline, "broker stopped delivering"
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                assert all(_DEFAULT(r.key, parts, parts) == tp.partition
                           for r in records if r.key is not None), tp
                per_tp[tp].extend((r.key, r.value) for r in records)
        for tp in sorted(per_tp, key=lambda tp: (tp.topic, tp.partition)):
            out[by_topic[tp.topic]].extend(per_tp[tp])
        return out
    finally:
        await consumer.stop()


def test_cli_produce_lands_every_record(settings: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSFLOW_")}
    env.update({"SMSFLOW_HOME": str(tmp_path / "home"),
                "SMSFLOW_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
                "SMSFLOW_TOPIC_PREFIX": settings.topic_prefix,
                "SMSFLOW_PARTITIONS": str(settings.partitions)})
    out = tmp_path / "sim"
    proc = subprocess.run(
        [SMSFLOW, "simulate", "--messages", "400", "--seed", "5", "--out", str(out),
         "--produce", "--bad-records", "2"],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    truth = load_truth(out)
    expected = {k: truth["meta"]["events"][k] + truth["invalid"][k] for k in KINDS}
    assert expected["requests"] == 402
    assert f"produced {sum(expected.values())} records" in proc.stderr

    got = asyncio.run(_read_all(settings))
    assert {k: len(v) for k, v in got.items()} == expected
    codec = get_codec(settings)
    for kind, records in got.items():
        bad = 0
        for key, value in records:
            try:
                rec = codec.decode_as(SCHEMA_OF[kind], value)
            except SchemaError:
                bad += 1
                continue
            assert key == rec["umid"].encode()
        assert bad == 2, kind


@pytest.mark.parametrize("in_flight", [20_000, 7])  # one chunk; many, two in flight at a time
async def test_produce_events_keeps_each_umids_order(settings: Settings, in_flight: int) -> None:
    sim = simulate(SimConfig(messages=300, seed=8, duplicate_rate=0.3, out_of_order_rate=0.3))
    settings = settings.model_copy(update={"simulator_in_flight": in_flight})
    counts = await produce_events(settings, sim.events, progress=False)
    assert counts == sim.counts()
    got = await _read_all(settings)
    codec = get_codec(settings)
    expected: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for kind, umid, rec in sim.events:
        defaults = {f["name"]: f["default"] for f in load_schema(SCHEMA_OF[kind])["fields"]
                    if "default" in f and f["name"] not in rec}  # e.g. a clean request's flags
        expected[(kind, umid)].append({**rec, **defaults})
    seen: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for kind, records in got.items():
        for key, value in records:
            assert key is not None
            seen[(kind, key.decode())].append(codec.decode_as(SCHEMA_OF[kind], value))
    assert seen == expected  # same records, and per umid and kind in delivery order
