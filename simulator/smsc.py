"""A test SMSC for the simulator, the SMPP tests and the bench: smpp34's SMPP 3.4 server.

``smsflow smsc --port P [--tls-port T --cert C --key K] --control-port Q`` runs it as a
process. The SMPP side is :class:`smpp34.Server` (the Rust server of the ``smpp34`` package:
binds, enquire_link, windowing, deliver_sm and its response); with ``--tls-port`` a TLS listener
in front of it forwards each connection to the plain port (smpp34's Python server has no TLS).

It plays the platform's part: every deliver_sm pushed through the control port goes to one of
the bound receiver/transceiver sessions (round robin, as the platform routes receipts to any
bind of a system_id) and is retried on another session when its session drops before the
``deliver_sm_resp``; so nothing is lost while the ESME reconnects.

Control port: JSON lines over TCP. A request line is one of

* ``{"deliver": {...}}``: fields of :func:`deliver_fields` (``short_message`` as hex,
  ``tlvs`` as ``[[tag, hex], ...]``); the answer line ``{"id": n, "status": command_status}``
  comes once the ESME answered (requests may be pipelined; answers come in completion order,
  with the request's ``"id"`` when it gave one);
* ``{"binds": true}``: answer ``{"binds": number of bound receiving sessions}``;
* ``{"unbind": true}``: the SMSC unbinds every session (the ESMEs must bind again);
  answer ``{"unbound": n}``.

Bind credentials are not checked (smpp34's Python server accepts every bind), and its server
answers a deliver_sm_resp on a receiver bind with generic_nack (smpp34 1.5.0): bind the ESME as
transceiver against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from pathlib import Path
from typing import Any

import smpp34

__all__ = ["Smsc", "SmscControl", "deliver_fields", "deliver_sm_pdu", "run_smsc"]

_FIELDS = (
    "source_addr", "service_type", "source_addr_ton", "source_addr_npi", "dest_addr_ton",
    "dest_addr_npi", "esm_class", "protocol_id", "priority_flag", "registered_delivery",
    "data_coding",
)


def deliver_fields(spec: dict[str, Any]) -> tuple[str, bytes, dict[str, Any]]:
    """(destination_addr, short_message, keyword fields) of a control-port deliver spec."""
    kw: dict[str, Any] = {k: spec[k] for k in _FIELDS if k in spec}
    kw["tlvs"] = [smpp34.Tlv(int(tag), bytes.fromhex(value)) for tag, value in spec.get("tlvs", [])]
    return spec.get("destination_addr", ""), bytes.fromhex(spec.get("short_message", "")), kw


def deliver_sm_pdu(spec: dict[str, Any]) -> bytes:
    """The deliver_sm PDU (smpp34's encoding) the SMSC sends for a control-port spec, with the
    defaults of :meth:`smpp34.Esme.deliver_sm` (the simulator's truth reads it back)."""
    dest, message, kw = deliver_fields(spec)
    kw = {"dest_addr_ton": 1, "dest_addr_npi": 1, **kw}
    source = kw.pop("source_addr", "")
    return bytes(smpp34.DeliverSm(source, dest, message, **kw).encode())


class Smsc:
    """The server, its sessions and the queue of deliveries."""

    def __init__(self, host: str, port: int) -> None:
        self.server = smpp34.Server(host, port, system_id="SMSFLOWSIM")
        self.sessions: dict[str, smpp34.Esme] = {}
        self.changed = asyncio.Event()
        self._rr = 0

    async def start(self) -> None:
        await self.server.start()
        self._events_task = asyncio.create_task(self._events(), name="smsc-events")

    async def _events(self) -> None:
        while True:
            ev = await self.server.next()
            if isinstance(ev, smpp34.Esme):
                if ev.can_receive:
                    self.sessions[ev.session_id] = ev
            elif isinstance(ev, smpp34.Unbound):
                self.sessions.pop(ev.session_id, None)
            elif isinstance(ev, smpp34.SubmitSmEvent):
                ev.reject(smpp34.ESME_RSYSERR)  # receipts/MO only: this SMSC takes no MT
            self.changed.set()

    async def _session(self) -> smpp34.Esme:
        while not self.sessions:
            self.changed.clear()
            await self.changed.wait()
        ids = sorted(self.sessions)
        self._rr += 1
        return self.sessions[ids[self._rr % len(ids)]]

    async def deliver(self, spec: dict[str, Any]) -> int:
        """Deliver until some session answers; the answer's command_status."""
        dest, message, kw = deliver_fields(spec)
        while True:
            esme = await self._session()
            try:
                resp = await esme.deliver_sm(dest, message, **kw)
            except smpp34.SmppError:  # session dropped, or no answer in time: another one
                if self.sessions.get(esme.session_id) is esme:
                    self.sessions.pop(esme.session_id, None)
                await asyncio.sleep(0.05)
                continue
            return int(resp.command_status)

    async def unbind_all(self) -> int:
        sessions = list(self.sessions.values())
        self.sessions.clear()
        for s in sessions:
            with contextlib.suppress(Exception):
                await s.unbind()
        return len(sessions)

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lock = asyncio.Lock()
        pending: set[asyncio.Task[None]] = set()

        async def answer(obj: dict[str, Any]) -> None:
            async with lock:
                writer.write(json.dumps(obj).encode() + b"\n")
                await writer.drain()

        async def one(req: dict[str, Any]) -> None:
            status = await self.deliver(req["deliver"])
            await answer({"id": req.get("id"), "status": status})

        try:
            while line := await reader.readline():
                req = json.loads(line)
                if "deliver" in req:
                    t = asyncio.create_task(one(req))
                    pending.add(t)
                    t.add_done_callback(pending.discard)
                elif "binds" in req:
                    await answer({"binds": len(self.sessions)})
                elif "unbind" in req:
                    await answer({"unbound": await self.unbind_all()})
        except (ConnectionError, ValueError):
            pass
        finally:
            for t in pending:
                t.cancel()
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _tls_front(host: str, tls_port: int, plain_port: int, cert: Path, key: Path) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3  # as the platform's port 2776
    ctx.load_cert_chain(str(cert), str(key))

    async def forward(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", plain_port)
        except OSError:
            w.close()
            return
        await asyncio.gather(_pipe(r, uw), _pipe(ur, w))

    server = await asyncio.start_server(forward, host, tls_port, ssl=ctx)
    await server.start_serving()


async def run_smsc(
    host: str,
    port: int,
    control_port: int,
    *,
    tls_port: int | None = None,
    cert: Path | None = None,
    key: Path | None = None,
) -> None:
    """Serve until cancelled."""
    smsc = Smsc(host, port)
    await smsc.start()
    if tls_port:
        if cert is None or key is None:
            raise ValueError("a TLS port needs --cert and --key")
        await _tls_front(host, tls_port, port, cert, key)
    control = await asyncio.start_server(smsc.control, "127.0.0.1", control_port)
    print(f"smsc ready smpp={port} tls={tls_port} control={control_port}", flush=True)
    async with control:
        await control.serve_forever()


class SmscControl:
    """Client of the control port (tests, the bench and the simulator's SMPP channel)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._next = 0
        self._waiting: dict[int, asyncio.Future[int]] = {}
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> SmscControl:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def _read(self) -> None:
        while line := await self._reader.readline():
            msg = json.loads(line)
            if msg.get("id") is not None and msg["id"] in self._waiting:
                self._waiting.pop(msg["id"]).set_result(int(msg["status"]))
            else:
                await self._replies.put(msg)
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError("SMSC control connection closed"))

    async def _send(self, obj: dict[str, Any]) -> None:
        self._writer.write(json.dumps(obj).encode() + b"\n")
        await self._writer.drain()

    async def deliver(self, spec: dict[str, Any]) -> int:
        """Deliver one deliver_sm; the ESME's command_status once it answered."""
        self._next += 1
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = fut
        await self._send({"deliver": spec, "id": self._next})
        return await fut

    async def deliver_all(self, specs: list[dict[str, Any]], window: int = 256) -> list[int]:
        """Deliver every spec with up to ``window`` unanswered; statuses in spec order."""
        sem = asyncio.Semaphore(window)

        async def one(spec: dict[str, Any]) -> int:
            async with sem:
                return await self.deliver(spec)

        return list(await asyncio.gather(*(one(s) for s in specs)))

    async def binds(self) -> int:
        await self._send({"binds": True})
        return int((await self._replies.get())["binds"])

    async def wait_binds(self, n: int) -> None:
        """Return once ``n`` sessions are bound (wrap in ``asyncio.timeout``)."""
        while True:
            if await self.binds() >= n:
                return
            await asyncio.sleep(0.1)

    async def unbind(self) -> int:
        await self._send({"unbind": True})
        return int((await self._replies.get())["unbound"])

    async def close(self) -> None:
        self._writer.close()
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
