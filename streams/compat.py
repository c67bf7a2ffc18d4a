"""Every access to faust-streaming / aiokafka internals, for the pinned versions only.

The worker's input topics do not take Faust's per-record path (a hand-off, four tasks, a
``sleep(0)`` and ack bookkeeping per record, faust-per-record-path.md). :class:`Transport` is
Faust's aiokafka transport with a :class:`Consumer` of our own, chosen by the broker URL scheme
``smsflow://`` (entry point ``faust.transports`` in pyproject.toml, no class-level patch):

* each fetch's records of a topic the app's :class:`~streams.feed.Feed` owns go to the feed as
  one batch per partition (a bounded queue: the fetch loop waits while it is full); records of
  other topics (the tables' changelogs during recovery) keep Faust's per-record path;
* a seek (Faust's after recovery, or the feed's own) runs in Faust's consumer thread (Faust
  runs it in the app's thread, racing aiokafka's fetch buffer) and is reported to the feed,
  which drops what was fetched before it; partitions the group never committed are sought to
  their log start;
* the offsets committed for the feed's topics are the feed's (:class:`~streams.feed.Commits`:
  processed and every output acknowledged), not Faust's per-record acks.

The other internals used: the aiokafka producer under Faust's (producer batches), direct table
store writes (:func:`store_put`; Faust's ``table[k] = v`` needs an event context and sends one
changelog record through three futures), and aiokafka's pause/resume in the consumer thread
(:func:`pause_resume`). :func:`check_versions` refuses other versions: re-check this module first.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

from smsflow.errors import SmsflowError

__all__ = ["Consumer", "ConsumerThread", "Transport", "aio_producer",
           "check_versions", "pause_resume", "persisted", "store_delete", "store_get",
           "store_put"]

FAUST_VERSION = "0.15.3"
AIOKAFKA_VERSION = "0.14.0"
SCHEME = "smsflow"


def check_versions() -> None:
    """Raise :class:`SmsflowError` unless faust-streaming and aiokafka are the pinned versions."""
    found = (importlib.metadata.version("faust-streaming"), aiokafka.__version__)
    if found != (FAUST_VERSION, AIOKAFKA_VERSION):
        raise SmsflowError(
            f"streams.compat was written for faust-streaming {FAUST_VERSION} and aiokafka "
            f"{AIOKAFKA_VERSION}, found {found[0]} and {found[1]}: re-check streams/compat.py "
            "(Consumer._drain_messages, _new_offset, stores) before upgrading")


def _feed(app: Any) -> Any:
    return getattr(app, "feed", None)


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):  # type: ignore[misc]
    """Faust's consumer thread whose worker consumer fetches as the app's ``consumer_spec``
    says (:func:`smsflow.consumers.worker`: Faust creates it with aiokafka's
    fetch_min_bytes=1, so at a steady rate every fetch returned a few records)."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        spec = getattr(self.app, "consumer_spec", None)
        if spec is not None:
            consumer._fetch_min_bytes = spec.fetch_min_bytes  # read by start()
            consumer._fetch_max_wait_ms = spec.fetch_max_wait_ms
        return consumer


