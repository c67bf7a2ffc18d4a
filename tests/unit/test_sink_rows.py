"""Pure parts of the sink: record -> row, dedup tokens, batch bookkeeping, migration parsing."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from schemas import get_codec
from sinks.migrate import available, split_statements
from sinks.rows import dedup_token, event_row, message_row, rows_for_record
from sinks.writer import Batch
from smsflow.errors import SchemaError
from tests.integration.sink_factory import MessageSim, at

UMID = "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a"


def _sim() -> MessageSim:
    m = MessageSim(umid=UMID, subaccount_id="SA-1", country="SG", operator="SingTel")
    m.request(at(2, 23, 59, 7), campaign_id="spring")
    m.receipt("delivered", at(3, 0, 1), price="0.0446592")
    return m


def test_message_row_of_a_counted_state() -> None:
    st = _sim().states[-1]
    row = message_row(st)
    assert row["umid"] == UMID and row["version"] == 2 and row["direction"] == "OUTBOUND"
    assert row["counted"] is True
    assert row["day"] == dt.date(2024, 1, 2)  # the request's day, not the receipt's
    assert row["cost"] == Decimal("0.04465920")
    assert row["price_total"] == Decimal("0.04465920") and row["currency"] == "EUR"
    assert row["state"] == "delivered" and row["campaign_id"] == "spring"
    assert row["batch_id"] == "" and row["error_code"] is None  # '' for unknown strings
    assert row["delivered_at"] == at(3, 0, 1) and row["sent_at"] is None
    assert row["sms_count"] == 1 and row["receipts"] == 1 and row["clicks"] == 0


def test_message_row_before_the_request_counts_nowhere() -> None:
    m = MessageSim(umid=UMID)
    m.receipt("delivered", at(5, 8, 30), price="0.05")
    row = message_row(m.states[-1])
    assert (row["counted"], row["day"], row["cost"]) == (False, dt.date(2024, 1, 5), Decimal(0))
    assert row["has_request"] is False and row["subaccount_id"] == ""


def test_delta_rows_follow_the_contribution_change() -> None:
    m = _sim()
    first, second = m.deltas
    assert len(first) == 1 and len(second) == 2  # currency '' -> EUR moves the message's key
    rows = list(second)
    by_currency = {r["currency"]: r for r in rows}
    assert by_currency[""]["total"] == -1 and by_currency[""]["received"] == -1
    assert by_currency["EUR"]["total"] == 1 and by_currency["EUR"]["delivered"] == 1
    assert by_currency["EUR"]["cost"] == Decimal("0.04465920")
    assert all(r["version"] == 2 and r["day"] == dt.date(2024, 1, 2) for r in rows)
    assert sum(r["total"] for r in [*first, *rows]) == 1


def test_a_state_record_lands_with_its_delta_rows() -> None:
    """The sink derives each state version's daily delta rows itself (no daily-deltas topic):
    they equal the factory's own reckoning of contribution - previous contribution."""
    m = _sim()
    codec = get_codec()
    for st, want in zip(m.states, m.deltas, strict=True):
        name, rec = codec.decode(codec.encode("MessageState", st))
        pairs = rows_for_record(name, rec, topic="t.s", partition=0, offset=0)
        assert [t for t, _ in pairs] == ["messages"] + ["daily_deltas"] * len(want)
        key = ("day", "currency", "total", "cost")
        got = sorted(tuple(str(r[k]) for k in key) for _, r in pairs[1:])
        assert got == sorted(tuple(str(d[k]) for k in key) for d in want)


def test_payload_json_is_what_json_dumps_gives() -> None:
    """The event payload is encoded with orjson for speed; it must stay byte-for-byte what the
    standard library gives (rows stored before the change and after it compare equal)."""
    from simulator.config import SCHEMA_OF, SimConfig
    from simulator.simulation import simulate
    from sinks.rows import _json_default, payload_json
    from smsflow.privacy import Privacy

    def std(rec: dict[str, object]) -> str:
        return json.dumps(rec, default=_json_default, sort_keys=True, ensure_ascii=False,
                          separators=(",", ":"))

    codec = get_codec()
    recs = [codec.decode_as(SCHEMA_OF[k], codec.encode(SCHEMA_OF[k], r))
            for k, _, r in simulate(SimConfig(messages=300, seed=11)).events]
    odd = {"text": "Grüße \u2028 \x01 \"q\" 😀", "n": [1, 2.5, None, True],
           "z": {"b": Decimal("0.10000000"), "a": at(1, 2, 3, 4)}, "d": dt.date(2024, 1, 2),
           "raw": b"\x00\xff"}
    # datetimes orjson would write otherwise (no microseconds, another offset, naive) and a
    # string that looks like a time
    times = {"a": at(1, 2, 3, 0), "b": at(1).astimezone(dt.timezone(dt.timedelta(hours=2))),
             "c": dt.datetime(2024, 1, 2, 3, 4, 5, 6), "d": "T10:11:12 sharp", "e": at(1, 2, 3, 4)}
    for rec in [*recs, odd, times]:
        for privacy in (Privacy(), Privacy(store_text=True, phones="plain")):
            shown = privacy.record(rec)
            assert payload_json(shown) == std(shown)


def test_every_factory_record_encodes_with_the_real_schemas() -> None:
    codec = get_codec()
    for name, rec in _sim().records():
        got_name, back = codec.decode(codec.encode(name, rec))
        assert got_name == name and back["umid"] == UMID


