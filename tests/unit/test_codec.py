"""Codec round trips in both wire formats; corrupted, truncated and mistyped data."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fastavro
import pytest

from schemas import SCHEMA_NAMES, RegistryCodec, SingleObjectCodec
from schemas.codec import RELEASED_DIR, SO_MARKER, Codec, load_schema, schema_fingerprint
from smsflow.errors import SchemaError
from tests.unit.avro_samples import sample_record

SCHEMA_DIR = Path(__file__).parents[2] / "schemas" / "v1"
UMID = "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a"

RECEIPT = {
    "umid": UMID,
    "batch_id": None,
    "client_message_id": "cm-1",
    "client_batch_id": None,
    "subaccount_id": "SubAccount-1",
    "source": "MyBrand",
    "destination": "+6591234567",
    "state": "delivered",
    "detail": "delivered_to_recipient",
    "status_at": dt.datetime(2020, 12, 22, 1, 24, 30, 603089, tzinfo=dt.UTC),
    "error_code": None,
    "error_message": None,
    "price_total": Decimal("0.04465920"),
    "price_per_sms": Decimal("0.04465920"),
    "currency": "EUR",
    "sms_count": 1,
    "mcc": "525",
    "mnc": "01",
    "operator": "SingTel",
    "received_at": None,
}


class FakeRegistry:
    """In-memory stand-in for the schema registry client: ``register(subject, schema) -> id``."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def register(self, subject: str, schema: Any) -> int:
        return self.ids.setdefault(subject, 100 + len(self.ids))


def registry_codec(registry: FakeRegistry) -> RegistryCodec:
    return RegistryCodec("http://registry.invalid:8081", client=registry)  # no server here


def samples() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name in SCHEMA_NAMES:
        schema = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())
        out.extend((name, sample_record(schema, i)) for i in range(6))
    return out


@pytest.fixture(params=["single-object", "registry"])
def codec(request: pytest.FixtureRequest) -> Codec:
    if request.param == "registry":
        return registry_codec(FakeRegistry())
    return SingleObjectCodec()


@pytest.mark.parametrize(("name", "record"), samples())
def test_round_trip_every_schema(codec: Codec, name: str, record: dict[str, Any]) -> None:
    data = codec.encode(name, record)
    assert codec.decode(data) == (name, record)
    assert codec.decode_as(name, data) == record


def test_receipt_values_survive_exactly(codec: Codec) -> None:
    name, got = codec.decode(codec.encode("DeliveryReceipt", RECEIPT))
    assert name == "DeliveryReceipt"
    assert got == RECEIPT
    assert str(got["price_total"]) == "0.04465920"
    assert got["status_at"].tzinfo is not None and got["status_at"].utcoffset() == dt.timedelta(0)


def test_single_object_framing() -> None:
    codec = SingleObjectCodec()
    data = codec.encode("DeliveryReceipt", RECEIPT)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == codec.fingerprint("DeliveryReceipt")
    assert len({codec.fingerprint(n) for n in SCHEMA_NAMES}) == len(SCHEMA_NAMES)


def test_confluent_framing_and_ids() -> None:
    registry = FakeRegistry()
    writer = registry_codec(registry)
    data = writer.encode("DeliveryReceipt", RECEIPT)
    sid = registry.ids["smsflow.v1.DeliveryReceipt-value"]
    assert data[:5] == b"\x00" + struct.pack(">I", sid)
    assert data[5:] == SingleObjectCodec().encode("DeliveryReceipt", RECEIPT)[10:]
    # a fresh reader learns the ids from the registry
    assert registry_codec(registry).decode(data) == ("DeliveryReceipt", RECEIPT)


def test_confluent_errors() -> None:
    codec = registry_codec(FakeRegistry())
    data = codec.encode("UrlClick", sample_record(_schema("UrlClick"), 1))
    cases = [
        (b"", "truncated"),
        (b"\x00\x00\x00", "truncated"),
        (b"\x01" + data[1:], "bad-magic"),
        (b"\x00" + struct.pack(">I", 999) + data[5:], "unknown-schema"),
        (data[:-4], "truncated"),
        (data + b"\x00\x00", "corrupt"),
    ]
    for bad, reason in cases:
        with pytest.raises(SchemaError) as info:
            codec.decode(bad)
        assert info.value.reason == reason, bad


