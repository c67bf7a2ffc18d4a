"""Dead-letter tooling on the real broker and chDB: dead letters of several sources and reasons
land in ``dead_letters`` (the real sink), are listed by reason with exact counts (the report,
``/metrics``), shown redacted, replayed after a fix, and a second replay changes nothing."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from producers.bulk import produce_rows
from producers.replay import ledger_topic, replay
from producers.request_file import Row
from producers.send import SendProducer
from producers.webhooks import create_app as create_receiver
from schemas.deadletter import dead_letter
from shell.deadletters_cli import fetch_dead_letter
from shell.ops import OpsState, create_ops_app
from sinks.reports import Filters, run_report
from sinks.sink import group_id, run_sink
from smsflow.clickhouse import ClickHouse
from smsflow.config import Settings
from tests.integration.kafka_records import consume, count_records
from tests.integration.sink_factory import wait_drained
from tests.integration.test_webhooks import DLR, DLR_UMID

pytestmark = pytest.mark.integration

UMIDS = [f"5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4{i}" for i in range(4)]
OTP = "483920"


def dlr(umid: str) -> str:
    """The platform's sample receipt (formats.md) for ``umid``."""
    return DLR.replace(DLR_UMID, umid)


async def land(settings: Settings, ch: ClickHouse) -> None:
    """Run the real sink until it committed everything (dead letters it writes included)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_sink(settings, stop, ch=ch))
    try:
        await wait_drained(settings, group_id(settings))
        await asyncio.sleep(0.5)
        await wait_drained(settings, group_id(settings))  # the sink's own dead letters
    finally:
        stop.set()
    await task


def counts(ch: ClickHouse) -> dict[tuple[str, str, str], int]:
    res = run_report(ch, "deadletters", Filters())
    return {(r[0], r[1], r[2]): r[3] for r in res.rows}


def snapshot(ch: ClickHouse) -> dict[str, Any]:
    """Every report input a replay could change."""
    return {
        "deadletters": [r[:5] for r in run_report(ch, "deadletters", Filters()).rows],
        "events": ch.query("SELECT topic, partition, offset, toString(umid) "
                           "FROM message_events FINAL ORDER BY ALL").rows,
        "dead_letter_rows": ch.query("SELECT count() FROM dead_letters FINAL").scalar(),
    }


async def make_dead_letters(settings: Settings) -> list[Any]:
    """Dead letters of receiver, producer, worker and sink; returns the worker's originals."""
    t = settings.topics
    async with SendProducer(settings, ack_timeout=10) as producer:
        app = create_receiver(settings, producer)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://receiver") as client:
            for umid in UMIDS[:3]:  # valid: accepted to the receipts topic
                assert (await client.post("/webhooks/dlr", content=dlr(umid))).status_code == 202
            for body in ('{"payload": {"umid": ', f'my code {OTP} {{'):  # malformed JSON
                assert (await client.post("/webhooks/dlr", content=body)).status_code == 400
            mo = {"payload": {"umid": "nope", "body": f"code {OTP}", "source": "+6581968289"}}
            assert (await client.post("/webhooks/inbound", json=mo)).status_code == 400
        rows = [Row(1, b'{"to": "x"}', {"to": "x"}), Row(2, b"oops", None, "not JSON")]
        summary = await produce_rows(producer, rows)
        assert summary.invalid == 2
        originals = await consume(settings, t.receipts, 3)
        for m in originals:  # what the worker writes for an event a (since fixed) bug failed
            rec = dead_letter("worker", "KeyError('price')", topic=m.topic, partition=m.partition,
                              offset=m.offset, key=m.key, payload=m.value, reason="worker-error")
            await producer.send(t.dead_letter, "DeadLetter", m.key, rec)
        # a receipt an earlier receiver rejected, valid by today's rules
        await producer.dead_letter("receiver", "rejected before the fix", topic=t.receipts,
                                   key=UMIDS[3].encode(), payload=dlr(UMIDS[3]).encode(),
                                   reason="strict-status")
        await producer._running().send_and_wait(t.message_state, b"\x00garbage", key=b"k")
    return originals


def metric_counts(text: str) -> dict[tuple[str, str, str], int]:
    pat = re.compile(r'^smsflow_dead_letters_by_reason\{component="([^"]*)",reason="([^"]*)",'
                     r'topic="([^"]*)"\} ([0-9.e+]+)$', re.M)
    return {(c, t, r): int(float(n)) for c, r, t, n in pat.findall(text)}


@pytest.fixture
def dl_settings(make_settings: Callable[..., Settings]) -> Settings:
    """Topics created before the test's event loop runs."""
    return make_settings()


