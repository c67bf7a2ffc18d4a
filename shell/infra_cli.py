"""``smsflow infra up | status | down | topics``: the local Kafka broker(s) and the topics."""

from __future__ import annotations

import asyncio
import time

import typer
from rich.console import Console

from infra.broker import Cluster, ensure_jars, local_clusters
from smsflow.config import load_settings
from smsflow.topics import check_topics, ensure_topics, topic_plan

__all__ = ["app"]

app = typer.Typer(help="Start, inspect and stop the local Kafka broker.", no_args_is_help=True)
err = Console(stderr=True)


@app.command()
def up(
    partitions: int = typer.Option(None, help="Partitions per topic (default SMSFLOW_PARTITIONS)."),
    brokers: int = typer.Option(
        None, min=1, max=9,
        help="KRaft nodes, each broker and controller (default SMSFLOW_KAFKA_BROKERS, 1).",
    ),
) -> None:
    """Fetch the broker jars (once), start Kafka on 127.0.0.1 and create the topics.

    With --brokers 3: three nodes on SMSFLOW_KAFKA_PORT+0..2 (controllers on
    SMSFLOW_KAFKA_CONTROLLER_PORT+0..2, or after the client ports if those overlap);
    export SMSFLOW_KAFKA_BROKERS=3 so that the other commands use all three.
    """
    overrides: dict[str, object] = {"partitions": partitions} if partitions else {}
    if brokers:
        overrides["kafka_brokers"] = brokers
    settings = load_settings(**overrides)
    cluster = Cluster(settings)
    t0 = time.monotonic()
    if not (settings.cache_dir / f"kafka-{settings.kafka_version}" / "lib" / ".complete").exists():
        err.print(f"fetching Apache Kafka {settings.kafka_version} jars with Maven ...")
        lib = ensure_jars(settings)
        err.print(f"jars cached in {lib}")
    for st in cluster.up():
        print(st.line())
    created = ensure_topics(settings)
    print(
        f"topics: {len(topic_plan(settings))} ready ({len(created)} created), "
        f"{settings.partitions} partitions, RF {settings.topic_replication}, "
        f"min ISR {settings.topic_min_isr}; up in {time.monotonic() - t0:.1f}s"
    )
    if settings.kafka_brokers > 1:
        print(f"bootstrap: {cluster.bootstrap}")
        print(f"(export SMSFLOW_KAFKA_BROKERS={settings.kafka_brokers} for the other commands)")


@app.command()
def status() -> None:
    """Say whether the local broker(s) run and answer (exit 1 when one is down).

    Shows what of this SMSFLOW_HOME runs (a cluster from `up --brokers 3`
    also without SMSFLOW_KAFKA_BROKERS=3), else the configured broker(s).
    """
    settings = load_settings()
    running = [c for c in local_clusters(settings) if any(st.running for st in c.status())]
    statuses = [st for c in (running or [Cluster(settings)]) for st in c.status()]
    for st in statuses:
        print(st.line())
    if not all(st.answering for st in statuses):
        raise typer.Exit(1)


@app.command()
def down(kill: bool = typer.Option(False, help="SIGKILL instead of a clean shutdown.")) -> None:
    """Stop the broker(s) this directory started (and nothing else)."""
    stopped = [c.down(kill=kill) for c in local_clusters(load_settings())]
    print("kafka stopped" if any(stopped) else "kafka was not running")


@app.command()
def topics(
    check: bool = typer.Option(
        False, "--check", help="Only compare the cluster with the plan; create nothing."
    ),
) -> None:
    """Print the topic plan, check the cluster against it, create missing topics.

    Exit 1 (and create nothing) when co-partitioned topics' partition counts differ, or the
    replication factor exceeds the brokers; with --check also when a topic is missing.
    """
    settings = load_settings()
    result = asyncio.run(check_topics(settings))
    print(f"bootstrap {settings.kafka_bootstrap}")
    print(f"{result.brokers} broker(s); profile {settings.kafka_profile}, producers acks=all")
    print(f"{'topic':<34} {'parts':>5} {'RF':>3} {'ISR':>3} {'co':>3}  cluster (parts/RF)")
    for t in topic_plan(settings):
        have = result.existing.get(t.name)
        state = f"{have[0]}/{have[1]}" if have else "missing"
        co = "yes" if t.co_partitioned else "-"
        print(f"{t.name:<34} {t.partitions:>5} {t.replication:>3} "
              f"{t.configs['min.insync.replicas']:>3} {co:>3}  {state}")
    print("co = joined by umid: partition counts must be equal")
    for w in result.warnings:
        err.print(f"warning: {w}")
    for e in result.errors:
        err.print(f"error: {e}")
    if result.errors:
        raise typer.Exit(1)
    if check:
        if result.missing:
            err.print(f"error: {len(result.missing)} topic(s) missing (run without --check)")
            raise typer.Exit(1)
        return
    created = ensure_topics(settings)
    print(f"{len(created)} topic(s) created")


@app.command()
def wipe() -> None:
    """Delete the local broker's data (it must be down)."""
    for c in local_clusters(load_settings()):
        c.wipe()
    print("kafka data removed")
