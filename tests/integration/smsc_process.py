"""The test SMSC (``smsflow smsc``: smpp34's SMPP server) as a child process on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import _free_port

__all__ = ["PduTap", "SmscProcess", "self_signed"]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (subjectAltName IP) and its key, via openssl."""
    cert, key = directory / "smsc-cert.pem", directory / "smsc-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


class SmscProcess:
    """Start / kill / restart the SMSC on fixed ports (a restart keeps them)."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.port, self.control_port = _free_port(), _free_port()
        self.tls_port = _free_port() if tls else None
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SmscProcess:
        argv = [sys.executable, "-m", "smsflow", "smsc", "--port", str(self.port),
                "--control-port", str(self.control_port)]
        if self.tls:
            argv += ["--tls-port", str(self.tls_port), "--cert", str(self.tls[0]),
                     "--key", str(self.tls[1])]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=os.environ.copy())
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        line = self.proc.stdout.readline()
        if b"smsc ready" not in line or time.monotonic() > deadline:
            raise RuntimeError(f"SMSC did not start: {line!r}")
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class PduTap:
    """A TCP relay in front of the SMSC that records the command_id of every PDU the ESMEs
    send, per connection: what went over the wire (enquire_link, unbind), checked against the
    real SMSC behind it. Runs in the test's event loop; ``port`` once started."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.sent: list[list[int]] = []  # per connection, in order
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> PduTap:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _connection(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ids: list[int] = []
        self.sent.append(ids)
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            w.close()
            return

        async def up() -> None:  # ESME -> SMSC, PDU by PDU
            try:
                while True:
                    head = await r.readexactly(16)
                    length, command_id = struct.unpack(">II", head[:8])
                    body = await r.readexactly(length - 16)
                    ids.append(command_id)
                    uw.write(head + body)
                    await uw.drain()
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    uw.close()

        async def down() -> None:
            try:
                while data := await ur.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    w.close()

        await asyncio.gather(up(), down())

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
