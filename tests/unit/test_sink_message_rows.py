"""The sink builds one ``messages`` row per umid and batch: the highest version's
(sinks/sink.py ``_message_rows``). Every version still gives its daily delta rows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from schemas import get_codec
from sinks import sink as sink_module
from sinks.rows import message_row
from sinks.sink import _Sink
from smsflow.config import Settings
from smsflow.errors import SchemaError
from tests.integration.sink_factory import MessageSim, at

UMIDS = ("9e09ac86-bd74-5465-851d-1eb5a5fdbb9a", "1b4e28ba-2fa1-11d2-883f-0016d3cca427")


@dataclass
class _Msg:
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    timestamp: int = 0


def _states(umid: str) -> list[dict[str, Any]]:
    m = MessageSim(umid=umid, subaccount_id="SA-1", country="SG", operator="SingTel")
    m.request(at(2, 23, 59, 7))
    m.receipt("sent", at(3, 0, 0, 30))
    m.receipt("delivered", at(3, 0, 1), price="0.0446592")
    return m.states


def _feed(states: list[dict[str, Any]]) -> _Sink:
    settings = Settings()
    sink = _Sink(settings, ch=None, stop=asyncio.Event())  # type: ignore[arg-type]
    codec = get_codec()
    for i, st in enumerate(states):
        sink.take(_Msg(settings.topics.message_state, 0, i, codec.encode("MessageState", st)))
    sink._message_rows(sink.lanes["state"].batch)
    return sink


def test_one_messages_row_per_umid_the_highest_version() -> None:
    a, b = _states(UMIDS[0]), _states(UMIDS[1])
    # interleaved umids, and a replayed lower version after the highest (a restarted worker)
    sink = _feed([a[0], b[0], a[1], b[1], a[2], a[1], b[2]])
    rows = sink.lanes["state"].batch.rows["messages"]
    assert sorted((r["umid"], r["version"]) for r in rows) == sorted(
        (u, 3) for u in UMIDS)
    by_umid = {r["umid"]: r for r in rows}
    assert by_umid[UMIDS[0]] == message_row(get_codec().decode(
        get_codec().encode("MessageState", a[2]))[1], sink.privacy)
    # the deltas of every version are kept (they sum to the message's contribution)
    deltas = sink.lanes["state"].batch.rows["daily_deltas"]
    assert sum(d["total"] for d in deltas if d["umid"] == UMIDS[1]) == 1
    assert sum(d["delivered"] for d in deltas if d["umid"] == UMIDS[1]) == 1
    assert sink.lanes["state"].batch.records == 7


def test_an_unusable_highest_version_falls_back_to_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = message_row

    def flaky(rec: dict[str, Any], privacy: Any = None) -> dict[str, Any]:
        if rec["version"] == 3:
            raise SchemaError("no usable row", reason="unusable")
        return real(rec, privacy)

    monkeypatch.setattr(sink_module, "message_row", flaky)
    sink = _feed(_states(UMIDS[0]))
    assert [r["version"] for r in sink.lanes["state"].batch.rows["messages"]] == [2]
    assert sink.stats.skipped == {"message_state:unusable": 1}
    # the state topic is derived: its bad record is dead-lettered
    assert len(sink.lanes["state"].dead) == 1
