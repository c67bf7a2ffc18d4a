"""The Faust app factory: settings, the at-least-once commit guard, table class.

Processing guarantee: **at-least-once + idempotence**, not Faust's ``exactly_once`` (Kafka
transactions), which is known to lose or duplicate table updates after kill -9 and on
rebalances (faust-notes.md). The design that makes at-least-once exact:

1. The ``messages`` table's changelog *is* the message-state topic, and every version is a pure
   function of (stored state, event) (``streams.state.apply``); a replayed event is "no change".
2. Before Faust commits input offsets it must know that every changelog record and every other
   record produced while processing the committed events was acknowledged by the broker.
   Faust 0.15.3's commit path calls ``producer.flush()``, but its ``ProducerBuffer.flush``
   gives up after 0.1 s per message and does not wait for a message already taken off the queue
   and still being handed to aiokafka, and aiokafka's ``flush()`` does not report failed
   batches. :class:`SendTracker` therefore records the future of every record the worker sends
   (table changelogs via :class:`TrackedTable`, dead letters, internal topics) and the commit
   guard installed by :func:`create_app` waits for all of them after Faust's own flush; a failed
   send raises, so the offsets are never committed past a lost write (the worker stops and is
   restarted; the events are processed again).
3. Outputs derived from the state (DailyDelta rows) are a pure function of each state record
   (``streams.deltas``), deduplicated downstream by (umid, version, key).

Agents never run with concurrency > 1 (a commit could skip an in-flight event).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from smsflow.config import Settings
from smsflow.errors import SmsflowError
from smsflow.kafka_client import faust_broker_kwargs
from streams.ack_guard import install_ack_guard
from streams.codec import register_codecs
from streams.seek_guard import install_seek_guard

__all__ = [
    "LOGGING_CONFIG",
    "SendTracker",
    "TrackedTable",
    "WorkerOptions",
    "create_app",
    "tracker_of",
]

log = logging.getLogger("smsflow.streams")

LOGGING_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "kv": {
            "format": "ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
        }
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "kv", "stream": "ext://sys.stderr"}
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
}


#: records Faust's producer buffer may hold before its conductor stops handing records to the
#: streams (Faust's default is 100). Every table write queues one changelog record there; at
#: 100 the conductor stalled and drained the buffer one record per wake-up ("producer buffer
#: full" in the log), which held events in the worker for seconds now and then
PRODUCER_BUFFER_MAX = 10_000


#: the worker consumer's fetch: wait for this many bytes or this long (Faust creates it with
#: aiokafka's fetch_min_bytes=1, so at a steady rate every fetch returned a few records and each
#: went through Faust's consumer-thread hand-off on its own)
WORKER_FETCH: dict[str, int] = {"fetch_min_bytes": 64 * 1024, "fetch_max_wait_ms": 50}


def _install_worker_fetch() -> None:
    """Make Faust's worker consumers fetch with :data:`WORKER_FETCH` (idempotent)."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(AIOKafkaConsumerThread, "_smsflow_fetch", False):
        return
    create = AIOKafkaConsumerThread._create_worker_consumer

    def create_batching(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        consumer._fetch_min_bytes = WORKER_FETCH["fetch_min_bytes"]  # read by start()
        consumer._fetch_max_wait_ms = WORKER_FETCH["fetch_max_wait_ms"]
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = create_batching  # type: ignore[method-assign]
    AIOKafkaConsumerThread._smsflow_fetch = True  # type: ignore[attr-defined]


@dataclass(frozen=True)
class WorkerOptions:
    """Per-process worker options (two workers on one host need distinct datadir/web port)."""

    datadir: Path
    store: str = "memory"  # memory | rocksdb
    web_port: int | None = None  # None: web server disabled
    commit_interval: float = 1.0  # seconds between offset commits
    deltas: bool = True  # run the deltas loop as a task (off: ``smsflow deltas`` runs it)


class SendTracker:
    """Futures of records sent since the last commit; waited for before offsets are committed."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Future[Any]] = set()
        self.failure: BaseException | None = None
        self.sent = 0

    def add(self, fut: Any) -> None:
        """Track a send future (Faust ``FutureMessage`` or an aiokafka future)."""
        if not isinstance(fut, asyncio.Future):
            return
        self.sent += 1
        if fut.done():
            self._done(fut)
            return
        self._pending.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut: asyncio.Future[Any]) -> None:
        self._pending.discard(fut)
        if not fut.cancelled() and fut.exception() is not None and self.failure is None:
            self.failure = fut.exception()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def wait(self, timeout: float = 120.0) -> None:  # noqa: ASYNC109
        """Wait until every tracked send is acknowledged; raise if one failed or hangs."""
        if self._pending:
            _, still = await asyncio.wait(set(self._pending), timeout=timeout)
            if still:
                raise SmsflowError(
                    f"{len(still)} records not acknowledged by Kafka within {timeout:.0f}s; "
                    "refusing to commit offsets"
                )
        if self.failure is not None:
            raise SmsflowError(f"a record could not be written to Kafka: {self.failure!r}")


def tracker_of(app: faust.App) -> SendTracker:
    """The :class:`SendTracker` of an app made by :func:`create_app`."""
    return app._smsflow_tracker  # type: ignore[attr-defined, no-any-return]


class TrackedTable(faust.Table):  # type: ignore[misc]
    """A Faust table whose changelog sends are tracked for the commit guard.

    Also accepts ``key_serializer`` / ``value_serializer`` (Faust derives them from model
    types only; smsflow tables hold raw umid keys and Avro/JSON values).
    """

    def __init__(self, app: faust.App, *, key_serializer: str = "raw",
                 value_serializer: str = "json", **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.key_serializer = key_serializer
        self.value_serializer = value_serializer

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(*args, **kwargs)
        tracker_of(self.app).add(fut)
        return fut


def _install_commit_guard(app: faust.App, tracker: SendTracker) -> None:
    producer = app.producer
    faust_flush = producer.flush

    async def flush_then_wait() -> None:
        await faust_flush()
        await tracker.wait()

    producer.flush = flush_then_wait  # type: ignore[method-assign]


def create_app(settings: Settings, options: WorkerOptions, app_id: str = "") -> faust.App:
    """A configured Faust app (no agents yet; ``streams.agents.install`` adds them).

    The app id (= consumer group) is ``<topic_prefix>streams`` unless ``app_id`` names another
    (the benchmark's decode-only Faust agent runs with the worker's settings). Raises
    :class:`~smsflow.errors.ConfigError`-like SmsflowError for an unknown store.
    """
    if options.store not in ("memory", "rocksdb"):
        raise SmsflowError(f"unknown table store {options.store!r}: use memory or rocksdb")
    register_codecs(settings)
    install_seek_guard()  # Faust loses events when a seek races its fetch loop (seek_guard.py)
    install_ack_guard()  # and commits past records it never processed (ack_guard.py)
    _install_worker_fetch()
    options.datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id or f"{settings.topic_prefix}streams",
        **faust_broker_kwargs(settings),  # broker URLs and SASL/TLS credentials
        store=f"{options.store}://",
        datadir=str(options.datadir),
        autodiscover=False,
        processing_guarantee="at_least_once",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        broker_commit_interval=options.commit_interval,
        producer_acks=-1,
        # throughput knobs measured with `python -m bench.streams --messages 20000` (worker
        # alone, 2 cores): linger 20 -> 50 ms and 500 -> 5000 records per poll with a 32k stream
        # buffer took the worker from 2,424 to 2,986 events/s (398 -> 333 CPU us/event)
        producer_linger_ms=50,
        producer_max_batch_size=512 * 1024,
        producer_max_request_size=4 * 1024 * 1024,
        broker_max_poll_records=5000,
        stream_buffer_maxsize=32768,
        web_enabled=options.web_port is not None,
        web_port=options.web_port or settings.worker_web_port,
        web_host="127.0.0.1",
        Table=TrackedTable,
        logging_config=LOGGING_CONFIG,
    )
    tracker = SendTracker()
    app._smsflow_tracker = tracker  # type: ignore[attr-defined]
    _install_commit_guard(app, tracker)
    app.producer.buffer.max_messages = PRODUCER_BUFFER_MAX
    return app
