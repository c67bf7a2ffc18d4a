"""Deterministic sample records for any Avro schema (JSON form): varied by an index so that
union branches, enum symbols and array lengths all get exercised across indices."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

__all__ = ["sample_record"]

_EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _value(schema: Any, i: int, names: dict[str, Any]) -> Any:
    if isinstance(schema, str):
        return _value(names[schema] if schema in names else {"type": schema}, i, names)
    if isinstance(schema, list):
        return _value(schema[i % len(schema)], i // len(schema) + i, names)
    t, logical = schema["type"], schema.get("logicalType")
    if isinstance(t, (dict, list)) or (isinstance(t, str) and t in names):
        return _value(t, i, names)
    if t == "null":
        return None
    if t == "boolean":
        return i % 2 == 0
    if t == "int":
        return (dt.date(2024, 1, 1) + dt.timedelta(days=i)) if logical == "date" else i * 7 - 3
    if t == "long":
        if logical == "timestamp-micros":
            return _EPOCH + dt.timedelta(microseconds=i * 123_456_789)
        return i * 10**12 + 5
    if t in ("float", "double"):
        return float(i) / 4
    if t == "string":
        return str(uuid.UUID(int=i + 1)) if logical == "uuid" else f"s{i}-é€"
    if t == "bytes":
        if logical == "decimal":
            sign = -1 if i % 3 == 2 else 1
            return (sign * (Decimal(i) + Decimal("0.0446592"))).quantize(
                Decimal(1).scaleb(-schema["scale"])
            )
        return bytes([i % 256]) * 3
    if t == "enum":
        return schema["symbols"][i % len(schema["symbols"])]
    if t == "array":
        return [_value(schema["items"], i + k, names) for k in range(i % 3)]
    if t == "map":
        return {f"k{k}": _value(schema["values"], i + k, names) for k in range(i % 3)}
    if t == "record":
        return {f["name"]: _value(f["type"], i + k, names) for k, f in enumerate(schema["fields"])}
    raise ValueError(f"no sample for {schema!r}")


def _collect(schema: Any, names: dict[str, Any], namespace: str) -> None:
    if isinstance(schema, list):
        for s in schema:
            _collect(s, names, namespace)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t in ("record", "enum", "fixed"):
            ns = schema.get("namespace", namespace)
            names[schema["name"]] = names[f"{ns}.{schema['name']}"] = schema
            for f in schema.get("fields", []):
                _collect(f["type"], names, ns)
        elif t == "array":
            _collect(schema["items"], names, namespace)
        elif t == "map":
            _collect(schema["values"], names, namespace)
        elif isinstance(t, (dict, list)):
            _collect(t, names, namespace)


def sample_record(schema: dict[str, Any], i: int) -> dict[str, Any]:
    """A record valid for ``schema`` (Avro JSON), different for each ``i``."""
    names: dict[str, Any] = {}
    _collect(schema, names, schema.get("namespace", ""))
    return _value(schema, i, names)  # type: ignore[no-any-return]
