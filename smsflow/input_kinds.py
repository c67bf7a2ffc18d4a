"""The input kinds: one registry read by streams, sinks, producers and the simulator.

An input kind is one input topic with its Avro record, the event kind the worker applies to a
message's state, and the field that carries the event's own time. Everything that lists the
input topics derives it from :data:`INPUT_KINDS` (a new kind is one line here plus its schema).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BY_EVENT", "BY_NAME", "BY_SCHEMA", "INPUT_KINDS", "NAMES", "InputKind"]


@dataclass(frozen=True)
class InputKind:
    """One input topic and what it carries."""

    name: str  #: attribute of ``Settings.topics`` and the simulator's name (``receipts``)
    event: str  #: event kind of ``streams.state.apply`` (``receipt``)
    schema: str  #: Avro record name (``DeliveryReceipt``)
    time_field: str  #: the record's field holding the event's own time
    webhook: str | None  #: path of the receiver's webhook (None: produced by services)

    def topic(self, topics: Any) -> str:
        """This kind's topic name in ``topics`` (a :class:`smsflow.config.TopicNames`)."""
        return str(getattr(topics, self.name))


INPUT_KINDS: tuple[InputKind, ...] = (
    InputKind("requests", "request", "SendRequest", "submitted_at", None),
    InputKind("receipts", "receipt", "DeliveryReceipt", "status_at", "dlr"),
    InputKind("inbound", "inbound", "InboundMessage", "received_at", "inbound"),
    InputKind("surveys", "survey", "SurveyResponse", "survey_submitted_at", "survey"),
    InputKind("otp_feedback", "otp", "OtpFeedback", "converted_at", "otp-feedback"),
    InputKind("clicks", "click", "UrlClick", "clicked_at", "click"),
)
NAMES: tuple[str, ...] = tuple(k.name for k in INPUT_KINDS)
BY_NAME: dict[str, InputKind] = {k.name: k for k in INPUT_KINDS}
BY_EVENT: dict[str, InputKind] = {k.event: k for k in INPUT_KINDS}
BY_SCHEMA: dict[str, InputKind] = {k.schema: k for k in INPUT_KINDS}
