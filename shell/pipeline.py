"""``smsflow run``: worker, sink, webhook receiver and ops API as one supervised group.

The process owns the ClickHouse connection (chDB allows one process per directory): the sink
runs in it as a task (it also derives the daily delta rows from the message-state records),
the ops API (health, metrics, reports, SQL) serves from it on <ops_host>:<health_port>, the
webhook receiver listens on <webhook_port>, and the Faust worker(s) (``smsflow worker``) run as
child processes that are restarted if they die (and die with this process).
Alert rules are evaluated in it as they come due in event time (:mod:`shell.alerting`).
With SMSFLOW_SMPP_HOST set, the SMPP bridge (producers/smpp_bridge.py) runs in it too.
SIGTERM or Ctrl-C: the receiver stops taking requests (the SMPP binds unbind), the worker stops
and commits, the sink flushes and commits, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from shell.kafka_stats import KafkaStats
from shell.ops import OpsState, create_ops_app
from shell.supervisor import Child, smsflow_command
from smsflow import consumers
from smsflow.clickhouse import ClickHouse, connect
from smsflow.config import Settings
from smsflow.errors import InfraError

__all__ = ["PipelineOptions", "default_workers", "pid_file", "run_pipeline"]


log = logging.getLogger("smsflow.run")


@dataclass(frozen=True)
class PipelineOptions:
    worker: bool = True
    sink: bool = True
    receiver: bool = True
    workers: int = 1
    worker_web: bool = False  # worker i serves Faust's web on SMSFLOW_WORKER_WEB_PORT + i


def default_workers(settings: Settings) -> int:
    """Workers that fit this host: one per core the process may use, less one for the sink
    and broker; at most one per partition and per ``worker_memory_mib`` of available memory."""
    cores = len(os.sched_getaffinity(0))
    try:
        meminfo = Path("/proc/meminfo").read_text()
        avail_mib = int(next(ln.split()[1] for ln in meminfo.splitlines()
                             if ln.startswith("MemAvailable:"))) // 1024
    except (OSError, StopIteration, ValueError):
        avail_mib = settings.worker_memory_mib
    return max(1, min(settings.partitions, cores - 1, avail_mib // settings.worker_memory_mib))


def _worker_argv(settings: Settings, i: int, web: bool) -> list[str]:
    web_args = ["--web-port", str(settings.worker_web_port + i)] if web else ["--no-web"]
    return smsflow_command(
        "worker", *web_args, "--datadir", str(settings.home / f"worker-{i}")
    )


def pid_file(settings: Settings) -> Path:
    return settings.home / "run.pid"


def _server(app: Any, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    return server


async def run_pipeline(settings: Settings, options: PipelineOptions) -> int:
    """Run until SIGTERM/SIGINT; return the exit code (0 after a clean stop)."""
    from producers.send import SendProducer
    from producers.smpp_bridge import SmppBridge, smpp_enabled
    from producers.webhooks import create_app as create_receiver
    from shell.alerting import Alerting, run_alerts
    from sinks.migrate import migrate
    from sinks.sink import SinkStats, run_sink

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    from smsflow.topics import check_topics

    (await check_topics(settings)).raise_on_errors()  # e.g. co-partitioned counts differ
    ch: ClickHouse = connect(settings)
    if settings.clickhouse_cluster and not settings.clickhouse_url:
        raise InfraError("SMSFLOW_CLICKHOUSE_CLUSTER needs a server (SMSFLOW_CLICKHOUSE_URL)")
    await asyncio.to_thread(migrate, ch, cluster=settings.clickhouse_cluster)
    kafka = KafkaStats(settings)
    try:
        await kafka.start()
    except Exception as e:
        raise InfraError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {e}") from e

    logs = settings.home / "logs"
    workers = [
        Child(
            name=f"worker-{i}",
            argv=_worker_argv(settings, i, options.worker_web),
            log_file=logs / f"worker-{i}.log",
            first_backoff=settings.restart_backoff_seconds,
        )
        for i in range(options.workers if options.worker else 0)
    ]
    children = workers
    sink_stats = SinkStats()
    alerting = Alerting(settings, ch)
    state = OpsState(
        settings=settings,
        ch=ch,
        groups=consumers.groups(settings),  # lag counts every topic a group commits
        sink_stats=sink_stats,
        worker_restarts=lambda: sum(w.restarts for w in workers),
        kafka=kafka,
        alerting=alerting,
    )
    for w in children:
        state.components[w.name] = lambda w=w: {  # type: ignore[misc]
            "running": w.pid is not None, "pid": w.pid, "restarts": w.restarts,
            "log": str(w.log_file),
        }
    tasks: dict[str, asyncio.Task[Any]] = {}
    sink_stop = asyncio.Event()
    if options.sink:
        tasks["sink"] = asyncio.create_task(
            run_sink(settings, sink_stop, ch=ch, stats=sink_stats), name="sink"
        )
        state.components["sink"] = lambda: {
            "running": not tasks["sink"].done(), **sink_stats.as_dict()
        }
    receiver_server = None
    producer = None
    if options.receiver:
        producer = SendProducer(settings)
        await producer.start()
        receiver_server = _server(
            create_receiver(settings, producer), "0.0.0.0", settings.webhook_port
        )
        tasks["receiver"] = asyncio.create_task(receiver_server.serve(), name="receiver")
        state.components["receiver"] = lambda: {
            "running": not tasks["receiver"].done(), "port": settings.webhook_port
        }
    alerts_stop = asyncio.Event()
    watched = sorted({t for topics in state.groups.values() for t in topics})

    async def backlog() -> int:
        return sum((await kafka.read(watched, state.groups)).lag.values())

    tasks["alerts"] = asyncio.create_task(
        run_alerts(alerting, alerts_stop, settings.alert_check_s, backlog), name="alerts"
    )
    smpp_stop = asyncio.Event()
    if smpp_enabled(settings):  # the SMPP bridge: its own producer, unbinds at stop
        smpp_producer = SendProducer(settings, client_id="smsflow-smpp", linger_ms=5)
        await smpp_producer.start()
        bridge = SmppBridge(settings, smpp_producer)
        tasks["smpp"] = asyncio.create_task(bridge.run(smpp_stop), name="smpp")
        state.components["smpp"] = lambda: {
            "running": not tasks["smpp"].done(), **bridge.status()
        }
    ops_server = _server(create_ops_app(state), settings.ops_host, settings.health_port)
    tasks["ops"] = asyncio.create_task(ops_server.serve(), name="ops")
    for w in children:
        tasks[w.name] = asyncio.create_task(w.watch(), name=w.name)
    pid_file(settings).write_text(str(os.getpid()))
    log.info(
        "run started pid=%s health=%s:%s", os.getpid(), settings.ops_host, settings.health_port
    )

    code = 0
    stop_task = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait(
        [stop_task, *[t for n, t in tasks.items() if n in ("sink", "ops", "receiver", "smpp")]],
        return_when=asyncio.FIRST_COMPLETED,
    )
    for t in done:
        if t is not stop_task:
            exc = t.exception()
            log.error("%s stopped unexpectedly: %r", t.get_name(), exc)
            code = 1
    # orderly stop: no new input, then the worker, then the sink (flush + commit), then ops
    if receiver_server is not None:
        receiver_server.should_exit = True
        with contextlib.suppress(Exception):
            await tasks["receiver"]
        if producer is not None:
            await producer.stop()
    if "smpp" in tasks:
        smpp_stop.set()
        with contextlib.suppress(Exception):
            await tasks["smpp"]
        await smpp_producer.stop()
    await asyncio.gather(*(w.stop() for w in workers))
    alerts_stop.set()
    with contextlib.suppress(Exception):
        await tasks["alerts"]
    sink_stop.set()
    if "sink" in tasks:
        try:
            await tasks["sink"]
        except Exception as e:
            log.error("sink failed at stop: %r", e)
            code = 1
    ops_server.should_exit = True
    with contextlib.suppress(Exception):
        await tasks["ops"]
    await kafka.stop()
    pid_file(settings).unlink(missing_ok=True)
    log.info("run stopped code=%s", code)
    return code