async def test_dead_letters_listed_shown_replayed_idempotently(
    dl_settings: Settings, clickhouse: ClickHouse
) -> None:
    settings = dl_settings
    t = settings.topics
    originals = await make_dead_letters(settings)
    await land(settings, clickhouse)

    # listed by source and reason with exact counts
    assert counts(clickhouse) == {
        ("worker", t.receipts, "worker-error"): 3,
        ("receiver", t.receipts, "malformed-json"): 2,
        ("producer", t.requests, "invalid"): 2,
        ("receiver", t.inbound, "missing-umid"): 1,
        ("receiver", t.receipts, "strict-status"): 1,
        ("sink", t.message_state, "bad-magic"): 1,
    }
    # /metrics of the ops API: the same numbers per reason
    ops = create_ops_app(OpsState(settings=settings, ch=clickhouse, groups={}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ops),
                                 base_url="http://127.0.0.1") as c:
        text = (await c.get("/metrics")).text
        api = (await c.get("/api/reports/deadletters")).json()
    assert metric_counts(text) == counts(clickhouse)
    assert {(r[0], r[1], r[2]): r[3] for r in api["rows"]} == counts(clickhouse)

    # show: every dead letter, never the OTP code or the MO text
    ids = clickhouse.query("SELECT concat(toString(partition), ':', toString(offset)) "
                           "FROM dead_letters FINAL").rows
    assert len(ids) == 10
    for (dl_id,) in ids:
        shown = fetch_dead_letter(settings, dl_id, clickhouse.query)
        assert OTP not in repr(shown.rows), dl_id
    worker_id = clickhouse.query("SELECT concat(toString(partition), ':', toString(offset)) "
                                 "FROM dead_letters FINAL WHERE component = 'worker' "
                                 "LIMIT 1").scalar()
    fields = dict(zip(fetch_dead_letter(settings, worker_id, clickhouse.query).columns,
                      fetch_dead_letter(settings, worker_id, clickhouse.query).rows[0],
                      strict=True))
    assert json.loads(fields["payload"])["schema"] == "DeliveryReceipt"
    # show applies the policy of the settings it runs with, whatever the sink's was
    receipt_id = clickhouse.query("SELECT concat(toString(partition), ':', toString(offset)) "
                                  "FROM dead_letters FINAL WHERE reason = 'strict-status'"
                                  ).scalar()
    assert "+6591234567" in repr(fetch_dead_letter(settings, receipt_id, clickhouse.query).rows)
    masked = settings.model_copy(update={"phone_policy": "mask"})
    assert "+6591234567" not in repr(fetch_dead_letter(masked, receipt_id, clickhouse.query).rows)

    # dry run: says what it would do, produces nothing
    dry = await replay(settings, "worker-error", dry_run=True)
    assert dry.produced == {t.receipts: 3}, dry.lines()
    assert await count_records(settings, t.receipts) == 3

    # replay after the fix: the exact original records again, plus the validated receipt
    first = await replay(settings, "worker-error")
    assert first.produced == {t.receipts: 3} and not first.not_replayed
    again = await consume(settings, t.receipts, 6)
    copies = sorted((m.key, m.value) for m in again if m.offset not in
                    {o.offset for o in originals if o.partition == m.partition})
    assert copies == sorted((m.key, m.value) for m in originals)
    fixed = await replay(settings, "strict-status")
    assert fixed.produced == {t.receipts: 1}
    refused = await replay(settings, "malformed-json")
    assert refused.produced == {} and refused.not_replayed == {
        "still invalid (malformed-json), kept": 1,  # validated again, still malformed
        "payload copy was redacted: not recoverable": 1,  # its OTP-like digits were masked
    }
    rows = await replay(settings, "invalid")
    assert sum(rows.not_replayed.values()) == 2 and "smsflow produce" in next(
        iter(rows.not_replayed))
    await land(settings, clickhouse)
    after_first = snapshot(clickhouse)
    landed = {u for *_, u in after_first["events"]}
    assert landed == set(UMIDS) and len(after_first["events"]) == 3 + 3 + 1
    assert after_first["dead_letter_rows"] == 10  # nothing new failed

    # a second replay changes no report
    for reason in ("worker-error", "strict-status"):
        second = await replay(settings, reason)
        assert second.produced == {}
        assert dict(second.not_replayed) == {"replayed before": 3 if reason == "worker-error"
                                             else 1}
    await land(settings, clickhouse)
    assert snapshot(clickhouse) == after_first
    assert await count_records(settings, ledger_topic(settings)) == 4
