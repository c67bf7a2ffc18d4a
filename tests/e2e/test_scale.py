"""Scale-out under faults, compared with the ground truth exactly (issue 21).

- a local 3-broker KRaft cluster (``infra.broker.Cluster``: 3 nodes, each broker and
  controller) with the production profile (RF 3, min ISR 2, acks=all): one broker SIGKILLed
  mid-stream and restarted later; separately the sink group's coordinator SIGKILLed while the
  sink lands and commits, and the worker group's while the worker commits;
- ``infra status`` finds the cluster; ``smsflow run`` starts while one broker is down;
- ``smsflow run --workers 3`` with one worker SIGKILLed mid-stream: the other two take its
  partitions (the consumer group's assignment is read from the broker) and the reports stay
  exact.

The traffic is a smaller simulation than the other e2e tests' (their faults are covered
there) to keep the suite lean; every fault happens while records are still arriving.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from infra.broker import Cluster
from simulator.config import SimConfig
from simulator.simulation import Simulation, simulate
from smsflow import consumers
from smsflow.config import Settings
from smsflow.errors import InfraError
from smsflow.topics import check_topics
from tests.e2e.harness import SMSFLOW, Pipeline
from tests.e2e.test_pipeline import (
    assert_flags_report_equals_truth,
    produce,
    run_to_truth,
    wait_until,
    worker_done,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sim_small() -> Simulation:
    return simulate(SimConfig(messages=3000, seed=20261130))


def _free_run(n: int) -> int:
    """First port of ``n`` consecutive free loopback ports."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + n >= 65535:
            continue
        ok = True
        for port in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError(f"no {n} consecutive free ports")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = _free_run(6)
    settings = Settings(
        home=tmp_path_factory.mktemp("kafka-cluster"), kafka_port=base,
        kafka_controller_port=base + 3, kafka_brokers=3, kafka_heap="512m",
    )
    c = Cluster(settings)
    try:
        c.up(timeout=180)
        yield c
    finally:
        c.down(kill=True)


def _cluster_pipeline(pipeline_factory: Any, cluster: Cluster, **kw: Any) -> Pipeline:
    return pipeline_factory(  # type: ignore[no-any-return]
        bootstrap_servers=cluster.bootstrap, kafka_profile="production", **kw
    )


def _sigkill(cluster: Cluster, node_id: int) -> None:
    pid = cluster.node(node_id).pid()
    assert pid, f"broker {node_id} is not running"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while cluster.node(node_id).pid() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cluster.node(node_id).pid() is None


def _to_truth(p: Pipeline, sim: Simulation) -> None:
    """Every report equals the truth: the shared set (clicks, engage and logs included), plus
    flags."""
    run_to_truth(p, sim)
    assert_flags_report_equals_truth(p, sim)


def _no_dead_letters(p: Pipeline) -> None:
    prog = p.progress()
    assert prog["end_offsets"][p.settings.topics.dead_letter] == 0, prog


async def _describe(settings: Settings) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        return await admin.describe_topics(settings.topics.all()), await admin.describe_cluster()
    finally:
        await admin.close()


