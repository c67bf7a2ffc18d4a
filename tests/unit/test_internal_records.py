"""The worker's internal records: written spelled out, read in both the new and the old form."""

from __future__ import annotations

import json

import pytest

from smsflow.errors import ValidationError
from streams.internal_records import (
    decode_control,
    decode_pair_event,
    decode_pair_value,
    encode_orphan,
    encode_pair_event,
    encode_pair_value,
    encode_reply,
)

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
NEW_PAIR = {"outbound": {U1: T1}, "inbound": {U2: T2}, "replies": {U1: T2}}
OLD_PAIR_BYTES = json.dumps(OLD_PAIR, separators=(",", ":"), sort_keys=True).encode()


def test_writers_spell_the_fields_out() -> None:
    assert json.loads(encode_reply(True, T2)) == {
        "kind": "reply", "replied": True, "replied_at_us": T2}
    assert json.loads(encode_orphan(T1)) == {"kind": "orphan", "as_of_us": T1}
    assert json.loads(encode_pair_event("inbound", U2, T2)) == {
        "side": "inbound", "umid": U2, "at_us": T2}
    assert encode_pair_value(NEW_PAIR) == json.dumps(  # sorted keys: a replay writes the same
        NEW_PAIR, separators=(",", ":"), sort_keys=True).encode()
    assert decode_pair_value(encode_pair_value(NEW_PAIR)) == NEW_PAIR


@pytest.mark.parametrize(("old", "new"), CONTROL)
def test_an_old_control_event_reads_as_the_new_one(old: bytes, new: bytes) -> None:
    assert decode_control(old) == decode_control(new)


@pytest.mark.parametrize(("old", "new"), PAIR_EVENTS)
def test_an_old_pair_event_reads_as_the_new_one(old: bytes, new: bytes) -> None:
    assert decode_pair_event(old) == decode_pair_event(new)


def test_an_old_pair_value_reads_as_the_new_one() -> None:
    assert decode_pair_value(OLD_PAIR_BYTES) == NEW_PAIR == decode_pair_value(
        encode_pair_value(NEW_PAIR))


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
