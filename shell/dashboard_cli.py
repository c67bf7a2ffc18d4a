"""``smsflow dashboard``: serve the analytics web dashboard."""

from __future__ import annotations

import typer
from rich.console import Console

from smsflow.config import load_settings

__all__ = ["dashboard", "register"]

err = Console(stderr=True)


def dashboard(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8050, min=1, max=65535, help="TCP port."),
) -> None:
    """Serve the analytics dashboard (web UI + JSON API under /api/) until Ctrl-C.

    Reports come through a running `smsflow run` when it owns the chDB
    directory, else from ClickHouse opened here. Cross-site requests are
    refused; off loopback it needs a token (SMSFLOW_OPS_TOKEN or
    <home>/ops.token). Exits 1 with one line when ClickHouse cannot be
    opened, the port is taken or the token is missing.
    """
    import uvicorn

    from dashboard.app import create_app
    from shell.data_source import open_source
    from smsflow.errors import InfraError
    from smsflow.http_guard import GuardPolicy, HttpGuard

    settings = load_settings()
    policy = GuardPolicy.for_server(settings, host)  # no token off loopback: stop here
    source = open_source(settings)
    err.print(f"dashboard on http://{host}:{port}/  (data: {source.describe()})", soft_wrap=True)
    app = create_app(source)
    app.add_middleware(HttpGuard, policy=policy)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit as e:  # uvicorn exits 1 when it cannot bind
        raise InfraError(f"cannot serve on {host}:{port} (port in use?)") from e
    if not server.started:
        raise InfraError(f"cannot serve on {host}:{port} (port in use?)")


def register(app: typer.Typer) -> None:
    """Add the ``dashboard`` command to the root CLI."""
    app.command("dashboard")(dashboard)
