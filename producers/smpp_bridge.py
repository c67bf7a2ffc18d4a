"""SMPP receiver bridge: the platform's ``deliver_sm`` PDUs to Avro records on Kafka.

``smsflow smpp`` (and ``smsflow run`` when ``SMSFLOW_SMPP_HOST`` is set) keeps
``smpp_binds`` receiver (or transceiver) binds of ``smpp_system_id`` to the SMSC, plain or TLS;
receipts go to any bind of a system_id, so every bind takes them. The session (bind,
enquire_link after ``smpp_enquire_link_s`` idle, reconnect with a doubling back-off from
``smpp_reconnect_min_ms``, unbind on stop) is aiosmpplib's (:mod:`producers.smpp_compat`).

Each ``deliver_sm`` (:func:`producers.smpp_pdu.parse_deliver_sm`) becomes a
``DeliveryReceipt`` on the receipts topic or an ``InboundMessage`` on the inbound topic, keyed
by umid, exactly as the webhook receiver writes them. ``deliver_sm_resp`` goes out only after
the broker acknowledged the record, or, for a PDU that cannot become one, its dead letter
(reason tag, error, the PDU under the privacy policy); the bind stays up. When the broker does
not acknowledge, or the write fails in any other way, the connection is dropped without a
response: the SMSC re-delivers on another bind or after the reconnect (a duplicate is harmless
downstream); no deliver_sm is left unanswered on a bind that stays up.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import ssl
import sys
from dataclasses import dataclass
from typing import Any

from aiosmpplib import BindMode
from aiosmpplib.retrytimer import SimpleExponentialBackoff

from producers.send import SendProducer, umid_key
from producers.smpp_compat import TlsEsme
from producers.smpp_pdu import PduError, parse_deliver_sm, redacted_pdu
from smsflow.config import Settings
from smsflow.errors import ConfigError, SchemaError, SmsflowError
from smsflow.privacy import Privacy

__all__ = ["BridgeStats", "SmppBridge", "smpp_enabled"]

log = logging.getLogger(__name__)
COMPONENT = "smpp"


def smpp_enabled(settings: Settings) -> bool:
    return bool(settings.smpp_host)


@dataclass
class BridgeStats:
    """Counters of the bridge (``smsflow run`` shows them as the ``smpp`` component)."""

    receipts: int = 0
    inbound: int = 0
    dead_letters: int = 0
    not_acked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "receipts": self.receipts,
            "inbound": self.inbound,
            "dead_letters": self.dead_letters,
            "not_acked": self.not_acked,
        }


class SmppBridge:
    """``smpp_binds`` binds producing through ``producer`` (started and stopped by the caller)."""

    def __init__(self, settings: Settings, producer: SendProducer) -> None:
        if not settings.smpp_host:
            raise ConfigError("SMPP needs SMSFLOW_SMPP_HOST")
        if not settings.smpp_system_id:
            raise ConfigError("SMPP needs SMSFLOW_SMPP_SYSTEM_ID")
        self.settings = settings
        self.producer = producer
        self.privacy = Privacy.from_settings(settings)
        self.subaccount_id = settings.smpp_subaccount_id or settings.smpp_system_id
        self.stats = BridgeStats()
        self._esmes: list[TlsEsme] = [self._esme(i) for i in range(settings.smpp_binds)]

    def _ssl(self) -> ssl.SSLContext | None:
        s = self.settings
        if not s.smpp_tls:
            return None
        cafile = str(s.smpp_tls_cafile) if s.smpp_tls_cafile else None
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def _esme(self, i: int) -> TlsEsme:
        s = self.settings
        password = s.smpp_password.get_secret_value() if s.smpp_password else ""
        name = f"bind-{i}"
        handler = logging.StreamHandler(sys.stderr)
        try:
            return TlsEsme(
                smsc_host=s.smpp_host,
                smsc_port=s.smpp_port,
                system_id=s.smpp_system_id,
                password=password,
                system_type=s.smpp_system_type,
                bind_mode=(
                    BindMode.TRANSCEIVER if s.smpp_bind_type == "transceiver" else BindMode.RECEIVER
                ),
                client_id=f"smsflow-{name}",
                enquire_link_interval=float(s.smpp_enquire_link_s),
                socket_timeout=float(s.smpp_timeout_s),
                retry_timer=SimpleExponentialBackoff(
                    s.smpp_reconnect_min_ms, s.smpp_reconnect_doublings
                ),
                log_level=logging.WARNING,
                log_handler=handler,
                log_metadata={"bind": name},
                ssl_context=self._ssl(),
                on_deliver=self.handle,
                window=s.smpp_window,
            )
        except ValueError as e:  # aiosmpplib checks lengths: system_id <= 15, password <= 8
            raise ConfigError(f"SMPP settings: {e}") from None

    async def handle(self, raw: bytes) -> None:
        """One deliver_sm: its record (or dead letter) acknowledged by the broker, or
        ``ConnectionError`` (whatever failed) so no response goes out and the bind drops."""
        topics = self.settings.topics
        try:
            try:
                event = parse_deliver_sm(
                    raw, now=dt.datetime.now(dt.UTC), subaccount_id=self.subaccount_id
                )
            except PduError:
                raise
            except Exception as e:  # nothing in a PDU may stop the bind: dead-letter it
                raise PduError(f"unreadable deliver_sm: {e!r}") from None
            topic = topics.receipts if event.schema == "DeliveryReceipt" else topics.inbound
            await self.producer.send(
                topic, event.schema, umid_key(event.record["umid"]), event.record
            )
        except (PduError, SchemaError) as e:
            reason = e.reason
            try:
                await self.producer.dead_letter(
                    COMPONENT, e, payload=redacted_pdu(raw, self.privacy), reason=reason
                )
            except Exception as infra:
                self._not_acked("dead letter", infra)
                raise ConnectionError("dead letter not acknowledged") from infra
            self.stats.dead_letters += 1
            log.warning("deliver_sm dead-lettered: %s: %s", reason, e)
            return
        except Exception as e:  # the broker's refusal, or any other failure of the write
            self._not_acked("record", e)
            raise ConnectionError("record not acknowledged") from e
        if event.schema == "DeliveryReceipt":
            self.stats.receipts += 1
        else:
            self.stats.inbound += 1

    def _not_acked(self, what: str, e: Exception) -> None:
        """Count and log a write that failed: the caller drops the bind without a response."""
        self.stats.not_acked += 1
        if isinstance(e, SmsflowError):
            log.error("SMPP %s not acknowledged (%s): dropping the bind", what, e)
        else:  # not the broker saying no: a bug or an unexpected client error
            log.error("SMPP %s not written (%r): dropping the bind", what, e, exc_info=e)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the binds until ``stop`` is set, then unbind them cleanly."""
        s = self.settings
        log.info(
            "SMPP: %s %s bind(s) of %s to %s:%s%s", s.smpp_binds, s.smpp_bind_type,
            s.smpp_system_id, s.smpp_host, s.smpp_port, " (TLS)" if s.smpp_tls else "",
        )
        tasks = [
            asyncio.create_task(e.start(), name=f"smpp-bind-{i}")
            for i, e in enumerate(self._esmes)
        ]
        stop_task = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stop_task, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stop_task and t.exception() is not None:
                log.error("SMPP %s failed: %r", t.get_name(), t.exception())
        await self.close(tasks)
        stop_task.cancel()

    async def close(self, tasks: list[asyncio.Task[None]]) -> None:
        async def one(esme: TlsEsme, task: asyncio.Task[None]) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(esme.drain(), 10)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(esme.stop(), 5)
            if not task.done():
                task.cancel()
            with contextlib.suppress(BaseException):
                await task

        await asyncio.gather(*(one(e, t) for e, t in zip(self._esmes, tasks, strict=True)))

    def status(self) -> dict[str, Any]:
        """Counters and the number of binds bound now (``smsflow run``'s ``smpp`` component)."""
        bound = sum(e.session_state == e.bind_mode.session_state for e in self._esmes)
        return {**self.stats.as_dict(), "binds": len(self._esmes), "bound": bound}
