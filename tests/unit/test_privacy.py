"""The PII policy: text, OTP codes, phone numbers, dead-letter copies, log lines, sink rows."""

from __future__ import annotations

import json
import logging

import pytest

from schemas.deadletter import dead_letter
from sinks.rows import event_row, message_row
from smsflow.config import Settings
from smsflow.errors import ConfigError
from smsflow.privacy import Privacy, RedactingFilter, mask_codes, opt_out_keyword
from tests.integration.sink_factory import MessageSim, at

UMID = "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a"
OTP_TEXT = "482913 is your NordBank verification code. It expires in 10 minutes."


def test_codes_of_4_to_8_digits_are_masked_and_nothing_else() -> None:
    assert mask_codes("Code 1234, 12345678 or 123456789; SAVE20 at 12:30") == (
        "Code ****, ******** or 123456789; SAVE20 at 12:30"
    )


@pytest.mark.parametrize(
    ("text", "keyword"),
    [(" stop ", "STOP"), ("S T O P", "STOP"), ("StopAll\n", "STOPALL"), ("end", "END"),
     ("stop it", "STOPIT"[:0]), ("", ""), (None, "")],
)
def test_opt_out_keyword(text: str | None, keyword: str) -> None:
    assert opt_out_keyword(text) == keyword


def test_text_is_not_kept_by_default_and_masked_when_kept() -> None:
    assert Privacy().text(OTP_TEXT) == ""
    assert Privacy(store_text=True).text(OTP_TEXT) == (
        "****** is your NordBank verification code. It expires in 10 minutes."
    )


def test_phone_policies_keep_equal_numbers_equal() -> None:
    plain, mask = Privacy(), Privacy(phones="mask")
    hashed = Privacy(phones="hash", phone_key=b"k1")
    assert plain.phone("+6591234567") == "+6591234567"
    assert mask.phone("+6591234567") == "+65*****567"
    assert mask.phone("14155550123") == "+1*******123"
    assert mask.phone("+4915112345678") == "+49********678"
    h = hashed.phone("+6591234567")
    assert h.startswith("h:") and len(h) == 26
    assert hashed.phone("6591234567") == h  # the '+' does not matter: joins keep working
    assert Privacy(phones="hash", phone_key=b"k2").phone("+6591234567") != h  # keyed
    for p in (mask, hashed):
        assert p.phone("MyBrand") == "MyBrand" and p.phone("") == ""


def test_hash_policy_needs_its_secret() -> None:
    with pytest.raises(ConfigError, match="PHONE_HASH_SECRET"):
        Privacy.from_settings(Settings(phone_policy="hash"))
    p = Privacy.from_settings(Settings(phone_policy="hash", phone_hash_secret="s"))  # type: ignore[arg-type]
    assert p.phone("+6591234567").startswith("h:")


def test_secret_from_file(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret"  # type: ignore[operator]
    path.write_text("from-file\n")
    monkeypatch.setenv("SMSFLOW_PHONE_HASH_SECRET_FILE", str(path))
    monkeypatch.setenv("SMSFLOW_KAFKA_SASL_PASSWORD_FILE", str(path))
    s = Settings()
    assert s.phone_hash_secret is not None and s.phone_hash_secret.get_secret_value() == "from-file"
    assert s.kafka_sasl_password is not None
    assert "from-file" not in repr(s) and "from-file" not in str(s.model_dump())


def test_dead_letter_payload_copies_follow_the_policy() -> None:
    body = json.dumps({"payload": {"umid": UMID, "body": OTP_TEXT, "source": "+6591234567"}})
    d = dead_letter("receiver", "bad", payload=body.encode())
    assert json.loads(d["payload"]) == {"payload": {
        "umid": UMID, "body": f"[text removed: {len(OTP_TEXT)} chars]", "source": "+6591234567"}}
    masked = dead_letter("r", "bad", payload=body.encode(), privacy=Privacy(store_text=True))
    assert json.loads(masked["payload"])["payload"]["body"].startswith("****** is your")
    # JSON without text is kept byte for byte (dates and uuids untouched)
    raw = b'{"umid": "' + UMID.encode() + b'", "timestamp": "2016-01-01T14:34:56.017Z"}'
    assert dead_letter("r", "bad", payload=raw)["payload"] == raw
    # a cut-off body: the text value is cut out, codes masked
    cut = b'{"umid": "' + UMID.encode() + b'", "text": "482913 is your code'
    assert dead_letter("r", "bad", payload=cut)["payload"] == (
        b'{"umid": "' + UMID.encode() + b'", "text": "[text removed]'
    )
    assert dead_letter("r", "bad", payload=b"row,482913,x")["payload"] == b"row,******,x"
    binary = b"\xde\xad\xff\x00 482913"
    assert dead_letter("r", "bad", payload=binary)["payload"] == binary
    assert dead_letter("r", "bad", payload=None)["payload"] is None


def test_sink_rows_store_no_text_but_length_and_opt_out() -> None:
    m = MessageSim(umid=UMID, subaccount_id="SA-1", country="SG")
    m.request(at(2, 10), text=OTP_TEXT)
    row = message_row(m.states[-1])
    assert (row["text"], row["text_length"], row["opt_out"]) == ("", len(OTP_TEXT), "")
    kept = message_row(m.states[-1], Privacy(store_text=True))
    assert kept["text"].startswith("****** is your") and kept["text_length"] == len(OTP_TEXT)
    hashed = message_row(m.states[-1], Privacy(phones="hash", phone_key=b"k"))
    assert hashed["destination"] == Privacy(phones="hash", phone_key=b"k").phone(
        row["destination"]) != row["destination"]
    rec = {"umid": UMID, "received_at": at(6), "subaccount_id": "SA", "body": " Stop ",
           "source": "+6591234567"}
    ev = event_row("InboundMessage", rec, topic="t.i", partition=0, offset=1)
    assert json.loads(ev["payload"])["body"] == "[text removed: 6 chars]"
    assert json.loads(ev["payload"])["source"] == "+6591234567"


def test_log_filter_masks_codes_but_keeps_counters() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent %s to %s: records=%d",
                               ("482913", "+6591234567", 12000), None)
    assert RedactingFilter(Privacy(phones="mask")).filter(record)
    assert record.getMessage() == "sent ****** to +65*****567: records=12000"
