"""The daily roll-up (issue 18) stays exact when the same input is consumed again.

A replay re-produces every derived record at new offsets and the sink consumes them in
differently cut batches (new insert dedup tokens): only an idempotent recompute from
``daily_deltas FINAL`` keeps ``daily_rollup`` and the ``daily_totals`` view exact; a roll-up
that adds what batches insert would count every contribution twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from sinks.sink import group_id, run_sink
from smsflow.clickhouse import ClickHouse, connect
from smsflow.config import Settings
from tests.integration.sink_factory import (
    expected_daily,
    produce,
    scenario,
    state_items,
    wait_drained,
)

pytestmark = pytest.mark.integration

_DAY_SUMS = ("SELECT day, sum(total), sum(sent), sum(delivered), sum(undelivered), sum(rejected),"
             " sum(received), sum(inbound), sum(cost) FROM {table} GROUP BY day ORDER BY day")
_GROUPS = ("SELECT day, subaccount_id, country, operator, currency, sum(total), sum(sent), "
           "sum(delivered), sum(received), sum(inbound), sum(segments), sum(cost) "
           "FROM {table} GROUP BY ALL ORDER BY ALL")


def _assert_layout_exact(ch: ClickHouse, hourly: bool) -> None:
    """The report layout (migration 0009) after the replay: each copy holds the current version
    of exactly the messages `messages` holds, and each roll-up (of the closed days, or of the
    sealed hours) equals its source view."""
    current = ("SELECT toString(umid), version FROM messages FINAL WHERE {cond} ORDER BY ALL")
    assert ch.query(current.format(cond="counted")).rows == ch.query(
        "SELECT toString(umid), version FROM messages_by_day FINAL ORDER BY ALL").rows
    assert ch.query(current.format(cond="NOT counted")).rows == ch.query(
        "SELECT toString(umid), version FROM messages_uncounted FINAL ORDER BY ALL").rows
    families = ("daily", "message", "campaign") if hourly else ("message", "latency", "campaign")
    for name in families:
        rollup, groups = (f"{name}_rollup_hourly", f"{name}_groups_hourly") if hourly else (
            f"{name}_rollup", f"{name}_groups")
        got = ch.query(f"SELECT * EXCEPT (computed_at, is_deleted) FROM {rollup} FINAL "
                       "ORDER BY ALL").rows
        assert got and got == ch.query(f"SELECT * FROM {groups} ORDER BY ALL").rows, rollup


async def _drain(settings: Settings, ch: ClickHouse) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_sink(settings, stop, ch=ch))
    try:
        await wait_drained(settings, group_id(settings))
    finally:
        stop.set()
    await task


def _truth(sims: list[Any]) -> list[tuple[Any, ...]]:
    return [(d, v["total"], v["sent"], v["delivered"], v["undelivered"], v["rejected"],
             v["received"], v["inbound"], v["cost"]) for d, v in expected_daily(sims).items()]


@pytest.mark.parametrize(("open_days", "open_hours"), [(0, 2), (10_000, 0)],
                         ids=["closed-days", "sealed-hours"])
async def test_replayed_input_is_not_counted_twice_by_the_rollup(
    make_settings: Callable[..., Settings], open_days: int, open_hours: int,
) -> None:
    # closed-days: every day is closed, so every report day comes from the day roll-ups;
    # sealed-hours: every day is open and every hour sealed: from the hourly roll-ups
    settings = await asyncio.to_thread(make_settings, sink_batch_size=7, sink_batch_ms=100,
                                       sink_state_batch_ms=100,
                                       rollup_open_days=open_days, rollup_open_hours=open_hours)
    hourly = open_days > 0
    ch = connect(settings)
    sims = scenario()
    items = state_items(settings, sims)
    try:
        await produce(settings, items)
        await _drain(settings, ch)
        newest = ch.query("SELECT max(day) FROM daily_deltas").scalar()
        if hourly:
            assert ch.query("SELECT toDate(max(sealed_through)) FROM rollup_sealed").scalar() \
                == newest
        else:
            assert ch.query("SELECT max(rolled_through) FROM daily_rollup_watermark"
                            ).scalar() == newest
        assert ch.query(_DAY_SUMS.format(table="daily_totals")).rows == _truth(sims)

        # the replay: the same records again, consumed in batches cut differently
        await produce(settings, items)
        replay = settings.model_copy(update={"sink_batch_size": 5})
        await _drain(replay, ch)
        assert ch.query(_DAY_SUMS.format(table="daily_totals")).rows == _truth(sims)
        rollup = "daily_rollup_hourly" if hourly else "daily_rollup"
        assert ch.query(_DAY_SUMS.format(table=f"{rollup} FINAL")).rows == _truth(sims)
        assert ch.query(_GROUPS.format(table=f"{rollup} FINAL")).rows == ch.query(
            _GROUPS.format(table="daily_deltas FINAL")).rows
        _assert_layout_exact(ch, hourly)
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {ch.database}")


async def test_open_days_are_read_from_the_deltas(
    make_settings: Callable[..., Settings],
) -> None:
    # open_days=1: only days before the newest are rolled up; the view joins both exactly
    settings = await asyncio.to_thread(make_settings, sink_batch_size=7, sink_batch_ms=100,
                                       sink_state_batch_ms=100,
                                       rollup_open_days=1)
    ch = connect(settings)
    sims = scenario()
    try:
        await produce(settings, state_items(settings, sims) + state_items(settings, sims[:2]))
        await _drain(settings, ch)
        newest = ch.query("SELECT max(day) FROM daily_deltas").scalar()
        rolled = ch.query("SELECT max(rolled_through) FROM daily_rollup_watermark").scalar()
        assert (newest - rolled).days == 1
        assert ch.query("SELECT max(day) FROM daily_rollup").scalar() == rolled
        assert ch.query(_DAY_SUMS.format(table="daily_totals")).rows == _truth(sims)
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {ch.database}")
