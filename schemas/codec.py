"""Encode and decode smsflow records.

Two wire formats, one interface (:class:`Codec`):

* :class:`SingleObjectCodec` (default, no server): Avro single-object encoding, i.e. the two
  marker bytes ``C3 01``, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's
  parsing canonical form, then the Avro binary body. Self-describing: any reader with the schema
  files decodes it.
* :class:`RegistryCodec` (when ``SMSFLOW_SCHEMA_REGISTRY_URL`` is set): Confluent wire format,
  magic byte ``00``, 4-byte big-endian schema id from the registry, then the Avro body.

Records are plain dicts with Python values: umid as ``str``, timestamps as aware UTC
``datetime`` (microseconds), money as ``Decimal`` (8 fractional digits), dates as ``date``,
enums as ``str``. Anything that does not decode (unknown fingerprint or id, truncated bytes,
bad magic) or does not fit the schema on encode raises :class:`~smsflow.errors.SchemaError`
with a ``reason`` tag for the dead-letter topic.

Avro bodies are written and read by code generated from the schema
(:mod:`schemas.compiled_writer`, :mod:`schemas.compiled_reader`), 2-4x faster than fastavro's
and exactly its bytes and records; where that code raises, fastavro answers.
"""

from __future__ import annotations

import io
import json
import struct
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.compiled_reader import compile_reader
from schemas.compiled_writer import compile_writer
from smsflow.config import Settings
from smsflow.errors import SchemaError

__all__ = [
    "SCHEMA_NAMES",
    "Codec",
    "RegistryCodec",
    "SingleObjectCodec",
    "get_codec",
    "load_schema",
    "money",
]

SCHEMA_DIR = Path(__file__).parent / "v1"
SCHEMA_NAMES = (
    "SendRequest",
    "DeliveryReceipt",
    "InboundMessage",
    "SurveyResponse",
    "OtpFeedback",
    "UrlClick",
    "MessageState",
    "DailyDelta",
    "DeadLetter",
)
SO_MARKER = b"\xc3\x01"
MONEY_QUANT = Decimal("0.00000001")


