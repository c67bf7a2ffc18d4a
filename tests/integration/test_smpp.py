"""The SMPP bridge against the test SMSC process (smpp34's SMPP server) and the real broker.

Every deliver_sm goes from the SMSC process over a real SMPP bind to the bridge, which produces
to Kafka; the records are read back from the topics and compared field by field.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from producers.send import SendProducer
from producers.smpp_bridge import SmppBridge
from schemas import get_codec
from simulator.smpp import mo_spec, receipt_spec
from simulator.smsc import SmscControl
from smsflow.config import Settings
from tests.integration.kafka_records import consume
from tests.integration.smsc_process import PduTap, SmscProcess, self_signed

pytestmark = pytest.mark.integration
UTC = dt.UTC
AT = dt.datetime(2026, 11, 30, 9, 15, 42, tzinfo=UTC)
UNBIND, ENQUIRE_LINK = 0x00000006, 0x00000015


@pytest.fixture
def smsc() -> Iterator[SmscProcess]:
    p = SmscProcess().start()
    yield p
    p.stop()


class Running:
    def __init__(
        self, bridge: SmppBridge, control: SmscControl, settings: Settings, control_port: int
    ) -> None:
        self.bridge, self.control, self.settings = bridge, control, settings
        self.control_port = control_port


async def _bridge(
    settings: Settings, control_port: int, binds: int
) -> AsyncIterator[Running]:
    async with SendProducer(settings, ack_timeout=10) as producer:
        bridge = SmppBridge(settings, producer)
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        control = await SmscControl.connect(control_port)
        async with asyncio.timeout(30):
            await control.wait_binds(binds)
        try:
            yield Running(bridge, control, settings, control_port)
        finally:
            await control.close()
            stop.set()
            await asyncio.wait_for(task, 30)


def _smpp_settings(make: Callable[..., Settings], port: int, **kw: Any) -> Settings:
    values: dict[str, Any] = {
        "smpp_host": "127.0.0.1", "smpp_port": port, "smpp_system_id": "smsflow",
        "smpp_password": "pw", "smpp_binds": 2, "smpp_reconnect_min_ms": 100,
        "smpp_bind_type": "transceiver",  # smpp34 1.5.0 nacks deliver_sm_resp on RX binds
        "smpp_reconnect_doublings": 2,
    }
    values.update(kw)
    return make(**values)


@pytest.fixture
def bridge_settings(smsc: SmscProcess, make_settings: Callable[..., Settings]) -> Settings:
    """Topics created before the test's event loop runs (make_settings is synchronous)."""
    return _smpp_settings(make_settings, smsc.port)


@pytest.fixture
async def running(smsc: SmscProcess, bridge_settings: Settings) -> AsyncIterator[Running]:
    async for r in _bridge(bridge_settings, smsc.control_port, 2):
        yield r


def _receipt(state: str, error_code: int | None = None, **kw: Any) -> dict[str, Any]:
    rec = {
        "umid": str(uuid.uuid4()), "source": "ACME Deals", "destination": "+6591234567",
        "state": state, "error_code": error_code, "status_at": AT, "mcc": None, "mnc": None,
    }
    rec.update(kw)
    return rec


async def _records(settings: Settings, topic: str, n: int) -> dict[str, dict[str, Any]]:
    codec = get_codec(settings)
    out = {}
    for r in await consume(settings, topic, n):
        _, rec = codec.decode(r.value)
        assert r.key == rec["umid"].encode()
        out[rec["umid"]] = rec
    return out


