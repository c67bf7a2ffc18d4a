"""Create the project's topics idempotently (input, derived, dead-letter)."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from smsflow.config import Settings
from smsflow.errors import InfraError
from smsflow.kafka_client import aiokafka_kwargs, describe_failure

__all__ = ["create_topics", "ensure_topics", "topic_configs"]


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Per-topic configs: the state topic is compacted, the dead-letter topic has its retention."""
    t = settings.topics
    configs: dict[str, dict[str, str]] = {name: {} for name in t.all()}
    for name in t.compacted():
        configs[name] = {
            "cleanup.policy": "compact",
            # keep every version for a day so downstream readers that lag still see each change
            "min.compaction.lag.ms": str(24 * 3600 * 1000),
        }
    configs[t.dead_letter] = {"retention.ms": str(settings.dead_letter_retention_ms)}
    return configs


async def create_topics(
    settings: Settings,
    names: dict[str, dict[str, str]] | None = None,
    *,
    partitions: int | None = None,
    timeout: float = 30.0,  # noqa: ASYNC109 - also the admin client's request timeout
) -> list[str]:
    """Create missing topics; return the names created. Existing topics are left alone."""
    wanted = names if names is not None else topic_configs(settings)
    nparts = partitions or settings.partitions
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=int(timeout * 1000),
        **aiokafka_kwargs(settings),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
    except (KafkaError, OSError, TimeoutError) as e:
        await admin.close()
        raise InfraError(await describe_failure(settings, e)) from e
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in wanted if n not in existing]
        if missing:
            new = [
                NewTopic(name=n, num_partitions=nparts, replication_factor=1,
                         topic_configs=wanted[n])
                for n in missing
            ]
            try:
                await admin.create_topics(new, timeout_ms=int(timeout * 1000))
            except TopicAlreadyExistsError:
                pass
        # wait until metadata shows every topic (creation is asynchronous on the controller)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while set(wanted) - set(await admin.list_topics()):
            if loop.time() > deadline:
                raise InfraError(f"topics not visible after {timeout:.0f}s: {missing}")
            await asyncio.sleep(0.2)
        return missing
    finally:
        await admin.close()


def ensure_topics(settings: Settings, **kwargs: object) -> list[str]:
    """Synchronous wrapper of :func:`create_topics` for the CLI and fixtures."""
    return asyncio.run(create_topics(settings, **kwargs))  # type: ignore[arg-type]
