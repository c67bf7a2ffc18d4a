"""deliver_sm -> records (producers.smpp_pdu) and the shared status mapping, no network."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import smpp34

from producers.dlr_status import PLATFORM_ERRORS, complete_status, status_of
from producers.smpp_pdu import PduError, parse_deliver_sm, redacted_pdu, umid_of_id
from simulator.smpp import mo_spec, receipt_spec
from simulator.smsc import deliver_fields
from smsflow.privacy import Privacy

NOW = dt.datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=dt.UTC)
AT = dt.datetime(2026, 11, 30, 9, 15, 42, tzinfo=dt.UTC)
U = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _pdu(spec: dict) -> bytes:
    dest, message, kw = deliver_fields(spec)
    return bytes(smpp34.DeliverSm(kw.pop("source_addr", ""), dest, message, **kw).encode())


def _parse(spec: dict) -> dict:
    return parse_deliver_sm(_pdu(spec), now=NOW, subaccount_id="acct").record


@pytest.mark.parametrize("form", [
    U, U.upper(), U.replace("-", ""), uuid.UUID(U).hex.upper(), "0x" + uuid.UUID(U).hex,
    str(uuid.UUID(U).int), str(uuid.UUID(U).int).zfill(39),
])
def test_id_forms_normalise_to_the_umid(form: str) -> None:
    assert umid_of_id(form) == U


def test_ids_with_leading_zeros_stripped_or_padded() -> None:
    small = "00000000-0000-0000-0000-00000000beef"
    assert umid_of_id("beef") == small == umid_of_id(str(0xBEEF)) == umid_of_id("48879")
    assert umid_of_id("000000000000000000000000000000000048879") == small
    for bad in ("", "xyz", "12-34", str(1 << 128)):
        with pytest.raises(ValueError):
            umid_of_id(bad)


def _rec(state: str, code: int | None = None) -> dict:
    return {"umid": U, "source": "ACME", "destination": "+6591234567", "state": state,
            "error_code": code, "status_at": AT, "mcc": "525", "mnc": "01"}


def test_text_receipt_fields_and_dates() -> None:
    r = _parse(receipt_spec(_rec("undelivered", 34), date_digits=12))
    assert (r["umid"], r["state"], r["detail"], r["error_code"], r["error_message"]) == (
        U, "undelivered", "rejected_by_operator", 34, "Filtered by operator (spam)")
    assert (r["status_at"], r["received_at"], r["mcc"], r["mnc"]) == (AT, NOW, "525", "01")
    assert (r["source"], r["destination"]) == ("ACME", "+6591234567")
    r10 = _parse(receipt_spec(_rec("delivered"), date_digits=10))
    assert r10["status_at"] == AT.replace(second=0)
    assert (r10["state"], r10["detail"], r10["error_code"]) == ("delivered", None, None)


def test_tlvs_win_over_the_text() -> None:
    spec = receipt_spec(_rec("undelivered", 13), form="tlv", id_form="decimal")
    other = "11111111-2222-4333-8444-555555555555"
    spec["short_message"] = receipt_spec({**_rec("delivered"), "umid": other})["short_message"]
    r = _parse(spec)
    assert (r["umid"], r["state"], r["error_code"]) == (U, "undelivered", 13)
    assert r["status_at"] == AT  # the done date still comes from the text


def test_tlv_only_receipt_is_stamped_on_arrival() -> None:
    r = _parse(receipt_spec(_rec("sent"), form="tlv", id_form="hex"))
    assert (r["umid"], r["state"], r["status_at"]) == (U, "sent", NOW)


@pytest.mark.parametrize(("text", "reason"), [
    ("no receipt here", "smpp-receipt-text"),
    (f"id:{U} sub:001 dlvrd:001 submit date:2611300915 done date:2611300915 stat:GONE err:000",
     "smpp-receipt-text"),
    (f"id:{U} sub:001 dlvrd:001 submit date:26113009 done date:2611300915 stat:DELIVRD err:0",
     "smpp-receipt-text"),
    ("id:not-an-id stat:DELIVRD", "missing-umid"),
])
def test_bad_receipt_text_is_refused_with_a_reason(text: str, reason: str) -> None:
    spec = receipt_spec(_rec("delivered"))
    spec["short_message"] = text.encode().hex()
    with pytest.raises(PduError) as e:
        _parse(spec)
    assert e.value.reason == reason


def test_case_variants_of_the_keys() -> None:
    spec = receipt_spec(_rec("delivered"))
    spec["short_message"] = (
        f"ID:{uuid.UUID(U).hex} SUB:001 DLVRD:001 Submit Date:2611300915 DONE DATE:261130091542"
        " Stat:delivrd ERR:000 Text:id:fake stat:UNDELIV"
    ).encode().hex()
    r = _parse(spec)
    assert (r["umid"], r["state"], r["status_at"]) == (U, "delivered", AT)


@pytest.mark.parametrize(("body", "coding", "encoding"), [
    ("Hi @ {x} €", 0, "GSM7"), ("Hi @ {x} €", 1, "GSM7"), ("Привет 😀", 8, "UCS2"),
    ("Très café", 3, "GSM7"), ("Crème brûlée", 3, "UCS2"),
])
def test_mo_text_per_data_coding(body: str, coding: int, encoding: str) -> None:
    rec = {"umid": U, "source": "+6581968289", "destination": "+4534735477", "body": body,
           "encoding": encoding}
    r = _parse(mo_spec(rec, data_coding=coding))
    assert (r["umid"], r["body"], r["encoding"], r["sms_count"]) == (U, body, encoding, 1)
    assert (r["source"], r["destination"], r["subaccount_id"]) == (
        "+6581968289", "+4534735477", "acct")


def test_undecodable_pdus() -> None:
    good = _pdu(receipt_spec(_rec("delivered")))
    for raw in (good[:-3], good[:10], b"\x00" * 16):
        with pytest.raises(PduError):
            parse_deliver_sm(raw, now=NOW, subaccount_id="a")


def test_redacted_pdu_drops_mo_text_and_masks_numbers() -> None:
    rec = {"umid": U, "source": "+6581968289", "destination": "+4534735477",
           "body": "Your code 123456", "encoding": "GSM7"}
    raw = _pdu(mo_spec(rec))
    red = smpp34.decode(redacted_pdu(raw, Privacy(phones="mask")))
    assert red.short_message == b"" and red.source_addr == "+65*****289"
    assert redacted_pdu(raw, Privacy(store_text=True)) == raw
    assert redacted_pdu(raw[:-2], Privacy()) == raw[:16]
    receipt = _pdu(receipt_spec(_rec("delivered"), text="Your code 123456"))
    kept = smpp34.decode(redacted_pdu(receipt, Privacy())).short_message
    assert kept.endswith(b"text:") and b"stat:DELIVRD" in kept


def test_one_status_mapping_for_both_channels() -> None:
    assert status_of("undeliv", 11) == complete_status("undelivered", None, 11, None)
    assert status_of("DELIVRD", 0) == ("delivered", None, None, None)
    assert status_of("REJECTD", 36).detail == PLATFORM_ERRORS[36].detail
    assert complete_status("undelivered", "x", 1, "y") == ("undelivered", "x", 1, "y")
    with pytest.raises(ValueError):
        status_of("LOST", 0)
