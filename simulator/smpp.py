"""Simulator records as the platform's SMPP ``deliver_sm`` (control-port specs of the test SMSC).

:func:`receipt_spec` writes a ``DeliveryReceipt`` record as a receipt: the standard text, the
TLVs, or both; the id as the UUID, 32 hex digits or the decimal number (zero-padded to 39);
dates of 10 or 12 digits. :func:`mo_spec` writes an ``InboundMessage`` as an MO with the umid
in TLV 0x1502 and the text in GSM 03.38 (data coding 0) or UCS-2 (8). The status words come
from :mod:`producers.dlr_status`, the mapping the bridge reads them back with.

:func:`smpp_record` is the ground truth of such a receipt: what SMPP carries of the record,
derived from the record itself, not by reading the PDU back with the bridge's parser (a parser
bug would change the truth with it, and the e2e suite could not see it).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any, Literal

import gsm0338  # noqa: F401  (registers the gsm03.38 codec)

from producers.dlr_status import MESSAGE_STATES, smpp_stat, status_of

__all__ = [
    "SMPP_KINDS",
    "SmppChannel",
    "deliver_over_smpp",
    "deliver_specs",
    "mo_spec",
    "receipt_spec",
    "smpp_id",
    "smpp_receipt",
    "smpp_record",
]

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


def smpp_record(rec: dict[str, Any], *, date_digits: int = 12) -> dict[str, Any]:
    """The ``DeliveryReceipt`` record an SMPP receipt of ``rec`` (:func:`receipt_spec`) carries
    to smsflow, derived from ``rec``: the umid, the addresses, the status of ``stat`` / ``err``
    through :mod:`producers.dlr_status` (``read`` goes as DELIVRD; detail and error message
    come from the error code, not from ``rec``), the done date to the second (12 digits) or
    minute (10), MCC / MNC. No price, sms count, batch or client ids, subaccount or operator
    name: SMPP has no field for them. ``received_at`` is None like the webhook records'."""
    status = status_of(smpp_stat(rec["state"]), rec.get("error_code") or 0)
    at = rec["status_at"].astimezone(dt.UTC).replace(microsecond=0)
    if date_digits == 10:
        at = at.replace(second=0)
    return {
        "umid": str(uuid.UUID(rec["umid"])),
        "batch_id": None,
        "client_message_id": None,
        "client_batch_id": None,
        "subaccount_id": None,
        "source": rec.get("source") or None,
        "destination": rec.get("destination") or None,
        "state": status.state,
        "detail": status.detail,
        "status_at": at,
        "error_code": status.error_code,
        "error_message": status.error_message,
        "price_total": None,
        "price_per_sms": None,
        "currency": None,
        "sms_count": None,
        "mcc": rec.get("mcc") or None,
        "mnc": rec.get("mnc") or None,
        "operator": None,
        "received_at": None,
    }


def smpp_receipt(
    rec: dict[str, Any], rng: random.Random
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(deliver_sm spec, record) of a receipt the platform sends over SMPP: the spec in a form
    drawn from ``rng`` (text or text + TLVs, id as UUID / hex / decimal, 12- or 10-digit
    dates), and the record what it carries (:func:`smpp_record`). TLV-only receipts are not
    drawn: their time would be the arrival time."""
    form = "both" if rng.random() < 0.5 else "text"
    id_form = ("uuid", "hex", "decimal")[rng.randrange(3)]
    digits = 10 if rng.random() < 0.2 else 12
    spec = receipt_spec(rec, form=form, id_form=id_form, date_digits=digits)
    return spec, smpp_record(rec, date_digits=digits)


class SmppChannel:
    """Which receipts the platform sends over SMPP: a share of them, drawn per receipt from a
    generator of its own (seeded by the simulation's seed), so the traffic itself does not
    depend on the share; share 0 draws nothing."""

    def __init__(self, seed: int, share: float) -> None:
        self.share = share
        self.rng = random.Random(f"smpp-channel-{seed}")

    def receipt(self, rec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(record as it reaches smsflow, deliver_sm spec or None when it comes by webhook)."""
        if not self.share or self.rng.random() >= self.share:
            return rec, None
        spec, record = smpp_receipt(rec, self.rng)
        return record, spec


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
    specs = [
        (kind, receipt_spec(rec) if kind == "receipts" else mo_spec(rec))
        for kind, _, rec in events if kind in SMPP_KINDS
    ]
    return await deliver_specs(control_port, specs, window=window)


async def deliver_specs(
    control_port: int, specs: list[tuple[str, dict[str, Any]]], *, window: int = 256
) -> dict[str, int]:
    """Deliver (kind, deliver_sm spec) pairs in order (e.g. a simulation's ``smpp`` specs)
    through the test SMSC's control port; the count per kind answered with status 0."""
    from simulator.smsc import SmscControl

    control = await SmscControl.connect(control_port)
    try:
        statuses = await control.deliver_all([spec for _, spec in specs], window)
    finally:
        await control.close()
    out = dict.fromkeys(SMPP_KINDS, 0)
    for (kind, _), status in zip(specs, statuses, strict=True):
        out[kind] += status == 0
    return out
