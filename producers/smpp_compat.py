"""The one place that touches aiosmpplib internals (checked against its version).

aiosmpplib's ``ESME`` gives the session: bind, enquire_link keep-alive, reconnect with a
back-off timer, unbind on stop, and it answers a request only after ``hook.received`` returned.
Two things are changed here:

* ``deliver_sm`` is not parsed by aiosmpplib (its parser reads vendor TLVs as ASCII and answers
  ``generic_nack`` for binary ones such as ``network_error_code``): the raw PDU goes to the hook,
  which decodes it with :mod:`smpp34` and returns after the broker's ack, so the
  ``deliver_sm_resp`` aiosmpplib then sends follows the ack. An exception of the hook
  (``ConnectionError``) drops the connection without a response: the SMSC re-delivers.
* ``connect`` can open TLS (aiosmpplib 0.7 opens plain TCP only).
"""

from __future__ import annotations

import asyncio
import ssl
from importlib.metadata import version
from typing import Any

from aiosmpplib import ESME
from aiosmpplib.esme import _NETWORK_BUFFER_LIMIT  # type: ignore[attr-defined]
from aiosmpplib.protocol import MESSAGE_TYPE_MAP, SmppMessage
from aiosmpplib.state import (
    COMMAND_RESPONSE_MAP,
    SmppCommand,
    SmppCommandStatus,
    SmppError,
    SmppSessionState,
)

__all__ = ["RawDeliverSm", "TlsEsme"]

AIOSMPPLIB_VERSION = version("aiosmpplib")
if AIOSMPPLIB_VERSION != "0.7.4":  # pragma: no cover - guarded upgrade
    raise ImportError(
        f"producers.smpp_compat is written against aiosmpplib 0.7.4, not {AIOSMPPLIB_VERSION}: "
        "re-check ESME.connect / ESME._handle_request before changing the pin"
    )


class RawDeliverSm(SmppMessage):  # type: ignore[misc]
    """Stands for a deliver_sm handed to the hook as raw bytes (aiosmpplib answers it with
    ``deliver_sm_resp`` after the hook returns)."""

    @property
    def smpp_command(self) -> SmppCommand:
        return SmppCommand.DELIVER_SM

    def pdu(self) -> bytes:  # never sent
        raise NotImplementedError


class TlsEsme(ESME):  # type: ignore[misc]
    """An aiosmpplib ESME that can bind over TLS and leaves deliver_sm to its hook."""

    def __init__(self, *args: Any, ssl_context: ssl.SSLContext | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._ssl_context = ssl_context

    async def _handle_request(self, pdu: bytes, header: Any) -> SmppMessage | None:
        if header.smpp_command == SmppCommand.DELIVER_SM:
            return RawDeliverSm(header.sequence_num)
        return await super()._handle_request(pdu, header)

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
