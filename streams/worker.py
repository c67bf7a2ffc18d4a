"""Build and run one stream-processing worker process (``smsflow worker``).

:func:`build_worker` returns the configured Faust app with its agents and timers;
:func:`run_worker` runs it in the foreground until SIGTERM/SIGINT (clean shutdown: streams
stop, offsets of processed events are committed once every output of their batch was
acknowledged). Failures at start (broker unreachable, topics missing) raise
:class:`~smsflow.errors.InfraError`; a broken Kafka write at run time stops the worker
without committing, so a restart processes the events again.
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import shutil
import sys
from pathlib import Path

import faust

from smsflow.config import Settings
from smsflow.errors import InfraError
from smsflow.memory import tune_gc
from smsflow.privacy import Privacy, install_log_redaction
from smsflow.topics import ensure_topics
from streams.agents import Runtime, install
from streams.app import LOGGING_CONFIG, WorkerOptions, create_app

__all__ = ["build_worker", "ensure_worker_topics", "run_worker"]

log = logging.getLogger("smsflow.streams")

CLEAN_MARKER = "clean-shutdown"


def ensure_worker_topics(settings: Settings) -> None:
    """Create the project topics and the worker's internal topics when missing (idempotent;
    ``smsflow.topics`` plans both). Raises :class:`InfraError` (one line) when the broker cannot
    be reached or the topics do not fit the plan.
    """
    try:
        ensure_topics(settings)
    except InfraError:
        raise
    except Exception as e:  # aiokafka raises many types when the broker is not there
        raise InfraError(f"cannot prepare topics at {settings.kafka_bootstrap}: {e}") from e


def build_worker(settings: Settings, options: WorkerOptions) -> tuple[faust.App, Runtime]:
    """The Faust app of one worker: umid join, reply pairs, orphan timer."""
    app = create_app(settings, options)
    return app, install(app, settings)


def run_worker(settings: Settings, options: WorkerOptions) -> None:
    """Run a worker in the foreground until SIGTERM/SIGINT; exits the process when done."""
    logging.config.dictConfig(LOGGING_CONFIG)
    install_log_redaction(Privacy.from_settings(settings))  # PII policy for every log line
    ensure_worker_topics(settings)
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app, _ = build_worker(settings, options)
    log.info("worker starting id=%s store=%s datadir=%s bootstrap=%s", app.conf.id,
             options.store, options.datadir, settings.kafka_bootstrap)
    _prepare_tabledir(app, options)
    tune_gc(settings.worker_gc_young_allocations)
    worker = faust.Worker(app, loglevel="INFO", loop=loop, logging_config=LOGGING_CONFIG,
                          redirect_stdouts=False, stdout=sys.stdout, stderr=sys.stderr)
    try:
        worker.execute_from_commandline()
    except SystemExit as e:
        if e.code in (0, None):
            (options.datadir / CLEAN_MARKER).write_text("clean shutdown\n")
            log.info("worker stopped cleanly")
        raise


def _prepare_tabledir(app: faust.App, options: WorkerOptions) -> None:
    """Wipe RocksDB tables left by a crash; they can be ahead of their changelog.

    RocksDB is written when a key is set, its changelog record only later: after a SIGKILL the
    local store may hold versions the changelog never got, and a replayed event would then be
    "no change" and never emit them. Only a clean shutdown (marker file) keeps the local data;
    otherwise the tables are rebuilt from the changelog, as the memory store always does.
    """
    marker = options.datadir / CLEAN_MARKER
    tabledir = Path(app.conf.tabledir)
    if options.store == "rocksdb" and not marker.exists() and tabledir.exists():
        log.warning("no clean-shutdown marker: rebuilding tables from the changelog (%s)",
                    tabledir)
        shutil.rmtree(tabledir)
    marker.unlink(missing_ok=True)