def test_event_row_of_a_receipt_keeps_the_payload() -> None:
    rec = {"umid": UMID, "state": "undelivered", "status_at": at(3, 1, 2, 345678),
           "error_code": 7, "error_message": "handset off", "price_total": Decimal("0.05000000"),
           "subaccount_id": None}
    row = event_row("DeliveryReceipt", rec, topic="t.r", partition=4, offset=17,
                    timestamp_ms=1_704_246_122_000)
    assert row["kind"] == "DeliveryReceipt" and (row["partition"], row["offset"]) == (4, 17)
    assert row["state"] == "undelivered" and row["error_code"] == 7
    assert row["event_at"] == at(3, 1, 2, 345678) and row["subaccount_id"] == ""
    assert row["kafka_timestamp"] == dt.datetime(2024, 1, 3, 1, 42, 2, tzinfo=dt.UTC)
    assert json.loads(row["payload"]) == {
        "umid": UMID, "state": "undelivered", "status_at": "2024-01-03T01:02:00.345678Z",
        "error_code": 7, "error_message": "handset off", "price_total": "0.05000000",
        "subaccount_id": None,
    }


def test_request_event_state_is_the_platform_answer() -> None:
    rec = {"umid": UMID, "status": "REJECTED", "submitted_at": at(1), "subaccount_id": "SA"}
    row = event_row("SendRequest", rec, topic="t", partition=0, offset=0)
    assert (row["state"], row["subaccount_id"], row["event_at"]) == ("rejected", "SA", at(1))


def test_input_kinds_fan_out_to_their_tables() -> None:
    otp = {"umid": UMID, "subaccount_id": None, "converted_at": at(4)}
    pairs = rows_for_record("OtpFeedback", otp, topic="t.o", partition=1, offset=9)
    assert [t for t, _ in pairs] == ["message_events", "conversions"]
    assert pairs[1][1] == {"umid": UMID, "topic": "t.o", "partition": 1, "offset": 9,
                           "subaccount_id": "", "converted_at": at(4)}
    survey = {
        "umid": UMID, "survey_id": "s-1", "survey_started_at": None,
        "survey_submitted_at": at(4, 10),
        "template_variables": [{"name": "firstname", "value": "John"}],
        "answers": [
            {"question_id": "3", "answer_id": "10003", "question": "Q?", "answer": "Cancel Now"},
            {"question_id": "16", "answer_id": None, "question": "Full Name", "answer": "John"},
        ],
    }
    (_, _), (table, row) = rows_for_record("SurveyResponse", survey, topic="t.s", partition=0,
                                           offset=3)
    assert table == "survey_responses"
    assert row["answers.question_id"] == ["3", "16"]
    assert row["answers.answer_id"] == ["10003", None]
    assert row["template_variables.name"] == ["firstname"]
    click = {"umid": UMID, "clicked_at": at(5), "url": "https://x.test/a", "short_url": None,
             "user_agent": None}
    pairs = rows_for_record("UrlClick", click, topic="t.c", partition=2, offset=0)
    assert pairs[1] == ("clicks", {"umid": UMID, "topic": "t.c", "partition": 2, "offset": 0,
                                   "clicked_at": at(5), "url": "https://x.test/a",
                                   "short_url": "", "user_agent": ""})
    inbound = {"umid": UMID, "received_at": at(6), "subaccount_id": "SA", "body": "STOP"}
    assert [t for t, _ in rows_for_record("InboundMessage", inbound, topic="t.i", partition=0,
                                          offset=0)] == ["message_events"]


def test_unusable_records_raise_schema_errors() -> None:
    with pytest.raises(SchemaError) as e:
        rows_for_record("NoSuchSchema", {}, topic="t", partition=0, offset=0)
    assert e.value.reason == "wrong-schema"
    with pytest.raises(SchemaError) as e:
        rows_for_record("UrlClick", {"umid": UMID}, topic="t", partition=0, offset=0)
    assert e.value.reason == "unusable" and "clicked_at" in str(e.value)


def test_dedup_token_is_a_pure_function_of_table_and_ranges() -> None:
    a = {("t.a", 0): (10, 19), ("t.b", 3): (0, 4)}
    b = {("t.b", 3): (0, 4), ("t.a", 0): (10, 19)}
    assert dedup_token("messages", a) == dedup_token("messages", b)
    assert dedup_token("messages", a).startswith("messages-")
    assert len(dedup_token("messages", a)) == len("messages-") + 32
    assert dedup_token("messages", a) != dedup_token("daily_deltas", a)
    assert dedup_token("messages", a) != dedup_token("messages", {**a, ("t.a", 0): (10, 20)})


def test_batch_tracks_ranges_size_and_age() -> None:
    b = Batch(max_records=3, max_age_s=1.0)
    assert not b.due()
    b.note("t", 0, 5)
    b.note("t", 0, 6)
    b.note("u", 2, 40)
    b.add("messages", {"x": 1})
    assert b.ranges == {("t", 0): (5, 6), ("u", 2): (40, 40)}
    assert b.commit_offsets() == {("t", 0): 7, ("u", 2): 41}
    assert b.records == 3 and b.row_count() == 1 and b.due()
    b = Batch(max_records=3, max_age_s=1.0)  # the sink starts a new batch per flush
    assert (b.records, b.ranges, b.row_count(), b.due()) == (0, {}, 0, False)
    b.note("t", 1, 0)
    assert b.started is not None
    assert not b.due(now=b.started + 0.5) and b.due(now=b.started + 1.0)


def test_migration_files_parse() -> None:
    migs = available()
    assert (migs[0].version, migs[0].name) == (1, "analytics_tables")
    stmts = migs[0].statements()
    assert len(stmts) == 7
    assert all(s.startswith("CREATE ") and "IF NOT EXISTS" in s for s in stmts)
    assert split_statements("-- c\nSELECT 1\n;\n\n;\nSELECT 2") == ["SELECT 1", "SELECT 2"]