async def _coordinator(settings: Settings, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        return int(await admin.find_coordinator(group))
    finally:
        await admin.close()


def test_production_profile_topics_on_three_brokers(
    cluster: Cluster, pipeline_factory: Any
) -> None:
    p = _cluster_pipeline(pipeline_factory, cluster)
    topics, meta = asyncio.run(_describe(p.settings))
    assert len(meta["brokers"]) == 3
    for t in topics:
        assert len(t["partitions"]) == 6, t["topic"]
        assert {len(part["replicas"]) for part in t["partitions"]} == {3}, t["topic"]
    # the worker's own topics too, and min.insync.replicas 2 on each (else a warning)
    check = asyncio.run(check_topics(p.settings))
    assert not (check.errors or check.warnings or check.missing), check
    assert set(check.existing.values()) == {(6, 3)} and len(check.existing) == 12, check


def test_infra_status_finds_the_cluster(cluster: Cluster) -> None:
    # `infra up --brokers 3` recorded the cluster in SMSFLOW_HOME: status shows its 3 nodes
    # also without SMSFLOW_KAFKA_BROKERS=3 (it used to say "kafka down" for a single broker)
    s = cluster.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSFLOW_")}
    env.update(SMSFLOW_HOME=str(s.home), SMSFLOW_KAFKA_PORT=str(s.kafka_port),
               SMSFLOW_KAFKA_CONTROLLER_PORT=str(s.kafka_controller_port))
    proc = subprocess.run([*SMSFLOW, "infra", "status"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [ln.split(":")[0] for ln in proc.stdout.splitlines()] == ["kafka up"] * 3, proc.stdout


def test_broker_sigkilled_mid_stream_and_restarted(
    sim_small: Simulation, cluster: Cluster, pipeline_factory: Any
) -> None:
    p = _cluster_pipeline(pipeline_factory, cluster)
    p.start()
    third = len(sim_small.events) // 3
    produce(p, sim_small.events[:third])
    wait_until(p, lambda prog: worker_done(prog, p) >= 0.3)
    _sigkill(cluster, 2)
    produce(p, sim_small.events[third:2 * third])  # RF 3 / min ISR 2: writes go on
    wait_until(p, lambda prog: (prog.get("messages_landed") or 0) > 0)
    time.sleep(5)  # the pipeline works on two brokers for a while
    back = cluster.node(2).start()  # restarted while the last third is produced
    produce(p, sim_small.events[2 * third:])
    cluster.node(2).wait_started(back, timeout=120)
    p.wait_caught_up(int(sim_small.truth["messages"]))
    _no_dead_letters(p)
    _to_truth(p, sim_small)


@pytest.mark.parametrize(
    ("group_of", "catch_up_s"),
    [(consumers.sink, 600.0), (consumers.worker, 240.0)],
    ids=["sink-commits", "worker-group-coordinator"],
)
def test_broker_sigkilled_while_it_coordinates_a_group(
    sim_small: Simulation, cluster: Cluster, pipeline_factory: Any,
    group_of: Any, catch_up_s: float,
) -> None:
    # the broker taking the group's commits dies mid-stream; everything is produced first, so
    # nothing newer arrives to set a stalled consumer going again
    p = _cluster_pipeline(pipeline_factory, cluster, sink_batch_size=300)
    p.start()
    produce(p, sim_small.events)
    total = int(sim_small.truth["messages"])
    landed = wait_until(
        p, lambda prog: 0 < (prog.get("messages_landed") or 0) < total // 2
    )["messages_landed"]
    node = asyncio.run(_coordinator(p.settings, group_of(p.settings).group))
    _sigkill(cluster, node)
    wait_until(p, lambda prog: (prog.get("messages_landed") or 0) > landed, timeout=120)
    back = cluster.node(node).start()
    p.wait_caught_up(total, timeout=catch_up_s)
    cluster.node(node).wait_started(back, timeout=120)
    _no_dead_letters(p)
    _to_truth(p, sim_small)


def test_start_while_a_broker_is_down(cluster: Cluster, pipeline_factory: Any) -> None:
    # a worker restarted (or `smsflow run` started) during a broker outage checks the topics
    # first: RF 3 topics that all exist are fine with 2 live brokers (a warning, not a refusal)
    p = _cluster_pipeline(pipeline_factory, cluster)
    _sigkill(cluster, 3)
    # until the controller fences it; each broker learns that from the metadata log on its
    # own, so ask the topic check itself (its metadata may come from a broker that lags)
    deadline, check = time.monotonic() + 60, None
    while check is None or check.brokers > 2:
        assert time.monotonic() < deadline, f"the cluster still lists the killed broker: {check}"
        time.sleep(0.5)
        try:
            check = asyncio.run(check_topics(p.settings, timeout=10))
        except (KafkaError, InfraError):  # asked the killed broker
            pass
    assert not check.errors and any("2 broker(s)" in w for w in check.warnings), check
    p.start()
    assert len(_stable_assignment(p, 1)) == 1  # the worker passed its topic check and joined
    _, health = p.client.health()
    assert health["components"]["worker-0"]["restarts"] == 0, health
    assert p.stop() == 0, p.tail()
    back = cluster.node(3).start()
    cluster.node(3).wait_started(back, timeout=120)


# ------------------------------------------------------------------ --workers 3
async def _assignment(settings: Settings) -> dict[str, set[tuple[str, int]]]:
    """Member id -> input-topic partitions of the worker group, as the broker has them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [resp] = await admin.describe_consumer_groups([consumers.worker(settings).group])
    finally:
        await admin.close()
    inputs = set(settings.topics.inputs())
    [group] = resp.groups
    if group[2] != "Stable":
        return {}
    out: dict[str, set[tuple[str, int]]] = {}
    for member in group[5]:
        member_id, raw = member[0], member[-1]
        tps: set[tuple[str, int]] = set()
        if raw:
            for topic, parts in ConsumerProtocolMemberAssignment.decode(raw).assignment:
                tps |= {(topic, p) for p in parts if topic in inputs}
        out[member_id] = tps
    return out


def _stable_assignment(
    p: Pipeline, members: int, timeout: float = 120.0
) -> dict[str, set[tuple[str, int]]]:
    want = {(t, i) for t in p.settings.topics.inputs() for i in range(p.settings.partitions)}
    deadline = time.monotonic() + timeout
    last: dict[str, set[tuple[str, int]]] = {}
    while time.monotonic() < deadline:
        try:
            last = asyncio.run(_assignment(p.settings))
        except Exception as e:  # coordinator moving: ask again
            last = {"error": {(repr(e), 0)}}
        if len(last) == members and set().union(*last.values()) == want:
            return last
        time.sleep(0.5)
    raise AssertionError(f"no stable assignment with {members} members: {last}\n{p.tail()}")


def test_three_workers_one_sigkilled(sim_small: Simulation, pipeline_factory: Any) -> None:
    # the killed worker comes back only after the group has moved its partitions
    p = pipeline_factory(workers=3, restart_backoff_seconds=20)
    p.start()
    half = len(sim_small.events) // 2
    produce(p, sim_small.events[:half])
    before = _stable_assignment(p, 3)
    assert all(before.values()), before  # every worker owns input partitions
    wait_until(p, lambda prog: worker_done(prog, p) >= 0.3)
    pid = p.running_pid("worker-1")
    assert pid
    os.kill(pid, signal.SIGKILL)
    produce(p, sim_small.events[half:])  # mid-stream: half the traffic is still to come
    after = _stable_assignment(p, 2)
    gone = set(before) - set(after)
    assert len(gone) == 1 and set(after) <= set(before), (before, after)
    [dead] = gone
    moved = before[dead]
    assert moved and moved <= set().union(*after.values()), (before, after)
    _no_dead_letters_when_caught_up(p, sim_small)


def _no_dead_letters_when_caught_up(p: Pipeline, sim: Simulation) -> None:
    p.wait_caught_up(int(sim.truth["messages"]))
    _no_dead_letters(p)
    _, health = p.client.health()
    assert health["components"]["worker-1"]["restarts"] >= 1, health
    _to_truth(p, sim)
