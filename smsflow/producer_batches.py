"""Records sent as producer batches (aiokafka ``create_batch`` / ``send_batch``).

:class:`Outputs` collects records per (topic, partition) in aiokafka ``BatchBuilder``s and hands
them to the producer at once: one future per producer batch instead of aiokafka's per-record
``send`` (a future, the partitioner and the accumulator per record). aiokafka queues one batch
per partition at a time, so records keep their order within a partition, and an idempotent
producer numbers the batches as it numbers its own. The worker sends each input batch's outputs
this way (:mod:`streams.outputs`), the simulator its events (:mod:`simulator.produce`).
:func:`key_partition` is the partition the producer's default partitioner gives a key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka.partitioner import murmur2

__all__ = ["Outputs", "key_partition"]


def key_partition(key: bytes, partitions: int) -> int:
    """The partition aiokafka's (and Kafka's) default partitioner gives ``key`` (murmur2)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Outputs:
    """Records to send for one batch (one use: fill, then :meth:`send`)."""

    def __init__(self, producer: Any) -> None:
        self._producer = producer
        self._open: dict[tuple[str, int], Any] = {}
        self._full: list[tuple[str, int, Any]] = []
        self._keyed: list[tuple[str, bytes | None, bytes]] = []
        self._acked: dict[str, Callable[[int, Any], None]] = {}
        self.records = 0

    def on_ack(self, topic: str, callback: Callable[[int, Any], None]) -> None:
        """Call ``callback(partition, metadata)`` when a batch of ``topic`` is acknowledged."""
        self._acked[topic] = callback

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        """A record for ``topic``/``partition`` (value None: a tombstone)."""
        self.records += 1
        builder = self._open.get((topic, partition))
        if builder is None:
            builder = self._open[(topic, partition)] = self._producer.create_batch()
        if builder.append(key=key, value=value, timestamp=None) is None:  # full
            self._full.append((topic, partition, builder))
            builder = self._open[(topic, partition)] = self._producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a record of {len(value or b'')} bytes does not fit a batch")

    def add_keyed(self, topic: str, key: bytes | None, value: bytes) -> None:
        """A record whose partition the producer's partitioner picks."""
        self.records += 1
        self._keyed.append((topic, key, value))

    async def send(self) -> list[asyncio.Future[Any]]:
        """Hand every batch to the producer; the futures of their acknowledgements."""
        futures: list[asyncio.Future[Any]] = []
        producer = self._producer
        batches = [*self._full, *((t, p, b) for (t, p), b in self._open.items())]
        self._full, self._open = [], {}
        for topic, partition, builder in batches:
            builder.close()  # complete: sent without waiting for the producer's linger
            fut = await producer.send_batch(builder, topic, partition=partition)
            callback = self._acked.get(topic)
            if callback is not None:
                fut.add_done_callback(lambda f, p=partition, cb=callback: (
                    None if f.cancelled() or f.exception() else cb(p, f.result())))
            futures.append(fut)
        for topic, key, value in self._keyed:
            futures.append(await producer.send(topic, value, key=key))
        self._keyed = []
        return futures
