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

Records written with an earlier released version of a schema (``schemas/released/<Name>/
v<N>.avsc``: topics and the compacted message-state changelog written before an upgrade) are
read with that version as the writer schema and the current one as the reader schema (Avro
schema resolution: fields added since then take their defaults), by fingerprint in single-object
encoding and by the registry's schema of the id in the Confluent format.

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
RELEASED_DIR = Path(__file__).parent / "released"
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
def released_schemas(name: str) -> tuple[dict[str, Any], ...]:
    """The parsed released versions of ``name`` (``schemas/released/<name>/v<N>.avsc``)."""
    paths = sorted((RELEASED_DIR / name).glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    return tuple(fastavro.parse_schema(json.loads(p.read_text()), named_schemas={})
                 for p in paths)


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint of a parsed schema's parsing canonical form."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


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


def _decode_body(name: str, body: bytes, writer: dict[str, Any] | None = None) -> dict[str, Any]:
    """``body`` as a ``name`` record; ``writer`` is the schema it was written with when that is
    not the current one (an earlier release), resolved to the current schema."""
    read = _compiled_reader(name) if writer is None else None
    if read is not None:
        try:  # fastavro's record, ~2x faster; it raises on anything unusual
            return read(body)  # type: ignore[no-any-return]
        except Exception:  # fastavro below answers: the record, or the reference error
            pass
    buf = io.BytesIO(body)
    try:
        rec = fastavro.schemaless_reader(buf, writer or load_schema(name), load_schema(name)
                                         if writer is not None else None)
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


#: (schema name, Avro body, writer schema when it is an earlier release, else None)
_Frame = tuple[str, bytes, dict[str, Any] | None]


class _FramedCodec:
    """Decoding shared by both wire formats: ``_split`` reads the frame, the body is Avro."""

    def _split(self, data: bytes | None) -> _Frame:
        raise NotImplementedError

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        name, body, writer = self._split(data)
        return name, _decode_body(name, body, writer)

    def decode_as(self, name: str, data: bytes) -> dict[str, Any]:
        got, body, writer = self._split(data)
        if got != name:
            raise SchemaError(f"expected {name}, got {got}", reason="wrong-schema")
        return _decode_body(name, body, writer)


class SingleObjectCodec(_FramedCodec):
    """Avro single-object encoding with the CRC-64-AVRO fingerprint; needs no server."""

    def __init__(self) -> None:
        self._fp_by_name: dict[str, bytes] = {}
        self._name_by_fp: dict[bytes, tuple[str, dict[str, Any] | None]] = {}
        for name in SCHEMA_NAMES:
            for old in released_schemas(name):  # earlier releases: read by resolution
                self._name_by_fp[schema_fingerprint(old)] = (name, old)
            fp = schema_fingerprint(load_schema(name))
            self._fp_by_name[name] = fp
            self._name_by_fp[fp] = (name, None)  # the current schema wins a shared print

    def fingerprint(self, name: str) -> bytes:
        return self._fp_by_name[name]

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        if name not in self._fp_by_name:
            raise SchemaError(f"no schema named {name!r}", reason="unknown-schema")
        return SO_MARKER + self._fp_by_name[name] + _encode_body(name, record)

    def _split(self, data: bytes | None) -> _Frame:
        if not data:
            raise SchemaError("empty record", reason="truncated")
        if len(data) < 10:
            if data[:2] == SO_MARKER[: len(data[:2])]:
                raise SchemaError(f"record of {len(data)} bytes is truncated", reason="truncated")
            raise SchemaError("not an Avro single-object record (bad marker)", reason="bad-magic")
        if data[:2] != SO_MARKER:
            raise SchemaError("not an Avro single-object record (bad marker)", reason="bad-magic")
        known = self._name_by_fp.get(data[2:10])
        if known is None:
            raise SchemaError(
                f"unknown schema fingerprint {data[2:10].hex()}", reason="unknown-schema"
            )
        return known[0], data[10:], known[1]


class RegistryCodec(_FramedCodec):
    """Confluent wire format with schema ids from a schema registry (subject ``<Name>-value``)."""

    def __init__(self, url: str, *, client: Any = None) -> None:
        """``client`` defaults to a ``SchemaRegistryClient`` for ``url`` (any object with the
        same ``register(subject, schema) -> id`` method works, e.g. in unit tests)."""
        from schema_registry.client import SchemaRegistryClient, schema

        self._client = client if client is not None else SchemaRegistryClient(url=url)
        self._schema = schema
        self._id_by_name: dict[str, int] = {}
        self._name_by_id: dict[int, tuple[str, dict[str, Any] | None]] = {}

    def _schema_id(self, name: str) -> int:
        if name not in self._id_by_name:
            if name not in SCHEMA_NAMES:
                raise SchemaError(f"no schema named {name!r}", reason="unknown-schema")
            sid = self._client.register(
                f"smsflow.v1.{name}-value", self._schema.AvroSchema(schema_json(name))
            )
            self._id_by_name[name] = sid
            self._name_by_id[sid] = (name, None)
        return self._id_by_name[name]

    def _writer_of(self, sid: int) -> tuple[str, dict[str, Any] | None] | None:
        """An id this process did not register: the registry's schema of it, when it is an
        earlier version of one of ours (read by resolution to the current schema)."""
        get_by_id = getattr(self._client, "get_by_id", None)
        found = get_by_id(sid) if get_by_id is not None else None
        raw = getattr(found, "raw_schema", None)
        if not isinstance(raw, dict) or raw.get("name", "").rsplit(".", 1)[-1] not in SCHEMA_NAMES:
            return None
        return raw["name"].rsplit(".", 1)[-1], fastavro.parse_schema(raw, named_schemas={})

    def _name_for(self, sid: int) -> tuple[str, dict[str, Any] | None]:
        if sid not in self._name_by_id:
            for name in SCHEMA_NAMES:  # registers (idempotently) and learns every id
                self._schema_id(name)
        if sid not in self._name_by_id:
            try:
                known = self._writer_of(sid)
            except Exception as e:  # the registry did not answer: not this record's fault
                raise SchemaError(f"schema id {sid}: registry lookup failed: {e}",
                                  reason="unknown-schema") from e
            if known is not None:
                self._name_by_id[sid] = known
        known = self._name_by_id.get(sid)
        if known is None:
            raise SchemaError(f"unknown schema id {sid}", reason="unknown-schema")
        return known

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        return b"\x00" + struct.pack(">I", self._schema_id(name)) + _encode_body(name, record)

    def _split(self, data: bytes | None) -> _Frame:
        if not data or len(data) < 5:
            raise SchemaError("record shorter than the 5-byte header", reason="truncated")
        if data[0] != 0:
            raise SchemaError("not a Confluent wire-format record (bad magic)", reason="bad-magic")
        name, writer = self._name_for(struct.unpack(">I", data[1:5])[0])
        return name, data[5:], writer


def get_codec(settings: Settings | None = None) -> Codec:
    """The registry codec when a schema registry URL is set, else single-object encoding."""
    if settings is not None and settings.schema_registry_url:
        return RegistryCodec(settings.schema_registry_url)
    return _single_object()


@cache
def _single_object() -> SingleObjectCodec:
    return SingleObjectCodec()
