"""After a simulated run with default settings, no message text and no unmasked OTP code is
anywhere: not in any String column of any ClickHouse table, not in the run's logs, not in the
dead-letter topic (payload copies and errors)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from schemas import get_codec
from simulator.simulation import Simulation
from smsflow.privacy import opt_out_keyword
from tests.e2e.harness import Pipeline
from tests.e2e.test_pipeline import produce

pytestmark = pytest.mark.e2e

OTP = "482913"  # in the webhook bodies below, valid and invalid
MO_UMID = "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a"


def _texts_and_codes(sim: Simulation) -> tuple[set[str], set[str]]:
    texts: set[str] = {f"my code is {OTP} thanks"}
    for kind, _umid, rec in sim.events:
        text = {"requests": rec.get("text"), "inbound": rec.get("body")}.get(kind)
        # very short texts ("hi", "ok") and stop keywords are not identifying; the stored opt_out
        # keyword is derived on purpose
        if text and len(text.strip()) >= 12 and not opt_out_keyword(text):
            texts.add(text)
    codes = {OTP}
    for kind, _umid, rec in sim.events:
        if kind == "requests" and rec.get("verification"):
            codes.update(re.findall(r"(?<!\d)\d{4,8}(?!\d)", rec["text"]))
    return texts, codes


def _leaks(where: str, value: str, texts: set[str], code_re: re.Pattern[str]) -> list[str]:
    found = [f"{where}: text {t[:40]!r}" for t in texts if t in value]
    m = code_re.search(value)
    if m:
        around = value[max(0, m.start() - 40):m.end() + 40]
        found.append(f"{where}: code {m.group(1)} in ...{around!r}")
    return found


async def _dead_letters(p: Pipeline) -> list[dict[str, Any]]:
    codec = get_codec(p.settings)
    c = AIOKafkaConsumer(
        p.settings.topics.dead_letter, bootstrap_servers=p.settings.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await c.start()
    out: list[dict[str, Any]] = []
    try:
        while True:
            batch = await c.getmany(timeout_ms=2000)
            if not batch:
                return out
            for records in batch.values():
                out.extend(codec.decode_as("DeadLetter", r.value) for r in records)
    finally:
        await c.stop()


def test_no_text_and_no_otp_code_is_stored_logged_or_dead_lettered(
    sim_bad: Simulation, pipeline_factory: Any
) -> None:
    p = pipeline_factory()  # default privacy settings
    assert p.settings.store_text is False
    p.start()
    produce(p, sim_bad.events, sim_bad.bad)
    base = f"http://127.0.0.1:{p.settings.webhook_port}/webhooks"
    mo = {"eventType": "inbound_message_received", "payload": {
        "umid": MO_UMID, "subAccountId": "privacy", "timestamp": "2024-01-01T00:00:00Z",
        "source": "+6581968289", "destination": "+4534735477",
        "body": f"my code is {OTP} thanks", "encoding": "GSM7", "smsCount": 1}}
    bad_mo = json.loads(json.dumps(mo))
    bad_mo["payload"]["umid"] = "not-a-uuid"
    cut = json.dumps(mo).encode()
    with httpx.Client(timeout=30) as http:
        ok = http.post(f"{base}/inbound", json=mo)
        bad = http.post(f"{base}/inbound", json=bad_mo)
        big = http.post(f"{base}/inbound", content=cut + b" " * p.settings.webhook_max_body)
    assert (ok.status_code, bad.status_code, big.status_code) == (202, 400, 413)
    assert OTP not in bad.text and OTP not in big.text
    p.wait_caught_up(int(sim_bad.truth["messages"]))

    texts, codes = _texts_and_codes(sim_bad)
    assert len(codes) > 50 and len(texts) > 500
    code_re = re.compile(r"(?<![\w.:-])(" + "|".join(sorted(codes)) + r")(?!\w)")
    leaks: list[str] = []

    tables = p.sql(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine NOT IN ('View', 'MaterializedView') ORDER BY name"
    )
    scanned = 0
    for (table,) in tables:
        cols = p.sql(
            f"SELECT name FROM system.columns WHERE database = currentDatabase() "
            f"AND table = '{table}' AND type LIKE '%String%'"
        )
        for (col,) in cols:
            for (value,) in p.sql(f"SELECT DISTINCT toString({col}) FROM {table}"):
                scanned += 1
                leaks += _leaks(f"{table}.{col}", str(value), texts, code_re)
    assert scanned > 1000
    # what is kept instead of the text
    (stored, lengths, opt_outs), = p.sql(
        "SELECT countIf(text != ''), sum(text_length), countIf(opt_out != '') FROM messages FINAL"
    )
    assert (int(stored), int(lengths) > 0, int(opt_outs) > 0) == (0, True, True)

    assert p.stop() == 0
    log = p.log.read_text(errors="replace")
    assert "sink.flush" in log
    for n, line in enumerate(log.splitlines()):
        leaks += _leaks(f"run.log:{n + 1}", line, texts, code_re)

    letters = asyncio.run(_dead_letters(p))
    assert len(letters) == sum(sim_bad.truth["invalid"].values()) + 2
    for d in letters:
        payload = (d["payload"] or b"").decode("utf-8", errors="replace")
        leaks += _leaks("dead-letter payload", payload, texts, code_re)
        leaks += _leaks("dead-letter error", d["error"], texts, code_re)
    assert leaks == []
