"""``SendProducer``: Avro records to Kafka, keyed by umid, acknowledged by the broker.

```python
async with SendProducer(settings) as p:
    await p.send_request({"destination": "+6591234567", "text": "hi", "subAccountId": "A"})
    await p.send(settings.topics.receipts, "DeliveryReceipt", umid, record)  # acked on return
    fut = await p.enqueue(topic, name, umid, record)                        # acked later
    await p.flush()
```
Idempotent producer, ``acks=all``: a record is on every in-sync replica when its call (or its
future) completes. Records that do not fit their schema raise
:class:`~smsflow.errors.SchemaError` before anything is produced; a broker that does not
acknowledge within ``ack_timeout`` raises :class:`~smsflow.errors.InfraError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from producers.requests import SendRequestIn, send_request_record, validate_request
from schemas import Codec, get_codec
from schemas.deadletter import dead_letter
from smsflow.config import Settings
from smsflow.errors import InfraError
from smsflow.kafka_client import aiokafka_kwargs, start_client
from smsflow.privacy import Privacy

__all__ = ["SendProducer", "request_record", "umid_key"]


def umid_key(umid: str | None) -> bytes | None:
    """The Kafka key of a umid: UTF-8 bytes of the canonical lower-case uuid string."""
    return umid.lower().encode() if umid else None


class SendProducer:
    """Async producer of smsflow records (one aiokafka producer, tuned for throughput)."""

    def __init__(
        self,
        settings: Settings,
        *,
        codec: Codec | None = None,
        linger_ms: int = 20,
        max_batch_size: int = 512 * 1024,
        ack_timeout: float = 30.0,
        client_id: str = "smsflow-producer",
    ) -> None:
        self.settings = settings
        self.codec = codec or get_codec(settings)
        self.ack_timeout = ack_timeout
        self.privacy = Privacy.from_settings(settings)
        self._config: dict[str, Any] = {
            "bootstrap_servers": settings.kafka_bootstrap,
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": linger_ms,
            "max_batch_size": max_batch_size,
            "request_timeout_ms": int(ack_timeout * 1000),
            **aiokafka_kwargs(settings),
        }
        self._producer: AIOKafkaProducer | None = None  # created in start(): needs a loop

    async def start(self) -> None:
        """Connect to the broker; :class:`InfraError` (one line) when it cannot be reached or
        rejects the credentials."""
        producer = AIOKafkaProducer(**self._config)
        try:
            await start_client(producer, self.settings, timeout=self.ack_timeout)
        except InfraError:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        """Deliver what is pending and disconnect (errors of pending sends are not raised)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    @property
    def started(self) -> bool:
        return self._producer is not None

    def _running(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise InfraError("the Kafka producer is not started (or was stopped)")
        return self._producer

    async def __aenter__(self) -> SendProducer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def enqueue(
        self, topic: str, name: str, key: str | bytes | None, record: Mapping[str, Any]
    ) -> asyncio.Future[RecordMetadata]:
        """Encode and hand a record to the batching producer; the future completes on ack.

        Raises :class:`SchemaError` when the record does not fit ``name``; :class:`InfraError`
        when the broker cannot take it (no metadata, buffer full past the timeout).
        """
        value = self.codec.encode(name, dict(record))
        kb = key.encode() if isinstance(key, str) else key
        try:  # aiokafka bounds the wait for metadata and buffer space by request_timeout_ms
            return await self._running().send(topic, value=value, key=kb)
        except KafkaError as e:
            raise InfraError(f"Kafka did not take a record for {topic}: {e!r}") from e

    async def send(
        self, topic: str, name: str, key: str | bytes | None, record: Mapping[str, Any]
    ) -> RecordMetadata:
        """Produce one record and wait for the broker's acknowledgement.

        Raises :class:`SchemaError` (record does not fit) or :class:`InfraError` (not
        acknowledged within ``ack_timeout``: the record may or may not have been written).
        """
        fut = await self.enqueue(topic, name, key, record)
        try:
            return await asyncio.wait_for(fut, self.ack_timeout)
        except (KafkaError, TimeoutError) as e:
            raise InfraError(f"Kafka did not acknowledge a record for {topic}: {e!r}") from e

    async def send_request(
        self, request: SendRequestIn | Mapping[str, Any]
    ) -> tuple[dict[str, Any], RecordMetadata]:
        """Validate (if needed) and produce a send request to the requests topic; wait for ack.

        ``request`` is a :class:`SendRequestIn`, a platform-style request dict, or an already
        built ``SendRequest`` record dict (recognised by its ``requested_encoding`` key).
        Returns the record (with its umid) and the broker's metadata. Raises
        :class:`ValidationError` for an invalid request, else as :meth:`send`.
        """
        record = request_record(request)
        meta = await self.send(
            self.settings.topics.requests, "SendRequest", umid_key(record["umid"]), record
        )
        return record, meta

    async def dead_letter(
        self,
        component: str,
        error: BaseException | str,
        *,
        topic: str | None = None,
        key: bytes | None = None,
        payload: bytes | None = None,
        reason: str | None = None,
        wait: bool = True,
    ) -> asyncio.Future[RecordMetadata] | RecordMetadata:
        """Produce a ``DeadLetter`` record (see :func:`schemas.deadletter.dead_letter`).

        With ``wait`` (default) returns after the ack, else returns the delivery future.
        Raises :class:`InfraError` when the broker does not take or acknowledge it.
        """
        rec = dead_letter(
            component, error, topic=topic, key=key, payload=payload, reason=reason,
            privacy=self.privacy,
        )
        dlq = self.settings.topics.dead_letter
        if wait:
            return await self.send(dlq, "DeadLetter", key, rec)
        return await self.enqueue(dlq, "DeadLetter", key, rec)

    async def flush(self) -> None:
        """Wait until every enqueued record was sent (failures surface on their futures)."""
        try:
            await asyncio.wait_for(self._running().flush(), self.ack_timeout)
        except (KafkaError, TimeoutError) as e:
            raise InfraError(f"Kafka did not acknowledge pending records: {e!r}") from e


def request_record(request: SendRequestIn | Mapping[str, Any]) -> dict[str, Any]:
    """The ``SendRequest`` record of a model, a request dict or a ready record dict."""
    if isinstance(request, SendRequestIn):
        return send_request_record(request)
    if "requested_encoding" in request:
        return dict(request)
    return send_request_record(validate_request(request))