async def test_receipts_text_tlv_both_ids_and_dates(running: Running) -> None:
    minute = AT.replace(second=0)
    cases: list[tuple[dict[str, Any], dict[str, Any], tuple[Any, ...]]] = []

    def case(rec: dict[str, Any], spec_kw: dict[str, Any], expect: tuple[Any, ...]) -> None:
        cases.append((rec, receipt_spec(rec, **spec_kw), expect))

    # expect: (state, detail, error_code, error_message, status_at, mcc, mnc)
    case(_receipt("delivered", mcc="525", mnc="01"), {"form": "text"},
         ("delivered", None, None, None, AT, "525", "01"))
    case(_receipt("undelivered", 11), {"form": "text", "id_form": "hex", "date_digits": 10},
         ("undelivered", "undelivered_to_recipient", 11,
          "Absent subscriber (handset switched off)", minute, None, None))
    case(_receipt("undelivered", 34), {"form": "text", "id_form": "decimal"},
         ("undelivered", "rejected_by_operator", 34, "Filtered by operator (spam)", AT,
          None, None))
    case(_receipt("sent"), {"form": "tlv", "id_form": "hex"},
         ("sent", None, None, None, None, None, None))
    case(_receipt("undelivered", 1), {"form": "tlv", "id_form": "decimal"},
         ("undelivered", "undelivered_to_recipient", 1, "Unknown subscriber", None, None, None))
    case(_receipt("rejected"), {"form": "both", "date_digits": 10},
         ("rejected", None, None, None, minute, None, None))
    specs = [c[1] for c in cases]
    # both, the TLVs disagreeing with the text: the TLVs win (id, state and error code)
    both = _receipt("undelivered", 13)
    spec = receipt_spec(both, form="tlv")
    text_of = receipt_spec(_receipt("delivered"), form="text")  # another id, too
    spec["short_message"] = text_of["short_message"]
    specs.append(spec)
    cases.append((both, spec, ("undelivered", "undelivered_to_recipient", 13,
                               "Roaming not allowed", AT, None, None)))
    # case variants of the keys, 'Text:' last, a decimal id without leading zeros
    odd = _receipt("delivered", umid="00000000-0000-4000-8000-00000000beef")
    spec = receipt_spec(odd)
    spec["short_message"] = (
        f"ID:{uuid.UUID(odd['umid']).int} Sub:001 DLVRD:001 Submit Date:2611300915 "
        "Done Date:261130091542 Stat:delivrd Err:000 Text:Your code"
    ).encode().hex()
    specs.append(spec)
    cases.append((odd, spec, ("delivered", None, None, None, AT, None, None)))

    before = dt.datetime.now(UTC)
    statuses = await running.control.deliver_all(specs)
    assert statuses == [0] * len(specs)
    got = await _records(running.settings, running.settings.topics.receipts, len(specs))
    for rec, _, (state, detail, code, message, status_at, mcc, mnc) in cases:
        r = got[rec["umid"]]
        assert (r["state"], r["detail"], r["error_code"], r["error_message"]) == (
            state, detail, code, message), rec
        if status_at is None:  # TLV-only: no done date, the time it arrived
            assert before <= r["status_at"] <= dt.datetime.now(UTC)
        else:
            assert r["status_at"] == status_at
        assert (r["mcc"], r["mnc"]) == (mcc, mnc)
        assert r["destination"] == "+6591234567" and r["source"] == "ACME Deals"
        assert before <= r["received_at"] <= dt.datetime.now(UTC)


async def test_no_response_before_the_broker_acknowledged(running: Running) -> None:
    """Kafka not taking records: no deliver_sm_resp (the bind drops, the SMSC keeps
    re-delivering); once it takes them again the receipt is answered and on the topic."""
    await running.bridge.producer.stop()
    rec = _receipt("delivered")
    answer = asyncio.create_task(running.control.deliver(receipt_spec(rec)))
    done, _ = await asyncio.wait([answer], timeout=3)
    assert not done and running.bridge.stats.not_acked >= 1
    await running.bridge.producer.start()
    assert await asyncio.wait_for(answer, 30) == 0
    got = await _records(running.settings, running.settings.topics.receipts, 1)
    assert got[rec["umid"]]["state"] == "delivered"


