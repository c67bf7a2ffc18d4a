"""The project's topics: the plan (partitions, replication, configs), creation, and a check of
an existing cluster against the plan.

Every topic gets ``SMSFLOW_PARTITIONS`` partitions and the profile's replication
(``Settings.topic_replication`` / ``topic_min_isr``: local RF 1 / min ISR 1, production RF 3 /
min ISR 2; producers always write with acks=all). The worker joins by umid across its inputs,
its state changelog and its internal topics, so those are *co-partitioned*: their partition
counts must be equal (and equal ``SMSFLOW_PARTITIONS``, which the worker assumes). A cluster
that breaks that is refused with :class:`~smsflow.errors.InfraError` naming each topic.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest

from smsflow.config import Settings
from smsflow.errors import InfraError
from smsflow.kafka_client import aiokafka_kwargs, describe_failure

__all__ = [
    "PlannedTopic",
    "TopicCheck",
    "check_topics",
    "co_partitioned",
    "create_topics",
    "ensure_topics",
    "topic_configs",
    "topic_plan",
]


@dataclass(frozen=True)
class PlannedTopic:
    name: str
    partitions: int
    replication: int
    configs: dict[str, str]
    co_partitioned: bool


@dataclass
class TopicCheck:
    """An existing cluster against the plan: ``errors`` refuse a start, ``warnings`` do not."""

    brokers: int = 0
    existing: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (parts, RF)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def raise_on_errors(self) -> None:
        if self.errors:
            raise InfraError("topics do not fit the plan: " + "; ".join(self.errors))


def co_partitioned(settings: Settings) -> list[str]:
    """Topics the worker joins by umid: inputs, message-state and its internal topics."""
    return [*settings.topics.inputs(), settings.topics.message_state,
            *settings.topics.worker_internal()]


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Per-topic configs: the state topic is compacted, the dead-letter topic has its retention,
    the worker's changelogs are compacted; every topic has the profile's min.insync.replicas."""
    t = settings.topics
    isr = {"min.insync.replicas": str(settings.topic_min_isr)}
    configs: dict[str, dict[str, str]] = {name: dict(isr) for name in t.all()}
    for name in t.compacted():
        configs[name] = {
            **isr,
            "cleanup.policy": "compact",
            # keep every version for a day so downstream readers that lag still see each change
            "min.compaction.lag.ms": str(24 * 3600 * 1000),
        }
    configs[t.dead_letter] = {**isr, "retention.ms": str(settings.dead_letter_retention_ms)}
    for name in t.worker_internal():
        configs[name] = {**isr, **({"cleanup.policy": "compact"}
                                   if name.endswith("changelog") else {})}
    return configs


def topic_plan(settings: Settings) -> list[PlannedTopic]:
    """Every topic smsflow creates, with partitions, replication and configs."""
    co = set(co_partitioned(settings))
    return [
        PlannedTopic(name, settings.partitions, settings.topic_replication, cfg, name in co)
        for name, cfg in topic_configs(settings).items()
    ]


async def _admin(settings: Settings, timeout: float) -> AIOKafkaAdminClient:  # noqa: ASYNC109
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=int(timeout * 1000),
        **aiokafka_kwargs(settings),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
    except (KafkaError, OSError, TimeoutError) as e:
        await admin.close()
        raise InfraError(await describe_failure(settings, e)) from e
    return admin


async def _check(settings: Settings, admin: AIOKafkaAdminClient) -> TopicCheck:
    plan = {t.name: t for t in topic_plan(settings)}
    check = TopicCheck(brokers=len((await admin.describe_cluster()).get("brokers", [])))
    for desc in await admin.describe_topics(list(plan)):
        parts = desc.get("partitions") or []
        if desc.get("error_code") or not parts:
            continue
        check.existing[desc["topic"]] = (len(parts), min(len(p["replicas"]) for p in parts))
    check.missing = [n for n in plan if n not in check.existing]
    counts = {n: check.existing[n][0] for n in co_partitioned(settings) if n in check.existing}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{n}={c}" for n, c in counts.items())
        check.errors.append(
            f"co-partitioned topics (joined by umid) have different partition counts: {listed}"
        )
    elif counts and (n := next(iter(counts.values()))) != settings.partitions:
        check.errors.append(
            f"co-partitioned topics have {n} partitions but SMSFLOW_PARTITIONS="
            f"{settings.partitions}; set SMSFLOW_PARTITIONS={n} or use another SMSFLOW_TOPIC_PREFIX"
        )
    if settings.topic_min_isr > settings.topic_replication:
        check.errors.append(
            f"min.insync.replicas {settings.topic_min_isr} exceeds the replication factor "
            f"{settings.topic_replication}: every acks=all write would fail "
            "(SMSFLOW_MIN_INSYNC_REPLICAS, SMSFLOW_REPLICATION_FACTOR)"
        )
    if check.brokers and settings.topic_replication > check.brokers:
        if check.missing:  # creating them would fail
            check.errors.append(
                f"replication factor {settings.topic_replication} needs "
                f"{settings.topic_replication} brokers, the cluster has {check.brokers} "
                "(SMSFLOW_REPLICATION_FACTOR, SMSFLOW_KAFKA_PROFILE)"
            )
        else:  # every topic exists: a broker is down, which RF and min ISR are there for
            check.warnings.append(
                f"the cluster lists {check.brokers} broker(s), fewer than the replication "
                f"factor {settings.topic_replication}: is a broker down?"
            )
    low = [n for n, (_, rf) in check.existing.items() if rf < settings.topic_replication]
    if low:
        check.warnings.append(
            f"{len(low)} topic(s) have fewer replicas than {settings.topic_replication}: "
            f"{', '.join(low)} (raise it with kafka-reassign-partitions)"
        )
    if check.existing:
        res = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n, {"min.insync.replicas": None})
             for n in check.existing]
        )
        odd = [
            f"{name}={isr}"
            for resp in res
            for _code, _msg, _type, name, entries in resp.resources
            if (isr := {e[0]: e[1] for e in entries}.get("min.insync.replicas")) is not None
            and str(isr) != plan[name].configs["min.insync.replicas"]
        ]
        if odd:
            check.warnings.append(
                f"min.insync.replicas differs from the plan's {settings.topic_min_isr}: "
                + ", ".join(odd)
            )
    return check


