"""Replay dead letters: re-produce the original records to their topics once the cause is fixed.

Where each original comes from (:func:`classify`, pure):

* **worker** dead letters of an input topic carry topic/partition/offset of the record: the
  exact original bytes and key are re-read from that input topic (while its retention holds;
  otherwise ``gone``) and produced again to the same topic. The worker judges them anew: what
  still fails goes back to the dead-letter topic with its reason.
* **receiver** dead letters have no source record, only the payload copy: it is run through the
  receiver's own validation (:func:`producers.bodies.parse_body`) and produced like a webhook
  call, unless the copy was redacted (text removed, numbers masked or hashed, digit runs
  masked): then it is refused, the original is not recoverable. A payload that still fails
  validation stays where it is (its dead letter already exists; no new one is written).
* **producer** dead letters (rows of a file) are refused: fix the file and run
  ``smsflow produce`` again (idempotent by umid). **sink** dead letters (derived records) and
  records of the worker's internal topics are refused: the worker derives them again.

Idempotence: each replayed dead letter is recorded in the compacted ledger topic
``<prefix>dead-letter-replays`` (key = dead-letter id ``P:O``, value = JSON with the target
topic/partition/offset) after the broker acknowledged the re-produced record; a later replay
skips recorded ids, and skips dead letters of records a replay produced (failed again) unless
asked to retry them. So running ``replay`` twice produces nothing the second time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from producers.bodies import WEBHOOKS, BodyError, parse_body
from producers.send import umid_key
from schemas import get_codec
from smsflow.config import Settings
from smsflow.errors import InfraError, SchemaError
from smsflow.kafka_client import aiokafka_kwargs, start_client

__all__ = ["DeadLetter", "ReplaySummary", "Step", "classify", "ledger_topic", "replay"]

_REDACTED = re.compile(rb"\[text removed|\*{4,}|\+\d*\*{2,}\d|\"h:[0-9a-f]{24}\"")


def ledger_topic(settings: Settings) -> str:
    """The compacted topic recording which dead letters were replayed."""
    return f"{settings.topic_prefix}dead-letter-replays"


@dataclass(frozen=True)
class DeadLetter:
    """A decoded dead-letter record and where it sits on the dead-letter topic."""

    partition: int
    offset: int
    rec: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True)
class Step:
    """What replay does with one dead letter: ``action`` is ``reread`` (worker: read the
    original from its input topic), ``validate`` (receiver: validate the payload copy) or
    ``skip`` with ``why``."""

    dl: DeadLetter
    action: str
    why: str = ""


def _source(rec: dict[str, Any]) -> tuple[str, int, int] | None:
    if rec.get("topic") and rec.get("partition") is not None and rec.get("offset") is not None:
        return str(rec["topic"]), int(rec["partition"]), int(rec["offset"])
    return None


def classify(
    dls: list[DeadLetter],
    ledger: dict[str, dict[str, Any]],
    *,
    reason: str,
    inputs: set[str],
    since: dt.datetime | None = None,
    retry_failed: bool = False,
) -> list[Step]:
    """The plan for every dead letter with ``reason`` failed at or after ``since`` (pure)."""
    produced = {(v["topic"], v["partition"], v["offset"]) for v in ledger.values()
                if v.get("offset") is not None}
    steps = []
    for dl in dls:
        rec = dl.rec
        if rec["reason"] != reason or (since is not None and rec["failed_at"] < since):
            continue
        comp, topic, src = rec["component"], rec.get("topic"), _source(rec)
        if dl.id in ledger:
            steps.append(Step(dl, "skip", "replayed before"))
        elif src is not None and src in produced and not retry_failed:
            steps.append(Step(dl, "skip", "failed again after a replay (--retry-failed)"))
        elif topic not in inputs:
            steps.append(Step(dl, "skip", "not an input topic: derived again by the worker"))
        elif comp == "worker" and src is not None:
            steps.append(Step(dl, "reread"))
        elif comp == "receiver" and rec.get("payload"):
            if _REDACTED.search(rec["payload"]):
                steps.append(Step(dl, "skip", "payload copy was redacted: not recoverable"))
            else:
                steps.append(Step(dl, "validate"))
        elif comp == "producer":
            steps.append(Step(dl, "skip", "a file row: fix the file, run smsflow produce again"))
        else:
            steps.append(Step(dl, "skip", "no original record or payload"))
    return steps


@dataclass
class ReplaySummary:
    """Counts of one replay: produced per topic, and why the others were not."""

    reason: str = ""
    matched: int = 0
    produced: Counter[str] = field(default_factory=Counter)
    not_replayed: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    def lines(self) -> list[str]:
        verb = "would replay" if self.dry_run else "replayed"
        out = [f"{self.matched} dead letter(s) with reason {self.reason!r}",
               f"{verb} {sum(self.produced.values())} record(s)"]
        out += [f"  {n:>8}  to {t}" for t, n in sorted(self.produced.items())]
        out += [f"  {n:>8}  not replayed: {w}" for w, n in sorted(self.not_replayed.items())]
        return out


async def _read_all(settings: Settings, topic: str) -> list[Any]:
    """Every record of ``topic`` up to its end offsets at the start (no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, **aiokafka_kwargs(settings))
    await start_client(consumer, settings, error=InfraError)
    try:
        if topic not in await consumer.topics():
            return []
        # every project topic has settings.partitions partitions (docs/design.md)
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        left = {tp for tp in tps if end[tp] > await consumer.position(tp)}
        out: list[Any] = []
        while left:
            batch = await consumer.getmany(*left, timeout_ms=1000)
            for tp, msgs in batch.items():
                out += [m for m in msgs if m.offset < end[tp]]
            left = {tp for tp in left if await consumer.position(tp) < end[tp]}
        return out
    finally:
        await consumer.stop()


