"""The records one input batch produces, sent as producer batches.

The worker fills one :class:`smsflow.producer_batches.Outputs` per set of input batches while
it processes them and sends it at their end; :meth:`Outputs.send` returns one future per
producer batch, which :class:`streams.feed.Commits` waits for before the input offsets can be
committed. Records whose partition the producer picks (dead letters: that topic's partition
count is not the worker's) go through ``send`` one by one. :class:`TableWriter` writes a Faust
table the same way: the local store directly, and the changelog record (the bytes Faust's own
``send_changelog`` would send, so recovery and standbys rebuild what was written) to the
changelog partition of the input's partition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smsflow.producer_batches import Outputs
from streams.compat import persisted, store_delete, store_get, store_put

__all__ = ["TableWriter"]


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
