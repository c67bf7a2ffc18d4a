"""Schema evolution: the current schemas read data written with every released version.

Released versions live in ``schemas/released/<Name>/v<N>.avsc`` (never edited). For each pair
(released writer, current reader) sample records covering every union branch and enum symbol
are written with the writer schema and read with Avro schema resolution (fastavro) into the
reader schema; any resolution error is a breaking change. The checker itself is tested on
breaking variants, so it cannot pass vacuously.
"""

from __future__ import annotations

import copy
import io
import json
import uuid
from pathlib import Path
from typing import Any

import fastavro
import pytest

from schemas import SCHEMA_NAMES
from tests.unit.avro_samples import sample_record

ROOT = Path(__file__).parents[2] / "schemas"
CURRENT = ROOT / "v1"
RELEASED = ROOT / "released"
SAMPLES = 24


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def incompatibilities(writer: dict[str, Any], reader: dict[str, Any]) -> list[str]:
    """Problems reading ``writer`` data with ``reader`` (empty = backward compatible)."""
    problems = []
    w, r = (
        fastavro.parse_schema(copy.deepcopy(writer)),
        fastavro.parse_schema(copy.deepcopy(reader)),
    )
    writer_fields = {f["name"] for f in writer["fields"]}
    for f in reader["fields"]:
        if f["name"] not in writer_fields and "default" not in f:
            problems.append(f"new field {f['name']!r} has no default")
    for i in range(SAMPLES):
        record = sample_record(writer, i)
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, w, record)
        buf.seek(0)
        try:
            got = fastavro.schemaless_reader(buf, w, r)
        except Exception as e:  # fastavro raises several types on resolution failures
            problems.append(f"sample {i}: {type(e).__name__}: {e}")
            continue
        for name in writer_fields & set(got):  # type: ignore[arg-type]
            value = got[name]  # type: ignore[index]
            if (str(value) if isinstance(value, uuid.UUID) else value) != record[name]:
                problems.append(f"sample {i}: field {name!r} changed value")
    return sorted(set(problems))


def _released() -> list[tuple[str, Path]]:
    return sorted(
        (name, path) for name in SCHEMA_NAMES for path in (RELEASED / name).glob("v*.avsc")
    )


def test_every_schema_has_a_released_version() -> None:
    for name in SCHEMA_NAMES:
        versions = sorted((RELEASED / name).glob("v*.avsc"))
        assert versions, f"{name} has no released version in {RELEASED / name}"
        assert _load(versions[0])["name"] == name


@pytest.mark.parametrize(("name", "path"), _released(), ids=lambda v: getattr(v, "stem", v))
def test_current_reads_released(name: str, path: Path) -> None:
    assert incompatibilities(_load(path), _load(CURRENT / f"{name}.avsc")) == []


def test_compatible_change_passes() -> None:
    writer = _load(CURRENT / "SendRequest.avsc")
    reader = copy.deepcopy(writer)
    reader["fields"].append(
        {"name": "priority", "type": ["null", "int"], "default": None, "doc": "new"}
    )
    origin = next(f for f in reader["fields"] if f["name"] == "origin")
    origin["type"]["symbols"].append("WHATSAPP")
    assert incompatibilities(writer, reader) == []


def test_breaking_changes_fail() -> None:
    writer = _load(CURRENT / "SendRequest.avsc")

    added = copy.deepcopy(writer)
    added["fields"].append({"name": "priority", "type": "int", "doc": "no default"})
    assert "new field 'priority' has no default" in incompatibilities(writer, added)

    no_symbol = copy.deepcopy(writer)
    origin = next(f for f in no_symbol["fields"] if f["name"] == "origin")
    origin["type"]["symbols"].remove("MCS")
    assert any("MCS" in p for p in incompatibilities(writer, no_symbol))

    retyped = copy.deepcopy(writer)
    count = next(f for f in retyped["fields"] if f["name"] == "sms_count")
    count["type"] = "string"
    assert incompatibilities(writer, retyped) != []

    removed_branch = copy.deepcopy(writer)
    source = next(f for f in removed_branch["fields"] if f["name"] == "source")
    source["type"] = "string"  # was ["null", "string"]: nulls no longer readable
    del source["default"]
    assert incompatibilities(writer, removed_branch) != []
