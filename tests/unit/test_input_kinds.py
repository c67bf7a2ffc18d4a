"""The input-kinds registry is the one list every stage derives its input topics from."""

from __future__ import annotations

from producers.bodies import WEBHOOKS
from schemas import load_schema
from simulator.config import KINDS, SCHEMA_OF
from sinks.rows import EVENT_TIME_FIELD as SINK_TIME
from sinks.rows import routes
from smsflow.config import load_settings
from smsflow.input_kinds import BY_NAME, INPUT_KINDS
from streams.state import EVENT_TIME_FIELD as WORKER_TIME


def test_each_kind_names_a_schema_whose_time_field_is_a_timestamp() -> None:
    for k in INPUT_KINDS:
        fields = {f["name"]: f["type"] for f in load_schema(k.schema)["fields"]}
        assert "umid" in fields, k
        assert "timestamp-micros" in str(fields[k.time_field]), k


def test_every_stage_reads_the_registry() -> None:
    settings = load_settings()
    topics = settings.topics
    assert topics.inputs() == [getattr(topics, k.name) for k in INPUT_KINDS]
    assert KINDS == tuple(k.name for k in INPUT_KINDS)
    assert SCHEMA_OF == {k.name: k.schema for k in INPUT_KINDS}
    assert WORKER_TIME == {k.event: k.time_field for k in INPUT_KINDS}
    assert SINK_TIME == {k.schema: k.time_field for k in INPUT_KINDS}
    sink_inputs = {t: r.schema for t, r in routes(settings).items() if not r.derived}
    assert {k.topic(topics): k.schema for k in INPUT_KINDS}.items() <= sink_inputs.items()
    assert {p: (h.schema, h.topic(topics)) for p, h in WEBHOOKS.items()} == {
        str(k.webhook): (k.schema, k.topic(topics)) for k in INPUT_KINDS if k.webhook}
    assert BY_NAME["receipts"].topic(topics) == topics.receipts