async def test_any_failed_write_drops_the_bind_and_the_smsc_redelivers(
    running: Running,
) -> None:
    """A write failing with an exception that is not the broker's refusal (here a
    RuntimeError from the producer) is not left unanswered on a bind that stays up: the bind
    drops at once, the SMSC re-delivers on another bind, and the receipt is answered and on
    the topic well before any SMSC response timeout."""
    bridge = running.bridge
    real_send, calls = bridge.producer.send, []

    async def send(*args: Any, **kw: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("producer bug")
        return await real_send(*args, **kw)

    bridge.producer.send = send  # type: ignore[method-assign]
    rec = _receipt("delivered")
    assert await asyncio.wait_for(running.control.deliver(receipt_spec(rec)), 15) == 0
    assert len(calls) == 2 and bridge.stats.not_acked == 1 and bridge.stats.receipts == 1
    got = await _records(running.settings, running.settings.topics.receipts, 1)
    assert got[rec["umid"]]["state"] == "delivered"
    async with asyncio.timeout(30):  # the dropped bind comes back
        await running.control.wait_binds(2)


async def test_any_exception_of_the_deliver_handler_drops_the_bind(running: Running) -> None:
    """TlsEsme (smpp_compat) answers no deliver_sm whose handler raised, whatever the
    exception, and drops that connection: the SMSC re-delivers on another bind."""
    esmes = running.bridge._esmes
    failed: list[bytes] = []

    async def flaky(raw: bytes) -> None:
        if not failed:
            failed.append(raw)
            raise ValueError("handler bug")
        await running.bridge.handle(raw)

    for e in esmes:
        e._on_deliver = flaky
    rec = _receipt("undelivered", 11)
    assert await asyncio.wait_for(running.control.deliver(receipt_spec(rec)), 15) == 0
    assert len(failed) == 1 and running.bridge.stats.receipts == 1
    got = await _records(running.settings, running.settings.topics.receipts, 1)
    assert got[rec["umid"]]["error_code"] == 11
    async with asyncio.timeout(30):
        await running.control.wait_binds(2)


async def test_mo_gsm7_ucs2_latin1(running: Running) -> None:
    texts = [
        ("Hello @ £5 {ok} €", "GSM7", None, 1),
        ("Привет, мир 😀", "UCS2", None, 1),
        ("Ça coûte 3€? " * 6, "UCS2", None, 2),
        ("Très café, Zürich", "GSM7", 3, 1),  # Latin-1 text that fits GSM 03.38
        ("Crème brûlée", "UCS2", 3, 1),  # Latin-1 text that does not (ê, û)
    ]
    recs = []
    for body, enc, coding, _ in texts:
        rec = {"umid": str(uuid.uuid4()), "source": "+6581968289", "destination": "+4534735477",
               "body": body, "encoding": enc}
        recs.append((rec, mo_spec(rec, data_coding=coding)))
    assert await running.control.deliver_all([s for _, s in recs]) == [0] * len(recs)
    got = await _records(running.settings, running.settings.topics.inbound, len(recs))
    for (rec, _), (body, enc, _, parts) in zip(recs, texts, strict=True):
        r = got[rec["umid"]]
        assert (r["body"], r["encoding"], r["sms_count"]) == (body, enc, parts)
        assert (r["source"], r["destination"]) == ("+6581968289", "+4534735477")
        assert r["subaccount_id"] == "smsflow"


async def test_malformed_pdus_dead_lettered_and_the_bind_stays_up(running: Running) -> None:
    umid = str(uuid.uuid4())
    odd_ucs2 = mo_spec({"umid": umid, "source": "+6581968289", "destination": "+4534735477",
                        "body": "Your code 123456", "encoding": "UCS2"})
    odd_ucs2["short_message"] = odd_ucs2["short_message"][:-2]  # one octet short
    garbage = receipt_spec(_receipt("delivered"))
    garbage["short_message"] = b"hello, this is no receipt".hex()
    bad_tlv = receipt_spec(_receipt("undelivered", 11), form="tlv")
    bad_tlv["tlvs"][2][1] = "0b00"  # network_error_code of 2 octets instead of 3
    bad_stat = receipt_spec(_receipt("delivered"))
    bad_stat["short_message"] = bytes.fromhex(bad_stat["short_message"]).replace(
        b"DELIVRD", b"GONE").hex()
    no_umid = mo_spec({"umid": umid, "source": "+6581968289", "destination": "+4534735477",
                       "body": "hi", "encoding": "GSM7"})
    no_umid["tlvs"] = []
    good = _receipt("delivered")
    bad = [odd_ucs2, garbage, bad_tlv, bad_stat, no_umid]
    assert await running.control.deliver_all(bad) == [0] * len(bad)  # answered after the DLQ
    assert await running.control.deliver(receipt_spec(good)) == 0
    assert await running.control.binds() == 2
    assert running.bridge.stats.dead_letters == len(bad)
    got = await _records(running.settings, running.settings.topics.receipts, 1)
    assert list(got) == [good["umid"]]
    codec = get_codec(running.settings)
    dead = [codec.decode(r.value)[1] for r in
            await consume(running.settings, running.settings.topics.dead_letter, len(bad))]
    reasons = sorted(d["reason"] for d in dead)
    assert reasons == sorted(["smpp-bad-text", "smpp-receipt-text", "smpp-malformed",
                              "smpp-receipt-text", "missing-umid"])
    for d in dead:
        assert d["component"] == "smpp" and d["payload"][4:8] == b"\x00\x00\x00\x05"
        assert "code 123456".encode("utf-16-be")[:-1] not in d["payload"]  # MO text dropped
    ucs2 = next(d for d in dead if d["reason"] == "smpp-bad-text")
    assert "odd length" in ucs2["error"]


@pytest.fixture
def tls_smsc(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[SmscProcess, Settings]]:
    cert, key = self_signed(tmp_path)
    smsc = SmscProcess(tls=(cert, key)).start()
    try:
        yield smsc, _smpp_settings(
            make_settings, smsc.tls_port, smpp_tls=True, smpp_tls_cafile=cert, smpp_binds=1
        )
    finally:
        smsc.stop()


async def test_tls_bind(tls_smsc: tuple[SmscProcess, Settings]) -> None:
    smsc, settings = tls_smsc
    async for r in _bridge(settings, smsc.control_port, 1):
        rec = _receipt("delivered")
        assert await r.control.deliver(receipt_spec(rec, form="both")) == 0
        got = await _records(settings, settings.topics.receipts, 1)
        assert got[rec["umid"]]["state"] == "delivered"


@pytest.fixture
def four_binds(smsc: SmscProcess, make_settings: Callable[..., Settings]) -> Settings:
    return _smpp_settings(make_settings, smsc.port, smpp_binds=4)


async def test_bind_dropped_mid_stream_nothing_lost(
    smsc: SmscProcess, four_binds: Settings
) -> None:
    """The SMSC process is SIGKILLed mid-stream and restarted on its ports: the binds come
    back (back-off) and every receipt the platform did not see answered is re-delivered."""
    settings = four_binds
    recs = [_receipt("delivered") for _ in range(400)]
    answered: set[str] = set()
    hundred = asyncio.Event()
    async for r in _bridge(settings, smsc.control_port, 4):
        control = r.control

        async def push(todo: list[dict[str, Any]], ctl: SmscControl) -> None:
            async def one(rec: dict[str, Any]) -> None:
                if await ctl.deliver(receipt_spec(rec)) == 0:
                    answered.add(rec["umid"])
                    if len(answered) >= 100:
                        hundred.set()
            await asyncio.gather(*(one(x) for x in todo), return_exceptions=True)

        pushing = asyncio.create_task(push(recs, control))
        await hundred.wait()
        smsc.kill()  # every bind drops with deliveries in flight
        await pushing
        assert 100 <= len(answered) < len(recs)
        smsc.start()
        control2 = await SmscControl.connect(smsc.control_port)
        async with asyncio.timeout(30):
            await control2.wait_binds(4)
        await push([x for x in recs if x["umid"] not in answered], control2)
        await control2.close()
        assert len(answered) == len(recs)
        n = await _count(settings)
        codec = get_codec(settings)
        got = {codec.decode(x.value)[1]["umid"] for x in
               await consume(settings, settings.topics.receipts, n)}
        assert got == {x["umid"] for x in recs}  # nothing lost (re-deliveries may duplicate)


async def _count(settings: Settings) -> int:
    from tests.integration.kafka_records import count_records

    return await count_records(settings, settings.topics.receipts)


async def test_smsflow_smpp_process_binds_takes_receipts_and_unbinds_on_sigterm(
    smsc: SmscProcess, four_binds: Settings
) -> None:
    """The CLI as a user runs it: ``smsflow smpp`` with settings from the environment. Its
    binds go through a tap that records the PDUs they send: enquire_link when idle, and an
    unbind on every connection at SIGTERM (a process just closing its sockets looks the same
    to the SMSC's session count)."""
    from tests.e2e.harness import settings_env

    tap = await PduTap(smsc.port).start()
    settings = four_binds.model_copy(update={"smpp_port": tap.port, "smpp_enquire_link_s": 0.5})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smsflow", "smpp", env=settings_env(settings),
        stderr=asyncio.subprocess.PIPE,
    )
    control = await SmscControl.connect(smsc.control_port)
    try:
        async with asyncio.timeout(60):
            await control.wait_binds(4)
        recs = [_receipt("delivered") for _ in range(20)]
        assert await control.deliver_all([receipt_spec(r) for r in recs]) == [0] * 20
        await asyncio.sleep(2)  # idle: every bind keeps its session alive
        assert len(tap.sent) == 4 and all(ENQUIRE_LINK in ids for ids in tap.sent), tap.sent
        assert await control.binds() == 4  # answered: no bind dropped, none reconnected
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert await control.binds() == 0  # every session ended (the SMSC saw it)
        assert len(tap.sent) == 4 and all(ids[-1] == UNBIND for ids in tap.sent), tap.sent
        got = await _records(four_binds, four_binds.topics.receipts, 20)
        assert set(got) == {r["umid"] for r in recs}
    finally:
        await control.close()
        await tap.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.fixture(scope="module")
