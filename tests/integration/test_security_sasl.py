"""Every component through a SASL_PLAINTEXT / SCRAM-SHA-512 listener of a second local broker.

The broker (``infra.broker`` with ``kafka_sasl_scram``) runs in its own temporary home on free
ports and is stopped at the end of the module. Clients only know the SASL port: topic creation,
the producer library, the receiver, the simulator's produce, the sink and KafkaStats all
authenticate; wrong credentials give the one-line error.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from infra.broker import Broker
from producers.send import SendProducer
from producers.webhooks import create_app
from schemas import get_codec
from shell.kafka_stats import KafkaStats
from simulator.config import KINDS, SimConfig
from simulator.produce import produce_events
from simulator.simulation import simulate
from sinks.migrate import migrate
from sinks.sink import run_sink
from smsflow.clickhouse import ClickHouse
from smsflow.config import Settings
from smsflow.errors import InfraError
from smsflow.kafka_client import aiokafka_kwargs
from smsflow.topics import ensure_topics, topic_plan
from tests.e2e.harness import free_port, settings_env
from tests.integration.test_webhooks import DLR

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
USER = "smsflow"
PASSWORD = "sasl-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A local broker with a SCRAM-SHA-512 listener; yields the settings that started it."""
    s = Settings(
        home=tmp_path_factory.mktemp("sasl-broker"),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        kafka_sasl_port=free_port(),
        kafka_sasl_scram=True,
        kafka_sasl_username=USER,
        kafka_sasl_password=PASSWORD,  # type: ignore[arg-type]
        kafka_heap="512m",
    )
    broker = Broker(s)
    broker.up()
    try:
        yield s
    finally:
        broker.down()


def _client_settings(broker: Settings, home: Path, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "home": home / f"sasl-{tag}",
        "bootstrap_servers": f"127.0.0.1:{broker.kafka_sasl_port}",
        "topic_prefix": f"s{tag}.",
        "kafka_security_protocol": "SASL_PLAINTEXT",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": USER,
        "kafka_sasl_password": PASSWORD,
        "partitions": 3,
    }
    values.update(overrides)
    s = Settings(**values)
    s.home.mkdir(parents=True, exist_ok=True)
    return s


async def _read_all(settings: Settings, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, group_id=None,
        **aiokafka_kwargs(settings),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[Any] = []
        while any([await consumer.position(tp) < end[tp] for tp in tps]):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


def test_every_component_connects_through_sasl_scram(
    sasl_broker: Settings, tmp_path: Path, clickhouse: ClickHouse
) -> None:
    settings = _client_settings(sasl_broker, tmp_path)
    created = ensure_topics(settings)  # the admin client authenticates too
    assert sorted(created) == sorted(t.name for t in topic_plan(settings))  # + worker topics
    sim = simulate(SimConfig(messages=40, seed=11))

    async def run() -> None:
        produced = await produce_events(settings, sim.events, progress=False)
        assert produced == {k: sim.truth["meta"]["events"][k] for k in KINDS}

        async with SendProducer(settings, ack_timeout=15) as producer:
            record, _ = await producer.send_request(
                {"destination": "+6591234567", "text": "hello", "subAccountId": "sasl"}
            )
            app = create_app(settings, producer)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://receiver"
            ) as client:
                resp = await client.post("/webhooks/dlr", content=DLR)
                assert resp.status_code == 202, resp.text

        expected = dict(produced)
        expected["requests"] += 1
        expected["receipts"] += 1
        stats = KafkaStats(settings)
        await stats.start()
        try:
            topics = [getattr(settings.topics, k) for k in KINDS]
            got = await stats.read(topics, {})
        finally:
            await stats.stop()
        assert got.end_offsets == {getattr(settings.topics, k): expected[k] for k in KINDS}

        requests = await _read_all(settings, settings.topics.requests)
        keys = {r.key for r in requests}
        assert record["umid"].encode() in keys and len(requests) == expected["requests"]

        migrate(clickhouse)  # (run_sink does it too; the polling below needs the tables now)
        stop = asyncio.Event()
        sink = asyncio.create_task(run_sink(settings, stop, ch=clickhouse))
        total = sum(expected.values())
        landed = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not sink.done():
            landed = int(clickhouse.query("SELECT count() FROM message_events FINAL").scalar())
            if landed >= total:
                break
            await asyncio.sleep(0.5)
        stop.set()
        await sink
        assert landed == total

    asyncio.run(run())


def test_wrong_credentials_fail_with_one_line(sasl_broker: Settings, tmp_path: Path) -> None:
    settings = _client_settings(sasl_broker, tmp_path, kafka_sasl_password="not-the-password")
    want = (
        f"Kafka at 127.0.0.1:{sasl_broker.kafka_sasl_port} rejected the credentials "
        f"(SASL SCRAM-SHA-512, user '{USER}')"
    )

    async def run() -> None:
        with pytest.raises(InfraError) as err:
            async with SendProducer(settings, ack_timeout=15):
                pass
        assert str(err.value) == want
        stats = KafkaStats(settings)
        with pytest.raises(InfraError) as err2:
            await stats.start()
        await stats.stop()
        assert str(err2.value) == want

    asyncio.run(run())

    # the CLI: exit code 1, the one line last on stderr, no traceback, no password
    path = tmp_path / "requests.jsonl"
    path.write_text(json.dumps({"destination": "+6591234567", "text": "hi"}) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "smsflow", "produce", "requests", str(path)],
        env=settings_env(settings), capture_output=True, text=True, timeout=120, cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == f"error: {want}"
    assert "Traceback" not in proc.stderr and "not-the-password" not in proc.stderr


_WIRED = "faust_broker_kwargs" in (ROOT / "streams" / "app.py").read_text()


@pytest.mark.skipif(
    not _WIRED, reason="LEAD: enable by using faust_broker_kwargs(settings) in streams/app.py"
)
def test_faust_worker_through_sasl_scram(sasl_broker: Settings, tmp_path: Path) -> None:
    """Needs only ``faust.App(..., **faust_broker_kwargs(settings))`` in streams/app.py (and the
    deltas consumer built with ``aiokafka_kwargs``)."""
    settings = _client_settings(sasl_broker, tmp_path)
    ensure_topics(settings)
    sim = simulate(SimConfig(messages=30, seed=5))
    log = settings.home / "worker.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from shell.worker_cli import main; main()",
             "--datadir", str(settings.home / "worker"), "--no-web", "--store", "memory"],
            cwd=ROOT, env=settings_env(settings), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        asyncio.run(produce_events(settings, sim.events, progress=False))
        codec = get_codec(settings)
        deadline = time.monotonic() + 120
        umids: set[str] = set()
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            states = asyncio.run(_read_all(settings, settings.topics.message_state))
            umids = {
                st["umid"] for st in (codec.decode_as("MessageState", r.value) for r in states)
                if st["direction"] == "OUTBOUND" and st["has_request"]
            }
            if len(umids) >= sim.truth["messages"]:
                break
            time.sleep(1)
        assert len(umids) == sim.truth["messages"]
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
