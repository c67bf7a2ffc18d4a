"""SeekGuard: records fetched before a seek must not make Faust skip the re-fetched ones."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.transport import consumer as faust_consumer
from faust.types import TP as FTP
from intervaltree import IntervalTree

from smsflow.errors import SmsflowError
from streams import seek_guard
from streams.ack_guard import committed_offset, partition_held
from streams.seek_guard import SeekGuard, install_seek_guard

TP = ("send-requests", 2)


def _admitted(g: SeekGuard, round_: int, offsets: range | list[int], *,
              committed_topic: bool = True) -> list[int]:
    return [o for o in offsets
            if g.admit(TP, o, round_, committed_topic=committed_topic) in ("pass", "hole")]


def test_records_in_order_all_pass() -> None:
    g = SeekGuard()
    g.seeked({TP: 100})
    r1 = g.start_round()
    assert _admitted(g, r1, range(100, 150)) == list(range(100, 150))
    r2 = g.start_round()
    assert _admitted(g, r2, range(150, 160)) == list(range(150, 160))
    assert (g.skipped, g.holes) == (0, 0)


def test_stale_records_of_the_round_in_flight_at_a_seek_are_skipped() -> None:
    # the failure seen after a SIGKILL: a batch fetched from 8100 is being handed on, the
    # recovery seeks back to the committed offset 8100, the rest of the old batch follows
    g = SeekGuard()
    r1 = g.start_round()
    assert _admitted(g, r1, range(8100, 8104)) == [8100, 8101, 8102, 8103]
    g.seeked({TP: 8100})
    assert _admitted(g, r1, range(8104, 8140)) == []  # stale: fetched before the seek
    assert g.skipped == 36
    r2 = g.start_round()  # the re-fetch after the seek delivers everything from 8100 again
    assert _admitted(g, r2, range(8100, 8140)) == list(range(8100, 8140))
    assert g.holes == 0


def test_stale_record_that_is_exactly_the_next_offset_passes() -> None:
    g = SeekGuard()
    r1 = g.start_round()
    g.seeked({TP: 50})
    assert _admitted(g, r1, [50, 51, 53]) == [50, 51]  # 53 would skip 52
    r2 = g.start_round()
    assert _admitted(g, r2, [52, 53]) == [52, 53]


def test_records_fetched_but_never_handed_on_are_read_again() -> None:
    # Faust skipped offsets 28..687 (partition not active at that moment) and then handed on
    # 688: the guard seeks back to 28 instead of letting Faust commit 28..687 as a gap
    g = SeekGuard()
    g.seeked({TP: 20})
    r1 = g.start_round()
    assert _admitted(g, r1, range(20, 28)) == list(range(20, 28))
    r2 = g.start_round()
    assert g.admit(TP, 688, r2) == "reseek"
    g.seeked({TP: g.next_offset[TP]})  # what the wrapper does
    assert g.next_offset[TP] == 28
    assert _admitted(g, r2, [689, 690]) == []  # rest of that round: stale now
    r3 = g.start_round()
    assert _admitted(g, r3, range(28, 700)) == list(range(28, 700))
    assert (g.reseeks, g.holes) == (1, 0)


def test_a_real_hole_passes_after_one_reseek_and_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    g = SeekGuard()
    g.seeked({TP: 10})
    r1 = g.start_round()
    assert _admitted(g, r1, [10, 11]) == [10, 11]
    r2 = g.start_round()
    assert g.admit(TP, 500, r2) == "reseek"  # retention deleted 12..499
    g.seeked({TP: 12})
    r3 = g.start_round()
    with caplog.at_level("WARNING", logger="smsflow.streams"):
        assert _admitted(g, r3, [500, 501]) == [500, 501]  # the same jump again: it is real
    assert (g.skipped, g.reseeks, g.holes) == (0, 1, 1)
    assert caplog.records[0].getMessage().startswith("offsets 12..499")


def test_holes_in_changelogs_pass_without_reseek(caplog: pytest.LogCaptureFixture) -> None:
    g = SeekGuard()
    g.seeked({TP: 0})
    r1 = g.start_round()
    with caplog.at_level("WARNING", logger="smsflow.streams"):
        got = _admitted(g, r1, [0, 5, 9, 40], committed_topic=False)
    assert got == [0, 5, 9, 40] and (g.reseeks, g.holes) == (0, 3)
    assert len(caplog.records) == 1  # compaction leaves many holes: one warning per partition


def test_unknown_position_and_older_offsets_pass() -> None:
    g = SeekGuard()
    r1 = g.start_round()
    g.seeked({TP: -1})  # no committed offset: auto offset reset decides
    assert _admitted(g, r1, [7, 9]) == [7]  # 7 sets the position, 9 would skip 8
    r2 = g.start_round()
    assert _admitted(g, r2, [3, 8, 9]) == [3, 8, 9]  # 3: a duplicate Faust drops itself
    other = ("delivery-receipts", 0)
    assert g.admit(other, 1234, r2)  # a partition never seeked


def test_each_consumer_keeps_its_own_guard_and_counts() -> None:
    class Consumer:
        pass

    a, b = Consumer(), Consumer()
    g = seek_guard.guard_of(a)
    assert seek_guard.guard_of(a) is g and seek_guard.guard_of(b) is not g
    r1 = g.start_round()
    g.seeked({TP: 5})
    assert g.admit(TP, 9, r1) == "stale"
    assert seek_guard.stats(a) == (1, 0, 0) and seek_guard.stats(b) == (0, 0, 0)


def test_install_wraps_the_pinned_faust_once() -> None:
    install_seek_guard()
    wrapped = faust_consumer.Consumer.getmany
    install_seek_guard()
    assert faust_consumer.Consumer.getmany is wrapped
    assert wrapped.__name__ == "guarded_getmany"
    assert faust_consumer.ThreadDelegateConsumer.seek_to_committed.__name__ == (
        "guarded_seek_to_committed")


def test_install_refuses_another_faust_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust_consumer.Consumer, "_smsflow_seek_guard", False,
                        raising=False)
    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(SmsflowError, match=r"0\.15\.3"):
        install_seek_guard()
    assert seek_guard.FAUST_VERSION == "0.15.3"


class _Delegate:
    """What Faust 0.15.3's ThreadDelegateConsumer.seek_to_committed and Consumer.seek use."""

    def __init__(self, committed: dict[Any, int | None], log_start: dict[Any, int]) -> None:
        self.app = SimpleNamespace(topics=SimpleNamespace(
            acks_enabled_for=lambda topic: topic != "message-state"))
        self._thread = SimpleNamespace(seek_to_committed=self._committed)
        self._committed_map, self._log_start = committed, log_start
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._gap: dict[Any, IntervalTree] = defaultdict(IntervalTree)
        self._read_offset: dict[Any, int | None] = {}
        self.sought: dict[Any, int] = {}
        self.log = SimpleNamespace(dev=lambda *a, **k: None)

    async def _committed(self) -> dict[Any, int | None]:
        return dict(self._committed_map)

    async def _seek(self, tp: Any, offset: int) -> None:
        self.sought[tp] = offset

    async def earliest_offsets(self, *tps: Any) -> dict[Any, int]:
        return {tp: self._log_start[tp] for tp in tps}


def test_never_committed_stream_partitions_are_sought_to_their_log_start() -> None:
    install_seek_guard()
    fresh, zero, done, changelog = (FTP("send-requests", 1), FTP("streams-reply-pairs", 0),
                                    FTP("delivery-receipts", 4), FTP("message-state", 1))
    d = _Delegate({fresh: None, zero: 0, done: 40, changelog: None}, {fresh: 7, zero: 0})
    got = asyncio.run(faust_consumer.ThreadDelegateConsumer.seek_to_committed(d))
    # aiokafka left fresh and zero where its fetcher was; now both start from their log start
    assert got == {fresh: 7, zero: 0, done: 40, changelog: None}
    assert d.sought == {fresh: 7, zero: 0}
    assert committed_offset(d, zero) == 0 and committed_offset(d, changelog) is None
    d._acked[zero] = [3, 4]  # 0..2 never processed: held, the watchdog re-reads from 0
    assert partition_held(d, zero)
    guard = seek_guard.guard_of(d)
    assert guard.next_offset[fresh] == 7 and guard.next_offset[done] == 40
