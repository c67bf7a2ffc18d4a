"""Produce a file's send requests: valid rows to the requests topic, invalid ones dead-lettered.

Records are enqueued without waiting for each acknowledgement (batching); every ``window``
records the acknowledgements so far are checked, so memory stays bounded and a broker failure
stops the run with :class:`~smsflow.errors.InfraError` instead of losing rows silently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from producers.request_file import Row
from producers.requests import SendRequestIn, send_request_record, validate_request
from producers.send import SendProducer, umid_key
from smsflow.errors import InfraError, ValidationError

__all__ = ["ProduceSummary", "known_request_fields", "produce_rows"]

COMPONENT = "producer"


def known_request_fields() -> frozenset[str]:
    """Every accepted input field name (platform JSON names and snake_case)."""
    names: set[str] = set()
    for name, field in SendRequestIn.model_fields.items():
        names.add(name)
        if field.alias:
            names.add(field.alias)
    return frozenset(names)


@dataclass
class ProduceSummary:
    """What a run did: rows produced, rows invalid (dead-lettered), time taken."""

    produced: int = 0
    invalid: int = 0
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return (self.produced + self.invalid) / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"produced {self.produced}, invalid {self.invalid} "
            f"in {self.seconds:.1f}s ({self.rows_per_second:,.0f} rows/s)"
        )


async def _settle(pending: list[asyncio.Future[Any]]) -> None:
    results = await asyncio.gather(*pending, return_exceptions=True)
    pending.clear()
    for r in results:
        if isinstance(r, BaseException):
            raise InfraError(f"Kafka did not acknowledge a record: {r!r}") from r


async def produce_rows(
    producer: SendProducer,
    rows: Iterable[Row],
    *,
    defaults: dict[str, Any] | None = None,
    strict: bool = False,
    on_row: Callable[[Row], None] | None = None,
    on_invalid: Callable[[str], None] | None = None,
    window: int = 5000,
) -> ProduceSummary:
    """Validate and produce every row; return the counts once all are acknowledged.

    ``defaults`` fill fields a row lacks (e.g. ``{"subAccountId": "acme"}``). Invalid rows are
    reported through ``on_invalid`` as ``row N: field: reason`` and produced to the dead-letter
    topic with the raw row bytes as payload; ``strict`` also refuses destinations libphonenumber
    does not call valid (default: kept and flagged). Raises :class:`InfraError` if the broker
    fails.
    """
    topic = producer.settings.topics.requests
    summary = ProduceSummary()
    pending: list[asyncio.Future[Any]] = []
    started = time.perf_counter()
    for row in rows:
        try:
            if row.error is not None or row.data is None:
                raise ValidationError(row.error or "empty row")
            data = {**defaults, **row.data} if defaults else row.data
            record = send_request_record(validate_request(data, strict=strict))
        except ValidationError as e:
            message = f"row {row.number}: {e}"
            summary.invalid += 1
            if on_invalid is not None:
                on_invalid(message)
            fut = await producer.dead_letter(
                COMPONENT, message, topic=topic, payload=row.raw, reason="invalid", wait=False
            )
        else:
            fut = await producer.enqueue(topic, "SendRequest", umid_key(record["umid"]), record)
            summary.produced += 1
        pending.append(fut)  # type: ignore[arg-type]
        if on_row is not None:
            on_row(row)
        if len(pending) >= window:
            await _settle(pending)
    await producer.flush()
    await _settle(pending)
    summary.seconds = time.perf_counter() - started
    return summary
