"""Topic end offsets and consumer-group lag, for progress bars, health and metrics."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from smsflow.config import Settings
from smsflow.kafka_client import aiokafka_kwargs, start_client

__all__ = ["KafkaStats", "TopicStats"]


@dataclass(frozen=True)
class TopicStats:
    end_offsets: dict[str, int]  # topic -> sum of end offsets over partitions (records written)
    lag: dict[str, int]  # group -> records not yet committed by that group (over its topics)


class KafkaStats:
    """A long-lived admin client and offset reader; call :meth:`read` as often as needed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Connect; :class:`~smsflow.errors.InfraError` (one line) when Kafka cannot be reached
        or rejects the credentials."""
        s = self.settings
        self._admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, **aiokafka_kwargs(s))
        await start_client(self._admin, s)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap, enable_auto_commit=False, **aiokafka_kwargs(s)
        )
        await start_client(self._consumer, s)

    async def stop(self) -> None:
        if self._consumer:
            await self._consumer.stop()
        if self._admin:
            await self._admin.close()

    async def end_offsets(self, topics: list[str]) -> dict[TopicPartition, int]:
        assert self._consumer is not None and self._admin is not None, "start() first"
        tps = [
            TopicPartition(desc["topic"], part["partition"])
            for desc in await self._admin.describe_topics(topics)
            if not desc.get("error_code")
            for part in desc["partitions"]
        ]
        return await self._consumer.end_offsets(tps) if tps else {}

    async def read(self, topics: list[str], groups: dict[str, list[str]]) -> TopicStats:
        """End offsets of ``topics`` and the lag of each group over the topics it consumes
        (``groups``: group id -> its topics; partitions it never committed count whole)."""
        ends = await self.end_offsets(topics)
        per_topic: dict[str, int] = {t: 0 for t in topics}
        for tp, off in ends.items():
            per_topic[tp.topic] += off
        lag: dict[str, int] = {}
        assert self._admin is not None
        for g, consumed in groups.items():
            try:
                committed = await self._admin.list_consumer_group_offsets(g)
            except KafkaError:
                continue
            total = 0
            for tp, end in ends.items():
                if tp.topic not in consumed:
                    continue
                meta = committed.get(tp)
                total += end - (meta.offset if meta is not None and meta.offset >= 0 else 0)
            lag[g] = total
        return TopicStats(per_topic, lag)

    async def partition_lag(self, group: str, topics: list[str]) -> dict[str, tuple[int, int]]:
        """``"topic[partition]" -> (committed, end)`` of ``group`` for every partition of
        ``topics`` it has not consumed to the end (committed -1: never committed)."""
        assert self._admin is not None, "start() first"
        ends = await self.end_offsets(topics)
        committed = await self._admin.list_consumer_group_offsets(group)
        out: dict[str, tuple[int, int]] = {}
        for tp, end in sorted(ends.items()):
            meta = committed.get(tp)
            c = meta.offset if meta is not None else -1
            if c < end:
                out[f"{tp.topic}[{tp.partition}]"] = (c, end)
        return out
