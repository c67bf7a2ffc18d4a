"""The umid join writes one state record per umid a batch changed, and the daily deltas of
those records stay exact however Kafka cuts the input into batches (streams/join.py)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from schemas import get_codec
from simulator.simulation import SimConfig, simulate
from smsflow.contribution import KEY_FIELDS, MEASURES, delta_rows
from smsflow.input_kinds import BY_NAME
from streams.alignment import Alignment
from streams.forgetting import Retention
from streams.join import Runtime, Topics, UmidJoin

CODEC = get_codec(None)


class _Table:
    """The ``messages`` / ``clicks`` table as the join uses it: get, put, delete."""

    def __init__(self) -> None:
        self.stored: dict[bytes, Any] = {}
        self.written: list[dict[str, Any]] = []  # the changelog: a copy of each put

    def get(self, key: bytes) -> Any:
        return self.stored.get(key)

    def put(self, out: Any, partition: int, key: bytes, value: Any) -> None:
        self.stored[key] = value
        self.written.append(dict(value) if isinstance(value, dict) else value)

    def delete(self, out: Any, partition: int, key: bytes) -> None:
        self.stored.pop(key, None)


class _Refusing(_Table):
    """A ``messages`` table whose put raises for one umid (a state that does not encode)."""

    def __init__(self, refused: bytes) -> None:
        super().__init__()
        self.refused = refused

    def put(self, out: Any, partition: int, key: bytes, value: Any) -> None:
        if key == self.refused:
            raise ValueError("cannot encode")
        super().put(out, partition, key, value)


class _Out:
    def __init__(self) -> None:
        self.dead: list[dict[str, Any]] = []

    def add(self, *args: Any) -> None:
        pass

    def add_keyed(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.dead.append(CODEC.decode_as("DeadLetter", value))


def _records() -> list[Any]:
    sim = simulate(SimConfig(messages=300, seed=5, days=1))
    return [SimpleNamespace(topic=name, partition=0, offset=i, key=umid.encode(),
                            value=CODEC.encode(BY_NAME[name].schema, record))
            for i, (name, umid, record) in enumerate(sim.events)]


RECORDS = _records()


def _run(cut: int, messages: _Table | None = None, out: _Out | None = None
         ) -> tuple[_Table, Runtime]:
    """The join over every record in batches of ``cut`` records."""
    rt = Runtime(partitions=1, retention=Retention(0), alignment=Alignment(0))
    messages = _Table() if messages is None else messages
    join = UmidJoin(codec=CODEC, topics=Topics(
        kinds={k: (v.event, v.schema) for k, v in BY_NAME.items()}, control="t.control",
        pairs="t.pairs", dead_letter="t.dead"), messages=messages,  # type: ignore[arg-type]
        clicks=_Table(), rt=rt, orphan_ttl=dt.timedelta(hours=48))  # type: ignore[arg-type]
    for i in range(0, len(RECORDS), cut):
        join.process(RECORDS[i:i + cut], out or _Out(), None)  # type: ignore[arg-type]
    return messages, rt


def _totals(states: list[dict[str, Any]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    sums: dict[tuple[Any, ...], Counter[str]] = {}
    for state in states:
        for row in delta_rows(state):
            c = sums.setdefault(tuple(row[f] for f in KEY_FIELDS), Counter())
            for m in MEASURES:
                c[m] += row[m]
    return {k: tuple(c[m] for m in MEASURES) for k, c in sums.items()
            if any(c[m] for m in MEASURES)}


def test_a_batch_writes_each_changed_umid_once_with_its_last_version() -> None:
    messages, rt = _run(len(RECORDS))
    keys = [s["umid"] for s in messages.written]
    assert len(keys) == len(set(keys)) == len(messages.stored)
    assert rt.versions > len(keys)  # versions were skipped
    for state in messages.written:
        assert state["previous_contribution"] is None  # nothing before this batch
        assert state == messages.stored[state["umid"].encode()]


@pytest.mark.parametrize("cut", [1, 7, 500])
def test_the_daily_deltas_are_the_same_however_the_input_is_cut(cut: int) -> None:
    whole, _ = _run(len(RECORDS))
    messages, rt = _run(cut)
    assert rt.versions == _run(1)[1].versions
    if cut > 1:
        assert len(messages.written) < rt.versions
    # the deltas of what was written telescope to the final states' contributions
    assert _totals(messages.written) == _totals(whole.written) == _totals(
        [{**s, "previous_contribution": None} for s in messages.stored.values()])
    assert {k: s["version"] for k, s in messages.stored.items()} == {
        k: s["version"] for k, s in whole.stored.items()}
    costs = [r["cost"] for s in messages.written for r in delta_rows(s)]
    assert costs and all(type(c) is Decimal for c in costs)


def test_a_state_that_cannot_be_written_dead_letters_its_records_and_the_batch_goes_on() -> None:
    refused = RECORDS[0].key
    mine = [r.offset for r in RECORDS if r.key == refused]
    out = _Out()
    messages, _ = _run(len(RECORDS), _Refusing(refused), out)  # does not raise
    assert refused not in messages.stored
    assert [(d["offset"], d["reason"]) for d in out.dead] == [(o, "worker-error") for o in mine]
    whole, _ = _run(len(RECORDS))
    assert len(messages.stored) == len(whole.stored) - 1