async def _check_retrying(
    settings: Settings, admin: AIOKafkaAdminClient, timeout: float  # noqa: ASYNC109
) -> TopicCheck:
    """:func:`_check`, asked again while a request fails: the admin client sends each request
    to a random broker of its metadata, which lists a broker killed a moment ago until the
    controller fences it (NodeNotReadyError)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await _check(settings, admin)
        except KafkaError as e:
            if loop.time() > deadline:
                raise InfraError(f"checking the topics failed: {e!r}") from e
            await asyncio.sleep(1.0)


async def check_topics(settings: Settings, timeout: float = 30.0) -> TopicCheck:  # noqa: ASYNC109
    """Compare the cluster's topics with :func:`topic_plan` (creates nothing)."""
    admin = await _admin(settings, timeout)
    try:
        return await _check_retrying(settings, admin, timeout)
    finally:
        await admin.close()


async def create_topics(
    settings: Settings,
    names: dict[str, dict[str, str]] | None = None,
    *,
    partitions: int | None = None,
    timeout: float = 30.0,  # noqa: ASYNC109 - also the admin client's request timeout
) -> list[str]:
    """Create missing topics; return the names created. Existing topics are left alone.

    Without ``names`` (the whole plan) the cluster is checked first: co-partitioned topics
    whose partition counts differ, or more replicas than brokers, raise :class:`InfraError`.
    """
    wanted = names if names is not None else topic_configs(settings)
    nparts = partitions or settings.partitions
    admin = await _admin(settings, timeout)
    try:
        if names is None and partitions is None:
            (await _check_retrying(settings, admin, timeout)).raise_on_errors()
        existing = set(await admin.list_topics())
        missing = [n for n in wanted if n not in existing]
        if missing:
            new = [
                NewTopic(name=n, num_partitions=nparts,
                         replication_factor=settings.topic_replication,
                         topic_configs={"min.insync.replicas": str(settings.topic_min_isr),
                                        **wanted[n]})
                for n in missing
            ]
            try:
                resp = await admin.create_topics(new, timeout_ms=int(timeout * 1000))
            except TopicAlreadyExistsError:
                resp = None
            except KafkaError as e:
                raise InfraError(f"creating topics failed: {e!r}") from e
            failed = [
                f"{err[0]}: {err[2] if len(err) > 2 and err[2] else f'error {err[1]}'}"
                for err in (getattr(resp, "topic_errors", None) or [])
                if err[1] not in (0, TopicAlreadyExistsError.errno)
            ]
            if failed:
                raise InfraError("creating topics failed: " + "; ".join(failed))
        await _wait_visible(settings, wanted, timeout)
        return missing
    finally:
        await admin.close()


async def _unready_on(client: AIOKafkaClient, node: int, topics: list[str]) -> set[str]:
    """Topics that ``node``'s metadata does not yet show with a leader for every partition."""
    try:
        resp = (await client.send(node, MetadataRequest(topics, False))).to_object()
    except KafkaError:
        return set(topics)
    ready = {
        t["topic"] for t in resp["topics"]
        if not t["error_code"] and t["partitions"]
        and all(p["leader"] >= 0 and not p["error_code"] for p in t["partitions"])
    }
    return set(topics) - ready


async def _wait_visible(
    settings: Settings, topics: dict[str, dict[str, str]], timeout: float  # noqa: ASYNC109
) -> None:
    """Wait until *every* broker's metadata shows every topic with its partition leaders.

    Creation is asynchronous on the KRaft controller and each broker applies the metadata log
    on its own: right after ``CreateTopics`` one broker may list a topic another still answers
    without partitions, and a client that asks that one (an admin client asks a random broker)
    sees an empty topic.
    """
    names = list(topics)
    client = AIOKafkaClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=int(timeout * 1000),
        **aiokafka_kwargs(settings),
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        await client.bootstrap()
        while True:
            nodes = [b.nodeId for b in client.cluster.brokers()]
            late = {n: await _unready_on(client, n, names) for n in nodes}
            late = {n: t for n, t in late.items() if t}
            if not late:
                return
            if loop.time() > deadline:
                listed = "; ".join(f"broker {n}: {', '.join(sorted(t))}" for n, t in late.items())
                raise InfraError(f"topics not visible after {timeout:.0f}s on {listed}")
            await asyncio.sleep(0.2)
    finally:
        await client.close()


def ensure_topics(settings: Settings, **kwargs: object) -> list[str]:
    """Synchronous wrapper of :func:`create_topics` for the CLI and fixtures."""
    return asyncio.run(create_topics(settings, **kwargs))  # type: ignore[arg-type]
