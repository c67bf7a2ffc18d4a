"""Scale-out settings: replication profile, local cluster ports, default worker count."""

from __future__ import annotations

from pathlib import Path

import pytest

from shell import pipeline
from shell.pipeline import default_workers
from smsflow.config import Settings


def test_profiles() -> None:
    assert (Settings().topic_replication, Settings().topic_min_isr) == (1, 1)
    prod = Settings(kafka_profile="production")
    assert (prod.topic_replication, prod.topic_min_isr) == (3, 2)
    assert Settings(kafka_profile="production", replication_factor=5).topic_replication == 5
    assert Settings(replication_factor=2, min_insync_replicas=2).topic_min_isr == 2


def test_local_cluster_ports_never_overlap() -> None:
    one = Settings(kafka_port=9092, kafka_controller_port=9093)
    assert one.local_broker_ports() == [(9092, 9093)]
    assert one.kafka_bootstrap == "127.0.0.1:9092"
    three = Settings(kafka_port=9092, kafka_controller_port=9093, kafka_brokers=3)
    assert three.local_broker_ports() == [(9092, 9095), (9093, 9096), (9094, 9097)]
    assert three.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
    apart = Settings(kafka_port=19401, kafka_controller_port=19404, kafka_brokers=3)
    assert [c for _, c in apart.local_broker_ports()] == [19404, 19405, 19406]


def test_default_workers_fit_the_host() -> None:
    n = default_workers(Settings())
    assert 1 <= n <= 6
    assert default_workers(Settings(partitions=1)) == 1


@pytest.mark.parametrize(
    ("cores", "avail_mib", "partitions", "want"),
    [(2, 16000, 6, 1), (8, 16000, 6, 6), (8, 16000, 12, 7), (8, 3000, 6, 2), (1, 16000, 6, 1),
     (8, 500, 6, 1)],
)
def test_default_workers_cores_partitions_memory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    cores: int, avail_mib: int, partitions: int, want: int,
) -> None:
    """cores - 1 (the sink and broker need one), at most one per partition and per GiB."""
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal: 99999999 kB\nMemAvailable: {avail_mib * 1024} kB\n")
    monkeypatch.setattr(pipeline.os, "sched_getaffinity", lambda _pid: set(range(cores)))
    monkeypatch.setattr(pipeline, "Path", lambda _p: meminfo)
    assert default_workers(Settings(partitions=partitions)) == want
