"""``smsflow smpp``: the SMPP receiver bridge on its own (``smsflow run`` includes it when
``SMSFLOW_SMPP_HOST`` is set)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import typer
import uvloop

from smsflow.config import Settings, load_settings

__all__ = ["register"]


def smpp(
    host: str | None = typer.Option(None, help="SMSC host [SMSFLOW_SMPP_HOST]."),
    port: int | None = typer.Option(None, help="SMSC port [SMSFLOW_SMPP_PORT, 2775]."),
    binds: int | None = typer.Option(None, min=1, help="Binds [SMSFLOW_SMPP_BINDS, 4]."),
    tls: bool | None = typer.Option(None, "--tls/--plain", help="TLS [SMSFLOW_SMPP_TLS]."),
) -> None:
    """Bind to the SMSC and turn deliver_sm into receipt / MO records.

    Receipts (text and TLVs) go to the receipts topic, MO messages to the
    inbound topic, as the webhook receiver writes them; deliver_sm_resp is
    sent after the broker's ack. A PDU that cannot become a record is
    dead-lettered with its reason and the bind stays up. Credentials:
    SMSFLOW_SMPP_SYSTEM_ID, SMSFLOW_SMPP_PASSWORD (or _FILE). SIGTERM or
    Ctrl-C unbinds cleanly and exits 0.
    """
    overrides = {
        k: v for k, v in {
            "smpp_host": host, "smpp_port": port, "smpp_binds": binds, "smpp_tls": tls,
        }.items() if v is not None
    }
    settings = load_settings(**overrides)
    logging.basicConfig(
        level=logging.INFO,
        format='{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":%(message)r}',
        stream=sys.stderr,
    )
    from smsflow.privacy import Privacy, install_log_redaction

    install_log_redaction(Privacy.from_settings(settings))
    uvloop.run(_run(settings))


async def _run(settings: Settings) -> None:
    from producers.send import SendProducer
    from producers.smpp_bridge import SmppBridge

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with SendProducer(settings, client_id="smsflow-smpp", linger_ms=5) as producer:
        bridge = SmppBridge(settings, producer)
        await bridge.run(stop)
    logging.getLogger(__name__).info("SMPP bridge stopped: %s", bridge.status())




def smsc(
    port: int = typer.Option(2775, help="Plain SMPP port."),
    control_port: int = typer.Option(..., help="Control port (JSON lines, 127.0.0.1)."),
    tls_port: int | None = typer.Option(None, help="TLS 1.3 SMPP port (needs --cert/--key)."),
    cert: Path | None = typer.Option(None, help="TLS certificate chain (PEM)."),
    key: Path | None = typer.Option(None, help="TLS private key (PEM)."),
    host: str = typer.Option("127.0.0.1", help="Address of the SMPP ports."),
) -> None:
    """Run the test SMSC (smpp34's SMPP server) for the simulator and tests.

    Deliveries pushed through the control port go to the bound ESMEs as
    deliver_sm (round robin, retried on another bind when a session drops).
    See simulator/smsc.py for the control protocol.
    """
    from simulator.smsc import run_smsc

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(run_smsc(host, port, control_port, tls_port=tls_port, cert=cert, key=key))


def register(app: typer.Typer) -> None:
    app.command("smpp")(smpp)
    app.command("smsc")(smsc)
