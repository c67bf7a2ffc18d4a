"""Settings by component (issue 22): every setting described and in one group, tuning values
with their measured reason, and each tuning setting reaching the code that uses it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shell.pipeline import default_workers
from sinks.sink import group_id, new_consumer
from smsflow import consumers
from smsflow.config import SETTING_GROUPS, TUNING, Settings
from streams.agents import install
from streams.app import WorkerOptions, create_app
from streams.feed import Feed


def test_every_setting_is_described_and_in_one_group_in_class_order() -> None:
    grouped = [name for _, names in SETTING_GROUPS.values() for name in names]
    assert len(grouped) == len(set(grouped)), "a setting in two groups"
    assert grouped == list(Settings.model_fields), "groups and the class's order differ"
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 10, f"{name}: no description"
    for group, (about, names) in SETTING_GROUPS.items():
        assert about and names, group


def test_tuning_settings_give_their_measured_reason_and_keep_their_values() -> None:
    assert TUNING <= set(Settings.model_fields)
    for name in TUNING:
        text = Settings.model_fields[name].description or ""
        assert "easured" in text, f"{name}: no measured reason (or 'not measured')"
    s = Settings()  # the values the code had as constants before they became settings
    assert (s.worker_fetch_min_bytes, s.worker_fetch_max_wait_ms) == (64 * 1024, 50)
    assert (s.sink_fetch_min_bytes, s.sink_fetch_max_wait_ms) == (128 * 1024, 100)
    assert (s.worker_max_poll_records, s.alignment_min_backlog) == (5000, 1000)
    assert (s.alignment_stall_seconds, s.orphan_resend_seconds) == (30.0, 600.0)
    assert (s.worker_queue_batches, s.worker_coalesce_batches, s.worker_send_ahead) == (8, 16, 2)
    assert (s.worker_gc_young_allocations, s.worker_memory_mib) == (50_000, 1024)
    assert (s.alert_catch_up_instants, s.simulator_in_flight, s.sink_batch_ms) == (16, 20_000, 500)
    assert (s.sink_state_batch_ms, s.kafka_jvm_options) == (400, "-XX:TieredStopAtLevel=1")


def test_tuning_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSFLOW_WORKER_FETCH_MIN_BYTES", "4096")
    monkeypatch.setenv("SMSFLOW_SINK_FETCH_MAX_WAIT_MS", "7")
    s = Settings()
    assert (s.worker_fetch_min_bytes, s.sink_fetch_max_wait_ms) == (4096, 7)
    with pytest.raises(ValueError, match="worker_fetch_min_bytes"):
        Settings(worker_fetch_min_bytes=0)


def test_one_place_names_the_consumer_groups() -> None:
    s = Settings(topic_prefix="t.")
    worker, sink = consumers.worker(s), consumers.sink(s)
    assert (worker.group, sink.group) == ("t.streams", "t.clickhouse-sink")
    assert group_id(s) == sink.group
    assert consumers.groups(s) == {
        worker.group: s.topics.worker_owned(), sink.group: s.topics.all()}


_TUNED = {"worker_fetch_min_bytes": 12_345, "worker_fetch_max_wait_ms": 77,
          "worker_max_poll_records": 321, "worker_queue_batches": 3,
          "alignment_min_backlog": 55, "alignment_stall_seconds": 9.0,
          "sink_fetch_min_bytes": 23_456, "sink_fetch_max_wait_ms": 88, "sink_batch_size": 432}


async def test_the_worker_consumer_and_batch_path_take_the_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", bootstrap_servers="127.0.0.1:1",
                        topic_prefix="cfg.", **_TUNED)  # type: ignore[arg-type]
    app = create_app(settings, WorkerOptions(datadir=tmp_path / "data"))
    assert app.conf.id == consumers.worker(settings).group == "cfg.streams"
    rt = install(app, settings)
    assert isinstance(app.feed, Feed) and app.feed.queue.maxsize == 3
    assert (rt.alignment.min_backlog, rt.alignment.stall_s) == (55, 9.0)
    consumer = app.consumer._thread._create_worker_consumer(app.consumer.transport)
    try:
        assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (12_345, 77)
        assert consumer._max_poll_records == 321
    finally:
        await consumer.stop()


async def test_the_sink_consumer_takes_the_settings() -> None:
    settings = Settings(bootstrap_servers="127.0.0.1:1", topic_prefix="cfg.", **_TUNED)  # type: ignore[arg-type]
    consumer = new_consumer(settings, settings.topics.all())
    try:
        assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (23_456, 88)
        assert consumer._max_poll_records == 432
        assert consumer._group_id == "cfg.clickhouse-sink"
    finally:
        await consumer.stop()


def test_run_counts_workers_by_the_memory_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(64)))  # cores: no limit
    assert default_workers(Settings(worker_memory_mib=64)) == 6  # one per partition
    assert default_workers(Settings(worker_memory_mib=1 << 40)) == 1  # no host has that much


def test_the_local_broker_starts_with_the_jvm_options(tmp_path: Path) -> None:
    from infra.broker import Broker

    cmd = Broker(Settings(home=tmp_path, kafka_jvm_options="-XX:TieredStopAtLevel=1 -Dx='a b'")
                 )._java_cmd("java", tmp_path, "kafka.Kafka")
    assert cmd[cmd.index("-XX:TieredStopAtLevel=1") + 1] == "-Dx=a b"
    assert "-XX:TieredStopAtLevel=1" not in Broker(Settings(
        home=tmp_path, kafka_jvm_options=""))._java_cmd("java", tmp_path, "kafka.Kafka")
