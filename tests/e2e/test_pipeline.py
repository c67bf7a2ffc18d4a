"""The whole pipeline on simulator data, compared with the ground truth exactly, under faults.

simulator -> real Kafka -> ``smsflow run`` (Faust worker subprocess, sink into its own chDB,
webhook receiver, ops API) -> ``smsflow report ... --format csv``. Each fault is its own test.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from infra.broker import Broker
from schemas import get_codec
from simulator.produce import produce_events
from simulator.simulation import Simulation
from smsflow import consumers
from tests.e2e import expect
from tests.e2e.harness import SMSFLOW, Pipeline

pytestmark = pytest.mark.e2e


def produce(p: Pipeline, events: list[Any], bad: list[Any] | None = None) -> None:
    asyncio.run(produce_events(p.settings, events, bad=bad or [], progress=False))


def busiest(truth: dict[str, Any]) -> str:
    totals: Counter[str] = Counter()
    for r in truth["daily"]:
        totals[r["subaccount_id"]] += int(r["total"])
    return totals.most_common(1)[0][0]


def assert_reports_equal_truth(p: Pipeline, sim: Simulation) -> None:
    """Every report the platform shows equals the ground truth, to the message and cent."""
    truth = sim.truth
    wrong = expect.message_differences(p.sql(expect.MESSAGE_FIELDS_SQL), sim.messages)
    assert not wrong, f"{len(wrong)} messages differ from the truth: {wrong[:10]}"
    assert p.report_header("daily") == [
        "Date", "Total", "Sent", "Total Chargeable", "Delivered", "Undelivered", "Rejected",
        "Received", "Delivery Rate", "Cost", "Currency", "Inbound",
        "Parts", "Parts per Message", "Cost per Part",
    ]
    assert p.report_csv("daily") == expect.daily(truth)
    sub = busiest(truth)
    assert p.report_csv("daily", "--subaccount", sub) == expect.daily(truth, sub)

    dash = p.report_csv("dashboard")
    assert [r[:7] for r in dash[:-1]] == expect.dashboard(truth)[:-1]
    assert dash[-1][:6] == expect.dashboard(truth)[-1]
    assert dash[-1][7] == str(truth["dashboard"]["countries"])

    countries = [r for r in p.report_csv("countries") if int(r[2]) > 0]
    assert countries == expect.countries(truth)
    campaigns = {r[0]: [r[3], r[5], r[8], r[9], r[10]] for r in p.report_csv("campaigns")}
    assert campaigns == expect.campaigns(truth)
    assert p.report_csv("conversions") == expect.conversions(truth)

    [(orphans,)] = p.sql("SELECT count() FROM messages FINAL WHERE orphan")
    assert orphans == truth["orphans"]
    assert_quality_reports_equal_truth(p, sim)


def assert_quality_reports_equal_truth(p: Pipeline, sim: Simulation) -> None:
    """latency, pending (aged at the stream end), errors, replies, message timelines, and
    the log reports (:func:`assert_log_reports_equal_truth`)."""
    truth = sim.truth
    latency = p.report_csv("latency")
    assert latency == expect.latency(truth)
    assert sum(int(r[7]) for r in latency) > 0.8 * truth["messages"]
    pending = p.report_csv("pending", "--at", truth["pending"]["at"])
    assert pending == expect.pending(truth["pending"])
    assert int(pending[-1][4]) > 0  # some messages really lack a final receipt
    assert p.report_csv("errors") == expect.errors(truth)
    replies = p.report_csv("replies")
    assert replies == expect.replies(truth)
    assert sum(int(r[6]) for r in replies) > 0  # opt-outs were detected
    sample = expect.timeline_sample(sim.messages)
    assert sample
    for m in sample:
        res = p.client.report("timeline", umid=m.umid)
        expect.check_timeline([dict(zip(res.columns, r, strict=True)) for r in res.rows], m)
    assert_log_reports_equal_truth(p, sim)


def assert_log_reports_equal_truth(p: Pipeline, sim: Simulation) -> None:
    """logs (every row, and the default limit's first rows), clicks, engage, and the message
    report of a sample of messages."""
    logs = expect.logs(sim)
    everything = p.client.report("logs", limit=len(logs) + 1).rows
    assert len(everything) == len(logs)
    wrong = [(w[3], [(g[i], w[i]) for i in range(len(w)) if g[i] != w[i]])
             for g, w in zip(everything, logs, strict=True) if list(g) != w]
    assert not wrong, f"{len(wrong)} logs rows differ (umid, [(got, truth)]): {wrong[:5]}"
    assert p.report_csv("logs") == logs[:1000]  # the report's default limit
    clicks = p.report_csv("clicks")
    assert clicks == expect.clicks(sim) and clicks
    engage = p.report_csv("engage")
    assert engage == expect.engage(sim) and engage
    for m in expect.message_sample(sim.messages):
        [row] = p.client.report("message", umid=m.umid).dicts()
        want = expect.message_fields(m)
        assert {k: row[k] for k in want} == want, m.umid


def assert_flags_report_equals_truth(p: Pipeline, sim: Simulation) -> None:
    """The flags report (messages per acceptance-policy flag) against the simulator's truth."""
    assert p.report_csv("flags") == expect.flags(sim.truth)


def run_to_truth(p: Pipeline, sim: Simulation) -> None:
    p.wait_caught_up(int(sim.truth["messages"]))
    wait_orphans_marked(p, int(sim.truth["orphans"]))
    assert_reports_equal_truth(p, sim)


def wait_orphans_marked(p: Pipeline, want: int, timeout: float = 60.0) -> None:
    """Orphan marks come from the worker's 2 s timer, not from input: a worker restarted after
    the last input was committed marks them after its recovery, when every group already shows
    lag 0. Wait for them (bounded: a mark that never comes still fails the report check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [(orphans,)] = p.sql("SELECT count() FROM messages FINAL WHERE orphan")
        if int(orphans) >= want:
            return
        time.sleep(1.0)
    assert p.stop() == 0, p.tail()


def wait_until(p: Pipeline, cond: Any, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            prog = p.progress()
        except Exception:
            prog = {}
        if prog and cond(prog):
            return prog
        time.sleep(0.3)
    raise AssertionError(f"condition not reached: {prog}\n{p.tail()}")


def worker_done(prog: dict[str, Any], p: Pipeline) -> float:
    """Share of the records of its topics (inputs, control, pairs) the worker group committed."""
    ins = sum(prog.get("end_offsets", {}).get(t, 0) for t in p.settings.topics.worker_owned())
    lag = prog.get("lag", {}).get(consumers.worker(p.settings).group, ins)
    return (ins - lag) / ins if ins else 0.0


def test_duplicates_reordering_and_receipts_before_requests(
    sim: Simulation, pipeline_factory: Any
) -> None:
    # the traffic really has the faults this test is about
    order: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for kind, umid, rec in sim.events:
        order.setdefault(umid, []).append((kind, rec))
    receipts = [(u, r["state"], r["status_at"]) for k, u, r in sim.events if k == "receipts"]
    assert len(receipts) - len(set(receipts)) > 50, "no duplicate receipts"
    early = sum(
        1 for evs in order.values()
        if evs[0][0] == "receipts" and any(k == "requests" for k, _ in evs)
    )
    assert early > 20, "no receipts before their request"
    reordered = sum(
        1 for evs in order.values()
        if [r["state"] for k, r in evs if k == "receipts"][:1] in (["delivered"], ["undelivered"])
        and any(r["state"] == "sent" for k, r in evs if k == "receipts")
    )
    assert reordered > 20, "no final receipt before its 'sent'"

    p = pipeline_factory()
    p.start()
    produce(p, sim.events)
    run_to_truth(p, sim)


def test_worker_sigkilled_mid_stream(sim: Simulation, pipeline_factory: Any) -> None:
    p = pipeline_factory()
    p.start()
    produce(p, sim.events)
    killed = []
    for share in (0.2, 0.6):
        wait_until(p, lambda prog, s=share: worker_done(prog, p) >= s)
        killed.append(p.kill_worker())
        wait_until(p, lambda prog: p.running_worker_pid() not in (None, *killed))
    run_to_truth(p, sim)


def test_sink_sigkilled_mid_batch(sim: Simulation, pipeline_factory: Any) -> None:
    p = pipeline_factory(sink_batch_size=500)
    p.start()
    produce(p, sim.events)
    wait_until(p, lambda prog: 0 < (prog.get("messages_landed") or 0) < sim.truth["messages"] // 2)
    p.kill()  # the sink runs in the `run` process: SIGKILL it mid-batch
    p.start()  # the same Pipeline, so the factory's teardown reaps this run too
    run_to_truth(p, sim)


def test_broker_restarted(
    sim: Simulation, pipeline_factory: Any, local_broker: Broker | None
) -> None:
    if local_broker is None:
        pytest.skip("the broker is not ours to restart (KAFKA_BOOTSTRAP_SERVERS/testcontainers)")
    p = pipeline_factory()
    p.start()
    half = len(sim.events) // 2
    produce(p, sim.events[:half])
    wait_until(p, lambda prog: worker_done(prog, p) >= 0.3)
    local_broker.down()
    time.sleep(3)
    local_broker.up()
    produce(p, sim.events[half:])
    run_to_truth(p, sim)


def db_cli(p: Pipeline, action: str, table: str) -> None:
    """``smsflow db detach|attach TABLE``: through the run's ops API, with its token."""
    proc = subprocess.run([*SMSFLOW, "db", action, table], env=p.env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_clickhouse_unavailable_for_10s(sim: Simulation, pipeline_factory: Any) -> None:
    p = pipeline_factory()
    p.start()
    half = len(sim.events) // 2
    produce(p, sim.events[:half])
    wait_until(p, lambda prog: (prog.get("messages_landed") or 0) > 0)
    for table in ("messages", "daily_deltas", "message_events"):
        db_cli(p, "detach", table)
    produce(p, sim.events[half:])
    time.sleep(10)
    for table in ("messages", "daily_deltas", "message_events"):
        db_cli(p, "attach", table)
    p.wait_caught_up(int(sim.truth["messages"]))
    _, health = p.client.health()
    assert health["components"]["sink"]["retries"] > 0, health  # the outage was felt
    run_to_truth(p, sim)


def test_bad_records_go_to_dead_letter_with_reasons(
    sim_bad: Simulation, pipeline_factory: Any
) -> None:
    p = pipeline_factory()
    p.start()
    produce(p, sim_bad.events, sim_bad.bad)
    injected = sum(sim_bad.truth["invalid"].values())
    assert injected == 6 * 25
    base = f"http://127.0.0.1:{p.settings.webhook_port}/webhooks"
    bad_bodies = [
        ("dlr", b"{not json"),
        ("dlr", json.dumps({"eventType": "outbound_message_status_changed",
                            "payload": {"status": {"state": "delivered"}}}).encode()),
        ("inbound", json.dumps({"payload": {"umid": "not-a-uuid"}}).encode()),
        ("survey", json.dumps({"surveyId": "s"}).encode()),
        ("otp-feedback", b"[]"),
        ("click", b"x" * (p.settings.webhook_max_body + 10)),
    ]
    with httpx.Client(timeout=30) as http:
        codes = [http.post(f"{base}/{hook}", content=body).status_code for hook, body in bad_bodies]
    assert codes == [400, 400, 400, 400, 400, 413]
    prog = p.wait_caught_up(int(sim_bad.truth["messages"]))
    dead = prog["end_offsets"][p.settings.topics.dead_letter]
    assert dead == injected + len(bad_bodies)
    assert_reports_equal_truth(p, sim_bad)
    listed = subprocess.run([*SMSFLOW, "deadletters", "list", "--format", "csv"], env=p.env,
                            capture_output=True, text=True, timeout=120, check=True).stdout
    by_reason: Counter[str] = Counter()
    for row in list(csv.reader(io.StringIO(listed)))[1:]:  # through the ops API of the run
        by_reason[row[2]] += int(row[3])
    assert p.stop() == 0
    reasons = asyncio.run(dead_letter_reasons(p))
    assert sum(reasons.values()) == dead
    assert by_reason == reasons  # landed and listed: every dead letter, exactly
    assert set(reasons) <= {"truncated", "bad-magic", "unknown-schema", "corrupt", "wrong-schema",
                            "missing-umid", "malformed-json", "invalid", "too-large",
                            "wrong-type"}, reasons


async def dead_letter_reasons(p: Pipeline) -> Counter[str]:
    from aiokafka import AIOKafkaConsumer

    codec = get_codec(p.settings)
    c = AIOKafkaConsumer(
        p.settings.topics.dead_letter, bootstrap_servers=p.settings.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await c.start()
    reasons: Counter[str] = Counter()
    try:
        while True:
            batch = await c.getmany(timeout_ms=2000)
            if not batch:
                return reasons
            for records in batch.values():
                for r in records:
                    reasons[codec.decode_as("DeadLetter", r.value)["reason"]] += 1
    finally:
        await c.stop()
