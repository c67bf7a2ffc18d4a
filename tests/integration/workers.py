"""Helpers for tests that run ``smsflow worker`` subprocesses and check their output.

* :class:`WorkerProcess` / :func:`start_worker`: a worker subprocess with the test's settings
  (passed as ``SMSFLOW_*`` environment), its own datadir and log file; ``kill()`` (SIGKILL),
  ``stop()`` (SIGTERM, waits for a clean exit), ``wait_ready()``.
* :func:`collect_deltas`: read the message-state topic with a plain aiokafka consumer until it
  has been quiet for a while and turn each record into its daily delta rows as the sink does
  (:func:`smsflow.contribution.delta_rows`), deduplicated by identity (umid, version, key) -
  the same rule ClickHouse applies downstream.
* :func:`daily_totals` / :func:`truth_totals`: both sides at the grain of truth ``daily``
  (day, subaccount_id, country, operator), zero measures dropped, cost per currency as strings.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas import get_codec
from smsflow import consumers
from smsflow.config import Settings
from smsflow.contribution import delta_rows
from tests.e2e.harness import settings_env as pipeline_env

__all__ = [
    "COUNTS",
    "WorkerProcess",
    "collect_deltas",
    "collect_states",
    "count_dead_letters",
    "daily_totals",
    "lag",
    "settings_env",
    "start_worker",
    "truth_totals",
    "wait_caught_up",
]

ROOT = Path(__file__).resolve().parents[2]
COUNTS = ("total", "received", "sent", "delivered", "undelivered", "rejected", "chargeable",
          "segments", "verification_sent", "verification_converted", "replies",
          "survey_answered", "clicked", "inbound")
_IDENTITY = ("umid", "version", "day", "subaccount_id", "country", "operator", "origin",
             "encoding", "campaign_id", "currency")
def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``load_settings()`` in a subprocess equal ``settings``
    (every field, as for ``smsflow run`` in the e2e harness), output unbuffered."""
    return {**pipeline_env(settings), "PYTHONUNBUFFERED": "1"}


class WorkerProcess:
    """One ``smsflow worker`` subprocess; output goes to ``log_path``."""

    def __init__(self, settings: Settings, name: str, *, store: str = "memory") -> None:
        self.settings = settings
        self.name = name
        self.store = store
        self.datadir = settings.home / f"worker-{name}"
        self.log_path = settings.home / f"worker-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> WorkerProcess:
        cmd = [sys.executable, "-c", "from shell.worker_cli import main; main()",
               "--datadir", str(self.datadir), "--no-web", "--store", self.store]
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=settings_env(self.settings),
                                         stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_bytes()[self._log_offset:].decode(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait for Faust's "Ready" line (after table recovery); raise with the log tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            if "[^Worker]: Ready" in text:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited {self.proc.returncode}:\n"
                                   + text[-3000:])
            time.sleep(0.2)
        raise TimeoutError(f"worker {self.name} not ready in {timeout}s:\n"
                           + self.log_text()[-3000:])

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code once the process ended by itself, None if it still runs."""
        if self.proc is None:
            return None
        try:
            return int(self.proc.wait(timeout))
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL, no goodbye (the crash the exactness design must survive)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait for the exit code (SIGKILL after ``timeout``)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        return int(self.proc.returncode)


def start_worker(settings: Settings, name: str, *, store: str = "memory",
                 ready: bool = True) -> WorkerProcess:
    """Start a worker subprocess (and wait until it is ready unless ``ready=False``)."""
    w = WorkerProcess(settings, name, store=store).start()
    if ready:
        w.wait_ready()
    return w


async def collect_deltas(
    settings: Settings,
    *,
    quiet_s: float = 8.0,
    timeout: float = 240.0,  # noqa: ASYNC109
    until: Any = None,
) -> tuple[list[dict[str, Any]], int]:
    """The delta rows of every message-state record, deduplicated by identity; returns (rows,
    raw row count).

    Reads until no record arrived for ``quiet_s`` seconds and ``until(rows)`` (if given) is
    true, or ``timeout`` passes. Two rows with one identity must be equal (a replayed version
    must carry the same contributions).
    """
    codec = get_codec(settings)
    consumer = AIOKafkaConsumer(settings.topics.message_state,
                                bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None)
    await consumer.start()
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    raw = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = loop.time()
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    last = loop.time()
                    if r.value is None:  # a retention tombstone counts nowhere
                        continue
                    for row in delta_rows(codec.decode_as("MessageState", r.value)):
                        raw += 1
                        ident = tuple(row[f] for f in _IDENTITY)
                        if ident in seen:
                            assert seen[ident] == row, f"replay differs for {ident}"
                            continue
                        seen[ident] = row
                        rows.append(row)
            if loop.time() - last > quiet_s and (until is None or until(rows)):
                break
    finally:
        await consumer.stop()
    return rows, raw


def daily_totals(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    """Summed rows at the truth grain; zero measures and zero costs dropped."""
    counts: dict[tuple[str, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    cost: dict[tuple[str, ...], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in rows:
        k = (r["day"].isoformat(), r["subaccount_id"], r["country"], r["operator"])
        for f in COUNTS:
            counts[k][f] += r[f]
        cost[k][r["currency"]] += r["cost"]
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for k in set(counts) | set(cost):
        m: dict[str, Any] = {f: v for f, v in counts[k].items() if v}
        c = {cur: str(v.quantize(Decimal("0.00000001"))) for cur, v in cost[k].items() if v}
        if c:
            m["cost"] = c
        if m:
            out[k] = m
    return out


def truth_totals(truth: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    """truth["daily"] in the shape of :func:`daily_totals`."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for d in truth["daily"]:
        k = (d["day"], d["subaccount_id"], d["country"], d["operator"])
        m: dict[str, Any] = {f: d[f] for f in COUNTS if d[f]}
        c = {cur: v for cur, v in d["cost"].items() if Decimal(v)}
        if c:
            m["cost"] = c
        if m:
            out[k] = m
    return out


