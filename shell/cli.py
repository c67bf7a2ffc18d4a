"""The ``smsflow`` command line. Each package contributes its own sub-commands.

Every command loads settings once (environment, ``SMSFLOW_`` prefix) and turns an
:class:`~smsflow.errors.SmsflowError` into a one-line ``error: ...`` on stderr and exit code 1.

Start-up: :func:`main` imports only the module that registers the command given (``smsflow
report`` never imports Kafka, FastAPI or httpx); ``--help``, an unknown name and ``app``
(``from shell.cli import app``) register every module.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

from smsflow.errors import SmsflowError

__all__ = ["build_app", "main"]  # and `app` (built on access: __getattr__)

# module -> its top-level commands (each module exposes ``register(app)``, or ``app`` added
# as a group under its one name)
COMMANDS: dict[str, tuple[str, ...]] = {
    "shell.infra_cli": ("infra",),
    "shell.sink_cli": ("db", "sink", "report"),
    "shell.produce_cli": ("produce", "webhooks"),
    "shell.simulate_cli": ("simulate",),
    "shell.smpp_cli": ("smpp", "smsc"),
    "shell.worker_cli": ("worker",),
    "shell.run_cli": ("run", "stop", "sql", "demo"),
    "shell.dashboard_cli": ("dashboard",),
    "shell.deadletters_cli": ("deadletters",),
    "shell.alerts_cli": ("alerts",),
}


def _root() -> None:
    """SMS platform events through Kafka (Avro) and Faust into ClickHouse."""


def _register(app: typer.Typer, module: str) -> None:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            return  # that package has no CLI yet
        raise
    if hasattr(mod, "register"):
        mod.register(app)
    else:
        app.add_typer(mod.app, name=COMMANDS[module][0])


def build_app(command: str | None = None) -> typer.Typer:
    """The root CLI with the module of ``command`` registered (every module when None or
    unknown)."""
    app = typer.Typer(
        name="smsflow",
        help="SMS platform events through Kafka (Avro) and Faust into ClickHouse.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)  # a group even when one command is registered
    owners = [m for m, names in COMMANDS.items() if command in names]
    for module in owners or COMMANDS:
        _register(app, module)
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    args = sys.argv[1:]
    try:
        build_app(args[0] if args else None)()
    except SmsflowError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
