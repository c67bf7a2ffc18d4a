"""The worker's agents: the umid join, the reply pairs, the orphan timer.

``install(app, settings)`` adds to an app made by :func:`streams.app.create_app`:

* the **umid agent** over the six input topics plus the internal control topic (all keyed by
  umid, same partition count, so one umid's events meet in one partition): it decodes each
  record with ``schemas.get_codec``, applies :func:`streams.state.apply` and writes the new
  version to the ``messages`` table, whose changelog is the message-state topic. Undecodable or
  invalid records (SchemaError, key that is not the record's canonical umid, an event that does
  not fit the umid's record) go to the dead-letter topic with topic/partition/offset/reason;
  the agent never crashes on input.
* the **pair agent** (``streams.replies``): request/MO -> pair table -> ``reply`` control events.
* the **orphan timer**: receipts held without a request for ``orphan_ttl_seconds`` of *stream
  time* (the largest event time the worker saw in that partition) get an ``orphan`` control
  event, which the umid agent applies like any event (a new version, never dropped).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka.partitioner import murmur2

from schemas import get_codec
from schemas.deadletter import dead_letter
from smsflow.config import Settings
from smsflow.errors import SchemaError, SmsflowError, ValidationError
from streams import ack_guard, seek_guard
from streams.alignment import Alignment, install_alignment
from streams.app import tracker_of
from streams.codec import JSON_CODEC, STATE_CODEC, from_micros, to_micros
from streams.contribution import change_time
from streams.replies import merge_pair, pair_key, reply_targets
from streams.retention import Retention
from streams.state import EVENT_TIME_FIELD, apply
from streams.topics import internal_topics

__all__ = ["INPUT_KINDS", "Runtime", "install"]

log = logging.getLogger("smsflow.streams")

#: input topic attribute -> (event kind, Avro schema name)
INPUT_KINDS = {
    "requests": ("request", "SendRequest"),
    "receipts": ("receipt", "DeliveryReceipt"),
    "inbound": ("inbound", "InboundMessage"),
    "surveys": ("survey", "SurveyResponse"),
    "otp_feedback": ("otp", "OtpFeedback"),
    "clicks": ("click", "UrlClick"),
}
_UMID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAX_CLICK_IDS = 1000
#: an orphan control event is sent again only if the record is still held this long after: an
#: acknowledged control record is read by the worker in its turn (the guards and the watchdog
#: see to that), so a re-send only covers a lost one. At 30 s a backlog amplified itself: in the
#: 1M-message bench run 80k receipts were held while their requests lagged in another topic,
#: their orphan events queued behind the backlog and were sent again every 30 s, and the control
#: topic grew to 1.56M records against 1.0M send requests
_ORPHAN_RESEND_S = 600.0


@dataclass
class Runtime:
    """In-memory bookkeeping of one worker process (rebuilt from the tables after a restart)."""

    partitions: int
    retention: Retention
    alignment: Alignment
    stream_time: dict[int, Any] = field(default_factory=dict)  # partition -> datetime
    held: dict[bytes, tuple[int, Any]] = field(default_factory=dict)  # key -> (partition, first)
    orphan_sent: dict[bytes, float] = field(default_factory=dict)
    rebuilt_at_rebalance: int = -1
    processed: int = 0
    versions: int = 0
    dead_letters: int = 0
    replies_sent: int = 0

    def partition_of(self, key: bytes) -> int:
        return (murmur2(key) & 0x7FFFFFFF) % self.partitions

    def see(self, partition: int, at: Any) -> None:
        cur = self.stream_time.get(partition)
        if cur is None or at > cur:
            self.stream_time[partition] = at

    def track(self, key: bytes, partition: int, state: dict[str, Any]) -> None:
        if state["direction"] == "OUTBOUND" and not state["has_request"] and not state["orphan"]:
            self.held[key] = (partition, state["first_event_at"])
        elif key in self.held:
            del self.held[key]
            self.orphan_sent.pop(key, None)


def install(app: faust.App, settings: Settings) -> Runtime:
    """Define tables, topics, agents and timers on ``app``; return the worker's Runtime."""
    codec = get_codec(settings)
    topics = settings.topics
    names = internal_topics(settings)
    n = settings.partitions
    ttl = dt.timedelta(seconds=settings.orphan_ttl_seconds)
    window_us = settings.reply_window_seconds * 1_000_000
    tracker = tracker_of(app)
    rt = Runtime(partitions=n, retention=Retention(
        settings.state_retention_hours, grace_s=settings.state_retention_grace_seconds),
        alignment=Alignment(settings.alignment_seconds))
    retention = rt.retention
    # event-time marks per input partition: the retention watermark and the alignment use them
    track_marks = retention.enabled or rt.alignment.enabled
    horizon_us = retention.horizon_us

    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    kinds = {getattr(topics, attr): kv for attr, kv in INPUT_KINDS.items()}
    umid_topic = app.topic(*kinds, names["control"], partitions=n, **raw)
    pair_topic = app.topic(names["pairs"], partitions=n, **raw)
    control_topic = app.topic(names["control"], partitions=n, **raw)
    dl_topic = app.topic(topics.dead_letter, **raw)
    messages = app.Table(
        "messages",
        partitions=n,
        key_serializer="raw",
        value_serializer=STATE_CODEC,
        changelog_topic=app.topic(
            topics.message_state, partitions=n, key_serializer="raw",
            value_serializer=STATE_CODEC, internal=False,
        ),
    )
    clicks = app.Table("clicks", partitions=n, key_serializer="raw", value_serializer=JSON_CODEC)
    pairs = app.Table("pairs", partitions=n, key_serializer="raw", value_serializer=JSON_CODEC)

    async def send(topic: Any, key: bytes | None, value: bytes) -> None:
        tracker.add(await topic.send(key=key, value=value))

    async def to_dead_letter(msg: Any, error: BaseException | str, reason: str | None) -> None:
        rt.dead_letters += 1
        rec = dead_letter("worker", error, topic=msg.topic, partition=msg.partition,
                          offset=msg.offset, key=msg.key, payload=msg.value, reason=reason)
        log.warning("dead_letter topic=%s partition=%s offset=%s reason=%s error=%s",
                    msg.topic, msg.partition, msg.offset, rec["reason"], rec["error"][:200])
        await send(dl_topic, msg.key, codec.encode("DeadLetter", rec))

    def decode(msg: Any) -> tuple[str, dict[str, Any]]:
        if msg.topic == names["control"]:
            body = json.loads(msg.value)
            if body["k"] == "reply":
                t = body["t"]
                return "reply", {"replied": bool(body["r"]),
                                 "replied_at": from_micros(t) if t is not None else None}
            if body["k"] == "orphan":
                return "orphan", {"as_of": from_micros(body["t"])}
            raise ValidationError(f"unknown control event {body['k']!r}")
        kind, schema = kinds[msg.topic]
        record = codec.decode_as(schema, msg.value)
        umid = record["umid"]
        if not _UMID.fullmatch(umid):
            raise SchemaError(f"umid {umid!r} is not a canonical lower-case uuid",
                              reason="bad-umid")
        if msg.key is None:
            raise SchemaError(f"record for umid {umid} has no key", reason="missing-key")
        if msg.key != umid.encode():
            raise SchemaError(f"key {msg.key!r} is not the record's umid {umid}",
                              reason="key-mismatch")
        return kind, record

    async def side_effects(kind: str, key: bytes, record: dict[str, Any]) -> None:
        """Messages to the pairs topic: sent for every request/MO, even unchanged (replay-safe)."""
        if kind == "request":
            pk = pair_key(record.get("destination"), record.get("source"))
            side = "o"
            at = record["submitted_at"]
        elif kind == "inbound":
            pk = pair_key(record.get("source"), record.get("destination"))
            side = "m"
            at = record["received_at"]
        else:
            return
        if pk is not None:
            body = {"k": side, "u": record["umid"], "t": to_micros(at)}
            await send(pair_topic, pk, json.dumps(body, separators=(",", ":")).encode())

    def click_count(key: bytes, record: dict[str, Any]) -> int:
        ids: list[str] = clicks.get(key) or []
        ident = f"{to_micros(record['clicked_at'])}|{record.get('url') or ''}"
        if ident not in ids and len(ids) < _MAX_CLICK_IDS:
            ids = sorted([*ids, ident])
            clicks[key] = ids
        return len(ids)

    def unread_after(msg: Any) -> int:
        """Records the partition held after ``msg`` as the consumer knows (1 when unknown)."""
        try:
            hw = app.consumer.highwater(msg.tp)
        except Exception:  # revoked meanwhile, not fetched yet: assume there are
            return 1
        return 1 if hw is None else max(0, hw - msg.offset - 1)

    def mark(msg: Any, at: Any) -> None:
        """Note the event time (None: none) of an input record and how many records follow."""
        if track_marks and msg.topic in kinds:
            retention.see(msg.partition, msg.topic, None if at is None else to_micros(at),
                          unread_after(msg))

    def expire(partition: int) -> None:
        """Delete the states of ``partition`` whose last event is past the retention horizon
        (in the current event's context: the tombstones go to its partition)."""
        for k, version in retention.due(partition, time.monotonic()):
            state = messages.get(k)
            if state is None or k in rt.held or state["version"] != version:
                continue  # gone, waiting for its request, or changed since (a newer entry)
            del messages[k]
            if k in clicks:
                del clicks[k]
            retention.expired += 1

    @app.agent(umid_topic, concurrency=1)
    async def join_by_umid(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            rt.processed += 1
            try:
                kind, record = decode(msg)
            except (SchemaError, ValidationError, ValueError, KeyError, TypeError) as e:
                reason = e.reason if isinstance(e, SchemaError) else None
                mark(msg, None)
                await to_dead_letter(msg, e, reason or ("invalid" if isinstance(
                    e, SmsflowError) else "bad-control"))
                continue
            key = msg.key
            try:
                at = record.get(EVENT_TIME_FIELD.get(kind, ""))
                if at is not None:
                    rt.see(msg.partition, at)
                mark(msg, at)
                if kind == "click":
                    record = {**record, "distinct_clicks": click_count(key, record)}
                old = messages.get(key)
                new = apply(old, kind, record, orphan_ttl=ttl)
                if new is not None:
                    messages[key] = new
                    rt.versions += 1
                    rt.track(key, msg.partition, new)
                    retention.note(msg.partition, key, to_micros(change_time(new)),
                                   new["version"])
                await side_effects(kind, key, record)
            except ValidationError as e:
                await to_dead_letter(msg, e, "invalid")
            except Exception as e:  # never crash the worker on one event; keep it visible
                log.exception("event failed topic=%s offset=%s", msg.topic, msg.offset)
                await to_dead_letter(msg, e, "worker-error")
            if retention.enabled:
                try:
                    expire(msg.partition)
                except Exception:  # a state kept longer is harmless; a crash is not
                    log.exception("expiry failed partition=%s", msg.partition)

    @app.agent(pair_topic, concurrency=1)
    async def match_replies(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            try:
                body = json.loads(msg.value)
                old = pairs.get(msg.key)
                at = int(body["t"])
                limit = retention.limit(time.monotonic())
                new = merge_pair(old, body["k"], body["u"], at, window_us, limit)
                if new is not None:
                    pairs[msg.key] = new
                current = new if new is not None else (old or {"o": {}, "m": {}, "r": {}})
                since = None if not retention.enabled else max(at - horizon_us, limit or 0)
                for umid, replied, replied_at in reply_targets(old, new, current, since):
                    ctl = {"k": "reply", "r": replied, "t": replied_at}
                    await send(control_topic, umid.encode(),
                               json.dumps(ctl, separators=(",", ":")).encode())
                    rt.replies_sent += 1
            except Exception as e:
                log.exception("pair event failed offset=%s", msg.offset)
                await to_dead_letter(msg, e, "bad-pair-event")

    def rebuild() -> None:
        """After a rebalance: held records and stream time from the recovered table."""
        rt.held.clear()
        due: list[tuple[int, bytes, int, int]] = []
        for key, state in messages.items():
            part = rt.partition_of(key)
            changed = change_time(state)
            rt.see(part, changed)
            rt.track(key, part, state)
            if retention.enabled:
                due.append((part, key, to_micros(changed), state["version"]))
        inputs = set(kinds)
        retention.rebuild(due, {tp.partition for tp in app.consumer.assignment()
                                if tp.topic in inputs})
        rt.rebuilt_at_rebalance = app.rebalancing_count
        log.info("rebuilt held=%d partitions_with_time=%d retained=%d", len(rt.held),
                 len(rt.stream_time), len(due))

    @app.timer(interval=2.0)
    async def orphan_scan() -> None:
        if app.rebalancing or app.tables.recovery.in_recovery:
            return  # the table is not complete before its recovery ends
        if rt.rebuilt_at_rebalance != app.rebalancing_count:
            rebuild()
        now = time.monotonic()
        for key, (part, first) in list(rt.held.items()):
            st = rt.stream_time.get(part)
            if st is None or first is None or first + ttl > st:
                continue
            if now - rt.orphan_sent.get(key, -1e9) < _ORPHAN_RESEND_S:
                continue
            rt.orphan_sent[key] = now
            body = {"k": "orphan", "t": to_micros(st)}
            tracker.add(await control_topic.send(
                key=key, value=json.dumps(body, separators=(",", ":")).encode()))

    def limit_text() -> str:
        limit = retention.limit(time.monotonic())
        return "-" if limit is None else from_micros(limit).isoformat(timespec="seconds")

    @app.timer(interval=10.0)
    async def stats() -> None:
        stale, reseeks, holes = seek_guard.stats(app.consumer)
        commits_held, acks_refused = ack_guard.stats(app.consumer)
        log.info("stats processed=%d versions=%d dead_letters=%d held=%d replies_sent=%d "
                 "sends=%d pending_sends=%d stale_skipped=%d reseeks=%d holes=%d "
                 "commits_held=%d acks_refused=%d expired=%d retention_queue=%d "
                 "retention_limit=%s paused=%d pauses=%d align_stalls=%d", rt.processed,
                 rt.versions, rt.dead_letters, len(rt.held), rt.replies_sent, tracker.sent,
                 tracker.pending, stale, reseeks, holes, commits_held, acks_refused,
                 retention.expired, retention.pending, limit_text(), len(rt.alignment.paused),
                 rt.alignment.pauses, rt.alignment.stalls)

    install_alignment(app, retention, rt.alignment)
    del join_by_umid, match_replies, orphan_scan, stats
    return rt
