from __future__ import annotations

import pytest

from smsflow.config import Settings


def test_env_prefix_and_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSFLOW_TOPIC_PREFIX", "x.")
    monkeypatch.setenv("SMSFLOW_PARTITIONS", "3")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    s = Settings()
    assert s.partitions == 3
    assert s.topics.requests == "x.send-requests"
    assert s.topics.message_state in s.topics.compacted()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert len(set(s.topics.all())) == 8  # six inputs, message-state, dead-letter


def test_explicit_bootstrap_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "h:1")
    assert Settings().kafka_bootstrap == "h:1"
    assert Settings(bootstrap_servers="h:2").kafka_bootstrap == "h:2"
