"""``smsflow worker``: run one stream-processing worker in the foreground.

:func:`main` runs the same command without the root CLI (``python -c "from
smsflow.worker_cli import main; main()" --datadir ...``), which test helpers use to start
worker subprocesses.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from smsflow.config import load_settings
from smsflow.errors import ConfigError, SmsflowError

__all__ = ["main", "register"]


def worker(
    datadir: Path = typer.Option(
        None, help="Table data directory of this worker (default <home>/worker); one per worker."
    ),
    web_port: int = typer.Option(
        None, help="Web port of the worker (default SMSFLOW_WORKER_WEB_PORT)."
    ),
    no_web: bool = typer.Option(False, "--no-web", help="Run without the worker's web server."),
    store: str = typer.Option(
        None, help="Table store: memory or rocksdb (default SMSFLOW_WORKER_STORE)."
    ),
    no_deltas: bool = typer.Option(
        False, "--no-deltas",
        help="Leave the daily-delta rows to a separate `smsflow deltas` process (as `run` does).",
    ),
) -> None:
    """Join events by umid, keep message state, emit message-state and daily-delta records.

    Runs until SIGTERM/SIGINT, then stops cleanly. Two workers on one host need distinct
    --datadir and --web-port (or --no-web); they split the partitions between them.
    """
    from streams.app import WorkerOptions
    from streams.worker import run_worker

    settings = load_settings()
    chosen = store or settings.worker_store
    if chosen not in ("memory", "rocksdb"):
        raise ConfigError(f"--store must be memory or rocksdb, not {chosen!r}")
    options = WorkerOptions(
        datadir=datadir or settings.home / "worker",
        store=chosen,
        web_port=None if no_web else (web_port or settings.worker_web_port),
        deltas=not no_deltas,
    )
    run_worker(settings, options)


def deltas() -> None:
    """Turn message-state records into daily-delta rows, in a process of its own.

    Consumer group <prefix>streams-deltas; offsets are committed after the broker acknowledged
    every row. Runs until SIGTERM/SIGINT (the current batch finishes). `smsflow run` supervises
    it; with a lone `smsflow worker` (without --no-deltas) it is not needed.
    """
    import logging.config

    import uvloop

    from smsflow.privacy import Privacy, install_log_redaction
    from streams.app import LOGGING_CONFIG
    from streams.deltas import serve_deltas
    from streams.worker import ensure_worker_topics

    settings = load_settings()
    logging.config.dictConfig(LOGGING_CONFIG)
    install_log_redaction(Privacy.from_settings(settings))
    ensure_worker_topics(settings)
    uvloop.run(serve_deltas(settings))


def register(app: typer.Typer) -> None:
    """Add the ``worker`` and ``deltas`` commands to the root CLI."""
    app.command("worker")(worker)
    app.command("deltas")(deltas)


def main() -> None:
    """``worker`` as a stand-alone command: one-line error and exit 1 on SmsflowError."""
    cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    cli.command()(worker)
    try:
        cli()
    except SmsflowError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