def test_single_object_errors() -> None:
    codec = SingleObjectCodec()
    data = codec.encode("UrlClick", sample_record(_schema("UrlClick"), 1))
    cases = [
        (b"", "truncated"),
        (b"\xc3\x01\x00", "truncated"),
        (b"{}", "bad-magic"),
        (b'{"umid": "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a"}', "bad-magic"),
        (b"\xc3\x01" + b"\xff" * 8 + data[10:], "unknown-schema"),
        (data[:10], "truncated"),
        (data[:-3], "truncated"),
        (data + b"\x01", "corrupt"),
    ]
    for bad, reason in cases:
        with pytest.raises(SchemaError) as info:
            codec.decode(bad)
        assert info.value.reason == reason, bad


def test_corrupted_bytes_never_pass_silently() -> None:
    """Every single-byte corruption of a record either raises SchemaError or decodes to a
    record that differs from the original (it never crashes with another exception)."""
    codec = SingleObjectCodec()
    data = codec.encode("DeliveryReceipt", RECEIPT)
    raised = 0
    for pos in range(len(data)):
        bad = bytearray(data)
        bad[pos] ^= 0xFF
        try:
            _, rec = codec.decode(bytes(bad))
        except SchemaError:
            raised += 1
        else:
            assert rec != RECEIPT, pos
    assert raised >= 10  # the 10 header bytes at least


def test_wrong_schema_and_wrong_types(codec: Codec) -> None:
    data = codec.encode("DeliveryReceipt", RECEIPT)
    with pytest.raises(SchemaError) as info:
        codec.decode_as("InboundMessage", data)
    assert info.value.reason == "wrong-schema"
    for bad in (
        {**RECEIPT, "sms_count": "one"},
        {**RECEIPT, "state": "lost"},
        {k: v for k, v in RECEIPT.items() if k != "status_at"},
    ):
        with pytest.raises(SchemaError) as info:
            codec.encode("DeliveryReceipt", bad)
        assert info.value.reason == "wrong-type"
    with pytest.raises(SchemaError) as info:
        codec.encode("NoSuchRecord", {})
    assert info.value.reason == "unknown-schema"


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())  # type: ignore[no-any-return]



def _released_frames(name: str) -> list[tuple[dict[str, Any], bytes]]:
    """(released raw schema, a sample record's Avro body written with it) per version."""
    out = []
    for path in sorted((RELEASED_DIR / name).glob("v*.avsc")):
        raw = json.loads(path.read_text())
        buf = io.BytesIO()
        fastavro.schemaless_writer(
            buf, fastavro.parse_schema(raw, named_schemas={}), sample_record(raw, 3)
        )
        out.append((raw, buf.getvalue()))
    return out


class _OldRegistry(FakeRegistry):
    """A registry that also holds an earlier version of a schema under id 999."""

    def __init__(self, raw: dict[str, Any]) -> None:
        super().__init__()
        self.raw = raw

    def get_by_id(self, sid: int) -> Any:
        return SimpleNamespace(raw_schema=self.raw) if sid == 999 else None


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_records_of_every_released_version_decode_after_an_upgrade(name: str) -> None:
    """Topics and the compacted changelog keep records written before a schema change: each
    released version's fingerprint (single-object) and registry id (Confluent) still decode,
    fields added since then taking the current schema's defaults."""
    current = load_schema(name)
    frames = _released_frames(name)
    assert frames, f"{name} has no released version"
    for raw, body in frames:
        writer = fastavro.parse_schema(raw, named_schemas={})
        want = fastavro.schemaless_reader(io.BytesIO(body), writer, current)
        if "umid" in want:
            want["umid"] = str(want["umid"])
        single = SingleObjectCodec().decode_as(name, SO_MARKER + schema_fingerprint(writer) + body)
        assert single == want
        framed = b"\x00" + struct.pack(">I", 999) + body
        assert registry_codec(_OldRegistry(raw)).decode_as(name, framed) == want
