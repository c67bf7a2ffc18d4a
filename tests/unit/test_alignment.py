"""Event-time alignment: which input partitions wait for the slowest one."""

from __future__ import annotations

from streams.alignment import Alignment, plan

H = 3_600_000_000  # one hour in microseconds


def test_partitions_ahead_of_the_slowest_unread_one_by_more_than_the_skew_pause() -> None:
    marks = {
        (0, "requests"): (10 * H, 5000),  # the watermark, 5,000 records behind
        (1, "requests"): (11 * H, 4000),  # 1 h ahead: within the skew
        (0, "receipts"): (13 * H, 7),  # 3 h ahead
        (1, "receipts"): (30 * H, 0),  # far ahead but read to its end: nothing to pause
    }
    to_pause, to_resume = plan(marks, set(), skew_us=2 * H)
    assert to_pause == {(0, "receipts")}
    assert to_resume == set()


def test_a_paused_partition_resumes_within_half_the_skew_and_not_before() -> None:
    paused = {(0, "receipts")}
    marks = {(0, "requests"): (10 * H, 3000), (0, "receipts"): (11 * H + 1, 3000)}
    assert plan(marks, paused, skew_us=2 * H) == (set(), set())  # 1 h + 1 us: still waits
    marks[(0, "requests")] = (10 * H + 1, 2000)
    assert plan(marks, paused, skew_us=2 * H) == (set(), {(0, "receipts")})


def test_everything_resumes_without_a_watermark_or_unread_records() -> None:
    paused = {(0, "receipts"), (1, "clicks"), (2, "gone")}
    marks = {(0, "receipts"): (50 * H, 0), (1, "clicks"): (60 * H, 9000)}
    # (1, clicks) is itself the only unread partition now: it is the watermark
    assert plan(marks, paused, skew_us=H) == (set(), paused)
    assert plan({}, paused, skew_us=H) == (set(), paused)


def test_the_slowest_partition_is_never_paused() -> None:
    marks = {(p, "requests"): (p * H, 1000) for p in range(6)}
    to_pause, _ = plan(marks, set(), skew_us=0)
    assert (0, "requests") not in to_pause
    assert to_pause == {(p, "requests") for p in range(1, 6)}


def test_without_a_backlog_behind_the_watermark_nothing_waits() -> None:
    # a steady rate: every partition a few records from its end, event times hours apart
    marks = {(0, "requests"): (10 * H, 999), (0, "receipts"): (20 * H, 5000)}
    assert plan(marks, set(), skew_us=H) == (set(), set())
    assert plan(marks, {(0, "receipts")}, skew_us=H) == (set(), {(0, "receipts")})
    marks[(0, "requests")] = (10 * H, 1000)
    assert plan(marks, set(), skew_us=H) == ({(0, "receipts")}, set())


def test_zero_seconds_turns_alignment_off() -> None:
    assert not Alignment(0).enabled
    assert Alignment(3600).enabled


def test_a_stalled_watermark_resumes_everything_until_it_moves_again() -> None:
    a = Alignment(3600, stall_s=30)
    marks = {(0, "requests"): (10 * H, 5000), (0, "receipts"): (13 * H, 5000)}
    assert a.step(marks, now=100.0) == ({(0, "receipts")}, set())
    assert a.paused == {(0, "receipts")} and a.pauses == 1
    assert a.step(marks, now=129.0) == (set(), set())  # waiting: the slowest one is read
    assert a.step(marks, now=130.0) == (set(), {(0, "receipts")})  # 30 s without progress
    assert a.paused == set() and a.stalls == 1
    assert a.step(marks, now=131.0) == (set(), set())  # nothing paused while it stands still
    marks[(0, "requests")] = (10 * H + 1, 4000)  # it moves again
    assert a.step(marks, now=132.0) == ({(0, "receipts")}, set())
    assert a.pauses == 2 and a.stalls == 1
