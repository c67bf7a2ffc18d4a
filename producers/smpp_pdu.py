"""SMPP ``deliver_sm`` PDUs to the Avro input records the webhook receiver produces.

The PDU is decoded by :mod:`smpp34` (its Rust codec); this module only reads fields:

* a receipt (``esm_class`` message type 0x04 SMSC delivery receipt or 0x20 intermediate
  notification) becomes a ``DeliveryReceipt``: the standard text
  ``id:.. sub:.. dlvrd:.. submit date:yyMMddHHmm[ss] done date:.. stat:.. err:.. text:..``
  (keys in any case, ``Text:`` too) and the TLVs ``receipted_message_id`` 0x001E,
  ``message_state`` 0x0427, ``network_error_code`` 0x0423, which win over the text when both
  are there; vendor TLVs 0x1503 / 0x1504 are the destination MCC / MNC. Status, detail and
  error fields come from :mod:`producers.dlr_status` (the mapping the webhook path uses).
* anything else is an MO and becomes an ``InboundMessage``: umid from the vendor TLV 0x1502,
  text decoded per data coding (0/1 GSM 03.38, 3 Latin-1, 8 UCS-2) from ``short_message`` or
  ``message_payload``.

Message ids (:func:`umid_of_id`): a UUID (any case, dashes or not) is the umid; an id of hex
digits (with a hex letter, or 32 long) is the UUID's 128-bit number in hex, an id of decimal
digits is that number in decimal, leading zeros either way. Timestamps in receipt text are UTC.

Anything unusable raises :class:`PduError` with a dead-letter reason tag.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

import gsm0338  # noqa: F401  (registers the gsm03.38 codec)
import smpp34

from producers.dlr_status import MESSAGE_STATES, status_of
from producers.segments import count_segments
from smsflow.errors import ValidationError
from smsflow.privacy import Privacy

__all__ = [
    "DELIVER_SM",
    "PduError",
    "SmppEvent",
    "parse_deliver_sm",
    "parse_receipt_text",
    "redacted_pdu",
    "umid_of_id",
]

DELIVER_SM = 0x00000005
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_NETWORK_ERROR_CODE = 0x0423
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_MESSAGE_STATE = 0x0427
TLV_MO_UMID = 0x1502
TLV_DEST_MCC = 0x1503
TLV_DEST_MNC = 0x1504
_RECEIPT_TYPES = (0x04, 0x20)  # esm_class bits 2-5: SMSC delivery receipt, intermediate

_KEYS = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text")
_KEY_RE = re.compile(r"(?i)(?:^|\s)(id|sub|dlvrd|submit date|done date|stat|err|text):")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


class PduError(ValidationError):
    """A deliver_sm that cannot become a record; ``reason`` is the dead-letter tag."""

    def __init__(self, message: str, *, reason: str = "smpp-malformed") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SmppEvent:
    """A parsed deliver_sm: the Avro schema name and its record."""

    schema: str  # DeliveryReceipt | InboundMessage
    record: dict[str, Any]


def umid_of_id(value: str) -> str:
    """The canonical umid of a receipt's message id (see the module doc); ValueError if the
    id is not one of those forms."""
    s = value.strip().strip("\x00")
    if not s:
        raise ValueError("empty message id")
    if "-" in s:
        return str(uuid.UUID(s))
    if s[:2].lower() == "0x":
        s = s[2:]
    if not _HEX.match(s):
        raise ValueError(f"message id {value[:40]!r} is neither a UUID, hex nor decimal")
    if s.isdigit() and len(s) != 32:
        n = int(s)
    else:
        n = int(s, 16)
    if n >= 1 << 128:
        raise ValueError(f"message id {value[:40]!r} is larger than 128 bits")
    return str(uuid.UUID(int=n))


def _smpp_date(value: str, key: str) -> dt.datetime:
    if not value.isdigit() or len(value) not in (10, 12):
        raise PduError(f"{key} {value[:20]!r} is not yyMMddHHmm[ss]", reason="smpp-receipt-text")
    try:
        return dt.datetime.strptime(
            value, "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M"
        ).replace(tzinfo=dt.UTC)
    except ValueError:
        raise PduError(f"{key} {value!r} is not a date", reason="smpp-receipt-text") from None


def parse_receipt_text(text: str) -> dict[str, str]:
    """The fields of a standard receipt text, keys lower case (``submit date`` etc.); empty
    when the text has no ``id:`` / ``stat:`` key at all. ``text:`` takes the rest."""
    found = list(_KEY_RE.finditer(text))
    out: dict[str, str] = {}
    for i, m in enumerate(found):
        key = m.group(1).lower()
        end = found[i + 1].start() if i + 1 < len(found) and key != "text" else len(text)
        if key == "text":
            out[key] = text[m.end():]
            break
        out.setdefault(key, text[m.end():end].strip())
    return out


def _tlvs(pdu: Any) -> dict[int, bytes]:
    return {t.tag: bytes(t.value) for t in pdu.tlvs}


def _ascii(raw: bytes, what: str) -> str:
    try:
        return raw.rstrip(b"\x00").decode("ascii")
    except UnicodeDecodeError:
        raise PduError(f"{what} is not ASCII") from None


def _address(addr: str, ton: int) -> str:
    """E.164 with '+' for an international (TON 1) number; others as they are."""
    a = addr.strip()
    if ton == 1 and a.isdigit():
        return "+" + a
    return a


def _receipt(pdu: Any, tlvs: dict[int, bytes], now: dt.datetime) -> dict[str, Any]:
    raw = pdu.short_message or tlvs.get(TLV_MESSAGE_PAYLOAD, b"")
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        text = ""
    fields = parse_receipt_text(text)
    if TLV_RECEIPTED_MESSAGE_ID in tlvs:
        msg_id = _ascii(tlvs[TLV_RECEIPTED_MESSAGE_ID], "receipted_message_id")
    elif "id" in fields:
        msg_id = fields["id"]
    else:
        raise PduError("receipt without receipted_message_id or id:", reason="smpp-receipt-text")
    try:
        umid = umid_of_id(msg_id)
    except ValueError as e:
        raise PduError(str(e), reason="missing-umid") from None
    if TLV_MESSAGE_STATE in tlvs:
        v = tlvs[TLV_MESSAGE_STATE]
        if len(v) != 1 or v[0] not in MESSAGE_STATES:
            raise PduError(f"message_state TLV {v.hex()} is not 1-9")
        stat = MESSAGE_STATES[v[0]]
    elif "stat" in fields:
        stat = fields["stat"]
    else:
        raise PduError("receipt without message_state or stat:", reason="smpp-receipt-text")
    if TLV_NETWORK_ERROR_CODE in tlvs:
        v = tlvs[TLV_NETWORK_ERROR_CODE]
        if len(v) != 3:
            raise PduError(f"network_error_code TLV of {len(v)} octets (3 expected)")
        code: int | None = int.from_bytes(v[1:3], "big")
    elif fields.get("err"):
        if not fields["err"].isdigit():
            raise PduError(
                f"err {fields['err'][:10]!r} is not a number", reason="smpp-receipt-text"
            )
        code = int(fields["err"])
    else:
        code = None
    try:
        status = status_of(stat, code)
    except ValueError as e:
        raise PduError(str(e), reason="smpp-receipt-text") from None
    done = fields.get("done date")
    status_at = _smpp_date(done, "done date") if done else now
    if fields.get("submit date"):
        _smpp_date(fields["submit date"], "submit date")
    mcc = _ascii(tlvs[TLV_DEST_MCC], "MCC TLV") if TLV_DEST_MCC in tlvs else None
    mnc = _ascii(tlvs[TLV_DEST_MNC], "MNC TLV") if TLV_DEST_MNC in tlvs else None
    return {
        "umid": umid,
        "batch_id": None,
        "client_message_id": None,
        "client_batch_id": None,
        "subaccount_id": None,
        # a receipt comes from the handset: its source is the message's destination
        "source": _address(pdu.destination_addr, pdu.dest_addr_ton) or None,
        "destination": _address(pdu.source_addr, pdu.source_addr_ton) or None,
        "state": status.state,
        "detail": status.detail,
        "status_at": status_at,
        "error_code": status.error_code,
        "error_message": status.error_message,
        "price_total": None,
        "price_per_sms": None,
        "currency": None,
        "sms_count": None,
        "mcc": mcc or None,
        "mnc": mnc or None,
        "operator": None,
        "received_at": now,
    }


def _decode_text(raw: bytes, data_coding: int) -> tuple[str, str]:
    """(text, encoding of the record) of MO bytes under their data coding."""
    try:
        if data_coding in (0, 1):
            return raw.decode("gsm03.38"), "GSM7"
        if data_coding == 3:
            text = raw.decode("latin-1")
            return text, count_segments(text).encoding
        if data_coding == 8:
            if len(raw) % 2:
                raise PduError(f"UCS-2 text of odd length {len(raw)}", reason="smpp-bad-text")
            return raw.decode("utf-16-be"), "UCS2"
    except UnicodeDecodeError as e:
        raise PduError(f"text does not decode as data coding {data_coding}: {e.reason}",
                       reason="smpp-bad-text") from None
    raise PduError(f"unsupported data coding {data_coding}", reason="smpp-bad-text")


def _inbound(
    pdu: Any, tlvs: dict[int, bytes], now: dt.datetime, subaccount_id: str
) -> dict[str, Any]:
    if TLV_MO_UMID not in tlvs:
        raise PduError("MO without the umid TLV 0x1502", reason="missing-umid")
    try:
        umid = umid_of_id(_ascii(tlvs[TLV_MO_UMID], "umid TLV"))
    except ValueError as e:
        raise PduError(str(e), reason="missing-umid") from None
    if pdu.esm_class & 0x40:
        raise PduError("MO with a user data header (concatenated part) is not supported")
    raw = pdu.short_message or tlvs.get(TLV_MESSAGE_PAYLOAD, b"")
    text, encoding = _decode_text(raw, pdu.data_coding)
    return {
        "umid": umid,
        "subaccount_id": subaccount_id,
        "received_at": now,
        "source": _address(pdu.source_addr, pdu.source_addr_ton),
        "destination": _address(pdu.destination_addr, pdu.dest_addr_ton),
        "body": text,
        "encoding": encoding,
        "sms_count": count_segments(text, encoding).parts,
        "price_total": None,
        "price_per_sms": None,
        "currency": None,
    }


def parse_deliver_sm(raw: bytes, *, now: dt.datetime, subaccount_id: str) -> SmppEvent:
    """The record of one raw deliver_sm PDU (header included); :class:`PduError` when it is
    not a well-formed deliver_sm or its content is unusable."""
    try:
        pdu = smpp34.decode(raw)
    except (smpp34.SmppError, ValueError) as e:
        raise PduError(f"undecodable PDU: {e}") from None
    if not isinstance(pdu, smpp34.DeliverSm):
        raise PduError(f"not a deliver_sm (command_id {pdu.command_id:#010x})")
    tlvs = _tlvs(pdu)
    if (pdu.esm_class & 0x3C) in _RECEIPT_TYPES:
        return SmppEvent("DeliveryReceipt", _receipt(pdu, tlvs, now))
    return SmppEvent("InboundMessage", _inbound(pdu, tlvs, now, subaccount_id))


def redacted_pdu(raw: bytes, privacy: Privacy) -> bytes:
    """The dead-letter copy of a raw deliver_sm under the privacy policy.

    A PDU that decodes is re-encoded with its addresses under the phone policy and its text
    under the text policy (MO text dropped unless ``store_text``; a receipt keeps its standard
    fields, its ``text:`` sample likewise dropped). One that does not decode is kept whole only
    when text is stored and numbers are plain, else only its 16-octet header.
    """
    try:
        pdu = smpp34.decode(raw)
    except (smpp34.SmppError, ValueError):
        pdu = None
    if not isinstance(pdu, smpp34.DeliverSm):
        return raw if privacy.store_text and privacy.phones == "plain" else raw[:16]

    def text_of(data: bytes) -> bytes:
        if privacy.store_text:
            return data
        if (pdu.esm_class & 0x3C) in _RECEIPT_TYPES:
            text = data.decode("latin-1")
            m = re.search(r"(?i)(?:^|\s)text:", text)
            return (text[: m.end()] if m else text).encode("latin-1")
        return b""

    tlvs = [
        smpp34.Tlv(t.tag, text_of(bytes(t.value)) if t.tag == TLV_MESSAGE_PAYLOAD else t.value)
        for t in pdu.tlvs
    ]
    return bytes(
        smpp34.DeliverSm(
            privacy.phone(pdu.source_addr),
            privacy.phone(pdu.destination_addr),
            text_of(pdu.short_message),
            service_type=pdu.service_type,
            source_addr_ton=pdu.source_addr_ton,
            source_addr_npi=pdu.source_addr_npi,
            dest_addr_ton=pdu.dest_addr_ton,
            dest_addr_npi=pdu.dest_addr_npi,
            esm_class=pdu.esm_class,
            protocol_id=pdu.protocol_id,
            priority_flag=pdu.priority_flag,
            registered_delivery=pdu.registered_delivery,
            data_coding=pdu.data_coding,
            tlvs=tlvs,
            sequence_number=pdu.sequence_number,
        ).encode()
    )
