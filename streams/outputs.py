"""The records one input batch produces, sent as producer batches (aiokafka ``send_batch``).

:class:`Outputs` collects them per (topic, partition) in aiokafka ``BatchBuilder``s while the
batch is processed and sends them at its end; :meth:`Outputs.send` returns one future per
producer batch, which :class:`streams.feed.Commits` waits for before the input offsets can be
committed. Records whose partition the producer picks (dead letters: that topic's partition
count is not the worker's) go through ``send`` one by one. :class:`TableWriter` writes a Faust
table the same way: the local store directly, and the changelog record (the bytes Faust's own
``send_changelog`` would send, so recovery and standbys rebuild what was written) to the
changelog partition of the input's partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from streams.compat import persisted, store_delete, store_get, store_put

__all__ = ["Outputs", "TableWriter"]


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


class TableWriter:
    """Writes of one Faust table: local store + changelog record in the same :class:`Outputs`."""

    def __init__(self, table: Any, encode: Callable[[Any], bytes]) -> None:
        self.table = table
        self.topic: str = table.changelog_topic.get_topic_name()
        self._encode = encode

    def get(self, key: bytes) -> Any:
        return store_get(self.table, key)

    def put(self, out: Outputs, partition: int, key: bytes, value: Any) -> None:
        encoded = self._encode(value)
        store_put(self.table, partition, key, value, encoded)
        out.add(self.topic, partition, key, encoded)

    def delete(self, out: Outputs, partition: int, key: bytes) -> None:
        store_delete(self.table, key)
        out.add(self.topic, partition, key, None)

    def watch(self, out: Outputs) -> None:
        """Keep the store's persisted changelog offset (RocksDB resumes recovery there)."""
        def acked(partition: int, meta: Any) -> None:
            persisted(self.table, meta.topic_partition, meta.offset)

        out.on_ack(self.topic, acked)
