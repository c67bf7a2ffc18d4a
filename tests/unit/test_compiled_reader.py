"""The reader generated from the .avsc gives fastavro's record, or raises (fastavro answers)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import fastavro
import pytest

import schemas.codec
from schemas import SCHEMA_NAMES, SingleObjectCodec, load_schema
from schemas.compiled_reader import compile_reader
from simulator.simulation import SCHEMA_OF, SimConfig, simulate
from smsflow.errors import SchemaError
from tests.unit.avro_samples import sample_record
from tests.unit.test_compiled_writer import states

SCHEMA_DIR = Path(__file__).parents[2] / "schemas" / "v1"
CODEC = SingleObjectCodec()


def reference(name: str, body: bytes) -> dict[str, Any]:
    record: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(body), load_schema(name), None)
    if record.get("umid") is not None:
        record["umid"] = str(record["umid"])  # as schemas.codec has always returned it
    return record


def outcome(name: str, body: bytes) -> Any:
    try:
        return schemas.codec._decode_body(name, body)
    except SchemaError as e:
        return ("error", e.reason)


def fastavro_outcome(name: str, body: bytes, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(schemas.codec, "_compiled_reader", lambda name: None)
        return outcome(name, body)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_schema_reads_like_fastavro(name: str) -> None:
    read = compile_reader(load_schema(name))
    assert read is not None
    raw = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())
    for i in range(120):
        body = CODEC.encode(name, sample_record(raw, i))[10:]
        assert read(body) == reference(name, body), (name, i)


def with_defaults(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the schema's defaults for the fields it leaves out (e.g. ``flags``)."""
    raw = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())
    defaults = {f["name"]: f["default"] for f in raw["fields"] if "default" in f}
    return {**{k: v for k, v in defaults.items() if k not in record}, **record}


def test_simulated_events_and_states_read_like_fastavro() -> None:
    readers = {name: compile_reader(load_schema(name)) for name in SCHEMA_NAMES}
    for topic, _, record in simulate(SimConfig(messages=300, seed=9)).events:
        name = SCHEMA_OF[topic]
        body = CODEC.encode(name, record)[10:]
        want = with_defaults(name, record)
        assert readers[name](body) == reference(name, body) == want  # type: ignore[misc]
    for state in states(200):
        body = CODEC.encode("MessageState", state)[10:]
        got = readers["MessageState"](body)  # type: ignore[misc]
        assert got == reference("MessageState", body) == with_defaults("MessageState", state)


def test_damaged_bodies_give_fastavros_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(4)
    samples = [(name, CODEC.encode(name, sample_record(
        json.loads((SCHEMA_DIR / f"{name}.avsc").read_text()), i))[10:])
        for name in SCHEMA_NAMES for i in range(4)]
    checked = errors = 0
    for name, body in samples:
        damaged = [body[:cut] for cut in range(len(body))] + [body + b"\x00"]
        for _ in range(30):
            b = bytearray(body)
            b[rng.randrange(len(b))] = rng.randrange(256)
            damaged.append(bytes(b))
        for bad in damaged:
            want = fastavro_outcome(name, bad, monkeypatch)
            assert outcome(name, bad) == want, (name, bad.hex())
            checked += 1
            errors += isinstance(want, tuple)
    assert checked > 2000 and errors > 1000


@pytest.mark.parametrize("damage", ["upper-case uuid", "boolean byte 2"])
def test_what_the_reader_refuses_fastavro_decides(damage: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    state = states(5)[0]
    body = CODEC.encode("MessageState", state)[10:]
    if damage == "upper-case uuid":
        body = body.replace(state["umid"].encode(), state["umid"].upper().encode())
    else:  # has_request, the field after umid, version and direction
        pos = 1 + 36 + 1 + 1
        assert body[pos] in (0, 1)
        body = body[:pos] + b"\x02" + body[pos + 1:]
    read = compile_reader(load_schema("MessageState"))
    assert read is not None
    with pytest.raises(ValueError):
        read(body)
    assert outcome("MessageState", body) == fastavro_outcome("MessageState", body, monkeypatch)


def test_a_negative_length_is_refused() -> None:
    # "\x01" is -1: without the check the two strings read as b"" and step back, and the int
    # re-reads the same byte, so the record would "fit" the one byte exactly
    schema = fastavro.parse_schema({"type": "record", "name": "T", "fields": [
        {"name": "a", "type": "string"}, {"name": "b", "type": "bytes"},
        {"name": "c", "type": "int"}]})
    read = compile_reader(schema)
    assert read is not None
    with pytest.raises(ValueError):
        read(b"\x01")
    assert read(b"\x02x\x00\x04") == {"a": "x", "b": b"", "c": 2}


def test_only_the_top_umid_is_a_string_other_uuids_are_fastavros() -> None:
    uid = {"type": "string", "logicalType": "uuid"}
    schema = fastavro.parse_schema({"type": "record", "name": "T", "fields": [
        {"name": "umid", "type": uid}, {"name": "other", "type": uid},
        {"name": "inner", "type": {"type": "record", "name": "I", "fields": [
            {"name": "umid", "type": uid}]}}]})
    read = compile_reader(schema)
    assert read is not None
    u = "9e09ac86-bd74-5465-851d-1eb5a5fdbb9a"
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, {"umid": u, "other": u, "inner": {"umid": u}})
    want = fastavro.schemaless_reader(io.BytesIO(buf.getvalue()), schema, None)
    got = read(buf.getvalue())
    assert got == {**want, "umid": u}
    assert isinstance(got["umid"], str) and not isinstance(got["other"], str)
    assert not isinstance(got["inner"]["umid"], str)


def test_a_union_index_in_more_than_one_byte_is_left_to_fastavro() -> None:
    # writers give index 1 as the one byte 0x02; 0x82 0x00 is the same varint, legal but
    # over-long: the generated reader reads only the one-byte form and raises on the other,
    # and the codec then answers with fastavro's record
    schema = fastavro.parse_schema({"type": "record", "name": "T", "fields": [
        {"name": "a", "type": ["null", "long"]}, {"name": "s", "type": "string"}]})
    read = compile_reader(schema)
    assert read is not None
    assert read(b"\x02\x04\x02x") == {"a": 2, "s": "x"}
    assert read(b"\x00\x02x") == {"a": None, "s": "x"}
    long_form = b"\x82\x00\x04\x02x"
    with pytest.raises(ValueError):
        read(long_form)
    assert fastavro.schemaless_reader(io.BytesIO(long_form), schema, None) == {"a": 2, "s": "x"}