async def _fetch(consumer: AIOKafkaConsumer, src: tuple[str, int, int]) -> Any | None:
    """The record at topic/partition/offset, or None when retention or compaction removed it."""
    tp = TopicPartition(src[0], src[1])
    consumer.assign([tp])
    start = (await consumer.beginning_offsets([tp]))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    if not start <= src[2] < end:
        return None
    consumer.seek(tp, src[2])
    msg = await asyncio.wait_for(consumer.getone(tp), 30)
    return msg if msg.offset == src[2] else None


async def _replay_one(
    step: Step, settings: Settings, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
    dry_run: bool,
) -> tuple[str | None, str]:
    """Replay one dead letter: ``(topic produced to, '')`` or ``(None, why not)``."""
    rec = step.dl.rec
    topic = str(rec.get("topic"))
    key: bytes | None
    if step.action == "reread":
        msg = await _fetch(consumer, _source(rec))  # type: ignore[arg-type]
        if msg is None:
            return None, "original gone (topic retention)"
        key, value = msg.key, msg.value
    elif step.action == "validate":
        hook = next(h for h in WEBHOOKS.values() if h.topic(settings.topics) == topic)
        try:
            record = parse_body(hook, rec["payload"], now=dt.datetime.now(dt.UTC))
            value = get_codec(settings).encode(hook.schema, record)
        except (BodyError, SchemaError) as e:
            return None, f"still invalid ({e.reason}), kept"
        key = umid_key(record["umid"])
    else:
        return None, step.why
    if not dry_run:
        meta = await producer.send_and_wait(topic, value, key=key)
        note = {"reason": rec["reason"], "topic": topic, "partition": meta.partition,
                "offset": meta.offset, "at": dt.datetime.now(dt.UTC).isoformat()}
        await producer.send_and_wait(ledger_topic(settings), json.dumps(note).encode(),
                                     key=step.dl.id.encode())
    return topic, ""


async def replay(
    settings: Settings,
    reason: str,
    *,
    since: dt.datetime | None = None,
    dry_run: bool = False,
    retry_failed: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ReplaySummary:
    """Replay the dead letters with ``reason`` (see the module docstring); the summary says
    what was produced where and why the rest was not. Raises :class:`InfraError` when Kafka
    cannot be reached or does not acknowledge (what was acknowledged is in the ledger)."""
    from smsflow.topics import create_topics

    codec = get_codec(settings)
    ledger_name = ledger_topic(settings)
    if not dry_run:
        await create_topics(settings, {ledger_name: {"cleanup.policy": "compact"}})
    ledger: dict[str, dict[str, Any]] = {}
    for m in await _read_all(settings, ledger_name):
        if m.key is not None and m.value is not None:
            ledger[m.key.decode()] = json.loads(m.value)
    dls = []
    for m in await _read_all(settings, settings.topics.dead_letter):
        try:
            dls.append(DeadLetter(m.partition, m.offset, codec.decode_as("DeadLetter", m.value)))
        except SchemaError:
            continue  # not a dead letter; the sink counts it
    steps = classify(dls, ledger, reason=reason, inputs=set(settings.topics.inputs()),
                     since=since, retry_failed=retry_failed)
    summary = ReplaySummary(reason=reason, matched=len(steps), dry_run=dry_run)
    kw = aiokafka_kwargs(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, **kw)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", **kw)
    await start_client(consumer, settings, error=InfraError)
    try:
        await start_client(producer, settings, error=InfraError)
        for i, step in enumerate(steps, 1):
            target, why = await _replay_one(step, settings, consumer, producer, dry_run)
            if target is not None:
                summary.produced[target] += 1
            else:
                summary.not_replayed[why] += 1
            if progress is not None:
                progress(i, len(steps))
    except (KafkaError, OSError, TimeoutError) as e:
        raise InfraError(f"replay stopped, Kafka did not answer: {e!r}") from e
    finally:
        await producer.stop()
        await consumer.stop()
    return summary
