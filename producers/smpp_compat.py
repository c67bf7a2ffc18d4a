"""The one place that touches aiosmpplib internals (checked against its version).

aiosmpplib's ``ESME`` gives the session: bind, enquire_link keep-alive, reconnect with a
back-off timer, unbind on stop, and it answers a request only after ``hook.received`` returned.
Two things are changed here:

* ``deliver_sm`` is not parsed by aiosmpplib (its parser reads vendor TLVs as ASCII and answers
  ``generic_nack`` for binary ones such as ``network_error_code``), and not answered by its
  receive loop one at a time: the raw PDU goes to ``on_deliver`` (which decodes it with
  :mod:`smpp34` and returns after the broker's ack), up to ``window`` at once, and its
  ``deliver_sm_resp`` follows. An exception (``ConnectionError`` or any other) drops the
  connection without a response: the SMSC re-delivers.
* ``connect`` can open TLS (aiosmpplib 0.7 opens plain TCP only).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

from aiosmpplib import ESME
from aiosmpplib.esme import _NETWORK_BUFFER_LIMIT  # type: ignore[attr-defined]
from aiosmpplib.protocol import MESSAGE_TYPE_MAP, DeliverSmResp, SmppMessage
from aiosmpplib.state import (
    COMMAND_RESPONSE_MAP,
    SmppCommand,
    SmppCommandStatus,
    SmppError,
    SmppSessionState,
)

__all__ = ["TlsEsme"]

AIOSMPPLIB_VERSION = version("aiosmpplib")
if AIOSMPPLIB_VERSION != "0.7.4":  # pragma: no cover - guarded upgrade
    raise ImportError(
        f"producers.smpp_compat is written against aiosmpplib 0.7.4, not {AIOSMPPLIB_VERSION}: "
        "re-check ESME.connect / ESME._handle_request before changing the pin"
    )


class TlsEsme(ESME):  # type: ignore[misc]
    """An aiosmpplib ESME that can bind over TLS and hands each deliver_sm to ``on_deliver``.

    Up to ``window`` deliver_sm are handled at once (the receive loop stops reading while the
    window is full); each one's ``deliver_sm_resp`` goes out on the connection it came in on
    when ``on_deliver`` returned, in completion order. An exception from ``on_deliver`` closes
    that connection without a response (aiosmpplib then reconnects with its back-off);
    a response whose connection is gone is not sent (the SMSC re-delivers).
    """

    def __init__(
        self,
        *args: Any,
        on_deliver: Callable[[bytes], Awaitable[None]],
        window: int = 64,
        ssl_context: ssl.SSLContext | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self._ssl_context = ssl_context
        self._on_deliver = on_deliver
        self._window = asyncio.Semaphore(window)
        self._inflight: set[asyncio.Task[None]] = set()

    async def _handle_request(self, pdu: bytes, header: Any) -> SmppMessage | None:
        if header.smpp_command != SmppCommand.DELIVER_SM:
            return await super()._handle_request(pdu, header)
        await self._window.acquire()
        task = asyncio.create_task(self._deliver(pdu, header.sequence_num, self._writer))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return None  # aiosmpplib sends nothing for None: _deliver answers

    async def _deliver(self, pdu: bytes, sequence_num: int, writer: Any) -> None:
        try:
            await self._on_deliver(pdu)
        except Exception:  # ConnectionError, or any other: no response on a bind left up
            if writer is not None and writer is self._writer:
                writer.close()  # the receive loop fails and aiosmpplib reconnects
            return
        finally:
            self._window.release()
        if writer is None or writer is not self._writer or writer.is_closing():
            return
        try:
            writer.write(DeliverSmResp(sequence_num).pdu())
            async with self._drain_lock:
                await writer.drain()
        except OSError:
            pass

    async def drain(self) -> None:
        """Wait for the deliver_sm in hand (before unbinding)."""
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def connect(self) -> None:
        """aiosmpplib 0.7.4 ``ESME.connect`` with ``ssl=`` on the connection (same steps); a
        connection left by a dropped session is closed first (0.7.4 only forgets it)."""
        old = self._writer
        if old is not None and self._session_state != self.bind_mode.session_state:
            old.close()
            self._writer = None
        if self._ssl_context is None:
            await super().connect()
            return
        if self._session_state == self.bind_mode.session_state:
            return
        self._writer = None
        self._reader, self._writer = await self._socket_operation(
            asyncio.open_connection(
                self.smsc_host, self.smsc_port, ssl=self._ssl_context,
                limit=_NETWORK_BUFFER_LIMIT,
            )
        )
        self._session_state = SmppSessionState.OPEN
        bind_command = self.bind_mode.smpp_command
        bind_request = MESSAGE_TYPE_MAP[bind_command](
            system_id=self.system_id,
            password=self.password,
            system_type=self.system_type,
            interface_version=self.interface_version,
            addr_ton=self.addr_ton,
            addr_npi=self.addr_npi,
            address_range=self.address_range,
        )
        await self._socket_operation(self._send_data(bind_request))
        pdu, header = await self._socket_operation(self._get_pdu())
        expected = COMMAND_RESPONSE_MAP[bind_command]
        if header.smpp_command != expected:
            await self.hook.received(None, pdu, self.client_id)
            raise SmppError(header.smpp_command, header.command_status)
        response = MESSAGE_TYPE_MAP[expected].from_pdu(pdu, header)
        await self.hook.received(response, pdu, self.client_id)
        if header.command_status not in (
            SmppCommandStatus.ESME_ROK, SmppCommandStatus.ESME_RALYBND
        ):
            self._session_state = SmppSessionState.CLOSED
            raise SmppError(header.smpp_command, header.command_status)
        self._session_state = self.bind_mode.session_state
