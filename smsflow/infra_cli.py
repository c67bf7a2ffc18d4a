"""``smsflow infra up | status | down | topics``: the local Kafka broker."""

from __future__ import annotations

import time

import typer
from rich.console import Console

from infra.broker import Broker, ensure_jars
from infra.topics import ensure_topics
from smsflow.config import load_settings

__all__ = ["app"]

app = typer.Typer(help="Start, inspect and stop the local Kafka broker.", no_args_is_help=True)
err = Console(stderr=True)


@app.command()
def up(
    partitions: int = typer.Option(None, help="Partitions per topic (default SMSFLOW_PARTITIONS)."),
) -> None:
    """Fetch the broker jars (once), start Kafka on 127.0.0.1 and create the topics."""
    overrides = {"partitions": partitions} if partitions else {}
    settings = load_settings(**overrides)
    broker = Broker(settings)
    t0 = time.monotonic()
    if not (settings.cache_dir / f"kafka-{settings.kafka_version}" / "lib" / ".complete").exists():
        err.print(f"fetching Apache Kafka {settings.kafka_version} jars with Maven ...")
        lib = ensure_jars(settings)
        err.print(f"jars cached in {lib}")
    st = broker.up()
    created = ensure_topics(settings)
    print(st.line())
    print(
        f"topics: {len(settings.topics.all())} ready ({len(created)} created), "
        f"{settings.partitions} partitions; up in {time.monotonic() - t0:.1f}s"
    )


@app.command()
def status() -> None:
    """Say whether the local broker runs and answers (exit 1 when it is down)."""
    st = Broker(load_settings()).status()
    print(st.line())
    if not st.answering:
        raise typer.Exit(1)


@app.command()
def down(kill: bool = typer.Option(False, help="SIGKILL instead of a clean shutdown.")) -> None:
    """Stop the broker this directory started (and nothing else)."""
    broker = Broker(load_settings())
    stopped = broker.down(kill=kill)
    print("kafka stopped" if stopped else "kafka was not running")


@app.command()
def topics() -> None:
    """Create the project's topics on the configured broker (idempotent)."""
    settings = load_settings()
    created = ensure_topics(settings)
    for name in settings.topics.all():
        print(f"{name}{'  (created)' if name in created else ''}")


@app.command()
def wipe() -> None:
    """Delete the local broker's data (it must be down)."""
    Broker(load_settings()).wipe()
    print("kafka data removed")
