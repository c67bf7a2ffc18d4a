"""The reply pairs over one batch: pairs topic records -> ``pairs`` table -> ``reply`` events.

Rules and data flow in :mod:`streams.replies`; this is the batch loop: for each record of one
partition of the pairs topic, merge it into its pair, write the pair when it changed and queue
a ``reply`` control event (keyed by the outbound umid) for every outbound to report.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from schemas import Codec
from smsflow.producer_batches import Outputs
from streams.internal_records import decode_pair_event, empty_pair, encode_reply
from streams.join import Runtime, Topics, dead_letter_to
from streams.outputs import TableWriter
from streams.replies import merge_pair, reply_targets

__all__ = ["PairMatcher"]

log = logging.getLogger("smsflow.streams")


class PairMatcher:
    """One partition's batch of pair events -> pair table writes and reply control events."""

    def __init__(self, *, codec: Codec, topics: Topics, pairs: TableWriter, rt: Runtime,
                 window_us: int) -> None:
        self.codec, self.topics, self.pairs, self.rt = codec, topics, pairs, rt
        self.window_us = window_us

    def process(self, records: list[Any], out: Outputs) -> None:
        rt, retention = self.rt, self.rt.retention
        horizon_us = retention.horizon_us
        for rec in records:
            try:
                event = decode_pair_event(rec.value)
                old = self.pairs.get(rec.key)
                at = event["at_us"]
                limit = retention.limit(time.monotonic())
                new = merge_pair(old, event["side"], event["umid"], at, self.window_us, limit,
                                 event["opt_out"])
                if new is not None:
                    self.pairs.put(out, rec.partition, rec.key, new)
                current = new if new is not None else (old or empty_pair())
                since = None if not retention.enabled else max(at - horizon_us, limit or 0)
                for umid, replied, replied_at, n, k in reply_targets(old, new, current, since):
                    key = umid.encode()
                    out.add(self.topics.control, rt.partition_of(key), key,
                            encode_reply(replied, replied_at, n, k))
                    rt.replies_sent += 1
            except Exception as e:
                log.exception("pair event failed offset=%s", rec.offset)
                dead_letter_to(out, self.codec, rt, self.topics.dead_letter, rec, e,
                               "bad-pair-event")
