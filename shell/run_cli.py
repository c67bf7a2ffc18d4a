"""``smsflow run | stop | sql | demo``: the main job and its controls."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time

import typer

from shell.pidfile import running_pid
from smsflow.config import Settings, load_settings
from smsflow.errors import InfraError

__all__ = ["register", "start_background_run"]


def run(
    workers: int = typer.Option(
        None, min=1, help="Faust worker processes (default: what fits the host: cores - 1, "
        "at most one per partition and GiB of free memory).",
    ),
    worker_web: bool = typer.Option(
        False, "--worker-web",
        help="Serve each worker's Faust web on SMSFLOW_WORKER_WEB_PORT + its index.",
    ),
    no_receiver: bool = typer.Option(False, "--no-receiver", help="Do not serve webhooks."),
) -> None:
    """Run worker, sink, webhook receiver and ops API (health, metrics, reports) together.

    SIGTERM or Ctrl-C flushes, commits and exits 0. Health, metrics and the
    query API listen on SMSFLOW_OPS_HOST:SMSFLOW_HEALTH_PORT (127.0.0.1:8081;
    /health, /metrics, /api/reports/NAME, /api/sql); off loopback only with a
    token (SMSFLOW_OPS_TOKEN or <home>/ops.token).
    """
    from shell.pipeline import PipelineOptions, default_workers, run_pipeline
    from smsflow.privacy import Privacy, install_log_redaction

    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format='{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":%(message)r}',
        stream=sys.stderr,
    )
    install_log_redaction(Privacy.from_settings(settings))  # OTP codes / numbers out of logs
    other = running_pid(settings)
    if other:
        raise InfraError(f"smsflow run already runs for {settings.home} (pid {other})")
    from smsflow.http_guard import GuardPolicy

    GuardPolicy.for_server(settings, settings.ops_host)  # no token off loopback: stop here
    opts = PipelineOptions(workers=workers or default_workers(settings),
                           receiver=not no_receiver, worker_web=worker_web)
    logging.getLogger("smsflow.run").info("workers: %d", opts.workers)
    code = asyncio.run(run_pipeline(settings, opts))
    # chDB's engine can crash in its own atexit teardown after a clean stop; everything is
    # flushed and committed by now, so close it explicitly and leave without atexit hooks.
    from smsflow.clickhouse import close_embedded

    close_embedded()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def start_background_run(settings: Settings, *, timeout: float = 180.0) -> int:
    """Start ``smsflow run`` detached (log in <home>/logs/run.log); wait until healthy."""
    from shell.ops_client import OpsClient

    pid = running_pid(settings)
    proc: subprocess.Popen[bytes] | None = None
    client = OpsClient(settings)
    try:
        if pid is None:
            logs = settings.home / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            with open(logs / "run.log", "ab") as fh:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "smsflow", "run"],
                    stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            pid = proc.pid
        deadline = time.monotonic() + timeout
        while True:
            ok, _ = client.health()
            if ok:
                return pid
            # ours: exited when the process did (its pid file comes only once it serves, which
            # took 6-9 s on a loaded 2-core machine); one found running: when its pid file went
            gone = proc.poll() is not None if proc is not None else running_pid(settings) is None
            if gone:
                tail = (settings.home / "logs" / "run.log").read_text()[-600:]
                raise InfraError(f"smsflow run exited at start; log tail: {tail.strip()[-300:]}")
            if time.monotonic() > deadline:
                raise InfraError(f"smsflow run not healthy after {timeout:.0f}s; see logs")
            time.sleep(0.5)
    finally:
        client.close()


def stop(
    broker: bool = typer.Option(True, help="Also stop the local Kafka broker."),
) -> None:
    """Stop a background ``smsflow run`` (clean SIGTERM) and the local broker."""
    settings = load_settings()
    pid = running_pid(settings)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while running_pid(settings) and time.monotonic() < deadline:
            time.sleep(0.2)
        print(f"smsflow run (pid {pid}) stopped")
    else:
        print("smsflow run was not running")
    if broker:
        from infra.broker import local_clusters

        stopped = [c.down() for c in local_clusters(settings)]
        print("kafka stopped" if any(stopped) else "kafka was not running")


def sql(
    query: str = typer.Argument(..., help="SQL text; '-' reads it from stdin."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """Run read-only SQL on the analytics database (through a running pipeline when it owns
    chDB). SELECT, SHOW, DESCRIBE, EXISTS only; change the schema with `smsflow db`."""
    from shell.data_source import open_clickhouse, through_run
    from sinks.render import to_csv, to_json, to_table

    settings = load_settings()
    text = sys.stdin.read() if query == "-" else query
    client = through_run(settings)
    if client is not None:
        try:
            res = client.sql(text)
        finally:
            client.close()
    else:
        from smsflow.read_only_sql import run_read_only

        res = run_read_only(open_clickhouse(settings), text)
    if fmt == "csv":
        sys.stdout.write(to_csv(res))
    elif fmt == "json":
        sys.stdout.write(to_json(res) + "\n")
    else:
        from rich.console import Console  # only for a table: CSV and JSON output load no rich

        Console().print(to_table(res))


def register(app: typer.Typer) -> None:
    from shell.demo import demo

    app.command("run")(run)
    app.command("stop")(stop)
    app.command("sql")(sql)
    app.command("demo")(demo)
