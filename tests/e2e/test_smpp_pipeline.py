"""e2e: receipts half by webhook (HTTP to the receiver of ``smsflow run``), half by SMPP (the test
SMSC process -> the SMPP binds of ``smsflow run``), the worker SIGKILLed once: every report
equals the ground truth.

The simulation decides per receipt (from its seed) which go over SMPP
(``SimConfig.smpp_receipt_share``); for those its events hold what the deliver_sm the SMSC
sends carries (no price, ids or operator name, ``read`` as delivered, times to the second or
minute), derived from the simulated receipt without the bridge's parser
(``simulator.smpp.smpp_record``), so its truth is the truth of what the two channels carry and a
parser bug shows in the reports. MO messages go to
Kafka directly: an SMPP MO carries no time (its record's is the arrival's) nor subaccount.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import threading
from decimal import Decimal
from typing import Any

import httpx
import pytest

from simulator.config import SimConfig
from simulator.simulation import Simulation, simulate
from simulator.smpp import deliver_specs
from tests.e2e.harness import SMSFLOW, Pipeline
from tests.e2e.test_pipeline import (
    assert_reports_equal_truth,
    produce,
    wait_orphans_marked,
    wait_until,
    worker_done,
)
from tests.integration.smsc_process import SmscProcess

pytestmark = pytest.mark.e2e


def dlr_body(rec: dict[str, Any]) -> bytes:
    """The platform's DLR webhook JSON (formats.md section 3) of a DeliveryReceipt record."""
    def num(v: Decimal | None) -> Any:
        return None if v is None else f"@@{v}@@"  # a JSON number, written exactly below

    price = {"total": num(rec["price_total"]), "perSms": num(rec["price_per_sms"]),
             "currency": rec["currency"]}
    status = {"state": rec["state"], "detail": rec["detail"],
              "timestamp": rec["status_at"].isoformat().replace("+00:00", "Z"),
              "errorCode": rec["error_code"], "errorMessage": rec["error_message"]}
    payload = {"umid": rec["umid"], "batchId": rec["batch_id"],
               "clientMessageId": rec["client_message_id"],
               "clientBatchId": rec["client_batch_id"], "subAccountId": rec["subaccount_id"],
               "source": rec["source"], "destination": rec["destination"], "status": status,
               "price": price, "smsCount": rec["sms_count"], "mcc": rec["mcc"],
               "mnc": rec["mnc"], "operator": rec["operator"]}
    text = json.dumps({"namespace": "SMS", "eventType": "outbound_message_status_changed",
                       "payload": {k: v for k, v in payload.items() if v is not None}})
    return text.replace('"@@', "").replace('@@"', "").encode()


async def post_webhooks(port: int, events: list[Any]) -> int:
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        async def one(rec: dict[str, Any]) -> int:
            async with sem:
                r = await client.post("/webhooks/dlr", content=dlr_body(rec),
                                      headers={"content-type": "application/json"})
                return r.status_code

        codes = await asyncio.gather(*(one(rec) for _, _, rec in events))
    assert set(codes) == {202}, set(codes)
    return len(codes)


@pytest.fixture(scope="module")
def sim_smpp() -> Simulation:
    return simulate(SimConfig(messages=2000, seed=20261130, smpp_receipt_share=0.5),
                    progress=False)


def test_receipts_half_webhook_half_smpp_worker_sigkilled(
    sim_smpp: Simulation, pipeline_factory: Any
) -> None:
    sim = sim_smpp
    receipts = [i for i, e in enumerate(sim.events) if e[0] == "receipts"]
    smpp = [("receipts", sim.smpp[i]) for i in receipts if i in sim.smpp]
    hooks = [sim.events[i] for i in receipts if i not in sim.smpp]
    assert len(smpp) > 1500 and len(hooks) > 1500
    # the SMPP receipts really lose what the channel cannot carry, and the truth follows
    via_smpp = [sim.events[i][2] for i in sim.smpp]
    assert all(r["price_total"] is None and r["status_at"].microsecond == 0 for r in via_smpp)
    assert not any(r["state"] == "read" for r in via_smpp)
    assert any(r["status_at"].second == 0 for r in via_smpp)  # some 10-digit dates
    smsc = SmscProcess().start()
    try:
        p: Pipeline = pipeline_factory(
            smpp_host="127.0.0.1", smpp_port=smsc.port, smpp_system_id="e2e",
            smpp_password="pw", smpp_binds=4, smpp_bind_type="transceiver",
        )
        p.start()
        produce(p, [e for e in sim.events if e[0] != "receipts"])
        result: dict[str, Any] = {}

        def deliver() -> None:
            async def both() -> None:
                result["smpp"], result["hooks"] = await asyncio.gather(
                    deliver_specs(smsc.control_port, smpp),
                    post_webhooks(p.settings.webhook_port, hooks),
                )
            try:
                asyncio.run(both())
            except Exception as e:  # reported below
                result["error"] = e

        t = threading.Thread(target=deliver)
        t.start()
        wait_until(p, lambda prog: worker_done(prog, p) >= 0.4)
        killed = p.kill_worker()
        wait_until(p, lambda prog: p.running_worker_pid() not in (None, killed))
        t.join(600)
        assert "error" not in result, result.get("error")
        assert result["smpp"]["receipts"] == len(smpp) and result["hooks"] == len(hooks)
        prog = p.wait_caught_up(int(sim.truth["messages"]))
        # orphan marks come from the worker's timer: a restarted worker makes them after
        # its recovery, possibly after every group shows lag 0
        wait_orphans_marked(p, int(sim.truth["orphans"]))
        # every receipt landed once, by either channel, as the simulation's events say
        got = sorted((str(u), *r) for u, *r in p.sql(
            "SELECT umid, state, error_code, JSONExtractString(payload, 'mcc'),"
            " JSONExtractString(payload, 'mnc') FROM message_events FINAL"
            " WHERE kind = 'DeliveryReceipt'"))
        want = sorted((u, r["state"], r["error_code"], r["mcc"] or "", r["mnc"] or "")
                      for _, u, r in (sim.events[i] for i in receipts))
        assert len(got) == len(want) and got == want
        assert_reports_equal_truth(p, sim)
        # the reports assert_reports_equal_truth leaves out: flags, and dead letters (the
        # simulation has no invalid input, so a bridge dead-lettering a good PDU shows here)
        assert p.report_csv("flags") == [[f, str(n)] for f, n in sim.truth["flags"].items()]
        assert not any(sim.truth["invalid"].values())
        assert prog["end_offsets"][p.settings.topics.dead_letter] == 0
        listed = subprocess.run([*SMSFLOW, "deadletters", "list", "--format", "csv"],
                                env=p.env, capture_output=True, text=True, timeout=120,
                                check=True).stdout
        assert list(csv.reader(io.StringIO(listed)))[1:] == []
        assert p.stop() == 0, p.tail()
    finally:
        smsc.stop()