def small_sim() -> Any:
    from simulator.simulation import SimConfig, simulate

    return simulate(SimConfig(messages=300, seed=11, days=1), progress=False)


async def test_simulator_receipts_and_mo_over_smpp_match_its_records(
    running: Running, small_sim: Any
) -> None:
    """Every simulated receipt and MO, delivered as deliver_sm through the SMSC, comes out of
    the bridge with what SMPP carries exactly as the simulator wrote it."""
    from simulator.smpp import deliver_over_smpp

    events = [e for e in small_sim.events if e[0] in ("receipts", "inbound")]
    n_rcpt = sum(1 for e in events if e[0] == "receipts")
    n_mo = len(events) - n_rcpt
    assert n_rcpt > 100 and n_mo >= 5
    sent = await deliver_over_smpp(running.control_port, events)
    assert sent == {"receipts": n_rcpt, "inbound": n_mo}
    codec = get_codec(running.settings)
    t = running.settings.topics

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        at = r["status_at"].replace(microsecond=0)
        state = "delivered" if r["state"] == "read" else r["state"]  # SMPP has no 'read'
        return (r["umid"], state, r["error_code"], r["error_message"], at, r["mcc"],
                r["mnc"], r["destination"], r["source"])

    want = sorted(key(rec) for kind, _, rec in events if kind == "receipts")
    got = sorted(key(codec.decode(x.value)[1]) for x in await consume(running.settings,
                                                                        t.receipts, n_rcpt))
    assert got == want

    def mo(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["umid"], r["body"], r["encoding"], r["sms_count"], r["source"],
                r["destination"])

    want_mo = sorted(mo(rec) for kind, _, rec in events if kind == "inbound")
    got_mo = sorted(mo(codec.decode(x.value)[1]) for x in await consume(running.settings,
                                                                          t.inbound, n_mo))
    assert got_mo == want_mo