async def _read_all(settings: Settings, topic: str) -> list[Any]:
    """Every record of ``topic`` up to its current end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[Any] = []
        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in tps])

        while await behind():
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


async def collect_states(settings: Settings) -> dict[str, dict[str, Any]]:
    """The latest MessageState per umid on the message-state topic."""
    codec = get_codec(settings)
    latest: dict[str, dict[str, Any]] = {}
    for r in await _read_all(settings, settings.topics.message_state):
        if r.value is None:  # a forgotten state (streams.forgetting): its last version stays
            continue
        st = codec.decode_as("MessageState", r.value)
        cur = latest.get(st["umid"])
        if cur is None or st["version"] > cur["version"]:
            latest[st["umid"]] = st
    return latest


async def count_tombstones(settings: Settings) -> int:
    """Tombstones on the message-state topic (states the worker forgot, streams.forgetting)."""
    return sum(1 for r in await _read_all(settings, settings.topics.message_state)
               if r.value is None)


async def count_dead_letters(settings: Settings) -> dict[str, int]:
    """Distinct dead-lettered inputs (by topic/partition/offset) per reason."""
    codec = get_codec(settings)
    seen: dict[tuple[Any, ...], str] = {}
    for r in await _read_all(settings, settings.topics.dead_letter):
        d = codec.decode_as("DeadLetter", r.value)
        seen[(d["topic"], d["partition"], d["offset"])] = d["reason"]
    counts: dict[str, int] = defaultdict(int)
    for reason in seen.values():
        counts[reason] += 1
    return dict(counts)


async def lag(settings: Settings, group: str, topics: list[str]) -> int:
    """Records of ``topics`` not yet committed by consumer group ``group``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]
        end = await consumer.end_offsets(tps)
        total = 0
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            total += max(0, end[tp] - done)
        return total
    finally:
        await consumer.stop()
        await admin.close()


async def wait_caught_up(settings: Settings, *, timeout: float = 300.0,  # noqa: ASYNC109
                         stable_s: float = 6.0) -> None:
    """Wait until the worker group has committed every input, control and pair record, and
    that stayed so for ``stable_s`` seconds."""
    worker_topics = settings.topics.worker_owned()
    group = consumers.worker(settings).group
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    since: float | None = None
    while loop.time() < deadline:
        behind = await lag(settings, group, worker_topics)
        if behind == 0:
            since = since if since is not None else loop.time()
            if loop.time() - since >= stable_s:
                return
        else:
            since = None
        await asyncio.sleep(1.0)
    raise TimeoutError(f"worker did not catch up within {timeout:.0f}s")
