"""The Faust app factory: settings, the batch transport, the table class.

Processing guarantee: at-least-once + idempotence, not Faust's ``exactly_once`` (Kafka
transactions, known to lose or duplicate table updates after kill -9 and on rebalances,
faust-notes.md); why that is exact: README.md, "How results stay exact".

The broker URL scheme ``smsflow://`` selects :class:`streams.compat.Transport` (an entry point
in pyproject.toml), which refuses faust-streaming/aiokafka versions it was not written for.
"""

from __future__ import annotations

import faulthandler
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from smsflow import consumers
from smsflow.config import Settings
from smsflow.consumers import ConsumerSpec
from smsflow.errors import SmsflowError
from smsflow.kafka_client import faust_broker_kwargs
from streams.compat import SCHEME, check_versions
from streams.faust_codecs import register_codecs
from streams.feed import Feed

__all__ = ["LOGGING_CONFIG", "RawTable", "WorkerApp", "WorkerOptions", "create_app"]

log = logging.getLogger("smsflow.streams")

LOGGING_CONFIG: dict[str, Any] = {
    "version": 1, "disable_existing_loggers": False,
    "formatters": {"kv": {
        "format": "ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"}},
    "handlers": {"stderr": {
        "class": "logging.StreamHandler", "formatter": "kv", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
}


@dataclass(frozen=True)
class WorkerOptions:
    """Per-process worker options (two workers on one host need distinct datadir/web port)."""

    datadir: Path
    store: str = "memory"  # memory | rocksdb
    web_port: int | None = None  # None: web server disabled
    commit_interval: float = 1.0  # seconds between offset commits


class WorkerApp(faust.App):  # type: ignore[misc]
    """A Faust app with the worker's batch path (``feed``: set by ``streams.agents.install``;
    None: every topic takes Faust's per-record path) and its consumer's settings
    (``consumer_spec``: read by :class:`streams.compat.ConsumerThread`)."""

    feed: Feed | None = None
    consumer_spec: ConsumerSpec | None = None

    async def crash(self, reason: BaseException) -> None:
        # should the stop hang, exit with the threads' stacks: `smsflow run` restarts the worker
        if not self.crashed:
            faulthandler.dump_traceback_later(max(5.0, self.conf.producer_request_timeout),
                                              exit=True)
        await super().crash(reason)


class RawTable(faust.Table):  # type: ignore[misc]
    """A Faust table that accepts ``key_serializer`` / ``value_serializer`` (Faust derives them
    from model types only; smsflow tables hold raw umid keys and Avro/JSON values)."""

    def __init__(self, app: faust.App, *, key_serializer: str = "raw",
                 value_serializer: str = "json", **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.key_serializer = key_serializer
        self.value_serializer = value_serializer


def create_app(settings: Settings, options: WorkerOptions, app_id: str = "") -> faust.App:
    """A configured Faust app (``streams.agents.install`` adds agents) whose id (= consumer
    group) is the worker's group unless ``app_id`` names another (the benchmark's decode-only
    agent); its consumer takes that spec's settings. SmsflowError for an unknown store."""
    if options.store not in ("memory", "rocksdb"):
        raise SmsflowError(f"unknown table store {options.store!r}: use memory or rocksdb")
    register_codecs(settings)
    check_versions()  # the batch path relies on internals of the pinned versions
    options.datadir.mkdir(parents=True, exist_ok=True)
    broker = faust_broker_kwargs(settings)  # broker URLs and SASL/TLS credentials
    broker["broker"] = [f"{SCHEME}://{url.split('://', 1)[1]}" for url in broker["broker"]]
    spec = consumers.worker(settings)
    app = WorkerApp(
        app_id or spec.group, **broker, store=f"{options.store}://",
        datadir=str(options.datadir), autodiscover=False, processing_guarantee="at_least_once",
        key_serializer="raw", value_serializer="raw", topic_partitions=settings.partitions,
        topic_replication_factor=settings.topic_replication, table_standby_replicas=0,
        consumer_auto_offset_reset=spec.auto_offset_reset,
        broker_session_timeout=spec.session_timeout_ms / 1000,
        broker_heartbeat_interval=spec.heartbeat_interval_ms / 1000,
        broker_commit_interval=options.commit_interval, producer_acks=-1,
        producer_request_timeout=settings.worker_produce_timeout_seconds,
        # throughput knobs measured with `python -m bench.streams --messages 20000` (worker
        # alone, 2 cores): linger 20 -> 50 ms and 500 -> 5000 records per poll (the setting
        # worker_max_poll_records) with a 32k stream buffer took the worker from 2,424 to 2,986
        # events/s (398 -> 333 CPU us/event)
        producer_linger_ms=50, producer_max_batch_size=512 * 1024,
        producer_max_request_size=4 * 1024 * 1024,
        broker_max_poll_records=spec.max_poll_records, stream_buffer_maxsize=32768,
        web_enabled=options.web_port is not None,
        web_port=options.web_port or settings.worker_web_port, web_host="127.0.0.1",
        Table=RawTable, logging_config=LOGGING_CONFIG,
    )
    app.consumer_spec = spec
    return app
