"""Forgetting message states (streams.forgetting), and pairs that stay bounded."""

from __future__ import annotations

from streams.forgetting import Retention
from streams.replies import merge_pair, reply_targets

H = 3_600_000_000  # one hour in microseconds
W = 24 * H  # reply window


def test_entries_past_the_horizon_of_the_slowest_topic_partition_are_due_oldest_first() -> None:
    r = Retention(hours=72, grace_s=0)
    r.note(0, b"a", 10 * H, 2)
    r.note(0, b"b", 5 * H, 1)
    r.note(1, b"c", 1 * H, 1)
    r.note(0, b"d", 90 * H, 4)
    assert list(r.due(0, now=1)) == []  # no event time seen yet
    r.see(0, "receipts", 200 * H, unread=1)
    r.see(3, "inbound", 80 * H, unread=1)  # another partition lags behind by days
    assert list(r.due(0, now=2)) == [(b"b", 1)]  # 80 - 72 = 8: only b is older
    r.see(3, "inbound", 83 * H, unread=1)
    assert list(r.due(0, now=3)) == [(b"a", 2)]
    assert list(r.due(0, now=4)) == []  # popped once
    assert r.pending == 2


def test_a_topic_partition_read_to_its_end_holds_nothing_back() -> None:
    r = Retention(hours=1, grace_s=0)
    r.note(0, b"a", 0, 1)
    r.see(0, "requests", 5 * H, unread=1)
    r.see(1, "surveys", 0, unread=1)  # sparse: its last survey is old
    assert list(r.due(0, now=10)) == []
    r.see(1, "surveys", 30 * 60 * 1_000_000, unread=0)  # read to its end
    assert r.watermark() == 5 * H
    assert list(r.due(0, now=11)) == [(b"a", 1)]
    r.see(0, "requests", 6 * H, unread=0)
    assert r.watermark() == 6 * H  # everything read: the stream time


def test_ages_are_judged_by_the_watermark_of_grace_seconds_ago() -> None:
    r = Retention(hours=1, grace_s=120)
    r.note(0, b"a", 0, 3)
    r.see(0, "requests", 0, unread=1)
    assert list(r.due(0, now=1000)) == []
    r.see(0, "requests", 10 * H, unread=1)  # a backlog: event time moves 10 h in a second
    assert list(r.due(0, now=1001)) == []
    assert list(r.due(0, now=1120)) == []  # 120 s ago the watermark was still 0
    assert r.delayed_watermark(1121) == 10 * H and r.limit(1121) == 9 * H
    assert list(r.due(0, now=1121)) == [(b"a", 3)]


def test_zero_hours_keeps_everything() -> None:
    r = Retention(hours=0)
    r.note(0, b"a", 0, 1)
    r.see(0, "requests", 10_000 * H, unread=0)
    assert not r.enabled and r.pending == 0 and r.limit(1e9) is None
    assert list(r.due(0, now=1e9)) == []


def test_rebuild_replaces_the_heaps() -> None:
    r = Retention(hours=1, grace_s=0)
    r.note(0, b"stale", 0, 1)
    r.rebuild([(2, b"x", 5 * H, 7), (2, b"y", 1 * H, 2), (3, b"z", 0, 1)])
    assert list(r.heaps) == [2, 3]
    r.see(2, "requests", 10 * H, unread=0)
    assert list(r.due(2, now=1)) == [(b"y", 2), (b"x", 7)]


def test_a_pair_drops_entries_past_the_limit_without_control_events() -> None:
    pair = merge_pair(None, "outbound", "old", 0, W)
    pair = merge_pair(pair, "inbound", "mo-old", 2 * H, W)
    assert pair is not None and pair["replies"] == {"old": 2 * H}
    newer = merge_pair(pair, "outbound", "new", 100 * H, W, oldest=28 * H)
    assert newer == {"outbound": {"new": 100 * H}, "inbound": {}, "replies": {},
                     "opt_outs": [], "counts": {}}
    # 'old' lost its reply only because it was dropped: no "not replied" event for it
    assert reply_targets(pair, newer, newer) == []
    # a replayed event re-sends the status of the outbounds inside the limit only
    assert merge_pair(newer, "outbound", "new", 100 * H, W, oldest=28 * H) is None
    assert reply_targets(newer, None, newer, since=28 * H) == [("new", False, None, 0, 0)]
    assert reply_targets(pair, None, pair, since=28 * H) == []


def test_without_a_limit_a_pair_keeps_everything() -> None:
    pair = merge_pair(None, "outbound", "old", 0, W)
    newer = merge_pair(pair, "outbound", "new", 1000 * H, W)
    assert newer is not None and set(newer["outbound"]) == {"old", "new"}


def test_a_revoked_partition_stops_holding_the_watermark_back() -> None:
    r = Retention(hours=1, grace_s=0)
    r.see(0, "requests", 10 * H, unread=1)
    r.see(1, "requests", 2 * H, unread=1)  # partition 1 moved to another worker
    assert r.watermark() == 2 * H
    r.rebuild([], assigned={0})
    assert r.watermark() == 10 * H



def test_a_partition_ending_in_records_without_event_time_stops_holding_the_watermark_back(
) -> None:
    r = Retention(hours=1, grace_s=0)
    r.see(0, "requests", 5 * H, unread=0)
    r.see(1, "receipts", 2 * H, unread=1)  # more records follow...
    assert r.watermark() == 2 * H
    r.see(1, "receipts", None, unread=0)  # ...an invalid one, the partition's last
    assert r.marks[(1, "receipts")] == (2 * H, 0)
    assert r.watermark() == 5 * H
    r.see(2, "clicks", None, unread=1)  # no mark yet: nothing to update
    assert (2, "clicks") not in r.marks
