"""SMPP bridge throughput: receipts/s (deliver_sm in -> broker ack -> deliver_sm_resp out).

    .venv/bin/python -m bench.smpp --receipts 5000

Runs the test SMSC (``smsflow smsc``, smpp34's server) as a process and the bridge
(``producers.smpp_bridge``) in this process, once with one bind and once with four; the SMSC
keeps up to ``--window`` deliveries unanswered in all and spreads them over the binds. The rate
is receipts answered per second from the first deliver_sm to the last deliver_sm_resp; every
answer came after the broker's ack (acks=all). Prints the figures; asserts nothing. Uses the
broker of SMSFLOW_BOOTSTRAP_SERVERS / KAFKA_BOOTSTRAP_SERVERS when set, else starts a local
broker in a temporary directory (stopped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console

from infra.broker import Broker
from producers.send import SendProducer
from producers.smpp_bridge import SmppBridge
from simulator.smpp import receipt_spec
from simulator.smsc import SmscControl
from smsflow.config import Settings, load_settings
from smsflow.topics import create_topics

console = Console(stderr=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _specs(n: int) -> list[dict[str, object]]:
    at = dt.datetime.now(dt.UTC)
    return [
        receipt_spec({
            "umid": str(uuid.uuid4()), "source": "ACME", "destination": "+6591234567",
            "state": "delivered", "error_code": None, "status_at": at, "mcc": "525", "mnc": "01",
        }, form="both")
        for _ in range(n)
    ]


async def _one(settings: Settings, control_port: int, n: int, window: int) -> float:
    await create_topics(settings)
    async with SendProducer(settings, linger_ms=5) as producer:
        bridge = SmppBridge(settings, producer)
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        control = await SmscControl.connect(control_port)
        try:
            async with asyncio.timeout(60):
                await control.wait_binds(settings.smpp_binds)
            await control.deliver_all(_specs(min(n, 200)), window)  # warm-up
            specs = _specs(n)
            t0 = time.perf_counter()
            statuses = await control.deliver_all(specs, window)
            elapsed = time.perf_counter() - t0
            bad = sum(1 for s in statuses if s != 0)
            if bad:
                console.print(f"[red]{bad} deliveries answered with an error status")
        finally:
            await control.close()
            stop.set()
            await asyncio.wait_for(task, 30)
    return n / elapsed


async def main(receipts: int, window: int) -> None:
    base = load_settings()
    tmp = Path(tempfile.mkdtemp(prefix="smsflow-bench-smpp-"))
    broker: Broker | None = None
    bootstrap = base.kafka_bootstrap
    if not (base.bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")):
        bs = Settings(home=tmp, kafka_port=_free_port(), kafka_controller_port=_free_port())
        console.print("starting a local Kafka broker for the benchmark ...")
        broker = Broker(bs)
        broker.up()
        bootstrap = broker.bootstrap
    port, control_port = _free_port(), _free_port()
    smsc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smsflow", "smsc", "--port", str(port),
        "--control-port", str(control_port), stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert smsc.stdout is not None
        await smsc.stdout.readline()  # "smsc ready ..."
        for binds in (1, 4):
            settings = Settings(
                home=tmp, bootstrap_servers=bootstrap,
                topic_prefix=f"bench{uuid.uuid4().hex[:8]}.", partitions=base.partitions,
                smpp_host="127.0.0.1", smpp_port=port, smpp_system_id="bench",
                smpp_password="bench", smpp_binds=binds, smpp_bind_type="transceiver",
            )
            rate = await _one(settings, control_port, receipts, window)
            print(f"SMPP bridge, {binds} bind(s): {rate:>9,.0f} receipts/s "
                  f"({receipts} receipts, window {window}, deliver_sm -> ack -> resp)")
    finally:
        smsc.terminate()
        await smsc.wait()
        if broker is not None:
            broker.down()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--receipts", type=int, default=5000, help="receipts per run")
    ap.add_argument("--window", type=int, default=256, help="unanswered deliveries in all")
    args = ap.parse_args()
    asyncio.run(main(args.receipts, args.window))
