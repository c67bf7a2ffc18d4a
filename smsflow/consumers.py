"""The consumer group and the consumer settings of every component, in one place.

Each component that reads Kafka as a consumer group has one :class:`ConsumerSpec` here: its
group name, the topics the group commits (what its lag counts) and its consumer settings.
Every user takes them from here - the worker's Faust app (:mod:`streams.app`, its consumer
thread in :mod:`streams.compat`), the sink's aiokafka consumer (:mod:`sinks.sink`), the lag of
``smsflow run`` (ops API, metrics, the alert backlog guard, ``demo``'s progress bars) and the
tests. The tunable values (fetch sizes and waits, records per poll) are settings
(:mod:`smsflow.config`, group ``worker`` / ``sink``), each with its measured reason.

Group names are derived from ``topic_prefix`` (one pipeline per prefix on a cluster):

* ``<prefix>streams`` - the stream worker(s) (the Faust app id);
* ``<prefix>clickhouse-sink`` - the ClickHouse sink.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from smsflow.config import Settings

__all__ = ["ConsumerSpec", "groups", "sink", "specs", "worker"]

Component = Literal["worker", "sink"]


@dataclass(frozen=True)
class ConsumerSpec:
    """One component's consumer group and consumer settings (aiokafka names and units)."""

    component: Component
    group: str
    topics: tuple[str, ...]  # topics the group commits: its lag is counted over them
    fetch_min_bytes: int
    fetch_max_wait_ms: int
    max_poll_records: int
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int | None = None  # None: the client's default
    auto_offset_reset: str = "earliest"

    def fetch_kwargs(self) -> dict[str, int]:
        """``fetch_min_bytes`` / ``fetch_max_wait_ms`` as aiokafka keyword arguments."""
        return {"fetch_min_bytes": self.fetch_min_bytes,
                "fetch_max_wait_ms": self.fetch_max_wait_ms}

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``AIOKafkaConsumer`` (group, offsets, polling, fetching; not
        the connection's security: :func:`smsflow.kafka_client.aiokafka_kwargs`)."""
        out: dict[str, Any] = {
            "group_id": self.group,
            "enable_auto_commit": False,
            "auto_offset_reset": self.auto_offset_reset,
            "max_poll_records": self.max_poll_records,
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            **self.fetch_kwargs(),
        }
        if self.max_poll_interval_ms is not None:
            out["max_poll_interval_ms"] = self.max_poll_interval_ms
        return out


def worker(settings: Settings) -> ConsumerSpec:
    """The stream worker: Faust app id = group ``<prefix>streams``; it commits its inputs and
    its own control and pairs topics."""
    return ConsumerSpec(
        component="worker",
        group=f"{settings.topic_prefix}streams",
        topics=tuple(settings.topics.worker_owned()),
        fetch_min_bytes=settings.worker_fetch_min_bytes,
        fetch_max_wait_ms=settings.worker_fetch_max_wait_ms,
        max_poll_records=settings.worker_max_poll_records,
    )


def sink(settings: Settings) -> ConsumerSpec:
    """The ClickHouse sink: group ``<prefix>clickhouse-sink`` over the input, derived and
    dead-letter topics; a poll returns at most one batch (``sink_batch_size``)."""
    t = settings.topics
    return ConsumerSpec(
        component="sink",
        group=f"{settings.topic_prefix}clickhouse-sink",
        topics=(*t.inputs(), *t.derived(), t.dead_letter),
        fetch_min_bytes=settings.sink_fetch_min_bytes,
        fetch_max_wait_ms=settings.sink_fetch_max_wait_ms,
        max_poll_records=settings.sink_batch_size,
        max_poll_interval_ms=600_000,  # as before this module; the value was not measured
    )


def specs(settings: Settings) -> list[ConsumerSpec]:
    """Every component's spec, in pipeline order (worker, sink)."""
    return [worker(settings), sink(settings)]


def groups(settings: Settings) -> dict[str, list[str]]:
    """Consumer group -> the topics it commits, of every component (the pipeline's lag)."""
    return {s.group: list(s.topics) for s in specs(settings)}
