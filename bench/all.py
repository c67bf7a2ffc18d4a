"""``python -m bench all``: ceilings and smsflow end to end, in one run on one local broker.

Order: start a temporary broker; start ``smsflow run`` (one worker, in-process sink, chDB);
throughput run (a simulation of ``messages`` messages produced at full speed); latency run (a
second simulation paced at half the measured end-to-end rate); read peak RSS; stop the
pipeline; then, with nothing else running, the ceilings: consume + decode of every input record
produced, the same records through a decode-only Faust agent, and a bare bulk insert of as
many rows as the sink wrote in the throughput run.
Prints a table and writes ``bench/results/all-<time>.json``. The broker and the pipeline are
stopped on every exit; a failure raises with the pipeline's log tail.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.ceilings import bulk_insert, consume_decode, faust_decode
from bench.e2e import (
    IDLE_WINDOW_S,
    LATENCY_POLL_S,
    Latency,
    Throughput,
    cpu_seconds,
    latency,
    retimed,
    throughput,
    wait_idle,
    warm_up,
)
from bench.report import machine, percentile, print_table, write_json
from infra.broker import Broker
from simulator.simulation import SimConfig, simulate
from smsflow.config import Settings
from smsflow.memory import process_memory
from smsflow.topics import ensure_topics
from tests.e2e.harness import Pipeline, free_port

__all__ = ["run_all"]

console = Console(stderr=True)
#: messages of the warm-up between the throughput and the latency run
WARM_UP_MESSAGES = 50


def _mib(kib: int | None) -> float | None:
    return None if kib is None else kib / 1024


def _x(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.3f}"


def _rows(t: Throughput, lat: Latency, mem: dict[str, dict[str, int]], raw_rate: float,
          faust_rate: float, bare_rate: float,
          broker_cpu_s: float) -> list[tuple[str, Any, str, str]]:
    e2e, worker, sink = t.events / t.e2e_s, t.events / t.worker_s, t.sink_rows / t.e2e_s
    p = {q: percentile(lat.insert_ms, q) for q in (50, 95, 99)}
    seen = {q: percentile(lat.seen_ms, q) for q in (50, 95, 99)}
    work = {q: percentile(lat.worker_ms, q) for q in (50, 95, 99)}
    growth, single = t.rss_growth(), t.rss_growth_samples()
    us = lat.cpu_us_per_event()
    pipeline = {k: v for k, v in us.items() if k != "bench"}
    return [
        ("ceiling: aiokafka getmany + fastavro decode", raw_rate, "events/s", "no pipeline"),
        ("ceiling: Faust agent, decode only", faust_rate, "events/s", "worker's app settings"),
        ("ceiling: bare chDB bulk insert", bare_rate, "rows/s", "10k-row chunks"),
        ("smsflow end-to-end", e2e, "events/s", f"{t.e2e_s:.1f} s first produce -> last row"),
        ("smsflow worker", worker, "events/s", f"{t.worker_s:.1f} s, {t.worker_cpu_s:.1f} CPU s"),
        ("smsflow sink", sink, "rows/s", f"{t.sink_rows:,} rows in the e2e time"),
        ("CPU: smsflow run (sink, ops API)", t.run_cpu_s, "CPU s", "in the e2e time"),
        ("CPU: Kafka broker", broker_cpu_s, "CPU s", "in the e2e time"),
        ("ratio end-to-end / consume ceiling", e2e / raw_rate, "x", "target >= 0.5"),
        ("ratio worker / consume ceiling", worker / raw_rate, "x", ""),
        ("ratio Faust decode-only / consume ceiling", faust_rate / raw_rate, "x",
         "the framework's own bound"),
        ("ratio end-to-end / Faust decode-only", e2e / faust_rate, "x", ""),
        ("ratio sink / insert ceiling", sink / bare_rate, "x", ""),
        ("latency p50 (request -> row inserted)", p[50], "ms",
         f"paced {lat.achieved_rate:,.0f} events/s, {lat.samples} samples"),
        ("latency p95", p[95], "ms", ""),
        ("latency p99", p[99], "ms", "target <= 1000"),
        ("latency p99 (request -> row seen by poll)", seen[99], "ms",
         f"p50 {seen[50] or 0:,.0f}, poll {LATENCY_POLL_S * 1000:.0f} ms"),
        ("latency p99, worker's share (request -> state record)", work[99], "ms",
         f"p50 {work[50] or 0:,.0f}, p95 {work[95] or 0:,.0f}; Kafka timestamps"),
        ("CPU per paced event: run + worker + broker", sum(pipeline.values()), "us",
         ", ".join(f"{k} {v:,.0f}" for k, v in pipeline.items())),
        ("CPU per paced event: the bench itself", us.get("bench"), "us",
         "producer and polls, on the same cores"),
        ("peak RSS smsflow run (sink + ops)", _mib(mem["run"].get("VmHWM")), "MiB", "VmHWM"),
        ("peak RSS worker", _mib(mem["worker"].get("VmHWM")), "MiB", "VmHWM"),
        ("RSS growth run (trend, quarter -> end)", growth["run"], "x",
         f"target <= 1.1; one sample each {_x(single['run'])}"),
        ("RSS growth worker (trend, quarter -> end)", growth["worker"], "x",
         f"target <= 1.1; one sample each {_x(single['worker'])}"),
    ]


def run_all(messages: int, seed: int, latency_messages: int, keep: bool = False,
            latency_rate: float | None = None, days: int = 3, sim_times: bool = False) -> Path:
    """Run every measurement (module doc); return the JSON path. Raises on any failure.

    The events carry times near the wall clock (:func:`bench.e2e.retimed`): the throughput
    run's traffic ends a minute before it starts, the latency run's is spread over the time it
    is produced in. ``sim_times`` keeps the simulations' own times instead (the figures before
    2026-12-02: the latency run then lands in the hours the throughput run sealed)."""
    tmp = Path(tempfile.mkdtemp(prefix="smsflow-bench-"))
    base = Settings(home=tmp, kafka_port=free_port(), kafka_controller_port=free_port(),
                    kafka_heap="768m")
    broker = Broker(base)
    pipe: Pipeline | None = None
    try:
        with console.status("starting a temporary Kafka broker ..."):
            broker.up()
        settings = Settings(
            home=tmp / "run", bootstrap_servers=broker.bootstrap,
            topic_prefix=f"bench{uuid.uuid4().hex[:8]}.", clickhouse_database="smsflow",
            webhook_port=free_port(), health_port=free_port(), worker_web_port=free_port(),
        )
        settings.home.mkdir(parents=True)
        ensure_topics(settings)
        sim = simulate(SimConfig(messages=messages, seed=seed, days=days))
        sim2 = simulate(SimConfig(messages=latency_messages, seed=seed + 1))
        if not sim_times:  # the throughput run's traffic ends a minute ago
            sim = retimed(sim, time.time() - 60)
        pipe = Pipeline(settings)
        with console.status("starting smsflow run ..."):
            pipe.start()
        console.print(f"throughput run: {len(sim.events):,} events of {messages:,} messages")
        broker_pid = broker.pid() or 0
        broker_cpu0 = cpu_seconds(broker_pid)
        t = throughput(pipe, sim, landed_before=0)
        broker_cpu_s = cpu_seconds(broker_pid) - broker_cpu0
        rate = latency_rate or t.events / t.e2e_s / 2
        landed, warm_events = int(sim.truth["messages"]), 0
        if not sim_times:
            # a few messages of now bring the roll-ups from the throughput run's days (produced
            # in seconds) to the present; the latency run starts once the sink is idle
            warm = simulate(SimConfig(messages=WARM_UP_MESSAGES, seed=seed + 2))
            landed = warm_up(pipe, retimed(warm, time.time(), 1.0), landed)
            warm_events = len(warm.events)
        assert pipe.proc is not None
        idle_s, idle_cores = wait_idle([pipe.proc.pid, pipe.worker_pid()])
        console.print(f"pipeline idle after {idle_s:.0f} s (cores used per "
                      f"{IDLE_WINDOW_S:.0f} s: {', '.join(map(str, idle_cores))})")
        if not sim_times:
            paced_s = len(sim2.events) / rate  # each event carries about its produce time
            sim2 = retimed(sim2, time.time() + paced_s, paced_s)
        lat = latency(pipe, sim2, rate, landed_before=landed, broker_pid=broker.pid())
        assert pipe.proc is not None
        mem = {"run": process_memory(pipe.proc.pid),
               "worker": process_memory(pipe.worker_pid())}
        code = pipe.stop()
        pipe = None
        if code != 0:
            console.print(f"[yellow]smsflow run exited {code} at stop")
        events = len(sim.events) + warm_events + len(sim2.events)
        with console.status(f"ceiling: consume + decode {events:,} events ..."):
            raw_s = consume_decode(settings, events)
        with console.status(f"ceiling: decode-only Faust agent, {events:,} events ..."):
            faust_s = faust_decode(settings, events)
        with console.status(f"ceiling: bulk insert {t.sink_rows:,} rows ..."):
            bare_rows, bare_s = bulk_insert(tmp / "ch-bare", t.sink_rows)
        raw_rate, faust_rate, bare_rate = events / raw_s, events / faust_s, bare_rows / bare_s
        rows = _rows(t, lat, mem, raw_rate, faust_rate, bare_rate, broker_cpu_s)
        result: dict[str, Any] = {
            "input": {"messages": messages, "seed": seed, "days": days, "sim_times": sim_times,
                      "state_retention_hours": settings.state_retention_hours,
                      "events": t.events,
                      "latency_messages": latency_messages, "latency_events": lat.events},
            "machine": machine(settings.kafka_version),
            "settings": {"partitions": settings.partitions, "workers": 1,
                         "worker_store": settings.worker_store,
                         "sink_batch_size": settings.sink_batch_size,
                         "sink_batch_ms": settings.sink_batch_ms},
            "ceilings": {"consume_decode_events": events, "consume_decode_s": raw_s,
                         "consume_decode_events_per_s": raw_rate,
                         "faust_decode_s": faust_s, "faust_decode_events_per_s": faust_rate,
                         "bulk_insert_rows": bare_rows,
                         "bulk_insert_s": bare_s, "bulk_insert_rows_per_s": bare_rate},
            "smsflow": {
                **asdict(t),
                "e2e_events_per_s": t.events / t.e2e_s,
                "worker_events_per_s": t.events / t.worker_s,
                "sink_rows_per_s": t.sink_rows / t.e2e_s,
                "rss_kib": mem,
                "broker_cpu_s": broker_cpu_s,
                "rss_growth": t.rss_growth(),
                "rss_growth_samples": t.rss_growth_samples(),
            },
            "latency": {
                "idle_wait_s": idle_s, "idle_cores": idle_cores,
                **{k: v for k, v in asdict(lat).items() if not k.endswith("_ms")},
                "method": "messages.ingested_at of the umid's first row minus the wall time its"
                          " SendRequest was handed to the producer (first event of the umid)",
                **{f"insert_p{q}_ms": percentile(lat.insert_ms, q) for q in (50, 95, 99)},
                **{f"seen_p{q}_ms": percentile(lat.seen_ms, q) for q in (50, 95, 99)},
                **{f"worker_p{q}_ms": percentile(lat.worker_ms, q) for q in (50, 95, 99)},
                "insert_max_ms": max(lat.insert_ms, default=None),
                "cpu_us_per_event": lat.cpu_us_per_event(),
            },
            "ratios": {name: value for name, value, _, _ in rows if name.startswith("ratio")},
            "rows": rows,
        }
        print_table(result)
        path = write_json(result)
        console.print(f"wrote {path}")
        return path
    finally:
        if pipe is not None and pipe.proc is not None and pipe.proc.poll() is None:
            pipe.kill()
        broker.down()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
