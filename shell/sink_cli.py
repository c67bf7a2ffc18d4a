"""CLI groups ``db`` (migrate, status, detach, attach), ``sink`` (run) and ``report``.

Every command loads settings once; failures are :class:`~smsflow.errors.SmsflowError`
subclasses that ``shell.cli.main`` prints as one line with exit code 1.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING

import typer

from shell.data_source import open_clickhouse, through_run
from sinks.filters import Filters
from sinks.logline import configure_logging, line
from sinks.render import FORMATS, to_csv, to_json, to_table, to_vertical_table
from smsflow.clickhouse import ClickHouse, connect
from smsflow.config import load_settings
from smsflow.errors import ClickHouseError, ValidationError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["emit_report", "register"]


def _out() -> Console:
    """A stdout console for table output, made when printing: CSV and JSON output load no
    rich, and it sees the COLUMNS of the moment as one made at import did."""
    from rich.console import Console

    return Console()

db_app = typer.Typer(help="ClickHouse schema: versioned migrations.", no_args_is_help=True)
sink_app = typer.Typer(help="The Kafka -> ClickHouse sink.", no_args_is_help=True)
report_app = typer.Typer(
    help="Analytics reports (table, or --format csv|json).", no_args_is_help=True
)


# --------------------------------------------------------------------------------- db
@db_app.command("migrate")
def db_migrate(
    print_only: bool = typer.Option(
        False, "--print", help="Print every statement as it would run (ON CLUSTER with "
        "SMSFLOW_CLICKHOUSE_CLUSTER); run nothing.",
    ),
) -> None:
    """Apply the missing DDL migrations (idempotent); print what was applied."""
    from sinks.migrate import available, migrate

    settings = load_settings()
    if print_only:
        from sinks.migrate import planned_statements

        ch = connect(settings.model_copy(update={"clickhouse_url": None})) \
            if settings.clickhouse_cluster and not settings.clickhouse_url \
            else open_clickhouse(settings)
        for m in available():
            print(f"-- {m.version:04d}_{m.name}")
            for st in m.statements():
                for stmt in planned_statements(ch, st, settings.clickhouse_cluster):
                    print(f"{stmt}\n;")
        return
    if settings.clickhouse_cluster and not settings.clickhouse_url:
        raise ValidationError("SMSFLOW_CLICKHOUSE_CLUSTER needs a server (SMSFLOW_CLICKHOUSE_URL)")
    ch = open_clickhouse(settings)
    done = migrate(ch, cluster=settings.clickhouse_cluster)
    for m in done:
        print(f"applied {m.version:04d}_{m.name}")
    print(f"schema current ({len(available())} migrations, {len(done)} applied now)")


@db_app.command("status")
def db_status() -> None:
    """List migrations with applied time or 'pending' (exit 1 when any is pending)."""
    from sinks.migrate import applied_versions, available

    ch = open_clickhouse(load_settings())
    applied = applied_versions(ch)
    pending = 0
    for m in available():
        at = applied.get(m.version)
        if at is None:
            pending += 1
        print(f"{m.version:04d}_{m.name}  {at.isoformat() if at else 'pending'}")
    if pending:
        raise typer.Exit(1)


def _table_online(table: str, online: bool) -> None:
    """DETACH/ATTACH in the running pipeline (a detach lasts until ClickHouse restarts)."""
    settings = load_settings()
    client = through_run(settings)  # run owns chDB: through its ops API (with the token)
    if client is None and not settings.clickhouse_url:
        raise ValidationError("no `smsflow run` runs here: detach/attach act on a running one")
    if client is None:
        if not table.isidentifier():
            raise ValidationError(f"not a table name: {table!r}")
        open_clickhouse(settings).command(f"{'ATTACH' if online else 'DETACH'} TABLE {table}")
    else:
        try:
            client.table_online(table, online)
        finally:
            client.close()
    print(f"{table} {'attached' if online else 'detached'}")


@db_app.command("detach")
def db_detach(table: str = typer.Argument(..., help="Table to take offline.")) -> None:
    """Take a table offline in the running pipeline; the sink retries meanwhile."""
    _table_online(table, False)


@db_app.command("attach")
def db_attach(table: str = typer.Argument(..., help="Table to bring back.")) -> None:
    """Bring a detached table back (ATTACH)."""
    _table_online(table, True)


# ------------------------------------------------------------------------------- sink
@sink_app.command("run")
def sink_run() -> None:
    """Consume the derived and input topics into ClickHouse until SIGTERM/SIGINT.

    On SIGTERM it flushes the pending batch, commits its offsets and exits 0. Exits 1 when
    Kafka cannot be reached or ClickHouse still refuses the pending batch at shutdown.
    """
    from sinks.sink import run_sink

    configure_logging()
    settings = load_settings()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        stats = await run_sink(settings, stop)
        logging.getLogger("smsflow.sink").info(line("sink.exit", records=stats.records))

    asyncio.run(main())


# ----------------------------------------------------------------------------- report
_TIMELINE_TITLE = "timeline (every input event in time order; duplicate = webhook retry)"
_SUBACCOUNT = typer.Option("", help="Only this subAccountId.")
_COUNTRY = typer.Option("", help="Only this destination country (ISO alpha-2).")
_OPERATOR = typer.Option("", help="Only this operator.")
_FORMAT = typer.Option("table", "--format", help="table, csv or json.")
_FROM = typer.Option(None, "--from", help="First UTC day (YYYY-MM-DD), inclusive.")
_TO = typer.Option(None, "--to", help="Last UTC day (YYYY-MM-DD), inclusive.")
_WIDE = typer.Option(
    False, "--wide", help="Table: every column (default: the main ones that fit the terminal)."
)


def _emit(name: str, filters: Filters, fmt: str, wide: bool = False) -> None:
    if fmt not in FORMATS:
        raise ValidationError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    settings = load_settings()
    filters.params()  # bad filters fail here with the same one-line error either way
    client = through_run(settings)
    if client is not None:
        try:
            if fmt in ("csv", "json"):
                sys.stdout.write(client.report_text(name, fmt, **filters.to_query()))
                return
            result = client.report(name, **filters.to_query())
            if name == "message":
                if not result.rows:
                    raise ValidationError(f"no message {filters.umid}")
                _out().print(to_vertical_table(result, title=f"message {filters.umid}"))
                timeline = client.report("timeline", **filters.to_query())
                _out().print(to_table(timeline, title=_TIMELINE_TITLE, wide=wide))
            else:
                _out().print(to_table(result, title=name, report=name, wide=wide))
        finally:
            client.close()
        return
    from sinks.reports import run_report  # here: through a run, the run computes reports

    ch = open_clickhouse(settings)
    try:
        result = run_report(ch, name, filters)
    except ClickHouseError as e:
        raise _schema_behind(ch) or e from None
    if fmt == "csv":
        sys.stdout.write(to_csv(result))
    elif fmt == "json":
        sys.stdout.write(to_json(result) + "\n")
    elif name == "message":
        if not result.rows:
            raise ValidationError(f"no message {filters.umid}")
        _out().print(to_vertical_table(result, title=f"message {filters.umid}"))
        timeline = run_report(ch, "timeline", filters)
        _out().print(to_table(timeline, title=_TIMELINE_TITLE, wide=wide))
    else:
        _out().print(to_table(result, title=name, report=name, wide=wide))


emit_report = _emit  # for other report-like commands (smsflow deadletters)


def _schema_behind(ch: ClickHouse) -> ClickHouseError | None:
    """A one-line error naming the migrations the database lacks (None: it has them all)."""
    from sinks.migrate import applied_versions, available

    try:
        missing = sorted({m.version for m in available()} - set(applied_versions(ch)))
    except ClickHouseError:
        return None
    if not missing:
        return None
    return ClickHouseError(
        f"the database lacks schema migration(s) {', '.join(map(str, missing))} of this "
        "smsflow: run `smsflow db migrate` (`smsflow run` applies them when it starts)")


def _make_report_command(name: str, doc: str) -> None:
    def command(
        subaccount: str = _SUBACCOUNT,
        country: str = _COUNTRY,
        operator: str = _OPERATOR,
        date_from: str = _FROM,
        date_to: str = _TO,
        fmt: str = _FORMAT,
        limit: int = typer.Option(1000, help="Most rows (logs only)."),
        wide: bool = _WIDE,
    ) -> None:
        filters = Filters.from_query(
            {"subaccount": subaccount, "country": country, "operator": operator,
             "from": date_from, "to": date_to, "limit": str(limit)}, flag="--")
        _emit(name, filters, fmt, wide)

    command.__doc__ = doc
    report_app.command(name)(command)


@report_app.command("pending")
def report_pending(
    subaccount: str = _SUBACCOUNT,
    country: str = _COUNTRY,
    operator: str = _OPERATOR,
    date_from: str = _FROM,
    date_to: str = _TO,
    at: str = typer.Option(None, "--at", help="Age messages at this time (ISO-8601; now)."),
    fmt: str = _FORMAT,
    wide: bool = _WIDE,
) -> None:
    """DLR coverage per operator: sent, with final receipt, coverage %, pending ones by age
    (< 1 h, 1-6 h, 6-24 h, 24-48 h, expired >= 48 h after submission), queued; then Total."""
    filters = Filters.from_query(
        {"subaccount": subaccount, "country": country, "operator": operator,
         "from": date_from, "to": date_to, "at": at}, flag="--")
    _emit("pending", filters, fmt, wide)


for _name, _doc in [
    ("dashboard", "Total SMS, Delivery Rate, Total Cost, Destination Countries; per day."),
    ("daily", "The daily report: Date, Total, Sent, Total Chargeable, Delivered, Undelivered, "
              "Rejected, Received, Delivery Rate, Cost, Currency, Inbound, Parts, "
              "Parts per Message, Cost per Part."),
    ("countries", "Destination country x operator: counts, delivery rate, parts, cost, cost "
                  "per delivered message, average parts per message."),
    ("campaigns", "Per campaign: days, counts, delivery rate, cost."),
    ("conversions", "Per day: verification SMS sent, converted, conversion rate, cost."),
    ("engage", "SMS Engage survey answers: respondents and share per answer."),
    ("clicks", "Short-URL clicks per message and link."),
    ("logs", "The message log: date, direction, subaccount, numbers, cost, status."),
    ("latency", "Submit-to-sent and submit-to-delivered p50/p95/p99 (nearest rank, seconds) "
                "with sample counts per day x country x operator."),
    ("errors", "Undelivered and rejected messages by error code and message per country x "
               "operator, with their share of the operator's traffic."),
    ("replies", "Per subaccount x sender id: outbound, replied, reply rate, replies matched "
                "to the outbound, opt-outs (STOP, UNSUBSCRIBE, ...)."),
    ("flags", "Messages kept under the acceptance policy: per flag (number_unlisted, "
              "number_invalid, encoding_mismatch, operator_unknown) the count of messages."),
]:
    _make_report_command(_name, _doc)


@report_app.command("message")
def report_message(
    umid: str = typer.Argument(..., help="Message id (UUID)."),
    fmt: str = _FORMAT,
) -> None:
    """One message: every field of its current record, then its input-event timeline."""
    _emit("message", Filters(umid=umid), fmt)


def register(app: typer.Typer) -> None:
    """Add the ``db``, ``sink`` and ``report`` groups to the root CLI."""
    app.add_typer(db_app, name="db")
    app.add_typer(sink_app, name="sink")
    app.add_typer(report_app, name="report")
