"""The umid join over one batch: decode, apply, write (a plain loop, no await per record).

:class:`UmidJoin` processes one partition's records of the six input topics and the control
topic (all keyed by umid, same partition count): it decodes each record, applies
:func:`streams.state.apply` and writes each umid the batch changed once to the ``messages``
table (changelog: the message-state topic), its last version with the contribution before the
batch as ``previous_contribution``: the DailyDelta rows stay a pure function of each record and
telescope (README.md "One state record per umid and batch"). Undecodable or invalid
records go to the dead-letter topic with topic/partition/offset/reason; nothing raises out of
:meth:`UmidJoin.process`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from schemas import Codec
from schemas.deadletter import dead_letter
from smsflow.contribution import change_time
from smsflow.errors import SchemaError, SmsflowError, ValidationError
from smsflow.privacy import opt_out_keyword
from smsflow.producer_batches import Outputs, key_partition
from smsflow.timestamps import from_micros, to_micros
from streams.alignment import Alignment
from streams.forgetting import Retention
from streams.internal_records import INBOUND, OUTBOUND, decode_control, encode_pair_event
from streams.outputs import TableWriter
from streams.replies import pair_key
from streams.state import EVENT_TIME_FIELD, apply

__all__ = ["Runtime", "Topics", "UmidJoin", "dead_letter_to"]

log = logging.getLogger("smsflow.streams")

_UMID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAX_CLICK_IDS = 1000
_DECODE_ERRORS = (SchemaError, ValidationError, ValueError, KeyError, TypeError)


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
        """The partition the producer's default partitioner gives ``key``."""
        return key_partition(key, self.partitions)

    def see(self, partition: int, at: Any) -> None:
        if (cur := self.stream_time.get(partition)) is None or at > cur:
            self.stream_time[partition] = at

    def track(self, key: bytes, partition: int, state: dict[str, Any]) -> None:
        if state["direction"] == "OUTBOUND" and not state["has_request"] and not state["orphan"]:
            self.held[key] = (partition, state["first_event_at"])
        elif self.held.pop(key, None) is not None:
            self.orphan_sent.pop(key, None)


@dataclass(frozen=True)
class Topics:
    """Topic names the worker reads and writes."""

    kinds: dict[str, tuple[str, str]]  # input topic -> (event kind, Avro schema name)
    control: str
    pairs: str
    dead_letter: str


def dead_letter_to(out: Outputs, codec: Codec, rt: Runtime, topic: str, rec: Any,
                   error: BaseException | str, reason: str | None) -> None:
    """Queue a dead letter for input record ``rec`` (an aiokafka ConsumerRecord)."""
    rt.dead_letters += 1
    body = dead_letter("worker", error, topic=rec.topic, partition=rec.partition,
                       offset=rec.offset, key=rec.key, payload=rec.value, reason=reason)
    log.warning("dead_letter topic=%s partition=%s offset=%s reason=%s error=%s", rec.topic,
                rec.partition, rec.offset, body["reason"], body["error"][:200])
    out.add_keyed(topic, rec.key, codec.encode("DeadLetter", body))