async def test_simulated_smpp_receipts_come_out_as_the_simulators_records(
    running: Running,
) -> None:
    """The receipts a simulation sends over SMPP (every form it draws: text or text + TLVs,
    UUID / hex / decimal ids, 12- or 10-digit dates), delivered through the SMSC, come out of
    the bridge field for field as the records the simulator derived for them without the
    bridge's parser (simulator.smpp.smpp_record): the e2e ground truth of the SMPP channel."""
    from simulator.config import SimConfig
    from simulator.simulation import simulate
    from simulator.smpp import deliver_specs

    sim = simulate(SimConfig(messages=200, seed=12, days=1, smpp_receipt_share=1.0),
                   progress=False)
    specs = [("receipts", sim.smpp[i]) for i in sorted(sim.smpp)]
    assert len(specs) == sum(1 for k, _, _ in sim.events if k == "receipts") > 200
    with_tlvs = sum(any(t == 0x001E for t, _ in s["tlvs"]) for _, s in specs)
    assert 0 < with_tlvs < len(specs)  # text-only and text + TLVs
    assert any(r["error_code"] for _, _, r in (sim.events[i] for i in sim.smpp))
    sent = await deliver_specs(running.control_port, specs)
    assert sent == {"receipts": len(specs), "inbound": 0}
    codec = get_codec(running.settings)

    def rows(recs: list[dict[str, Any]]) -> list[str]:
        return sorted(repr(sorted({**r, "received_at": None}.items())) for r in recs)

    got = [codec.decode(x.value)[1] for x in await consume(
        running.settings, running.settings.topics.receipts, len(specs))]
    assert rows(got) == rows([sim.events[i][2] for i in sim.smpp])