def money(value: Any) -> Decimal:
    """Exact money value with the schema's 8 fractional digits (never via float arithmetic)."""
    return Decimal(str(value)).quantize(MONEY_QUANT)


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed (fastavro) schema of ``name`` from ``schemas/v1/<name>.avsc``."""
    path = SCHEMA_DIR / f"{name}.avsc"
    if not path.exists():
        raise SchemaError(f"no schema named {name!r}", reason="unknown-schema")
    return fastavro.parse_schema(json.loads(path.read_text()))  # type: ignore[no-any-return]


@cache
def schema_json(name: str) -> str:
    return (SCHEMA_DIR / f"{name}.avsc").read_text()


@cache
def _compiled(name: str) -> Any:
    """The writer generated from the schema (``schemas/compiled_writer.py``), None if none."""
    return compile_writer(load_schema(name))


def _encode_body(name: str, record: dict[str, Any]) -> bytes:
    write = _compiled(name)
    if write is not None:
        try:  # the same bytes as fastavro's, 3-4x faster; it raises where it is not sure
            return write(record)  # type: ignore[no-any-return]
        except Exception:  # fastavro below answers: the bytes, or the reference error
            pass
    buf = io.BytesIO()
    try:
        fastavro.schemaless_writer(buf, load_schema(name), record, strict_allow_default=True)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as e:
        raise SchemaError(f"{name}: value does not fit the schema: {e}", reason="wrong-type") from e
    return buf.getvalue()


@cache
def _compiled_reader(name: str) -> Any:
    """The reader generated from the schema (``schemas/compiled_reader.py``), None if none."""
    return compile_reader(load_schema(name))


def _decode_body(name: str, body: bytes) -> dict[str, Any]:
    read = _compiled_reader(name)
    if read is not None:
        try:  # fastavro's record, ~2x faster; it raises on anything unusual
            return read(body)  # type: ignore[no-any-return]
        except Exception:  # fastavro below answers: the record, or the reference error
            pass
    buf = io.BytesIO(body)
    try:
        rec = fastavro.schemaless_reader(buf, load_schema(name), None)
    except (EOFError, StopIteration) as e:
        raise SchemaError(f"{name}: truncated record", reason="truncated") from e
    except Exception as e:  # fastavro raises many types on garbage
        raise SchemaError(f"{name}: undecodable body: {e}", reason="corrupt") from e
    if buf.tell() != len(body):
        raise SchemaError(
            f"{name}: {len(body) - buf.tell()} trailing bytes after the record", reason="corrupt"
        )
    umid = rec.get("umid")  # type: ignore[union-attr]
    if umid is not None and not isinstance(umid, str):
        rec["umid"] = str(umid)  # type: ignore[index]
    return rec  # type: ignore[return-value]


class Codec(Protocol):
    """Encode a named record to bytes and decode bytes back to ``(name, record)``."""

    def encode(self, name: str, record: dict[str, Any]) -> bytes: ...

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]: ...

    def decode_as(self, name: str, data: bytes) -> dict[str, Any]: ...


class _FramedCodec:
    """Decoding shared by both wire formats: ``_split`` reads the frame, the body is Avro."""

    def _split(self, data: bytes | None) -> tuple[str, bytes]:
        raise NotImplementedError

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        name, body = self._split(data)
        return name, _decode_body(name, body)

    def decode_as(self, name: str, data: bytes) -> dict[str, Any]:
        got, body = self._split(data)
        if got != name:
            raise SchemaError(f"expected {name}, got {got}", reason="wrong-schema")
        return _decode_body(name, body)


class SingleObjectCodec(_FramedCodec):
    """Avro single-object encoding with the CRC-64-AVRO fingerprint; needs no server."""

    def __init__(self) -> None:
        self._fp_by_name: dict[str, bytes] = {}
        self._name_by_fp: dict[bytes, str] = {}
        for name in SCHEMA_NAMES:
            canonical = to_parsing_canonical_form(load_schema(name))
            fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
            self._fp_by_name[name] = fp
            self._name_by_fp[fp] = name

    def fingerprint(self, name: str) -> bytes:
        return self._fp_by_name[name]

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        if name not in self._fp_by_name:
            raise SchemaError(f"no schema named {name!r}", reason="unknown-schema")
        return SO_MARKER + self._fp_by_name[name] + _encode_body(name, record)

    def _split(self, data: bytes | None) -> tuple[str, bytes]:
        if not data:
            raise SchemaError("empty record", reason="truncated")
        if len(data) < 10:
            if data[:2] == SO_MARKER[: len(data[:2])]:
                raise SchemaError(f"record of {len(data)} bytes is truncated", reason="truncated")
            raise SchemaError("not an Avro single-object record (bad marker)", reason="bad-magic")
        if data[:2] != SO_MARKER:
            raise SchemaError("not an Avro single-object record (bad marker)", reason="bad-magic")
        name = self._name_by_fp.get(data[2:10])
        if name is None:
            raise SchemaError(
                f"unknown schema fingerprint {data[2:10].hex()}", reason="unknown-schema"
            )
        return name, data[10:]


class RegistryCodec(_FramedCodec):
    """Confluent wire format with schema ids from a schema registry (subject ``<Name>-value``)."""

    def __init__(self, url: str, *, client: Any = None) -> None:
        """``client`` defaults to a ``SchemaRegistryClient`` for ``url`` (any object with the
        same ``register(subject, schema) -> id`` method works, e.g. in unit tests)."""
        from schema_registry.client import SchemaRegistryClient, schema

        self._client = client if client is not None else SchemaRegistryClient(url=url)
        self._schema = schema
        self._id_by_name: dict[str, int] = {}
        self._name_by_id: dict[int, str] = {}

    def _schema_id(self, name: str) -> int:
        if name not in self._id_by_name:
            if name not in SCHEMA_NAMES:
                raise SchemaError(f"no schema named {name!r}", reason="unknown-schema")
            sid = self._client.register(
                f"smsflow.v1.{name}-value", self._schema.AvroSchema(schema_json(name))
            )
            self._id_by_name[name] = sid
            self._name_by_id[sid] = name
        return self._id_by_name[name]

    def _name_for(self, sid: int) -> str:
        if sid not in self._name_by_id:
            for name in SCHEMA_NAMES:  # registers (idempotently) and learns every id
                self._schema_id(name)
        name = self._name_by_id.get(sid)
        if name is None:
            raise SchemaError(f"unknown schema id {sid}", reason="unknown-schema")
        return name

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        return b"\x00" + struct.pack(">I", self._schema_id(name)) + _encode_body(name, record)

    def _split(self, data: bytes | None) -> tuple[str, bytes]:
        if not data or len(data) < 5:
            raise SchemaError("record shorter than the 5-byte header", reason="truncated")
        if data[0] != 0:
            raise SchemaError("not a Confluent wire-format record (bad magic)", reason="bad-magic")
        return self._name_for(struct.unpack(">I", data[1:5])[0]), data[5:]


def get_codec(settings: Settings | None = None) -> Codec:
    """The registry codec when a schema registry URL is set, else single-object encoding."""
    if settings is not None and settings.schema_registry_url:
        return RegistryCodec(settings.schema_registry_url)
    return _single_object()


@cache
def _single_object() -> SingleObjectCodec:
    return SingleObjectCodec()
