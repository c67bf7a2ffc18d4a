"""smsflow measured from outside: throughput of a full-speed run, latency of a paced run, RSS.

Both phases talk to a running ``smsflow run`` (:class:`tests.e2e.harness.Pipeline`) only through
Kafka and its ops API (``/progress``, ``/health``, ``/api/sql``), as a user would.

- :func:`throughput`: produce a simulation as fast as the simulator producer goes; the clock
  runs from the first produce to the moment ``/progress`` shows every input committed by the
  worker (worker time, polled every 1 s) and then every group caught up and every outbound
  message landed (end-to-end, polled every 100 ms).
- :func:`latency`: produce a second simulation paced at a fixed events/s; for each message
  whose first event is its send request, latency = ``messages.ingested_at`` of the first row of
  that umid (ClickHouse's own insert time, read while polling ``/api/sql`` every 300 ms) minus the
  wall time at which the bench handed the request to the producer. The wall time at which the
  poll first saw the row is recorded too (an upper bound, poll resolution ~300 ms).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console

from producers.send import SendProducer
from simulator.config import KINDS, SCHEMA_OF
from simulator.simulation import Simulation, produce_events
from smsflow import consumers
from smsflow.config import Settings
from smsflow.kafka_client import aiokafka_kwargs, start_client
from smsflow.memory import process_memory
from tests.e2e.harness import Pipeline

__all__ = ["LATENCY_POLL_S", "Latency", "Throughput", "cpu_seconds", "latency", "retimed",
           "throughput", "warm_up"]

console = Console(stderr=True)
POLL_S = 0.1
#: poll interval of the latency run's ``/api/sql`` reads. The latency figure is ClickHouse's own
#: insert time, which the poll only finds; each poll is a query and a JSON answer in the sink's
#: process, the process the run measures. Measured (bench all --messages 20000 --latency-rate
#: 3000 --latency-messages 10000, interleaved, 2026-12-03): p99 2,105 / 1,977 ms at 0.1 s,
#: 1,052 / 1,047 ms at 0.3 s, CPU 553 / 559 -> 533 / 531 us per paced event
LATENCY_POLL_S = 0.3
#: the paced producer sleeps at least this long when it is ahead of its rate, then sends every
#: event that fell due (each stamped when it is sent, so up to this much late, never early).
#: A timer and a loop pass per event cost the bench's process, on the pipeline's two cores.
#: Measured (bench all --messages 20000, 3 interleaved pairs, 2026-12-04, ~3,300-3,500 paced
#: events/s): the bench's CPU per paced event 122 / 138 / 134 -> 106 / 105 / 110 us, p99
#: request -> row 835 / 1,098 / 1,044 -> 842 / 600 / 833 ms
PACE_TICK_S = 0.005
#: poll interval of the throughput wait while the worker still has input to process: each
#: ``/progress`` reads three groups' offsets and runs a FINAL count in the sink's process, so
#: polling it every 100 ms during the whole run took CPU from the pipeline being measured
BUSY_POLL_S = 1.0


@dataclass
class Throughput:
    events: int
    messages: int
    produce_s: float
    worker_s: float
    e2e_s: float
    sink_rows: int
    sink_records: int
    worker_cpu_s: float
    run_cpu_s: float
    #: (seconds since the first produce, VmRSS KiB of run, VmRSS KiB of the worker), every 1 s
    rss: list[tuple[float, int, int]] = field(default_factory=list)

    def rss_growth(self) -> dict[str, float | None]:
        """RSS growth from a quarter of the run to its end, per process, read off the
        least-squares line through the 1-s samples of that span: the line's end / its start
        (the soak's leak check, target <= 1.1).

        The first quarter holds start-up growth (tables filling, buffers sized). A steady leak
        reads as in :meth:`rss_growth_samples`, but the line is not moved by where in its saw
        the first and last samples fall (`run`'s RSS swings by +-10 % within seconds with its
        inserts and merges). None when the run was too short to sample.
        """
        if len(self.rss) < 8:
            return {"run": None, "worker": None}
        end = self.rss[-1][0]
        span = [r for r in self.rss if r[0] >= end / 4]
        out: dict[str, float | None] = {}
        for name, col in (("run", 1), ("worker", 2)):
            slope, at_zero = statistics.linear_regression([r[0] for r in span],
                                                          [r[col] for r in span])
            out[name] = _ratio(slope * end + at_zero, slope * span[0][0] + at_zero)
        return out

    def rss_growth_samples(self) -> dict[str, float | None]:
        """RSS at the end / RSS when a quarter of the run had passed, one sample each: the
        figure before 2026-12-04, kept to compare with. It reads one point of the saw each
        time, so a process that does not grow can show 0.9 or 1.2."""
        if len(self.rss) < 8:
            return {"run": None, "worker": None}
        end = self.rss[-1][0]
        quarter = next(r for r in self.rss if r[0] >= end / 4)
        return {name: _ratio(self.rss[-1][col], quarter[col])
                for name, col in (("run", 1), ("worker", 2))}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


@dataclass
class Latency:
    rate: float  # events/s asked for
    achieved_rate: float
    events: int
    samples: int
    unseen: int
    insert_ms: list[float] = field(default_factory=list)  # ingested_at - produce time
    seen_ms: list[float] = field(default_factory=list)  # first poll that saw it - produce time
    #: the worker's share: Kafka timestamp of the umid's first message-state record (set by
    #: the worker's producer) - produce time; ms resolution
    worker_ms: list[float] = field(default_factory=list)
    #: per second of the paced run (by request time): [second, samples, insert ms p50, max,
    #: worker ms max] - whether the tail is spread out or comes in bursts
    timeline: list[list[float]] = field(default_factory=list)
    #: CPU seconds per process from the first paced produce until every message landed:
    #: ``run``, ``worker``, ``broker`` and ``bench`` (this process: producer, polls)
    cpu_s: dict[str, float] = field(default_factory=dict)

    def cpu_us_per_event(self) -> dict[str, float]:
        """:attr:`cpu_s` per paced event, in microseconds: unlike the p99, which a single
        stall decides, a steady figure to compare code versions by."""
        return {k: v / self.events * 1e6 for k, v in self.cpu_s.items()} if self.events else {}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (0.0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler(threading.Thread):
    """Samples VmRSS of the run and worker processes every second (daemon thread)."""

    def __init__(self, run_pid: int, worker_pid: int, t0: float) -> None:
        super().__init__(daemon=True)
        self.pids, self.t0 = (run_pid, worker_pid), t0
        self.samples: list[tuple[float, int, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            run, worker = (process_memory(pid).get("VmRSS", 0) for pid in self.pids)
            if not (run and worker):  # a process gone (e.g. the worker restarting)
                continue
            self.samples.append((time.perf_counter() - self.t0, run, worker))


def _sink(p: Pipeline) -> dict[str, Any]:
    _ok, body = p.client.health()
    return dict(body.get("components", {}).get("sink", {}))


def _wait(p: Pipeline, messages: int, t0: float, timeout: float) -> tuple[float, float]:
    """Poll ``/progress``: (seconds from t0 until the worker group, then everything, caught up)."""
    group = consumers.worker(p.settings).group
    worker_t: float | None = None
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    with console.status("waiting for the pipeline to catch up ...") as status:
        while time.monotonic() < deadline:
            try:
                last = p.progress()
            except Exception as e:  # ops API busy: try again
                last = {"error": repr(e)}
                time.sleep(POLL_S)
                continue
            now = time.perf_counter()
            lag = last.get("lag", {})
            if worker_t is None and lag.get(group) == 0:
                worker_t = now - t0
            if worker_t is not None and p.caught_up(last, messages):
                return worker_t, now - t0
            status.update(f"lag {lag}, landed {last.get('messages_landed')}/{messages}")
            time.sleep(POLL_S if worker_t is not None else BUSY_POLL_S)
    raise TimeoutError(f"pipeline not caught up in {timeout:.0f}s: {last}\n{p.tail()}")


def warm_up(p: Pipeline, sim: Simulation, landed_before: int, timeout: float = 300.0) -> int:
    """Produce ``sim`` (a few messages) at full speed, then wait until they landed and the sink
    has no roll-up work pending (``rollup_pending`` in ``/health``); the messages landed."""
    asyncio.run(produce_events(p.settings, sim.events))
    messages = landed_before + int(sim.truth["messages"])
    deadline = time.monotonic() + timeout
    with console.status("warm-up: waiting for the sink's roll-ups ..."):
        while time.monotonic() < deadline:
            try:
                if p.caught_up(p.progress(), messages) and not _sink(p).get("rollup_pending"):
                    return messages
            except Exception:  # ops API busy: ask again
                pass
            time.sleep(POLL_S)
    raise TimeoutError(f"warm-up not done in {timeout:.0f}s\n{p.tail()}")


#: the pipeline counts as idle once its processes together used less than this share of a core
#: over :data:`IDLE_WINDOW_S`
IDLE_CORES = 0.1
IDLE_WINDOW_S = 2.0


def wait_idle(pids: list[int], timeout: float = 120.0) -> tuple[float, list[float]]:
    """Wait until the processes ``pids`` are idle (:data:`IDLE_CORES`), at most ``timeout``
    seconds; the seconds waited and the cores they used, per window. ClickHouse keeps merging
    the parts of a full-speed run for a while after its last insert (in `run`'s process with
    chDB); a paced run started meanwhile measures that backlog's CPU as its own."""
    t0, used = time.monotonic(), []
    with console.status("waiting for the pipeline to go idle (merges) ..."):
        while time.monotonic() - t0 < timeout:
            cpu0 = sum(cpu_seconds(pid) for pid in pids)
            time.sleep(IDLE_WINDOW_S)
            used.append(round((sum(cpu_seconds(pid) for pid in pids) - cpu0) / IDLE_WINDOW_S, 3))
            if used[-1] < IDLE_CORES:
                break
    return time.monotonic() - t0, used


def throughput(p: Pipeline, sim: Simulation, landed_before: int,
               timeout: float = 1800.0) -> Throughput:
    """Produce ``sim`` at full speed and time it until worker and sink caught up."""
    run_pid = p.proc.pid if p.proc else 0
    worker_pid = p.worker_pid()
    sink0 = _sink(p)
    cpu_w0, cpu_r0 = (cpu_seconds(pid) for pid in (worker_pid, run_pid))
    t0 = time.perf_counter()
    sampler = RssSampler(run_pid, worker_pid, t0)
    sampler.start()
    try:
        asyncio.run(produce_events(p.settings, sim.events, progress=True))
        produce_s = time.perf_counter() - t0
        messages = landed_before + int(sim.truth["messages"])
        worker_s, e2e_s = _wait(p, messages, t0, timeout)
    finally:
        sampler.done.set()
    sink1 = _sink(p)
    rows = sum(sink1.get("rows", {}).values()) - sum(sink0.get("rows", {}).values())
    return Throughput(
        events=len(sim.events), messages=int(sim.truth["messages"]), produce_s=produce_s,
        worker_s=worker_s, e2e_s=e2e_s, sink_rows=rows,
        sink_records=int(sink1.get("records", 0)) - int(sink0.get("records", 0)),
        worker_cpu_s=cpu_seconds(worker_pid) - cpu_w0, run_cpu_s=cpu_seconds(run_pid) - cpu_r0,
        rss=sampler.samples,
    )


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def retimed(sim: Simulation, end: float, seconds: float | None = None) -> Simulation:
    """``sim`` with every time of its events moved, in order, to end at ``end`` (Unix
    seconds): spread over the ``seconds`` before it, or shifted whole when ``None``.

    A simulation's times are fixed by its seed (2024) and span days. Produced in seconds, as a
    benchmark does, the newest hour then moves hours per second of wall time, and the sink
    seals an hour (every roll-up family) each time; a platform's events carry the time they
    happen at, and its sink seals one hour per hour. Only the message counts, which do not
    depend on the times, are compared with the truth here.
    """
    times = [v for _, _, rec in sim.events for v in rec.values() if isinstance(v, dt.datetime)]
    if not times:
        return sim
    t0, t1 = min(times), max(times)
    span = (t1 - t0).total_seconds()
    scale = 1.0 if seconds is None else seconds / max(span, 1e-6)
    origin = dt.datetime.fromtimestamp(end, dt.UTC) - (t1 - t0) * scale

    def moved(v: Any) -> Any:
        return origin + (v - t0) * scale if isinstance(v, dt.datetime) else v

    events = [(kind, umid, {k: moved(v) for k, v in rec.items()})
              for kind, umid, rec in sim.events]
    return replace(sim, events=events)


async def _paced(settings: Settings, sim: Simulation, rate: float,
                 sent: dict[str, float]) -> float:
    """Produce ``sim`` at ``rate`` events/s; fill ``sent`` (umid -> wall time of its request).

    Through :class:`producers.send.SendProducer` with its defaults (linger 20 ms), as a
    platform team produces: a 5 ms linger of the bench's own once sent ~4 records per request
    at 1,000 events/s, and those ~250 produce requests/s cost the broker 0.5-1 core."""
    topics = {k: getattr(settings.topics, k) for k in KINDS}
    seen: set[str] = set()
    pending = []
    async with SendProducer(settings, client_id="smsflow-bench") as producer:
        t0 = time.perf_counter()
        for i, (kind, umid, record) in enumerate(sim.events):
            ahead = t0 + i / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(max(ahead, PACE_TICK_S))
            at = time.time()
            pending.append(await producer.enqueue(topics[kind], SCHEMA_OF[kind], umid, record))
            if umid not in seen:
                seen.add(umid)
                if kind == "requests":
                    sent[umid] = at
        await asyncio.gather(*pending)
        return len(sim.events) / (time.perf_counter() - t0)


async def _poll(base: str, sent: dict[str, float], found: dict[str, tuple[float, float]],
                done: asyncio.Event) -> None:
    """Find first rows of the sampled umids until ``done`` is set and all are found (or 120 s
    after ``done``).

    Each poll asks only for the rows inserted after the newest one seen (``ingested_at``
    above it): a poll that named every umid still missing cost the sink's process more CPU the
    longer the run went, and so raised the latency it measured. Every row of one insert has
    the same ``ingested_at`` (``now64`` once per insert) and becomes visible with the others,
    so "above", not "at or above": that returned the last flush's rows again on every poll
    until the next flush (6-15 times each). (The poll's whole handling, this included, was
    19% of the sink process's samples in the latency run, py-spy, 2026-12-02.)
    """
    deadline: float | None = None
    since = "1970-01-01 00:00:00"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while True:
            if done.is_set() and deadline is None:
                deadline = time.monotonic() + 120
            sql = (f"SELECT toString(umid), min(ingested_at), max(ingested_at) FROM messages "
                   f"WHERE ingested_at > toDateTime64('{since}', 6, 'UTC') GROUP BY umid")
            try:
                resp = await http.post("/api/sql", json={"sql": sql})
            except httpx.HTTPError:  # ops API busy: poll again
                await asyncio.sleep(LATENCY_POLL_S)
                continue
            now = time.time()
            if resp.status_code == 200:
                for umid, first, last in resp.json()["rows"]:
                    since = max(since, last.replace("T", " ").rstrip("Z"))
                    if umid in sent and umid not in found:
                        found[umid] = (_epoch(first), now)
            if deadline is not None and (len(found) == len(sent) or time.monotonic() > deadline):
                return
            await asyncio.sleep(LATENCY_POLL_S)


async def _watch_states(settings: Settings, states: dict[str, float], ready: asyncio.Event,
                        done: asyncio.Event) -> None:
    """Record the Kafka timestamp (the worker's send time) of each umid's first message-state
    record produced after the start, until ``done`` is set and 2 s passed without a record."""
    # its fetches wait for 256 KiB or 500 ms: it reads the worker's timestamps, not the time
    # it receives the records, and fetching every few records (the default) cost the broker
    # it observes CPU
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, fetch_min_bytes=256 * 1024,
                                fetch_max_wait_ms=500, **aiokafka_kwargs(settings))
    await start_client(consumer, settings)
    try:
        tps = [TopicPartition(settings.topics.message_state, i)
               for i in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        ready.set()
        quiet_since = time.monotonic()
        while not (done.is_set() and time.monotonic() - quiet_since > 2.0):
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                quiet_since = time.monotonic()
                for r in records:
                    if r.key is not None:
                        states.setdefault(r.key.decode(), r.timestamp / 1000)
    finally:
        ready.set()
        await consumer.stop()


async def _latency(p: Pipeline, sim: Simulation, rate: float) -> tuple[
        float, dict[str, float], dict[str, tuple[float, float]], dict[str, float]]:
    sent: dict[str, float] = {}
    found: dict[str, tuple[float, float]] = {}
    states: dict[str, float] = {}
    done, ready = asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(_watch_states(p.settings, states, ready, done))
    await ready.wait()
    poller = asyncio.create_task(_poll(p.client.base, sent, found, done))
    try:
        achieved = await _paced(p.settings, sim, rate, sent)
    finally:
        done.set()
        await poller
        await watcher
    return achieved, sent, found, states


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each process of ``pids``, and of this one as ``bench``."""
    return {**{name: cpu_seconds(pid) for name, pid in pids.items()},
            "bench": time.process_time()}


def latency(p: Pipeline, sim: Simulation, rate: float, landed_before: int,
            broker_pid: int | None = None) -> Latency:
    """Produce ``sim`` at ``rate`` events/s and measure request-to-row latency (module doc)."""
    assert p.proc is not None
    pids = {"run": p.proc.pid, "worker": p.worker_pid()}
    if broker_pid:
        pids["broker"] = broker_pid
    cpu0 = _cpu(pids)
    with console.status(f"latency run: {len(sim.events)} events at {rate:,.0f} events/s ..."):
        achieved, sent, found, states = asyncio.run(_latency(p, sim, rate))
    _wait(p, landed_before + int(sim.truth["messages"]), time.perf_counter(), 600.0)
    cpu = {k: v - cpu0[k] for k, v in _cpu(pids).items()}
    out = Latency(rate=rate, achieved_rate=achieved, events=len(sim.events), samples=len(sent),
                  unseen=len(sent) - len(found), cpu_s=cpu)
    for umid, (ingested, seen) in found.items():
        out.insert_ms.append((ingested - sent[umid]) * 1000)
        out.seen_ms.append((seen - sent[umid]) * 1000)
    out.worker_ms = [(states[umid] - at) * 1000 for umid, at in sent.items() if umid in states]
    out.timeline = _timeline(sent, found, states)
    return out


def _timeline(sent: dict[str, float], found: dict[str, tuple[float, float]],
              states: dict[str, float]) -> list[list[float]]:
    """:attr:`Latency.timeline` of the samples."""
    if not sent:
        return []
    t0 = min(sent.values())
    seconds: dict[int, list[tuple[float, float]]] = {}
    for umid, at in sent.items():
        if umid in found:
            worker = (states[umid] - at) * 1000 if umid in states else 0.0
            seconds.setdefault(int(at - t0), []).append(((found[umid][0] - at) * 1000, worker))
    out = []
    for second in sorted(seconds):
        inserts = sorted(i for i, _ in seconds[second])
        out.append([second, len(inserts), round(inserts[len(inserts) // 2]),
                    round(inserts[-1]), round(max(w for _, w in seconds[second]))])
    return out
