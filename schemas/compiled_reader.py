"""Avro binary readers generated from the parsed ``.avsc`` at load time (a fast path only).

The counterpart of :mod:`schemas.compiled_writer`: :func:`compile_reader` turns a parsed record
schema into straight-line Python (one function per named record) that reads the Avro body
into the dict fastavro's ``schemaless_reader`` returns, with logical types converted by
fastavro's own functions (``fastavro.read.LOGICAL_READERS``; recent values cached by their
raw value, which fixes the result). Differences by design, both as ``schemas.codec`` returns
records: the top record's ``umid`` (logical type uuid) stays a string when it is the canonical
lower-case form (fastavro gives ``uuid.UUID``, which the codec turns into that same string).

Contract (tests/unit/test_compiled_reader.py): on a body fastavro reads, the same record, or
an error where the body is legal but not as writers give it (a union index in more than one
byte); on anything else (truncated, trailing bytes, a bad union or enum index, a boolean byte
other than 0/1, bad UTF-8, a non-canonical uuid, an over-long varint) it raises. After an
error the caller reads with fastavro, which gives the reference record or error.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from fastavro.read import LOGICAL_READERS

__all__ = ["compile_reader"]

_PRIMITIVE = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
_CACHE_SIZE = 1 << 14
#: one cache per conversion and schema parameters, shared by every field and schema
_CACHES: dict[tuple[Any, ...], Any] = {}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _long(d: bytes, p: int) -> tuple[int, int]:
    """(value, next position) of the zig-zag varint at ``p`` (multi-byte case)."""
    b = d[p]
    z = b & 0x7F
    shift = 7
    p += 1
    while b > 127:
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")
        b = d[p]
        p += 1
        z |= (b & 0x7F) << shift
        shift += 7
    return (z >> 1) ^ -(z & 1), p


class _Gen:
    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.consts: dict[str, Any] = {"_long": _long, "_UUID": _UUID}
        self.funcs: dict[str, str] = {}
        self.sources: list[str] = []
        self.depth = 0

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def _resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVE:
            return self.named[schema]
        if isinstance(schema, dict) and isinstance(schema["type"], (dict, list)):
            return self._resolve(schema["type"])
        if isinstance(schema, dict) and schema["type"] in self.named:
            return self.named[schema["type"]]
        return schema

    def record(self, schema: dict[str, Any]) -> str:
        full = schema["name"]
        if full in self.funcs:
            return self.funcs[full]
        fn = f"_r{len(self.funcs)}"
        self.funcs[full] = fn
        body = [f"def {fn}(d, p):"]
        names = []
        for i, f in enumerate(schema["fields"]):
            umid = fn == "_r0" and f["name"] == "umid"  # _r0: the top record
            body.extend("    " + line for line in self.value(f["type"], f"f{i}", umid))
            names.append(f"{f['name']!r}: f{i}")
        body.append(f"    return {{{', '.join(names)}}}, p")
        self.sources.append("\n".join(body))
        return fn

    def _int(self, v: str) -> list[str]:
        return ["b = d[p]", "if b < 128:", f"    {v} = (b >> 1) ^ -(b & 1)", "    p += 1",
                "else:", f"    {v}, p = _long(d, p)"]

    def _length(self, v: str) -> list[str]:
        """:meth:`_int` for a string or bytes length: one below 64 is one even byte (no
        zig-zag, never negative)."""
        return ["b = d[p]", "if b < 128 and not b & 1:", f"    {v} = b >> 1", "    p += 1",
                "else:", f"    {v}, p = _long(d, p)", f"    if {v} < 0:",
                "        raise ValueError('negative length')"]

    def value(self, schema: Any, v: str, umid: bool = False) -> list[str]:
        """Lines reading one value of ``schema`` at ``p`` into variable ``v`` (``umid``: the
        top record's umid, which schemas.codec returns as ``str``, not ``uuid.UUID``)."""
        schema = self._resolve(schema)
        if isinstance(schema, list):
            return self.union(schema, v)
        t = schema if isinstance(schema, str) else schema["type"]
        logical = None if isinstance(schema, str) else schema.get("logicalType")
        lines = self.plain(t, schema, v)
        convert = LOGICAL_READERS.get(f"{t}-{logical}") if logical else None
        if logical == "uuid" and t == "string" and umid:
            return [*lines, f"if not _UUID.fullmatch({v}):",
                    "    raise ValueError('not a canonical uuid')"]
        if convert is not None:
            key = (t, logical, schema.get("precision"), schema.get("scale"), schema.get("size"))
            if key not in _CACHES:

                def cached(raw: Any, convert: Any = convert, schema: Any = schema) -> Any:
                    return convert(raw, schema, None)

                _CACHES[key] = lru_cache(maxsize=_CACHE_SIZE)(cached)
            lines.append(f"{v} = {self.const(_CACHES[key])}({v})")
        return lines

    def plain(self, t: str, schema: Any, v: str) -> list[str]:
        if t == "null":
            return [f"{v} = None"]
        if t == "boolean":
            return ["b = d[p]", "p += 1", "if b > 1:", "    raise ValueError('bad boolean')",
                    f"{v} = b == 1"]
        if t in ("int", "long"):
            return self._int(v)
        if t in ("float", "double"):
            size, fmt = (4, "<f") if t == "float" else (8, "<d")
            return [f"{v} = {self.const(struct.Struct(fmt).unpack_from)}(d, p)[0]",
                    f"p += {size}"]
        if t in ("bytes", "string"):
            return [*self._length("n"),
                    f"{v} = d[p:p + n]{'.decode()' if t == 'string' else ''}", "p += n"]
        if t == "fixed":
            return [f"{v} = d[p:p + {schema['size']}]", f"p += {schema['size']}"]
        if t == "enum":
            return [*self._int("i"), "if i < 0:", "    raise ValueError('bad enum index')",
                    f"{v} = {self.const(tuple(schema['symbols']))}[i]"]
        if t == "record":
            return [f"{v}, p = {self.record(schema)}(d, p)"]
        if t in ("array", "map"):
            return self.block(t, schema, v)
        raise ValueError(f"type {t}")

    def block(self, t: str, schema: dict[str, Any], v: str) -> list[str]:
        self.depth += 1
        x, k, c = f"v{self.depth}", f"k{self.depth}", f"c{self.depth}"
        lines = [f"{v} = []" if t == "array" else f"{v} = {{}}", "while True:",
                 *("    " + line for line in self._int(c)), f"    if {c} == 0:", "        break",
                 f"    if {c} < 0:", f"        {c} = -{c}",
                 *("        " + line for line in self._int("size")),
                 f"    for _ in range({c}):"]
        inner = self.value(schema["items" if t == "array" else "values"], x)
        if t == "array":
            inner.append(f"{v}.append({x})")
        else:
            inner = [*self.plain("string", "string", k), *inner, f"{v}[{k}] = {x}"]
        return lines + ["        " + line for line in inner]

    def union(self, branches: list[Any], v: str) -> list[str]:
        """The branch index as the one byte a writer gives it (index n < 64 is ``2 n``):
        anything else raises, so fastavro reads that rare body (a multi-byte index too)."""
        if len(branches) > 64:
            raise ValueError("union of more than 64 branches")
        lines = ["b = d[p]", "p += 1"]
        for n, branch in enumerate(branches):
            lines.append(f"{'if' if n == 0 else 'elif'} b == {2 * n}:")
            lines.extend("    " + line for line in self.value(branch, v))
        return [*lines, "else:", "    raise ValueError('bad union index')"]


def compile_reader(schema: dict[str, Any]) -> Callable[[bytes], dict[str, Any]] | None:
    """``Avro body -> record`` for a parsed record schema, or None when not compilable."""
    gen = _Gen(dict(schema.get("__named_schemas", {})))
    try:
        top = gen.record(schema)
    except (ValueError, KeyError, TypeError):
        return None
    source = "\n\n".join(gen.sources) + (
        f"\n\ndef read(d):\n    r, p = {top}(d, 0)\n    if p != len(d):\n"
        "        raise ValueError('not exactly one record')\n    return r\n")
    namespace: dict[str, Any] = dict(gen.consts)
    exec(compile(source, f"<avro reader {schema.get('name')}>", "exec"), namespace)
    read: Callable[[bytes], dict[str, Any]] = namespace["read"]
    read.__doc__ = source
    return read
