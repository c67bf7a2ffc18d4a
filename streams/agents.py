"""The worker's batch processor, tables and timers.

``install(app, settings)`` adds to an app made by :func:`streams.app.create_app`:

* the ``messages`` (changelog = message-state topic), ``clicks`` and ``pairs`` tables;
* the app's :class:`~streams.feed.Feed` over the six input topics, the control topic and the
  pairs topic, and the **batch processor** task: it takes one partition's batch at a time,
  admits its records (:class:`~streams.feed.Offsets`), runs :class:`~streams.join.UmidJoin`
  or :class:`~streams.pairing.PairMatcher` over them in a plain loop, sends the outputs as
  producer batches and registers them with :class:`~streams.feed.Commits`;
* the **orphan timer**: receipts held without a request for ``orphan_ttl_seconds`` of *stream
  time* (the largest event time the worker saw in that partition) get an ``orphan`` control
  event, which the join applies like any event (a new version, never dropped);
* the stats line and the event-time alignment timer (:mod:`streams.alignment`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from functools import partial
from typing import Any

from schemas import get_codec
from smsflow.config import Settings
from smsflow.contribution import change_time
from smsflow.input_kinds import INPUT_KINDS
from smsflow.memory import release_free_memory
from smsflow.producer_batches import Outputs
from smsflow.timestamps import from_micros, to_micros
from streams.alignment import Alignment, install_alignment
from streams.app import WorkerApp
from streams.compat import aio_producer
from streams.faust_codecs import JSON_CODEC, PAIRS_CODEC, STATE_CODEC
from streams.feed import Batch, Feed
from streams.forgetting import Retention
from streams.internal_records import encode_orphan, sorted_json
from streams.join import Runtime, Topics, UmidJoin
from streams.outputs import TableWriter
from streams.pairing import PairMatcher

__all__ = ["Runtime", "install"]

log = logging.getLogger("smsflow.streams")


def install(app: WorkerApp, settings: Settings) -> Runtime:
    """Define tables, topics, the batch processor and timers on ``app``; its Runtime."""
    codec = get_codec(settings)
    n = settings.partitions
    rt = Runtime(partitions=n, retention=Retention(
        settings.state_retention_hours, grace_s=settings.state_retention_grace_seconds),
        alignment=Alignment(settings.alignment_seconds, stall_s=settings.alignment_stall_seconds,
                            min_backlog=settings.alignment_min_backlog))
    topics = Topics(kinds={k.topic(settings.topics): (k.event, k.schema) for k in INPUT_KINDS},
                    control=settings.topics.control, pairs=settings.topics.pairs,
                    dead_letter=settings.topics.dead_letter)
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    owned = [*topics.kinds, topics.control, topics.pairs]
    app.topics.add(app.topic(*owned, partitions=n, **raw))  # subscribed; read by the feed
    messages = app.Table(
        "messages", partitions=n, key_serializer="raw", value_serializer=STATE_CODEC,
        changelog_topic=app.topic(settings.topics.message_state, partitions=n,
                                  key_serializer="raw", value_serializer=STATE_CODEC,
                                  internal=False))
    clicks = app.Table("clicks", partitions=n, key_serializer="raw", value_serializer=JSON_CODEC)
    pairs = app.Table("pairs", partitions=n, key_serializer="raw", value_serializer=PAIRS_CODEC)
    writers = [TableWriter(messages, partial(codec.encode, "MessageState")),
               TableWriter(clicks, sorted_json), TableWriter(pairs, sorted_json)]
    join = UmidJoin(codec=codec, topics=topics, messages=writers[0], clicks=writers[1], rt=rt,
                    orphan_ttl=dt.timedelta(seconds=settings.orphan_ttl_seconds))
    matcher = PairMatcher(codec=codec, topics=topics, pairs=writers[2], rt=rt,
                          window_us=settings.reply_window_seconds * 1_000_000)
    feed = app.feed = Feed(owned, maxsize=settings.worker_queue_batches)
    feed.commits.on_failure = lambda exc: asyncio.ensure_future(app.crash(exc))

    def admit(batch: Batch) -> tuple[list[Any], int | None]:
        if batch.generation != app.consumer_generation_id or not app.consumer.flow_active:
            return [], None  # fetched before a rebalance: read again from the committed offset
        return feed.offsets.admit(batch)

    #: processed batches whose outputs wait to be sent (in order: a umid's versions must reach
    #: the changelog in order), so that processing goes on while the producer waits for acks
    #: (at most worker_send_ahead sets; worker_coalesce_batches batches make one set)
    sends: asyncio.Queue[tuple[Outputs, list[tuple[Any, int]]]] = asyncio.Queue(
        settings.worker_send_ahead)
    coalesce = settings.worker_coalesce_batches

    async def process(batches: list[Batch]) -> None:
        """Process queued batches with one set of producer batches for all their outputs."""
        consumer = app.consumer
        ensure_rebuilt()  # before the first batch after a rebalance: the table holds just what
        out = Outputs(aio_producer(app))  # was recovered, not every state processed since
        for w in writers:
            w.watch(out)
        done: list[tuple[Any, int]] = []
        for batch in batches:
            await feed.seeks.zero()  # not while the consumer seeks (Feed's doc)
            records, reseek = admit(batch)
            if reseek is not None:
                await consumer.seek(batch.tp, reseek)
            if not records:
                continue
            if batch.tp.topic == topics.pairs:
                matcher.process(records, out)
            else:
                join.process(records, out, consumer.highwater(batch.tp))
            done.append((batch.tp, records[-1].offset + 1))
        await sends.put((out, done))

    async def crash(what: str, e: BaseException) -> None:
        if not app.crashed:  # the first reason; the others follow from it
            log.critical("%s failed, stopping the worker without committing: %r", what, e)
        await app.crash(e)

    @app.task
    async def batch_processor() -> None:
        while True:
            batches = [await feed.queue.get()]
            while not feed.queue.empty() and len(batches) < coalesce:
                batches.append(feed.queue.get_nowait())
            feed.sets.up()  # down once the sender handed its outputs over (Feed's doc)
            try:
                await process(batches)
            except Exception as e:
                feed.sets.down()
                await crash(f"batches of {sorted({str(b.tp) for b in batches})}", e)
                return

    @app.task
    async def batch_sender() -> None:
        while True:
            out, done = await sends.get()
            try:
                futures = await out.send()
            except Exception as e:  # a send that fails to queue
                await crash("sending outputs to Kafka", e)
                return
            finally:
                feed.sets.down()
            for tp, end in done:
                feed.commits.add(tp, end, futures)
            if futures and done and feed.queue.empty() and sends.empty():
                # caught up: commit once these are acknowledged, not at the next interval
                await asyncio.wait(futures)
                if not feed.commits.failure:
                    await app.consumer.commit()

    def rebuild() -> None:
        """After a rebalance: held records and stream time from the recovered table."""
        rt.held.clear()
        due: list[tuple[int, bytes, int, int]] = []
        retention = rt.retention
        for key, state in messages.items():
            part = rt.partition_of(key)
            changed = change_time(state)
            rt.see(part, changed)
            rt.track(key, part, state)
            if retention.enabled:
                due.append((part, key, to_micros(changed), state["version"]))
        retention.rebuild(due, {tp.partition for tp in app.consumer.assignment()
                                if tp.topic in topics.kinds})
        rt.rebuilt_at_rebalance = app.rebalancing_count
        log.info("rebuilt held=%d partitions_with_time=%d retained=%d", len(rt.held),
                 len(rt.stream_time), len(due))

    def ensure_rebuilt() -> bool:
        """Rebuild once per rebalance; False while the table is not complete (in recovery)."""
        if app.rebalancing or app.tables.recovery.in_recovery:
            return False
        if rt.rebuilt_at_rebalance != app.rebalancing_count:
            rebuild()
        return True

    @app.timer(interval=2.0)
    async def orphan_scan() -> None:
        if not ensure_rebuilt():
            return
        now = time.monotonic()
        out = Outputs(aio_producer(app))
        ttl = dt.timedelta(seconds=settings.orphan_ttl_seconds)
        for key, (part, first) in list(rt.held.items()):
            st = rt.stream_time.get(part)
            if st is None or first is None or first + ttl > st:
                continue
            if now - rt.orphan_sent.get(key, -1e9) < settings.orphan_resend_seconds:
                continue
            rt.orphan_sent[key] = now
            out.add(topics.control, part, key, encode_orphan(to_micros(st)))
        if out.records:  # not tied to input offsets: a lost one is sent again (above)
            for fut in await out.send():
                fut.add_done_callback(lambda f: f.cancelled() or not f.exception() or
                                      asyncio.ensure_future(crash("orphan notice", f.exception())))

    def limit_text() -> str:
        limit = rt.retention.limit(time.monotonic())
        return "-" if limit is None else from_micros(limit).isoformat(timespec="seconds")

    @app.timer(interval=10.0)
    async def stats() -> None:
        o, retention = feed.offsets, rt.retention
        log.info("stats processed=%d versions=%d dead_letters=%d held=%d replies_sent=%d "
                 "unacknowledged=%d stale_skipped=%d reseeks=%d holes=%d expired=%d "
                 "retention_queue=%d retention_limit=%s paused=%d pauses=%d align_stalls=%d",
                 rt.processed, rt.versions, rt.dead_letters, len(rt.held), rt.replies_sent,
                 feed.commits.unacknowledged, o.stale, o.reseeks, o.holes, retention.expired,
                 retention.pending, limit_text(), len(rt.alignment.paused),
                 rt.alignment.pauses, rt.alignment.stalls)
        release_free_memory()  # the RSS follows the states retention forgot (smsflow.memory)

    install_alignment(app, rt.retention, rt.alignment)
    del batch_processor, batch_sender, orphan_scan, stats
    return rt
