"""Send-request validation by the platform rules and the SendRequest record it builds."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from producers.phone import NumberInfo, parse_destination
from producers.requests import send_request_record, validate_request
from schemas import get_codec
from smsflow.errors import ValidationError

UMID = "0b6f3c1e-7f3a-4d2b-9c1d-5e8f7a6b4c3d"
AT = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)


def req(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "destination": "6591234567",
        "text": "Your code is 1234",
        "subAccountId": "acme",
        "submittedAt": "2024-03-01T12:00:00Z",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        validate_request(data)
    return str(info.value)


def test_record_of_a_full_request() -> None:
    r = validate_request(
        req(
            umid=UMID.upper(),
            source="MyBrand",
            clientMessageId="cm-1",
            clientBatchId="cb-1",
            batchId="b-1",
            encoding="AUTO",
            scheduled="2024-03-02T08:00:00.1234567+08:00",
            expiry="2024-03-03T00:00:00Z",
            dlrCallbackUrl="https://example.com/dlr",
            campaignId="spring",
            origin="MCS",
            verification=True,
            text="Hi €",
        )
    )
    assert send_request_record(r) == {
        "umid": UMID,
        "batch_id": "b-1",
        "client_message_id": "cm-1",
        "client_batch_id": "cb-1",
        "subaccount_id": "acme",
        "campaign_id": "spring",
        "origin": "MCS",
        "source": "MyBrand",
        "destination": "+6591234567",
        "text": "Hi €",
        "requested_encoding": "AUTO",
        "encoding": "GSM7",
        "sms_count": 1,
        "truncated": False,
        "country": "SG",
        "operator": "SingTel",
        "flags": [],
        "verification": True,
        "status": "QUEUED",
        "status_description": None,
        "submitted_at": AT,
        "scheduled": dt.datetime(2024, 3, 2, 0, 0, 0, 123456, tzinfo=dt.UTC),
        "expiry": dt.datetime(2024, 3, 3, tzinfo=dt.UTC),
        "dlr_callback_url": "https://example.com/dlr",
    }


def test_defaults_and_assigned_umid() -> None:
    rec = send_request_record(validate_request(req()))
    assert str(uuid.UUID(rec["umid"])) == rec["umid"]
    assert (rec["origin"], rec["status"], rec["verification"]) == ("HTTP_API", "QUEUED", False)
    assert (rec["source"], rec["client_message_id"], rec["scheduled"]) == (None, None, None)
    other = send_request_record(validate_request(req()))
    assert other["umid"] != rec["umid"]


def test_snake_case_names_and_case_insensitive_enums() -> None:
    r = validate_request(
        req(
            subAccountId=None,
            subaccount_id="acme",
            origin="http api",
            status="rejected",
            status_description="no credit",
            encoding="ucs2",
        )
    )
    rec = send_request_record(r)
    assert (rec["origin"], rec["status"], rec["status_description"]) == (
        "HTTP_API",
        "REJECTED",
        "no credit",
    )
    assert (rec["requested_encoding"], rec["encoding"]) == ("UCS2", "UCS2")


def test_segments_and_truncation_in_record() -> None:
    rec = send_request_record(validate_request(req(text="x" * 2000)))
    assert (rec["sms_count"], rec["truncated"], rec["text"]) == (10, True, "x" * 1530)
    rec = send_request_record(validate_request(req(text="Привет")))
    assert (rec["encoding"], rec["sms_count"]) == ("UCS2", 1)


def test_record_encodes_with_the_schema() -> None:
    rec = send_request_record(validate_request(req(umid=UMID)))
    codec = get_codec()
    assert codec.decode(codec.encode("SendRequest", rec)) == ("SendRequest", rec)


@pytest.mark.parametrize(
    "source", ["MyBrand", "ABC DEF 123", "A", "12345678901234567", "+12345678901234567"]
)
def test_valid_sender_ids(source: str) -> None:
    assert validate_request(req(source=source)).source == source


@pytest.mark.parametrize(
    "source",
    ["ABCDEFGHIJKL", "123456789012345678", "+123456789012345678", "Brand!", "+Brand", "Café"],
)
def test_invalid_sender_ids(source: str) -> None:
    assert error_of(req(source=source)).startswith("source: sender id must be alphanumeric")


def test_client_message_id_length() -> None:
    assert validate_request(req(clientMessageId="x" * 350)).client_message_id == "x" * 350
    assert error_of(req(clientMessageId="x" * 351)) == (
        "clientMessageId: String should have at most 350 characters"
    )


def test_scheduled_at_most_seven_days_ahead() -> None:
    ok = validate_request(req(scheduled="2024-03-08T12:00:00Z"))
    assert ok.scheduled == AT + dt.timedelta(days=7)
    assert error_of(req(scheduled="2024-03-08T12:00:01Z")) == (
        "scheduled: more than 7 days ahead of submission"
    )
    assert error_of(req(scheduled="2024-03-02T12:00:00")) == (
        "scheduled: timestamp needs a UTC offset or 'Z'"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"encoding": "LATIN1"}, "encoding: Input should be 'AUTO', 'GSM7' or 'UCS2'"),
        ({"text": ""}, "text: String should have at least 1 character"),
        ({"text": None}, "text: required field missing"),
        ({"umid": "not-a-uuid"}, "umid: umid is not a UUID: 'not-a-uuid'"),
        ({"color": "red"}, "color: unknown field"),
        ({"origin": "FAX"}, "origin: Input should be 'HTTP_API', 'SMPP' or 'MCS'"),
        ({"dlrCallbackUrl": "ftp://x"}, "dlrCallbackUrl: must be an http(s) URL"),
    ],
)
def test_validation_errors(fields: dict[str, Any], message: str) -> None:
    assert error_of(req(**fields)) == message


STRICT_ONLY = [
    ({"destination": "123"}, "destination: not a valid phone number: '123'"),
    ({"destination": "+447700900123"}, "destination: not a valid phone number: '+447700900123'"),
    (
        {"destination": "65 9123 4567"},
        "destination: not a valid phone number: '65 9123 4567' (E.164 expected)",
    ),
    (
        {"encoding": "GSM7", "text": "Привет"},
        "text: encoding GSM7 requested but text has non-GSM character 'П'",
    ),
]


@pytest.mark.parametrize(("fields", "message"), STRICT_ONLY)
def test_strict_refuses_what_the_default_keeps_flagged(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as e:
        validate_request(req(**fields), strict=True)
    assert str(e.value) == message
    assert send_request_record(validate_request(req(**fields)))["flags"]


def test_gsm7_requested_for_other_text_is_counted_as_sent_and_flagged() -> None:
    rec = send_request_record(validate_request(req(encoding="GSM7", text="Привет")))
    assert (rec["requested_encoding"], rec["encoding"], rec["sms_count"], rec["flags"]) == (
        "GSM7", "UCS2", 1, ["encoding_mismatch"])


@pytest.mark.parametrize(
    ("destination", "e164", "country", "flags"),
    [
        ("+447700900123", "+447700900123", "GB", ["number_unlisted"]),  # +44: GB (main region)
        ("4912345678901", "+4912345678901", "DE", ["number_unlisted"]),
        ("+12025550308", "+12025550308", "US", []),
        ("123", "+123", None, ["number_invalid"]),  # no calling code 123
        ("65 9123 4567", "65 9123 4567", None, ["number_invalid"]),
    ],
)
def test_by_default_a_destination_is_kept_and_flagged(
    destination: str, e164: str, country: str | None, flags: list[str]
) -> None:
    rec = send_request_record(validate_request(req(destination=destination)))
    assert (rec["destination"], rec["country"], rec["operator"], rec["flags"]) == (
        e164, country, None, flags)


def test_several_errors_in_one_line() -> None:
    assert error_of({"text": "x"}) == (
        "destination: required field missing; subAccountId: required field missing"
    )
    with pytest.raises(ValidationError, match="a request must be a JSON object, not list"):
        validate_request([1, 2])  # type: ignore[arg-type]


def test_parse_destination() -> None:
    assert parse_destination("+6591234567") == NumberInfo("+6591234567", "SG", "SingTel")
    assert parse_destination("4915112345678") == NumberInfo("+4915112345678", "DE", "T-Mobile")
    assert parse_destination("+12025550308") == NumberInfo("+12025550308", "US", None)
    for bad in ("", "+", "0065912345678", "+65912345678901234", "abc"):
        with pytest.raises(ValidationError, match="not a valid phone number"):
            parse_destination(bad)
