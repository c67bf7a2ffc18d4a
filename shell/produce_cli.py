"""``smsflow produce requests FILE`` and ``smsflow webhooks serve``.

Errors are :class:`~smsflow.errors.SmsflowError`; ``shell.cli.main`` prints them as one line
and exits 1. ``produce requests`` exits 0 when every row was handled (produced or
dead-lettered), 1 when the broker fails or the file cannot be read at all.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import typer
import uvloop
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from producers.bulk import ProduceSummary, known_request_fields, produce_rows
from producers.request_file import Row, detect_format, read_rows
from producers.send import SendProducer
from smsflow.config import Settings, load_settings
from smsflow.errors import ValidationError

__all__ = ["register"]

produce_app = typer.Typer(help="Produce input events to Kafka.", no_args_is_help=True)
webhooks_app = typer.Typer(help="The platform's webhooks to Kafka.", no_args_is_help=True)


async def _produce_file(
    settings: Settings, stream: IO[bytes], fmt: str, size: int | None, subaccount: str | None,
    strict: bool = False,
) -> ProduceSummary:
    err = Console(stderr=True)
    columns = [
        TextColumn("[bold]requests"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[rows]} rows"),
    ]
    if size is None:
        columns = [TextColumn("[bold]requests"), MofNCompleteColumn(), TimeElapsedColumn()]
    rows = read_rows(stream, fmt, known_fields=known_request_fields())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("produce", total=size, rows=0)
        count = 0

        def on_row(row: Row) -> None:
            nonlocal count
            count += 1
            if count % 500 == 0:
                progress.update(task, completed=stream_pos(), rows=count)

        def stream_pos() -> int:
            return stream.tell() if size is not None else count

        async with SendProducer(settings) as producer:
            summary = await produce_rows(
                producer,
                rows,
                defaults={"subAccountId": subaccount} if subaccount else None,
                strict=strict,
                on_row=on_row,
                on_invalid=lambda msg: progress.console.print(
                    msg, markup=False, highlight=False, soft_wrap=True
                ),
            )
        progress.update(task, completed=size if size is not None else count, rows=count)
    return summary


@produce_app.command("requests")
def produce_requests(
    file: str = typer.Argument(..., help="JSON lines or CSV file of send requests; '-' = stdin."),
    fmt: str | None = typer.Option(None, "--format", help="jsonl or csv (default: by extension)."),
    subaccount: str | None = typer.Option(
        None, "--subaccount", help="subAccountId for rows that do not name one."
    ),
    strict: bool = typer.Option(
        False, "--strict",
        help="Also refuse numbers libphonenumber does not list and GSM7 asked for non-GSM "
             "text (default: keep them, flagged).",
    ),
) -> None:
    """Validate send requests and produce them to the requests topic, keyed by umid.

    Invalid rows are printed on stderr as 'row N: field: reason' and sent to
    the dead-letter topic with the raw row; the valid rows still go out. A
    destination libphonenumber does not list, or GSM7 asked for non-GSM text,
    is kept and flagged unless --strict. Exits 1 only if the broker fails.
    """
    settings = load_settings()
    with ExitStack() as stack:
        if file == "-":
            fmt = detect_format("-", fmt or "jsonl")
            stream: IO[bytes] = sys.stdin.buffer
            size = None
        else:
            path = Path(file)
            if not path.is_file():
                raise ValidationError(f"no such file: {file}")
            fmt = detect_format(path.name, fmt)
            stream = stack.enter_context(path.open("rb"))
            size = path.stat().st_size
        summary = uvloop.run(_produce_file(settings, stream, fmt, size, subaccount, strict))
    typer.echo(summary.line())


@webhooks_app.command("serve")
def webhooks_serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int | None = typer.Option(None, help="Port (default: SMSFLOW_WEBHOOK_PORT, 8080)."),
) -> None:
    """Run the webhook receiver until interrupted (Ctrl-C).

    POST /webhooks/{dlr,inbound,survey,otp-feedback,click}; GET /health. Answers 202 after the
    broker acknowledged, 400/413 for bad bodies (dead-lettered), 503 when the broker fails.
    """
    settings = load_settings()
    uvloop.run(_serve(settings, host, port or settings.webhook_port))


async def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from producers.webhooks import create_app

    async with SendProducer(settings) as producer:  # InfraError (one line) if Kafka is down
        config = uvicorn.Config(
            create_app(settings, producer),
            host=host,
            port=port,
            log_level="info",
            access_log=False,
            lifespan="off",
        )
        await uvicorn.Server(config).serve()


def register(app: typer.Typer) -> None:
    """Add the ``produce`` and ``webhooks`` command groups to the root CLI."""
    app.add_typer(produce_app, name="produce")
    app.add_typer(webhooks_app, name="webhooks")
