"""The ``smsflow`` command line. Each package contributes its own sub-commands.

Every command loads settings once (environment, ``SMSFLOW_`` prefix) and turns an
:class:`~smsflow.errors.SmsflowError` into a one-line ``error: ...`` on stderr and exit code 1.
"""

from __future__ import annotations

import sys

import typer

from smsflow.errors import SmsflowError
from smsflow.infra_cli import app as infra_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="smsflow",
    help="SMS platform events through Kafka (Avro) and Faust into ClickHouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(infra_app, name="infra")


def _register_optional() -> None:
    """Sub-commands of the other packages (each module exposes ``app`` or ``register``)."""
    import importlib

    for module, name in [
        ("sinks.cli", None),
        ("producers.cli", None),
        ("producers.simulate_cli", None),
        ("producers.smpp_cli", None),
        ("streams.cli", None),
        ("smsflow.run_cli", None),
        ("dashboard.cli", None),
        ("smsflow.deadletters_cli", None),
    ]:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):
                continue  # that package has no CLI yet
            raise
        mod.register(app)
        del name


_register_optional()


def main() -> None:
    try:
        app()
    except SmsflowError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