class Consumer(faust_aiokafka.Consumer):  # type: ignore[misc]
    """Faust's aiokafka consumer with per-fetch batches for the feed's topics."""

    def _new_consumer_thread(self) -> Any:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - needs a broker
        feed = _feed(self.app)
        if feed is None:
            await super()._drain_messages(fetcher)
            return
        callback = self.callback
        stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (stopped() or fetcher_stopped()):
                await asyncio.sleep(0)
                if self.should_stop:
                    break
                round_ = feed.offsets.start_round()
                records, active = await self._wait_next_records(1.0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:  # as Faust's getmany: fetched across a rebalance
                    await self.perform_seek()
                    continue
                generation = self.app.consumer_generation_id
                for tp, recs in records.items():
                    if not recs or (active is not None and tp not in active):
                        continue  # the feed re-reads what it did not get (Offsets.admit)
                    if feed.owns(tp.topic):
                        await feed.put(tp, recs, generation, round_)
                        continue
                    for rec in recs:  # changelogs (recovery, standbys): Faust's own path
                        await self.wait_first(callback(self._to_message(tp, rec)),
                                              self.suspend_flow.wait())
        except (*self.consumer_stopped_errors, asyncio.CancelledError):
            if self.transport.app.should_stop:
                return
            raise

    async def _seek(self, partition: Any, offset: int) -> None:
        # Faust calls aiokafka's seek from the app's thread while the consumer thread may be
        # inside aiokafka's fetched_records, which reads and deletes the same per-partition
        # buffer without a lock: seen once as KeyError(TopicPartition) crashing the fetcher
        # right after a restarted worker's recovery sought its partitions. Seek in the thread.
        thread = self._thread
        await thread.call_thread(thread.seek, partition, offset)

    async def seek(self, partition: Any, offset: int) -> None:
        feed = _feed(self.app)
        if feed is None:
            await super().seek(partition, offset)
            return
        with feed.seeking():
            await super().seek(partition, offset)
            feed.seeked({partition: offset})

    async def seek_to_committed(self) -> Mapping[Any, int]:
        feed = _feed(self.app)
        if feed is None:
            return await super().seek_to_committed()  # type: ignore[no-any-return]
        with feed.seeking():  # the seeks and their report, one after the other (Feed's doc)
            offsets = dict(await super().seek_to_committed())
            # aiokafka seeks only partitions committed past 0: the others would keep the
            # position the fetcher reached during recovery, past records fetched and dropped
            fresh = [tp for tp, off in offsets.items()
                     if (off is None or off <= 0) and feed.owns(tp.topic)]
            starts = await self.earliest_offsets(*fresh) if fresh else {}
            for tp in fresh:
                start = starts.get(tp)
                if start is not None and start >= 0:
                    await super().seek(tp, start)
                    offsets[tp] = start
            feed.seeked(offsets)
        return offsets

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Iterable[Any]:
        feed = _feed(self.app)
        if feed is None:
            return super()._filter_tps_with_pending_acks(topics)  # type: ignore[no-any-return]
        return [tp for tp in feed.commits.ready()
                if topics is None or tp in topics or tp.topic in topics]

    def _new_offset(self, tp: Any) -> int | None:
        feed = _feed(self.app)
        if feed is None or not feed.owns(tp.topic):
            return super()._new_offset(tp)  # type: ignore[no-any-return]
        return feed.commits.committable(tp)  # type: ignore[no-any-return]

    async def wait_empty(self) -> None:
        # on a revoke or stop, after Faust stopped the flow: what was processed is written
        # first (Feed's doc), no longer than a write may take. After a crash nothing is
        # committed: Faust's commit went through the consumer thread the crash had stopped,
        # and the stop waited for it forever (the broker frozen for 14 s, 2 runs in 4)
        feed = _feed(self.app)
        if feed is not None and self.app.crashed:
            return
        if feed is not None:
            timeout = self.app.conf.producer_request_timeout
            try:
                await asyncio.wait_for(feed.sets.zero(), timeout)
            except TimeoutError:
                self.log.warning("batches taken for processing did not reach the producer "
                                 "in %.0f s; revoking anyway", timeout)
            else:
                await self.app.producer.flush()  # acknowledged: Faust's commit takes them
        await super().wait_empty()

    async def on_partitions_revoked(self, revoked: set[Any]) -> None:
        feed = _feed(self.app)
        if feed is not None:
            feed.revoked(revoked)
        await super().on_partitions_revoked(revoked)


class Transport(faust_aiokafka.Transport):  # type: ignore[misc]
    """Faust's aiokafka transport with :class:`Consumer` (broker URL ``smsflow://host:port``)."""

    Consumer: ClassVar[Any] = Consumer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        check_versions()
        super().__init__(*args, **kwargs)


def aio_producer(app: Any) -> aiokafka.AIOKafkaProducer:
    """The aiokafka producer under the app's Faust producer (started with the app)."""
    return app.producer._ensure_producer()  # type: ignore[no-any-return]


def store_get(table: Any, key: bytes) -> Any:
    """The value of ``key`` in a table's local store (None: absent), no event context needed."""
    store = table.data
    data = getattr(store, "data", None)
    return data.get(key) if isinstance(data, dict) else store.get(key)


def store_put(table: Any, partition: int, key: bytes, value: Any, encoded: bytes) -> None:
    """Set ``key`` in the table's local store for ``partition`` (the changelog record is the
    caller's): memory stores hold ``value``, RocksDB ones ``encoded``."""
    store = table.data
    data = getattr(store, "data", None)
    if isinstance(data, dict):
        data[key] = value
        return
    store._key_index[key] = partition
    store._db_for_partition(partition).put(key, encoded)


def store_delete(table: Any, key: bytes) -> None:
    """Delete ``key`` from the table's local store (absent: nothing)."""
    store = table.data
    data = getattr(store, "data", None)
    if isinstance(data, dict):
        data.pop(key, None)
        return
    for db in store._dbs_for_key(key):
        db.delete(key)
    store._key_index.pop(key, None)


def persisted(table: Any, tp: Any, offset: int) -> None:
    """Note that the table's changelog holds everything up to ``offset`` of ``tp`` (RocksDB
    resumes its recovery there)."""
    table.data.set_persisted_offset(tp, offset)


def pause_resume(app: Any, pause: Iterable[tuple[str, int]],
                 resume: Iterable[tuple[str, int]]) -> None:
    """Pause/resume fetching of (topic, partition)s with aiokafka's own pause, which keeps the
    position (records fetched but not returned are fetched again after the resume)."""
    consumer = app.consumer
    thread = consumer._thread
    aio = thread._ensure_consumer()
    tps = consumer._new_topicpartition
    to_pause = [tps(t, p) for t, p in pause]
    to_resume = [tps(t, p) for t, p in resume]

    def apply() -> None:  # in Faust's consumer thread: the pause state holds its futures
        assigned = aio.assignment()
        for tp in assigned.intersection(to_pause):
            aio.pause(tp)
        for tp in assigned.intersection(to_resume):
            aio.resume(tp)

    thread.thread_loop.call_soon_threadsafe(apply)