class UmidJoin:
    """One partition's batch of umid-keyed records -> state versions and side outputs."""

    def __init__(self, *, codec: Codec, topics: Topics, messages: TableWriter,
                 clicks: TableWriter, rt: Runtime, orphan_ttl: dt.timedelta) -> None:
        self.codec, self.topics, self.rt = codec, topics, rt
        self.messages, self.clicks = messages, clicks
        self.ttl = orphan_ttl
        #: umid key -> (partition, contribution before the batch, last state, its records)
        self._changed: dict[bytes, tuple[int, Any, dict[str, Any], list[Any]]] = {}

    def decode(self, rec: Any) -> tuple[str, dict[str, Any]]:
        if rec.topic == self.topics.control:
            event = decode_control(rec.value)
            if event["kind"] == "reply":
                t = event["replied_at_us"]
                return "reply", {"replied": event["replied"],
                                 "replied_at": from_micros(t) if t is not None else None,
                                 "reply_count": event["reply_count"],
                                 "opt_out_count": event["opt_out_count"]}
            return "orphan", {"as_of": from_micros(event["as_of_us"])}
        kind, schema = self.topics.kinds[rec.topic]
        record = self.codec.decode_as(schema, rec.value)
        umid = record["umid"]
        if not _UMID.fullmatch(umid):
            raise SchemaError(f"umid {umid!r} is not a canonical lower-case uuid",
                              reason="bad-umid")
        if rec.key is None:
            raise SchemaError(f"record for umid {umid} has no key", reason="missing-key")
        if rec.key != umid.encode():
            raise SchemaError(f"key {rec.key!r} is not the record's umid {umid}",
                              reason="key-mismatch")
        return kind, record

    def process(self, records: list[Any], out: Outputs, highwater: int | None) -> None:
        """Process one partition's records in offset order (``highwater``: the partition's end
        as the consumer knows it, None: unknown)."""
        rt, retention = self.rt, self.rt.retention
        track_marks = retention.enabled or rt.alignment.enabled
        kinds = self.topics.kinds
        partition = records[0].partition
        for rec in records:
            rt.processed += 1
            unread = 1 if highwater is None else max(0, highwater - rec.offset - 1)
            mark = track_marks and rec.topic in kinds
            try:
                kind, record = self.decode(rec)
            except _DECODE_ERRORS as e:
                reason = e.reason if isinstance(e, SchemaError) else None
                if mark:
                    retention.see(partition, rec.topic, None, unread)
                self._dead(out, rec, e, reason or ("invalid" if isinstance(
                    e, SmsflowError) else "bad-control"))
                continue
            try:
                at = record.get(EVENT_TIME_FIELD.get(kind, ""))
                if at is not None:
                    rt.see(partition, at)
                if mark:
                    retention.see(partition, rec.topic, None if at is None else to_micros(at),
                                  unread)
                self._apply(out, rec, kind, record)
            except ValidationError as e:
                self._dead(out, rec, e, "invalid")
            except Exception as e:  # never crash the worker on one event; keep it visible
                log.exception("event failed topic=%s offset=%s", rec.topic, rec.offset)
                self._dead(out, rec, e, "worker-error")
        self._write_changed(out)
        if retention.enabled:
            try:
                self.expire(out, partition)
            except Exception:  # a state kept longer is harmless; a crash is not
                log.exception("expiry failed partition=%s", partition)

    def _dead(self, out: Outputs, rec: Any, error: BaseException, reason: str) -> None:
        dead_letter_to(out, self.codec, self.rt, self.topics.dead_letter, rec, error, reason)

    def _apply(self, out: Outputs, rec: Any, kind: str, record: dict[str, Any]) -> None:
        partition, key = rec.partition, rec.key
        if kind == "click":
            record = {**record, "distinct_clicks": self._click_count(out, partition, key, record)}
        changed = self._changed.get(key)
        old = changed[2] if changed is not None else self.messages.get(key)
        new = apply(old, kind, record, orphan_ttl=self.ttl)
        if new is not None:
            self.rt.versions += 1
            before = changed[1] if changed else old and old["contribution"]
            recs = changed[3] if changed else []
            recs.append(rec)
            self._changed[key] = (partition, before, new, recs)
        self._side_effects(out, kind, record, new if new is not None else old)

    def _write_changed(self, out: Outputs) -> None:
        """Each umid the batch changed, once: its last version, spanning the skipped ones (one
        that cannot be written stays as before the batch, its records dead-lettered)."""
        rt, changed, self._changed = self.rt, self._changed, {}
        for key, (partition, before, state, recs) in changed.items():
            state["previous_contribution"] = before
            try:
                self.messages.put(out, partition, key, state)
            except Exception as e:  # never crash the worker on one umid; keep it visible
                log.exception("state write failed key=%r", key)
                for rec in recs:
                    self._dead(out, rec, e, "worker-error")
                continue
            rt.track(key, partition, state)
            rt.retention.note(partition, key, to_micros(change_time(state)), state["version"])

    def _side_effects(self, out: Outputs, kind: str, record: dict[str, Any],
                      state: dict[str, Any] | None) -> None:
        """Records to the pairs topic: sent for every request/MO, even unchanged (replay-safe).

        An MO's opt-out flag comes from the text of its state (the first MO seen wins, as in
        the sink's ``messages.opt_out``), else from the record."""
        opt_out = False
        if kind == "request":
            pk = pair_key(record.get("destination"), record.get("source"))
            side, at = OUTBOUND, record["submitted_at"]
        elif kind == "inbound":
            pk = pair_key(record.get("source"), record.get("destination"))
            side, at = INBOUND, record["received_at"]
            text = state["text"] if state is not None else record.get("body")
            opt_out = opt_out_keyword(text) != ""
        else:
            return
        if pk is not None:
            out.add(self.topics.pairs, self.rt.partition_of(pk), pk,
                    encode_pair_event(side, record["umid"], to_micros(at), opt_out))

    def _click_count(self, out: Outputs, partition: int, key: bytes,
                     record: dict[str, Any]) -> int:
        ids: list[str] = self.clicks.get(key) or []
        ident = f"{to_micros(record['clicked_at'])}|{record.get('url') or ''}"
        if ident not in ids and len(ids) < _MAX_CLICK_IDS:
            ids = sorted([*ids, ident])
            self.clicks.put(out, partition, key, ids)
        return len(ids)

    def expire(self, out: Outputs, partition: int) -> None:
        """Delete the states of ``partition`` whose last event is past the retention horizon."""
        rt, retention = self.rt, self.rt.retention
        for k, version in retention.due(partition, time.monotonic()):
            state = self.messages.get(k)
            if state is None or k in rt.held or state["version"] != version:
                continue  # gone, waiting for its request, or changed since (a newer entry)
            self.messages.delete(out, partition, k)
            if self.clicks.get(k) is not None:
                self.clicks.delete(out, partition, k)
            retention.expired += 1
