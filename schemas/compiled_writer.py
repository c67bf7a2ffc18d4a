"""Avro binary writers generated from the parsed ``.avsc`` at load time (a fast path only).

:func:`compile_writer` turns a parsed (fastavro) record schema into one Python function per
named record, written out as source and compiled once, so encoding a record is straight-line
code: no per-field schema lookups, no union validation by trial, logical types through
fastavro's own conversion functions (``fastavro.write.LOGICAL_WRITERS``). fastavro's C writer
spent ~55 us on a ``MessageState`` of this project, most of it in its generic per-field dispatch.

Contract (tests/unit/test_compiled_writer.py holds it against fastavro for every schema):

* for a record fastavro writes with ``strict_allow_default=True``, the writer returns the
  *same bytes* (deterministic: same record, same bytes);
* for anything it is not sure of (a value of another type than the branch it writes, a missing
  field without a literal default, a field the schema does not have, tuple notation naming
  another branch, ...) it raises, and the caller encodes with fastavro, which gives the reference
  answer or the reference error;
* a schema it cannot compile (a union with two non-null branches, ``fixed``, a float in a union,
  a default it cannot write as a literal) gives ``None``: the caller keeps fastavro for it.

Because it is generated from the schema, an added field (with a default, as schema evolution
requires) is written without a code change.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from fastavro.write import LOGICAL_WRITERS

__all__ = ["Unsupported", "compile_writer"]

_PRIMITIVE = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
_SMALL = [bytes([z]) for z in range(128)]
#: encodings of recent logical values (a state's times and prices recur in its next version);
#: keyed by the exact value (typed), or by ``str`` of a Decimal, which fixes its exponent; one
#: cache per conversion and schema parameters, shared by every field and schema (~4 MiB each)
_CACHE_SIZE = 1 << 14
_CACHES: dict[tuple[Any, ...], tuple[type, Any] | None] = {}


class Unsupported(Exception):
    """The schema uses something the generated writer does not cover (fastavro writes it)."""


def _long(n: int) -> bytes:
    """Zig-zag varint of a long (Avro ``int`` and ``long``)."""
    z = (n << 1) ^ (n >> 63)
    if 0 <= z < 128:
        return _SMALL[z]
    if 0 < z < 16384:
        return bytes((z & 127 | 128, z >> 7))
    if not 0 < z < 1 << 64:
        raise OverflowError(f"{n} does not fit an Avro long")
    out = bytearray()
    while z > 127:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _cached_logical(t: str, logical: str, schema: dict[str, Any]) -> tuple[type, Any] | None:
    """(class, cached value -> encoded bytes) for the logical types worth caching."""
    key = (t, logical, schema.get("precision"), schema.get("scale"))
    if key not in _CACHES:
        _CACHES[key] = _new_cache(t, logical, schema)
    return _CACHES[key]


def _new_cache(t: str, logical: str, schema: dict[str, Any]) -> tuple[type, Any] | None:
    prepare = LOGICAL_WRITERS[f"{t}-{logical}"]
    if f"{t}-{logical}" in ("long-timestamp-micros", "long-timestamp-millis", "int-date"):
        cls = dt.date if logical == "date" else dt.datetime

        def encode_time(v: Any) -> bytes:
            return _long(prepare(v, schema))

        return cls, lru_cache(maxsize=_CACHE_SIZE, typed=True)(encode_time)
    if f"{t}-{logical}" == "bytes-decimal":

        def encode_decimal(s: str) -> bytes:
            b = prepare(Decimal(s), schema)
            return _long(len(b)) + b

        return Decimal, lru_cache(maxsize=_CACHE_SIZE)(encode_decimal)
    return None


class _Gen:
    """Source of the writer functions of one schema (one ``_w<k>(r, a)`` per record)."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.consts: dict[str, Any] = {"_long": _long, "_SMALL": _SMALL}
        self.funcs: dict[str, str] = {}  # full record name -> function name
        self.sources: list[str] = []
        self.depth = 0

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    # -- records -----------------------------------------------------------------------------

    def record(self, schema: dict[str, Any]) -> str:
        full = schema["name"]
        if full in self.funcs:
            return self.funcs[full]
        fn = f"_w{len(self.funcs)}"
        self.funcs[full] = fn
        names = [f["name"] for f in schema["fields"]]
        body = [f"def {fn}(r, a):",
                f"    if len(r) != {len(names)} and not {self.const(frozenset(names))}"
                ".issuperset(r):",
                "        raise KeyError('a field the schema does not have')"]
        for f in schema["fields"]:
            v = "v0"
            body.append(f"    {v} = {self._get(f)}")
            body.extend("    " + line for line in self.value(f["type"], v))
        self.sources.append("\n".join(body))
        return fn

    def _get(self, field: dict[str, Any]) -> str:
        name = repr(field["name"])
        if "default" not in field:
            return f"r[{name}]"
        d = field["default"]
        if d in ([], {}) and self._resolve(field["type"]) not in _PRIMITIVE and isinstance(
                self._resolve(field["type"]), dict) and self._resolve(field["type"])["type"] in (
                "array", "map"):
            return f"r.get({name}, ())"  # an empty array or map writes the same: one 0 byte
        if d is None or (isinstance(d, (bool, int, str)) and self._literal_ok(field["type"], d)):
            return f"r.get({name}, {d!r})" if d is not None else f"r.get({name})"
        return f"r[{name}]"  # a default we do not write ourselves: a missing field -> fastavro

    def _literal_ok(self, schema: Any, d: Any) -> bool:
        t = self._resolve(schema[0] if isinstance(schema, list) else schema)
        kind = t if isinstance(t, str) else t["type"]
        logical = None if isinstance(t, str) else t.get("logicalType")
        if logical is not None:
            return False  # the JSON default of a logical type is not its Python value
        return {"string": str, "enum": str, "int": int, "long": int,
                "boolean": bool}.get(kind) is type(d)

    def _resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVE:
            if schema not in self.named:
                raise Unsupported(f"unknown named type {schema}")
            return self.named[schema]
        return schema

    # -- values ------------------------------------------------------------------------------

    def value(self, schema: Any, v: str, in_union: bool = False) -> list[str]:
        """Lines appending the encoding of the value in variable ``v`` (``in_union``: first
        the type checks fastavro's union validation makes, so that we never write a value it
        refuses: a bool for an int, an int out of range, bytes for a string, ...)."""
        schema = self._resolve(schema)
        if isinstance(schema, list):
            if in_union:
                raise Unsupported("a union in a union")
            return self.union(schema, v)
        if isinstance(schema, str):
            return self.primitive(schema, None, v, in_union)
        t = schema["type"]
        if isinstance(t, (list, dict)) or (isinstance(t, str) and t not in _PRIMITIVE
                                            and t not in ("record", "enum", "array", "map",
                                                          "fixed")):
            return self.value(t, v, in_union)
        check = {"record": "dict", "map": "dict", "array": "list"}.get(t)
        lines = [f"if {v}.__class__ is not {check}:", "    raise TypeError('wrong type')"] if (
            in_union and check) else []
        if t == "record":
            return [*lines, f"{self.record(schema)}({v}, a)"]
        if t == "enum":  # the table refuses anything else
            table = {s: _long(i) for i, s in enumerate(schema["symbols"])}
            return [f"a({self.const(table)}[{v}])"]
        if t == "array":
            return lines + self.array(schema, v)
        if t == "map":
            return lines + self.map(schema, v)
        if t in _PRIMITIVE:
            return self.primitive(t, schema, v, in_union)
        raise Unsupported(f"type {t}")

    def primitive(self, t: str, schema: dict[str, Any] | None, v: str,
                  in_union: bool = False) -> list[str]:
        logical = schema.get("logicalType") if schema is not None else None
        prepare = LOGICAL_WRITERS.get(f"{t}-{logical}") if logical is not None else None
        if prepare is None:  # no logical type, or one fastavro writes as the plain type
            return self._plain(t, v, in_union)
        assert schema is not None
        lines = [f"{v} = {self.const(prepare)}({v}, {self.const(schema)})",
                 *self._plain(t, v, in_union)]
        fast = _cached_logical(t, logical, schema)
        if fast is None:
            return lines
        cls, encode = fast
        key = f"str({v})" if cls is Decimal else v
        return [f"if {v}.__class__ is {self.const(cls)}:", f"    a({self.const(encode)}({key}))",
                "else:", *("    " + line for line in lines)]

    def _plain(self, t: str, v: str, in_union: bool) -> list[str]:
        lines = self._check(t, v) if in_union else []
        if t == "null":
            return lines
        if t == "boolean":
            return [*lines, f"a(b'\\x01' if {v} else b'\\x00')"]
        if t in ("int", "long"):  # small values from a table, the rest through _long
            return [*lines, f"a(_SMALL[{v} << 1] if 0 <= {v} < 64 else _long({v}))"]
        if t in ("float", "double") and not in_union:
            pack = struct.Struct("<f" if t == "float" else "<d").pack
            return [*lines, f"a({self.const(pack)}({v}))"]
        if t in ("string", "bytes"):
            if t == "string":
                lines.append(f"{v} = {v}.encode()")
            else:
                lines += [f"if {v}.__class__ is not bytes:", "    raise TypeError('not bytes')"]
            return [*lines, f"n = len({v})",
                    "a(_SMALL[n << 1] if n < 64 else _long(n))", f"a({v})"]
        raise Unsupported(f"type {t}" + (" in a union" if in_union else ""))

    @staticmethod
    def _check(t: str, v: str) -> list[str]:
        if t == "string":
            return [f"if {v}.__class__ is not str:", "    raise TypeError('not a string')"]
        if t == "int":
            return [f"if {v}.__class__ is not int or not {_INT_MIN} <= {v} <= {_INT_MAX}:",
                    "    raise TypeError('not an int')"]
        if t == "long":
            return [f"if {v}.__class__ is not int:", "    raise TypeError('not a long')"]
        if t == "boolean":
            return [f"if {v}.__class__ is not bool:", "    raise TypeError('not a boolean')"]
        return []  # bytes: checked by its own lines; null never reaches here

    def array(self, schema: dict[str, Any], v: str) -> list[str]:
        self.depth += 1
        x = f"v{self.depth}"
        lines = [f"if {v}:", f"    a(_long(len({v})))", f"    for {x} in {v}:"]
        lines.extend("        " + line for line in self.value(schema["items"], x))
        lines.append("a(b'\\x00')")
        return lines

    def map(self, schema: dict[str, Any], v: str) -> list[str]:
        self.depth += 1
        x, k = f"v{self.depth}", f"k{self.depth}"
        lines = [f"if {v}:", f"    a(_long(len({v})))", f"    for {k}, {x} in {v}.items():"]
        lines.extend("        " + line for line in self.primitive("string", None, k, True))
        lines.extend("        " + line for line in self.value(schema["values"], x))
        lines.append("a(b'\\x00')")
        return lines

    def union(self, branches: list[Any], v: str) -> list[str]:
        nulls = [i for i, b in enumerate(branches) if b == "null"]
        others = [i for i, b in enumerate(branches) if b != "null"]
        if len(others) != 1 or len(nulls) > 1:
            raise Unsupported("a union with other than one non-null branch")
        i = others[0]
        branch = self._resolve(branches[i])
        bname = branch if isinstance(branch, str) else (
            branch.get("name") if branch["type"] in ("record", "enum", "fixed") else branch["type"])
        lines = [f"if {v} is None:", f"    a({_long(nulls[0])!r})", "else:"] if nulls else [
            "if True:"]
        named = isinstance(branch, dict) and branch["type"] in ("record", "enum")
        inner = [f"if {v}.__class__ is tuple:",  # fastavro's tuple notation (name, value)
                 f"    if {v}[0] != {bname!r}:",
                 "        raise ValueError('tuple notation names another branch')",
                 f"    {v} = {v}[1]"] if named else []
        inner += [f"a({_long(i)!r})", *self.value(branch, v, in_union=True)]
        lines += ["    " + line for line in inner]
        return lines


def compile_writer(schema: dict[str, Any]) -> Callable[[dict[str, Any]], bytes] | None:
    """``record -> Avro body`` for a parsed record schema, or None when not compilable."""
    named = dict(schema.get("__named_schemas", {}))
    gen = _Gen(named)
    try:
        if schema.get("type") != "record":
            raise Unsupported("not a record")
        top = gen.record(schema)
        source = "\n\n".join(gen.sources)
    except Unsupported:
        return None
    source += (f"\n\ndef write(r):\n    parts = []\n    {top}(r, parts.append)\n"
               "    return b''.join(parts)\n")
    namespace: dict[str, Any] = dict(gen.consts)
    exec(compile(source, f"<avro writer {schema.get('name')}>", "exec"), namespace)
    write: Callable[[dict[str, Any]], bytes] = namespace["write"]
    write.__doc__ = source  # the generated code, for reading and debugging
    return write
