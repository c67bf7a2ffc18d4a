"""Simulator files: write a simulation to a directory and read its events back.

Layout of ``DIR``:

* ``events/<kind>.jsonl``: the Avro record dicts of each input kind in delivery order, one JSON
  object per line, sorted keys; decimals and timestamps as strings (``"0.07423500"``,
  ``"2024-03-05T10:11:12.123456Z"``).
* ``events/order.txt``: the kind of every event in global delivery order (one per line), so
  :func:`load_events` restores the interleaving of the kinds.
* ``events/invalid.jsonl``: the invalid records (``--bad-records``), appended after all others.
* ``truth.json``: the ground truth; ``messages.jsonl``: per outbound umid truth;
  ``inbound.jsonl``: per inbound MO truth (the outbound it answers, opt-out).

Writing the same simulation twice gives byte-identical files.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.codec import SCHEMA_DIR, Codec
from simulator.config import KINDS, SCHEMA_OF
from simulator.events import Event
from smsflow.errors import SmsflowError

if TYPE_CHECKING:
    from simulator.simulation import Simulation

__all__ = [
    "BadRecord",
    "load_bad_records",
    "load_events",
    "load_truth",
    "record_from_json",
    "record_to_json",
    "write_simulation",
]


@dataclass(frozen=True)
class BadRecord:
    """An invalid input record: raw ``value`` bytes, or a valid record of the wrong ``schema``
    (encoded by the codec in use when produced)."""

    kind: str
    flavour: str  # random-bytes | wrong-schema | json-without-umid
    key: bytes | None
    value: bytes | None = None
    schema: str | None = None
    record: dict[str, Any] | None = None

    def payload(self, codec: Codec) -> bytes:
        if self.value is not None:
            return self.value
        assert self.schema is not None and self.record is not None
        return codec.encode(self.schema, self.record)


@cache
def _field_kinds(name: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Top-level (timestamp, decimal, date) field names of a schema."""
    schema = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())
    out: dict[str, list[str]] = {"ts": [], "dec": [], "date": []}
    for f in schema["fields"]:
        types = f["type"] if isinstance(f["type"], list) else [f["type"]]
        for t in types:
            logical = t.get("logicalType") if isinstance(t, dict) else None
            if logical in ("timestamp-micros", "timestamp-millis"):
                out["ts"].append(f["name"])
            elif logical == "decimal":
                out["dec"].append(f["name"])
            elif logical == "date":
                out["date"].append(f["name"])
    return tuple(out["ts"]), tuple(out["dec"]), tuple(out["date"])


