"""Simulator records as the platform's SMPP ``deliver_sm`` (control-port specs of the test SMSC).

:func:`receipt_spec` writes a ``DeliveryReceipt`` record as a receipt: the standard text, the
TLVs, or both; the id as the UUID, 32 hex digits or the decimal number (zero-padded to 39);
dates of 10 or 12 digits. :func:`mo_spec` writes an ``InboundMessage`` as an MO with the umid
in TLV 0x1502 and the text in GSM 03.38 (data coding 0) or UCS-2 (8). The status words come
from :mod:`producers.dlr_status`, the mapping the bridge reads them back with.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import gsm0338  # noqa: F401  (registers the gsm03.38 codec)

from producers.dlr_status import MESSAGE_STATES, smpp_stat

__all__ = ["SMPP_KINDS", "deliver_over_smpp", "mo_spec", "receipt_spec", "smpp_id"]

_STATE_NUMBER = {word: n for n, word in MESSAGE_STATES.items()}


def smpp_id(umid: str, form: Literal["uuid", "hex", "decimal"]) -> str:
    u = uuid.UUID(umid)
    if form == "hex":
        return u.hex
    if form == "decimal":
        return str(u.int).zfill(39)
    return str(u)


def _date(at: dt.datetime, digits: int) -> str:
    return at.astimezone(dt.UTC).strftime("%y%m%d%H%M%S" if digits == 12 else "%y%m%d%H%M")


def _digits(number: str | None) -> tuple[str, int]:
    """(address, TON) of a number: E.164 as international digits, else as it is."""
    n = number or ""
    if n.startswith("+") and n[1:].isdigit():
        return n[1:], 1
    return n, 5 if any(c.isalpha() for c in n) else 0


def receipt_spec(
    rec: dict[str, Any],
    *,
    form: Literal["text", "tlv", "both"] = "text",
    id_form: Literal["uuid", "hex", "decimal"] = "uuid",
    date_digits: int = 12,
    text: str = "",
) -> dict[str, Any]:
    """The deliver_sm spec of a receipt record (its umid, state, error code, MCC/MNC)."""
    stat = smpp_stat(rec["state"])
    code = rec.get("error_code") or 0
    msg_id = smpp_id(rec["umid"], id_form)
    at = rec["status_at"]
    short = b""
    if form in ("text", "both"):
        dlvrd = "001" if stat == "DELIVRD" else "000"
        short = (
            f"id:{msg_id} sub:001 dlvrd:{dlvrd} submit date:{_date(at, date_digits)} "
            f"done date:{_date(at, date_digits)} stat:{stat} err:{code:03d} text:{text}"
        ).encode("latin-1")
    tlvs: list[list[Any]] = []
    if form in ("tlv", "both"):
        tlvs.append([0x001E, (msg_id.encode() + b"\x00").hex()])
        tlvs.append([0x0427, bytes([_STATE_NUMBER[stat]]).hex()])
        if code:
            tlvs.append([0x0423, (bytes([1]) + code.to_bytes(2, "big")).hex()])
    if rec.get("mcc"):
        tlvs.append([0x1503, rec["mcc"].encode().hex()])
    if rec.get("mnc"):
        tlvs.append([0x1504, rec["mnc"].encode().hex()])
    handset, handset_ton = _digits(rec.get("destination"))
    sender, sender_ton = _digits(rec.get("source"))
    return {
        "source_addr": handset,
        "source_addr_ton": handset_ton,
        "source_addr_npi": 1 if handset_ton == 1 else 0,
        "destination_addr": sender,
        "dest_addr_ton": sender_ton,
        "esm_class": 0x04,
        "short_message": short.hex(),
        "tlvs": tlvs,
    }


def mo_spec(rec: dict[str, Any], *, data_coding: int | None = None) -> dict[str, Any]:
    """The deliver_sm spec of an ``InboundMessage`` record (GSM7 as 0, UCS2 as 8)."""
    coding = data_coding if data_coding is not None else (0 if rec["encoding"] == "GSM7" else 8)
    codec = {0: "gsm03.38", 1: "gsm03.38", 3: "latin-1", 8: "utf-16-be"}[coding]
    source, source_ton = _digits(rec["source"])
    dest, dest_ton = _digits(rec["destination"])
    return {
        "source_addr": source,
        "source_addr_ton": source_ton,
        "source_addr_npi": 1 if source_ton == 1 else 0,
        "destination_addr": dest,
        "dest_addr_ton": dest_ton,
        "esm_class": 0,
        "data_coding": coding,
        "short_message": rec["body"].encode(codec).hex(),
        "tlvs": [[0x1502, rec["umid"].encode().hex()]],
    }


SMPP_KINDS = ("receipts", "inbound")


async def deliver_over_smpp(
    control_port: int, events: list[tuple[str, str, dict[str, Any]]], *, window: int = 256
) -> dict[str, int]:
    """Deliver the receipt and MO events (in order, ``window`` unanswered at most) through the
    test SMSC's control port; the count per kind answered with status 0. What SMPP cannot
    carry (prices, batch/client ids, subaccount, receipt detail of delivered messages,
    sub-second status times) does not reach the bridge."""
    from producers.sim_smsc import SmscControl

    control = await SmscControl.connect(control_port)
    try:
        specs = [
            receipt_spec(rec) if kind == "receipts" else mo_spec(rec)
            for kind, _, rec in events if kind in SMPP_KINDS
        ]
        kinds = [kind for kind, _, _ in events if kind in SMPP_KINDS]
        statuses = await control.deliver_all(specs, window)
    finally:
        await control.close()
    out = dict.fromkeys(SMPP_KINDS, 0)
    for kind, status in zip(kinds, statuses, strict=True):
        out[kind] += status == 0
    return out
