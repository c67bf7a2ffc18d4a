"""Dead letters without servers: table rows, redacted display copies, ids, the replay plan."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from producers.replay import DeadLetter, classify
from schemas import SingleObjectCodec
from schemas.deadletter import dead_letter
from sinks.deadletters import dead_letter_id, dead_letter_row, display_payload, parse_id
from sinks.rows import rows_for_record
from smsflow.errors import ValidationError
from smsflow.privacy import Privacy
from tests.unit.avro_samples import sample_record

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "v1"
UMID = "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a"
T0 = dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
INPUTS = {"t.receipts", "t.inbound", "t.requests"}


def _inbound_avro(text: str) -> bytes:
    rec = sample_record(json.loads((SCHEMAS / "InboundMessage.avsc").read_text()), 1)
    rec.update(umid=UMID, body=text, source="+6591234567")
    return SingleObjectCodec().encode("InboundMessage", rec)


def test_ids_round_trip_and_bad_ids_are_clear() -> None:
    assert parse_id(dead_letter_id(3, 117)) == (3, 117)
    for bad in ("3", "a:1", "3:-1", ""):
        with pytest.raises(ValidationError, match="PARTITION:OFFSET"):
            parse_id(bad)


def test_binary_payload_is_shown_decoded_and_redacted_never_raw() -> None:
    codec = SingleObjectCodec()
    raw = _inbound_avro("your code is 483920")
    shown = display_payload(raw, Privacy(), codec.decode)
    doc = json.loads(shown)
    assert doc["schema"] == "InboundMessage" and doc["record"]["umid"] == UMID
    assert "483920" not in shown and "[text removed: 19 chars]" in shown
    masked = display_payload(raw, Privacy(phones="mask"), codec.decode)
    assert "91234567" not in masked
    # binary that does not decode (truncated) is not shown at all
    assert display_payload(raw[:12], Privacy(), codec.decode) == ""
    assert display_payload(raw, Privacy(), None) == ""


def test_text_payload_gets_the_policy_again() -> None:
    body = json.dumps({"umid": UMID, "text": "code 483920"}).encode()
    shown = display_payload(body, Privacy(), None)
    assert "483920" not in shown and "[text removed" in shown
    assert display_payload(b"row,1,483920", Privacy(), None) == "row,1,******"


def test_dead_letter_row_and_sink_route() -> None:
    rec = dead_letter("worker", "boom 483920", topic="t.inbound", partition=2, offset=9,
                      key=UMID.encode(), payload=_inbound_avro("hi 483920"), reason="x",
                      failed_at=T0)
    [(table, row)] = rows_for_record("DeadLetter", rec, topic="t.dead-letter", partition=1,
                                     offset=5, decode=SingleObjectCodec().decode)
    assert table == "dead_letters"
    assert (row["topic"], row["partition"], row["offset"]) == ("t.dead-letter", 1, 5)
    assert (row["component"], row["reason"], row["source_topic"]) == ("worker", "x", "t.inbound")
    assert (row["source_partition"], row["source_offset"], row["key"]) == (2, 9, UMID)
    assert row["failed_at"] == T0 and row["payload_bytes"] == len(rec["payload"])
    assert "483920" not in row["payload"] and "483920" not in row["error"]
    assert row == dead_letter_row(rec, topic="t.dead-letter", partition=1, offset=5,
                                  privacy=Privacy(), decode=SingleObjectCodec().decode)


def _dl(at: int, component: str, reason: str = "r", **rec: Any) -> DeadLetter:
    base: dict[str, Any] = {"component": component, "reason": reason, "topic": "t.receipts",
                            "partition": None, "offset": None, "payload": None,
                            "failed_at": T0}
    return DeadLetter(0, at, {**base, **rec})


def test_replay_plan_per_source() -> None:
    dls = [
        _dl(0, "worker", partition=4, offset=40),
        _dl(1, "receiver", payload=b'{"umid": "x"}'),
        _dl(2, "receiver", topic="t.inbound", payload=b'{"text": "[text removed: 5 chars]"}'),
        _dl(3, "producer", topic="t.requests", payload=b"a,b"),
        _dl(4, "sink", topic="t.message-state", partition=0, offset=1),
        _dl(5, "worker", reason="other", partition=4, offset=41),
        _dl(6, "receiver", topic="t.inbound", payload=b'{"source": "+65*****567"}'),
    ]
    plan = {s.dl.offset: (s.action, s.why) for s in
            classify(dls, {}, reason="r", inputs=INPUTS)}
    assert plan[0] == ("reread", "") and plan[1] == ("validate", "")
    assert "redacted" in plan[2][1] and "redacted" in plan[6][1]
    assert plan[3][0] == "skip" and "smsflow produce" in plan[3][1]
    assert plan[4][0] == "skip" and "derived" in plan[4][1]
    assert 5 not in plan  # another reason
    later = classify(dls, {}, reason="r", inputs=INPUTS, since=T0 + dt.timedelta(seconds=1))
    assert later == []


def test_replay_plan_skips_replayed_and_failed_again() -> None:
    ledger = {"0:0": {"topic": "t.receipts", "partition": 4, "offset": 99}}
    again = _dl(7, "worker", partition=4, offset=99)  # the replayed copy failed again
    dls = [_dl(0, "worker", partition=4, offset=40), again]
    plan = classify(dls, ledger, reason="r", inputs=INPUTS)
    assert [(s.action, s.why) for s in plan] == [
        ("skip", "replayed before"),
        ("skip", "failed again after a replay (--retry-failed)"),
    ]
    retry = classify(dls, ledger, reason="r", inputs=INPUTS, retry_failed=True)
    assert [s.action for s in retry] == ["skip", "reread"]