def _ts(v: dt.datetime) -> str:
    return v.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_to_json(name: str, record: dict[str, Any]) -> str:
    """One JSON line (no newline) of a record dict of schema ``name``."""
    ts_f, dec_f, date_f = _field_kinds(name)
    d = dict(record)
    for f in ts_f:
        if d.get(f) is not None:
            d[f] = _ts(d[f])
    for f in dec_f:
        if d.get(f) is not None:
            d[f] = f"{d[f]:f}"
    for f in date_f:
        if d.get(f) is not None:
            d[f] = d[f].isoformat()
    return json.dumps(d, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def record_from_json(name: str, line: str | dict[str, Any]) -> dict[str, Any]:
    """The record dict (Decimal, aware datetime, date) of a JSON line written by
    :func:`record_to_json`. Raises ValueError/KeyError on a malformed line."""
    d = json.loads(line) if isinstance(line, str) else dict(line)
    ts_f, dec_f, date_f = _field_kinds(name)
    for f in ts_f:
        if d.get(f) is not None:
            d[f] = dt.datetime.fromisoformat(d[f]).astimezone(dt.UTC)
    for f in dec_f:
        if d.get(f) is not None:
            d[f] = Decimal(d[f])
    for f in date_f:
        if d.get(f) is not None:
            d[f] = dt.date.fromisoformat(d[f])
    return d


def _dump(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_simulation(sim: Simulation, out: str | Path, *, progress: bool = False) -> Path:
    """Write events, invalid records, truth and per-message truth under ``out`` (created).

    Raises :class:`~smsflow.errors.SmsflowError` when the directory cannot be written.
    """
    root = Path(out)
    events_dir = root / "events"
    try:
        events_dir.mkdir(parents=True, exist_ok=True)
        files = {k: (events_dir / f"{k}.jsonl").open("w", encoding="utf-8") for k in KINDS}
        try:
            with (events_dir / "order.txt").open("w", encoding="utf-8") as order:
                kinds: list[str] = []
                for i, (kind, _, rec) in enumerate(_with_progress(sim.events, progress)):
                    files[kind].write(record_to_json(SCHEMA_OF[kind], rec) + "\n")
                    kinds.append(kind)
                    if len(kinds) >= 65536 or i == len(sim.events) - 1:
                        order.write("\n".join(kinds) + "\n")
                        kinds.clear()
        finally:
            for f in files.values():
                f.close()
        with (events_dir / "invalid.jsonl").open("w", encoding="utf-8") as f:
            for b in sim.bad:
                f.write(_dump({
                    "kind": b.kind, "flavour": b.flavour,
                    "key": base64.b64encode(b.key).decode() if b.key is not None else None,
                    "value": base64.b64encode(b.value).decode() if b.value is not None
                    else None,
                    "schema": b.schema,
                    "record": json.loads(record_to_json(b.schema, b.record))
                    if b.schema and b.record is not None else None,
                }) + "\n")
        (root / "truth.json").write_text(
            json.dumps(sim.truth, sort_keys=True, indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8")
        with (root / "messages.jsonl").open("w", encoding="utf-8") as f:
            for m in sim.messages:
                f.write(_dump(m.to_json()) + "\n")
        with (root / "inbound.jsonl").open("w", encoding="utf-8") as f:
            for mo in sim.inbound:
                f.write(_dump(mo.to_json()) + "\n")
    except OSError as e:
        raise SmsflowError(f"cannot write the simulation to {root}: {e}") from e
    return root


def _with_progress(events: list[Event], enabled: bool) -> Any:
    if not enabled:
        return events
    from rich.console import Console
    from rich.progress import track

    return track(events, description="writing events", console=Console(stderr=True),
                 update_period=0.2)


def load_events(directory: str | Path) -> list[Event]:
    """Read ``DIR/events`` back into ``(kind, umid, record)`` in delivery order.

    Raises :class:`~smsflow.errors.SmsflowError` when files are missing or inconsistent.
    """
    events_dir = Path(directory) / "events"
    try:
        order = (events_dir / "order.txt").read_text(encoding="utf-8").split()
        lines = {k: iter((events_dir / f"{k}.jsonl").read_text(encoding="utf-8").splitlines())
                 for k in KINDS}
        out: list[Event] = []
        for kind in order:
            rec = record_from_json(SCHEMA_OF[kind], next(lines[kind]))
            out.append((kind, rec["umid"], rec))
    except (OSError, KeyError, StopIteration, ValueError) as e:
        raise SmsflowError(f"cannot read simulator events from {events_dir}: {e!r}") from e
    for kind, rest in lines.items():
        if next(rest, None) is not None:
            raise SmsflowError(f"{kind}.jsonl has more lines than order.txt lists")
    return out


def load_bad_records(directory: str | Path) -> list[BadRecord]:
    """Read ``DIR/events/invalid.jsonl`` (empty list when the file is absent)."""
    path = Path(directory) / "events" / "invalid.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        out.append(BadRecord(
            kind=d["kind"], flavour=d["flavour"],
            key=base64.b64decode(d["key"]) if d["key"] is not None else None,
            value=base64.b64decode(d["value"]) if d["value"] is not None else None,
            schema=d["schema"],
            record=record_from_json(d["schema"], d["record"]) if d["schema"] else None,
        ))
    return out


def load_truth(directory: str | Path) -> dict[str, Any]:
    """The ``truth.json`` of a simulation directory."""
    path = Path(directory) / "truth.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError) as e:
        raise SmsflowError(f"cannot read {path}: {e}") from e
