"""``smsflow alerts``: open alerts, their history, and evaluating the rules now.

Read like ``smsflow report``: through ``smsflow run``'s ops API while it owns chDB, else
directly. ``evaluate`` writes alert state, so while ``run`` owns chDB it asks ``run`` to
evaluate (``POST /api/alerts/evaluate``, with the ops token); ``run`` also evaluates by itself
as instants come due. Rules and thresholds: :mod:`sinks.alerts`, ``infra/alerts.toml``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from smsflow.config import load_settings
from smsflow.errors import ValidationError

if TYPE_CHECKING:  # heavy modules load inside the commands (CLI start-up)
    from smsflow.clickhouse import Result

__all__ = ["app", "register"]

app = typer.Typer(
    help="Alerts on delivery KPIs: open ones, history, evaluate now.", no_args_is_help=True
)
out = Console()

_FMT = typer.Option("table", "--format", help="table, csv or json.")
_WIDE = typer.Option(False, "--wide", help="Table: every column.")


def _emit(res: Result, fmt: str, title: str, wide: bool) -> None:
    from sinks.render import FORMATS, to_csv, to_json, to_table

    if fmt not in FORMATS:
        raise ValidationError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "csv":
        sys.stdout.write(to_csv(res))
    elif fmt == "json":
        sys.stdout.write(to_json(res) + "\n")
    else:
        out.print(to_table(res, title=title, report="alerts", wide=wide))


def _query(sql: str) -> Result:
    from shell.data_source import open_clickhouse, through_run
    from smsflow.read_only_sql import ReadOnly

    settings = load_settings()
    client = through_run(settings)
    if client is not None:
        try:
            return client.sql(sql)
        finally:
            client.close()
    return ReadOnly(open_clickhouse(settings)).query(sql)


@app.command("list")
def list_(fmt: str = _FMT, wide: bool = _WIDE) -> None:
    """Open alerts (pending or firing), newest first."""
    from sinks.alert_state import history_sql

    _emit(_query(history_sql(open_only=True)), fmt, "open alerts", wide)


@app.command("history")
def history_(
    since: str = typer.Option(None, "--since", help="Started at or after (ISO-8601, UTC)."),
    until: str = typer.Option(None, "--until", help="Started before (ISO-8601, UTC)."),
    fmt: str = _FMT,
    wide: bool = _WIDE,
) -> None:
    """Every alert instance (pending, firing, resolved) with start and end, newest first."""
    from sinks.alert_state import history_sql
    from sinks.filters import parse_time

    sql = history_sql(parse_time(since, "--since"), parse_time(until, "--until"))
    _emit(_query(sql), fmt, "alert history", wide)


@app.command("evaluate")
def evaluate_(
    at: str = typer.Option(None, "--at", help="Evaluate up to this event time (ISO-8601; "
                           "default: newest submission less SMSFLOW_ALERT_GRACE_S)."),
    since: str = typer.Option(None, "--since", help="Evaluate afresh from this time (replay "
                              "history; default: after the last evaluated instant)."),
) -> None:
    """Evaluate the alert rules at every due instant; print the transitions."""
    from shell.alerting import Alerting
    from shell.data_source import open_clickhouse, through_run
    from sinks.filters import parse_time
    from smsflow.clickhouse import Result

    settings = load_settings()
    until, start = parse_time(at, "--at"), parse_time(since, "--since")
    client = through_run(settings)
    if client is not None:
        try:
            rows = client.evaluate_alerts(until, start)
        finally:
            client.close()
    else:
        done = Alerting(settings, open_clickhouse(settings)).evaluate(until, start)
        rows = [(t.rule, t.key, t.state, t.value, t.threshold, t.started_at, t.fired_at,
                 t.ended_at) for t in done]
    columns = ["Rule", "Key", "State", "Value", "Threshold", "Started", "Fired", "Ended"]
    res = Result(columns, ["String", "String", "String", "Decimal(18, 6)", "Decimal(18, 6)",
                           *["DateTime64(6, 'UTC')"] * 3], rows)
    _emit(res, "table", "alert transitions", False)
    print(f"{len(rows)} alert transitions")


def register(root: typer.Typer) -> None:
    """Add the ``alerts`` group to the root CLI."""
    root.add_typer(app, name="alerts")
