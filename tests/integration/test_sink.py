"""The sink on a real broker and a real ClickHouse: exact contents, replays, outages, SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from schemas import get_codec
from sinks.migrate import migrate
from sinks.sink import SinkStats, group_id, run_sink
from smsflow.clickhouse import ClickHouse, connect
from smsflow.config import Settings
from tests.integration.sink_factory import (
    MessageSim,
    at,
    expected_daily,
    lag,
    produce,
    scenario,
    state_items,
    wait_drained,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def with_replays(settings: Settings, sims: list[MessageSim]) -> list[tuple[str, str, Any]]:
    """All records, then replays: a crashed worker re-sends some versions (older after newer)."""
    items = state_items(settings, sims)
    replay = state_items(settings, [sims[0]])[:4]  # v1..v2 of the late message again
    return items + replay + state_items(settings, [sims[1]])  # and all of `early` twice


async def run_until_drained(settings: Settings, ch: ClickHouse) -> SinkStats:
    stop = asyncio.Event()
    task = asyncio.create_task(run_sink(settings, stop, ch=ch))
    try:
        await wait_drained(settings, group_id(settings))
    finally:
        stop.set()
    return await task


def table_snapshot(ch: ClickHouse) -> dict[str, Any]:
    """Deduplicated contents of the tables, as comparable plain values."""
    return {
        "messages": ch.query(
            "SELECT toString(umid), version, state, day, counted, cost, currency "
            "FROM messages FINAL ORDER BY 1"
        ).rows,
        "daily": ch.query(
            "SELECT day, subaccount_id, country, operator, currency, total, sent, delivered, "
            "undelivered, rejected, received, chargeable, segments, verification_sent, "
            "verification_converted, inbound, cost FROM daily_stats "
            "WHERE total != 0 OR inbound != 0 OR cost != 0 ORDER BY ALL"
        ).rows,
        "events": ch.query("SELECT count() FROM message_events FINAL").scalar(),
    }


def expected_messages(sims: list[MessageSim]) -> list[tuple[Any, ...]]:
    out = []
    for m in sims:
        st = m.states[-1]
        c = st["contribution"]
        day = c["day"] if c else st["first_event_at"].date()
        out.append((m.umid, st["version"], st["state"] or "", day, c is not None,
                    c["cost"] if c else Decimal(0), st["currency"] or ""))
    return sorted(out)


async def test_sink_lands_states_deltas_and_inputs_exactly(
    make_settings: Callable[..., Settings],
) -> None:
    settings = await asyncio.to_thread(make_settings, sink_batch_size=7, sink_batch_ms=100,
                                       sink_state_batch_ms=100)
    ch = connect(settings)
    sims = scenario()
    t = settings.topics
    late = sims[0]
    inputs: list[tuple[str, str, Any]] = [
        (t.receipts, late.umid, {"umid": late.umid, "state": "delivered",
                                 "status_at": at(3, 0, 5), "price_total": Decimal("0.04465920"),
                                 "currency": "EUR"}),
        (t.receipts, late.umid, {"umid": late.umid, "state": "delivered",  # webhook retry
                                 "status_at": at(3, 0, 5), "price_total": Decimal("0.04465920"),
                                 "currency": "EUR"}),
        (t.otp_feedback, late.umid, {"umid": late.umid, "converted_at": at(3, 0, 6)}),
        (t.clicks, late.umid, {"umid": late.umid, "clicked_at": at(3, 1), "url": "https://a.b"}),
        (t.surveys, late.umid, {
            "umid": late.umid, "survey_id": "s-1", "survey_submitted_at": at(3, 2),
            "answers": [{"question_id": "1", "question": "Happy?", "answer": "Yes"}],
        }),
        (t.receipts, late.umid, b"\x00garbage"),  # the worker dead-letters input; sink skips
        (t.message_state, late.umid, b"\xc3\x01not-a-fingerprint"),  # derived: dead-lettered
    ]
    await produce(settings, with_replays(settings, sims) + inputs)
    try:
        stats = await run_until_drained(settings, ch)
        snap = table_snapshot(ch)
        assert snap["messages"] == expected_messages(sims)
        assert snap["events"] == 5
        late_day = ch.query(
            "SELECT sum(total), sum(sent), sum(delivered), sum(received), sum(cost), "
            "sum(verification_converted) "
            "FROM daily_stats WHERE day = '2024-01-02' AND subaccount_id = 'SA-1'"
        ).rows
        assert late_day == [(1, 1, 1, 0, Decimal("0.0446592"), 1)]  # receipt of day 3 -> day 2
        truth = expected_daily(sims)
        got = ch.query(
            "SELECT day, sum(total), sum(sent), sum(delivered), sum(undelivered), sum(rejected),"
            " sum(received), sum(inbound), sum(cost) FROM daily_stats GROUP BY day ORDER BY day"
        ).rows
        assert got == [
            (d, v["total"], v["sent"], v["delivered"], v["undelivered"], v["rejected"],
             v["received"], v["inbound"], v["cost"]) for d, v in truth.items()
        ]
        assert [r[0] for r in got] == [dt.date(2024, 1, 2), dt.date(2024, 1, 3),
                                       dt.date(2024, 1, 4)]
        assert ch.query("SELECT count() FROM conversions FINAL").scalar() == 1
        assert ch.query("SELECT count() FROM clicks FINAL").scalar() == 1
        assert ch.query(
            "SELECT survey_id, answers.answer FROM survey_responses FINAL"
        ).rows == [("s-1", ["Yes"])]
        assert stats.skipped == {"receipts:bad-magic": 1, "message_state:unknown-schema": 1}
        assert stats.dead_lettered == 1
        # + the dead letter it wrote, which it consumes from the dead-letter topic and lands
        assert stats.records == len(with_replays(settings, sims)) + len(inputs) + 1
        assert ch.query("SELECT component, reason, source_topic FROM dead_letters FINAL"
                        ).rows == [("sink", "unknown-schema", t.message_state)]
        dead = await _read_dead_letters(settings)
        assert [(d["component"], d["reason"], d["topic"]) for d in dead] == [
            ("sink", "unknown-schema", t.message_state)
        ]
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {ch.database}")


async def _read_dead_letters(settings: Settings) -> list[dict[str, Any]]:
    codec = get_codec(settings)
    consumer = AIOKafkaConsumer(settings.topics.dead_letter,
                                bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    return [codec.decode_as("DeadLetter", r.value) for rs in batch.values() for r in rs]


async def test_clickhouse_outage_is_retried_without_loss_or_duplicates(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture,
) -> None:
    settings = await asyncio.to_thread(make_settings, sink_batch_size=5, sink_batch_ms=50,
                                       sink_state_batch_ms=50)
    ch = connect(settings)
    sims = scenario()
    items = with_replays(settings, sims)
    await produce(settings, items)
    stop = asyncio.Event()
    task: asyncio.Task[SinkStats] | None = None
    try:
        migrate(ch)
        ch.command("DETACH TABLE daily_deltas")  # ClickHouse "down" for every derived record
        ch.command("DETACH TABLE messages")
        task = asyncio.create_task(run_sink(settings, stop, ch=ch))
        for _ in range(400):
            if caplog.text.count("sink.retry") >= 3:
                break
            await asyncio.sleep(0.05)
        assert caplog.text.count("sink.retry") >= 3
        assert await lag(settings, group_id(settings)) == len(items)  # nothing committed
        ch.command("ATTACH TABLE daily_deltas")
        ch.command("ATTACH TABLE messages")
        await wait_drained(settings, group_id(settings))
        stop.set()
        stats = await task
        assert stats.retries >= 3 and stats.records == len(items)
        assert table_snapshot(ch)["messages"] == expected_messages(sims)
        truth = expected_daily(sims)
        assert ch.query(
            "SELECT day, sum(total), sum(delivered), sum(cost) FROM daily_stats "
            "GROUP BY day ORDER BY day"
        ).rows == [(d, v["total"], v["delivered"], v["cost"]) for d, v in truth.items()]
    finally:
        stop.set()
        if task is not None and not task.done():
            with contextlib.suppress(Exception):
                await task
        ch.command(f"DROP DATABASE IF EXISTS {ch.database}")


_DUMP = """
import json, sys
from smsflow.config import load_settings
from smsflow.clickhouse import connect
ch = connect(load_settings())
out = {
    "messages": ch.query("SELECT toString(umid), version, state, day, counted, cost, currency "
                         "FROM messages FINAL ORDER BY 1").rows,
    "daily": ch.query("SELECT day, sum(total), sum(sent), sum(delivered), sum(undelivered), "
                      "sum(rejected), sum(received), sum(cost) FROM daily_stats "
                      "GROUP BY day ORDER BY day").rows,
    "raw_delta_rows": ch.query("SELECT count() FROM daily_deltas").scalar(),
}
json.dump(out, sys.stdout, default=str)
"""


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSFLOW_")}
    env.update({
        "SMSFLOW_HOME": str(settings.home),
        "SMSFLOW_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
        "SMSFLOW_TOPIC_PREFIX": settings.topic_prefix,
        "SMSFLOW_PARTITIONS": str(settings.partitions),
        "SMSFLOW_CLICKHOUSE_PATH": str(settings.chdb_path),
        "SMSFLOW_CLICKHOUSE_DATABASE": settings.clickhouse_database,
        "SMSFLOW_SINK_BATCH_SIZE": str(settings.sink_batch_size),
        "SMSFLOW_SINK_BATCH_MS": str(settings.sink_batch_ms),
        "SMSFLOW_SINK_STATE_BATCH_MS": str(settings.sink_state_batch_ms),
    })
    if settings.clickhouse_url:
        env["SMSFLOW_CLICKHOUSE_URL"] = settings.clickhouse_url
    return env


def _start_sink(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "smsflow", "sink", "run"], cwd=ROOT, env=_env(settings),
            stdout=fh, stderr=subprocess.STDOUT,
        )


async def _wait_flushes(log: Path, n: int, proc: subprocess.Popen[bytes]) -> None:
    text = ""
    for _ in range(1200):
        text = await asyncio.to_thread(log.read_text, errors="replace")
        if text.count('"sink.flush"') >= n:
            return
        assert proc.poll() is None, text[-2000:]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {n} flushes: {text[-2000:]}")


async def test_sigkill_mid_batch_then_restart_gives_identical_exact_tables(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    """SIGKILL the sink subprocess three times at random points while it flushes; restart.

    The final tables equal the truth of the produced records exactly (no loss, no double
    count), and `smsflow report daily --format csv` prints it.
    """
    settings = await asyncio.to_thread(
        make_settings, clickhouse_path=tmp_path / "chdb-sub", clickhouse_database="killed",
        sink_batch_size=150, sink_batch_ms=50, sink_state_batch_ms=50,
    )
    from tests.integration.sink_factory import random_sims

    sims = random_sims(1200, seed=5)
    items = state_items(settings, sims)
    items += state_items(settings, sims[::7])  # a worker replay of some messages, again
    await produce(settings, items)
    rnd = random.Random(11)
    kills = 0
    for cycle in range(3):
        log = tmp_path / f"sink-{cycle}.log"
        proc = _start_sink(settings, log)
        try:
            await _wait_flushes(log, 1 + rnd.randrange(3), proc)
            await asyncio.sleep(rnd.uniform(0.0, 0.15))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
    assert kills == 3, "the sink finished before it could be killed three times"
    from tests.integration.sink_factory import lag

    assert await lag(settings, group_id(settings)) > 0, "nothing left for the restart"
    log = tmp_path / "sink-final.log"
    proc = _start_sink(settings, log)
    try:
        await wait_drained(settings, group_id(settings), within=180)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    assert rc == 0, log.read_text()[-2000:]
    assert '"sink.stop"' in log.read_text()

    dump = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", _DUMP], cwd=ROOT, env=_env(settings),
        capture_output=True, text=True, timeout=120, check=True,
    )
    got = json.loads(dump.stdout)
    assert [
        (u, v, st, dt.date.fromisoformat(d), bool(c), Decimal(str(cost)), cur)
        for u, v, st, d, c, cost, cur in got["messages"]
    ] == expected_messages(sims)
    truth = expected_daily(sims)
    assert [(dt.date.fromisoformat(r[0]), *r[1:7], Decimal(str(r[7]))) for r in got["daily"]] == [
        (d, v["total"], v["sent"], v["delivered"], v["undelivered"], v["rejected"],
         v["received"], v["cost"]) for d, v in truth.items()
    ]
    distinct_deltas = sum(len(d) for m in sims for d in m.deltas)
    assert got["raw_delta_rows"] >= distinct_deltas  # replays stored, collapsed by FINAL

    report = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "smsflow", "report", "daily", "--format", "csv"],
        cwd=ROOT, env=_env(settings), capture_output=True, text=True, timeout=120, check=True,
    )
    from sinks.measures import average, money_str, rate
    from sinks.quality import ratio

    lines = [
        "Date,Total,Sent,Total Chargeable,Delivered,Undelivered,Rejected,Received,"
        "Delivery Rate,Cost,Currency,Inbound,Parts,Parts per Message,Cost per Part"
    ]
    for d, v in truth.items():
        lines.append(
            f"{d},{v['total']},{v['sent']},{v['chargeable']},{v['delivered']},"
            f"{v['undelivered']},{v['rejected']},{v['received']},"
            f"{rate(v['delivered'], v['total'])},{money_str(v['cost'])},EUR,{v['inbound']},"
            f"{v['segments']},{ratio(v['segments'], v['total'])},"
            f"{money_str(average(v['cost'], v['segments']))}"
        )
    assert report.stdout.splitlines() == lines

