"""e2e: receipts half by webhook (HTTP to the receiver of ``smsflow run``), half by SMPP (the test
SMSC process -> the SMPP binds of ``smsflow run``), the worker SIGKILLed once.

Every receipt lands once (state, error code, MCC/MNC); every message's state and outcome, the
daily counts and the errors and replies reports equal the ground truth. Where SMPP cannot carry
a fact (``read``: a receipt's stat is DELIVRD), the truth of the messages whose receipts went
by SMPP says what the SMPP channel says (delivered, no read time). Costs, latency and the other
reports are not compared: SMPP receipts carry no price and no sub-second time.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from producers.sim_config import SimConfig
from producers.sim_smpp import deliver_over_smpp
from producers.simulator import Simulation, simulate
from tests.e2e import expect
from tests.e2e.harness import Pipeline
from tests.e2e.test_pipeline import produce, wait_until, worker_done
from tests.integration.smsc_process import SmscProcess

pytestmark = pytest.mark.e2e


def by_smpp(umid: str) -> bool:
    return uuid.UUID(umid).int % 2 == 0


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
    return simulate(SimConfig(messages=2000, seed=20261130), progress=False)


def test_receipts_half_webhook_half_smpp_worker_sigkilled(
    sim_smpp: Simulation, pipeline_factory: Any
) -> None:
    sim = sim_smpp
    smsc = SmscProcess().start()
    try:
        p: Pipeline = pipeline_factory(
            smpp_host="127.0.0.1", smpp_port=smsc.port, smpp_system_id="e2e",
            smpp_password="pw", smpp_binds=4, smpp_bind_type="transceiver",
        )
        p.start()
        receipts = [e for e in sim.events if e[0] == "receipts"]
        smpp = [e for e in receipts if by_smpp(e[1])]
        hooks = [e for e in receipts if not by_smpp(e[1])]
        assert len(smpp) > 1000 and len(hooks) > 1000
        produce(p, [e for e in sim.events if e[0] != "receipts"])
        result: dict[str, Any] = {}

        def deliver() -> None:
            async def both() -> None:
                result["smpp"], result["hooks"] = await asyncio.gather(
                    deliver_over_smpp(smsc.control_port, smpp),
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
        p.wait_caught_up(int(sim.truth["messages"]))

        # every receipt landed once, by either channel, with its state, error code and MCC/MNC
        def landed(u: str, state: str, code: Any, mcc: Any, mnc: Any) -> tuple[Any, ...]:
            smpp_read = by_smpp(str(u)) and state == "read"
            return (str(u), "delivered" if smpp_read else state, code, mcc or "", mnc or "")

        got = sorted(landed(*r) for r in p.sql(
            "SELECT umid, state, error_code, JSONExtractString(payload, 'mcc'),"
            " JSONExtractString(payload, 'mnc') FROM message_events FINAL"
            " WHERE kind = 'DeliveryReceipt'"))
        want = sorted(landed(u, r["state"], r["error_code"], r["mcc"], r["mnc"])
                      for _, u, r in receipts)
        assert len(got) == len(want) and got == want

        truth = []
        for m in sim.messages:
            if by_smpp(m.umid) and m.state == "read":  # SMPP says DELIVRD for a read message
                m = copy.copy(m)
                m.state, m.read_at = "delivered", None
            truth.append(m)
        wrong = expect.message_differences(p.sql(expect.MESSAGE_FIELDS_SQL), truth)
        assert not wrong, f"{len(wrong)} messages differ from the truth: {wrong[:10]}"
        got_errors = dict(p.sql(
            "SELECT umid, error_code FROM messages FINAL WHERE direction = 'OUTBOUND'"
            " AND has_request AND state IN ('undelivered', 'rejected')"))
        want_errors = {m.umid: m.error_code for m in sim.messages
                       if m.state == "undelivered" and m.umid in got_errors}
        assert {u: got_errors[u] for u in want_errors} == want_errors
        cols = (0, 1, 2, 4, 5, 6, 7)  # date, total, sent, delivered, undelivered, rejected, rcvd
        assert [[r[i] for i in cols] for r in p.report_csv("daily")] == [
            [r[i] for i in cols] for r in expect.daily(sim.truth)]
        assert p.report_csv("errors") == expect.errors(sim.truth)
        assert p.report_csv("replies") == expect.replies(sim.truth)
        assert p.stop() == 0, p.tail()
    finally:
        smsc.stop()
