"""``smsflow deadletters``: list dead letters by source and reason, show one, replay them.

``list`` is the ``deadletters`` report (``sinks/queries/deadletters.sql``, the sink lands the
dead-letter topic into the ``dead_letters`` table), read like ``smsflow report``: through the
ops API while ``smsflow run`` owns chDB, else directly. ``show`` prints one landed dead letter
with its payload under the PII policy. ``replay`` reads the dead-letter topic itself
(:mod:`producers.replay`), so it works whether or not ClickHouse has caught up.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import typer
from rich.console import Console

from smsflow.clickhouse import Result
from smsflow.config import Settings, load_settings
from smsflow.errors import ValidationError

__all__ = ["app", "fetch_dead_letter", "register"]

app = typer.Typer(
    help="Dead letters: counts by source and reason, one in detail, replay after a fix.",
    invoke_without_command=True,
)
out = Console()
err = Console(stderr=True)

_SINCE = typer.Option(None, "--since", help="From this UTC time or day (ISO-8601), inclusive.")
_UNTIL = typer.Option(None, "--until", help="Before this UTC time or day (ISO-8601).")
_SHOW_COLUMNS = (
    "partition, offset, component, reason, error, source_topic, source_partition, "
    "source_offset, key, failed_at, payload_bytes, payload"
)


def _list(since: str | None, until: str | None, fmt: str) -> None:
    from shell.sink_cli import emit_report
    from sinks.filters import parse_time
    from sinks.reports import Filters

    filters = Filters(since=parse_time(since, "--since"), until=parse_time(until, "--until"))
    emit_report("deadletters", filters, fmt)


@app.callback()
def main(ctx: typer.Context) -> None:
    """Without a sub-command: ``list``."""
    if ctx.invoked_subcommand is None:
        _list(None, None, "table")


@app.command("list")
def list_(
    since: str = _SINCE,
    until: str = _UNTIL,
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """Counts per component, original topic and reason.

    With the first and last failure and the id (PARTITION:OFFSET) of the latest for show.
    """
    _list(since, until, fmt)


def fetch_dead_letter(
    settings: Settings, dead_letter_id: str, query: Callable[[str], Result]
) -> Result:
    """One landed dead letter (``query`` runs read-only SQL) with its payload under the PII
    policy of ``settings``; ValidationError for a bad or unknown id."""
    from sinks.deadletters import parse_id
    from smsflow.privacy import Privacy

    partition, offset = parse_id(dead_letter_id)
    topic = settings.topics.dead_letter.replace("\\", "\\\\").replace("'", "\\'")
    res = query(f"SELECT {_SHOW_COLUMNS} FROM dead_letters FINAL WHERE topic = '{topic}' "
                f"AND partition = {partition} AND offset = {offset}")
    if not res.rows:
        raise ValidationError(f"no dead letter {dead_letter_id} landed (wrong id, or the sink "
                              "has not caught up)")
    row = list(res.rows[0])
    payload = str(row[-1])
    red = Privacy.from_settings(settings).redact_payload(payload.encode()) or b""
    row[-1] = red.decode("utf-8", errors="replace") if payload else "(binary, not shown)"
    return Result(list(res.columns), list(res.types), [tuple(row)])


@app.command("show")
def show(dead_letter_id: str = typer.Argument(..., help="PARTITION:OFFSET from list.")) -> None:
    """One dead letter: source, reason, error, key, payload (redacted)."""
    from shell.data_source import open_clickhouse, through_run
    from sinks.render import to_vertical_table

    settings = load_settings()
    client = through_run(settings)
    if client is not None:
        try:
            res = fetch_dead_letter(settings, dead_letter_id, client.sql)
        finally:
            client.close()
    else:
        res = fetch_dead_letter(settings, dead_letter_id, open_clickhouse(settings).query)
    out.print(to_vertical_table(res, title=f"dead letter {dead_letter_id}"))


@app.command("replay")
def replay_cmd(
    reason: str = typer.Option(..., "--reason", help="Replay dead letters with this reason."),
    since: str = _SINCE,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be replayed."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Also those that failed again after an earlier replay."
    ),
) -> None:
    """Re-produce the originals of dead letters to their topics after a fix.

    Worker: the original bytes, re-read from the input topic.

    Receiver: the payload copy through the receiver's checks (not when redacted).

    Each replayed one is recorded: a second replay produces nothing.
    """
    from producers.replay import replay
    from sinks.filters import parse_time

    settings = load_settings()

    def progress(done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            err.print(f"  {done}/{total} dead letters handled", highlight=False)

    summary = asyncio.run(replay(
        settings, reason, since=parse_time(since, "--since"), dry_run=dry_run,
        retry_failed=retry_failed, progress=progress,
    ))
    sys.stdout.write("\n".join(summary.lines()) + "\n")


def register(root: typer.Typer) -> None:
    """Add the ``deadletters`` group to the root CLI."""
    root.add_typer(app, name="deadletters")
