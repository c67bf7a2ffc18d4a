"""The worker's internal records: written spelled out, read in both the new and the old form."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP, Message

from smsflow.config import Settings
from smsflow.errors import ValidationError
from smsflow.timestamps import from_micros
from streams.agents import install
from streams.alignment import Alignment
from streams.app import WorkerOptions, create_app
from streams.compat import store_get
from streams.forgetting import Retention
from streams.internal_records import (
    decode_control,
    decode_pair_event,
    decode_pair_value,
    encode_orphan,
    encode_pair_event,
    encode_reply,
    sorted_json,
)
from streams.join import Runtime, Topics, UmidJoin
from streams.pairing import PairMatcher

U1 = "0b5f3e4c-1d2a-4b6c-8e9f-0a1b2c3d4e5f"
U2 = "1c6a4f5d-2e3b-4c7d-9f0a-1b2c3d4e5f60"
T1, T2 = 1_764_000_000_000_000, 1_764_000_060_000_000
W = 24 * 3600 * 1_000_000

#: records as written before the fields were spelled out (the one-letter form), each with the
#: record the new writers produce for the same content
CONTROL = [
    (b'{"k":"reply","r":true,"t":1764000060000000}', encode_reply(True, T2)),
    (b'{"k":"reply","r":false,"t":null}', encode_reply(False, None)),
    (b'{"k":"orphan","t":1764000000000000}', encode_orphan(T1)),
]
PAIR_EVENTS = [
    (b'{"k":"o","u":"%s","t":1764000000000000}' % U1.encode(), encode_pair_event(
        "outbound", U1, T1)),
    (b'{"k":"m","u":"%s","t":1764000060000000}' % U2.encode(), encode_pair_event(
        "inbound", U2, T2)),
]
OLD_PAIR = {"o": {U1: T1}, "m": {U2: T2}, "r": {U1: T2}}
#: the spelled-out form as written before the opt-out flags and reply counts
PREV_PAIR = {"outbound": {U1: T1}, "inbound": {U2: T2}, "replies": {U1: T2}}
#: what both read as: no opt-outs, no counts (merge_pair recomputes them)
UPGRADED_PAIR = {**PREV_PAIR, "opt_outs": []}
NEW_PAIR = {**PREV_PAIR, "opt_outs": [], "counts": {U1: [1, 0]}}
OLD_PAIR_BYTES = json.dumps(OLD_PAIR, separators=(",", ":"), sort_keys=True).encode()
PREV_PAIR_BYTES = json.dumps(PREV_PAIR, separators=(",", ":"), sort_keys=True).encode()


def test_writers_spell_the_fields_out() -> None:
    assert json.loads(encode_reply(True, T2, 3, 1)) == {
        "kind": "reply", "replied": True, "replied_at_us": T2, "reply_count": 3,
        "opt_out_count": 1}
    assert json.loads(encode_orphan(T1)) == {"kind": "orphan", "as_of_us": T1}
    assert json.loads(encode_pair_event("inbound", U2, T2, True)) == {
        "side": "inbound", "umid": U2, "at_us": T2, "opt_out": True}
    assert sorted_json(NEW_PAIR) == json.dumps(  # sorted keys: a replay writes the same
        NEW_PAIR, separators=(",", ":"), sort_keys=True).encode()
    assert decode_pair_value(sorted_json(NEW_PAIR)) == NEW_PAIR


@pytest.mark.parametrize(("old", "new"), CONTROL)
def test_an_old_control_event_reads_as_the_new_one(old: bytes, new: bytes) -> None:
    assert decode_control(old) == decode_control(new)


@pytest.mark.parametrize(("old", "new"), PAIR_EVENTS)
def test_an_old_pair_event_reads_as_the_new_one(old: bytes, new: bytes) -> None:
    assert decode_pair_event(old) == decode_pair_event(new)


def test_an_old_pair_value_reads_as_the_new_one() -> None:
    assert decode_pair_value(OLD_PAIR_BYTES) == UPGRADED_PAIR == decode_pair_value(
        PREV_PAIR_BYTES)


def test_records_written_before_the_reply_counts_read_with_zero_counts() -> None:
    """The spelled-out forms without the fields added for the reply counts."""
    assert decode_control(b'{"kind":"reply","replied":true,"replied_at_us":5}') == {
        "kind": "reply", "replied": True, "replied_at_us": 5, "reply_count": 0,
        "opt_out_count": 0}
    assert decode_control(encode_reply(True, 5, 2, 1)) == {
        "kind": "reply", "replied": True, "replied_at_us": 5, "reply_count": 2,
        "opt_out_count": 1}
    assert decode_pair_event(b'{"side":"inbound","umid":"x","at_us":5}') == {
        "side": "inbound", "umid": "x", "at_us": 5, "opt_out": False}
    assert decode_pair_event(encode_pair_event("inbound", "x", 5, True))["opt_out"] is True


@pytest.mark.parametrize("body", [
    b'{"k":"refund","t":1}', b'{"kind":"refund","t":1}', b'{"t":1}', b"[1]", b"7", b"{x",
    b'{"kind":"reply","r":true,"t":1}',  # a mix of both forms is neither
])
def test_a_control_event_in_neither_form_is_refused(body: bytes) -> None:
    with pytest.raises((ValidationError, KeyError, TypeError, ValueError)):
        decode_control(body)


@pytest.mark.parametrize("body", [
    b'{"k":"r","u":"x","t":1}', b'{"side":"reply","umid":"x","at_us":1}', b'{"u":"x"}', b"[]",
])
def test_a_pair_event_in_neither_form_is_refused(body: bytes) -> None:
    with pytest.raises((ValidationError, KeyError, TypeError, ValueError)):
        decode_pair_event(body)


# ---------------------------------------------------- through the worker's own readers

def _topics() -> Topics:
    return Topics(kinds={}, control="t.control", pairs="t.pairs", dead_letter="t.dead")


def _record(topic: str, key: bytes, value: bytes, offset: int = 0) -> Any:
    return SimpleNamespace(topic=topic, partition=0, offset=offset, key=key, value=value)


@pytest.mark.parametrize(("old", "new"), CONTROL)
def test_the_join_reads_an_old_control_event_as_the_new_one(old: bytes, new: bytes) -> None:
    join = UmidJoin(codec=None, topics=_topics(), messages=None, clicks=None,  # type: ignore
                    rt=None, orphan_ttl=dt.timedelta(hours=48))  # type: ignore[arg-type]
    key = U1.encode()
    got = join.decode(_record("t.control", key, old))
    assert got == join.decode(_record("t.control", key, new))
    assert got in [("reply", {"replied": True, "replied_at": from_micros(T2),
                              "reply_count": 0, "opt_out_count": 0}),
                   ("reply", {"replied": False, "replied_at": None, "reply_count": 0,
                              "opt_out_count": 0}),
                   ("orphan", {"as_of": from_micros(T1)})]


class _Pairs:
    """The pairs table as PairMatcher uses it (get/put)."""

    def __init__(self, stored: dict[bytes, Any]) -> None:
        self.stored = stored
        self.puts: list[tuple[bytes, Any]] = []

    def get(self, key: bytes) -> Any:
        return self.stored.get(key)

    def put(self, out: Any, partition: int, key: bytes, value: Any) -> None:
        self.stored[key] = value
        self.puts.append((key, sorted_json(value)))


class _Out:
    def __init__(self) -> None:
        self.records: list[tuple[str, int, bytes | None, bytes | None]] = []

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        self.records.append((topic, partition, key, value))


def _match(stored: Any, events: list[bytes]) -> tuple[list[Any], list[Any]]:
    """(pair table writes, control events) of PairMatcher over ``events`` of one pair."""
    key = b"6591234567|4534735477"
    pairs = _Pairs({} if stored is None else {key: stored})
    rt = Runtime(partitions=6, retention=Retention(0), alignment=Alignment(0))
    matcher = PairMatcher(codec=None, topics=_topics(), pairs=pairs,  # type: ignore[arg-type]
                          rt=rt, window_us=W)
    out = _Out()
    matcher.process([_record("t.pairs", key, v, i) for i, v in enumerate(events)], out)
    assert rt.dead_letters == 0
    return pairs.puts, out.records


def test_pairing_reads_old_pair_events_as_new_ones() -> None:
    old = _match(None, [old for old, _ in PAIR_EVENTS])
    new = _match(None, [new for _, new in PAIR_EVENTS])
    assert old == new
    writes, controls = new
    assert [json.loads(v) for _, v in writes][-1] == NEW_PAIR
    assert [json.loads(v or b"") for *_, v in controls] == [
        {"kind": "reply", "replied": True, "replied_at_us": T2, "reply_count": 1,
         "opt_out_count": 0}]


@pytest.mark.parametrize("stored", [OLD_PAIR_BYTES, PREV_PAIR_BYTES])
def test_pairing_continues_a_pair_stored_in_the_old_form(stored: bytes) -> None:
    """A replayed MO of a pair recovered as an old value re-sends its status (with the counts,
    recomputed: the old value is rewritten once); a new outbound after it takes the reply over,
    exactly as from the new value."""
    later = encode_pair_event("outbound", "2d7b5e6e-3f4c-4d8e-a01b-2c3d4e5f6071", T1 + 1)
    events = [PAIR_EVENTS[1][1], later]
    old_writes, old_controls = _match(decode_pair_value(stored), events)
    new_writes, new_controls = _match(NEW_PAIR, events)
    assert old_controls == new_controls
    assert old_writes[-1] == new_writes[-1]
    assert json.loads(old_writes[0][1]) == NEW_PAIR  # the replayed MO: counts recomputed


# ---------------------------------------------------- table recovery from an old changelog

@pytest.mark.parametrize("store", ["memory", "rocksdb"])
async def test_the_pairs_table_recovers_old_changelog_values_in_the_new_form(
    tmp_path: Path, store: str
) -> None:
    settings = Settings(home=tmp_path / "home", bootstrap_servers="127.0.0.1:1")
    app = create_app(settings, WorkerOptions(datadir=tmp_path / "data", store=store))
    install(app, settings)
    table = app.tables["pairs"]
    key = b"6591234567|4534735477"
    topic = table.changelog_topic.get_topic_name()
    tp = TP(topic, 0)
    message = Message(topic, 0, 0, 0.0, 0, None, key, OLD_PAIR_BYTES, None, tp=tp)
    event = await table.changelog_topic.decode(message)
    table.apply_changelog_batch([event])
    assert store_get(table, key) == UPGRADED_PAIR
