"""The topic plan on a real broker: replication settings, and a cluster whose co-partitioned
topics disagree on partition counts is refused before anything starts."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable

import pytest

from smsflow.config import Settings
from smsflow.errors import InfraError
from smsflow.topics import check_topics, co_partitioned, create_topics, ensure_topics, topic_plan
from tests.e2e.harness import SMSFLOW, settings_env

pytestmark = pytest.mark.integration


def test_plan_created_and_checked(make_settings: Callable[..., Settings]) -> None:
    s = make_settings(create_topics=False)
    created = ensure_topics(s)
    assert sorted(created) == sorted(t.name for t in topic_plan(s))
    check = asyncio.run(check_topics(s))
    assert not check.errors and not check.missing and not check.warnings, check
    assert all(check.existing[n] == (6, 1) for n in created)
    assert set(co_partitioned(s)) >= set(s.topics.inputs()) | {s.topics.message_state}


def test_co_partitioned_counts_that_differ_are_refused(
    make_settings: Callable[..., Settings],
) -> None:
    s = make_settings(create_topics=False)
    receipts = s.topics.receipts
    asyncio.run(create_topics(s, {s.topics.requests: {}}))
    asyncio.run(create_topics(s, {receipts: {}}, partitions=4))  # made by someone else
    with pytest.raises(InfraError, match=f"different partition counts: .*{receipts}=4"):
        ensure_topics(s)
    assert asyncio.run(check_topics(s)).existing == {  # nothing created
        s.topics.requests: (6, 1), receipts: (4, 1)
    }
    proc = subprocess.run([*SMSFLOW, "infra", "topics"], env=settings_env(s),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "different partition counts" in proc.stderr
    proc = subprocess.run([*SMSFLOW, "run", "--workers", "1", "--no-receiver"],
                          env=settings_env(s), capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 1 and "different partition counts" in proc.stderr, proc.stderr


def test_partitions_other_than_configured_are_refused(
    make_settings: Callable[..., Settings],
) -> None:
    s = make_settings(create_topics=False)
    asyncio.run(create_topics(s, {s.topics.receipts: {}}, partitions=4))
    with pytest.raises(InfraError, match="have 4 partitions but SMSFLOW_PARTITIONS=6"):
        ensure_topics(s)


def test_replication_above_the_brokers_is_refused(
    make_settings: Callable[..., Settings],
) -> None:
    s = make_settings(create_topics=False, kafka_profile="production")
    assert (s.topic_replication, s.topic_min_isr) == (3, 2)
    with pytest.raises(InfraError, match="replication factor 3 needs 3 brokers"):
        ensure_topics(s)


def test_min_isr_above_replication_is_refused(
    make_settings: Callable[..., Settings],
) -> None:
    s = make_settings(create_topics=False, replication_factor=1, min_insync_replicas=2)
    with pytest.raises(InfraError, match=r"min\.insync\.replicas 2 exceeds the replication fac"):
        ensure_topics(s)
    assert not asyncio.run(check_topics(s)).existing  # nothing created
