"""``smsflow worker``: run one stream-processing worker in the foreground.

:func:`main` runs the same command without the root CLI (``python -c "from
shell.worker_cli import main; main()" --datadir ...``), which test helpers use to start
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
) -> None:
    """Join events by umid, keep message state, emit message-state records and reply pairs.

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
    )
    run_worker(settings, options)


def register(app: typer.Typer) -> None:
    """Add the ``worker`` command to the root CLI."""
    app.command("worker")(worker)


def main() -> None:
    """``worker`` as a stand-alone command: one-line error and exit 1 on SmsflowError."""
    cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    cli.command()(worker)
    try:
        cli()
    except SmsflowError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
