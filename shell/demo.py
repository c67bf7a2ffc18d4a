"""``smsflow demo``: the whole main job on embedded defaults, in one command.

Starts Kafka (fetched with Maven) and ``smsflow run`` (worker, sink into chDB, receiver, ops
API) in the background, simulates a few days of traffic, produces it, shows progress until the
pipeline has caught up, prints the dashboard and the daily report of the busiest subaccount,
checks them against the simulator's ground truth, and says how to go on. Running it again with
the same seed changes nothing (every event is a duplicate the pipeline recognises).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from functools import cache
from typing import TYPE_CHECKING, Any

import typer

from smsflow import consumers
from smsflow.config import Settings, load_settings
from smsflow.errors import SmsflowError

if TYPE_CHECKING:  # an HTTP client and rich only when the demo runs (CLI start-up)
    from rich.console import Console

    from shell.ops_client import OpsClient

__all__ = ["demo"]


@cache
def _out() -> Console:
    from rich.console import Console

    return Console(width=max(shutil.get_terminal_size((150, 40)).columns, 150))


def _busiest(truth: dict[str, Any]) -> str:
    totals: dict[str, int] = {}
    for row in truth["daily"]:
        totals[row["subaccount_id"]] = totals.get(row["subaccount_id"], 0) + int(row["total"])
    return max(sorted(totals), key=lambda s: totals[s])


def _wait_caught_up(settings: Settings, client: OpsClient, expected: int, timeout: float) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    inputs = settings.topics.inputs()
    worked = settings.topics.worker_owned()  # inputs + the worker's control and pairs topics
    columns = (
        TextColumn("{task.description:<26}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    deadline = time.monotonic() + timeout
    stable = 0
    with Progress(*columns, console=_out()) as bar:
        produced = bar.add_task("produced (input records)", total=None)
        processed = bar.add_task("worker (+ its own topics)", total=None)
        landed = bar.add_task("landed in ClickHouse", total=expected)
        while True:
            try:
                p = client.progress()
            except SmsflowError:
                p = {}
            ends = p.get("end_offsets", {})
            lag = p.get("lag", {})
            n_in = sum(ends.get(t, 0) for t in inputs)
            n_work = sum(ends.get(t, 0) for t in worked)
            worker_lag = lag.get(consumers.worker(settings).group, n_work)
            sink_lag = lag.get(consumers.sink(settings).group, 1)
            n_landed = int(p.get("messages_landed") or 0)
            bar.update(produced, completed=n_in, total=n_in)
            bar.update(processed, completed=max(0, n_work - worker_lag), total=n_work)
            bar.update(landed, completed=min(n_landed, expected))
            done = worker_lag == 0 and sink_lag == 0 and n_landed >= expected
            stable = stable + 1 if done else 0
            if stable >= 2:
                return
            if time.monotonic() > deadline:
                raise SmsflowError(
                    f"pipeline did not catch up within {timeout:.0f}s (landed {n_landed} of "
                    f"{expected}); see {settings.home / 'logs'}"
                )
            time.sleep(1.0)


def demo(
    messages: int = typer.Option(200_000, "--messages", "-n", min=1, help="Messages to simulate."),
    seed: int = typer.Option(1, help="Simulator seed (same seed, same traffic)."),
    days: int = typer.Option(3, min=1, help="Days of traffic."),
    timeout: float = typer.Option(1800, help="Seconds to wait for the pipeline to catch up."),
) -> None:
    """Start everything, simulate traffic, wait until it landed, print the reports."""
    from infra.broker import Cluster
    from shell.run_cli import start_background_run
    from simulator.config import SimConfig
    from simulator.produce import produce_events
    from simulator.simulation import simulate
    from sinks.render import to_table
    from smsflow.topics import ensure_topics

    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    out = _out()
    t0 = time.monotonic()
    out.rule("[bold]smsflow demo")
    out.print("1/5 Kafka: starting the local broker (jars fetched with Maven on first use)")
    for st in Cluster(settings).up():  # SMSFLOW_KAFKA_BROKERS nodes (default one)
        out.print("    " + st.line())
    ensure_topics(settings)
    out.print("2/5 pipeline: worker + sink (chDB) + webhook receiver + ops API")
    pid = start_background_run(settings)
    out.print(f"    smsflow run pid {pid}; logs in {settings.home / 'logs'}")
    out.print(f"3/5 simulating {messages:,} messages over {days} days (seed {seed})")
    sim = simulate(SimConfig(messages=messages, seed=seed, days=days), progress=True)
    truth_file = settings.home / "demo" / f"truth-seed-{seed}-n-{messages}.json"
    truth_file.parent.mkdir(parents=True, exist_ok=True)
    truth_file.write_text(json.dumps(sim.truth, indent=1, sort_keys=True) + "\n")
    out.print(f"    ground truth in {truth_file} (events: smsflow simulate --out DIR)")
    out.print("4/5 producing the events to Kafka")
    asyncio.run(produce_events(settings, sim.events, progress=True))
    from shell.ops_client import OpsClient

    client = OpsClient(settings)
    try:
        out.print("5/5 waiting until the pipeline has caught up")
        _wait_caught_up(settings, client, int(sim.truth["messages"]), timeout)
        busiest = _busiest(sim.truth)
        dash = client.report("dashboard")
        daily = client.report("daily", subaccount=busiest)
    finally:
        client.close()
    out.print(to_table(dash, title="Dashboard (all subaccounts)", report="dashboard"))
    out.print(to_table(daily, title=f"Daily report: {busiest}", report="daily"))
    total = sim.truth["dashboard"]["total"]
    got = _dashboard_total(dash)
    verdict = "[green]equals[/]" if got == total else "[red]DIFFERS FROM[/]"
    out.print(f"Total SMS {got:,} {verdict} the simulator's ground truth ({total:,}).")
    out.print(f"Done in {time.monotonic() - t0:.0f}s. Query further while it runs:")
    out.print(f"  .venv/bin/smsflow report daily --subaccount {busiest} --format csv")
    out.print("  .venv/bin/smsflow report countries   (also: campaigns, conversions, logs, ...)")
    out.print(
        '  .venv/bin/smsflow sql "SELECT country, sum(delivered) FROM daily_stats '
        'GROUP BY country ORDER BY 2 DESC"'
    )
    out.print(f"  curl -s 127.0.0.1:{settings.health_port}/metrics | grep smsflow_")
    out.print("Stop everything with: make down   (or .venv/bin/smsflow stop)")
    if got != total:
        raise typer.Exit(1)


def _dashboard_total(res: Any) -> int:
    """Total SMS of the dashboard's period row (the one labelled Total)."""
    for values in res.rows:
        row = dict(zip(res.columns, values, strict=True))
        if values and values[0] == "Total":
            return int(row["Total SMS"])
    raise SmsflowError(f"dashboard has no Total row: {res.columns}")
